/**
 * Writing an image to a whole disk, with the checks that keep a typo from erasing
 * the wrong one: the device must be a whole disk, removable, not mounted (nor any of
 * its partitions, nor used as swap) and not the disk the running system lives on.
 * Everything is read from sysfs and /proc, so it works without udev.
 */
import { closeSync, fsyncSync, openSync, readFileSync, readdirSync, readlinkSync, readSync, realpathSync, statSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';

export interface DiskInfo {
  node: string;
  /** Kernel name, e.g. sdb. */
  name: string;
  bytes: number;
  removable: boolean;
  model?: string;
}

export interface Paths {
  sys: string;
  proc: string;
}

const DEFAULT_PATHS: Paths = { sys: '/sys', proc: '/proc' };

export class DeviceError extends Error {
  constructor(
    message: string,
    /** Whether --force lets the write go ahead anyway. */
    readonly forceable: boolean,
  ) {
    super(message);
  }
}

/** What sysfs says of the disk at NODE; throws a DeviceError when it is not a whole disk. */
export function diskInfo(node: string, paths: Paths = DEFAULT_PATHS): DiskInfo {
  let st;
  try {
    st = statSync(node);
  } catch {
    throw new DeviceError(`${node} does not exist`, false);
  }
  if (!st.isBlockDevice()) throw new DeviceError(`${node} is not a block device; to make an image file use: flint drive create CONFIG -o FILE`, false);
  const devDir = sysDirOf(st.rdev, paths);
  const name = basename(devDir);
  if (exists(join(devDir, 'partition'))) {
    const parent = basename(realpathSync(join(devDir, '..')));
    throw new DeviceError(`${node} is a partition of ${parent}; give the whole disk (e.g. /dev/${parent}): the stick gets a filesystem of its own`, false);
  }
  const sectors = Number(readText(join(devDir, 'size')) ?? '0');
  const model = readText(join(devDir, 'device/model'))?.trim();
  return { node, name, bytes: sectors * 512, removable: readText(join(devDir, 'removable'))?.trim() === '1', ...(model ? { model } : {}) };
}

/**
 * Why writing to DISK would be unsafe, each with whether --force may override it.
 * Empty when it is a removable disk that nothing uses.
 */
export function writeRefusals(disk: DiskInfo, paths: Paths = DEFAULT_PATHS): DeviceError[] {
  const out: DeviceError[] = [];
  const names = new Set([disk.name, ...partitionsOf(disk.name, paths)]);
  const systemDisks = disksHoldingMount('/', paths);
  if (systemDisks.has(disk.name)) out.push(new DeviceError(`${disk.node} holds the running system's root filesystem`, true));
  const mounted = mountedDevices(paths).filter((d) => names.has(d.name));
  for (const m of mounted) out.push(new DeviceError(`/dev/${m.name} is mounted on ${m.where}; unmount it first (umount /dev/${m.name})`, true));
  for (const s of swapDevices(paths)) if (names.has(s)) out.push(new DeviceError(`/dev/${s} is in use as swap; swapoff /dev/${s} first`, true));
  if (!disk.removable) out.push(new DeviceError(`${disk.node} is not a removable disk (sysfs ${disk.name}/removable is 0); a USB stick or SD card reader is removable`, true));
  return out;
}

/** Writes IMAGE to the start of NODE in large blocks and syncs; PROGRESS gets bytes written. */
export function writeImage(image: string, node: string, progress: (done: number) => void, block = 4 * 1024 * 1024): number {
  const total = statSync(image).size;
  const src = openSync(image, 'r');
  let dst: number | undefined;
  try {
    dst = openSync(node, 'w');
    const buf = Buffer.alloc(block);
    let done = 0;
    while (done < total) {
      const n = readSync(src, buf, 0, Math.min(block, total - done), done);
      if (n === 0) break;
      let off = 0;
      while (off < n) off += writeSync(dst, buf, off, n - off, done + off);
      done += n;
      progress(done);
    }
    // The stick may be pulled right after: the data must be on it, not in the page cache.
    fsyncSync(dst);
    return done;
  } finally {
    closeSync(src);
    if (dst !== undefined) closeSync(dst);
  }
}

function sysDirOf(rdev: number, paths: Paths): string {
  // Linux's dev_t encoding, as glibc's major()/minor().
  const major = ((rdev >>> 8) & 0xfff) | Math.floor(rdev / 2 ** 32) & ~0xfff;
  const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
  const link = join(paths.sys, 'dev/block', `${major}:${minor}`);
  try {
    return realpathSync(link);
  } catch {
    throw new DeviceError(`no sysfs entry ${link} for this device`, false);
  }
}

function partitionsOf(name: string, paths: Paths): string[] {
  try {
    return readdirSync(join(paths.sys, 'block', name)).filter((e) => e.startsWith(name) && exists(join(paths.sys, 'block', name, e, 'partition')));
  } catch {
    return [];
  }
}

/** Whole-disk names under a block device: itself if it is a disk, its parent if a partition, through device-mapper and md slaves. */
export function disksOf(devName: string, paths: Paths = DEFAULT_PATHS, depth = 0): Set<string> {
  const out = new Set<string>();
  const dir = join(paths.sys, 'class/block', devName);
  if (!exists(dir) || depth > 8) return out;
  const real = realpathSync(dir);
  if (exists(join(real, 'partition'))) {
    out.add(basename(realpathSync(join(real, '..'))));
    return out;
  }
  let slaves: string[] = [];
  try {
    slaves = readdirSync(join(real, 'slaves'));
  } catch {
    // no slaves folder: a plain disk
  }
  if (slaves.length === 0) out.add(devName);
  for (const s of slaves) for (const d of disksOf(s, paths, depth + 1)) out.add(d);
  return out;
}

interface Mounted {
  name: string;
  where: string;
}

/** Block devices with a mounted filesystem, from /proc/self/mountinfo's major:minor. */
function mountedDevices(paths: Paths): Mounted[] {
  const out: Mounted[] = [];
  for (const line of (readText(join(paths.proc, 'self/mountinfo')) ?? '').split('\n')) {
    const f = line.split(' ');
    const majmin = f[2];
    const where = f[4];
    if (majmin === undefined || where === undefined || majmin.startsWith('0:')) continue;
    const name = nameOfMajMin(majmin, paths);
    if (name !== undefined) out.push({ name, where: where.replace(/\\040/g, ' ') });
  }
  return out;
}

function disksHoldingMount(mountPoint: string, paths: Paths): Set<string> {
  const out = new Set<string>();
  for (const line of (readText(join(paths.proc, 'self/mountinfo')) ?? '').split('\n')) {
    const f = line.split(' ');
    if (f[4] !== mountPoint || f[2] === undefined) continue;
    const name = nameOfMajMin(f[2], paths);
    if (name !== undefined) for (const d of disksOf(name, paths)) out.add(d);
  }
  return out;
}

function nameOfMajMin(majmin: string, paths: Paths): string | undefined {
  try {
    return basename(readlinkSync(join(paths.sys, 'dev/block', majmin)));
  } catch {
    return undefined;
  }
}

function swapDevices(paths: Paths): string[] {
  return (readText(join(paths.proc, 'swaps')) ?? '')
    .split('\n')
    .slice(1)
    .map((l) => l.split(/\s+/)[0] ?? '')
    .filter((d) => d.startsWith('/dev/'))
    .map((d) => basename(d));
}

function readText(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}
