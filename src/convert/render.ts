/**
 * Rendering a flint config for the engine a stock image already runs: validate, pick
 * the machine (hosts:), hash plain passwords, render, then read the result back with
 * flint's own reader of that format as a self-check. Losses come back as diagnostics at
 * their line in the flint file, before anything is written.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { dirname, resolve, sep } from 'node:path';
import type { Diagnostic, PathSeg } from '../config/diagnostics.js';
import { compareDiagnostics, formatDiagnostic } from '../config/diagnostics.js';
import { effectiveConfig, mergeHost, originOf } from '../config/merge.js';
import { validateText } from '../config/validate.js';
import type { FlintConfig } from '../config/validate.js';
import { hashPassword } from '../crypt/sha-crypt.js';
import { decodeDataUrl } from '../system/fetch.js';
import { fromCloudInit } from './cloudinit.js';
import { fromIgnition } from './ignition.js';
import type { SpecVersion } from './ignition-spec.js';
import { renderCloudInit } from './render-cloudinit.js';
import { renderIgnition } from './render-ignition.js';
import { lossDiagnostics } from './render-loss.js';
import type { RenderLoss } from './render-loss.js';

export const RENDER_TARGETS = ['ignition', 'cloud-init'] as const;
export type RenderTarget = (typeof RENDER_TARGETS)[number];

export interface RenderOptions {
  target: RenderTarget;
  /** A hosts: entry by index, or the MAC address, serial or machine UUID it matches. */
  host?: string;
  ignitionVersion?: SpecVersion;
  /** Hashes a plain password (tests pass a fixed salt). */
  hash?: (plain: string) => string;
}

/** One file of the rendering, relative to the medium's root. */
export interface RenderedFile {
  rel: string;
  text: string;
}

export interface RenderResult {
  /** Validation problems of the flint config; rendering happens only without errors. */
  diagnostics: Diagnostic[];
  /** What the engine cannot express, as warnings at their line in the flint file. */
  losses: Diagnostic[];
  /** Settings rendered by other means than a key of that engine (runcmd commands). */
  notes: string[];
  files: RenderedFile[];
  /** The spec version an Ignition rendering uses. */
  version?: string;
}

export class RenderError extends Error {}

export function renderConfigFile(file: string, opts: RenderOptions, text: string = readFileSync(file, 'utf8')): RenderResult {
  const v = validateText(file, text);
  if (v.config === undefined) return { diagnostics: v.diagnostics, losses: [], notes: [], files: [] };
  const picked = pickHost(v.config, opts.host);
  const config = hashed(picked.config, opts.hash ?? hashPassword);
  const read = payloadReader(file);
  checkVerify(config, read);
  const rendered = renderFor(opts, config, read);
  // In the order of the file, as the validator reports.
  const losses = lossDiagnostics(v.loaded, [...picked.losses, ...rendered.losses], picked.origin).sort(compareDiagnostics);
  return { diagnostics: v.diagnostics, losses, notes: rendered.notes, files: rendered.files, ...(rendered.version !== undefined ? { version: rendered.version } : {}) };
}

function renderFor(opts: RenderOptions, config: FlintConfig, read: (rel: string) => Buffer): { files: RenderedFile[]; losses: RenderLoss[]; notes: string[]; version?: string } {
  if (opts.target === 'ignition') {
    const r = renderIgnition(config, { read, ...(opts.ignitionVersion !== undefined ? { version: opts.ignitionVersion } : {}) });
    const text = JSON.stringify(r.config, null, 2) + '\n';
    selfCheck('Ignition', fromIgnition('config.ign', text).diagnostics);
    return { files: [{ rel: 'ignition/config.ign', text }], losses: r.losses, notes: [], version: r.version };
  }
  const r = renderCloudInit(config, { read });
  const files: RenderedFile[] = [{ rel: 'user-data', text: r.userData }, { rel: 'meta-data', text: r.metaData }];
  if (r.networkConfig !== undefined) files.push({ rel: 'network-config', text: r.networkConfig });
  const seed = { userData: { file: 'user-data', text: r.userData }, metaData: { file: 'meta-data', text: r.metaData }, ...(r.networkConfig !== undefined ? { networkConfig: { file: 'network-config', text: r.networkConfig } } : {}) };
  selfCheck('cloud-init', fromCloudInit(seed).diagnostics);
  return { files, losses: r.losses, notes: r.notes };
}

