/**
 * Load a YAML or JSON config and keep, for every value, where it came from, so each
 * diagnostic can name file:line:col. JSON is read with the same YAML 1.2 parser (JSON
 * is valid YAML flow syntax), which gives JSON the same positions and messages.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, parseDocument, Scalar } from 'yaml';
import type { Document } from 'yaml';
import { parseYamlSubset } from './yaml-subset.js';
import type { TreeNode } from './yaml-subset.js';
import { formatPath, pointer, pointerSegment } from './diagnostics.js';
import type { Diagnostic, PathSeg } from './diagnostics.js';
import { editDistance } from './checks/suggest.js';

import type { Span } from './diagnostics.js';
export type { Span } from './diagnostics.js';

export interface NodeInfo {
  /** The key of this value in its parent map, where it has one. */
  key?: Span;
  value: Span;
  /** Source text of a plain scalar, e.g. `0644`, so loaders of modes can see what was written. */
  raw?: string;
}

export interface LoadedConfig {
  file: string;
  text: string;
  /** Plain data; `null` map values are dropped (the format says null is the same as absent). */
  value: unknown;
  /** Positions by JSON pointer ("" is the document). */
  nodes: Map<string, NodeInfo>;
  /** Source ranges holding secrets, masked wherever source text is shown. */
  secrets: Span[];
  diagnostics: Diagnostic[];
  /** Map offsets to 1-based line and column. */
  position(offset: number): { line: number; column: number };
  /** For a config converted from another format: where its values came from in the user's files. */
  translation?: Translation;
}

/**
 * A translation map, as Butane's translation sets: for a config converted from the
 * user's files, which source value each flint value came from. Diagnostics made at a
 * flint path of the converted config are reported at that source value instead.
 */
export interface Translation {
  /** The user's files, loaded with positions. */
  sources: readonly LoadedConfig[];
  /**
   * By flint JSON pointer. A path without an entry takes its nearest ancestor's and is
   * followed from there into the source as far as the source has the same keys.
   */
  origins: ReadonlyMap<string, Origin>;
  /**
   * Flint keys to the source's names for the same setting, for that following: tried in
   * order before the flint key itself; "a/b" is a key below a key ("owner" -> "user/name").
   */
  renames: Readonly<Record<string, readonly string[]>>;
  /** Added to every message, where the source path alone would mislead (a merged Ignition config). */
  note?: string;
}

export interface Origin {
  /** Index into Translation.sources. */
  source: number;
  path: PathSeg[];
}

/** Where a flint path of a converted config came from; `exact` when the source has the value itself, not only an ancestor. */
export function locateOrigin(t: Translation, path: readonly PathSeg[]): { source: LoadedConfig; path: PathSeg[]; exact: boolean } | undefined {
  for (let n = path.length; n >= 0; n--) {
    const o = t.origins.get(pointer(path.slice(0, n)));
    const source = o === undefined ? undefined : t.sources[o.source];
    if (o === undefined || source === undefined) continue;
    let at = o.path;
    for (const seg of path.slice(n)) {
      const names: PathSeg[][] = typeof seg === 'number' ? [[seg]] : [...(t.renames[seg] ?? []).map((r) => r.split('/')), [seg]];
      const next = names.map((k) => [...at, ...k]).find((p) => source.nodes.has(pointer(p)));
      if (next === undefined) return { source, path: at, exact: false };
      at = next;
    }
    return { source, path: at, exact: true };
  }
  return undefined;
}

/** Keys whose scalar values are secrets wherever they appear. */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['password', 'password_hash', 'psk', 'passwd', 'hashed_passwd', 'plain_text_passwd']);

/** Keys of the format that name a secret-sounding setting but hold none (a yes/no). */
const NOT_SECRET_KEYS: ReadonlySet<string> = new Set(['password_authentication']);

