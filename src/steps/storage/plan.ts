/**
 * Planning the storage section against the real disks: which disk `root` is, what each
 * disk's table must become, which filesystems must be made, what /etc/fstab must say.
 * Reads devices (findmnt, sysfs, blkid, sfdisk) and writes nothing; every reason to
 * refuse is found here, before the first write.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { exec } from '../../system/exec.js';
import { nodeCrypto } from '../../system/lazy-builtins.js';
import { basename } from 'node:path';
import type { PathSeg, Problem } from '../../config/diagnostics.js';
import type { Filesystem, Storage } from '../../config/generated/model.js';
import type { TargetRoot } from '../../target/root.js';
import { DeviceError, devicesInUse, listDevices, mountOf, placeOf, probe, readDisk, resolveDevice } from './devices.js';
import type { BlockPlace } from './devices.js';
import { partitionNode } from './gpt.js';
import { planDisk } from './layout.js';
import type { DiskFacts, DiskLayout } from './layout.js';
import { findEntry, passFor } from './fstab.js';
import type { FstabEntry } from './fstab.js';


export interface DiskPlan {
  /** Index in storage.disks, or -1 for the root disk that only grow_root names. */
  index: number;
  disk: string;
  isRoot: boolean;
  facts: DiskFacts;
  layout: DiskLayout;
}

export interface FsPlan {
  index: number;
  format: Filesystem['format'];
  label?: string;
  node: string;
  uuid: string;
  /** Make the filesystem (the device is new, empty, or wipe: true asked for it). */
  mkfs: boolean;
  /** What mkfs destroys, for the plan. */
  destroys?: string;
  mount?: string;
  options: string[];
  copy: boolean;
  /**
   * Where the data to copy is when the target's fstab mounts a btrfs subvolume at the
   * path (MicroOS: /var is @/var, not inside the root's own subvolume): that subvolume.
   */
  copyFrom?: { node: string; subvol: string };
}

export interface StoragePlan {
  disks: DiskPlan[];
  filesystems: FsPlan[];
  /** The root filesystem grows with its partition. */
  growFs?: { fstype: string; node: string; mountpoint: string };
  fstab: FstabEntry[];
  problems: Problem[];
  warnings: string[];
}

export interface StorageOptions {
  /** Devices that are never written (the config's medium); disks or partitions. */
  excludeDevices?: readonly string[];
  /** The config file: the device it lives on is excluded too. */
  configFile?: string;
}

const FS_TYPES: Readonly<Record<string, string>> = { btrfs: 'btrfs', ext4: 'ext4', xfs: 'xfs', vfat: 'vfat', swap: 'swap' };

export async function planStorage(root: TargetRoot, storage: Storage, opts: StorageOptions = {}): Promise<StoragePlan> {
  const plan: StoragePlan = { disks: [], filesystems: [], fstab: [], problems: [], warnings: [] };
  try {
    await planInto(plan, root, storage, opts);
  } catch (e) {
    if (!(e instanceof DeviceError)) throw e;
    plan.problems.push({ path: ['storage'], message: e.message, ...(e.hint !== undefined ? { hint: e.hint } : {}) });
  }
  return plan;
}

