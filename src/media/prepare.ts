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
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Pair, YAMLMap } from 'yaml';
import { validateText } from '../config/validate.js';
import type { Diagnostic } from '../config/diagnostics.js';
import { hashPassword } from '../crypt/sha-crypt.js';
import { readMediumFile } from '../steps/sources.js';

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

/** Reads, validates and prepares CONFIGFILE; a PrepareError says what is wrong. */
export async function prepareConfig(configFile: string, hash: (plain: string) => string = hashPassword): Promise<PreparedConfig> {
  let text: string;
  try {
    text = readFileSync(configFile, 'utf8');
  } catch (e) {
    throw new PrepareError(`${configFile}: cannot read it (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const checked = validateText(configFile, text);
  if (checked.config === undefined) throw new PrepareError(`${configFile} is invalid; nothing was written`, checked.diagnostics);
  const { text: out, hashed } = hashPasswords(text, hash);
  const again = validateText(configFile, out);
  // A splice that broke the config would be a bug here, not the user's doing.
  if (again.config === undefined) throw new Error('hashing the passwords produced an invalid config');
  if (plainPasswordNodes(out).length > 0) throw new Error('a plain-text password is left after hashing');
  const payloads: Payload[] = [];
  const dir = dirname(resolve(configFile));
  for (const rel of payloadPaths(again.config as unknown as Record<string, unknown>)) {
    try {
      payloads.push({ rel, data: await readMediumFile(dir, rel) });
    } catch (e) {
      throw new PrepareError(`${configFile}: the payload file:${rel} ${(e as Error).message}`);
    }
  }
  const name = /\.json$/i.test(basename(configFile)) || /^\s*\{/.test(text) ? 'config.json' : 'config.yaml';
  return { text: out, name, payloads, hashed, diagnostics: checked.diagnostics };
}

/** Every `password:` of a user (top level and `hosts:` entries) as a YAML pair. */
function plainPasswordNodes(text: string): Pair[] {
  const doc = parseDocument(text, { keepSourceTokens: false });
  const out: Pair[] = [];
  const usersOf = (m: unknown): void => {
    if (!isMap(m)) return;
    const users = (m as YAMLMap).get('users', true);
    if (!isSeq(users)) return;
    for (const u of users.items) {
      if (!isMap(u)) continue;
      for (const p of u.items) if (isScalar(p.key) && p.key.value === 'password') out.push(p);
    }
  };
  usersOf(doc.contents);
  const hosts = isMap(doc.contents) ? doc.contents.get('hosts', true) : undefined;
  if (isSeq(hosts)) for (const h of hosts.items) usersOf(h);
  return out;
}

/**
 * TEXT with each user's `password: PLAIN` turned into `password_hash: "HASH"` in
 * place; comments, quoting and layout elsewhere stay byte for byte.
 */
export function hashPasswords(text: string, hash: (plain: string) => string = hashPassword): { text: string; hashed: number } {
  const edits: Array<{ start: number; end: number; with: string }> = [];
  for (const p of plainPasswordNodes(text)) {
    const key = p.key as { range?: [number, number, number]; type?: string };
    const value = p.value;
    if (!isScalar(value) || typeof value.value !== 'string' || key.range == null || value.range == null) continue;
    const quoted = key.type === 'QUOTE_DOUBLE' ? '"password_hash"' : key.type === 'QUOTE_SINGLE' ? "'password_hash'" : 'password_hash';
    edits.push({ start: key.range[0], end: key.range[1], with: quoted });
    // Double-quoted is valid in YAML and JSON alike, and a crypt hash needs no escapes.
    edits.push({ start: value.range[0], end: value.range[1], with: JSON.stringify(hash(value.value)) });
  }
  edits.sort((a, b) => b.start - a.start);
  let out = text;
  for (const e of edits) out = out.slice(0, e.start) + e.with + out.slice(e.end);
  return { text: out, hashed: edits.length / 2 };
}

/**
 * The `file:` payloads a config names (files, container image archives, scripts; also
 * in `hosts:` entries), relative to its folder, each once, in the config's order.
 */
export function payloadPaths(config: Record<string, unknown>): string[] {
  const out = new Set<string>();
  const fromSection = (c: Record<string, unknown>): void => {
    for (const f of asList(c.files)) addSource(out, f.source);
    for (const s of asList(c.scripts)) addSource(out, s.source);
    for (const k of asList(c.containers)) if (typeof k.image_archive === 'string') out.add(k.image_archive);
  };
  fromSection(config);
  for (const h of asList(config.hosts)) fromSection(h);
  return [...out];
}

function addSource(out: Set<string>, source: unknown): void {
  if (typeof source === 'string' && source.startsWith('file:')) out.add(source.slice('file:'.length));
}

function asList(v: unknown): Array<Record<string, unknown>> {
  return Array.isArray(v) ? v.filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null) : [];
}
