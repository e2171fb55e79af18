/**
 * A raw disk image as a target: its partition table (sfdisk --json), attaching it to a
 * loop device with its partitions (losetup -P), finding the root filesystem, and
 * mounting it with the image's other filesystems from its fstab. Everything attached
 * or mounted is undone by `release()`, in reverse order, also after a failure.
 */
import { unmount } from '../system/mount.js';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs';
import { mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { exec } from '../system/exec.js';
import type { ExecResult } from '../system/exec.js';

export class ImageError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Formats that are not raw, by their first bytes, with what to do instead. */
const FOREIGN_FORMATS: Array<{ magic: Buffer; at: number; name: string }> = [
  { magic: Buffer.from('QFI\xfb', 'latin1'), at: 0, name: 'qcow2' },
  { magic: Buffer.from('KDMV'), at: 0, name: 'VMDK' },
  { magic: Buffer.from('vhdxfile'), at: 0, name: 'VHDX' },
  { magic: Buffer.from('<<< Oracle VM VirtualBox Disk Image >>>'), at: 0, name: 'VDI' },
];

/** Refuses an image that is not raw, saying how to get a raw one. */
export function checkRawImage(file: string): void {
  const head = Buffer.alloc(64);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  for (const f of FOREIGN_FORMATS) {
    if (head.subarray(f.at, f.at + f.magic.length).equals(f.magic)) {
      const raw = file.replace(/\.[^./]+$/, '') + '.img';
      throw new ImageError(
        `${file} is a ${f.name} image; flint works on raw images`,
        f.name === 'qcow2'
          ? `convert it: qemu-img convert -O raw ${file} ${raw}, apply to ${raw}, and convert back if needed (qemu-img convert -O qcow2 ${raw} ${file}); or attach it with qemu-nbd --connect=/dev/nbd0 ${file} (modprobe nbd) and use flint apply --root on its mounted root`
          : `convert it: qemu-img convert -O raw ${file} ${raw}`,
      );
    }
  }
}

export interface PartitionEntry {
  index: number;
  /** Byte offset of the partition in the image. */
  offset: number;
  bytes: number;
  /** GPT type GUID (upper case) or MBR type (hex, e.g. "c"). */
  type: string;
  /** GPT partition name (partlabel). */
  name?: string;
}

/** The image's partitions, from `sfdisk --json`; empty when it has no partition table. */
export async function readPartitions(img: string): Promise<PartitionEntry[]> {
  const r = await exec('sfdisk', ['--json', img], { timeoutMs: 30_000 });
  if (!r.ok) {
    if (/ENOENT/.test(r.summary)) throw new ImageError('sfdisk is not installed', 'apt-get install fdisk');
    return [];
  }
  return parseSfdiskJson(r.stdout);
}

export function parseSfdiskJson(text: string): PartitionEntry[] {
  const t = (JSON.parse(text) as { partitiontable?: { sectorsize?: number; partitions?: Array<{ node: string; start: number; size: number; type: string; name?: string }> } }).partitiontable;
  const sector = t?.sectorsize ?? 512;
  return (t?.partitions ?? []).map((p) => ({
    index: Number(/(\d+)$/.exec(p.node)?.[1] ?? '0'),
    offset: p.start * sector,
    bytes: p.size * sector,
    type: p.type.toUpperCase(),
    ...(p.name !== undefined && p.name !== '' ? { name: p.name } : {}),
  }));
}

/** Whether the bytes at OFFSET of IMG are a FAT boot sector (FAT12/16/32). */
export function isFatAt(img: string, offset: number): boolean {
  const b = Buffer.alloc(512);
  const fd = openSync(img, 'r');
  try {
    if (readSync(fd, b, 0, 512, offset) < 512) return false;
  } finally {
    closeSync(fd);
  }
  if (b[510] !== 0x55 || b[511] !== 0xaa) return false;
  return b.subarray(54, 59).toString('latin1') === 'FAT12' || b.subarray(54, 59).toString('latin1') === 'FAT16' || b.subarray(82, 87).toString('latin1') === 'FAT32';
}

/** GPT "Linux root" type GUIDs (x86-64, aarch64, x86, arm) from the Discoverable Partitions spec. */
const ROOT_TYPES = new Set(['4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709', 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE', '44479540-F297-41B2-9AF7-D131D5F0458A', '69DAD710-2CE4-4E3C-B16C-21A1D49ABED3']);
const ROOT_NAMES = new Set(['root', 'rootfs', 'system', 'root-a', 'linux']);
const LINUX_FS = new Set(['ext4', 'ext3', 'ext2', 'btrfs', 'xfs']);

export interface Probed {
  node: string;
  /** Partition number, 0 for the whole device. */
  index: number;
  type?: string;
  uuid?: string;
  label?: string;
  partlabel?: string;
  partuuid?: string;
  parttype?: string;
}

/** A raw image attached to a loop device with its partitions, and what is mounted from it. */
export class AttachedImage {
  private readonly mounts: string[] = [];
  private mountBase: string | undefined;
  readonly notes: string[] = [];

  private constructor(
    readonly image: string,
    readonly loop: string,
  ) {}

  static async attach(image: string): Promise<AttachedImage> {
    const r = await exec('losetup', ['--find', '--show', '--partscan', image], { timeoutMs: 30_000 });
    if (!r.ok) throw new ImageError(`cannot attach ${image} to a loop device: ${r.summary}`, process.getuid?.() !== 0 ? 'run it as root (losetup and mount need root)' : undefined);
    const attached = new AttachedImage(image, r.stdout.trim());
    try {
      await attached.ensurePartitions();
    } catch (e) {
      await attached.release();
      throw e;
    }
    return attached;
  }

  /**
   * Some kernels read no partition table on loop devices (no partition parsers built
   * in); partx adds the partitions sfdisk sees through the BLKPG ioctl instead.
   */
  private async ensurePartitions(): Promise<void> {
    const wanted = (await readPartitions(this.image)).length;
    const name = basename(this.loop);
    for (let i = 0; i < 10 && partitionNames(name).length < wanted; i++) await new Promise((r) => setTimeout(r, 50));
    if (partitionNames(name).length >= wanted) return;
    const r = await exec('partx', ['--add', this.loop], { timeoutMs: 30_000 });
    if (!r.ok && partitionNames(name).length < wanted) throw new ImageError(`cannot make the partitions of ${this.image} visible on ${this.loop}: ${r.summary}`);
  }

  /** The partitions (or the whole device, when it has none) with what blkid sees on them. */
  async probe(): Promise<Probed[]> {
    const name = basename(this.loop);
    // losetup -P makes the kernel read the table; without udev the nodes come from devtmpfs, a moment later.
    let parts: string[] = [];
    for (let i = 0; i < 20; i++) {
      parts = partitionNames(name);
      if (parts.every((p) => existsSync(`/dev/${p}`))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const nodes = parts.length > 0 ? parts.map((p) => `/dev/${p}`) : [this.loop];
    const out: Probed[] = [];
    for (const node of nodes) {
      const r = await exec('blkid', ['-p', '-o', 'export', node], { timeoutMs: 10_000 });
      const tags = new Map(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]));
      const index = Number(/p(\d+)$/.exec(node)?.[1] ?? '0');
      const p: Probed = { node, index };
      const set = (k: keyof Probed, tag: string): void => {
        const v = tags.get(tag);
        if (v !== undefined) (p as unknown as Record<string, string>)[k] = v;
      };
      set('type', 'TYPE');
      set('uuid', 'UUID');
      set('label', 'LABEL');
      set('partlabel', 'PART_ENTRY_NAME');
      set('partuuid', 'PART_ENTRY_UUID');
      set('parttype', 'PART_ENTRY_TYPE');
      out.push(p);
    }
    return out;
  }

  /**
   * Finds and mounts the root filesystem (read-write) and the image's other
   * filesystems its fstab names; returns the root's mount point.
   */
  async mountRoot(): Promise<string> {
    const probed = await this.probe();
    const linux = probed.filter((p) => p.type !== undefined && LINUX_FS.has(p.type));
    if (linux.length === 0) {
      const seen = probed.map((p) => `${p.node}: ${p.type ?? 'no filesystem'}`).join(', ');
      throw new ImageError(`${this.image} has no Linux filesystem (ext4, btrfs, xfs) that could be its root (${seen})`);
    }
    const byTag = linux.filter((p) => ROOT_NAMES.has((p.partlabel ?? '').toLowerCase()) || ROOT_TYPES.has((p.parttype ?? '').toUpperCase()) || ROOT_NAMES.has((p.label ?? '').toLowerCase()));
    this.mountBase = await mkdtemp(join(tmpdir(), 'flint-image-'));
    const root = join(this.mountBase, 'root');
    mkdirSync(root);
    // Tagged partitions first; otherwise every Linux filesystem in turn, until one holds an /etc.
    for (const candidate of [...byTag, ...linux.filter((p) => !byTag.includes(p))]) {
      await this.mount(candidate.node, root, candidate.type!, []);
      let how = candidate.type === 'btrfs' ? ', its default subvolume' : '';
      if (candidate.type === 'btrfs' && !existsSync(join(root, 'etc'))) {
        // The default subvolume is the top level, and the system lives in a subvolume such as @.
        const sub = ['@', '@/.snapshots/1/snapshot', 'root'].find((s) => existsSync(join(root, s, 'etc')));
        if (sub !== undefined) {
          await this.unmountLast();
          await this.mount(candidate.node, root, 'btrfs', [`subvol=${sub}`]);
          how = `, subvolume ${sub}`;
        }
      }
      if (existsSync(join(root, 'etc'))) {
        this.notes.push(`root filesystem: ${candidate.node} (${candidate.type}${how}${candidate.partlabel !== undefined ? `, partition ${candidate.partlabel}` : ''})`);
        await this.mountFstab(root, probed);
        return root;
      }
      await this.unmountLast();
    }
    throw new ImageError(`${this.image}: none of its Linux filesystems (${linux.map((p) => p.node).join(', ')}) holds an /etc; is it a system image?`);
  }

  /** Mounts the fstab entries that live on this image (by UUID, LABEL, PARTLABEL, PARTUUID), under ROOT. */
  private async mountFstab(root: string, probed: Probed[]): Promise<void> {
    let fstab: string;
    try {
      fstab = readFileSync(join(root, 'etc/fstab'), 'utf8');
    } catch {
      return;
    }
    for (const e of parseFstab(fstab)) {
      if (e.mountPoint === '/' || !e.mountPoint.startsWith('/') || e.type === 'swap' || e.type === 'none') continue;
      const dev = probed.find((p) => matchesSpec(p, e.spec));
      if (dev === undefined) continue;
      if (e.type === 'vfat' || dev.type === 'vfat') {
        this.notes.push(`${e.mountPoint}: ${dev.node} is FAT; not mounted (flint writes nothing there)`);
        continue;
      }
      const where = join(root, e.mountPoint);
      if (!existsSync(where)) mkdirSync(where, { recursive: true });
      const keep = e.options.filter((o) => /^(subvol|subvolid)=/.test(o));
      await this.mount(dev.node, where, e.type === 'auto' ? dev.type ?? 'auto' : e.type, keep);
      this.notes.push(`${e.mountPoint}: ${dev.node} (from the image's fstab)`);
    }
  }

  private async mount(node: string, where: string, type: string, options: string[]): Promise<void> {
    const args = ['-t', type, ...(options.length > 0 ? ['-o', options.join(',')] : []), node, where];
    const r: ExecResult = await exec('mount', args, { timeoutMs: 60_000 });
    if (!r.ok) throw new ImageError(`cannot mount ${node} on ${where}: ${r.summary}`);
    this.mounts.push(where);
  }

  private async unmountLast(): Promise<void> {
    const where = this.mounts.pop();
    if (where !== undefined) await exec('umount', [where], { timeoutMs: 60_000 });
  }

  /** Unmounts everything (deepest first) and detaches the loop device; never throws. Returns problems. */
  async release(): Promise<string[]> {
    const problems: string[] = [];
    while (this.mounts.length > 0) {
      const where = this.mounts.pop()!;
      const u = await unmount(where, { timeoutMs: 120_000 });
      if (!u.ok && !u.lazy) problems.push(`could not unmount ${where}: ${u.summary}`);
    }
    const d = await exec('losetup', ['--detach', this.loop], { timeoutMs: 30_000 });
    if (!d.ok) problems.push(`could not detach ${this.loop}: ${d.summary}`);
    // Only empty folders are removed: after a failed unmount the image's files may still be below.
    if (this.mountBase !== undefined) {
      await rmdir(join(this.mountBase, 'root')).catch(() => undefined);
      await rmdir(this.mountBase).catch(() => undefined);
    }
    return problems;
  }
}

function partitionNames(loopName: string): string[] {
  try {
    return readdirSync(join('/sys/block', loopName))
      .filter((e) => e.startsWith(`${loopName}p`) && existsSync(join('/sys/block', loopName, e, 'partition')))
      .sort((a, b) => Number(a.slice(loopName.length + 1)) - Number(b.slice(loopName.length + 1)));
  } catch {
    return [];
  }
}

export interface FstabEntry {
  spec: string;
  mountPoint: string;
  type: string;
  options: string[];
}

export function parseFstab(text: string): FstabEntry[] {
  const out: FstabEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [spec, mountPoint, type, options] = line.split(/\s+/);
    if (spec === undefined || mountPoint === undefined || type === undefined) continue;
    const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    out.push({ spec: unescape(spec), mountPoint: unescape(mountPoint), type, options: (options ?? 'defaults').split(',') });
  }
  return out;
}

const BY_LINK: Readonly<Record<string, string>> = { 'by-uuid': 'UUID', 'by-label': 'LABEL', 'by-partlabel': 'PARTLABEL', 'by-partuuid': 'PARTUUID' };

function matchesSpec(p: Probed, given: string): boolean {
  const link = /^\/dev\/disk\/(by-[a-z]+)\/(.+)$/.exec(given);
  const spec = link !== null && BY_LINK[link[1]!] !== undefined ? `${BY_LINK[link[1]!]}=${link[2]}` : given;
  const eq = spec.indexOf('=');
  if (eq < 0) return false;
  const [tag, value] = [spec.slice(0, eq).toUpperCase(), spec.slice(eq + 1).replace(/^"|"$/g, '')];
  const lower = value.toLowerCase();
  if (tag === 'UUID') return p.uuid?.toLowerCase() === lower;
  if (tag === 'LABEL') return p.label === value;
  if (tag === 'PARTLABEL') return p.partlabel === value;
  if (tag === 'PARTUUID') return p.partuuid?.toLowerCase() === lower;
  return false;
}
