/**
 * Carrying out a storage plan: relocate the backup GPT, write the tables, make the
 * filesystems, grow the root filesystem, copy existing data, and mount the new
 * filesystems inside the target so the later steps write into them.
 *
 * Undo: before the first write, each touched disk's table is saved in the target (in its
 * top folder, on the root filesystem, fsynced). A failure, here
 * or in a later step, writes the saved tables back; after a power cut the next run does
 * the same (recoverStorage) before anything else. A root filesystem that was grown stays
 * grown (filesystems do not shrink online): the saved table keeps the root partition's
 * new size, so nothing ends up smaller than the filesystem on it. Filesystems made on
 * existing partitions (wipe: true) are not brought back; the plan says so.
 */
import type { Program } from '../../system/programs.js';
import { unmount } from '../../system/mount.js';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { exec } from '../../system/exec.js';
import type { ExecOptions, ExecResult } from '../../system/exec.js';
import { ApplyError } from '../../engine/apply.js';
import type { TargetRoot } from '../../target/root.js';
import { Journal } from '../../transaction/journal.js';
import { partitionNode, sfdiskScript } from './gpt.js';
import type { PartEntry } from './gpt.js';
import { probe, readDisk } from './devices.js';
import { diskChanges } from './plan.js';
import type { DiskPlan, FsPlan, StoragePlan } from './plan.js';

/**
 * On the root filesystem's top folder, which no mount of the config can cover (the
 * journal's folder, /var/lib/flint, is covered as soon as a new /var is mounted).
 */
const UNDO = '/.flint-storage-undo.json';
/** How long the kernel may take to show new partition nodes. */
const NODE_WAIT_MS = 10_000;

interface UndoState {
  /** restore: the table as it was; grown: the same with the root partition at its new size, once the filesystem has grown into it. */
  disks: Array<{ disk: string; restore: string; grown?: string; hadTable: boolean }>;
  rootGrown?: boolean;
  /** Filesystems mounted in the target during the apply, so recovery can reach the journal inside them. */
  mounts: Array<{ node: string; uuid: string; path: string; fstype: string }>;
}

/** A storage failure during apply: the CLI reports it like any failed apply. */
export class StorageError extends ApplyError {
  constructor(message: string) {
    super(message, 0, '(storage)', 0);
  }
}

/** A storage apply in progress. */
export interface StorageRun {
  /** A later step failed: unmount, write the saved tables back. */
  rollback(): Promise<void>;
  /** Everything is applied: forget the saved tables (synchronous, so it can run right as the journal commits). */
  commit(): void;
  /** Unmount what was mounted for the later steps. */
  finish(): Promise<void>;
}

/** Filesystems that already exist, mounted in the target before the other steps plan. */
export interface Premounted {
  /** Host paths, in mount order. */
  paths: string[];
  release(): Promise<void>;
}

/**
 * Mounts the config's filesystems that exist already (nothing to make) at their paths in
 * the target, so the other steps plan against what the machine will see: a file under a
 * /var that is its own partition is compared with that partition, not with what the
 * root holds underneath. Read-only for `flint plan`.
 */
export async function mountExisting(root: TargetRoot, plan: StoragePlan, readOnly: boolean): Promise<Premounted> {
  const paths: string[] = [];
  const release = () => unmountAll(paths);
  try {
    for (const f of sortedMounts(plan).filter((x) => !x.mkfs)) {
      if (root.entry(f.mount!).type !== 'dir') continue;
      const host = root.resolve(f.mount!, true);
      if (isMountOf(host, f.node)) continue;
      const opts = mountOptions(readOnly ? [...f.options, 'ro'] : f.options);
      await must('mount', ['-t', f.format, ...opts, f.node, host], { timeoutMs: 60_000 });
      paths.push(host);
    }
  } catch (e) {
    await release();
    throw e;
  }
  return { paths, release };
}

function sortedMounts(plan: StoragePlan): FsPlan[] {
  return plan.filesystems.filter((f) => f.mount !== undefined).sort((a, b) => a.mount!.length - b.mount!.length);
}

/** Is `host` a mount point of `node` already (the last mount there wins)? */
function isMountOf(host: string, node: string): boolean {
  let found: string | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep > 0 && f[4] === host) found = f[sep + 2];
  }
  if (found === undefined) return false;
  try {
    return realpathSync(found) === realpathSync(node);
  } catch {
    return false;
  }
}

