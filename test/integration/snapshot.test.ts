/**
 * The snapshot strategy of `flint run` on a real btrfs filesystem (a loop device) with
 * snapper's layout as openSUSE MicroOS has it: @, @/.snapshots, the default subvolume
 * @/.snapshots/1/snapshot (read-only), its info.xml and /etc/snapper/configs/root from
 * snapper's template. Needs root, losetup, btrfs-progs and snapper.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { btrfsUuidFromSysfs, configuredMountOptions, fstabSubvolumes, infoXml, parseGetDefault, snapshotNumber } from '../../src/transaction/snapshot.js';
import { mountHolding, parseMountinfo } from '../../src/system/mount.js';
import { debianRoot, hasRootfsSupport } from './rootfs.js';
import { BIN, hostEnv, loopSupport } from '../helpers/host.js';
import type { Support } from '../helpers/host.js';

const env = hostEnv;
const TEMPLATE = '/usr/share/snapper/config-templates/default';

function support(): Support {
  if (existsSync('/proc/filesystems') && !readFileSync('/proc/filesystems', 'utf8').includes('btrfs')) return { ok: false, reason: 'this kernel has no btrfs' };
  const base = loopSupport([['mkfs.btrfs', 'btrfs-progs'], ['btrfs', 'btrfs-progs'], ['snapper', 'snapper']]);
  if (base.ok && !existsSync(TEMPLATE)) return { ok: false, reason: `${TEMPLATE} missing (apt-get install snapper)` };
  return base;
}

const can = support();
const tmp = mkdtempSync(join(tmpdir(), 'flint-snap-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function sh(file: string, args: string[]): string {
  return execFileSync(file, args, { encoding: 'utf8', env });
}

interface Image {
  dev: string;
  sysroot: string;
  /** Runs FN with the filesystem's top level mounted. */
  top<T>(fn: (top: string) => T): T;
  cleanup(): void;
}