async function planInto(plan: StoragePlan, root: TargetRoot, storage: Storage, opts: StorageOptions): Promise<void> {
  const disks = storage.disks ?? [];
  const needRoot = storage.grow_root === true || disks.some((d) => d.device === 'root');
  let rootPlace: BlockPlace | undefined;
  let rootMount: { source: string; fstype: string; target: string } | undefined;
  if (needRoot) {
    rootMount = await mountOf(root.root);
    // A folder of the running system's own root is not a target disk's root; a folder
    // inside another mount is (a btrfs snapshot of the target, as flint run uses).
    if (rootMount.target === '/' && realpathSync(root.root) !== '/') {
      plan.problems.push({ path: ['storage'], message: `the target root ${root.root} is a folder of this system's own root filesystem, so flint cannot tell which disk is the target's`, hint: 'mount the target root filesystem at the folder given with --root' });
      return;
    }
    if (!rootMount.source.startsWith('/dev/')) {
      plan.problems.push({ path: ['storage'], message: `the target root ${root.root} is on ${rootMount.source}, not a block device`, hint: 'grow_root and device: root need the root filesystem on a disk partition' });
      return;
    }
    rootPlace = placeOf(rootMount.source);
  }
  const excluded = await excludedPlaces(opts);
  const inUse = devicesInUse();
  const seen = new Map<string, number>();
  const entries: Array<{ index: number; device: string; cfg: NonNullable<Storage['disks']>[number] }> = disks.map((cfg, index) => ({ index, device: cfg.device, cfg }));
  if (storage.grow_root === true && rootPlace !== undefined && !disks.some((d) => d.device === 'root')) entries.push({ index: -1, device: 'root', cfg: { device: 'root' } });
  for (const { index, device, cfg } of entries) {
    const at: PathSeg[] = index < 0 ? ['storage', 'grow_root'] : ['storage', 'disks', index];
    const node = device === 'root' ? rootPlace!.disk : await resolveDevice(device);
    if (node === undefined) {
      plan.problems.push({ path: [...at, 'device'], message: `no device ${device} on this machine`, hint: 'check the path; lsblk lists the disks' });
      continue;
    }
    const place = placeOf(node);
    if (place.partition !== undefined) {
      plan.problems.push({ path: [...at, 'device'], message: `${device} is partition ${place.partition} of ${place.disk}, not a whole disk`, hint: `write device: ${place.disk}` });
      continue;
    }
    if (excluded.some((x) => x.disk === place.disk && x.partition === undefined)) {
      plan.problems.push({ path: [...at, 'device'], message: `${device} (${place.disk}) holds the config flint is reading; flint never writes to it`, hint: 'name the disk to provision, not the config medium' });
      continue;
    }
    const prev = seen.get(place.disk);
    if (prev !== undefined) {
      plan.problems.push({ path: [...at, 'device'], message: `${device} is ${place.disk}, which storage.disks[${prev}] names already`, hint: 'list each disk once' });
      continue;
    }
    seen.set(place.disk, index);
    const isRoot = rootPlace !== undefined && place.disk === rootPlace.disk;
    const facts = await diskFacts(place.disk, isRoot ? rootPlace!.partition : undefined, inUse, excluded);
    const layout = planDisk(facts, cfg, storage.grow_root === true && isRoot, at);
    plan.problems.push(...layout.problems);
    plan.disks.push({ index, disk: place.disk, isRoot, facts, layout });
  }
  if (plan.problems.length > 0) return;
  const devices = await listDevices();
  checkLabelsElsewhere(plan, devices);
  const fstab = root.readText('/etc/fstab');
  for (const [j, fs] of (storage.filesystems ?? []).entries()) {
    const f = await planFilesystem(plan, fs, j, devices, excluded, inUse, rootPlace);
    if (f === undefined) continue;
    if (f.copy) {
      const from = subvolumeSource(fstab, f.mount!, devices);
      if (from !== undefined) f.copyFrom = from;
    }
    plan.filesystems.push(f);
  }
  const grows = plan.disks.some((d) => d.layout.rootGrowth !== undefined) || (storage.grow_root === true && rootMount !== undefined && rootPlace?.partition !== undefined && (await fsShortfall(rootMount, rootPlace.name)) > FS_SLACK);
  if (grows && rootMount !== undefined) {
    if (!['btrfs', 'ext4', 'xfs'].includes(rootMount.fstype)) plan.problems.push({ path: ['storage', 'grow_root'], message: `the root filesystem is ${rootMount.fstype}; flint grows btrfs, ext4 and xfs`, hint: 'set grow_root: false' });
    else plan.growFs = { fstype: rootMount.fstype, node: rootMount.source, mountpoint: rootMount.target };
  }
}