/** Secret keys, and keys that look like a misspelling of one: their values are masked too. */
export function isSecretKey(key: string): boolean {
  let v = secretKeyMemo.get(key);
  if (v === undefined) {
    const k = key.toLowerCase();
    // The regex catches most forms; the distance catches "pasword" and "pa..ssword"; a
    // piece of "password" catches a key cut short ("word:", "passw:").
    v =
      !NOT_SECRET_KEYS.has(key) &&
      (SECRET_KEYS.has(key) || /pass|assw|pwd|psk|secret|hash|token/i.test(key) || (k.length >= 4 && 'password'.includes(k)) || (Math.abs(key.length - 8) <= 3 && sharedLetters(k, 'password') >= Math.max(k.length, 8) - 3 && editDistance(k, 'password') <= 3));
    secretKeyMemo.set(key, v);
  }
  return v;
}
const secretKeyMemo = new Map<string, boolean>();

/**
 * How many letters two words share, counted with repeats. An insertion or substitution
 * adds at most one shared letter and a deletion or transposition none, so words at an
 * edit distance of at most d share at least max(|a|, |b|) - d: a cheap test that spares
 * most keys the full distance.
 */
function sharedLetters(a: string, b: string): number {
  const pool = b.split('');
  let n = 0;
  for (const c of a) {
    const i = pool.indexOf(c);
    if (i >= 0) {
      pool[i] = '';
      n++;
    }
  }
  return n;
}

/** The keys that hold no secret in the maps that hold one (a user, a Wi-Fi network). */
const USER_PLAIN_KEYS: ReadonlySet<string> = new Set([
  ...['name', 'uid', 'primary_group', 'groups', 'gecos', 'home', 'shell', 'system', 'ssh_authorized_keys', 'sudo'],
  // The same loader reads cloud-init's and Ignition's users, whose other keys are no secret either.
  ...['homedir', 'selinux_user', 'lock_passwd', 'inactive', 'no_create_home', 'no_user_group', 'no_log_init', 'ssh_import_id', 'ssh_redirect_user', 'snapuser', 'expiredate', 'create_groups', 'doas'],
  ...['sshAuthorizedKeys', 'homeDir', 'noCreateHome', 'primaryGroup', 'noUserGroup', 'noLogInit', 'shouldExist'],
]);
const WIFI_PLAIN_KEYS: ReadonlySet<string> = new Set(['ssid', 'security', 'hidden']);

/** For a map at PATH that holds a secret, its keys that do not; else undefined. */
function secretHolderKeys(path: readonly PathSeg[]): ReadonlySet<string> | undefined {
  const last = path[path.length - 1];
  if (last === 'wifi') return WIFI_PLAIN_KEYS;
  if (typeof last === 'number' && path[path.length - 2] === 'users') return USER_PLAIN_KEYS;
  return undefined;
}

/** Keys, at any depth, whose plain-integer values are file modes and need their source text kept. */
const RAW_KEYS: ReadonlySet<string> = new Set(['mode']);

export interface LoadOptions {
  /**
   * Try the quick parser for plain YAML first (yaml-subset.ts). Its trees equal yaml's
   * except where a map or list ends, which only diagnostics read; callers that slice
   * the source by a collection's span leave this off.
   */
  subset?: boolean;
}

