/**
 * The guest's disk: a raw GPT image whose one partition holds a btrfs root in the snapper
 * layout MicroOS uses (default subvolume @/.snapshots/1/snapshot), with flint and its
 * dracut module installed and an initramfs built by dracut inside the guest root. The
 * kernel and the initramfs are also kept beside the image: QEMU boots them directly.
 *
 * Cached under ${FLINT_TEST_CACHE}/vm-image-KEY, KEY hashing every input: the guest root
 * (its package list), the module's files, the bundle and this layout. Each boot gets its
 * own copy of disk.raw (copyDisk).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { cacheBase, inChroot } from '../integration/rootfs.js';
import { guestKey, guestRoot, kernelVersion } from './guest-root.js';
import { attachPartition, cachedBuild, exists, removeTree, sh } from './host.js';

/** Bump when the layout below changes. */
const IMAGE_VERSION = 2;
export const DISK_SIZE = '8G';
/** The root partition as shipped; the rest of the disk is free for grow_root and /var. */
export const ROOT_PART_MIB = 3072;
export const ROOT_PARTLABEL = 'root';

/** The repo: the nearest folder above this file (or its bundled copy) that has the module. */
function findRepo(): string {
  let dir = path.dirname(new URL(import.meta.url).pathname);
  while (dir !== '/' && !existsSync(path.join(dir, 'initrd/dracut/95flint/module-setup.sh'))) dir = path.dirname(dir);
  if (dir === '/') throw new Error(`no flint checkout above ${import.meta.url}`);
  return dir;
}
const REPO = findRepo();
const MODULE_DIR = path.join(REPO, 'initrd/dracut/95flint');
const BUNDLE = path.join(REPO, 'dist/flint.mjs');

export interface GuestImage {
  dir: string;
  disk: string;
  kernel: string;
  initrd: string;
  /** The btrfs filesystem's UUID: root=UUID=... */
  rootUuid: string;
  kernelVersion: string;
}

/** Files that go into the image from the repo, as [path in the guest, source path]. */
async function flintFiles(): Promise<[string, string][]> {
  if (!(await exists(BUNDLE))) throw new Error(`${BUNDLE} is missing: run node scripts/bundle.mjs first`);
  const files: [string, string][] = [['usr/lib/flint/flint.mjs', BUNDLE]];
  if (await exists(`${BUNDLE}.cache`)) files.push(['usr/lib/flint/flint.mjs.cache', `${BUNDLE}.cache`]);
  for (const name of (await fs.readdir(MODULE_DIR)).sort()) {
    files.push([`usr/lib/dracut/modules.d/95flint/${name}`, path.join(MODULE_DIR, name)]);
  }
  return files;
}

async function imageKey(files: [string, string][]): Promise<string> {
  const h = createHash('sha256').update(`v${IMAGE_VERSION}:${guestKey()}:${DISK_SIZE}:${ROOT_PART_MIB}\n`);
  for (const [dest, src] of files) h.update(dest).update('\0').update(await fs.readFile(src)).update('\0');
  return h.digest('hex').slice(0, 12);
}

/** Copies flint (bundle + dracut module) into a root, where docs/initrd.md says it goes. */
export async function installFlint(root: string, files?: [string, string][]): Promise<void> {
  for (const [dest, src] of files ?? (await flintFiles())) {
    const target = path.join(root, dest);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.copyFile(src, target);
    await fs.chmod(target, dest.endsWith('.sh') ? 0o755 : 0o644);
  }
}

/** Runs dracut in a root: a generic initramfs with flint's module. Returns the file. */
export async function dracutInRoot(root: string, kver: string): Promise<string> {
  const out = `/boot/initrd.img-${kver}`;
  const r = await inChroot(root, ['dracut', '--no-hostonly', '--add', 'flint', '--force', '--kver', kver, out], {
    timeoutMs: 15 * 60_000,
    mounts: ['proc', 'dev'],
  });
  if (r.code !== 0) throw new Error(`dracut failed (exit ${r.code}):\n${(r.stdout + r.stderr).split('\n').slice(-40).join('\n')}`);
  return path.join(root, out);
}

