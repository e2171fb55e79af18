/**
 * The Debian 13 guest root the VM and the dracut tests boot: the cached Podman root of
 * rootfs-trixie.ts plus, installed with apt inside a chroot, the generic kernel
 * (linux-image-amd64: the cloud kernel has no USB), dracut, node and what a booted
 * machine needs (NetworkManager, btrfs-progs, sudo, ...). Installing the kernel and
 * dracut in the debootstrap itself conflicts with initramfs-tools, hence the two stages.
 *
 * Cached outside the repo like the other roots (${FLINT_TEST_CACHE:-/var/cache/flint-test}),
 * under a name that hashes the base root and the package list. Read-only by convention.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { cacheBase, cacheDirName, debianRoot, inChroot } from '../integration/rootfs.js';
import { TRIXIE_PODMAN } from '../integration/rootfs-trixie.js';
import { cachedBuild, exists, sh } from './host.js';

/** Bump when the build steps below change in a way the package list does not show. */
const GUEST_VERSION = 1;

/** Installed with apt in the chroot, on top of TRIXIE_PODMAN (dracut before the kernel). */
export const GUEST_PACKAGES: readonly string[] = [
  'dracut',
  'linux-image-amd64',
  'nodejs',
  'systemd-sysv',
  'udev',
  'dbus',
  'kmod',
  'iproute2',
  'iputils-ping',
  'network-manager',
  'btrfs-progs',
  'e2fsprogs',
  'xfsprogs',
  'dosfstools',
  'mtools',
  'exfatprogs',
  'xorriso',
  'fdisk',
  'gdisk',
  'cloud-guest-utils',
  'sudo',
  'tzdata',
  'netavark',
  'aardvark-dns',
  'nftables',
  'iptables',
];

export function guestKey(): string {
  const canonical = JSON.stringify({ v: GUEST_VERSION, base: cacheDirName(TRIXIE_PODMAN), packages: [...GUEST_PACKAGES].sort() });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 12);
}

const APT_ENV = { DEBIAN_FRONTEND: 'noninteractive' };

async function apt(root: string, args: readonly string[], what: string, timeoutMs: number): Promise<void> {
  const r = await inChroot(root, ['apt-get', ...args], { timeoutMs, env: APT_ENV, mounts: ['proc', 'dev'] });
  if (r.code !== 0) throw new Error(`${what} in ${root} failed (exit ${r.code}):\n${(r.stdout + r.stderr).split('\n').slice(-40).join('\n')}`);
}

/**
 * Installs PACKAGES with apt in a chroot of ROOT (a scrubbed Debian root), leaving no
 * trace of the install: the host's resolv.conf for the download only, no daemon started
 * (policy-rc.d), no package lists or archives kept. TIMEOUTMS per apt call: under
 * qemu-user a kernel's postinst takes many minutes.
 */
export async function aptInstall(root: string, packages: readonly string[], timeoutMs = 20 * 60_000): Promise<void> {
  await fs.copyFile('/etc/resolv.conf', path.join(root, 'etc/resolv.conf'));
  await fs.writeFile(path.join(root, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  await apt(root, ['update', '-qq'], 'apt-get update', timeoutMs);
  await apt(root, ['install', '-y', '-qq', '--no-install-recommends', ...packages], `apt-get install ${packages.join(' ')}`, timeoutMs);
  await apt(root, ['clean'], 'apt-get clean', timeoutMs);
  await fs.rm(path.join(root, 'usr/sbin/policy-rc.d'), { force: true });
  await fs.writeFile(path.join(root, 'etc/resolv.conf'), '');
  await fs.rm(path.join(root, 'var/lib/apt/lists'), { recursive: true, force: true });
  await fs.mkdir(path.join(root, 'var/lib/apt/lists/partial'), { recursive: true });
}

async function build(base: string, dir: string): Promise<void> {
  await sh('cp', ['-a', '--reflink=auto', '--', base, dir], 10 * 60_000);
  await aptInstall(dir, GUEST_PACKAGES);
  // The kernel's postinst made a host-only initramfs; every image gets its own.
  for (const entry of await fs.readdir(path.join(dir, 'boot'))) {
    if (entry.startsWith('initrd.img-')) await fs.rm(path.join(dir, 'boot', entry));
  }
  // Packages' postinsts may have made these; an image has none of its own.
  await fs.writeFile(path.join(dir, 'etc/machine-id'), '');
  for (const entry of await fs.readdir(path.join(dir, 'etc/ssh'))) {
    if (entry.startsWith('ssh_host_')) await fs.rm(path.join(dir, 'etc/ssh', entry));
  }
}

let pending: Promise<string> | undefined;

/** Path of the cached guest root, built first when missing (minutes: downloads ~300 MB). */
export function guestRoot(): Promise<string> {
  pending ??= ensure();
  return pending;
}

async function ensure(): Promise<string> {
  const cache = cacheBase();
  const name = `guest-trixie-${guestKey()}`;
  const finalDir = path.join(cache, name);
  if (await exists(finalDir)) return finalDir;
  const base = await debianRoot(TRIXIE_PODMAN);
  await cachedBuild(finalDir, 30 * 60, (dir) => build(base, dir));
  return finalDir;
}

/** The kernel version installed in a guest root (the one /boot/vmlinuz-* holds). */
export async function kernelVersion(root: string): Promise<string> {
  const kernels = (await fs.readdir(path.join(root, 'boot'))).filter((e) => e.startsWith('vmlinuz-')).sort();
  const last = kernels.at(-1);
  if (last === undefined) throw new Error(`no kernel in ${root}/boot`);
  return last.slice('vmlinuz-'.length);
}
