/**
 * flint image enable's decisions and file changes on plain folders (the dracut rebuild
 * and the boots are in test/vm/enable.test.ts): which way an image takes and why, the
 * executable for its architecture, the files of the first-boot-unit way, a second run
 * that changes nothing, and the refusals.
 */
import { copyFileSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageError } from '../../src/media/disk-image.js';
import { chooseWay, enableRoot, kernelsOf, rootArch, STAMP_PATH } from '../../src/media/enable.js';
import { elfArch, findExecutable } from '../../src/media/executable.js';
import { bootedFirstBoot, DONE_MARKER, NO_CONFIG_MARKER } from '../../src/discover/firstboot.js';

/** A small executable of this machine's architecture, standing in for the 88 MB flint. */
const ELF = '/usr/bin/true';
const HOST_ARCH = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tree(files: Record<string, string | 'elf'>): string {
  const root = mkdtempSync(join(tmpdir(), 'flint-enable-'));
  dirs.push(root);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    if (content === 'elf') copyFileSync(ELF, join(root, rel));
    else writeFileSync(join(root, rel), content);
  }
  return root;
}

const SYSTEMD = { 'usr/lib/systemd/systemd': 'elf' } as const;
const opts = (flint: string) => ({ image: 'test.img', flint, trust: [], log: () => undefined });

describe('which way an image takes', () => {
  it('dracut and an initramfs per kernel: the dracut way, naming each initramfs', () => {
    const root = tree({ ...SYSTEMD, 'usr/bin/dracut': '#!/bin/bash\n', 'usr/lib/modules/6.12.1/modules.dep': '', 'boot/initrd.img-6.12.1': 'x', 'usr/lib/modules/6.1.0/modules.dep': '', 'boot/initramfs-6.1.0.img': 'x' });
    const w = chooseWay(root);
    expect(w.way).toBe('dracut');
    expect(w.way === 'dracut' && w.kernels).toEqual([
      { version: '6.1.0', initrd: '/boot/initramfs-6.1.0.img' },
      { version: '6.12.1', initrd: '/boot/initrd.img-6.12.1' },
    ]);
  });

  it('initramfs-tools: a first-boot unit, saying why', () => {
    const root = tree({ ...SYSTEMD, 'usr/sbin/update-initramfs': '#!/bin/sh\n', 'usr/lib/modules/6.12.1/modules.dep': '', 'boot/initrd.img-6.12.1': 'x' });
    const w = chooseWay(root);
    expect(w.way).toBe('firstboot-unit');
    expect(w.why).toMatch(/initramfs-tools, whose busybox initramfs has no systemd/);
  });

  it('dracut without an initramfs, or no initramfs at all: a first-boot unit', () => {
    expect(chooseWay(tree({ ...SYSTEMD, 'usr/bin/dracut': '', 'usr/lib/modules/6.1/modules.dep': '' })).why).toMatch(/has dracut but no initramfs for kernel 6\.1/);
    expect(chooseWay(tree({ ...SYSTEMD })).why).toMatch(/boots with no initramfs/);
  });

  it('no systemd: refused, pointing at image apply and cloud-init', () => {
    expect(() => chooseWay(tree({ 'usr/bin/busybox': 'elf' }))).toThrow(/does not boot systemd/);
    try {
      chooseWay(tree({ 'usr/bin/busybox': 'elf' }));
    } catch (e) {
      expect((e as ImageError).hint).toMatch(/flint image apply/);
    }
  });

  it('kernels without modules.dep are not kernels', () => {
    expect(kernelsOf(tree({ 'usr/lib/modules/6.1/extra/x.ko': '' }))).toEqual([]);
  });
});

describe('architectures and the executable', () => {
  it('reads the ELF machine of the root and of executables', () => {
    expect(elfArch(ELF)).toBe(HOST_ARCH);
    expect(elfArch('/etc/passwd')).toBeUndefined();
    expect(rootArch(tree({ ...SYSTEMD }))).toBe(HOST_ARCH);
    expect(rootArch(tree({ 'etc/hostname': 'x' }))).toBeUndefined();
  });

  it('takes --flint only when it is for the image\'s architecture', () => {
    const other = HOST_ARCH === 'x86_64' ? 'aarch64' : 'x86_64';
    expect(findExecutable(HOST_ARCH, ELF, 'file:///nowhere/flint.mjs', '/nowhere/node')).toBe(ELF);
    expect(() => findExecutable(other, ELF, 'file:///nowhere/flint.mjs', '/nowhere/node')).toThrow(new RegExp(`is for ${HOST_ARCH}, and the image is ${other}`));
    expect(() => findExecutable(HOST_ARCH, undefined, 'file:///nowhere/flint.mjs', '/nowhere/node')).toThrow(`no self-contained flint for ${HOST_ARCH} (looked for /nowhere/flint-linux-`);
    try {
      findExecutable(HOST_ARCH, undefined, 'file:///nowhere/flint.mjs', '/nowhere/node');
    } catch (e) {
      expect((e as ImageError).hint).toMatch(/npm run build:sea, or give one with --flint FILE/);
    }
  });

  it('finds dist/flint-linux-ARCH beside the bundle', () => {
    const dist = tree({ [HOST_ARCH === 'x86_64' ? 'flint-linux-x64' : 'flint-linux-arm64']: 'elf', 'flint.mjs': '' });
    expect(findExecutable(HOST_ARCH, undefined, `file://${dist}/flint.mjs`, '/usr/bin/node')).toBe(join(dist, HOST_ARCH === 'x86_64' ? 'flint-linux-x64' : 'flint-linux-arm64'));
  });
});

