/**
 * Validate one config: load with positions, check against the precompiled schema, run the
 * semantic checks (on the top level and on every `hosts:` entry merged over it), and
 * turn every finding into a diagnostic with file:line:col, path, source line and fix.
 */
import schemaValidate from './generated/validate-schema.js';
import type { SchemaError } from './generated/validate-schema.js';
import { schemaNav } from './generated/schema-nav.js';
import type { SchemaNode } from './generated/schema-nav.js';
import type { FlintConfigVersion1 as FlintConfig } from './generated/model.js';
import { compareDiagnostics, pointer } from './diagnostics.js';
import type { Diagnostic, PathSeg } from './diagnostics.js';
import { loadConfig, makeDiagnostic } from './load.js';
import type { LoadedConfig, Span } from './load.js';
import { checkConfig, isObj, modeBits } from './semantic.js';
import type { Finding } from './semantic.js';
import { mergeHost, originOf } from './merge.js';
import { nearest } from './checks/suggest.js';

export type { FlintConfig };

export interface ValidationResult {
  loaded: LoadedConfig;
  diagnostics: Diagnostic[];
  /** The config, modes turned into numbers; only when there is no error. */
  config?: FlintConfig;
}

export function validateText(file: string, text: string): ValidationResult {
  const loaded = loadConfig(file, text, { subset: true });
  const diagnostics = [...loaded.diagnostics];
  const at = (f: Omit<Finding, 'path'> & { path: readonly PathSeg[] }): Diagnostic =>
    makeDiagnostic(loaded, { severity: f.severity, code: f.code, message: f.message, hint: f.hint, span: spanOf(loaded, f.path, f.at ?? 'value'), path: f.path });

  const foreign = detectForeignFormat(text, loaded.value);
  if (foreign !== undefined) {
    diagnostics.push(makeDiagnostic(loaded, { severity: 'error', code: 'foreign-format', message: foreign.message, hint: foreign.hint, span: { start: 0, end: 1 }, path: [] }));
    return { loaded, diagnostics: sortUnique(diagnostics) };
  }
  // On a document that did not parse, schema findings describe the parser's guess,
  // not what was written: report the syntax first.
  if (loaded.diagnostics.some((d) => d.severity === 'error')) return { loaded, diagnostics: sortUnique(diagnostics) };
  if (!isObj(loaded.value)) {
    {
      diagnostics.push(at({ path: [], severity: 'error', code: 'not-a-map', message: loaded.value === null ? 'the config is empty' : 'a config is a map of settings, starting with version: 1', hint: 'start the file with the line: version: 1' }));
    }
    return { loaded, diagnostics: sortUnique(diagnostics) };
  }

  if (!schemaValidate(loaded.value)) {
    for (const e of schemaValidate.errors ?? []) diagnostics.push(at(explainSchemaError(e, loaded)));
  }
  const raw = (p: readonly PathSeg[]) => loaded.nodes.get(pointer(p))?.raw;
  const top = loaded.value;
  const base = checkConfig(top, raw);
  for (const f of base) diagnostics.push(at(f));
  diagnostics.push(...hostDiagnostics(top, base, loaded, raw));

  const sorted = sortUnique(diagnostics);
  const result: ValidationResult = { loaded, diagnostics: sorted };
  if (!sorted.some((d) => d.severity === 'error')) result.config = normaliseModes(top, raw) as unknown as FlintConfig;
  return result;
}

/**
 * Each hosts entry merged over the top level is a config of its own: check it too, and
 * report what the merge adds, at the line it comes from.
 */
function hostDiagnostics(top: Record<string, unknown>, base: Finding[], loaded: LoadedConfig, raw: (p: readonly PathSeg[]) => string | undefined): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (!Array.isArray(top.hosts)) return out;
  const known = new Set(base.map((f) => `${pointer(f.path)}\0${f.message}`));
  for (let i = 0; i < top.hosts.length; i++) {
    if (!isObj(top.hosts[i])) continue;
    const { value: merged, origins } = mergeHost(top, i);
    const value = sectionsFor(Object.keys(top.hosts[i] as Record<string, unknown>), merged);
    const rawMerged = (p: readonly PathSeg[]) => raw(originOf(origins, p));
    for (const f of checkConfig(value, rawMerged)) {
      const src = originOf(origins, f.path);
      const key = `${pointer(src)}\0${f.message}`;
      if (known.has(key)) continue;
      known.add(key);
      const fromHost = src[0] === 'hosts' && src[1] === i;
      const message = fromHost ? f.message : `${f.message} (when hosts[${i}] applies)`;
      out.push(makeDiagnostic(loaded, { severity: f.severity, code: f.code, message, hint: f.hint, span: spanOf(loaded, src, f.at ?? 'value'), path: src }));
    }
  }
  return out;
}

/**
 * The sections whose checks can change when a hosts entry overrides `keys`: the
 * overridden sections and those their checks read. Re-checking only these keeps a
 * fleet of a hundred machines as fast to validate as one.
 */
