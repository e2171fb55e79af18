/**
 * Reading an Ignition config (spec 3.0.0 to 3.6.0): parse with positions (the config
 * loader's), validate as Ignition does but with a path and line:col on every finding,
 * resolve data: merge/replace children, and translate to a native flint v1 config.
 */
import { loadConfig, makeDiagnostic } from '../config/load.js';
import type { LoadedConfig, Translation } from '../config/load.js';
import { spanOf } from '../config/validate.js';
import { compareDiagnostics, formatPath } from '../config/diagnostics.js';
import type { Diagnostic, PathSeg } from '../config/diagnostics.js';
import { mergeConfigs } from './ignition-merge.js';
import { decodeDataResource, IGNITION_RENAMES, maskSpecialBits, translateIgnition } from './ignition-translate.js';
import { originsByPointer, validateTranslated } from './positions.js';
import { checkSemantics, checkShape, isObj, schemeOf, show, specVersion } from './ignition-validate.js';
import type { IgnFinding, Obj } from './ignition-validate.js';

export interface IgnitionConversion {
  /** The native flint config; only when there is no error. */
  config?: Record<string, unknown>;
  diagnostics: Diagnostic[];
  /** Where flint deliberately does something other than Ignition with this config. */
  deviations: string[];
  /** Where each value of `config` came from in the Ignition file; with `config`. */
  translation?: Translation;
}

/** A JSON object with ignition.version: cheap enough to try on every config flint reads. */
export function looksLikeIgnition(text: string): boolean {
  const head = text.slice(0, 65536);
  return /^\s*\{/.test(head) && /"ignition"\s*:\s*\{/.test(head) && /"version"\s*:/.test(head);
}

/** Children (merge/replace) nest at most this deep, as a loop guard. */
const MAX_DEPTH = 10;

interface Rendered {
  config?: Obj;
  diagnostics: Diagnostic[];
}

export function fromIgnition(file: string, text: string): IgnitionConversion {
  const top = render(file, text, 0);
  const diagnostics = [...top.diagnostics];
  if (top.config === undefined || diagnostics.some((d) => d.severity === 'error')) return { diagnostics: sorted(diagnostics), deviations: [] };
  const loaded = load(file, text);
  const { config, findings, deviations, tags } = translateIgnition(top.config);
  // After a merge or replace, a path names a node of the merged config, which may sit at
  // another index (or in a child) than in this file: point at ignition.config and say so.
  const merged = hasChildren(loaded.value);
  for (const f of findings) {
    diagnostics.push(merged ? diagnosticAt(loaded, { ...f, message: `${f.message} (in the config merged from ignition.config)` }, ['ignition', 'config']) : diagnosticAt(loaded, f));
  }
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics: sorted(diagnostics), deviations };
  // The result must be a config flint accepts; what flint's own checks find (an RSA key
  // under 2048 bits, a bad unit name) is reported at the Ignition value it came from.
  const translation = ignitionTranslation(loaded, config, tags, merged);
  diagnostics.push(...validateTranslated(file, config, translation).diagnostics);
  const ok = !diagnostics.some((d) => d.severity === 'error');
  return { ...(ok ? { config, translation } : {}), diagnostics: sorted(diagnostics), deviations };
}

/**
 * The translation map of a converted config. After a merge or replace, the paths of the
 * merged config are not this file's (an entry may sit at another index, or in a child):
 * everything points at ignition.config then, and says so.
 */
function ignitionTranslation(loaded: LoadedConfig, config: Obj, tags: ReadonlyMap<object, PathSeg[]>, merged: boolean): Translation {
  if (merged) return { sources: [loaded], origins: new Map([['', { source: 0, path: ['ignition', 'config'] }]]), renames: {}, note: 'in the config merged from ignition.config' };
  return { sources: [loaded], origins: originsByPointer(config, tags), renames: IGNITION_RENAMES };
}

/** JSON's own syntax rules whatever the file is called (the loader picks them by extension). */
function load(file: string, text: string): LoadedConfig {
  const asJson = /\.(json|ign)$/i.test(file) ? file : `${file}.ign`;
  const loaded = loadConfig(asJson, text);
  loaded.file = file;
  loaded.diagnostics = loaded.diagnostics.map((d) => ({ ...d, file }));
  return loaded;
}

/** A finding at its path in this file, or at `spanPath` when the path is not this file's. */
function diagnosticAt(loaded: LoadedConfig, f: IgnFinding, spanPath?: readonly (string | number)[]): Diagnostic {
  const span = spanOf(loaded, spanPath ?? f.path, spanPath !== undefined ? 'key' : (f.at ?? 'value'));
  return makeDiagnostic(loaded, { severity: f.severity, code: f.code, message: f.message, hint: f.hint, span, path: f.path });
}

function hasChildren(value: unknown): boolean {
  const c = isObj(value) && isObj(value.ignition) ? value.ignition.config : undefined;
  return isObj(c) && (isObj(c.replace) || (Array.isArray(c.merge) && c.merge.length > 0));
}

/** One config validated, its children fetched (data: only) and merged; special bits masked per version. */
function render(file: string, text: string, depth: number): Rendered {
  const loaded = load(file, text);
  const diagnostics = text.trim() === '' ? [] : [...loaded.diagnostics];
  const fail = (f: IgnFinding): Rendered => ({ diagnostics: [...diagnostics, diagnosticAt(loaded, f)] });
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics };
  if (loaded.value === null || text.trim() === '') return fail({ severity: 'error', code: 'ignition-empty', message: 'not a config (empty)', path: [] });
  if (!isObj(loaded.value)) return fail({ severity: 'error', code: 'type', message: 'an Ignition config is a JSON object', hint: 'start with {"ignition": {"version": "3.3.0"}}', path: [] });
  const value = loaded.value;
  const { version, finding } = specVersion(value);
  if (version === undefined) return fail(finding!);
  const shape = checkShape(value, version);
  diagnostics.push(...shape.map((f) => diagnosticAt(loaded, f)));
  if (shape.some((f) => f.severity === 'error')) return { diagnostics };
  const semantic = checkSemantics(value, version);
  diagnostics.push(...semantic.map((f) => diagnosticAt(loaded, f)));
  if (semantic.some((f) => f.severity === 'error')) return { diagnostics };

  let config = withoutChildren(maskSpecialBits(value, version));
  const children = isObj(value.ignition) && isObj(value.ignition.config) ? value.ignition.config : {};
  const child = (r: unknown, path: (string | number)[]): Obj | undefined => {
    const c = resolveChild(file, loaded, r, path, depth);
    diagnostics.push(...c.diagnostics);
    return c.config;
  };
  // As Ignition renders: replace first (the child becomes the config), then merges in order.
  if (isObj(children.replace) && typeof children.replace.source === 'string') {
    const replaced = child(children.replace, ['ignition', 'config', 'replace']);
    if (replaced === undefined) return { diagnostics };
    return { config: replaced, diagnostics };
  }
  const merges = Array.isArray(children.merge) ? children.merge : [];
  for (let i = 0; i < merges.length; i++) {
    const c = child(merges[i], ['ignition', 'config', 'merge', i]);
    if (c === undefined) return { diagnostics };
    config = mergeConfigs(config, c);
  }
  return { config, diagnostics };
}

