/** Media helpers without root: preparing a config, image sizing, partition tables, progress. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { validateText } from '../../src/config/validate.js';
import { verifyPassword } from '../../src/crypt/sha-crypt.js';
import { hashPasswords, payloadPaths, prepareConfig, PrepareError } from '../../src/media/prepare.js';
import { checkLabel, fatSizeFor, MIN_FAT32_BYTES, MIB } from '../../src/media/medium.js';
import { checkRawImage, ImageError, isFatAt, parseFstab, parseSfdiskJson } from '../../src/media/disk-image.js';
import { chooseFatPartition } from '../../src/media/embed.js';
import { bar, formatBytes, Progress, progressText } from '../../src/media/progress.js';
import { expandShortFlags } from '../../src/cli/args.js';
import { disksOf, writeRefusals } from '../../src/media/blockdev.js';
import type { DiskInfo, Paths } from '../../src/media/blockdev.js';

const tmp = mkdtempSync(join(tmpdir(), 'flint-media-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fakeHash = (p: string) => `$6$salt$${Buffer.from(p).toString('hex').length}`;

describe('hashPasswords', () => {
  const text = `# top comment
version: 1
users:
  - name: alice   # admin
    password: "horse battery" # inline
  - {name: bob, password: 'b0b secret'}
files:
  - path: /etc/motd
    mode: 0644
    contents: "x"
hosts:
  - match: {mac: "dc:a6:32:aa:bb:cc"}
    users:
      - name: carol
        password: carol-pass-1
`;

  it('replaces every user password (also in hosts) by a real $6$ hash, keeping comments and modes', () => {
    const { text: out, hashed } = hashPasswords(text);
    expect(hashed).toBe(3);
    expect(out).toContain('# top comment');
    expect(out).toContain('# admin');
    expect(out).toContain('# inline');
    expect(out).toContain('mode: 0644');
    for (const pw of ['horse battery', 'b0b secret', 'carol-pass-1']) expect(out).not.toContain(pw);
    const v = parse(out) as { users: Array<{ password_hash: string }>; hosts: Array<{ users: Array<{ password_hash: string }> }> };
    expect(verifyPassword('horse battery', v.users[0]!.password_hash)).toBe(true);
    expect(verifyPassword('b0b secret', v.users[1]!.password_hash)).toBe(true);
    expect(verifyPassword('carol-pass-1', v.hosts[0]!.users[0]!.password_hash)).toBe(true);
    expect(validateText('c.yaml', out).config).toBeDefined();
  });

  it('leaves a Wi-Fi password and other keys named password alone', () => {
    const t = 'version: 1\nnetwork:\n  wifi_country: DE\n  connections:\n    - name: w\n      type: wifi\n      wifi: {ssid: Home, password: "wifi-pass-123"}\n';
    expect(hashPasswords(t, fakeHash)).toEqual({ text: t, hashed: 0 });
  });

  it('works on JSON, keeping it JSON', () => {
    const t = '{"version": 1, "users": [{"name": "a", "password": "json-pass"}]}';
    const { text: out } = hashPasswords(t);
    const v = JSON.parse(out) as { users: Array<Record<string, string>> };
    expect(v.users[0]!.password).toBeUndefined();
    expect(verifyPassword('json-pass', v.users[0]!.password_hash!)).toBe(true);
  });
});

describe('prepareConfig', () => {
  it('lists the payloads of files, scripts and container archives, and reads them', async () => {
    const d = join(tmp, 'p1');
    mkdirSync(join(d, 'payload'), { recursive: true });
    mkdirSync(join(d, 'images'));
    writeFileSync(join(d, 'payload/motd'), 'hi\n');
    writeFileSync(join(d, 'images/web.tar'), 'tar');
    writeFileSync(join(d, 'c.yaml'), 'version: 1\nusers:\n  - name: a\n    password: pw-plain-1\nfiles:\n  - path: /etc/motd\n    source: file:payload/motd\ncontainers:\n  - name: web\n    image: docker.io/library/nginx:1.27\n    image_archive: images/web.tar\n');
    const p = await prepareConfig(join(d, 'c.yaml'));
    expect(p.name).toBe('config.yaml');
    expect(p.hashed).toBe(1);
    expect(p.text).not.toContain('pw-plain-1');
    expect(p.payloads.map((x) => [x.rel, x.data.toString()])).toEqual([['payload/motd', 'hi\n'], ['images/web.tar', 'tar']]);
  });

  it('refuses an invalid config with its diagnostics, and a missing payload by name', async () => {
    const d = join(tmp, 'p2');
    mkdirSync(d);
    writeFileSync(join(d, 'bad.yaml'), 'version: 1\nfiles:\n  - path: /etc/motd\n    mode: 644\n');
    const e = await prepareConfig(join(d, 'bad.yaml')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PrepareError);
    expect((e as PrepareError).diagnostics.some((x) => x.severity === 'error' && x.line === 4)).toBe(true);
    writeFileSync(join(d, 'miss.yaml'), 'version: 1\nfiles:\n  - path: /etc/motd\n    source: file:payload/nope\n');
    await expect(prepareConfig(join(d, 'miss.yaml'))).rejects.toThrow(/file:payload\/nope .*not found/);
  });

  it('converts an Ignition config: the medium gets flint YAML that validates, the hash kept', async () => {
    const d = join(tmp, 'p3');
    mkdirSync(d);
    const hash = '$6$saltsalt$' + 'a'.repeat(86);
    writeFileSync(join(d, 'c.ign'), JSON.stringify({ ignition: { version: '3.3.0' }, passwd: { users: [{ name: 'core', passwordHash: hash }] }, storage: { files: [{ path: '/etc/motd', mode: 420, contents: { source: 'data:,hello%0A' } }] } }));
    const p = await prepareConfig(join(d, 'c.ign'));
    expect(p.convertedFrom).toBe('ignition');
    expect(p.name).toBe('config.yaml');
    expect(p.text).toMatch(/^# Converted by flint from .*c\.ign \(Ignition config\)\./);
    const v = validateText('config.yaml', p.text);
    expect(v.diagnostics.filter((x) => x.severity === 'error')).toEqual([]);
    const cfg = parse(p.text) as { users: Array<Record<string, string>>; files: Array<Record<string, unknown>> };
    expect(cfg.users[0]).toMatchObject({ name: 'core', password_hash: hash });
    expect(cfg.files[0]).toMatchObject({ path: '/etc/motd', contents: 'hello\n' });
  });

  it('converts cloud-init user-data, hashing its plain_text_passwd; a seed folder works as well', async () => {
    const d = join(tmp, 'p4');
    mkdirSync(d);
    writeFileSync(join(d, 'user-data'), '#cloud-config\nhostname: pi-kitchen\nusers:\n  - name: pi\n    plain_text_passwd: raspberry-x\n    lock_passwd: false\n');
    writeFileSync(join(d, 'meta-data'), 'instance-id: i-1\n');
    for (const arg of [join(d, 'user-data'), d]) {
      const p = await prepareConfig(arg);
      expect(p.convertedFrom).toBe('cloud-init');
      expect(p.hashed).toBe(1);
      expect(p.text).not.toContain('raspberry-x');
      const cfg = parse(p.text) as { hostname: string; users: Array<Record<string, string>> };
      expect(cfg.hostname).toBe('pi-kitchen');
      expect(verifyPassword('raspberry-x', cfg.users[0]!.password_hash!)).toBe(true);
    }
  });

  it('converts a Combustion script, carrying every file of its folder', async () => {
    const d = join(tmp, 'p5', 'combustion');
    mkdirSync(join(d, 'keys'), { recursive: true });
    writeFileSync(join(d, 'script'), '#!/bin/sh\n# combustion: network\ninstall -D -m 0600 keys/admin.pub /root/.ssh/authorized_keys\n');
    writeFileSync(join(d, 'keys/admin.pub'), 'ssh-ed25519 AAAA admin\n');
    const p = await prepareConfig(join(d, 'script'));
    expect(p.convertedFrom).toBe('combustion');
    expect(p.payloads.map((x) => x.rel)).toEqual(['script', 'keys/admin.pub']);
    expect((parse(p.text) as { scripts: unknown[] }).scripts).toEqual([{ name: 'combustion', stage: 'post', source: 'file:script' }]);
  });

  it('refuses an invalid Ignition config with the diagnostics of the original', async () => {
    const d = join(tmp, 'p6');
    mkdirSync(d);
    writeFileSync(join(d, 'bad.ign'), '{"ignition": {"version": "3.3.0"}, "storage": {"files": [{"path": "relative/motd"}]}}');
    const e = await prepareConfig(join(d, 'bad.ign')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PrepareError);
    expect((e as PrepareError).message).toMatch(/bad\.ign is invalid \(Ignition config\); nothing was written/);
    expect((e as PrepareError).diagnostics.some((x) => x.severity === 'error' && x.file.endsWith('bad.ign'))).toBe(true);
  });

  it('payloadPaths takes each once, hosts entries included', () => {
    expect(payloadPaths({ files: [{ source: 'file:a' }, { source: 'https://x' }, { source: 'file:a' }], scripts: [{ source: 'file:s/run' }], hosts: [{ files: [{ source: 'file:b' }] }] })).toEqual(['a', 's/run', 'b']);
  });
});

describe('image sizes and labels', () => {
  it('a small config gets the FAT32 minimum; big payloads get room', () => {
    expect(fatSizeFor([100])).toBe(MIN_FAT32_BYTES);
    const big = fatSizeFor([200 * MIB, 1000]);
    expect(big).toBeGreaterThan(200 * MIB);
    expect(big % MIB).toBe(0);
  });

  it('checks FAT and ISO labels', () => {
    expect(checkLabel('FLINT', false)).toBeUndefined();
    expect(checkLabel('combustion', false)).toBeUndefined();
    expect(checkLabel('TOO-LONG-LABEL', false)).toMatch(/1 to 11/);
    expect(checkLabel('a b', true)).toMatch(/ISO/);
  });
});

describe('disk images', () => {
  it('parses sfdisk --json into byte offsets', () => {
    const json = JSON.stringify({ partitiontable: { label: 'gpt', sectorsize: 512, partitions: [{ node: 'd.img1', start: 2048, size: 131072, type: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', name: 'boot' }, { node: 'd.img2', start: 133120, size: 1000, type: '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709' }] } });
    expect(parseSfdiskJson(json)).toEqual([
      { index: 1, offset: 2048 * 512, bytes: 131072 * 512, type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', name: 'boot' },
      { index: 2, offset: 133120 * 512, bytes: 512000, type: '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709' },
    ]);
  });

  it('parses fstab with escapes and options', () => {
    expect(parseFstab('# c\nUUID=1 / btrfs defaults 0 0\nLABEL=my\\040var /var btrfs subvol=@/var,noatime 0 0\n\n')).toEqual([
      { spec: 'UUID=1', mountPoint: '/', type: 'btrfs', options: ['defaults'] },
      { spec: 'LABEL=my var', mountPoint: '/var', type: 'btrfs', options: ['subvol=@/var', 'noatime'] },
    ]);
  });

  it('recognises qcow2 and says how to convert it', () => {
    const f = join(tmp, 'disk.qcow2');
    writeFileSync(f, Buffer.concat([Buffer.from('QFI\xfb', 'latin1'), Buffer.alloc(100)]));
    const e = (() => {
      try {
        checkRawImage(f);
      } catch (x) {
        return x;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(ImageError);
    expect((e as ImageError).message).toContain('qcow2');
    expect((e as ImageError).hint).toContain('qemu-img convert -O raw');
    const raw = join(tmp, 'raw.img');
    writeFileSync(raw, Buffer.alloc(4096));
    expect(() => checkRawImage(raw)).not.toThrow();
  });

  const hasMkfsFat = spawnSync('sh', ['-c', 'PATH=$PATH:/usr/sbin:/sbin command -v mkfs.fat']).status === 0;
  it.skipIf(!hasMkfsFat)(`finds FAT boot sectors by their bytes${hasMkfsFat ? '' : ' (SKIPPED: mkfs.fat not installed)'}`, () => {
    const img = join(tmp, 'fat.img');
    execFileSync('mkfs.fat', ['-C', img, '2048'], { env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` }, stdio: 'ignore' });
    expect(isFatAt(img, 0)).toBe(true);
    expect(isFatAt(img, 512)).toBe(false);
    const parts = [
      { index: 1, offset: 0, bytes: 1, type: '83' },
      { index: 2, offset: 4096, bytes: 1, type: 'C', name: 'boot' },
      { index: 3, offset: 8192, bytes: 1, type: '83' },
    ];
    const fatAt = (_: string, off: number) => off !== 0;
    expect(chooseFatPartition(img, parts, fatAt)?.index).toBe(2);
    expect(chooseFatPartition(img, parts, () => false)).toBeUndefined();
  });
});

describe('progress', () => {
  it('formats bytes and rate', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(3 * MIB)).toBe('3.0 MiB');
    expect(progressText(50 * MIB, 100 * MIB, 2)).toBe('50% 50 MiB of 100 MiB, 25 MiB/s');
    expect(bar(5, 10, 10)).toBe('[#####.....]');
  });

  it('redraws one line on a terminal, prints sparse plain lines otherwise', () => {
    let t = 0;
    const tty: string[] = [];
    const p = new Progress({ write: (s) => tty.push(s), tty: true, columns: 100 }, 100, 'writing', 5000, () => t);
    t = 1000;
    p.update(50);
    p.finish(100);
    expect(tty[0]).toMatch(/^\rwriting \[#+\.+\] 50% /);
    expect(tty[1]).toMatch(/100% .*\n$/);
    const plain: string[] = [];
    const q = new Progress({ write: (s) => plain.push(s), tty: false }, 100, 'writing', 5000, () => t);
    t = 2000;
    q.update(10);
    t = 7000;
    q.update(60);
    t = 8000;
    q.update(70);
    q.finish(100);
    expect(plain).toEqual(['writing: 60% 60 B of 100 B, 10 B/s\n', 'writing: 100% 100 B of 100 B, 14 B/s, done\n']);
  });

  it('expands short flags up to --', () => {
    expect(expandShortFlags(['-o', 'x', '-y', '--', '-o'], { '-o': '--output', '-y': '--yes' })).toEqual(['--output', 'x', '--yes', '--', '-o']);
  });
});

describe('drive write safety checks (a fake sysfs and proc)', () => {
  /** sysfs with disks sda (sda1, sda2) and sdb (sdb1), proc with mounts and swaps. */
  function fakeSystem(mountinfo: string, swaps = ''): Paths {
    const base = mkdtempSync(join(tmp, 'sys-'));
    const sys = join(base, 'sys');
    const proc = join(base, 'proc');
    const devs: Array<[string, string | undefined, string]> = [['sda', undefined, '8:0'], ['sda1', 'sda', '8:1'], ['sda2', 'sda', '8:2'], ['sdb', undefined, '8:16'], ['sdb1', 'sdb', '8:17']];
    for (const [name, parent, majmin] of devs) {
      const real = join(sys, 'devices/pci0', parent ?? '', name);
      mkdirSync(real, { recursive: true });
      if (parent !== undefined) writeFileSync(join(real, 'partition'), '1');
      mkdirSync(join(sys, 'class/block'), { recursive: true });
      mkdirSync(join(sys, 'dev/block'), { recursive: true });
      mkdirSync(join(sys, 'block'), { recursive: true });
      symlinkSync(real, join(sys, 'class/block', name));
      symlinkSync(real, join(sys, 'dev/block', majmin));
      if (parent === undefined) symlinkSync(real, join(sys, 'block', name));
    }
    mkdirSync(join(proc, 'self'), { recursive: true });
    writeFileSync(join(proc, 'self/mountinfo'), mountinfo);
    writeFileSync(join(proc, 'swaps'), `Filename Type Size Used Priority\n${swaps}`);
    return { sys, proc };
  }
  const disk = (name: string, removable: boolean): DiskInfo => ({ node: `/dev/${name}`, name, bytes: 1 << 30, removable });
  const ROOT_ON_SDA2 = '22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw\n23 22 0:21 / /proc rw - proc proc rw\n';

  it('a removable disk nothing uses is fine', () => {
    expect(writeRefusals(disk('sdb', true), fakeSystem(ROOT_ON_SDA2))).toEqual([]);
  });

  it('refuses the system disk, a mounted partition, swap and a fixed disk, each forceable', () => {
    const sda = writeRefusals(disk('sda', false), fakeSystem(ROOT_ON_SDA2)).map((e) => e.message);
    expect(sda).toEqual([expect.stringContaining('holds the running system'), expect.stringContaining('/dev/sda2 is mounted on /'), expect.stringContaining('not a removable disk')]);
    const sdb = writeRefusals(disk('sdb', true), fakeSystem(`${ROOT_ON_SDA2}30 22 8:17 / /media/stick rw - vfat /dev/sdb1 rw\n`, '/dev/sdb1 partition 1024 0 -2\n'));
    expect(sdb.map((e) => e.message)).toEqual([expect.stringContaining('/dev/sdb1 is mounted on /media/stick'), expect.stringContaining('/dev/sdb1 is in use as swap')]);
    expect(sdb.every((e) => e.forceable)).toBe(true);
  });

  it('finds whole disks below a partition', () => {
    const paths = fakeSystem('');
    expect([...disksOf('sda2', paths)]).toEqual(['sda']);
    expect([...disksOf('sdb', paths)]).toEqual(['sdb']);
  });
});
