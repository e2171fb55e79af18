/**
 * Any config flint reads, as a validated flint config: its own format, or Ignition,
 * cloud-init NoCloud or a Combustion script, converted first. Findings about the
 * original point into the original file; the converted config is validated like any
 * flint config (what `flint convert` prints), so planning problems have a place too.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { Document } from 'yaml';
import { basename, dirname, join } from 'node:path';
import type { Diagnostic } from '../config/diagnostics.js';
import { compareDiagnostics } from '../config/diagnostics.js';
import type { ConfigFormat } from '../config/format.js';
import { FORMAT_NAMES, sniffFormat } from '../config/format.js';
import { plainSource } from '../config/load.js';
import type { LoadedConfig, Translation } from '../config/load.js';
import { validateText } from '../config/validate.js';
import type { FlintConfig } from '../config/validate.js';
import { fromCloudInit, readNoCloudSeed } from './cloudinit.js';
import type { NoCloudSeed } from './cloudinit.js';
import { fromIgnition } from './ignition.js';
import { validateTranslated } from './positions.js';

export interface AnyValidation {
  format: ConfigFormat;
  diagnostics: Diagnostic[];
  /** The flint config (modes as numbers); only when there is no error. */
  config?: FlintConfig;
  /** The converted config as flint's own format (JSON), for `flint convert`. */
  converted?: Record<string, unknown>;
  /**
   * What planning problems are made against: the file itself, or the converted config,
   * whose translation moves them to the user's files.
   */
  loaded?: LoadedConfig;
  /** Where flint deliberately does what the original tool would not. */
  deviations: string[];
}

/** Validates FILE (a file, or a NoCloud seed folder) whatever its format. TEXT is the file's content when already read. */
export function validateAny(file: string, text?: string): AnyValidation {
  if (text === undefined && isDir(file)) return fromSeed(readNoCloudSeed(file));
  const body = text ?? readFileSync(file, 'utf8');
  const format = sniffFormat(file, body);
  switch (format) {
    case 'flint': {
      const v = validateText(file, body);
      return { format, diagnostics: v.diagnostics, loaded: v.loaded, deviations: [], ...(v.config !== undefined ? { config: v.config } : {}) };
    }
    case 'ignition': {
      const r = fromIgnition(file, body);
      const besidePath = join(dirname(file), COMBUSTION_BESIDE);
      const beside = existsSync(besidePath);
      if (!beside || r.config === undefined) return finish(format, file, r.config, r.diagnostics, r.deviations, r.translation);
      const scripts = Array.isArray(r.config.scripts) ? (r.config.scripts as unknown[]) : [];
      const config = { ...r.config, scripts: [...scripts, combustionScript(COMBUSTION_BESIDE)] };
      const translation = r.translation !== undefined ? withScript(r.translation, scripts.length, plainSource(besidePath, readFileSync(besidePath, 'utf8'))) : undefined;
      return finish(format, file, config, r.diagnostics, [...r.deviations, `${COMBUSTION_BESIDE} beside it runs after the Ignition config, as combustion.service runs after ignition-complete.target`], translation);
    }
    case 'cloud-init':
      return fromSeed(seedOf(file, body));
    case 'combustion':
      return finish(format, file, combustionConfig(basename(file)), [], [], combustionTranslation(plainSource(file, body)));
  }
}

/** The seed FILE belongs to: a file named like a seed part brings its siblings along. */
function seedOf(file: string, text: string): NoCloudSeed {
  const name = basename(file);
  const dir = dirname(file);
  const sibling = (n: string) => {
    const p = join(dir, n);
    return existsSync(p) ? { file: p, text: readFileSync(p, 'utf8') } : undefined;
  };
  if (name === 'meta-data' || name === 'network-config' || name === 'user-data') {
    const seed: NoCloudSeed = {};
    const ud = name === 'user-data' ? { file, text } : sibling('user-data');
    const md = name === 'meta-data' ? { file, text } : sibling('meta-data');
    const nc = name === 'network-config' ? { file, text } : sibling('network-config');
    if (ud !== undefined) seed.userData = ud;
    if (md !== undefined) seed.metaData = md;
    if (nc !== undefined) seed.networkConfig = nc;
    return seed;
  }
  return { userData: { file, text } };
}

function fromSeed(seed: NoCloudSeed): AnyValidation {
  const r = fromCloudInit(seed);
  const file = seed.userData?.file ?? seed.networkConfig?.file ?? seed.metaData?.file ?? 'seed';
  return finish('cloud-init', file, r.config, r.diagnostics, [], r.translation);
}

/** A Combustion script's config: everything in it is the script, so all of it points at the script's first line. */
function combustionTranslation(script: LoadedConfig): Translation {
  return { sources: [script], origins: new Map([['', { source: 0, path: [] }]]), renames: {} };
}

/** An Ignition config's translation with the Combustion script beside it as scripts[INDEX]. */
function withScript(t: Translation, index: number, script: LoadedConfig): Translation {
  const origins = new Map(t.origins);
  origins.set(`/scripts/${index}`, { source: t.sources.length, path: [] });
  return { ...t, sources: [...t.sources, script], origins };
}

/** A Combustion script runs as Combustion runs it: one post script, chrooted in the target, cwd its folder. */
export function combustionConfig(scriptName: string): Record<string, unknown> {
  return { version: 1, scripts: [combustionScript(scriptName)] };
}

function combustionScript(rel: string): Record<string, unknown> {
  return { name: 'combustion', stage: 'post', source: `file:${rel}` };
}

/** Where a Combustion script sits beside an Ignition config that flint copied off a medium holding both. */
const COMBUSTION_BESIDE = 'combustion/script';

function finish(format: ConfigFormat, file: string, converted: Record<string, unknown> | undefined, diagnostics: Diagnostic[], deviations: string[], translation: Translation | undefined): AnyValidation {
  if (converted === undefined || diagnostics.some((d) => d.severity === 'error')) return { format, diagnostics, deviations };
  // The converters check their result already; this gives it numeric modes and a text
  // whose translation moves planning problems to the user's file. Its diagnostics are
  // the converters', not repeated.
  const native = translation !== undefined ? validateTranslated(file, converted, translation) : validateText(`${file} (converted)`, JSON.stringify(converted, null, 2));
  const all = native.config === undefined ? [...diagnostics, ...native.diagnostics.filter((d) => d.severity === 'error')].sort(compareDiagnostics) : diagnostics;
  return { format, diagnostics: all, converted, loaded: native.loaded, deviations, ...(native.config !== undefined ? { config: native.config } : {}) };
}

/** A converted config as flint YAML, headed by where it came from and how flint deviates. */
export function convertedYaml(config: Record<string, unknown>, file: string, format: ConfigFormat, deviations: readonly string[]): string {
  const body = new Document(config).toString({ lineWidth: 0 });
  const head = [`# Converted by flint from ${file} (${FORMAT_NAMES[format]}).`, ...deviations.map((d) => `# note: ${d}`)];
  return `${head.join('\n')}\n${body}`;
}

/** Whether P is a folder (a NoCloud seed is one). */
export function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