// What a Debian image builder adds for a machine it never saw: host keys made at first
// boot when nothing (flint's host_keys: generate) made them before.
export const HOSTKEYS_UNIT = `[Unit]
Description=Make SSH host keys that are missing
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
`;

const SNAPSHOT_INFO = `<?xml version="1.0"?>
<snapshot>
  <type>single</type>
  <num>1</num>
  <date>2026-01-01 00:00:00</date>
  <description>first root filesystem</description>
</snapshot>
`;

// snapper's config for the root, as MicroOS ships it (snapper itself is not needed: the
// layout and this file are what make it a snapper root, for flint too).
const SNAPPER_ROOT_CONFIG = `SUBVOLUME="/"
FSTYPE="btrfs"
QGROUP=""
SPACE_LIMIT="0.5"
FREE_LIMIT="0.2"
ALLOW_USERS=""
ALLOW_GROUPS=""
SYNC_ACL="no"
BACKGROUND_COMPARISON="yes"
NUMBER_CLEANUP="yes"
NUMBER_MIN_AGE="1800"
NUMBER_LIMIT="2-10"
NUMBER_LIMIT_IMPORTANT="4-10"
TIMELINE_CREATE="no"
TIMELINE_CLEANUP="yes"
EMPTY_PRE_POST_CLEANUP="yes"
EMPTY_PRE_POST_MIN_AGE="1800"
`;

async function prepareRoot(root: string, files: [string, string][], uuid: string): Promise<void> {
  await installFlint(root, files);
  const etc = (p: string) => path.join(root, 'etc', p);
  await fs.mkdir(etc('snapper/configs'), { recursive: true });
  await fs.writeFile(etc('snapper/configs/root'), SNAPPER_ROOT_CONFIG, { mode: 0o640 });
  await fs.writeFile(etc('fstab'), `UUID=${uuid} / btrfs defaults 0 0\nUUID=${uuid} /.snapshots btrfs subvol=/@/.snapshots 0 0\n`);
  await fs.writeFile(path.join(root, 'etc/systemd/system/ssh-hostkeys.service'), HOSTKEYS_UNIT);
  await fs.mkdir(etc('systemd/system/multi-user.target.wants'), { recursive: true });
  await fs.symlink('../ssh-hostkeys.service', etc('systemd/system/multi-user.target.wants/ssh-hostkeys.service')).catch(() => undefined);
  await fs.mkdir(path.join(root, '.snapshots'), { recursive: true });
  // As systemd-update-done leaves them: /etc and /var are newer than /usr, so the first
  // boot does not rebuild ld.so.cache and the journal catalog (a minute under TCG).
  const updated = '# This file was created by systemd-update-done. Its only\n# purpose is to hold a timestamp of the time this directory\n# was updated. See man:systemd-update-done.service(8).\n';
  for (const dir of ['etc', 'var']) await fs.writeFile(path.join(root, dir, '.updated'), updated);
}