const SECTION_READS: Record<string, readonly string[]> = {
  users: ['users', 'groups', 'ssh', 'files', 'directories', 'links'],
  groups: ['users', 'groups', 'files', 'directories', 'links'],
  ssh: ['ssh', 'users'],
  files: ['files', 'directories', 'links', 'users', 'groups'],
  directories: ['files', 'directories', 'links', 'users', 'groups'],
  links: ['files', 'directories', 'links', 'users', 'groups'],
};

function sectionsFor(keys: readonly string[], merged: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    for (const section of SECTION_READS[k] ?? [k]) if (merged[section] !== undefined) out[section] = merged[section];
  }
  return out;
}

function sortUnique(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds
    .filter((d) => {
      const k = `${d.line}:${d.column}:${d.path}:${d.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort(compareDiagnostics);
}

/** The span to underline for a path: the key or the value, or the nearest ancestor that exists. */
export function spanOf(loaded: LoadedConfig, path: readonly PathSeg[], part: 'key' | 'value'): Span {
  for (let n = path.length; n >= 0; n--) {
    const info = loaded.nodes.get(pointer(path.slice(0, n)));
    if (info === undefined) continue;
    if (n < path.length) return info.key ?? firstLineOf(loaded, info.value);
    if (part === 'key' && info.key) return info.key;
    return firstLineOf(loaded, info.value);
  }
  return { start: 0, end: 1 };
}

/** Multi-line values are underlined on their first line only. */
function firstLineOf(loaded: LoadedConfig, s: Span): Span {
  const nl = loaded.text.indexOf('\n', s.start);
  return { start: s.start, end: nl >= 0 && nl < s.end ? nl : s.end };
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a map (key: value pairs)',
  array: 'a list',
  string: 'text',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  null: 'empty',
};

function describeValue(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'empty';
  switch (typeof v) {
    case 'object': return 'a map';
    case 'string': return 'text';
    case 'boolean': return v ? 'true' : 'false';
    case 'number': return Number.isInteger(v) ? 'a whole number' : 'a number';
    default: return typeof v;
  }
}

/** Keys people bring from other tools, and where that setting lives in flint. */
const FOREIGN_KEYS: Record<string, string> = {
  passwd: 'users',
  ssh_pwauth: 'ssh.password_authentication',
  write_files: 'files',
  runcmd: 'scripts (stage: post)',
  bootcmd: 'scripts (stage: pre)',
  fqdn: 'hostname',
  kernelArguments: 'kernel_arguments',
  lock_passwd: 'password_hash: "!"',
  hashed_passwd: 'password_hash',
  plain_text_passwd: 'password',
  passwordHash: 'password_hash',
  sshAuthorizedKeys: 'ssh_authorized_keys',
  primary_gid: 'primary_group',
  homeDir: 'home',
  homedir: 'home',
  noCreateHome: 'home',
  uid_min: 'uid',
  wantedby: 'contents ([Install] WantedBy=)',
  mask: 'masked',
  enable: 'enabled',
  dropIns: 'dropins',
  filesystem: 'format',
  wipeFilesystem: 'wipe',
  mountOptions: 'mount_options',
  sizeMiB: 'size (e.g. 512MiB)',
  typeGuid: 'type',
  wipeTable: 'wipe_table',
};

function value(loaded: LoadedConfig, path: readonly PathSeg[]): unknown {
  let v: unknown = loaded.value;
  for (const s of path) {
    if (Array.isArray(v) && typeof s === 'number') v = v[s];
    else if (isObj(v)) v = v[String(s)];
    else return undefined;
  }
  return v;
}

function pathOfPointer(p: string): PathSeg[] {
  if (p === '') return [];
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9]\d*)$/.test(s) ? Number(s) : s));
}

function parentName(path: readonly PathSeg[]): string {
  return path.length === 0 ? 'the top level' : formatPathShort(path);
}

function formatPathShort(path: readonly PathSeg[]): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

/**
 * The keys the schema allows in the map at `path`. Found by walking the schema along
 * the config path: ajv's schemaPath is relative to whichever $ref it was compiled in.
 */
function allowedKeysAt(path: readonly PathSeg[]): string[] {
  const nav = schemaNav();
  const deref = (n: SchemaNode | undefined): SchemaNode | undefined => {
    for (let i = 0; n?.$ref !== undefined && i < 10; i++) n = nav.$defs?.[n.$ref.replace('#/$defs/', '')];
    return n;
  };
  let node = deref(nav);
  for (const seg of path) {
    node = deref(typeof seg === 'number' ? node?.items : node?.properties?.[seg]);
    if (node === undefined) return [];
  }
  return Object.keys(node?.properties ?? {}).filter((k) => k !== '$schema');
}

/** An ajv error as a finding a person can act on. */
function explainSchemaError(e: SchemaError, loaded: LoadedConfig): Omit<Finding, 'path'> & { path: PathSeg[] } {
  const path = pathOfPointer(e.instancePath);
  const last = path[path.length - 1];
  const name = typeof last === 'string' ? last : formatPathShort(path);
  const v = value(loaded, path);
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(e.params.additionalProperty);
      const allowed = allowedKeysAt(path);
      const near = nearest(key, allowed);
      const foreign = FOREIGN_KEYS[key];
      const hint = near !== undefined ? `did you mean "${near}"?` : foreign !== undefined ? `in flint this is ${foreign}` : allowed.length > 0 ? `known keys here: ${allowed.join(', ')}` : undefined;
      return { path: [...path, key], at: 'key', severity: 'error', code: 'unknown-key', message: `unknown key "${key}" in ${parentName(path)}`, hint };
    }
    case 'required': {
      const key = String(e.params.missingProperty);
      const hint = key === 'version' ? 'add the line "version: 1" at the top' : `add ${key}:`;
      return { path, at: 'key', severity: 'error', code: 'missing-key', message: `${parentName(path)} is missing the required key "${key}"`, hint };
    }
    case 'type': {
      const want = String(e.params.type).split(',');
      const words = want.map((t) => TYPE_WORDS[t] ?? t).join(' or ');
      return { path, severity: 'error', code: 'type', message: `${name} must be ${words}, not ${describeValue(v)}`, hint: typeHint(want, v, name) };
    }
    case 'enum': {
      const allowed = (e.params.allowedValues as unknown[]).map(String);
      const near = typeof v === 'string' ? nearest(v, allowed) : undefined;
      const shown = typeof v === 'string' ? `"${v}"` : describeValue(v);
      return { path, severity: 'error', code: 'enum', message: `${name} must be one of ${allowed.join(', ')}, not ${shown}`, hint: near !== undefined ? `did you mean "${near}"?` : undefined };
    }
    case 'const':
      return { path, severity: 'error', code: 'version', message: `${name} must be ${JSON.stringify(e.params.allowedValue)}`, hint: name === 'version' ? 'this flint reads config version 1: write version: 1' : undefined };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path, severity: 'error', code: 'range', message: `${name} must be ${e.keyword.startsWith('min') || e.keyword === 'exclusiveMinimum' ? 'at least' : 'at most'} ${String(e.params.limit)}` };
    case 'minLength':
      return { path, severity: 'error', code: 'empty', message: `${name} may not be empty` };
    case 'minItems':
      return { path, severity: 'error', code: 'empty', message: `${name} needs at least ${String(e.params.limit)} item(s)` };
    default:
      return { path, severity: 'error', code: e.keyword, message: `${name} ${e.message ?? 'is not valid'}` };
  }
}

function typeHint(want: string[], v: unknown, name: string): string | undefined {
  if (want.includes('array') && (typeof v === 'string' || typeof v === 'number')) return `write a list: put each item on its own line starting with "- ", or use [ ... ]`;
  if (want.includes('boolean') && typeof v === 'string' && /^(yes|no|on|off|y|n)$/i.test(v)) return `YAML 1.2 reads ${v} as text; write ${/^(yes|on|y)$/i.test(v) ? 'true' : 'false'}`;
  if (want.includes('integer') && typeof v === 'string' && /^\d+$/.test(v)) return 'remove the quotes';
  if (want.includes('string') && (typeof v === 'number' || typeof v === 'boolean')) return `quote it, e.g. ${name}: "${String(v)}"`;
  if (want.includes('object') && Array.isArray(v)) return 'remove the "- " in front of the keys: this is one map, not a list';
  if (want.includes('array') && isObj(v)) return 'each item of the list starts with "- "';
  if (want.includes('string') && v === null) return 'give a value, or remove the key';
  return undefined;
}

/**
 * Configs in a peer's format are common on a stick; name the format instead of
 * listing a hundred unknown keys. (Reading them is `flint convert`'s job.)
 */
function detectForeignFormat(text: string, v: unknown): { message: string; hint: string } | undefined {
  if (/^#cloud-config\b/.test(text)) return { message: 'this is a cloud-init #cloud-config file, not a flint config', hint: 'flint convert FILE writes it as a flint config (flint validate, flint run and flint drive create read it as it is)' };
  if (/^#!/.test(text) && /combustion/i.test(text.slice(0, 2000))) return { message: 'this is a Combustion script, not a flint config', hint: 'put it on a stick labelled combustion as combustion/script, or call it from a flint config under scripts:' };
  if (isObj(v) && isObj(v.ignition) && v.version === undefined) return { message: `this is an Ignition config (spec ${String(v.ignition.version ?? 'unknown')}), not a flint config`, hint: 'flint convert FILE writes it as a flint config (flint validate, flint run and flint drive create read it as it is)' };
  return undefined;
}

/** After validation: every mode as its permission bits. */
function normaliseModes(v: unknown, raw: (p: readonly PathSeg[]) => string | undefined, path: PathSeg[] = []): unknown {
  if (Array.isArray(v)) return v.map((x, i) => normaliseModes(x, raw, [...path, i]));
  if (!isObj(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'mode' && (typeof x === 'string' || typeof x === 'number')) {
      out[k] = modeBits(typeof x === 'string' ? x : raw([...path, k]) ?? String(x)) ?? x;
    } else out[k] = normaliseModes(x, raw, [...path, k]);
  }
  return out;
}