export async function applyStorage(root: TargetRoot, plan: StoragePlan, premounted?: Premounted): Promise<StorageRun> {
  const touched = plan.disks.filter((d) => diskChanges(d.layout));
  const mounts = sortedMounts(plan);
  // The mounts are saved too: the later steps' journal may live inside one of them.
  const state: UndoState = { disks: [], mounts: mounts.map((f) => ({ node: f.node, uuid: f.uuid, path: f.mount!, fstype: f.format })) };
  const saved = touched.length > 0 || mounts.length > 0;
  // Unmounted with the rest at the end (or on failure).
  const mounted: string[] = [...(premounted?.paths ?? [])];
  for (const d of touched) state.disks.push(await undoEntry(d));
  if (saved) root.writeFile(UNDO, Buffer.from(JSON.stringify(state)), 0o600, 0, 0);
  const forget = () => {
    if (saved) root.remove(UNDO);
  };
  const run: StorageRun = {
    rollback: async () => {
      await unmountAll(mounted);
      await restoreDisks(state);
      forget();
    },
    commit: forget,
    finish: () => unmountAll(mounted),
  };
  try {
    for (const d of touched) await writeDisk(d);
    for (const f of plan.filesystems) if (f.mkfs) await makeFs(f);
    if (plan.growFs !== undefined) {
      // From the moment the filesystem may be larger, the old table would cut it off.
      state.rootGrown = true;
      root.writeFile(UNDO, Buffer.from(JSON.stringify(state)), 0o600, 0, 0);
      await growFs(plan.growFs);
    }
    for (const f of mounts) {
      if (f.copy) await copyInto(root, f);
      const host = mountPoint(root, f.mount!);
      if (isMountOf(host, f.node)) continue;
      await must('mount', ['-t', f.format, ...mountOptions(f.options), f.node, host], { timeoutMs: 60_000 });
      mounted.push(host);
    }
  } catch (e) {
    await run.rollback();
    const why = e instanceof StorageError ? e.message : String(e);
    throw new StorageError(`storage: ${why}; the partition tables were put back as they were`);
  }
  return run;
}

/**
 * Runs a program; a failure is a StorageError with the tool's last line of complaint
 * (the first is often only its version banner).
 */
async function must(file: Program, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await exec(file, args, opts);
  if (r.ok) return r;
  const nonEmpty = (t: string) => t.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const lines = nonEmpty(r.stderr).length > 0 ? nonEmpty(r.stderr) : nonEmpty(r.stdout);
  const said = r.timedOut ? r.summary : `${[file, ...args].join(' ')}: ${lines[lines.length - 1] ?? r.summary}`;
  const hint = /Permission denied to resize/.test(r.stderr) ? ' (the kernel refused the online resize: flint needs the CAP_SYS_RESOURCE capability, which this container or sandbox withholds)' : '';
  throw new StorageError(said + hint);
}

/** What to write back on failure: the old table; and, for after the root filesystem has grown, the same with the root partition at its new size. */
async function undoEntry(d: DiskPlan): Promise<UndoState['disks'][number]> {
  const l = d.layout;
  if (d.facts.table.label !== 'gpt') {
    const dump = await exec('sfdisk', ['--dump', d.disk], { timeoutMs: 30_000 });
    return { disk: d.disk, restore: dump.ok ? dump.stdout + '\n' : '', hadTable: dump.ok };
  }
  const restore = sfdiskScript(d.disk, d.facts.table, l.before);
  if (l.rootGrowth === undefined) return { disk: d.disk, restore, hadTable: true };
  const grown: PartEntry[] = l.before.map((e) => (e.number === l.rootGrowth!.number ? { ...e, size: l.rootGrowth!.to } : e));
  return { disk: d.disk, restore, grown: sfdiskScript(d.disk, d.facts.table, grown), hadTable: true };
}

async function writeDisk(d: DiskPlan): Promise<void> {
  const l = d.layout;
  if (l.relocate && !l.wipeTable) await must('sfdisk', ['-q', '--relocate', 'gpt-bak-std', d.disk], { timeoutMs: 60_000 });
  if (l.wipeTable || l.created.length > 0 || l.deleted.length > 0 || l.rootGrowth !== undefined) {
    const script = sfdiskScript(d.disk, l.wipeTable ? {} : d.facts.table, l.after);
    // The root partition is mounted, so re-reading the whole table fails (EBUSY); sfdisk
    // then tells the kernel partition by partition, which is what is wanted.
    const r = await exec('sfdisk', ['-q', '--no-reread', '--wipe-partitions', 'never', d.disk], { input: script, timeoutMs: 60_000 });
    if (!r.ok) throw new StorageError(`writing the partition table of ${d.disk} failed: ${r.summary}`);
  }
  await syncKernel(d.disk);
}

