/**
 * Validation of one Ignition config (spec 3.0.0 to 3.6.0) as Ignition validates it, with
 * what Ignition leaves out: every finding has a path and a line:col, type errors included,
 * and a key from a newer spec names the version that has it. Unknown keys are warnings,
 * as in Ignition. Pure: a parsed value in, findings out.
 */
import type { PathSeg } from '../config/diagnostics.js';
import { nearest } from '../config/checks/suggest.js';
import { decodeDataUrl } from '../system/fetch.js';
import { compareVersions, CONFIG_SHAPE, isSupportedVersion, SUPPORTED_VERSIONS } from './ignition-spec.js';
import type { Shape, SpecVersion } from './ignition-spec.js';

export interface IgnFinding {
  severity: 'error' | 'warning';
  code: string;
  message: string;
  hint?: string;
  path: PathSeg[];
  /** Underline the key rather than the value. */
  at?: 'key' | 'value';
}

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function show(path: readonly PathSeg[]): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

/** The spec version of a config, or a finding that says why there is none. */
export function specVersion(value: unknown): { version?: SpecVersion; finding?: IgnFinding } {
  const ign = isObj(value) ? value.ignition : undefined;
  const v = isObj(ign) ? ign.version : undefined;
  const list = SUPPORTED_VERSIONS.join(', ');
  if (typeof v !== 'string') {
    return { finding: { severity: 'error', code: 'ignition-version', message: 'ignition.version is missing or not text', hint: `set ignition.version to one of ${list}`, path: ['ignition', 'version'] } };
  }
  if (isSupportedVersion(v)) return { version: v };
  const hint = /^2\./.test(v)
    ? 'spec 2.x is the old format (Ignition before 2.0); convert it to 3.x first, e.g. with ignition-config-transpiler, or rewrite it'
    : /-experimental$/.test(v)
      ? `experimental specs change without notice; use a stable one: ${list}`
      : `supported versions: ${list}`;
  return { finding: { severity: 'error', code: 'ignition-version', message: `Ignition spec version "${v}" is not supported`, hint, path: ['ignition', 'version'] } };
}

const TYPE_WORDS: Record<Shape['kind'], string> = { string: 'text', int: 'a whole number', bool: 'true or false', list: 'a list', object: 'an object' };

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'number') return Number.isInteger(v) ? 'a whole number' : 'a number';
  if (typeof v === 'string') return 'text';
  if (typeof v === 'boolean') return 'true or false';
  return 'an object';
}

function typeOk(shape: Shape, v: unknown): boolean {
  switch (shape.kind) {
    case 'string': return typeof v === 'string';
    case 'int': return typeof v === 'number' && Number.isInteger(v);
    case 'bool': return typeof v === 'boolean';
    case 'list': return Array.isArray(v);
    case 'object': return isObj(v);
  }
}

function typeHint(path: readonly PathSeg[], shape: Shape, v: unknown): string | undefined {
  const last = path[path.length - 1];
  if (last === 'mode' && typeof v === 'string') return `Ignition modes are decimal numbers: write ${/^0?[0-7]{3,4}$/.test(v) ? String(parseInt(v, 8)) : '420'} for ${/^0?[0-7]{3,4}$/.test(v) ? v : '0644'}`;
  if (shape.kind === 'int' && typeof v === 'string' && /^\d+$/.test(v)) return 'remove the quotes';
  if (shape.kind === 'bool' && typeof v === 'string') return 'write true or false without quotes';
  if (shape.kind === 'list' && !Array.isArray(v)) return 'put the value in [ ... ]';
  if ((last === 'user' || last === 'group') && shape.kind === 'object') return 'write {"name": "..."} or {"id": N}';
  return undefined;
}

