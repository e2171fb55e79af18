/**
 * Getting a config ready to leave the workstation: validated, every plain-text user
 * password replaced by its SHA-512 crypt hash, and the `file:` payloads it names
 * listed, so a medium can carry the config and everything it needs, and no
 * plain-text password.
 *
 * The hashes are spliced into the original text at the positions the YAML parser
 * reports rather than by re-serialising the document: re-serialising would keep the
 * comments but turn `mode: 0644` into `mode: 644`, which flint refuses.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { validateText } from '../config/validate.js';
import type { Diagnostic } from '../config/diagnostics.js';
import { FORMAT_NAMES, sniffFormat } from '../config/format.js';
import type { ConfigFormat } from '../config/format.js';
import { convertedYaml, isDir, validateAny } from '../convert/any.js';
import { hashPassword } from '../crypt/sha-crypt.js';
import { hashPasswords, plainPasswordNodes } from './hash-passwords.js';
import { payloadPaths } from '../steps/payloads.js';
import { readMediumFile } from '../system/fetch.js';

// Kept here for the callers that know it from the media side; it lives beside readMediumFile.
export { payloadPaths };
// Kept here for the callers (and tests) that know it from prepareConfig; it lives apart so the
// web page can bundle it without the file system.
export { hashPasswords };

export interface Payload {
  /** Path relative to the config's folder, as the config writes it after `file:`. */
  rel: string;
  data: Buffer;
}

export interface PreparedConfig {
  /** The config text to write to a medium: passwords hashed, everything else as written. */
  text: string;
  /** config.yaml or config.json, after the input's syntax. */
  name: 'config.yaml' | 'config.json';
  payloads: Payload[];
  /** How many plain-text passwords were replaced by hashes. */
  hashed: number;
  /** Warnings of the validation (kept for the user; never a secret). */
  diagnostics: Diagnostic[];
  /** The other tool's format the config was written in; the medium gets it converted (what `flint convert` prints). */
  convertedFrom?: ConfigFormat;
  /** Where the converted config does what the original tool would not (flint convert's notes). */
  deviations: string[];
}

export class PrepareError extends Error {
  constructor(
    message: string,
    /** Validation findings, when the config itself is at fault. */
    readonly diagnostics: Diagnostic[] = [],
  ) {
    super(message);
  }
}

/**
 * Reads, validates and prepares CONFIGFILE; a PrepareError says what is wrong. An
 * Ignition config, a cloud-init seed (a user-data file or the seed folder) or a
 * Combustion script is converted to a flint config first, so the medium carries one
 * format, with passwords hashed like any other.
 */
export async function prepareConfig(configFile: string, hash: (plain: string) => string = hashPassword): Promise<PreparedConfig> {
  const source = readSource(configFile);
  const text = source.format === 'flint' ? source.text : converted(configFile, source);
  const checked = source.format === 'flint' ? validateText(configFile, text) : undefined;
  if (checked !== undefined && checked.config === undefined) throw new PrepareError(`${configFile} is invalid; nothing was written`, checked.diagnostics);
  const { text: out, hashed } = hashPasswords(text, hash);
  const again = validateText(source.format === 'flint' ? configFile : `${configFile} (converted)`, out);
  // A splice that broke the config would be a bug here, not the user's doing.
  if (again.config === undefined) throw new Error(source.format === 'flint' ? 'hashing the passwords produced an invalid config' : 'the converted config is invalid');
  if (plainPasswordNodes(out).length > 0) throw new Error('a plain-text password is left after hashing');
  const dir = source.format === 'cloud-init' && isDir(configFile) ? resolve(configFile) : dirname(resolve(configFile));
  const rels = payloadPaths(again.config as unknown as Record<string, unknown>);
  // A Combustion script may read any file beside it (its folder is its working directory).
  if (source.format === 'combustion') for (const rel of filesUnder(dir)) if (!rels.includes(rel)) rels.push(rel);
  const payloads: Payload[] = [];
  for (const rel of rels) {
    try {
      payloads.push({ rel, data: await readMediumFile(dir, rel) });
    } catch (e) {
      throw new PrepareError(`${configFile}: the payload file:${rel} ${(e as Error).message}`);
    }
  }
  const name = source.format !== 'flint' ? 'config.yaml' : /\.json$/i.test(basename(configFile)) || /^\s*\{/.test(text) ? 'config.json' : 'config.yaml';
  const base = { text: out, name, payloads, hashed } as const;
  if (source.format === 'flint') return { ...base, diagnostics: checked?.diagnostics ?? [], deviations: [] };
  return { ...base, diagnostics: source.diagnostics, convertedFrom: source.format, deviations: source.deviations };
}

interface Source {
  format: ConfigFormat;
  /** The file's text (empty for a seed folder). */
  text: string;
  /** For another tool's config: the findings of its conversion, and its deviations. */
  diagnostics: Diagnostic[];
  deviations: string[];
}

function readSource(configFile: string): Source {
  if (isDir(configFile)) return { format: 'cloud-init', text: '', diagnostics: [], deviations: [] };
  let text: string;
  try {
    text = readFileSync(configFile, 'utf8');
  } catch (e) {
    throw new PrepareError(`${configFile}: cannot read it (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return { format: sniffFormat(configFile, text), text, diagnostics: [], deviations: [] };
}

/** Another tool's config as flint YAML; SOURCE gets the conversion's findings. */
function converted(configFile: string, source: Source): string {
  const r = isDir(configFile) ? validateAny(configFile) : validateAny(configFile, source.text);
  if (r.converted === undefined || r.config === undefined) {
    throw new PrepareError(`${configFile} is invalid (${FORMAT_NAMES[source.format]}); nothing was written`, r.diagnostics);
  }
  source.diagnostics = r.diagnostics;
  source.deviations = r.deviations;
  return convertedYaml(r.converted, configFile, source.format, r.deviations);
}

/** Regular files under DIR, recursively, relative to it; links and special files are left out. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath ?? e.path, e.name)));
  }
  return out.sort();
}