export function loadConfig(file: string, text: string, options: LoadOptions = {}): LoadedConfig {
  const isJson = /\.(json|ign)$/i.test(file);
  const quick = options.subset === true && !isJson ? parseYamlSubset(text) : undefined;
  const lineStarts = lineStartsOf(text);
  const position = (offset: number) => toLineCol(lineStarts, offset);
  const nodes = new Map<string, NodeInfo>();
  const secrets: Span[] = [];
  const diagnostics: Diagnostic[] = [];
  const loaded: LoadedConfig = { file, text, value: undefined, nodes, secrets, diagnostics, position };

  const add = (code: string, span: Span, message: string, path: readonly PathSeg[], hint?: string) => {
    diagnostics.push(makeDiagnostic(loaded, { severity: 'error', code, message, hint, span, path }));
  };

  let tree: TreeNode | null;
  if (quick !== undefined) tree = quick;
  else {
    // JSON gets JSON's own rules and messages: the YAML parser would accept a trailing
    // comma and explain a missing one in YAML terms.
    const jsonError = isJson ? jsonSyntaxError(text) : undefined;
    if (jsonError !== undefined) {
      add('syntax', { start: jsonError.offset, end: jsonError.offset + 1 }, `JSON syntax: ${jsonError.message}`, [], 'check for a missing comma, quote or bracket at or just before this point');
      loaded.value = null;
      return loaded;
    }
    const doc = parseDocument(text, {
      prettyErrors: false,
      uniqueKeys: true,
      // Merge keys and custom tags are YAML 1.1 features that would make a config mean
      // something its reader does not see; the format is YAML 1.2 core.
      version: '1.2',
      schema: 'core',
      strict: true,
    });
    for (const err of doc.errors) {
      const [start, end] = err.pos;
      const { message, hint } = explainYamlError(err.code, err.message, file);
      add(err.code === 'DUPLICATE_KEY' ? 'duplicate-key' : 'syntax', { start, end: Math.max(end, start + 1) }, message, [], hint);
    }
    for (const w of doc.warnings) {
      const [start, end] = w.pos;
      diagnostics.push(makeDiagnostic(loaded, { severity: 'warning', code: 'syntax', message: firstLine(w.message), span: { start, end }, path: [] }));
    }
    tree = treeOfDocument(doc);
  }

  // ptr is pointer(path), built one segment at a time: the walk visits every node, and
  // re-escaping the whole path at each one is most of its cost.
  const walk = (node: TreeNode | null, path: PathSeg[], ptr: string, key: Span | undefined, parentKey: string | undefined): unknown => {
    if (node !== null && node.kind === 'alias') {
      nodes.set(ptr, { key, value: node.range });
      return node.target === undefined ? null : walkInner(node.target, path, ptr, key, parentKey, false);
    }
    return walkInner(node, path, ptr, key, parentKey, true);
  };

  const walkInner = (n: TreeNode | null, path: PathSeg[], ptr: string, key: Span | undefined, parentKey: string | undefined, record: boolean): unknown => {
    const span = n !== null ? n.range : { start: 0, end: 0 };
    const info: NodeInfo = { key, value: span };
    if (record) nodes.set(ptr, info);
    if (n === null) return null;
    if (n.kind === 'map') {
      const out: Record<string, unknown> = {};
      for (const { key: k, value: v } of n.pairs) {
        const keySpan = k !== null ? k.range : span;
        if (k === null || k.kind !== 'scalar' || (typeof k.value !== 'string' && typeof k.value !== 'number' && typeof k.value !== 'boolean')) {
          add('key-type', keySpan, 'a key must be a plain word, not a list or map', path);
          continue;
        }
        const name = String(k.value);
        if (v === null || (v.kind === 'scalar' && v.value === null)) {
          // Record the key anyway: a later diagnostic about it still needs a position.
          nodes.set(ptr + pointerSegment(name), { key: keySpan, value: v !== null ? v.range : keySpan });
          continue;
        }
        // In a map that holds a secret, a key it does not know is most likely that
        // secret's key misspelt ("pord:"): its value is masked like the secret's.
        const known = secretHolderKeys(path);
        out[name] = walk(v, [...path, name], ptr + pointerSegment(name), keySpan, known !== undefined && !known.has(name) ? 'password' : name);
      }
      return out;
    }
    if (n.kind === 'seq') {
      return n.items.map((item, i) => walk(item, [...path, i], `${ptr}/${i}`, undefined, parentKey));
    }
    if (n.kind === 'scalar') {
      if (parentKey !== undefined && isSecretKey(parentKey)) secrets.push(span);
      if (parentKey !== undefined && RAW_KEYS.has(parentKey) && n.plain !== undefined) info.raw = n.plain;
      if (typeof n.value === 'string' && /PRIVATE KEY-----/.test(n.value)) secrets.push(span);
      return n.value;
    }
    return null;
  };

  loaded.value = tree === null ? null : walk(tree, [], '', undefined, undefined);
  return loaded;
}