/** A rendering flint's own reader refuses is flint's bug, not the user's: say so plainly. */
function selfCheck(engine: string, diagnostics: readonly Diagnostic[]): void {
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new RenderError(`the rendered ${engine} config does not pass flint's own ${engine} reader (a bug in flint):\n${errors.map((d) => formatDiagnostic(d, { color: false })).join('\n')}`);
}

interface Picked {
  config: FlintConfig;
  losses: RenderLoss[];
  origin: (p: PathSeg[]) => PathSeg[];
}

/** The config for one machine: without --host, hosts: entries cannot be rendered into one file and are losses. */
function pickHost(config: FlintConfig, host: string | undefined): Picked {
  const top = config as unknown as Record<string, unknown>;
  const hosts = config.hosts ?? [];
  if (host === undefined) {
    const { hosts: _hosts, ...rest } = config;
    void _hosts;
    const losses = hosts.map((_, i): RenderLoss => ({ path: ['hosts', i], what: 'per-machine overrides (hosts:) cannot go into one config for every machine: this entry is not rendered', workaround: `render one medium per machine with --host ${i}` }));
    return { config: rest as FlintConfig, losses, origin: (p) => p };
  }
  const index = /^[0-9]+$/.test(host) ? Number(host) : matchIndex(top, host);
  if (index === undefined || index >= hosts.length) throw new RenderError(`--host ${host}: no hosts: entry ${/^[0-9]+$/.test(host) ? `with index ${host} (the config has ${hosts.length})` : 'matches it (give an index, a MAC address, a serial or a machine UUID)'}`);
  const merged = mergeHost(top, index);
  return { config: merged.value as unknown as FlintConfig, losses: [], origin: (p) => originOf(merged.origins, p) };
}

function matchIndex(top: Record<string, unknown>, value: string): number | undefined {
  return effectiveConfig(top, { macs: [value], serial: value, machineUuid: value }).host;
}

/** Plain passwords hashed (SHA-512 crypt), as on any medium flint writes. */
function hashed(config: FlintConfig, hash: (plain: string) => string): FlintConfig {
  if (!(config.users ?? []).some((u) => u.password !== undefined)) return config;
  const users = (config.users ?? []).map((u) => {
    if (u.password === undefined) return u;
    const { password, ...rest } = u;
    return { ...rest, password_hash: hash(password) };
  });
  return { ...config, users };
}

/**
 * `verify` of a file whose data goes into the rendering inline: checked now, as flint
 * apply would check it, since the engine gets the data itself and nothing to check.
 */
function checkVerify(config: FlintConfig, read: (rel: string) => Buffer): void {
  (config.files ?? []).forEach((f, i) => {
    if (f.verify === undefined || f.source === undefined || /^https:/i.test(f.source)) return;
    let data = f.source.startsWith('file:') ? read(f.source.slice('file:'.length)) : decodeDataUrl(f.source);
    if (data === undefined) return;
    if (f.compression === 'gzip') data = gunzipSync(data);
    const [algo, hex] = f.verify.split('-') as [string, string];
    const got = createHash(algo).update(data).digest('hex');
    if (got !== hex.toLowerCase()) throw new RenderError(`files[${i}] (${f.path}): its data does not match verify (the ${algo} is ${got}); nothing was written`);
  });
}

/** `file:` payloads, relative to the config's folder and never outside it. */
function payloadReader(file: string): (rel: string) => Buffer {
  const dir = resolve(dirname(file));
  return (rel) => {
    const p = resolve(dir, rel);
    if (p !== dir && !p.startsWith(dir + sep)) throw new RenderError(`file:${rel} lies outside the config's folder`);
    try {
      return readFileSync(p);
    } catch (e) {
      throw new RenderError(`the payload file:${rel} cannot be read: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
  };
}