/** Types, unknown keys and keys newer than the config's version, over the whole tree. */
export function checkShape(value: unknown, version: SpecVersion): IgnFinding[] {
  const out: IgnFinding[] = [];
  const walk = (v: unknown, shape: Shape, path: PathSeg[]): void => {
    if (!typeOk(shape, v)) {
      out.push({ severity: 'error', code: 'type', message: `${show(path) || 'the config'} must be ${TYPE_WORDS[shape.kind]}, not ${describe(v)}`, hint: typeHint(path, shape, v), path });
      return;
    }
    if (shape.kind === 'list') (v as unknown[]).forEach((x, i) => x !== null && walk(x, shape.of, [...path, i]));
    if (shape.kind !== 'object') return;
    for (const [k, x] of Object.entries(v as Obj)) {
      const field = shape.fields[k];
      if (field === undefined) {
        const near = nearest(k, Object.keys(shape.fields));
        out.push({ severity: 'warning', code: 'unused-key', message: `unused key ${k}: Ignition ignores it, and so does flint`, hint: near !== undefined ? `did you mean "${near}"?` : undefined, path: [...path, k], at: 'key' });
        continue;
      }
      if (field.since !== undefined && compareVersions(field.since, version) > 0) {
        out.push({ severity: 'error', code: 'ignition-newer-key', message: `${show([...path, k])} is not part of Ignition spec ${version}; it was added in spec ${field.since}`, hint: `set ignition.version to "${field.since}" or later, or remove the key`, path: [...path, k], at: 'key' });
        continue;
      }
      walk(x, field.shape, [...path, k]);
    }
  };
  walk(value, CONFIG_SHAPE, []);
  return out;
}

// ---- semantic checks (Ignition's validate functions) --------------------------------------

const UNIT_EXT = /\.(service|socket|device|mount|automount|swap|target|path|timer|snapshot|slice|scope)$/;
const FS_FORMATS = ['ext4', 'btrfs', 'xfs', 'vfat', 'swap'];

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function at(o: unknown, ...keys: string[]): unknown {
  let v = o;
  for (const k of keys) v = isObj(v) ? v[k] : undefined;
  return v;
}

export function schemeOf(source: string): string {
  return /^([a-z][a-z0-9+.-]*):/i.exec(source)?.[1]?.toLowerCase() ?? '';
}