/** A MicroOS-like btrfs root on a loop device, its default subvolume mounted at sysroot. */
function microosImage(name: string, base?: string): Image {
  const d = join(tmp, name);
  mkdirSync(d);
  const img = join(d, 'root.img');
  sh('truncate', ['-s', base === undefined ? '300M' : '1200M', img]);
  sh('mkfs.btrfs', ['-q', '-L', 'ROOT', img]);
  const dev = sh('losetup', ['-f', '--show', img]).trim();
  const uuid = sh('blkid', ['-o', 'value', '-s', 'UUID', '-p', dev]).trim();
  const sysroot = join(d, 'sysroot');
  const topDir = join(d, 'top');
  mkdirSync(sysroot);
  mkdirSync(topDir);
  const top = <T>(fn: (top: string) => T): T => {
    sh('mount', ['-o', 'subvolid=5', dev, topDir]);
    try {
      return fn(topDir);
    } finally {
      sh('umount', [topDir]);
    }
  };
  top((t) => {
    sh('btrfs', ['subvolume', 'create', join(t, '@')]);
    sh('btrfs', ['subvolume', 'create', join(t, '@/.snapshots')]);
    sh('btrfs', ['subvolume', 'create', join(t, '@/home')]);
    mkdirSync(join(t, '@/.snapshots/1'));
    const s = join(t, '@/.snapshots/1/snapshot');
    sh('btrfs', ['subvolume', 'create', s]);
    if (base !== undefined) sh('cp', ['-a', '--', `${base}/.`, s]);
    for (const dir of ['etc/snapper/configs', '.snapshots', 'home', 'proc', 'sys', 'dev', 'run', 'tmp', 'var', 'root']) mkdirSync(join(s, dir), { recursive: true });
    if (base === undefined) {
      writeFileSync(join(s, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
      writeFileSync(join(s, 'etc/group'), 'root:x:0:\n');
      writeFileSync(join(s, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
    }
    writeFileSync(join(s, 'etc/machine-id'), '');
    writeFileSync(join(s, 'etc/fstab'), `LABEL=ROOT / btrfs ro 0 0\nLABEL=ROOT /.snapshots btrfs subvol=/@/.snapshots 0 0\nUUID=${uuid} /home btrfs subvol=/@/home 0 0\n`);
    copyFileSync(TEMPLATE, join(s, 'etc/snapper/configs/root'));
    writeFileSync(join(t, '@/.snapshots/1/info.xml'), '<?xml version="1.0"?>\n<snapshot>\n  <type>single</type>\n  <num>1</num>\n  <date>2026-01-01 00:00:00</date>\n  <description>first root filesystem</description>\n</snapshot>\n');
    sh('btrfs', ['property', 'set', '-ts', s, 'ro', 'true']);
    sh('btrfs', ['subvolume', 'set-default', s]);
  });
  // Read-only, as MicroOS mounts its root: flint writes through its own top-level mount.
  sh('mount', ['-o', 'ro', dev, sysroot]);
  return {
    dev,
    sysroot,
    top,
    cleanup() {
      spawnSync('umount', ['-R', sysroot], { env });
      spawnSync('losetup', ['-d', dev], { env });
    },
  };
}

function flintRun(sysroot: string, config: string, extraEnv: Record<string, string> = {}, cmdline = 'flint.timeout=0'): { code: number | null; out: string; err: string } {
  const d = mkdtempSync(join(tmp, 'run-'));
  writeFileSync(join(d, 'cmdline'), cmdline + '\n');
  mkdirSync(join(d, 'fw/by_name/opt/flint/config'), { recursive: true });
  writeFileSync(join(d, 'fw/by_name/opt/flint/config/raw'), config);
  mkdirSync(join(d, 'sys'));
  const r = spawnSync(process.execPath, [BIN, 'run', '--sysroot', sysroot, '--cmdline', join(d, 'cmdline'), '--fw-cfg', join(d, 'fw'), '--sys', join(d, 'sys'), '--work', join(d, 'work')], { encoding: 'utf8', env: { ...env, ...extraEnv }, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const CONFIG = `version: 1
files:
  - path: /etc/motd
    mode: "0644"
    contents: "configured by flint\\n"
  - path: /etc/issue.d/flint.issue
    contents: "hello\\n"
  - path: /home/flint-was-here
    contents: "in the home subvolume\\n"
`;

const defaultOf = (img: Image) => img.top((t) => parseGetDefault(sh('btrfs', ['subvolume', 'get-default', t])));

describe('snapshot helpers', () => {
  it('parses mountinfo, get-default, snapshot paths and fstab subvolumes', () => {
    const [m] = parseMountinfo('36 25 0:32 /@/.snapshots/1/snapshot /sys\\040root ro,relatime shared:1 - btrfs /dev/vda3 rw,space_cache=v2,subvolid=267,subvol=/@/.snapshots/1/snapshot\n');
    expect(m).toEqual({ root: '/@/.snapshots/1/snapshot', mountPoint: '/sys root', options: ['ro', 'relatime'], fstype: 'btrfs', source: '/dev/vda3', superOptions: ['rw', 'space_cache=v2', 'subvolid=267', 'subvol=/@/.snapshots/1/snapshot'] });
    const info = '22 1 0:21 / / rw - ext4 /dev/vda1 rw\n36 22 0:32 /@/.snapshots/1/snapshot /sysroot ro - btrfs /dev/vda3 rw\n37 36 0:33 / /sysroot/var rw - btrfs /dev/vda4 rw\n38 36 0:34 / /sysroot/var rw - tmpfs tmpfs rw\n';
    // findmnt -T's answer: the longest mount point above the path; the last mount on a point hides the earlier.
    expect(mountHolding('/', info)?.source).toBe('/dev/vda1');
    expect(mountHolding('/proc', info)?.source).toBe('/dev/vda1');
    expect(mountHolding('/proc', `${info}40 22 0:40 / / rw - overlay overlay rw\n`)?.fstype).toBe('overlay');
    expect(mountHolding('/proc', '36 22 0:32 / /sysroot ro - btrfs /dev/vda3 rw\n')).toBeUndefined();
    expect(parseGetDefault('ID 259 gen 12 top level 258 path @/.snapshots/1/snapshot\n')).toBe('@/.snapshots/1/snapshot');
    expect(snapshotNumber('@/.snapshots/12/snapshot')).toBe(12);
    expect(snapshotNumber('/@/.snapshots/12/snapshot')).toBe(12);
    expect(snapshotNumber('@')).toBeUndefined();
    expect(fstabSubvolumes('UUID=a / btrfs ro 0 0\nUUID=a /.snapshots btrfs subvol=/@/.snapshots 0 0\nUUID=a /var btrfs subvol=/@/var,x-initrd.mount 0 0\n# UUID=a /x btrfs subvol=/@/x 0 0\n')).toEqual([{ spec: 'UUID=a', mountPoint: '/var', subvol: '/@/var' }]);
    expect(infoXml(2, new Date('2026-11-26T13:00:05.123Z'))).toContain('<date>2026-11-26 13:00:05</date>');
  });

  it("reads a mount unit's own Options= from systemctl cat, not the live mount's", () => {
    const generated = '# /run/systemd/generator/sysroot.mount\n# Automatically generated by systemd-fstab-generator\n\n[Unit]\nBefore=initrd-root-fs.target\n\n[Mount]\nWhat=/dev/disk/by-uuid/abc\nWhere=/sysroot\nOptions=rw\n';
    expect(configuredMountOptions(generated)).toBe('rw');
    const pinned = generated.replace('Options=rw', 'Options=rw,subvol=/@/.snapshots/1/snapshot');
    expect(configuredMountOptions(pinned)).toBe('rw,subvol=/@/.snapshots/1/snapshot');
    // A drop-in after the unit file wins; an empty assignment resets; other sections do not count.
    expect(configuredMountOptions(`${pinned}\n# /run/systemd/system/sysroot.mount.d/flint.conf\n[Mount]\nOptions=\n[Install]\nOptions=subvol=x\n`)).toBe('');
    expect(configuredMountOptions('')).toBe('');
  });
});

describe.skipIf(!can.ok)(`flint run on a btrfs root with snapper's layout${can.ok ? '' : ` (SKIPPED: ${can.reason})`}`, () => {
  it('applies into a new snapshot, makes it the default, snapper lists it, the old one is untouched', () => {
    const img = microosImage('ok');
    try {
      const r = flintRun(img.sysroot, CONFIG);
      expect(r.code, r.err + r.out).toBe(0);
      expect(r.err).toContain('applying into a new btrfs snapshot 2 (from snapshot 1)');
      expect(defaultOf(img)).toBe('@/.snapshots/2/snapshot');
      // The UUID the fstab's subvolumes are matched by, from sysfs rather than blkid.
      expect(btrfsUuidFromSysfs(img.dev)).toBe(sh('blkid', ['-o', 'value', '-s', 'UUID', img.dev]).trim());
      // /sysroot was mounted again: it is the new default now.
      expect(readFileSync(join(img.sysroot, 'etc/motd'), 'utf8')).toBe('configured by flint\n');
      expect(existsSync(join(img.sysroot, 'etc/.flint-result.json'))).toBe(true);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).toMatch(new RegExp(` ${img.sysroot} ro,`));
      img.top((t) => {
        const old = join(t, '@/.snapshots/1/snapshot');
        expect(existsSync(join(old, 'etc/motd'))).toBe(false);
        expect(existsSync(join(old, 'var/log/flint'))).toBe(false);
        expect(sh('btrfs', ['property', 'get', '-ts', join(t, '@/.snapshots/2/snapshot'), 'ro']).trim()).toBe('ro=true');
        expect(readFileSync(join(t, '@/.snapshots/2/info.xml'), 'utf8')).toContain('<description>flint first-boot configuration</description>');
        // /home is its own subvolume in the target's fstab: written there, not into the snapshot's empty mount point.
        expect(readFileSync(join(t, '@/home/flint-was-here'), 'utf8')).toBe('in the home subvolume\n');
        expect(existsSync(join(t, '@/.snapshots/2/snapshot/home/flint-was-here'))).toBe(false);
      });
      sh('mount', ['-o', 'subvol=/@/.snapshots', img.dev, join(img.sysroot, '.snapshots')]);
      const list = sh('snapper', ['--no-dbus', '--root', img.sysroot, '-c', 'root', 'list']);
      expect(list).toMatch(/^\s*2\b.*flint first-boot configuration/m);
      expect(list).toMatch(/^\s*1\b.*first root filesystem/m);
      sh('umount', [join(img.sysroot, '.snapshots')]);
      // The next boot is not a first boot: the marker in the new default says so.
      const again = flintRun(img.sysroot, CONFIG);
      expect(again.code).toBe(0);
      expect(again.out).toContain('not the first boot');
      expect(again.out).toContain('flint already configured it');
      expect(defaultOf(img)).toBe('@/.snapshots/2/snapshot');
    } finally {
      img.cleanup();
    }
  }, 120_000);

  it('an injected failure: the default is unchanged and the new snapshot is gone', () => {
    const img = microosImage('fail');
    try {
      const r = flintRun(img.sysroot, CONFIG, { FLINT_TEST_FAIL_AT: '2' });
      expect(r.code).toBe(1);
      expect(r.err).toContain('FAILED in step files: injected failure at action 2');
      expect(r.err).toContain('config: QEMU fw_cfg opt/flint/config');
      expect(r.err).toContain('the new snapshot was deleted');
      expect(defaultOf(img)).toBe('@/.snapshots/1/snapshot');
      img.top((t) => {
        expect(existsSync(join(t, '@/.snapshots/2'))).toBe(false);
        expect(sh('btrfs', ['subvolume', 'list', t])).not.toContain('.snapshots/2/');
        expect(existsSync(join(t, '@/home/flint-was-here'))).toBe(false);
      });
      expect(existsSync(join(img.sysroot, 'etc/motd'))).toBe(false);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(join(tmp, 'run-'));
    } finally {
      img.cleanup();
    }
  }, 120_000);

  const rootfs = hasRootfsSupport();
  it.skipIf(!rootfs.ok)(`a failing script in a Debian root on btrfs: the snapshot goes, with everything the script wrote; a good one stays${rootfs.ok ? '' : ` (SKIPPED: ${rootfs.reason})`}`, async () => {
    const img = microosImage('debian', await debianRoot());
    const script = (code: number) => `version: 1
files:
  - path: /etc/motd
    contents: "configured by flint\\n"
scripts:
  - name: finish
    contents: |
      #!/bin/sh
      echo written-by-the-script > /etc/script-was-here
      exit ${code}
`;
    try {
      const bad = flintRun(img.sysroot, script(5));
      expect(bad.code).toBe(1);
      expect(bad.err).toContain('FAILED in step scripts: script "finish" (post) exited with status 5');
      expect(defaultOf(img)).toBe('@/.snapshots/1/snapshot');
      img.top((t) => expect(existsSync(join(t, '@/.snapshots/2'))).toBe(false));
      expect(existsSync(join(img.sysroot, 'etc/script-was-here'))).toBe(false);
      const good = flintRun(img.sysroot, script(0));
      expect(good.code, good.err).toBe(0);
      expect(defaultOf(img)).toBe('@/.snapshots/2/snapshot');
      expect(readFileSync(join(img.sysroot, 'etc/script-was-here'), 'utf8')).toBe('written-by-the-script\n');
      expect(readFileSync(join(img.sysroot, 'etc/motd'), 'utf8')).toBe('configured by flint\n');
      img.top((t) => expect(existsSync(join(t, '@/.snapshots/1/snapshot/etc/script-was-here'))).toBe(false));
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain('btrfs-top');
    } finally {
      img.cleanup();
    }
  }, 300_000);
});