/**
 * Make the kernel's view match the table on disk, partition by partition (the whole
 * table cannot be re-read while the root is mounted), then wait (bounded) for the nodes.
 */
async function syncKernel(disk: string): Promise<void> {
  const name = basename(disk);
  const { table, sectorSize } = await readDisk(disk);
  // sysfs counts 512-byte units.
  const units = (p: PartEntry) => (p.size * sectorSize) / 512;
  const onDisk = new Map(table.partitions.map((p) => [p.number, p]));
  for (const n of kernelPartitions(name)) if (!onDisk.has(n)) await exec('partx', ['-d', '--nr', String(n), disk]);
  for (const p of table.partitions) {
    const known = await readSysSize(partitionNode(name, p.number));
    if (known === undefined) await exec('partx', ['-a', '--nr', String(p.number), disk]);
    else if (known !== units(p)) await exec('partx', ['-u', '--nr', String(p.number), disk]);
  }
  const deadline = Date.now() + NODE_WAIT_MS;
  for (const p of table.partitions) {
    const part = partitionNode(name, p.number);
    while ((await readSysSize(part)) !== units(p) || !isBlockDevice(`/dev/${part}`)) {
      if (Date.now() > deadline) throw new StorageError(`/dev/${part} did not appear with its new size within ${NODE_WAIT_MS / 1000} s after the table was written`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Partition numbers the kernel knows for a disk (sysfs). */
function kernelPartitions(name: string): number[] {
  try {
    return readdirSync(`/sys/class/block/${name}`)
      .filter((d) => d.startsWith(name) && existsSync(`/sys/class/block/${name}/${d}/partition`))
      .map((d) => Number(readFileSync(`/sys/class/block/${name}/${d}/partition`, 'utf8').trim()));
  } catch {
    return [];
  }
}

function isBlockDevice(node: string): boolean {
  return statSync(node, { throwIfNoEntry: false })?.isBlockDevice() ?? false;
}

async function readSysSize(part: string): Promise<number | undefined> {
  try {
    return Number(readFileSync(`/sys/class/block/${part}/size`, 'utf8').trim());
  } catch {
    return undefined;
  }
}

export function mkfsArgs(f: Pick<FsPlan, 'format' | 'label' | 'uuid' | 'node'>): [Program, string[]] {
  const label = (flag: string) => (f.label !== undefined ? [flag, f.label] : []);
  switch (f.format) {
    case 'btrfs': return ['mkfs.btrfs', ['-q', '-f', '-U', f.uuid, ...label('-L'), f.node]];
    case 'ext4': return ['mkfs.ext4', ['-q', '-F', '-U', f.uuid, ...label('-L'), f.node]];
    case 'xfs': return ['mkfs.xfs', ['-q', '-f', '-m', `uuid=${f.uuid}`, ...label('-L'), f.node]];
    case 'vfat': return ['mkfs.vfat', ['-i', f.uuid.replace('-', ''), ...label('-n'), f.node]];
    case 'swap': return ['mkswap', ['-f', '-U', f.uuid, ...label('-L'), f.node]];
  }
}

async function makeFs(f: FsPlan): Promise<void> {
  // Old signatures (a deleted partition's filesystem at the same offset) would make blkid
  // see two filesystems; the plan decided this device is formatted, so they go.
  await must('wipefs', ['-q', '-a', f.node], { timeoutMs: 60_000 });
  const [file, args] = mkfsArgs(f);
  await must(file, args, { timeoutMs: 300_000 });
}

async function growFs(g: NonNullable<StoragePlan['growFs']>): Promise<void> {
  switch (g.fstype) {
    case 'btrfs': {
      const show = await must('btrfs', ['filesystem', 'show', g.mountpoint]);
      const real = basename(g.node);
      const line = show.stdout.split('\n').find((l) => /devid/.test(l) && basename(l.trim().split(/\s+/).pop() ?? '') === real);
      const devid = /devid\s+(\d+)/.exec(line ?? '')?.[1] ?? '1';
      await must('btrfs', ['filesystem', 'resize', `${devid}:max`, g.mountpoint], { timeoutMs: 300_000 });
      break;
    }
    case 'ext4':
      await must('resize2fs', [g.node], { timeoutMs: 600_000 });
      break;
    case 'xfs':
      await must('xfs_growfs', [g.mountpoint], { timeoutMs: 300_000 });
      break;
  }
}

/** Options that mean something to mount(8) now; fstab-only ones (noauto, nofail, x-*) are left for boot. */
function mountOptions(options: readonly string[]): string[] {
  const keep = options.filter((o) => !['defaults', 'noauto', 'auto', 'nofail', 'user', 'users', 'nouser', '_netdev'].includes(o) && !o.startsWith('x-') && !o.startsWith('comment='));
  return keep.length > 0 ? ['-o', keep.join(',')] : [];
}

/** The host folder for a mount path inside the target, made when missing. */
function mountPoint(root: TargetRoot, path: string): string {
  if (root.entry(path).type === 'missing') {
    let p = '';
    for (const c of path.split('/').filter(Boolean)) {
      p += `/${c}`;
      if (root.entry(p).type === 'missing') root.mkdir(p, 0o755, 0, 0);
    }
  }
  return root.resolve(path, true);
}

/**
 * What the target holds at the mount path goes into the new filesystem first: owners,
 * modes, times, hard links, xattrs and ACLs (cp -a), holes kept (--sparse=always). When
 * the target's fstab mounts a btrfs subvolume there (MicroOS's @/var), the data is in
 * that subvolume, mounted read-only for the copy.
 */
async function copyInto(root: TargetRoot, f: FsPlan): Promise<void> {
  const from = f.copyFrom;
  if (from === undefined && root.entry(f.mount!).type !== 'dir') return;
  const dst = mkdtempSync(join(tmpdir(), 'flint-copy-'));
  const src = from !== undefined ? mkdtempSync(join(tmpdir(), 'flint-from-')) : root.resolve(f.mount!, true);
  try {
    if (from !== undefined) await must('mount', ['-t', 'btrfs', '-o', `ro,subvol=${from.subvol}`, from.node, src], { timeoutMs: 60_000 });
    try {
      await must('mount', ['-t', f.format, f.node, dst], { timeoutMs: 60_000 });
      try {
        await must('cp', ['-a', '--sparse=always', `${src}/.`, `${dst}/`], { timeoutMs: 3_600_000 });
        await exec('sync', ['-f', dst]);
      } finally {
        await exec('umount', [dst], { timeoutMs: 60_000 });
      }
    } finally {
      if (from !== undefined) await exec('umount', [src], { timeoutMs: 60_000 });
    }
  } finally {
    rmdirSync(dst);
    if (from !== undefined) rmdirSync(src);
  }
}

async function unmountAll(mounted: string[]): Promise<void> {
  while (mounted.length > 0) {
    await unmount(mounted.pop()!);
  }
}

async function restoreDisks(state: UndoState): Promise<void> {
  for (const d of state.disks) {
    if (!d.hadTable) await exec('wipefs', ['-q', '-a', d.disk], { timeoutMs: 60_000 });
    else await exec('sfdisk', ['-q', '--no-reread', '--wipe-partitions', 'never', d.disk], { input: state.rootGrown === true && d.grown !== undefined ? d.grown : d.restore, timeoutMs: 60_000 });
    await syncKernel(d.disk).catch(() => undefined);
  }
}

/**
 * After a power cut mid-apply: mount what the apply had mounted (its journal may be
 * inside), let the journal put the files back, then write the saved tables back.
 * Returns the number of paths the journal restored, or undefined when there was nothing.
 */
export async function recoverStorage(root: TargetRoot): Promise<number | undefined> {
  const text = root.readText(UNDO);
  if (text === undefined) return undefined;
  let state: UndoState;
  try {
    state = JSON.parse(text) as UndoState;
  } catch {
    root.remove(UNDO);
    return undefined;
  }
  const mounted: string[] = [];
  let restored = 0;
  try {
    for (const m of state.mounts) {
      const found = await probe(m.node).catch(() => ({ uuid: undefined }));
      if (found.uuid !== m.uuid) continue;
      const host = root.resolve(m.path, true);
      if ((await exec('mount', ['-t', m.fstype, m.node, host], { timeoutMs: 60_000 })).ok) mounted.push(host);
    }
    restored = Journal.recover(root) ?? 0;
  } finally {
    await unmountAll(mounted);
  }
  await restoreDisks(state);
  root.remove(UNDO);
  return restored;
}
