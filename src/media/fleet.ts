/**
 * A fleet served by an ordinary web server: one flint config with `hosts:` entries
 * becomes one file per machine, laid out so that a kernel command line with a URL
 * template finds each machine's own (docs/fleet.md):
 *
 *   by-mac/52-54-00-12-34-56.yaml     flint.config=https://HOST/flint/by-mac/{mac}.yaml
 *   by-serial/10000000a1b2c3d4.yaml   .../by-serial/{serial}.yaml
 *   by-uuid/4c4c4544-....yaml         .../by-uuid/{uuid}.yaml
 *   default.yaml                      the top level alone, for machines no entry names
 *   index.json                        every file, its machine and digest
 *
 * Each file is the top level with the machine's entry merged in, exactly what flint
 * would apply from the shared config on that machine, with passwords already hashed; a
 * NAME.sha512 beside it (sha512sum -c reads it) and, signed, a NAME.sig that flint
 * fetches from the same URL with ".sig" added. Plain files: nginx, a CDN or object
 * storage serve them as they are.
 */
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import type { PathSeg } from '../config/diagnostics.js';
import { pointer } from '../config/diagnostics.js';
import { loadConfig } from '../config/load.js';
import type { LoadedConfig } from '../config/load.js';
import { mergeHost } from '../config/merge.js';
import { hyphenMac } from '../discover/url-template.js';
import type { PreparedConfig } from './prepare.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export class FleetError extends Error {}

export interface FleetFile {
  /** Path under the output folder, e.g. by-mac/52-54-00-12-34-56.yaml. */
  rel: string;
  text: string;
  /** Which machine: "mac 52:54:00:12:34:56", or "any other machine". */
  machine: string;
  /** hosts[i] it comes from; undefined for default.yaml. */
  host?: number;
  sha512: string;
}

const KEYS: ReadonlyArray<readonly [string, string, (v: string) => string]> = [
  ['mac', 'by-mac', (v) => hyphenMac(v)],
  ['serial', 'by-serial', (v) => v],
  ['machine_uuid', 'by-uuid', (v) => v.toLowerCase()],
];

/**
 * Modes as the config wrote them: the loader reads `mode: 0644` as the number 644 and
 * checks it against its source text, so a merged value written out again takes the text
 * ("0644") from the position it came from.
 */
function restoreModes(v: unknown, at: PathSeg[], origin: (p: PathSeg[]) => PathSeg[], loaded: LoadedConfig): unknown {
  if (Array.isArray(v)) return v.map((x, i) => restoreModes(x, [...at, i], origin, loaded));
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'mode' && typeof x === 'number') {
      out[k] = loaded.nodes.get(pointer(origin([...at, k])))?.raw ?? `0${String(x)}`;
    } else out[k] = restoreModes(x, [...at, k], origin, loaded);
  }
  return out;
}

function fileText(value: Obj, what: string, source: string): string {
  return `# ${what}, from ${source} by flint fleet build. Served as it is; do not edit.\n${stringify(value, { lineWidth: 0 })}`;
}

const sha512 = (text: string) => createHash('sha512').update(text).digest('hex');

/** The fleet's files for PREPARED (validated, passwords hashed) read from SOURCE. */
export function fleetFiles(prepared: PreparedConfig, source: string): FleetFile[] {
  if (prepared.payloads.length > 0) {
    throw new FleetError(`${source} names files on a medium (${prepared.payloads.map((p) => `file:${p.rel}`).join(', ')}); a config fetched over https has no medium: give them as https: sources with verify:, or as contents`);
  }
  const loaded = loadConfig(source, prepared.text);
  const top = loaded.value as Obj;
  const hosts = Array.isArray(top.hosts) ? top.hosts : [];
  const out: FleetFile[] = [];
  const seen = new Map<string, number>();
  hosts.forEach((h, i) => {
    const match = isObj(h) && isObj(h.match) ? h.match : {};
    const keys = Object.keys(match);
    if (keys.length !== 1) {
      throw new FleetError(`hosts[${i}] matches on ${keys.join(' and ')}: a machine finds its file by one of mac, serial or machine_uuid; give one (or serve the shared config itself, which matches on the machine)`);
    }
    const [key, folder, name] = KEYS.find(([k]) => k === keys[0])!;
    const value = String(match[key]);
    const rel = `${folder}/${name(value)}.yaml`;
    if (!/^[A-Za-z0-9._:-]+$/.test(name(value))) throw new FleetError(`hosts[${i}].match.${key}: "${value}" cannot be a file name on a web server`);
    const prev = seen.get(rel);
    if (prev !== undefined) throw new FleetError(`hosts[${i}] and hosts[${prev}] are for the same machine (${key} ${value}): flint applies only the first`);
    seen.set(rel, i);
    const merged = mergeHost(top, i);
    const origin = (p: PathSeg[]) => merged.origins.get(pointer(p)) ?? p;
    const text = fileText(restoreModes(merged.value, [], origin, loaded) as Obj, `The config of the machine with ${key} ${value}`, source);
    out.push({ rel, text, machine: `${key} ${value}`, host: i, sha512: sha512(text) });
  });
  const base: Obj = { ...top };
  delete base.hosts;
  const text = fileText(restoreModes(base, [], (p) => p, loaded) as Obj, 'The config of a machine no hosts entry names', source);
  out.push({ rel: 'default.yaml', text, machine: 'any other machine', sha512: sha512(text) });
  return out;
}

/** NAME.sha512 as sha512sum writes it. */
export function digestLine(f: FleetFile): string {
  return `${f.sha512}  ${f.rel.split('/').pop()!}\n`;
}
