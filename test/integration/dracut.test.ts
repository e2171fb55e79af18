/**
 * flint's dracut module (initrd/dracut/95flint) in a real Debian 13 root: `dracut
 * --no-hostonly --add flint` builds an initramfs that holds node, the bundle, the unit
 * (wanted by initrd.target) and the tools and drivers flint needs, and node runs flint
 * from inside the unpacked initramfs, with only the libraries dracut put there.
 *
 * The root is test/vm's guest root (rootfs-trixie.ts's root + kernel, dracut, node);
 * the first run builds and caches it (a few minutes). Needs root, debootstrap, network.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copiesBase, hasRootfsSupport, inChroot } from './rootfs.js';
import { guestRoot, kernelVersion } from '../vm/guest-root.js';
import { dracutInRoot, installFlint } from '../vm/image.js';
import { exists, removeTree, sh } from '../vm/host.js';

const support = hasRootfsSupport();
const bundleMissing = !(await exists('dist/flint.mjs'));
const skipReason = !support.ok ? support.reason : bundleMissing ? 'dist/flint.mjs missing: run node scripts/bundle.mjs' : undefined;
if (skipReason !== undefined) console.warn(`dracut tests skipped: ${skipReason}`);

/** dracut in ROOT, then the lsinitrd listing and the initramfs unpacked in ROOT/tmp/unpacked. */
async function buildInitrd(root: string): Promise<{ initrd: string; listing: string; unpacked: string }> {
  const kver = await kernelVersion(root);
  const initrd = await dracutInRoot(root, kver);
  const ls = await inChroot(root, ['lsinitrd', `/boot/initrd.img-${kver}`], { timeoutMs: 5 * 60_000, mounts: ['proc', 'dev'] });
  expect(ls.code, ls.stderr).toBe(0);
  const un = await inChroot(root, ['sh', '-c', 'mkdir /tmp/unpacked && cd /tmp/unpacked && lsinitrd --unpack "$1"', 'sh', `/boot/initrd.img-${kver}`], {
    timeoutMs: 5 * 60_000,
    mounts: ['proc', 'dev'],
  });
  expect(un.code, un.stderr).toBe(0);
  return { initrd, listing: ls.stdout, unpacked: path.join(root, 'tmp/unpacked') };
}

describe.skipIf(skipReason !== undefined)('dracut module 95flint', () => {
  let work = '';
  let root = '';
  let initrd = '';
  let listing = '';
  let unpacked = '';

  beforeAll(async () => {
    const base = await guestRoot();
    await fs.mkdir(copiesBase(), { recursive: true });
    work = await fs.mkdtemp(path.join(copiesBase(), `dracut-${process.pid}-`));
    root = path.join(work, 'root');
    await sh('cp', ['-a', '--reflink=auto', base, root], 10 * 60_000);
    await installFlint(root);
    ({ initrd, listing, unpacked } = await buildInitrd(root));
  }, 30 * 60_000);

  afterAll(async () => {
    if (work !== '') await removeTree(work);
  }, 120_000);

  /** Paths in the lsinitrd listing (the last field of each line, without a symlink's target). */
  const paths = () =>
    new Set(
      listing
        .split('\n')
        .map((l) => l.split(/\s+/).slice(8).join(' ').replace(/ -> .*$/, ''))
        .filter((p) => p !== ''),
    );

  it('lsinitrd shows node, the bundle, its code cache and the unit wanted by initrd.target', () => {
    const p = paths();
    for (const want of [
      'usr/bin/node',
      'usr/lib/flint/flint.mjs',
      'usr/lib/flint/flint.mjs.cache',
      'usr/lib/systemd/system/flint.service',
      'usr/lib/systemd/system/initrd.target.wants/flint.service',
      'usr/lib/systemd/system/initrd-parse-etc.service.d/50-flint-emergency.conf',
    ]) {
      expect(p.has(want), `${want} in the initramfs`).toBe(true);
    }
  });

  it('holds the tools flint starts and the drivers for sticks, SD cards and VMs', () => {
    const p = [...paths()];
    for (const tool of ['blkid', 'mount', 'umount', 'mcopy', 'xorriso', 'btrfs', 'sfdisk', 'chroot', 'ssh-keygen', 'mkfs.ext4']) {
      expect(p.some((x) => x.endsWith(`bin/${tool}`)), `${tool} in the initramfs`).toBe(true);
    }
    for (const mod of ['usb-storage', 'uas', 'xhci-pci', 'vfat', 'exfat', 'isofs', 'btrfs', 'ext4', 'xfs', 'mmc_block', 'sdhci-pci', 'virtio_blk', 'qemu_fw_cfg']) {
      expect(p.some((x) => new RegExp(`/${mod.replace(/[-_]/g, '[-_]')}\\.ko(\\.[a-z]+)?$`).test(x)), `module ${mod}`).toBe(true);
    }
  });

  it('the unit in the initramfs is the module\'s, byte for byte', async () => {
    const inInitrd = await fs.readFile(path.join(unpacked, 'usr/lib/systemd/system/flint.service'), 'utf8');
    expect(inInitrd).toBe(await fs.readFile('initrd/dracut/95flint/flint.service', 'utf8'));
    expect(inInitrd).toMatch(/^ExecStart=\/usr\/bin\/node \/usr\/lib\/flint\/flint\.mjs run$/m);
  });

  it('node runs flint inside the unpacked initramfs, with only what dracut put there', async () => {
    const r = await sh('chroot', [unpacked, '/usr/bin/node', '/usr/lib/flint/flint.mjs', 'run', '--help'], 120_000);
    expect(r).toMatch(/^Usage: flint run/m);
    const v = await sh('chroot', [unpacked, 'blkid', '--version'], 30_000);
    expect(v).toMatch(/blkid from util-linux/);
  });

  it('mtools in the initramfs can write to a FAT stick (iconv code pages are there)', async () => {
    const img = path.join(unpacked, 'tmp/fat.img');
    await sh('mkfs.vfat', ['-C', '-n', 'FLINT', img, '8192']);
    await fs.writeFile(path.join(unpacked, 'tmp/RESULT.txt'), 'configured\n');
    await sh('chroot', [unpacked, 'mcopy', '-o', '-i', '/tmp/fat.img', '/tmp/RESULT.txt', '::/RESULT.txt'], 30_000);
    expect(await sh('mtype', ['-i', img, '::/RESULT.txt'])).toBe('configured');
  });

  it('the systemd in the initramfs accepts the unit (systemd-analyze verify)', async () => {
    const r = await inChroot(root, ['systemd-analyze', 'verify', '--root=/tmp/unpacked', 'flint.service'], { timeoutMs: 120_000 });
    expect(r.stderr).not.toMatch(/flint\.service:\d+:/);
  });

  it('is left out unless requested: check() returns 255', async () => {
    expect(initrd).toMatch(/initrd\.img-/);
    const r = await inChroot(root, ['bash', '-c', 'derror() { :; }; require_binaries() { command -v "$@" >/dev/null; }; . /usr/lib/dracut/modules.d/95flint/module-setup.sh; check; echo "rc=$?"'], {});
    expect(r.stdout.trim()).toBe('rc=255');
  });
});

