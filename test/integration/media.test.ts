/**
 * Media end to end with real tools and loop devices: a stick from `drive create` found
 * by the runner's discovery, no plain-text password in its bytes, `image apply` on a
 * real Debian root packed into an ext4 partition, `image embed` found on the image's
 * boot partition, `drive write` refusing a non-removable disk, `init` with flags.
 * Needs root (losetup, mount), dosfstools, mtools, xorriso, e2fsprogs, fdisk; the
 * image apply case also a Debian root (debootstrap).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCmdline } from '../../src/discover/cmdline.js';
import { discover } from '../../src/discover/sources.js';
import type { Found } from '../../src/discover/sources.js';
import { verifyPassword } from '../../src/crypt/sha-crypt.js';
import { withMediaLock } from '../helpers/media-lock.js';
import { freshRoot, hasRootfsSupport } from './rootfs.js';
import { BIN, hasTool, hostEnv, loopSupport, scratch } from '../helpers/host.js';
import type { Support } from '../helpers/host.js';

const env = hostEnv;
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA2W4ylBpNwsCJJgCIJv6S+GBdb8LJg1OwHVwgsBw43P admin@laptop';
const PASSWORDS = ['Plain-Text-Pw-Alice-7', 'bob secret words 42'];

function support(): Support {
  return loopSupport([['blkid', 'util-linux'], ['partx', 'util-linux'], ['sfdisk', 'fdisk'], ['mkfs.fat', 'dosfstools'], ['mcopy', 'mtools'], ['xorriso', 'xorriso'], ['mkfs.ext4', 'e2fsprogs']]);
}

const can = support();
const rootfs = hasRootfsSupport();
const { dir } = scratch('flint-media-');

function flint(args: string[], input?: string): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout: 300_000, ...(input !== undefined ? { input } : {}) });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A config folder: users with plain-text passwords and a key, a file from a payload. */
function testConfig(extra = ''): string {
  const d = dir('cfg');
  mkdirSync(join(d, 'payload'));
  writeFileSync(join(d, 'payload/motd'), 'provisioned by flint\n');
  writeFileSync(
    join(d, 'site.yaml'),
    `# test config
version: 1
users:
  - name: alice          # the admin
    shell: /bin/bash
    password: "${PASSWORDS[0]}"
    ssh_authorized_keys:
      - ${KEY}
  - {name: bob, password: "${PASSWORDS[1]}"}
files:
  - path: /etc/motd
    source: file:payload/motd
    mode: 0644
${extra}`,
  );
  return join(d, 'site.yaml');
}

function attach(img: string, partscan = false): string {
  const dev = execFileSync('losetup', ['-f', '--show', ...(partscan ? ['-P'] : []), img], { encoding: 'utf8', env }).trim();
  if (partscan && !existsSync(`${dev}p1`)) spawnSync('partx', ['--add', dev], { env });
  return dev;
}

function detach(dev: string): void {
  spawnSync('losetup', ['-d', dev], { env });
}

function attached(img: string): boolean {
  return execFileSync('losetup', ['-j', img], { encoding: 'utf8', env }).trim() !== '';
}

async function find(sysroot: string, work: string): Promise<{ found: Found | undefined; log: string[] }> {
  const log: string[] = [];
  const found = await discover({ boot: parseCmdline(''), sysroot, fwCfg: dir('fw'), sys: '/sys', work, timeoutMs: 3000, pollMs: 100, log: (l) => log.push(l) });
  return { found, log };
}

/**
 * A GPT disk image: optionally a FAT boot partition, then an ext4 root partition
 * (partlabel root) made from ROOTDIR with mkfs.ext4 -d, all without a loop device.
 */
function diskImage(rootDir: string, rootMiB: number, boot: boolean): string {
  const img = join(dir('disk'), 'disk.img');
  const bootMiB = boot ? 48 : 0;
  execFileSync('truncate', ['-s', `${1 + bootMiB + rootMiB + 1}M`, img]);
  const table = ['label: gpt', ...(boot ? ['size=48MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=boot'] : []), `size=${rootMiB}MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=root`].join('\n') + '\n';
  execFileSync('sfdisk', ['-q', img], { input: table, env });
  const parts = (JSON.parse(execFileSync('sfdisk', ['--json', img], { encoding: 'utf8', env })) as { partitiontable: { partitions: Array<{ start: number; size: number }> } }).partitiontable.partitions;
  if (boot) execFileSync('mkfs.fat', ['--offset', String(parts[0]!.start), '-F', '32', '-n', 'BOOT', img, String((parts[0]!.size * 512) / 1024)], { env, stdio: 'ignore' });
  const root = parts[parts.length - 1]!;
  execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'root', '-d', rootDir, '-E', `offset=${root.start * 512}`, img, `${(root.size * 512) / 1024}k`], { env, stdio: 'ignore' });
  return img;
}