/** Semantic findings for a config whose shape is valid. */
export function checkSemantics(cfg: Obj, version: SpecVersion): IgnFinding[] {
  const out: IgnFinding[] = [];
  const err = (path: PathSeg[], code: string, message: string, hint?: string) => out.push({ severity: 'error', code, message, path, ...(hint !== undefined ? { hint } : {}) });
  const warn = (path: PathSeg[], code: string, message: string, hint?: string) => out.push({ severity: 'warning', code, message, path, ...(hint !== undefined ? { hint } : {}) });
  const newer = (min: SpecVersion) => compareVersions(version, min) >= 0;

  const checkResource = (r: unknown, path: PathSeg[]) => {
    if (!isObj(r)) return;
    const source = r.source;
    if (typeof source === 'string') {
      const scheme = schemeOf(source);
      const allowed = ['http', 'https', 'tftp', 's3', 'data', ...(newer('3.2.0') ? ['gs'] : []), ...(newer('3.4.0') ? ['arn'] : [])];
      if (!allowed.includes(scheme)) err([...path, 'source'], 'ignition-url', `invalid url scheme${scheme ? ` "${scheme}"` : ''} in ${show([...path, 'source'])}`, `Ignition ${version} reads ${allowed.join(', ')} URLs`);
      else if (scheme === 'data' && decodeDataUrl(source) === undefined) err([...path, 'source'], 'ignition-url', `${show([...path, 'source'])} is not a valid data: URL`, 'write data:,TEXT (percent-encoded) or data:;base64,DATA');
      if (list(r.httpHeaders).length > 0 && scheme !== 'http' && scheme !== 'https') err([...path, 'httpHeaders'], 'ignition-headers', 'cannot use HTTP headers with this source scheme');
    }
    const c = r.compression;
    if (typeof c === 'string' && c !== '' && c !== 'gzip') {
      err([...path, 'compression'], 'ignition-compression', `compression "${c}" is not one Ignition knows`, c === 'xz' ? 'Ignition (and flint) unpack gzip only: recompress the data with gzip' : 'use "gzip", or leave it out');
    }
    const hash = at(r, 'verification', 'hash');
    if (typeof hash === 'string') {
      const m = /^(sha512|sha256)-([0-9a-fA-F]*)$/.exec(hash);
      const p = [...path, 'verification', 'hash'];
      if (!m) err(p, 'ignition-hash', /^[a-z0-9]+-/.test(hash) ? `unrecognized hash function in ${show(p)}` : `malformed hash specifier in ${show(p)}`, 'write sha512-HEX or sha256-HEX');
      else if (m[1] === 'sha256' && !newer('3.1.0')) err(p, 'ignition-newer-key', `sha256 verification is not part of Ignition spec ${version}; it was added in spec 3.1.0`, 'set ignition.version to "3.1.0" or later, or use sha512');
      else if (m[2]!.length !== (m[1] === 'sha512' ? 128 : 64)) err(p, 'ignition-hash', `incorrect size for hash sum in ${show(p)}`);
    }
  };

  const ign = at(cfg, 'ignition');
  list(at(ign, 'config', 'merge')).forEach((r, i) => checkResource(r, ['ignition', 'config', 'merge', i]));
  checkResource(at(ign, 'config', 'replace'), ['ignition', 'config', 'replace']);
  list(at(ign, 'security', 'tls', 'certificateAuthorities')).forEach((r, i) => checkResource(r, ['ignition', 'security', 'tls', 'certificateAuthorities', i]));

  const paths = new Map<string, PathSeg[]>();
  const checkNode = (n: unknown, path: PathSeg[]) => {
    if (!isObj(n)) return;
    const p = n.path;
    if (typeof p === 'string') {
      if (!p.startsWith('/')) err([...path, 'path'], 'ignition-path', `path not absolute: ${p}`, 'Ignition paths are absolute paths in the target root');
      else if (cleanPath(p) !== p) err([...path, 'path'], 'ignition-path', `path is not fully simplified: ${p}`, `write ${cleanPath(p)}`);
      const seen = paths.get(p);
      if (seen !== undefined) err(path, 'ignition-duplicate', `duplicate entry defined: ${p} is also ${show(seen)}`);
      else paths.set(p, path);
    }
    for (const who of ['user', 'group']) {
      const o = n[who];
      if (isObj(o) && o.id !== undefined && o.name !== undefined) err([...path, who], 'ignition-owner', 'cannot set both id and name', `keep one of ${who}.id and ${who}.name`);
    }
    const mode = n.mode;
    if (typeof mode === 'number') {
      if (mode < 0 || mode > 0o7777) err([...path, 'mode'], 'ignition-mode', `illegal file mode ${mode} (octal ${mode.toString(8)})`, 'a mode is between 0 and 4095 (07777); Ignition modes are decimal: 420 is 0644');
      else if ((mode & 0o7000) !== 0 && !newer('3.6.0')) warn([...path, 'mode'], 'ignition-special-bits', `setuid/setgid/sticky bits (mode 0${mode.toString(8)}) are dropped in spec versions older than 3.6.0: the result is 0${(mode & 0o777).toString(8)}`, 'set ignition.version to "3.6.0" to keep them, as Ignition 2.26 does');
    }
  };
  list(at(cfg, 'storage', 'directories')).forEach((n, i) => checkNode(n, ['storage', 'directories', i]));
  list(at(cfg, 'storage', 'files')).forEach((n, i) => {
    const path = ['storage', 'files', i];
    checkNode(n, path);
    if (!isObj(n)) return;
    checkResource(n.contents, [...path, 'contents']);
    list(n.append).forEach((r, j) => checkResource(r, [...path, 'append', j]));
    if (n.overwrite === true && typeof at(n, 'contents', 'source') !== 'string') err([...path, 'overwrite'], 'ignition-overwrite', 'overwrite must be false if source is unspecified', 'give contents.source, or remove overwrite');
  });
  list(at(cfg, 'storage', 'links')).forEach((n, i) => {
    const path = ['storage', 'links', i];
    checkNode(n, path);
    if (isObj(n) && (typeof n.target !== 'string' || n.target === '')) err(path, 'ignition-link', 'link target is required');
  });

  const dup = (items: unknown[], key: string, base: PathSeg[]) => {
    const seen = new Set<unknown>();
    items.forEach((x, i) => {
      const k = isObj(x) ? x[key] : undefined;
      if (k === undefined) return;
      if (seen.has(k)) err([...base, i], 'ignition-duplicate', `duplicate entry defined: ${key} ${String(k)}`);
      seen.add(k);
    });
  };
  const units = list(at(cfg, 'systemd', 'units'));
  dup(units, 'name', ['systemd', 'units']);
  units.forEach((u, i) => {
    if (!isObj(u)) return;
    const path = ['systemd', 'units', i];
    if (typeof u.name === 'string' && !UNIT_EXT.test(u.name)) err([...path, 'name'], 'ignition-unit', `invalid systemd unit extension: ${u.name}`);
    if (typeof u.contents === 'string') {
      const bad = unitSyntax(u.contents);
      if (bad !== undefined) err([...path, 'contents'], 'ignition-unit', `invalid unit content: ${bad}`);
      else if (u.enabled === true && !/^\s*\[Install\]/m.test(u.contents)) warn([...path, 'contents'], 'ignition-unit-install', `unit "${String(u.name)}" is enabled, but has no install section so enable does nothing`);
    }
    const dropins = list(u.dropins);
    dup(dropins, 'name', [...path, 'dropins']);
    dropins.forEach((d, j) => {
      if (isObj(d) && typeof d.name === 'string' && !d.name.endsWith('.conf')) err([...path, 'dropins', j, 'name'], 'ignition-unit', `invalid systemd drop-in extension: ${d.name}`);
    });
  });
  dup(list(at(cfg, 'passwd', 'users')), 'name', ['passwd', 'users']);
  dup(list(at(cfg, 'passwd', 'groups')), 'name', ['passwd', 'groups']);
  list(at(cfg, 'passwd', 'users')).forEach((u, i) => {
    const keys = list(at(u, 'sshAuthorizedKeys'));
    if (new Set(keys).size !== keys.length) err(['passwd', 'users', i, 'sshAuthorizedKeys'], 'ignition-duplicate', 'duplicate entry defined: the same SSH key is listed twice');
  });
  for (const kind of ['disks', 'filesystems']) {
    list(at(cfg, 'storage', kind)).forEach((d, i) => {
      const dev = at(d, 'device');
      if (typeof dev === 'string' && !dev.startsWith('/')) err(['storage', kind, i, 'device'], 'ignition-path', `path not absolute: ${dev}`, 'name the device by its path, e.g. /dev/disk/by-id/...');
    });
  }
  dup(list(at(cfg, 'storage', 'disks')), 'device', ['storage', 'disks']);
  dup(list(at(cfg, 'storage', 'filesystems')), 'device', ['storage', 'filesystems']);
  list(at(cfg, 'storage', 'disks')).forEach((d, i) => {
    list(at(d, 'partitions')).forEach((p, j) => {
      if (!isObj(p)) return;
      const path = ['storage', 'disks', i, 'partitions', j];
      if (typeof p.label === 'string' && p.label.length > 36) err([...path, 'label'], 'ignition-partition', 'partition labels may not exceed 36 characters');
      if ((typeof p.number !== 'number' || p.number < 1) && typeof p.label !== 'string') err(path, 'ignition-partition', 'a partition number >= 1 or a label must be specified');
    });
  });
  list(at(cfg, 'storage', 'filesystems')).forEach((f, i) => {
    if (!isObj(f)) return;
    const path = ['storage', 'filesystems', i];
    const formats = [...FS_FORMATS, ...(newer('3.3.0') ? ['none'] : [])];
    if (typeof f.format === 'string' && f.format !== '' && !formats.includes(f.format)) err([...path, 'format'], 'ignition-filesystem', `invalid filesystem format "${f.format}"`, `Ignition ${version} knows ${formats.join(', ')}`);
    if ((f.format === undefined || f.format === '') && ['path', 'label', 'uuid', 'wipeFilesystem', 'options', 'mountOptions'].some((k) => f[k] !== undefined)) err([...path, 'format'], 'ignition-filesystem', 'format cannot be empty when path, label, uuid, wipeFilesystem, options, or mountOptions is specified');
    if (typeof f.path === 'string' && !f.path.startsWith('/')) err([...path, 'path'], 'ignition-path', `path not absolute: ${f.path}`);
  });
  return out;
}

/** path.Clean for absolute paths, as Go's path package does it. */
export function cleanPath(p: string): string {
  const parts: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') parts.pop();
    else parts.push(c);
  }
  return `/${parts.join('/')}`;
}

/** Why go-systemd's unit parser would refuse a unit text, or undefined. */
function unitSyntax(text: string): string | undefined {
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[') && !line.endsWith(']')) return 'unable to find end of section';
  }
  return undefined;
}