/** yaml's document as the tree the walk reads. An alias's tree is its target's, shared. */
function treeOfDocument(doc: Document): TreeNode | null {
  const memo = new Map<unknown, TreeNode>();
  const tree = (node: unknown): TreeNode | null => {
    if (node === null || node === undefined) return null;
    const seen = memo.get(node);
    if (seen !== undefined) return seen;
    const r = (node as { range?: readonly [number, number, number] | null }).range;
    const range = r ? rangeOf(r) : { start: 0, end: 0 };
    if (isAlias(node)) {
      const t: TreeNode = { kind: 'alias', range, target: undefined };
      memo.set(node, t);
      const target = node.resolve(doc);
      t.target = target === undefined ? undefined : (tree(target) ?? undefined);
      return t;
    }
    if (isMap(node)) {
      const t: TreeNode = { kind: 'map', range, pairs: [] };
      memo.set(node, t);
      for (const item of node.items) if (isPair(item)) t.pairs.push({ key: tree(item.key), value: tree(item.value) });
      return t;
    }
    if (isSeq(node)) {
      const t: TreeNode = { kind: 'seq', range, items: [] };
      memo.set(node, t);
      for (const item of node.items) t.items.push(tree(item));
      return t;
    }
    if (isScalar(node)) {
      const t: TreeNode = { kind: 'scalar', range, value: node.value };
      if (node.type === Scalar.PLAIN && typeof node.source === 'string') t.plain = node.source;
      memo.set(node, t);
      return t;
    }
    return { kind: 'scalar', range, value: null };
  };
  return tree(doc.contents);
}

/**
 * Where and why JSON.parse refuses a text. Only V8's fixed phrases are kept: its other
 * messages quote the text itself, which may hold a secret.
 */
function jsonSyntaxError(text: string): { offset: number; message: string } | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (e) {
    const msg = (e as Error).message;
    const at = / in JSON at position (\d+)/.exec(msg);
    if (at) return { offset: Number(at[1]), message: lowerFirst(msg.slice(0, at.index)) };
    if (/Unexpected end of JSON input/.test(msg)) return { offset: Math.max(0, text.trimEnd().length - 1), message: 'the text ends before the JSON does (a missing } or ]?)' };
    const tok = /^Unexpected token '(.)'/.exec(msg);
    const offset = tok ? firstBadToken(text, tok[1]!) : 0;
    return { offset, message: tok ? `unexpected character '${tok[1]}'` : 'not valid JSON' };
  }
}

/** V8 names the unexpected character but not where it is: take its first occurrence outside strings. */
function firstBadToken(text: string, ch: string): number {
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === ch) return i;
  }
  return 0;
}

/** Turn the parser's messages (which quote positions and internals) into plain advice. */
function explainYamlError(code: string, message: string, file: string): { message: string; hint?: string } {
  const json = /\.json$/i.test(file);
  // The parser quotes the offending source in some messages; that text may be a
  // secret, and the caret already shows where it is.
  // Whatever follows the first ": " is quoted source ("Not a YAML token: Hunter2").
  const first = firstLine(message)
    .replace(/ at line \d+, column \d+:?$/, '')
    .replace(/(?: in YAML stream)?:\s.*$/, '');
  switch (code) {
    case 'DUPLICATE_KEY':
      return { message: 'this key appears twice in the same map', hint: 'keep one of them; the format never merges repeated keys' };
    case 'TAB_AS_INDENT':
      return { message: 'a tab is used for indentation', hint: 'YAML indents with spaces only; replace the tab with spaces' };
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
    case 'UNEXPECTED_TOKEN':
      return {
        message: `${json ? 'JSON' : 'YAML'} syntax: ${lowerFirst(first)}`,
        hint: json ? 'check for a missing comma, quote or bracket just before this point' : 'check the indentation and that every "key: value" has a space after the colon',
      };
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY':
      return { message: `YAML syntax: ${lowerFirst(first)}`, hint: 'a key and its colon must be on one line; is a colon or dash missing on the line above?' };
    case 'BAD_SCALAR_START':
      return { message: `YAML syntax: ${lowerFirst(first)}`, hint: 'quote a value that starts with a special character such as @, ` or %' };
    default:
      return { message: `${json ? 'JSON' : 'YAML'} syntax: ${lowerFirst(first)}` };
  }
}