async function excludedPlaces(opts: StorageOptions): Promise<BlockPlace[]> {
  const out: BlockPlace[] = [];
  for (const d of opts.excludeDevices ?? []) {
    const node = await resolveDevice(d).catch(() => undefined);
    if (node !== undefined) out.push(placeOf(node));
  }
  if (opts.configFile !== undefined) {
    const m = await mountOf(opts.configFile).catch(() => undefined);
    if (m?.source.startsWith('/dev/')) {
      try {
        out.push(placeOf(m.source));
      } catch {
        // A config on something that is not a plain block device cannot be a target either.
      }
    }
  }
  return out;
}

async function diskFacts(disk: string, rootPartition: number | undefined, inUse: Map<string, string>, excluded: BlockPlace[]): Promise<DiskFacts> {
  const { sizeBytes, sectorSize, table } = await readDisk(disk);
  const protectedParts = new Map<number, string>();
  const fsTypes = new Map<number, string>();
  for (const p of table.partitions) {
    const name = partitionNode(basename(disk), p.number);
    const why = p.number === rootPartition ? 'holds the root filesystem' : inUse.get(name) ?? (excluded.some((x) => x.disk === disk && x.partition === p.number) ? 'holds the config flint is reading' : undefined);
    if (why !== undefined) protectedParts.set(p.number, why);
    const found = await probe(`/dev/${name}`).catch(() => ({ type: undefined }));
    if (found.type !== undefined) fsTypes.set(p.number, found.type);
  }
  return { path: disk, sizeBytes, sectorSize, table, ...(rootPartition !== undefined ? { rootPartition } : {}), protectedParts, fsTypes };
}

/** A new partition's label that another disk already has would make by-partlabel ambiguous. */
function checkLabelsElsewhere(plan: StoragePlan, devices: Array<{ node: string; tags: Map<string, string> }>): void {
  for (const d of plan.disks) {
    for (const n of d.layout.created) {
      const e = d.layout.after.find((x) => x.number === n)!;
      const other = devices.find((x) => x.tags.get('PARTLABEL') === e.name && !isOnDisk(x.node, d.disk));
      if (other !== undefined) {
        plan.problems.push({ path: d.index >= 0 ? ['storage', 'disks', d.index, 'partitions'] : ['storage'], message: `a partition labelled "${e.name}" already exists on ${other.node}; a second one would make /dev/disk/by-partlabel/${e.name} ambiguous`, hint: 'choose another label, or remove that partition first' });
      }
    }
  }
}

function isOnDisk(node: string, disk: string): boolean {
  try {
    return placeOf(node).disk === disk;
  } catch {
    return false;
  }
}

