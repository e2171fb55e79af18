/**
 * GPT partition tables as plain data: read from `sfdisk --json`, written back as an
 * sfdisk script, shown to people as a table. Everything here is pure; the programs are
 * run by the storage executor.
 */

/** One partition entry, in sectors of the disk. */
export interface PartEntry {
  number: number;
  start: number;
  size: number;
  /** Type GUID, upper case. */
  type: string;
  /** Partition GUID, upper case; undefined for one not created yet (sfdisk makes it). */
  uuid?: string;
  /** GPT name (PARTLABEL). */
  name: string;
  attrs?: string;
}

export interface Table {
  /** 'none': no partition table sfdisk recognises (a blank disk). */
  label: 'gpt' | 'dos' | 'none';
  id?: string;
  firstLba: number;
  /** Last usable sector the primary header records (less than the disk's when the backup header sits mid-disk). */
  lastLba: number;
  partitions: PartEntry[];
}

export const GPT_TYPE_GUIDS: Readonly<Record<string, string>> = {
  linux: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  swap: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  home: '933AC7E1-2EB4-4F13-B844-0E14E2AEF915',
  var: '4D21B016-B534-45C2-A9FB-5C16E091FD2D',
};

/** The GUID for a config's type (a name or a GUID). */
export function typeGuid(type: string | undefined): string {
  const t = type ?? 'linux';
  return GPT_TYPE_GUIDS[t] ?? t.toUpperCase();
}

/** The short name of a type GUID, for tables people read. */
export function typeName(guid: string): string {
  for (const [name, g] of Object.entries(GPT_TYPE_GUIDS)) if (g === guid.toUpperCase()) return name;
  return guid.toLowerCase();
}

interface SfdiskJson {
  partitiontable?: {
    label?: string;
    id?: string;
    firstlba?: number;
    lastlba?: number;
    partitions?: Array<{ node?: string; start?: number; size?: number; type?: string; uuid?: string; name?: string; attrs?: string }>;
  };
}

/** `sfdisk --json` output as a Table. */
export function parseSfdiskJson(text: string): Table {
  const t = (JSON.parse(text) as SfdiskJson).partitiontable ?? {};
  const label = t.label === 'gpt' ? 'gpt' : t.label === 'dos' ? 'dos' : 'none';
  const partitions = (t.partitions ?? []).map((p): PartEntry => {
    const num = /(\d+)$/.exec(p.node ?? '');
    return {
      number: num ? Number(num[1]) : 0,
      start: p.start ?? 0,
      size: p.size ?? 0,
      type: (p.type ?? '').toUpperCase(),
      ...(p.uuid !== undefined ? { uuid: p.uuid.toUpperCase() } : {}),
      name: p.name ?? '',
      ...(p.attrs !== undefined ? { attrs: p.attrs } : {}),
    };
  });
  return { label, ...(t.id !== undefined ? { id: t.id } : {}), firstLba: t.firstlba ?? 34, lastLba: t.lastlba ?? 0, partitions };
}

/** The device node of partition N of a disk: sda -> sda3, nvme0n1 / loop0 / mmcblk0 -> ...p3. */
export function partitionNode(disk: string, n: number): string {
  return /\d$/.test(disk) ? `${disk}p${n}` : `${disk}${n}`;
}

/**
 * An sfdisk script that writes exactly `parts` as a GPT. No last-lba and no device
 * line: sfdisk then puts the backup header at the real end of the disk.
 */
export function sfdiskScript(disk: string, table: { id?: string }, parts: readonly PartEntry[]): string {
  const lines = ['label: gpt', ...(table.id !== undefined ? [`label-id: ${table.id}`] : []), 'unit: sectors', ''];
  for (const p of [...parts].sort((a, b) => a.number - b.number)) {
    const fields = [`start=${p.start}`, `size=${p.size}`, `type=${p.type}`];
    if (p.uuid !== undefined) fields.push(`uuid=${p.uuid}`);
    // sfdisk reads the name between double quotes; the config's labels cannot hold one (checked).
    fields.push(`name="${p.name}"`);
    if (p.attrs !== undefined && p.attrs !== '') fields.push(`attrs="${p.attrs}"`);
    lines.push(`${partitionNode(disk, p.number)} : ${fields.join(', ')}`);
  }
  return lines.join('\n') + '\n';
}

/** Bytes as people read them: 6 GiB, 512 MiB, 1.5 TiB. */
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const s = v >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(v >= 10 ? 1 : 2).replace(/\.?0+$/, '');
  return `${s} ${units[i]}`;
}

/** A partition table as text columns: number, start, end, size, type, name. */
export function formatTable(parts: readonly PartEntry[], sectorSize: number, marks: ReadonlyMap<number, string> = new Map()): string[] {
  const rows = [['#', 'start', 'end', 'size', 'type', 'name', '']];
  for (const p of [...parts].sort((a, b) => a.start - b.start)) {
    rows.push([String(p.number), String(p.start), String(p.start + p.size - 1), humanBytes(p.size * sectorSize), typeName(p.type), p.name, marks.get(p.number) ?? '']);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
}
