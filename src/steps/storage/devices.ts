/**
 * Reading block devices: which disk holds a mounted folder, what a /dev/disk/by-* path
 * means on a machine without udev, what a disk's table and a device's filesystem are.
 * Everything comes from findmnt, sysfs, blkid and sfdisk; nothing here writes.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { exec } from '../../system/exec.js';
import { parseSfdiskJson } from './gpt.js';
import type { Table } from './gpt.js';
import { parseBlkidDevices, parseBlkidExport } from '../../system/blkid.js';
import { mountHolding } from '../../system/mount.js';

export class DeviceError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

/** Where a block device sits: its disk and, for a partition, its number. */
export interface BlockPlace {
  /** Kernel name, e.g. sda2. */
  name: string;
  /** The whole disk's node, e.g. /dev/sda. */
  disk: string;
  partition?: number;
}

export interface FsProbe {
  type?: string;
  uuid?: string;
  label?: string;
}

/** The mount that holds `folder` (what findmnt -T says), without a btrfs subvolume suffix. */
export async function mountOf(folder: string): Promise<{ source: string; fstype: string; target: string }> {
  // From /proc/self/mountinfo where it can be read: no process to start.
  const m = mountHolding(folder);
  if (m !== undefined) return { source: m.source, fstype: m.fstype, target: m.mountPoint };
  const r = await exec('findmnt', ['-n', '-v', '-o', 'SOURCE,FSTYPE,TARGET', '-T', folder], { timeoutMs: 10_000 });
  const [source = '', fstype = '', ...target] = r.stdout.trim().split(/\s+/);
  if (!r.ok || source === '') throw new DeviceError(`cannot tell which device holds ${folder} (${r.summary})`);
  return { source, fstype, target: target.join(' ') };
}

/** The disk and partition number of a block device node, from sysfs. */
export function placeOf(node: string, sys = '/sys'): BlockPlace {
  let rdev: number;
  try {
    const st = statSync(node);
    if (!st.isBlockDevice()) throw new DeviceError(`${node} is not a block device`);
    rdev = st.rdev;
  } catch (e) {
    if (e instanceof DeviceError) throw e;
    throw new DeviceError(`${node} does not exist`, 'check the device path; without udev, /dev/disk/by-id and by-path links are not available');
  }
  const major = (rdev >>> 8) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);
  const dir = realpathSync(`${sys}/dev/block/${major}:${minor}`);
  const name = basename(dir);
  if (existsSync(`${dir}/partition`)) {
    return { name, disk: `/dev/${basename(dirname(dir))}`, partition: Number(readFileSync(`${dir}/partition`, 'utf8').trim()) };
  }
  if (existsSync(`${dir}/dm`)) throw new DeviceError(`${node} is a device-mapper device (LVM, LUKS); flint partitions plain disks only`);
  return { name, disk: `/dev/${name}` };
}

const BY_TAG: Readonly<Record<string, string>> = { 'by-partlabel': 'PARTLABEL', 'by-partuuid': 'PARTUUID', 'by-uuid': 'UUID', 'by-label': 'LABEL' };

/**
 * The device node a path names. A /dev/disk/by-* link that exists is followed; one that
 * is missing (no udev: the initramfs of some systems, containers, CI) is looked up with
 * blkid by the tag it encodes. Undefined when nothing matches.
 */
export async function resolveDevice(path: string): Promise<string | undefined> {
  if (existsSync(path)) return realpathSync(path);
  const m = /^\/dev\/disk\/(by-[a-z]+)\/(.+)$/.exec(path);
  if (m === null) return undefined;
  const tag = BY_TAG[m[1]!];
  if (tag === undefined) throw new DeviceError(`${path} does not exist, and ${m[1]} links exist only where udev makes them`, 'use the plain device path (e.g. /dev/sda), or a by-partlabel, by-uuid, by-label or by-partuuid path');
  // udev escapes characters such as "/" and spaces as \xNN in link names.
  const value = m[2]!.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  const found = await findByTag(tag, value);
  if (found.length > 1) throw new DeviceError(`${path}: ${found.length} devices have ${tag}=${value} (${found.join(', ')})`, 'make the label unique, or name the device by its plain path');
  return found[0];
}

/** Devices whose tag has that value, e.g. PARTLABEL=var (blkid, no cache). */
export async function findByTag(tag: string, value: string): Promise<string[]> {
  return (await listDevices()).filter((d) => d.tags.get(tag) === value).map((d) => d.node);
}

/** Every block device blkid sees, with its tags (read from the devices, not a cache). */
export async function listDevices(): Promise<Array<{ node: string; tags: Map<string, string> }>> {
  const r = await exec('blkid', ['-c', '/dev/null', '-o', 'export'], { timeoutMs: 30_000 });
  return parseBlkidDevices(r.stdout);
}

/** The filesystem (or swap, or other signature) on a device; {} when there is none. */
export async function probe(node: string): Promise<FsProbe> {
  const r = await exec('blkid', ['-c', '/dev/null', '-p', '-o', 'export', node], { timeoutMs: 10_000 });
  // Exit status 2: nothing found.
  if (r.exitCode === 2) return {};
  if (!r.ok) throw new DeviceError(`cannot read ${node}: ${r.summary}`);
  const tags = parseBlkidExport(r.stdout);
  const type = tags.get('TYPE') ?? (tags.has('PTTYPE') ? `${tags.get('PTTYPE')} partition table` : undefined);
  return { ...(type !== undefined ? { type } : {}), ...(tags.has('UUID') ? { uuid: tags.get('UUID')! } : {}), ...(tags.has('LABEL') ? { label: tags.get('LABEL')! } : {}) };
}

/** A disk's size, sector size and partition table. */
export async function readDisk(disk: string, sys = '/sys'): Promise<{ sizeBytes: number; sectorSize: number; table: Table }> {
  const name = basename(disk);
  const sectors = Number(readFileSync(`${sys}/class/block/${name}/size`, 'utf8').trim());
  const sectorSize = Number(readFileSync(`${sys}/class/block/${name}/queue/logical_block_size`, 'utf8').trim()) || 512;
  const r = await exec('sfdisk', ['--json', disk], { timeoutMs: 30_000 });
  let table: Table;
  if (r.ok) table = parseSfdiskJson(r.stdout);
  else if (/does not contain a recognized partition table/.test(r.stderr)) table = { label: 'none', firstLba: 34, lastLba: 0, partitions: [] };
  else throw new DeviceError(`cannot read the partition table of ${disk}: ${r.summary}`);
  // sysfs counts 512-byte units whatever the disk's sector size.
  return { sizeBytes: sectors * 512, sectorSize, table };
}

/** Kernel names of mounted block devices and of active swap, e.g. "sda2" -> "mounted at /boot". */
export function devicesInUse(proc = '/proc'): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync(`${proc}/self/mountinfo`, 'utf8').split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    const source = sep > 0 ? f[sep + 2] : undefined;
    if (source?.startsWith('/dev/') && !out.has(basename(source))) {
      const name = safeRealName(source);
      if (name !== undefined) out.set(name, `is mounted at ${f[4]}`);
    }
  }
  for (const line of readFileSync(`${proc}/swaps`, 'utf8').split('\n').slice(1)) {
    const dev = line.split(/\s+/)[0];
    if (dev?.startsWith('/dev/')) {
      const name = safeRealName(dev);
      if (name !== undefined) out.set(name, 'is in use as swap');
    }
  }
  return out;
}

function safeRealName(node: string): string | undefined {
  try {
    return basename(realpathSync(node));
  } catch {
    return undefined;
  }
}