async function planFilesystem(
  plan: StoragePlan,
  fs: Filesystem,
  j: number,
  devices: Array<{ node: string; tags: Map<string, string> }>,
  excluded: BlockPlace[],
  inUse: Map<string, string>,
  rootPlace: BlockPlace | undefined,
): Promise<FsPlan | undefined> {
  const at: PathSeg[] = ['storage', 'filesystems', j];
  const problem = (path: PathSeg[], message: string, hint?: string) => {
    plan.problems.push({ path, message, ...(hint !== undefined ? { hint } : {}) });
    return undefined;
  };
  const byLabel = fs.partlabel ?? /^\/dev\/disk\/by-partlabel\/(.+)$/.exec(fs.device ?? '')?.[1];
  let node: string | undefined;
  let fresh = false;
  if (byLabel !== undefined) {
    for (const d of plan.disks) {
      const e = d.layout.after.find((x) => x.name === byLabel);
      if (e !== undefined) {
        node = `/dev/${partitionNode(basename(d.disk), e.number)}`;
        fresh = d.layout.created.includes(e.number);
        break;
      }
    }
    if (node === undefined) {
      const found = devices.filter((x) => x.tags.get('PARTLABEL') === byLabel);
      if (found.length > 1) return problem(at, `${found.length} partitions are labelled "${byLabel}" (${found.map((x) => x.node).join(', ')})`, 'make the labels unique');
      node = found[0]?.node;
    }
    if (node === undefined) return problem([...at, fs.partlabel !== undefined ? 'partlabel' : 'device'], `no partition labelled "${byLabel}" exists or is declared under storage.disks`, 'declare it under storage.disks[].partitions, or fix the label');
  } else {
    node = await resolveDevice(fs.device!);
    if (node === undefined) return problem([...at, 'device'], `no device ${fs.device} on this machine`, 'check the path; lsblk lists the devices');
  }
  const place = fresh ? undefined : placeOf(node);
  if (place !== undefined) {
    if (excluded.some((x) => x.disk === place.disk && (x.partition === undefined || x.partition === place.partition))) return problem(at, `${node} holds the config flint is reading; flint never formats it`);
    if (rootPlace !== undefined && place.name === rootPlace.name) return problem(at, `${node} holds the target's root filesystem`, 'a filesystem entry is for another partition');
  }
  const current = fresh ? {} : await probe(node);
  const label = fs.label;
  let mkfs = false;
  let destroys: string | undefined;
  if (current.type === undefined) mkfs = true;
  else if (current.type === FS_TYPES[fs.format]) {
    if (fs.wipe === true && label !== undefined && current.label !== label) {
      mkfs = true;
      destroys = `the ${current.type} filesystem on ${node}${current.label !== undefined ? ` (label ${current.label})` : ''}`;
    }
  } else if (fs.wipe === true) {
    mkfs = true;
    destroys = `the ${current.type} on ${node}`;
  } else {
    return problem([...at, 'format'], `${node} holds a ${current.type}${current.label !== undefined ? ` (label ${current.label})` : ''}; the config asks for ${fs.format}, and flint does not format over existing data unless told to`, 'set wipe: true to format it (its data is lost), or change format to match');
  }
  if (mkfs && place !== undefined && inUse.has(place.name)) return problem(at, `${node} ${inUse.get(place.name)}; flint does not format a device in use`);
  if (fs.mount === '/') return problem([...at, 'mount'], 'the root filesystem is mounted already; a filesystem entry cannot replace it', 'mount the filesystem at another path');
  if (fs.copy_existing === true && fs.format === 'vfat') return problem([...at, 'copy_existing'], 'vfat keeps no owners, modes or links, so copy_existing cannot keep them', 'copy the files another way, or use ext4, xfs or btrfs');
  const uuid = mkfs ? newUuid(fs.format) : current.uuid;
  if (uuid === undefined) return problem(at, `${node} holds ${current.type} without a UUID, so /etc/fstab cannot name it`);
  const options = (fs.mount_options ?? []).length > 0 ? fs.mount_options! : ['defaults'];
  if (fs.format === 'swap') plan.fstab.push({ spec: `UUID=${uuid}`, file: 'none', vfstype: 'swap', options, pass: 0 });
  else if (fs.mount !== undefined) plan.fstab.push({ spec: `UUID=${uuid}`, file: fs.mount, vfstype: fs.format, options, pass: passFor(fs.format) });
  return {
    index: j,
    format: fs.format,
    ...(label !== undefined ? { label } : {}),
    node,
    uuid,
    mkfs,
    ...(destroys !== undefined ? { destroys } : {}),
    ...(fs.mount !== undefined && fs.format !== 'swap' ? { mount: fs.mount } : {}),
    options,
    copy: fs.copy_existing === true && mkfs && fs.mount !== undefined,
  };
}

/** Less than this between a filesystem and its partition is rounding (block size, xfs allocation groups), not a missed grow. */
const FS_SLACK = 64 * 1024 * 1024;

