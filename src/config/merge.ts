/**
 * `hosts:` overrides: the first matching entry is deep-merged over the top level. Maps
 * merge key by key, lists of named things merge by name (files, directories and links by
 * path: the schema says which, with x-merge-by), other lists are replaced. The merge remembers where each merged value came
 * from, so a problem found in the merged config points at the line that caused it.
 */
import type { PathSeg } from './diagnostics.js';
import { pointer } from './diagnostics.js';
import { MERGE_KEYS } from './generated/merge-keys.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The key that names an item of a list a hosts entry merges item by item, by the list's place. */
function mergeKey(path: readonly PathSeg[]): string | undefined {
  return MERGE_KEYS.get(pointer(path.map((s) => (typeof s === 'number' ? '*' : s))));
}

export interface Merged {
  value: Obj;
  /** Source path of each merged path, by JSON pointer of the merged path. */
  origins: Map<string, PathSeg[]>;
}

/** Merge hosts[index] (without its match) over the top level (without hosts). */
export function mergeHost(top: Obj, index: number): Merged {
  const origins = new Map<string, PathSeg[]>();
  const host = (Array.isArray(top.hosts) ? top.hosts[index] : undefined) as unknown;
  const base: Obj = { ...top };
  delete base.hosts;
  const over: Obj = isObj(host) ? { ...host } : {};
  delete over.match;
  const value = merge(base, over, [], ['hosts', index], [], origins) as Obj;
  return { value, origins };
}

function record(v: unknown, src: PathSeg[], dst: PathSeg[], origins: Map<string, PathSeg[]>): unknown {
  origins.set(pointer(dst), src);
  if (Array.isArray(v)) return v.map((x, i) => record(x, [...src, i], [...dst, i], origins));
  if (isObj(v)) {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) out[k] = record(x, [...src, k], [...dst, k], origins);
    return out;
  }
  return v;
}

function merge(b: unknown, o: unknown, bp: PathSeg[], op: PathSeg[], mp: PathSeg[], origins: Map<string, PathSeg[]>): unknown {
  if (o === undefined) return record(b, bp, mp, origins);
  if (b === undefined) return record(o, op, mp, origins);
  if (isObj(b) && isObj(o)) {
    origins.set(pointer(mp), op);
    const out: Obj = {};
    for (const k of new Set([...Object.keys(b), ...Object.keys(o)])) {
      out[k] = merge(b[k], o[k], [...bp, k], [...op, k], [...mp, k], origins);
    }
    return out;
  }
  const id = mergeKey(mp);
  if (id !== undefined && Array.isArray(b) && Array.isArray(o)) {
    origins.set(pointer(mp), op);
    const out: unknown[] = [];
    const overByName = new Map<unknown, number>();
    o.forEach((x, j) => {
      if (isObj(x) && x[id] !== undefined) overByName.set(x[id], j);
    });
    const used = new Set<number>();
    b.forEach((x, i) => {
      const j = isObj(x) ? overByName.get(x[id]) : undefined;
      if (j !== undefined) {
        used.add(j);
        out.push(merge(x, o[j], [...bp, i], [...op, j], [...mp, out.length], origins));
      } else out.push(record(x, [...bp, i], [...mp, out.length], origins));
    });
    o.forEach((x, j) => {
      if (!used.has(j)) out.push(record(x, [...op, j], [...mp, out.length], origins));
    });
    return out;
  }
  return record(o, op, mp, origins);
}

/** The source path of a merged path: the nearest recorded ancestor's origin, extended. */
export function originOf(origins: Map<string, PathSeg[]>, path: readonly PathSeg[]): PathSeg[] {
  for (let n = path.length; n >= 0; n--) {
    const src = origins.get(pointer(path.slice(0, n)));
    if (src !== undefined) return [...src, ...path.slice(n)];
  }
  return [...path];
}

/** The effective config for one machine: the first hosts entry whose match fits, merged in. */
/** What a hosts entry's match is compared with: read from the machine (discover/facts.ts). */
export interface MachineFacts {
  macs?: string[];
  serial?: string;
  machineUuid?: string;
}

export function effectiveConfig(top: Obj, facts: MachineFacts): { value: Obj; host?: number } {
  const hosts = Array.isArray(top.hosts) ? top.hosts : [];
  const eq = (a: unknown, b: string | undefined) => typeof a === 'string' && b !== undefined && a.toLowerCase() === b.toLowerCase();
  for (let i = 0; i < hosts.length; i++) {
    const h = hosts[i];
    if (!isObj(h) || !isObj(h.match)) continue;
    const m = h.match;
    const keys = Object.keys(m);
    if (keys.length === 0) continue;
    const fits = keys.every((k) =>
      k === 'mac' ? (facts.macs ?? []).some((mac) => eq(m.mac, mac)) : k === 'serial' ? eq(m.serial, facts.serial) : k === 'machine_uuid' ? eq(m.machine_uuid, facts.machineUuid) : false,
    );
    if (fits) return { value: mergeHost(top, i).value, host: i };
  }
  const value: Obj = { ...top };
  delete value.hosts;
  return { value };
}