function withoutChildren(cfg: Obj): Obj {
  if (!isObj(cfg.ignition)) return cfg;
  const { config: _children, ...ignition } = cfg.ignition;
  void _children;
  return { ...cfg, ignition };
}

function resolveChild(file: string, loaded: LoadedConfig, r: unknown, path: (string | number)[], depth: number): Rendered {
  const fail = (f: IgnFinding): Rendered => ({ diagnostics: [diagnosticAt(loaded, f)] });
  if (!isObj(r) || typeof r.source !== 'string') return { diagnostics: [] };
  if (depth >= MAX_DEPTH) return fail({ severity: 'error', code: 'ignition-config', message: `configs nest more than ${MAX_DEPTH} deep through ignition.config`, hint: 'is a config merging itself?', path });
  const scheme = schemeOf(r.source);
  if (scheme !== 'data') {
    return fail({
      severity: 'error',
      code: 'ignition-remote-config',
      message: `${show(path)} is fetched from a ${scheme}: URL; flint resolves only data: URLs here`,
      hint: `download it (checking its hash), then put it in as data:;base64,... or merge the two configs by hand; flint run also reads a config from an https URL given as flint.config= on the kernel command line`,
      path: [...path, 'source'],
    });
  }
  const d = decodeDataResource(r, path);
  if ('finding' in d) return fail(d.finding);
  const label = `${file} (${formatPath(path)})`;
  return render(label, d.data.toString('utf8'), depth + 1);
}

function sorted(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds
    .filter((d) => {
      const k = `${d.file}:${d.line}:${d.column}:${d.path}:${d.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort(compareDiagnostics);
}