describe('the first-boot-unit way on a root', () => {
  it('adds the executable, the unit and its link in /usr, a stamp, nothing in /etc; a second run changes nothing', async () => {
    const root = tree({ ...SYSTEMD, 'etc/machine-id': '' });
    const r = await enableRoot(root, opts(ELF), 'file:///x/flint.mjs', '/usr/bin/node');
    expect(r).toMatchObject({ way: 'firstboot-unit', changed: true, arch: HOST_ARCH, initrds: [] });
    expect(readFileSync(join(root, 'usr/lib/flint/flint')).equals(readFileSync(ELF))).toBe(true);
    expect(statSync(join(root, 'usr/lib/flint/flint')).mode & 0o777).toBe(0o755);
    const unit = readFileSync(join(root, 'usr/lib/systemd/system/flint-firstboot.service'), 'utf8');
    expect(unit).toMatch(/^ConditionPathExists=!\/etc\/\.flint-result\.json$/m);
    expect(unit).toMatch(/^ConditionPathExists=!\/var\/lib\/flint\/first-boot-without-config$/m);
    expect(unit).toMatch(/^ExecStart=\/usr\/lib\/flint\/flint run --booted$/m);
    expect(unit).toMatch(/^Before=.*network-pre\.target.*ssh\.service/m);
    expect(readlinkSync(join(root, 'usr/lib/systemd/system/sysinit.target.wants/flint-firstboot.service'))).toBe('../flint-firstboot.service');
    expect(JSON.parse(readFileSync(join(root, STAMP_PATH.slice(1)), 'utf8'))).toMatchObject({ way: 'firstboot-unit', arch: HOST_ARCH });
    expect(readFileSync(join(root, 'etc/machine-id'), 'utf8')).toBe('');
    const mtime = lstatSync(join(root, 'usr/lib/flint/flint')).mtimeMs;
    const again = await enableRoot(root, opts(ELF), 'file:///x/flint.mjs', '/usr/bin/node');
    expect(again.changed).toBe(false);
    expect(lstatSync(join(root, 'usr/lib/flint/flint')).mtimeMs).toBe(mtime);
  });

  it('refuses an --arch that is not the image\'s, before writing anything', async () => {
    const root = tree({ ...SYSTEMD });
    const other = HOST_ARCH === 'x86_64' ? 'aarch64' : 'x86_64';
    await expect(enableRoot(root, { ...opts(ELF), arch: other }, 'file:///x/flint.mjs', '/usr/bin/node')).rejects.toThrow(`--arch ${other}, but the image is ${HOST_ARCH}`);
    expect(() => lstatSync(join(root, 'usr/lib/flint'))).toThrow();
  });

  it('a root it cannot write to: a clear refusal, and what it had added is gone again', async () => {
    // The unit's folder is a file here: the first files go in, then the unit cannot.
    const root = tree({ ...SYSTEMD, 'usr/lib/systemd/system': 'not a folder' });
    const err = await enableRoot(root, opts(ELF), 'file:///x/flint.mjs', '/usr/bin/node').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageError);
    expect((err as ImageError).message).toMatch(/^cannot write .*usr\/lib\/systemd\/system.*: (ENOTDIR|EEXIST)/);
    expect(() => lstatSync(join(root, 'usr/lib/flint'))).toThrow();
    expect(readFileSync(join(root, 'usr/lib/systemd/system'), 'utf8')).toBe('not a folder');
  });

  it('installs trusted certificates into /etc/flint/trust', async () => {
    const root = tree({ ...SYSTEMD });
    const pem = '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n';
    await enableRoot(root, { ...opts(ELF), trust: [{ name: 'owner.pem', pem }] }, 'file:///x/flint.mjs', '/usr/bin/node');
    expect(readFileSync(join(root, 'etc/flint/trust/owner.pem'), 'utf8')).toBe(pem);
  });
});

describe('flint run --booted: the first boot as systemd decided it', () => {
  it('is the first boot until flint has written its marker', () => {
    const root = tree({ 'etc/machine-id': '4f0c1f6bd1c84e5c9a7f1b0ff0a1e2d3\n' });
    expect(bootedFirstBoot(root)).toMatchObject({ firstBoot: true });
    mkdirSync(join(root, 'var/lib/flint'), { recursive: true });
    writeFileSync(join(root, NO_CONFIG_MARKER.slice(1)), 'x');
    expect(bootedFirstBoot(root)).toMatchObject({ firstBoot: false, reason: expect.stringContaining('found no config') });
    rmSync(join(root, NO_CONFIG_MARKER.slice(1)));
    writeFileSync(join(root, DONE_MARKER.slice(1)), '{}');
    expect(bootedFirstBoot(root)).toMatchObject({ firstBoot: false });
  });
});

describe('flint run --booted: what the running system is caught up on', () => {
  it('starts the units the config enables and its containers, not targets or templates', async () => {
    const { unitsToStart } = await import('../../src/pipeline/booted.js');
    const config = {
      version: 1,
      systemd: { units: [{ name: 'a.service', enabled: true }, { name: 'b.service', enabled: false }, { name: 'c.target', enabled: true }, { name: 'd@.service', enabled: true }, { name: 'e.timer', enabled: true }] },
      containers: [{ name: 'box', image: 'x' }, { name: 'off', image: 'x', enabled: false }],
    } as unknown as Parameters<typeof unitsToStart>[0];
    expect(unitsToStart(config)).toEqual([['a.service'], ['e.timer'], ['box.service', 'container-box.service']]);
  });
});
