/**
 * A stock Debian 13 x86_64 image as a user downloads one: no node, no flint. It is the
 * VM guest root (guest-root.ts) with nodejs purged by apt in a chroot, an initramfs made
 * by the image's own dracut without flint's module, an empty machine-id, no SSH host
 * keys (made at first boot), on one ext4 partition of a GPT disk. `flint image enable`
 * is what makes it run flint (test/vm/enable.test.ts).
 *
 * Cached under ${FLINT_TEST_CACHE}/vm-stock-KEY, KEY hashing the guest root's key and
 * this layout: it does not depend on flint, so a rebuilt bundle reuses it.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { cacheBase, inChroot } from '../integration/rootfs.js';
import { aptInstall, guestKey, guestRoot, kernelVersion } from './guest-root.js';
import { attachPartition, cachedBuild, exists, removeTree, sh } from './host.js';
import { HOSTKEYS_UNIT } from './image.js';

/** Bump when the layout below changes. */
const STOCK_VERSION = 1;
const DISK_SIZE = '4G';
const ROOT_PART_MIB = 3072;

export interface StockImage {
  dir: string;
  disk: string;
  rootUuid: string;
  kernelVersion: string;
}

async function chroot(root: string, argv: string[], what: string): Promise<void> {
  const r = await inChroot(root, argv, { timeoutMs: 15 * 60_000, mounts: ['proc', 'dev'], env: { DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${(r.stdout + r.stderr).split('\n').slice(-30).join('\n')}`);
}

/** A stock image as flint finds it, or with cloud-init (a Debian cloud image, for the NoCloud seed test). */
export type StockVariant = 'plain' | 'cloud-init';
const VARIANT_PACKAGES: Readonly<Record<StockVariant, readonly string[]>> = { plain: [], 'cloud-init': ['cloud-init'] };

async function prepareTree(tree: string, uuid: string, kver: string, variant: StockVariant): Promise<void> {
  // Offline: dpkg only removes. --auto-remove takes libnode and the node-* packages too.
  await chroot(tree, ['apt-get', 'purge', '-y', '-qq', '--auto-remove', 'nodejs'], 'apt-get purge nodejs');
  if (VARIANT_PACKAGES[variant].length > 0) await aptInstall(tree, VARIANT_PACKAGES[variant]);
  const left = await inChroot(tree, ['sh', '-c', 'command -v node nodejs; ls -d /usr/share/nodejs /usr/lib/node_modules 2>/dev/null; true']);
  if (left.stdout.trim() !== '') throw new Error(`node is still in the stock image after the purge: ${left.stdout.trim()}`);
  await fs.writeFile(path.join(tree, 'etc/fstab'), `UUID=${uuid} / ext4 defaults 0 1\n`);
  await fs.writeFile(path.join(tree, 'etc/machine-id'), '');
  await fs.writeFile(path.join(tree, 'etc/systemd/system/ssh-hostkeys.service'), HOSTKEYS_UNIT);
  await fs.mkdir(path.join(tree, 'etc/systemd/system/multi-user.target.wants'), { recursive: true });
  await fs.symlink('../ssh-hostkeys.service', path.join(tree, 'etc/systemd/system/multi-user.target.wants/ssh-hostkeys.service')).catch(() => undefined);
  const updated = '# This file was created by systemd-update-done.\n';
  for (const dir of ['etc', 'var']) await fs.writeFile(path.join(tree, dir, '.updated'), updated);
  // What Debian's dracut makes for a generic image: no flint in it.
  await chroot(tree, ['dracut', '--no-hostonly', '--force', '--quiet', '--kver', kver, `/boot/initrd.img-${kver}`], 'dracut (stock initramfs)');
}

async function build(dir: string, variant: StockVariant, log: (line: string) => void): Promise<StockImage> {
  const base = await guestRoot();
  const kver = await kernelVersion(base);
  const tree = path.join(dir, 'tree');
  log(`stock image (${variant}): copying the guest root, purging nodejs${variant === 'plain' ? '' : `, adding ${VARIANT_PACKAGES[variant].join(' ')}`}, building a stock initramfs with dracut`);
  await sh('cp', ['-a', '--reflink=auto', '--', base, tree], 10 * 60_000);
  const uuid = randomUUID();
  await prepareTree(tree, uuid, kver, variant);
  const disk = path.join(dir, 'disk.raw');
  await sh('truncate', ['-s', DISK_SIZE, disk]);
  await sh('sfdisk', ['--quiet', '--label', 'gpt', disk], 60_000, `size=${ROOT_PART_MIB}MiB, type=linux, name=root\n`);
  const part = await attachPartition(disk, 1);
  try {
    await sh('mkfs.ext4', ['-q', '-F', '-L', 'root', '-U', uuid, '-d', tree, part.dev], 10 * 60_000);
  } finally {
    await part.detach();
  }
  await removeTree(tree);
  const meta = { rootUuid: uuid, kernelVersion: kver };
  await fs.writeFile(path.join(dir, 'image.json'), JSON.stringify(meta, null, 2));
  return { dir, disk, ...meta };
}

function stockKey(variant: StockVariant): string {
  const packages = VARIANT_PACKAGES[variant];
  return createHash('sha256').update(`v${STOCK_VERSION}:${guestKey()}:${DISK_SIZE}:${ROOT_PART_MIB}${packages.length > 0 ? `:${packages.join(',')}` : ''}`).digest('hex').slice(0, 12);
}

const pending = new Map<StockVariant, Promise<StockImage>>();

/** The cached stock image, built when missing (a few minutes: a copy of the guest root and one dracut run). */
export function stockImage(log: (line: string) => void = () => undefined, variant: StockVariant = 'plain'): Promise<StockImage> {
  let p = pending.get(variant);
  if (p === undefined) {
    p = ensure(log, variant);
    pending.set(variant, p);
  }
  return p;
}

async function ensure(log: (line: string) => void, variant: StockVariant): Promise<StockImage> {
  const cache = cacheBase();
  const name = `vm-stock-${variant === 'plain' ? '' : `${variant}-`}${stockKey(variant)}`;
  const finalDir = path.join(cache, name);
  const read = async (): Promise<StockImage> => {
    const meta = JSON.parse(await fs.readFile(path.join(finalDir, 'image.json'), 'utf8')) as { rootUuid: string; kernelVersion: string };
    return { dir: finalDir, disk: path.join(finalDir, 'disk.raw'), ...meta };
  };
  if (await exists(finalDir)) return read();
  await guestRoot();
  await cachedBuild(finalDir, 30 * 60, async (dir) => {
    await fs.mkdir(dir, { recursive: true });
    await build(dir, variant, log);
  });
  return read();
}

/** Copies a kernel and its initramfs out of partition PART of DISK into DIR, as a boot loader would load them. */
export async function extractBoot(disk: string, part: number, kver: string, dir: string, initrdName = `initrd.img-${kver}`): Promise<{ kernel: string; initrd: string }> {
  const loop = await attachPartition(disk, part);
  const mnt = await fs.mkdtemp(path.join(dir, 'boot-mnt-'));
  try {
    await sh('mount', ['-o', 'ro,noload', loop.dev, mnt]);
    try {
      const kernel = path.join(dir, `vmlinuz-${kver}`);
      const initrd = path.join(dir, initrdName);
      await fs.copyFile(path.join(mnt, 'boot', `vmlinuz-${kver}`), kernel);
      await fs.copyFile(path.join(mnt, 'boot', initrdName), initrd);
      return { kernel, initrd };
    } finally {
      await sh('umount', [mnt]);
    }
  } finally {
    await fs.rmdir(mnt).catch(() => undefined);
    await loop.detach();
  }
}
