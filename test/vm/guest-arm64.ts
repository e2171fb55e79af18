/**
 * A stock Debian 13 arm64 image, as a Raspberry Pi SD card or an arm64 cloud image is
 * laid out: a FAT boot partition (mounted at /boot/firmware, where Raspberry Pi OS keeps
 * config.txt and where `flint image embed` writes flint.yaml) and an ext4 root whose
 * initramfs Debian's own initramfs-tools made. No node, no flint, an empty machine-id,
 * no SSH host keys (made at first boot), DHCP by systemd-networkd.
 *
 * Built on this x86_64 machine under qemu-user (binfmt_misc): debootstrap, then apt in
 * the chroot for the kernel (its postinst runs update-initramfs, minutes under
 * emulation). Cached under ${FLINT_TEST_CACHE}/vm-arm64-KEY; independent of flint.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { cacheBase, cacheDirName, debianRoot } from '../integration/rootfs.js';
import type { RootRecipe } from '../integration/rootfs.js';
import { aptInstall, kernelVersion } from './guest-root.js';
import { attachPartition, cachedBuild, exists, removeTree, sh } from './host.js';
import { HOSTKEYS_UNIT } from './image.js';

/** debootstrap's part: what a booted machine needs, without the kernel (installed by apt after). */
export const ARM64_BASE: RootRecipe = {
  version: 1,
  suite: 'trixie',
  variant: 'minbase',
  arch: 'arm64',
  include: ['systemd-sysv', 'udev', 'kmod', 'dbus', 'openssh-server', 'sudo', 'passwd', 'login', 'iproute2'],
  locales: [],
};
const KERNEL_PACKAGES = ['linux-image-arm64', 'initramfs-tools'];
/** Bump when the layout below changes. */
const ARM64_VERSION = 1;
const DISK_SIZE = '3G';
const BOOT_MIB = 256;
const ROOT_MIB = 2048;
/** GPT type of an aarch64 root (Discoverable Partitions Specification). */
const AARCH64_ROOT = 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE';

export interface Arm64Image {
  dir: string;
  disk: string;
  rootUuid: string;
  kernelVersion: string;
  /** Partition numbers. */
  bootPart: number;
  rootPart: number;
}

const NETWORK = `[Match]
Name=en* eth*

[Network]
DHCP=yes
`;

async function prepareTree(tree: string, rootUuid: string): Promise<void> {
  await aptInstall(tree, KERNEL_PACKAGES, 40 * 60_000);
  const etc = (p: string) => path.join(tree, 'etc', p);
  await fs.writeFile(etc('fstab'), `UUID=${rootUuid} / ext4 defaults 0 1\nPARTLABEL=boot /boot/firmware vfat defaults,nofail 0 2\n`);
  await fs.mkdir(path.join(tree, 'boot/firmware'), { recursive: true });
  await fs.writeFile(etc('machine-id'), '');
  for (const entry of await fs.readdir(etc('ssh'))) if (entry.startsWith('ssh_host_')) await fs.rm(path.join(etc('ssh'), entry));
  await fs.writeFile(etc('systemd/system/ssh-hostkeys.service'), HOSTKEYS_UNIT);
  await fs.writeFile(etc('systemd/network/20-wired.network'), NETWORK);
  const want = async (target: string, unit: string, from: string) => {
    await fs.mkdir(etc(`systemd/system/${target}.wants`), { recursive: true });
    await fs.symlink(from, etc(`systemd/system/${target}.wants/${unit}`)).catch(() => undefined);
  };
  await want('multi-user.target', 'ssh-hostkeys.service', '../ssh-hostkeys.service');
  await want('multi-user.target', 'systemd-networkd.service', '/usr/lib/systemd/system/systemd-networkd.service');
  await want('sockets.target', 'systemd-networkd.socket', '/usr/lib/systemd/system/systemd-networkd.socket');
  const updated = '# This file was created by systemd-update-done.\n';
  for (const dir of ['etc', 'var']) await fs.writeFile(path.join(tree, dir, '.updated'), updated);
}

async function build(dir: string, log: (line: string) => void): Promise<Arm64Image> {
  log('arm64 image: debootstrap under qemu-user (cached), then the kernel with apt (minutes under emulation)');
  const base = await debianRoot(ARM64_BASE);
  const tree = path.join(dir, 'tree');
  await sh('cp', ['-a', '--reflink=auto', '--', base, tree], 10 * 60_000);
  const rootUuid = randomUUID();
  await prepareTree(tree, rootUuid);
  const kver = await kernelVersion(tree);
  const disk = path.join(dir, 'disk.raw');
  await sh('truncate', ['-s', DISK_SIZE, disk]);
  const table = `size=${BOOT_MIB}MiB, type=uefi, name=boot\nsize=${ROOT_MIB}MiB, type=${AARCH64_ROOT}, name=root\n`;
  await sh('sfdisk', ['--quiet', '--label', 'gpt', disk], 60_000, table);
  const boot = await attachPartition(disk, 1);
  try {
    await sh('mkfs.vfat', ['-F', '32', '-n', 'BOOTFS', boot.dev]);
  } finally {
    await boot.detach();
  }
  const root = await attachPartition(disk, 2);
  try {
    await sh('mkfs.ext4', ['-q', '-F', '-L', 'root', '-U', rootUuid, '-d', tree, root.dev], 10 * 60_000);
  } finally {
    await root.detach();
  }
  await removeTree(tree);
  const meta = { rootUuid, kernelVersion: kver, bootPart: 1, rootPart: 2 };
  await fs.writeFile(path.join(dir, 'image.json'), JSON.stringify(meta, null, 2));
  return { dir, disk, ...meta };
}

function arm64Key(): string {
  return createHash('sha256').update(`v${ARM64_VERSION}:${cacheDirName(ARM64_BASE)}:${KERNEL_PACKAGES.join(',')}:${DISK_SIZE}:${BOOT_MIB}:${ROOT_MIB}`).digest('hex').slice(0, 12);
}

let pending: Promise<Arm64Image> | undefined;

/** The cached arm64 image, built when missing (10-20 minutes under qemu-user the first time). */
export function arm64Image(log: (line: string) => void = () => undefined): Promise<Arm64Image> {
  pending ??= ensure(log);
  return pending;
}

async function ensure(log: (line: string) => void): Promise<Arm64Image> {
  const cache = cacheBase();
  const name = `vm-arm64-${arm64Key()}`;
  const finalDir = path.join(cache, name);
  const read = async (): Promise<Arm64Image> => ({ dir: finalDir, disk: path.join(finalDir, 'disk.raw'), ...(JSON.parse(await fs.readFile(path.join(finalDir, 'image.json'), 'utf8')) as Omit<Arm64Image, 'dir' | 'disk'>) });
  if (await exists(finalDir)) return read();
  await cachedBuild(finalDir, 60 * 60, async (dir) => {
    await fs.mkdir(dir, { recursive: true });
    await build(dir, log);
  });
  return read();
}
