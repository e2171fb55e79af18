/**
 * The partition planner: a disk's current table and the config's wishes in, the table
 * the disk must get and what that destroys out. Pure: no disk is read or written here,
 * so every rule is unit-tested without a device.
 *
 * Rules:
 * - Partitions are matched by label (GPT name). One with the wanted size and type is
 *   kept. A different one is deleted and made again only with `replace: true`;
 *   otherwise that is a problem.
 * - New partitions go into the free space after the last partition that stays. With
 *   grow_root, when the root partition is the last one, they are packed at the end of
 *   the disk and the root partition grows up to the first of them.
 * - Starts and sizes are multiples of 1 MiB; the last partition that takes "the rest"
 *   ends on the last whole MiB before the backup GPT.
 * - Nothing is ever moved or shrunk. `wipe_table: true` starts from an empty table
 *   unless the disk already holds exactly the config's partitions.
 */
import type { PathSeg, Problem } from '../../config/diagnostics.js';
import { parseSize } from '../../config/checks/names.js';
import type { Disk, Partition } from '../../config/generated/model.js';
import type { PartEntry, Table } from './gpt.js';
import { humanBytes, typeGuid, typeName } from './gpt.js';

export interface DiskFacts {
  /** Device node, e.g. /dev/sda. */
  path: string;
  sizeBytes: number;
  sectorSize: number;
  table: Table;
  /** Number of the partition holding the target's root filesystem, when on this disk. */
  rootPartition?: number;
  /** Partitions that must not be deleted: mounted, the root, or the config's medium. Number -> why. */
  protectedParts: ReadonlyMap<number, string>;
  /** Filesystem type found on a partition (blkid), by number. */
  fsTypes: ReadonlyMap<number, string>;
}


export interface DiskLayout {
  before: PartEntry[];
  after: PartEntry[];
  /** The backup GPT header is not at the end of the disk. */
  relocate: boolean;
  /** The whole table is replaced. */
  wipeTable: boolean;
  created: number[];
  deleted: PartEntry[];
  /** The root partition's size before and after, in sectors, when it grows. */
  rootGrowth?: { number: number; from: number; to: number };
  /** What is destroyed, for the plan: "partition 3 (var, btrfs)". */
  destroys: string[];
  problems: Problem[];
}

const MIB = 1024 * 1024;

/** The last sector a partition may use: the backup GPT (header + 16 KiB of entries) fills the end. */
export function lastUsableSector(sizeBytes: number, sectorSize: number): number {
  const sectors = Math.floor(sizeBytes / sectorSize);
  return sectors - 1 - Math.ceil(16384 / sectorSize) - 1;
}