function lowerFirst(s: string): string {
  return s.length > 0 ? s[0]!.toLowerCase() + s.slice(1) : s;
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

function rangeOf(range: readonly [number, number, number]): Span {
  return { start: range[0], end: range[1] };
}

function lineStartsOf(text: string): number[] {
  // indexOf, not a loop over every character: this runs cold, in the interpreter.
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

function toLineCol(starts: readonly number[], offset: number): { line: number; column: number } {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: offset - starts[lo]! + 1 };
}

export interface DiagnosticInput {
  severity: 'error' | 'warning';
  code: string;
  message: string;
  hint?: string | undefined;
  span: Span;
  path: readonly PathSeg[];
}

/**
 * A diagnostic at a span of a loaded file, with its source line and secrets masked. For
 * a converted config the span is only asked whether it is a key's: the diagnostic goes
 * to the source value its path came from.
 */
export function makeDiagnostic(cfg: LoadedConfig, d: DiagnosticInput): Diagnostic {
  const moved = cfg.translation !== undefined ? translatedDiagnostic(cfg, cfg.translation, d) : undefined;
  if (moved !== undefined) return moved;
  const start = Math.min(d.span.start, cfg.text.length);
  const { line, column } = cfg.position(start);
  const lineStart = start - (column - 1);
  let lineEnd = cfg.text.indexOf('\n', lineStart);
  if (lineEnd < 0) lineEnd = cfg.text.length;
  const source = maskSecrets(cfg, lineStart, lineEnd, d.code === 'syntax' || d.code === 'duplicate-key').replace(/\r$/, '');
  const spanEnd = Math.min(Math.max(d.span.end, start + 1), lineEnd);
  const out: Diagnostic = {
    severity: d.severity,
    code: d.code,
    message: d.message,
    file: cfg.file,
    line,
    column,
    length: Math.max(1, spanEnd - start),
    path: formatPath(d.path),
    source,
  };
  if (d.hint !== undefined) out.hint = d.hint;
  return out;
}

function translatedDiagnostic(cfg: LoadedConfig, t: Translation, d: DiagnosticInput): Diagnostic | undefined {
  const found = locateOrigin(t, d.path);
  if (found === undefined) return undefined;
  // A value the converter moved within what it read (Netplan's addresses split into
  // ipv4 and ipv6, gateway4 into ipv4.gateway) is still there, written the same way.
  const same = found.exact ? undefined : findScalar(valueAt(found.source.value, found.path), valueAt(cfg.value, d.path));
  const at = same === undefined ? found : { ...found, path: [...found.path, ...same], exact: true };
  // A value that only an ancestor stands for (synthesized, or merged from several) is
  // pointed at by the ancestor's key: the line that produced it.
  const span = spanIn(at.source, at.path, at.exact && !isKeySpan(cfg, d.path, d.span) ? 'value' : 'key');
  const flint = formatPath(d.path);
  const notes = [flint !== '' ? `flint's ${flint}` : '', t.note ?? ''].filter((s) => s !== '');
  const message = notes.length > 0 ? `${d.message} (${notes.join('; ')})` : d.message;
  return makeDiagnostic(at.source, { ...d, message, span, path: at.path });
}

function valueAt(v: unknown, path: readonly PathSeg[]): unknown {
  for (const s of path) v = typeof v === 'object' && v !== null ? (v as Record<PathSeg, unknown>)[s] : undefined;
  return v;
}

/** The path below V of the first text or number equal to WANT, in document order. */
function findScalar(v: unknown, want: unknown): PathSeg[] | undefined {
  if ((typeof want !== 'string' || want === '') && typeof want !== 'number') return undefined;
  if (v === want) return [];
  if (typeof v !== 'object' || v === null) return undefined;
  const entries: Array<[PathSeg, unknown]> = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
  for (const [k, x] of entries) {
    const below = findScalar(x, want);
    if (below !== undefined) return [k, ...below];
  }
  return undefined;
}

/** Whether a span (made by spanOf on the converted text) is the key of the node at the path or of its nearest ancestor. */
function isKeySpan(cfg: LoadedConfig, path: readonly PathSeg[], span: Span): boolean {
  for (let n = path.length; n >= 0; n--) {
    const info = cfg.nodes.get(pointer(path.slice(0, n)));
    if (info !== undefined) return n < path.length || info.key?.start === span.start;
  }
  return false;
}

/** validate.ts's spanOf, which this file cannot import (it imports this one): key or value, first line only. */
function spanIn(cfg: LoadedConfig, path: readonly PathSeg[], part: 'key' | 'value'): Span {
  const info = cfg.nodes.get(pointer(path));
  const s = info === undefined ? { start: 0, end: 1 } : part === 'key' && info.key !== undefined ? info.key : info.value;
  const nl = cfg.text.indexOf('\n', s.start);
  return { start: s.start, end: nl >= 0 && nl < s.end ? nl : s.end };
}

/** A file that is not a document of settings (a Combustion script), for a translation to point at: its first line stands for all of it. */
export function plainSource(file: string, text: string): LoadedConfig {
  const lineStarts = lineStartsOf(text);
  const first = text.indexOf('\n');
  return { file, text, value: null, nodes: new Map([['', { value: { start: 0, end: first < 0 ? text.length : first } }]]), secrets: [], diagnostics: [], position: (o) => toLineCol(lineStarts, o) };
}

/**
 * The text of one line with every secret on it replaced by asterisks. Besides the
 * values the parser placed under secret keys, a line that merely looks like
 * `password: ...` is masked too: a broken document may not have parsed that far.
 */
function maskSecrets(cfg: LoadedConfig, lineStart: number, lineEnd: number, paranoid: boolean): string {
  const chars = cfg.text.slice(lineStart, lineEnd).split('');
  for (const s of cfg.secrets) {
    const a = Math.max(s.start, lineStart);
    const b = Math.min(s.end, lineEnd);
    for (let i = a; i < b; i++) chars[i - lineStart] = '*';
  }
  let line = chars.join('');
  // A misspelt key ("pasword:") is not under a secret key, but its value still is one.
  line = line.replace(
    /((?:^|[^\w-])["']?([\w-]*(?:pass|assw|pwd|psk|secret|hash|token)[\w-]*)["']?\s*:\s*)(\S.*)$/i,
    (m, head: string, key: string, rest: string) => (NOT_SECRET_KEYS.has(key) ? m : head + '*'.repeat(Math.min(rest.length, 8))),
  );
  // A crypt hash that lost its key to a typo.
  line = line.replace(/\$(?:1|2[aby]|5|6|7|y|gy|sha1|md5)\$[^\s"',}\]]*/g, '********');
  if (/PRIVATE KEY/.test(line)) line = line.replace(/\S+/g, (w) => '*'.repeat(Math.min(w.length, 8)));
  // Where the text did not parse, the parser cannot say which value is a secret: show
  // the structure (indentation, keys, punctuation) and hide every value, keeping
  // lengths so the caret still points at the right column.
  if (paranoid) {
    const stars = (w: string) => '*'.repeat(w.length);
    // A secret-like word whose colon is lost ("plain_text_passw Hunter2"): hide what follows.
    line = line.replace(/((?:pass|assw|pwd|psk|secret|hash|token)[\w-]*["']?\s+)(\S.*)$/i, (_m, head: string, rest: string) => head + stars(rest));
    line = line
      .replace(/"(?:[^"\\]|\\.)*"?|'(?:[^']|'')*'?/g, (q) => q[0] + stars(q.slice(1, -1)) + (q.length > 1 ? q[q.length - 1] : ''))
      .replace(/(:\s+)([^\s#"'[{][^#]*)$/, (_m, head: string, v: string) => head + stars(v))
      .replace(/[A-Za-z0-9./+$=_-]{16,}/g, (w) => (/[a-z]/.test(w) && /[A-Z]/.test(w) && /[0-9]/.test(w) ? stars(w) : w));
  }
  return line;
}