const SELF_CONTAINED = 'dist/flint-linux-x64';
const scSkip = skipReason ?? (process.arch !== 'x64' ? 'needs an x86_64 machine' : !(await exists(SELF_CONTAINED)) ? `${SELF_CONTAINED} missing: run npm run build:sea` : undefined);

describe.skipIf(scSkip !== undefined)(`dracut module 95flint with the self-contained flint, in an image without node${scSkip === undefined ? '' : ` (SKIPPED: ${scSkip})`}`, () => {
  let work = '';
  let unpacked = '';
  let listing = '';

  beforeAll(async () => {
    const base = await guestRoot();
    await fs.mkdir(copiesBase(), { recursive: true });
    work = await fs.mkdtemp(path.join(copiesBase(), `dracut-sc-${process.pid}-`));
    const root = path.join(work, 'root');
    await sh('cp', ['-a', '--reflink=auto', base, root], 10 * 60_000);
    await installFlint(root);
    await fs.rm(path.join(root, 'usr/lib/flint/flint.mjs'));
    await fs.rm(path.join(root, 'usr/lib/flint/flint.mjs.cache'), { force: true });
    await fs.copyFile(SELF_CONTAINED, path.join(root, 'usr/lib/flint/flint'));
    await fs.chmod(path.join(root, 'usr/lib/flint/flint'), 0o755);
    // The image has no node: the module must not need one.
    for (const node of ['usr/bin/node', 'usr/bin/nodejs']) await fs.rm(path.join(root, node), { force: true });
    ({ listing, unpacked } = await buildInitrd(root));
  }, 30 * 60_000);

  afterAll(async () => {
    if (work !== '') await removeTree(work);
  }, 120_000);

  it('holds the executable and its drop-in, and neither node nor the bundle', () => {
    expect(listing).toMatch(/ usr\/lib\/flint\/flint$/m);
    expect(listing).toMatch(/ usr\/lib\/systemd\/system\/flint\.service\.d\/50-self-contained\.conf$/m);
    expect(listing).not.toMatch(/ usr\/bin\/node$/m);
    expect(listing).not.toMatch(/flint\.mjs/);
  });

  it('the executable runs inside the unpacked initramfs, with only the libraries dracut put there', async () => {
    const r = await sh('chroot', [unpacked, '/usr/lib/flint/flint', 'run', '--help'], 120_000);
    expect(r).toMatch(/^Usage: flint run/m);
  });

  it('systemd in the initramfs starts the executable (the drop-in over the unit)', async () => {
    const dropIn = await fs.readFile(path.join(unpacked, 'usr/lib/systemd/system/flint.service.d/50-self-contained.conf'), 'utf8');
    expect(dropIn).toBe(await fs.readFile('initrd/dracut/95flint/flint-self-contained.conf', 'utf8'));
    const r = await inChroot(path.join(unpacked, '..', '..'), ['systemd-analyze', 'verify', '--root=/tmp/unpacked', 'flint.service'], { timeoutMs: 120_000 });
    expect(r.stderr).not.toMatch(/flint\.service:\d+:|50-self-contained\.conf:\d+:/);
  });
});