export function planDisk(facts: DiskFacts, cfg: Disk, growRoot: boolean, at: PathSeg[]): DiskLayout {
  const ss = facts.sectorSize;
  const align = Math.max(1, MIB / ss);
  const up = (x: number) => Math.ceil(x / align) * align;
  const down = (x: number) => Math.floor(x / align) * align;
  const last = lastUsableSector(facts.sizeBytes, ss);
  const end = down(last + 1);
  const firstFree = up(Math.max(facts.table.label === 'gpt' ? facts.table.firstLba : 34, 34));
  const problems: Problem[] = [];
  const existing = facts.table.label === 'gpt' ? facts.table.partitions : [];
  const wanted = cfg.partitions ?? [];
  const out: DiskLayout = { before: existing, after: existing, relocate: false, wipeTable: false, created: [], deleted: [], destroys: [], problems };

  if (facts.table.label === 'dos' && cfg.wipe_table !== true) {
    if (wanted.length > 0 || (growRoot && facts.rootPartition !== undefined)) {
      problems.push({ path: at, message: `${facts.path} has an MBR (dos) partition table; flint adds partitions and grows only on GPT disks`, hint: 'convert the disk to GPT first, or set wipe_table: true on an empty disk' });
    }
    return out;
  }
  const matches = (p: Partition, e: PartEntry) => e.type === typeGuid(p.type) && sizeMatches(p, e, facts, align);
  const already = existing.length === wanted.length && wanted.every((p) => existing.some((e) => e.name === p.label && matches(p, e)));
  const wipe = cfg.wipe_table === true && existing.length > 0 && !already;
  if (facts.table.label === 'gpt' && !wipe) out.relocate = facts.table.lastLba < last;
  const kept: PartEntry[] = [];
  if (wipe) {
    out.wipeTable = true;
    for (const e of existing) {
      const why = facts.protectedParts.get(e.number);
      if (why !== undefined) problems.push({ path: [...at, 'wipe_table'], message: `wipe_table would delete partition ${e.number} (${e.name || 'no name'}) of ${facts.path}, which ${why}`, hint: 'wipe_table is for a disk that holds nothing in use; remove it' });
      destroyEntry(out, e, facts);
    }
  } else kept.push(...existing);

  // Partitions to create, with the index of their config entry.
  const fresh: Array<{ p: Partition; j: number }> = [];
  wanted.forEach((p, j) => {
    const e = kept.find((x) => x.name === p.label);
    if (e === undefined) return fresh.push({ p, j });
    if (matches(p, e)) return;
    const now = `${humanBytes(e.size * ss)} ${typeName(e.type)}`;
    const want = `${p.size === undefined || p.size === '100%' ? 'the rest of the disk' : p.size} ${typeName(typeGuid(p.type))}`;
    if (p.replace !== true) {
      problems.push({ path: [...at, 'partitions', j], message: `partition "${p.label}" exists on ${facts.path} as ${now}; the config asks for ${want}. flint does not resize, move or delete partitions unless told to`, hint: `set replace: true to delete and recreate it (its data is lost), or make size and type match what is there` });
      return;
    }
    const why = facts.protectedParts.get(e.number);
    if (why !== undefined) {
      problems.push({ path: [...at, 'partitions', j, 'replace'], message: `replace would delete partition ${e.number} ("${p.label}") of ${facts.path}, which ${why}`, hint: 'replace only a partition that is not in use' });
      return;
    }
    kept.splice(kept.indexOf(e), 1);
    destroyEntry(out, e, facts);
    fresh.push({ p, j });
  });

  const usable = end - firstFree;
  const sizeOf = (p: Partition): number | undefined => requestedSectors(p.size, usable, ss, align);
  const rest = fresh.filter(({ p }) => sizeOf(p) === undefined);
  if (rest.length > 1) problems.push({ path: [...at, 'partitions', rest[1]!.j, 'size'], message: 'two new partitions both want the rest of the disk', hint: 'give every new partition but one a size' });
  const need = fresh.reduce((n, { p }) => n + up(sizeOf(p) ?? 0), 0);
  const sorted = [...kept].sort((a, b) => a.start - b.start);
  const tail = sorted[sorted.length - 1];
  const root = growRoot && facts.rootPartition !== undefined ? kept.find((e) => e.number === facts.rootPartition) : undefined;
  if (growRoot && facts.rootPartition !== undefined && root === undefined) problems.push({ path: at, message: `the root partition ${facts.rootPartition} of ${facts.path} is not in its GPT`, hint: 'grow_root needs the root filesystem on a GPT partition' });
  if (root !== undefined && rest.length > 0 && root === tail) {
    problems.push({ path: [...at, 'partitions', rest[0]!.j], message: 'grow_root and this partition both want the rest of the disk', hint: 'give the partition a size, or set grow_root: false' });
  }
  let cursor = up(Math.max(firstFree, tail !== undefined ? tail.start + tail.size : 0));
  const free = Math.max(0, end - cursor);
  const restMin = rest.length > 0 ? align : 0;
  if (need + restMin > free) {
    problems.push({
      path: [...at, 'partitions'],
      message: `the new partitions need ${humanBytes((need + restMin) * ss)}, but ${facts.path} (${humanBytes(facts.sizeBytes)}) has only ${humanBytes(free * ss)} free after its last partition`,
      hint: 'make the partitions smaller, or leave size out on the last one so it takes the rest',
    });
  }
  if (problems.length > 0) return out;

  const after = kept.map((e) => ({ ...e }));
  const used = new Set(after.map((e) => e.number));
  const nextNumber = () => {
    let n = 1;
    while (used.has(n)) n++;
    used.add(n);
    return n;
  };
  if (root !== undefined && root === tail) cursor = end - need;
  for (const { p } of fresh) {
    const size = sizeOf(p) ?? end - cursor;
    const entry: PartEntry = { number: nextNumber(), start: cursor, size: up(size) <= end - cursor ? up(size) : size, type: typeGuid(p.type), name: p.label };
    after.push(entry);
    out.created.push(entry.number);
    cursor += entry.size;
  }
  if (root !== undefined) {
    const r = after.find((e) => e.number === root.number)!;
    const next = Math.min(end, ...after.filter((e) => e.start > r.start).map((e) => e.start));
    // Less than a MiB is not worth a write; a partition that already fills its gap stays.
    if (next - (r.start + r.size) >= align) {
      out.rootGrowth = { number: r.number, from: r.size, to: next - r.start };
      r.size = next - r.start;
    }
  }
  out.after = after.sort((a, b) => a.start - b.start);
  return out;
}

function destroyEntry(out: DiskLayout, e: PartEntry, facts: DiskFacts): void {
  out.deleted.push(e);
  const fs = facts.fsTypes.get(e.number);
  out.destroys.push(`partition ${e.number} (${e.name || 'no name'}, ${humanBytes(e.size * facts.sectorSize)}${fs !== undefined ? `, ${fs} filesystem` : ''})`);
}

/** Size in sectors a config asks for; undefined = the rest. Percentages are of the usable disk. */
export function requestedSectors(size: string | undefined, usable: number, sectorSize: number, align: number): number | undefined {
  if (size === undefined) return undefined;
  const s = parseSize(size);
  if ('message' in s) return undefined;
  if ('percent' in s) return s.percent >= 100 ? undefined : Math.floor((usable * s.percent) / 100 / align) * align;
  return Math.ceil(Number(s.bytes) / sectorSize);
}

/** An existing partition satisfies a size when it is exactly that size, or that size rounded up to the alignment. */
function sizeMatches(p: Partition, e: PartEntry, facts: DiskFacts, align: number): boolean {
  if (p.size === undefined || p.size === '100%') return true;
  const usable = lastUsableSector(facts.sizeBytes, facts.sectorSize) - Math.max(facts.table.firstLba, 34);
  const want = requestedSectors(p.size, usable, facts.sectorSize, align);
  if (want === undefined) return true;
  if ((parseSize(p.size) as { percent?: number }).percent !== undefined) return Math.abs(e.size - want) < 2 * align;
  return e.size === want || e.size === Math.ceil(want / align) * align;
}