async function build(dir: string, files: [string, string][], log: (line: string) => void): Promise<void> {
  const base = await guestRoot();
  const kver = await kernelVersion(base);
  const disk = path.join(dir, 'disk.raw');
  await sh('truncate', ['-s', DISK_SIZE, disk]);
  await sh('sfdisk', ['--quiet', '--label', 'gpt', disk], 60_000, `size=${ROOT_PART_MIB}MiB, type=linux, name=${ROOT_PARTLABEL}\n`);
  const loop = await attachPartition(disk, 1);
  const mnt = path.join(dir, 'mnt');
  try {
    const part = loop.dev;
    await sh('mkfs.btrfs', ['-q', '-L', 'ROOT', part]);
    const uuid = (await sh('blkid', ['-p', '-s', 'UUID', '-o', 'value', part])).trim();
    await fs.mkdir(mnt);
    await sh('mount', ['-t', 'btrfs', part, mnt]);
    try {
      await sh('btrfs', ['-q', 'subvolume', 'create', `${mnt}/@`]);
      await sh('btrfs', ['-q', 'subvolume', 'create', `${mnt}/@/.snapshots`]);
      await fs.mkdir(`${mnt}/@/.snapshots/1`);
      await fs.writeFile(`${mnt}/@/.snapshots/1/info.xml`, SNAPSHOT_INFO);
      const snap = `${mnt}/@/.snapshots/1/snapshot`;
      await sh('btrfs', ['-q', 'subvolume', 'create', snap]);
      log(`copying the guest root into ${ROOT_PARTLABEL} (@/.snapshots/1/snapshot)`);
      await sh('cp', ['-a', `${base}/.`, `${snap}/`], 10 * 60_000);
      await prepareRoot(snap, files, uuid);
      log('building the initramfs with dracut --no-hostonly --add flint (a minute or two)');
      const initrd = await dracutInRoot(snap, kver);
      await fs.copyFile(initrd, path.join(dir, 'initrd.img'));
      await fs.copyFile(path.join(snap, 'boot', `vmlinuz-${kver}`), path.join(dir, 'vmlinuz'));
      const id = (await sh('btrfs', ['inspect-internal', 'rootid', snap])).trim();
      await sh('btrfs', ['subvolume', 'set-default', id, mnt]);
    } finally {
      await sh('umount', [mnt]);
    }
    await fs.writeFile(path.join(dir, 'image.json'), JSON.stringify({ rootUuid: uuid, kernelVersion: kver }, null, 2));
  } finally {
    await loop.detach();
  }
}

let pending: Promise<GuestImage> | undefined;

/** The cached guest image for the current module and bundle, built when missing. */
export function guestImage(log: (line: string) => void = () => undefined): Promise<GuestImage> {
  pending ??= ensure(log);
  return pending;
}

async function ensure(log: (line: string) => void): Promise<GuestImage> {
  const files = await flintFiles();
  const cache = cacheBase();
  const name = `vm-image-${await imageKey(files)}`;
  const finalDir = path.join(cache, name);
  const read = async (): Promise<GuestImage> => {
    const meta = JSON.parse(await fs.readFile(path.join(finalDir, 'image.json'), 'utf8')) as { rootUuid: string; kernelVersion: string };
    const at = (f: string) => path.join(finalDir, f);
    return { dir: finalDir, disk: at('disk.raw'), kernel: at('vmlinuz'), initrd: at('initrd.img'), ...meta };
  };
  if (await exists(finalDir)) {
    const now = new Date();
    await fs.utimes(finalDir, now, now); // in use: pruneOldImages keeps it
    return read();
  }
  log('building the guest root and image (cached; minutes the first time)');
  await guestRoot();
  const built = await cachedBuild(finalDir, 30 * 60, async (dir) => {
    await fs.mkdir(dir, { recursive: true });
    await build(dir, files, log);
    await fs.rm(path.join(dir, 'mnt'), { recursive: true, force: true });
  });
  if (built) await pruneOldImages(cache, name);
  return read();
}

/**
 * Every bundle or module change makes a new image (~0.8 GB): drop the ones not used for
 * an hour (their folder's time is when they were built or last booted from).
 */
async function pruneOldImages(cache: string, keep: string): Promise<void> {
  const hourAgo = Date.now() - 3600_000;
  for (const entry of await fs.readdir(cache)) {
    if (!/^vm-image-[0-9a-f]{12}$/.test(entry) || entry === keep) continue;
    const dir = path.join(cache, entry);
    if ((await fs.stat(dir)).mtimeMs > hourAgo) continue;
    await removeTree(dir);
    await fs.rm(`${dir}.lock`, { force: true });
  }
}

/** A private copy of the image's disk for one boot (sparse: most of the 8 GiB is holes). */
export async function copyDisk(image: GuestImage, dest: string): Promise<string> {
  await sh('cp', ['--sparse=always', image.disk, dest], 5 * 60_000);
  return dest;
}
