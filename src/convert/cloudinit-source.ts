/**
 * One file of a NoCloud seed, loaded with flint's own position-keeping loader, and the
 * helpers the cloud-init translators use to read it: typed getters that report a wrong
 * type at the value's line:col, and the list of keys flint does not apply.
 *
 * cloud-init reads YAML 1.1 (PyYAML); flint's loader reads YAML 1.2. Where the two
 * differ in ways seeds rely on (yes/no/on/off booleans, 0644 octal permissions), the
 * getters here read values the way cloud-init would.
 */
import type { Diagnostic, PathSeg } from '../config/diagnostics.js';
import { formatPath, pointer } from '../config/diagnostics.js';
import { loadConfig, makeDiagnostic } from '../config/load.js';
import type { LoadedConfig, Span } from '../config/load.js';
import { spanOf } from '../config/validate.js';

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** A key flint does not apply, with where it was written. */
export interface Unsupported {
  file: string;
  line: number;
  column: number;
  /** Readable path, e.g. users[1].expiredate. */
  what: string;
  /** Why, or what to do instead; never a value from the seed. */
  note?: string;
}

const YAML11_TRUE = /^(?:true|yes|on)$/i;
const YAML11_FALSE = /^(?:false|no|off)$/i;

export class SeedFile {
  readonly loaded: LoadedConfig;

  constructor(
    file: string,
    text: string,
    private readonly out: { diagnostics: Diagnostic[]; unsupported: Unsupported[] },
  ) {
    this.loaded = loadConfig(file, text);
  }

  get file(): string {
    return this.loaded.file;
  }

  get root(): unknown {
    return this.loaded.value;
  }

  /** The value at a path, or undefined. */
  at(path: readonly PathSeg[]): unknown {
    let v: unknown = this.loaded.value;
    for (const s of path) {
      if (Array.isArray(v) && typeof s === 'number') v = v[s];
      else if (isObj(v)) v = v[String(s)];
      else return undefined;
    }
    return v;
  }

  /** Whether the key was written at all (also with an empty value, which the loader drops). */
  written(path: readonly PathSeg[]): boolean {
    return this.loaded.nodes.has(pointer(path));
  }

  span(path: readonly PathSeg[], part: 'key' | 'value' = 'value'): Span {
    return spanOf(this.loaded, path, part);
  }

  /** The source text of a scalar, as written (e.g. 0644, "0644"). */
  sourceText(path: readonly PathSeg[]): string | undefined {
    const info = this.loaded.nodes.get(pointer(path));
    return info === undefined ? undefined : this.loaded.text.slice(info.value.start, info.value.end);
  }

  error(path: readonly PathSeg[], code: string, message: string, hint?: string, part: 'key' | 'value' = 'value'): void {
    this.out.diagnostics.push(makeDiagnostic(this.loaded, { severity: 'error', code, message, hint, span: this.span(path, part), path }));
  }

  warn(path: readonly PathSeg[], code: string, message: string, hint?: string, part: 'key' | 'value' = 'value'): void {
    this.out.diagnostics.push(makeDiagnostic(this.loaded, { severity: 'warning', code, message, hint, span: this.span(path, part), path }));
  }

  /** Record a key flint does not apply; all of them end up in one warning. */
  unsupported(path: readonly PathSeg[], note?: string): void {
    const { line, column } = this.loaded.position(this.span(path, 'key').start);
    const what = formatPath(path);
    if (this.out.unsupported.some((u) => u.file === this.file && u.line === line && u.column === column && u.what === what)) return;
    this.out.unsupported.push({ file: this.file, line, column, what, ...(note !== undefined ? { note } : {}) });
  }

  /** Mark a span as secret, so no diagnostic ever shows it (e.g. chpasswd's list). */
  secret(path: readonly PathSeg[]): void {
    const info = this.loaded.nodes.get(pointer(path));
    if (info !== undefined) this.loaded.secrets.push(info.value);
  }

  /** Every key of the map at `path` not in `known` goes to the unsupported list, with a note where one is given. */
  rest(path: readonly PathSeg[], known: ReadonlySet<string>, notes: Readonly<Record<string, string>> = {}): void {
    for (const k of this.keysOf(path)) if (!known.has(k)) this.unsupported([...path, k], notes[k]);
  }

  /** Keys of the map at `path` as written, including those with empty values (which the loader drops). */
  keysOf(path: readonly PathSeg[]): string[] {
    if (!isObj(this.at(path))) return [];
    const prefix = pointer(path) + '/';
    const keys: string[] = [];
    for (const p of this.loaded.nodes.keys()) {
      if (!p.startsWith(prefix)) continue;
      const seg = p.slice(prefix.length);
      if (!seg.includes('/')) keys.push(seg.replace(/~1/g, '/').replace(/~0/g, '~'));
    }
    return keys;
  }

  // Typed getters: undefined when absent (or null); an error, and undefined, when of the wrong type.

  str(path: readonly PathSeg[], what = 'text'): string | undefined {
    const v = this.at(path);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v;
    if (typeof v === 'number') return String(v);
    this.typeError(path, what, v);
    return undefined;
  }

  bool(path: readonly PathSeg[]): boolean | undefined {
    const v = this.at(path);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'boolean') return v;
    if (typeof v === 'string' && YAML11_TRUE.test(v)) return true;
    if (typeof v === 'string' && YAML11_FALSE.test(v)) return false;
    this.typeError(path, 'true or false', v);
    return undefined;
  }

  int(path: readonly PathSeg[]): number | undefined {
    const v = this.at(path);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    if (typeof v === 'string' && /^\d+$/.test(v.trim())) return Number(v.trim());
    this.typeError(path, 'a whole number', v);
    return undefined;
  }

  map(path: readonly PathSeg[]): Obj | undefined {
    const v = this.at(path);
    if (v === undefined || v === null) return undefined;
    if (isObj(v)) return v;
    this.typeError(path, 'a map (key: value pairs)', v);
    return undefined;
  }

  list(path: readonly PathSeg[]): unknown[] | undefined {
    const v = this.at(path);
    if (v === undefined || v === null) return undefined;
    if (Array.isArray(v)) return v;
    this.typeError(path, 'a list', v);
    return undefined;
  }

  /** A list of strings, where cloud-init also takes one string (optionally comma-separated). */
  strList(path: readonly PathSeg[], commaSeparated: boolean): string[] | undefined {
    const v = this.at(path);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return commaSeparated ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : [v];
    if (!Array.isArray(v)) {
      this.typeError(path, 'a list of text', v);
      return undefined;
    }
    const out: string[] = [];
    v.forEach((_, i) => {
      const s = this.str([...path, i]);
      if (s !== undefined) out.push(s);
    });
    return out;
  }

  typeError(path: readonly PathSeg[], want: string, v: unknown): void {
    const name = path.length === 0 ? 'the document' : formatPath(path);
    this.error(path, 'type', `${name} must be ${want}, not ${describe(v)}`, hintFor(want, v));
  }
}


function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Uint8Array) return 'binary data';
  if (v === null) return 'empty';
  switch (typeof v) {
    case 'object':
      return 'a map';
    case 'string':
      return 'text';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      return 'a number';
    default:
      return typeof v;
  }
}

function hintFor(want: string, v: unknown): string | undefined {
  if (want.startsWith('a list') && isObj(v)) return 'each item of a list starts with "- "';
  if (want.startsWith('a map') && Array.isArray(v)) return 'remove the "- " in front of the keys: this is one map, not a list';
  if (want === 'true or false') return 'write true or false';
  return undefined;
}