function imageContains(img: string, needle: string): boolean {
  // Also as UTF-16, as Joliet and FAT long names would store it.
  const forms = [Buffer.from(needle, 'utf8'), Buffer.from(needle, 'utf16le')];
  const fd = openSync(img, 'r');
  try {
    const size = statSync(img).size;
    const chunk = Buffer.alloc(8 * 1024 * 1024 + 256);
    for (let pos = 0; pos < size; pos += 8 * 1024 * 1024) {
      const got = readSync(fd, chunk, 0, chunk.length, pos);
      const view = chunk.subarray(0, got);
      if (forms.some((f) => view.includes(f))) return true;
    }
    return false;
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(!can.ok)(`media${can.ok ? '' : ` (SKIPPED: ${can.reason})`}`, () => {
  it('drive create: a FAT stick the runner finds on a loop device, with the payload, and no plain-text password in its bytes', async () => {
    const cfg = testConfig();
    const img = join(dir('stick'), 'stick.img');
    const r = flint(['drive', 'create', cfg, '-o', img]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('2 plain-text passwords replaced');
    expect(execFileSync('blkid', ['-p', '-o', 'value', '-s', 'LABEL', img], { encoding: 'utf8', env }).trim()).toBe('FLINT');
    for (const pw of PASSWORDS) expect(imageContains(img, pw), pw).toBe(false);
    // The test itself can fail: the search finds what is there.
    expect(imageContains(img, 'provisioned by flint')).toBe(true);
    await withMediaLock(async () => {
      const dev = attach(img);
      try {
        const { found, log } = await find(dir('sysroot'), dir('work'));
        expect(found, log.join('\n')).toBeDefined();
        expect(found!.source).toContain(dev);
        const text = readFileSync(found!.configFile, 'utf8');
        expect(text).toContain('# the admin');
        expect(text).toContain('mode: 0644');
        const hash = /password_hash: "([^"]+)"/.exec(text)?.[1];
        expect(verifyPassword(PASSWORDS[0]!, hash!)).toBe(true);
        expect(readFileSync(join(found!.configFile, '../payload/motd'), 'utf8')).toBe('provisioned by flint\n');
      } finally {
        detach(dev);
      }
    });
  });

  it('drive create --iso --label: an ISO 9660 medium with the same content, found by the runner', async () => {
    const cfg = testConfig();
    const img = join(dir('iso'), 'cfg.iso');
    const r = flint(['drive', 'create', cfg, '-o', img, '--iso', '--label', 'FLINT']);
    expect(r.code, r.err).toBe(0);
    const tags = execFileSync('blkid', ['-p', '-o', 'export', img], { encoding: 'utf8', env });
    expect(tags).toContain('TYPE=iso9660');
    expect(tags).toContain('LABEL=FLINT');
    for (const pw of PASSWORDS) expect(imageContains(img, pw), pw).toBe(false);
    const out = dir('x');
    execFileSync('xorriso', ['-osirrox', 'on', '-indev', img, '-extract', '/flint', join(out, 'flint')], { env, stdio: 'ignore' });
    expect(readFileSync(join(out, 'flint/payload/motd'), 'utf8')).toBe('provisioned by flint\n');
    expect(readFileSync(join(out, 'flint/config.yaml'), 'utf8')).toContain('password_hash');
    await withMediaLock(async () => {
      const dev = attach(img);
      try {
        const { found, log } = await find(dir('sysroot'), dir('work'));
        expect(found, log.join('\n')).toBeDefined();
        expect(found!.source).toContain(`${dev} (label FLINT, iso9660)`);
        expect(readFileSync(join(found!.configFile, '../payload/motd'), 'utf8')).toBe('provisioned by flint\n');
      } finally {
        detach(dev);
      }
    });
  });

  it('drive create from an Ignition config: the stick carries it converted, and the runner finds a valid flint config', async () => {
    const img = join(dir('ign'), 'stick.img');
    const r = flint(['drive', 'create', 'bench/peers/typical.ign', '-o', img]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/typical\.ign \(Ignition config\) goes on the medium as a flint config/);
    expect(r.err).toMatch(/^note: /m);
    await withMediaLock(async () => {
      const dev = attach(img);
      try {
        const { found, log } = await find(dir('sysroot'), dir('work'));
        expect(found, log.join('\n')).toBeDefined();
        expect(found!.format).toBe('flint');
        const v = flint(['validate', found!.configFile]);
        expect(v.code, v.out + v.err).toBe(0);
        expect(readFileSync(found!.configFile, 'utf8')).toMatch(/^# Converted by flint from bench\/peers\/typical\.ign \(Ignition config\)\./);
      } finally {
        detach(dev);
      }
    });
  });

  it('drive create refuses an invalid config and a missing payload, writing nothing', () => {
    const d = dir('bad');
    writeFileSync(join(d, 'bad.yaml'), 'version: 1\nfiles:\n  - path: /etc/motd\n    mode: 644\n');
    const r = flint(['drive', 'create', join(d, 'bad.yaml'), '-o', join(d, 'a.img')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('bad.yaml:4:11: error');
    expect(existsSync(join(d, 'a.img'))).toBe(false);
    writeFileSync(join(d, 'miss.yaml'), 'version: 1\nfiles:\n  - path: /etc/motd\n    source: file:payload/none\n');
    const m = flint(['drive', 'create', join(d, 'miss.yaml'), '-o', join(d, 'b.img')]);
    expect(m.code).toBe(1);
    expect(m.err).toContain('file:payload/none');
    expect(existsSync(join(d, 'b.img'))).toBe(false);
  });

  it('drive write refuses a non-removable loop device and leaves it untouched; --force writes it with progress', async () => {
    const cfg = testConfig();
    const img = join(dir('target'), 'blank.img');
    execFileSync('truncate', ['-s', '64M', img]);
    await withMediaLock(() => {
      const dev = attach(img);
      try {
        const r = flint(['drive', 'write', cfg, dev, '--yes']);
        expect(r.code).toBe(1);
        expect(r.err).toContain('is not a removable disk');
        expect(r.err).toContain('--force');
        const head = Buffer.alloc(1024 * 1024);
        const fd = openSync(img, 'r');
        readSync(fd, head, 0, head.length, 0);
        closeSync(fd);
        expect(head.every((b) => b === 0)).toBe(true);
        const forced = flint(['drive', 'write', cfg, dev, '--yes', '--force']);
        expect(forced.code, forced.err).toBe(0);
        // Not a terminal: plain progress lines, the last one with the total.
        expect(forced.err).toMatch(/writing \/dev\/loop\d+: 100% 40 MiB of 40 MiB, .*, done/);
        expect(execFileSync('blkid', ['-p', '-o', 'value', '-s', 'LABEL', dev], { encoding: 'utf8', env }).trim()).toBe('FLINT');
      } finally {
        detach(dev);
      }
    });
    for (const pw of PASSWORDS) expect(imageContains(img, pw), pw).toBe(false);
  });

  it('image embed: flint.yaml and its payload on the image\'s FAT partition, found by the runner through the target disk', async () => {
    const cfg = testConfig();
    const rootDir = dir('minroot');
    mkdirSync(join(rootDir, 'etc'));
    writeFileSync(join(rootDir, 'etc/machine-id'), '');
    const img = diskImage(rootDir, 32, true);
    const r = flint(['image', 'embed', img, cfg]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('FAT partition 1 (boot)');
    for (const pw of PASSWORDS) expect(imageContains(img, pw), pw).toBe(false);
    await withMediaLock(async () => {
      const dev = attach(img, true);
      const mnt = dir('sysroot');
      try {
        execFileSync('mount', [`${dev}p2`, mnt], { env });
        try {
          const { found, log } = await find(mnt, dir('work'));
          expect(found, log.join('\n')).toBeDefined();
          expect(found!.source).toContain(`${dev}p1`);
          expect(readFileSync(found!.configFile, 'utf8')).toContain('password_hash');
          expect(readFileSync(join(found!.configFile, '../payload/motd'), 'utf8')).toBe('provisioned by flint\n');
        } finally {
          execFileSync('umount', [mnt], { env });
        }
      } finally {
        detach(dev);
      }
    });
  });

  it('image embed without --for: a root with cloud-init gets a NoCloud seed on the boot partition, and says so', () => {
    const rootDir = dir('cloudroot');
    mkdirSync(join(rootDir, 'etc/cloud'), { recursive: true });
    writeFileSync(join(rootDir, 'etc/os-release'), 'ID=debian\n');
    writeFileSync(join(rootDir, 'etc/cloud/cloud.cfg'), 'users: [default]\n');
    const img = diskImage(rootDir, 32, true);
    const r = flint(['image', 'embed', img, testConfig()]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/runs cloud-init \(found \/etc\/cloud\/cloud.cfg in the root \(partition 2\)\)/);
    const offset = (JSON.parse(execFileSync('sfdisk', ['--json', img], { encoding: 'utf8', env })) as { partitiontable: { partitions: Array<{ start: number }> } }).partitiontable.partitions[0]!.start * 512;
    const listing = execFileSync('mdir', ['-b', '-i', `${img}@@${offset}`, '::/'], { encoding: 'utf8', env });
    expect(listing).toContain('user-data');
    expect(listing).toContain('meta-data');
    for (const pw of PASSWORDS) expect(imageContains(img, pw), pw).toBe(false);
  });

  it('drive create --for cloud-init: a CIDATA stick with the seed at its top, no plain-text password', () => {
    const img = join(dir('seed'), 'seed.img');
    const r = flint(['drive', 'create', testConfig(), '--for', 'cloud-init', '-o', img]);
    expect(r.code, r.err).toBe(0);
    expect(execFileSync('blkid', ['-p', '-o', 'value', '-s', 'LABEL', img], { encoding: 'utf8', env }).trim()).toBe('CIDATA');
    const listing = execFileSync('mdir', ['-b', '-i', img, '::/'], { encoding: 'utf8', env });
    expect(listing).toContain('user-data');
    expect(execFileSync('mtype', ['-i', img, '::/user-data'], { encoding: 'utf8', env })).toMatch(/^#cloud-config\n/);
    for (const pw of PASSWORDS) expect(imageContains(img, pw), pw).toBe(false);
  });

  it('image embed on an image without a FAT partition says what to do instead', () => {
    const rootDir = dir('minroot');
    mkdirSync(join(rootDir, 'etc'));
    const img = diskImage(rootDir, 16, false);
    const r = flint(['image', 'embed', img, testConfig()]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('has no FAT partition');
    expect(r.err).toContain('flint image apply');
  });

  it.skipIf(!rootfs.ok)(`image apply: a Debian root image holds the configured users, keys and files, and is detached after${rootfs.ok ? '' : ` (SKIPPED: ${rootfs.reason})`}`, async () => {
    const root = await freshRoot();
    let img: string;
    try {
      img = diskImage(root.dir, 700, true);
    } finally {
      await root.cleanup();
    }
    const cfg = testConfig('scripts:\n  - name: mark\n    stage: post\n    contents: |\n      #!/bin/sh\n      echo ran > /var/lib/flint-script-ran\n');
    const r = flint(['image', 'apply', img, cfg]);
    expect(r.code, r.err + r.out).toBe(0);
    expect(r.out).toMatch(/applied \d+ changes to /);
    expect(r.err).toContain('script "mark" not run');
    expect(r.err).toContain('root filesystem: ');
    expect(attached(img)).toBe(false);
    const dev = attach(img, true);
    const mnt = dir('check');
    try {
      execFileSync('mount', ['-o', 'ro', `${dev}p2`, mnt], { env });
      try {
        expect(readFileSync(join(mnt, 'etc/passwd'), 'utf8')).toMatch(/^alice:x:\d+:\d+::\/home\/alice:\/bin\/bash$/m);
        const shadow = readFileSync(join(mnt, 'etc/shadow'), 'utf8');
        const hash = /^alice:([^:]+):/m.exec(shadow)?.[1];
        expect(verifyPassword(PASSWORDS[0]!, hash!)).toBe(true);
        expect(verifyPassword(PASSWORDS[1]!, /^bob:([^:]+):/m.exec(shadow)![1]!)).toBe(true);
        expect(readFileSync(join(mnt, 'home/alice/.ssh/authorized_keys'), 'utf8')).toContain(KEY);
        expect(readFileSync(join(mnt, 'etc/motd'), 'utf8')).toBe('provisioned by flint\n');
        expect(existsSync(join(mnt, 'var/log/flint/result.json'))).toBe(true);
        expect(existsSync(join(mnt, 'var/lib/flint-script-ran'))).toBe(false);
      } finally {
        execFileSync('umount', [mnt], { env });
      }
    } finally {
      detach(dev);
    }
    // A second apply changes nothing.
    const again = flint(['image', 'apply', img, cfg]);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toContain('nothing to do');
    // With --scripts the post script runs, chrooted in the image.
    const scripted = flint(['image', 'apply', img, cfg, '--scripts']);
    expect(scripted.code, scripted.err + scripted.out).toBe(0);
    const dev2 = attach(img, true);
    try {
      execFileSync('mount', ['-o', 'ro', `${dev2}p2`, mnt], { env });
      try {
        expect(readFileSync(join(mnt, 'var/lib/flint-script-ran'), 'utf8')).toBe('ran\n');
      } finally {
        execFileSync('umount', [mnt], { env });
      }
    } finally {
      detach(dev2);
    }
    expect(attached(img)).toBe(false);
  }, 600_000);

  it.skipIf(!hasTool('mkfs.btrfs'))(`image apply: btrfs root in its default subvolume, /var from the image's fstab${hasTool('mkfs.btrfs') ? '' : ' (SKIPPED: mkfs.btrfs not installed: apt-get install btrfs-progs)'}`, () => {
    const img = join(dir('btrfs'), 'disk.img');
    execFileSync('truncate', ['-s', '200M', img]);
    execFileSync('sfdisk', ['-q', img], { input: 'label: gpt\ntype=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=system\n', env });
    const dev = attach(img, true);
    const mnt = dir('mk');
    try {
      execFileSync('mkfs.btrfs', ['-q', '-L', 'sys', `${dev}p1`], { env, stdio: 'ignore' });
      execFileSync('mount', [`${dev}p1`, mnt], { env });
      try {
        execFileSync('btrfs', ['-q', 'subvolume', 'create', join(mnt, '@')], { env });
        execFileSync('btrfs', ['-q', 'subvolume', 'create', join(mnt, '@var')], { env });
        mkdirSync(join(mnt, '@/etc'));
        mkdirSync(join(mnt, '@/var'));
        writeFileSync(join(mnt, '@/etc/fstab'), 'LABEL=sys / btrfs defaults 0 0\nLABEL=sys /var btrfs subvol=@var 0 0\n');
        execFileSync('btrfs', ['subvolume', 'set-default', join(mnt, '@')], { env });
      } finally {
        execFileSync('umount', [mnt], { env });
      }
    } finally {
      detach(dev);
    }
    const cfgDir = dir('bcfg');
    writeFileSync(join(cfgDir, 'c.yaml'), 'version: 1\nfiles:\n  - path: /etc/motd\n    contents: "on btrfs\\n"\n  - path: /var/lib/flint-demo/note\n    contents: "in @var\\n"\n');
    const r = flint(['image', 'apply', img, join(cfgDir, 'c.yaml')]);
    expect(r.code, r.err + r.out).toBe(0);
    expect(r.err).toContain('btrfs, its default subvolume');
    expect(r.err).toContain('/var: ');
    expect(attached(img)).toBe(false);
    const check = attach(img, true);
    try {
      execFileSync('mount', ['-o', 'ro,subvolid=5', `${check}p1`, mnt], { env });
      try {
        expect(readFileSync(join(mnt, '@/etc/motd'), 'utf8')).toBe('on btrfs\n');
        expect(readFileSync(join(mnt, '@var/lib/flint-demo/note'), 'utf8')).toBe('in @var\n');
        expect(existsSync(join(mnt, '@/var/lib/flint-demo'))).toBe(false);
      } finally {
        execFileSync('umount', [mnt], { env });
      }
    } finally {
      detach(check);
    }
  });

  it('image apply refuses a qcow2 image with what to do', () => {
    const img = join(dir('q'), 'disk.qcow2');
    writeFileSync(img, Buffer.concat([Buffer.from('QFI\xfb', 'latin1'), Buffer.alloc(4096)]));
    const r = flint(['image', 'apply', img, testConfig()]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('qcow2');
    expect(r.err).toContain('qemu-img convert -O raw');
  });

  it('init with flags writes a config that flint validate accepts', () => {
    const keyFile = join(dir('k'), 'id_ed25519.pub');
    writeFileSync(keyFile, KEY + '\n');
    const out = join(dir('init'), 'flint.yaml');
    const r = flint(['init', '--yes', '-o', out, '--user', 'pi', '--ssh-key', keyFile, '--hostname', 'pi-kitchen', '--timezone', 'Europe/Berlin', '--keymap', 'de-nodeadkeys', '--wifi-ssid', 'Home', '--wifi-password-stdin', '--wifi-country', 'DE'], 'wifi-pass-1234\n');
    expect(r.code, r.err).toBe(0);
    const v = flint(['validate', '--strict', out]);
    expect(v.code, v.out + v.err).toBe(0);
  });
});
