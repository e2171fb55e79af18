/**
 * Ignition's config merge (config/merge/merge.go) on plain parsed configs: objects merge
 * key by key, a child's scalar replaces the parent's, lists of keyed entries merge entry
 * by entry (a child entry with a parent's key is merged into it, others are appended),
 * plain lists of strings are merged as sets, and argument lists are appended.
 * files, directories and links share one key (the path): a child node of another kind
 * replaces the parent's. kernelArguments.shouldExist and shouldNotExist share one key too.
 */
import { isObj } from './ignition-validate.js';
import type { Obj } from './ignition-validate.js';

/** Lists whose entries are identified by a key, by their path with indices removed. */
const KEYED: Record<string, (x: Obj) => string | undefined> = {
  'storage.disks': (x) => str(x.device),
  'storage.disks.partitions': (x) => (typeof x.number === 'number' && x.number !== 0 ? `number:${x.number}` : `label:${str(x.label) ?? ''}`),
  'storage.raid': (x) => str(x.name),
  'storage.files': (x) => str(x.path),
  'storage.directories': (x) => str(x.path),
  'storage.links': (x) => str(x.path),
  'storage.filesystems': (x) => str(x.device),
  'storage.luks': (x) => str(x.name),
  'storage.luks.clevis.tang': (x) => str(x.url),
  'systemd.units': (x) => str(x.name),
  'systemd.units.dropins': (x) => str(x.name),
  'passwd.users': (x) => str(x.name),
  'passwd.groups': (x) => str(x.name),
  'ignition.config.merge': (x) => str(x.source),
  'ignition.security.tls.certificateAuthorities': (x) => str(x.source),
};

/** Argument lists that are concatenated, duplicates kept. */
const APPENDED = new Set(['storage.files.append', 'storage.filesystems.options', 'storage.filesystems.mountOptions', 'storage.raid.options', 'storage.luks.options', 'storage.luks.openOptions']);

const NODE_LISTS = ['files', 'directories', 'links'] as const;

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** The child config merged over the parent (neither is changed). */
export function mergeConfigs(parent: Obj, child: Obj): Obj {
  const out = mergeValue(parent, child, []) as Obj;
  mergeNodes(parent, child, out);
  mergeKargs(parent, child, out);
  return out;
}

function mergeValue(p: unknown, c: unknown, path: string[]): unknown {
  if (c === undefined || c === null) return p;
  if (isObj(p) && isObj(c)) {
    const out: Obj = { ...p };
    for (const [k, v] of Object.entries(c)) out[k] = mergeValue(p[k], v, [...path, k]);
    return out;
  }
  if (Array.isArray(p) && Array.isArray(c)) return mergeList(p, c, path);
  return c;
}

function mergeList(p: unknown[], c: unknown[], path: string[]): unknown[] {
  const name = path.join('.');
  if (APPENDED.has(name)) return [...p, ...c];
  const keyOf = KEYED[name];
  if (keyOf === undefined) {
    // Lists of strings (groups, sshAuthorizedKeys, devices, noProxy): a set.
    const out = [...p];
    for (const x of c) if (!out.some((y) => JSON.stringify(y) === JSON.stringify(x))) out.push(x);
    return out;
  }
  const out = [...p];
  for (const x of c) {
    const k = isObj(x) ? keyOf(x) : undefined;
    const i = k === undefined ? -1 : out.findIndex((y) => isObj(y) && keyOf(y) === k);
    if (i >= 0) out[i] = mergeValue(out[i], x, path);
    else out.push(x);
  }
  return out;
}

/** A child node whose path a parent node of another kind has removes that parent node. */
function mergeNodes(parent: Obj, child: Obj, out: Obj): void {
  const ps = isObj(parent.storage) ? parent.storage : {};
  const cs = isObj(child.storage) ? child.storage : {};
  const os = out.storage;
  if (!isObj(os)) return;
  for (const kind of NODE_LISTS) {
    const childPaths = new Set(listOf(cs[kind]).map((n) => (isObj(n) ? n.path : undefined)));
    for (const other of NODE_LISTS) {
      if (other === kind || childPaths.size === 0 || !Array.isArray(os[other])) continue;
      const fromParent = new Set(listOf(ps[other]));
      os[other] = (os[other] as unknown[]).filter((n) => !(fromParent.has(n) && isObj(n) && childPaths.has(n.path)));
    }
  }
}

/** shouldExist and shouldNotExist share one key: the child's list decides for an argument. */
function mergeKargs(parent: Obj, child: Obj, out: Obj): void {
  const pk = isObj(parent.kernelArguments) ? parent.kernelArguments : {};
  const ck = isObj(child.kernelArguments) ? child.kernelArguments : {};
  if (Object.keys(ck).length === 0) return;
  const cin = listOf(ck.shouldExist);
  const cout = listOf(ck.shouldNotExist);
  const result: Obj = {
    shouldExist: [...listOf(pk.shouldExist).filter((a) => !cout.includes(a) && !cin.includes(a)), ...cin],
    shouldNotExist: [...listOf(pk.shouldNotExist).filter((a) => !cin.includes(a) && !cout.includes(a)), ...cout],
  };
  out.kernelArguments = result;
}

function listOf(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