/**
 * How many bytes of its partition the root filesystem does not use: more than a little
 * means a grow was cut short (a power cut between the table and the resize), so
 * grow_root grows the filesystem again even though the partition is already grown.
 */
async function fsShortfall(mount: { fstype: string; source: string; target: string }, name: string): Promise<number> {
  let partBytes: number;
  try {
    partBytes = Number(readFileSync(`/sys/class/block/${name}/size`, 'utf8').trim()) * 512;
  } catch {
    return 0;
  }
  const fsBytes = await fsSizeBytes(mount);
  return fsBytes === undefined ? 0 : partBytes - fsBytes;
}

async function fsSizeBytes(mount: { fstype: string; source: string; target: string }): Promise<number | undefined> {
  const num = (re: RegExp, text: string) => (re.exec(text) ? Number(re.exec(text)![1]) : undefined);
  switch (mount.fstype) {
    case 'btrfs': {
      const r = await exec('btrfs', ['filesystem', 'show', '--raw', mount.target], { timeoutMs: 10_000 });
      const line = r.stdout.split('\n').find((l) => /devid/.test(l) && realName(l.trim().split(/\s+/).pop() ?? '') === realName(mount.source));
      return num(/\bsize\s+(\d+)/, line ?? '');
    }
    case 'ext4': {
      const r = await exec('dumpe2fs', ['-h', mount.source], { timeoutMs: 10_000 });
      const count = num(/^Block count:\s+(\d+)/m, r.stdout);
      const size = num(/^Block size:\s+(\d+)/m, r.stdout);
      return count !== undefined && size !== undefined ? count * size : undefined;
    }
    case 'xfs': {
      const r = await exec('xfs_info', [mount.target], { timeoutMs: 10_000 });
      const m = /^data\s+=\s+bsize=(\d+)\s+blocks=(\d+)/m.exec(r.stdout);
      return m ? Number(m[1]) * Number(m[2]) : undefined;
    }
    default:
      return undefined;
  }
}

function realName(node: string): string {
  try {
    return basename(realpathSync(node));
  } catch {
    return basename(node);
  }
}

/** The btrfs subvolume the target's fstab mounts at `mount`, with the device that holds it. */
function subvolumeSource(fstab: string | undefined, mount: string, devices: Array<{ node: string; tags: Map<string, string> }>): { node: string; subvol: string } | undefined {
  const e = findEntry(fstab, mount);
  const subvol = e?.options.find((o) => o.startsWith('subvol='))?.slice('subvol='.length);
  if (e === undefined || e.vfstype !== 'btrfs' || subvol === undefined) return undefined;
  const tag = /^(UUID|LABEL|PARTUUID|PARTLABEL)=(.+)$/.exec(e.spec);
  const node = tag !== null ? devices.find((d) => d.tags.get(tag[1]!) === tag[2]!.replace(/^"(.*)"$/, '$1'))?.node : e.spec.startsWith('/dev/') ? e.spec : undefined;
  return node !== undefined ? { node, subvol } : undefined;
}

/** A UUID to give mkfs, so /etc/fstab can be planned before the filesystem exists. vfat has a 32-bit volume id. */
function newUuid(format: string): string {
  if (format !== 'vfat') return nodeCrypto().randomUUID();
  const hex = nodeCrypto().randomBytes(4).toString('hex').toUpperCase();
  return `${hex.slice(0, 4)}-${hex.slice(4)}`;
}

/** Does the plan change anything on a disk or filesystem? */
export function storageChanges(plan: StoragePlan): boolean {
  return plan.disks.some((d) => diskChanges(d.layout)) || plan.filesystems.some((f) => f.mkfs);
}

export function diskChanges(l: DiskLayout): boolean {
  return l.relocate || l.wipeTable || l.created.length > 0 || l.deleted.length > 0 || l.rootGrowth !== undefined;
}
