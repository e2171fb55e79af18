/**
 * File payloads that planning cannot read itself. Planning is synchronous and reads only
 * the target, so before it runs every `https://` source is downloaded and every `file:`
 * payload is read from the config's medium; the steps then take the bytes from their
 * context's payloads, keyed by the source string exactly as the config writes it.
 * Which values are sources, each step says itself (Step.sources).
 */
import type { FlintConfig } from '../../config/validate.js';
import type { PathSeg } from '../../config/diagnostics.js';
import type { Problem } from '../../engine/plan.js';
import { agentFor, download, hintOf, MAX_PAYLOAD_BYTES, readMediumFile, redactUrl, runLimited } from '../../system/fetch.js';
import type { ResolveOptions } from '../../system/fetch.js';
import type { Agent } from 'node:https';

/** Downloads at the same time: enough to overlap latency, few enough for a small board. */
const PARALLEL = 4;

export interface ResolvedSources {
  payloads: Map<string, Buffer>;
  problems: Problem[];
}

/** Every `file:` and `https:` source of the config (files and scripts), read or downloaded. */
export async function resolveSources(config: FlintConfig, configDir: string, opts: ResolveOptions = {}): Promise<ResolvedSources> {
  const uses = new Map<string, PathSeg[]>();
  (config.files ?? []).forEach((f, i) => {
    if (f.source !== undefined && !uses.has(f.source)) uses.set(f.source, ['files', i, 'source']);
  });
  (config.containers ?? []).forEach((c, i) => {
    const s = c.image_archive === undefined ? undefined : `file:${c.image_archive}`;
    if (s !== undefined && !uses.has(s)) uses.set(s, ['containers', i, 'image_archive']);
  });
  (config.scripts ?? []).forEach((s, i) => {
    if (s.source !== undefined && !uses.has(s.source)) uses.set(s.source, ['scripts', i, 'source']);
  });
  (config.packages?.files ?? []).forEach((f, i) => {
    if (!uses.has(f)) uses.set(f, ['packages', 'files', i]);
  });
  (config.ca_certificates ?? []).forEach((c, i) => {
    if (c.source !== undefined && !uses.has(c.source)) uses.set(c.source, ['ca_certificates', i, 'source']);
  });
  const payloads = new Map<string, Buffer>();
  // One slot per source, so problems keep the config's order whatever finishes first.
  const found: Array<Problem | undefined> = [];
  const maxBytes = opts.maxBytes ?? MAX_PAYLOAD_BYTES;
  let agent: Agent | undefined;
  const jobs: Array<() => Promise<void>> = [];
  for (const [source, path] of uses) {
    const slot = found.push(undefined) - 1;
    if (source.startsWith('file:')) {
      jobs.push(async () => {
        try {
          payloads.set(source, await readMediumFile(configDir, source.slice('file:'.length), maxBytes));
        } catch (e) {
          found[slot] = { path, message: `${source}: ${(e as Error).message}`, ...hintOf(e) };
        }
      });
    } else if (/^https:/i.test(source)) {
      agent ??= agentFor(opts);
      const a = agent;
      jobs.push(async () => {
        try {
          payloads.set(source, await download(source, a, opts, maxBytes));
        } catch (e) {
          found[slot] = { path, message: `could not download ${redactUrl(source)}: ${(e as Error).message}`, ...hintOf(e) };
        }
      });
    }
  }
  try {
    await runLimited(jobs, PARALLEL);
  } finally {
    agent?.destroy();
  }
  return { payloads, problems: found.filter((p): p is Problem => p !== undefined) };
}

/**
 * The `file:` payloads a config names (files, container image archives, scripts, CA
 * certificates, package files; also
 * in `hosts:` entries), relative to its folder, each once, in the config's order.
 */
export function payloadPaths(config: Record<string, unknown>): string[] {
  const out = new Set<string>();
  const fromSection = (c: Record<string, unknown>): void => {
    for (const f of asList(c.files)) addSource(out, f.source);
    for (const s of asList(c.scripts)) addSource(out, s.source);
    for (const a of asList(c.ca_certificates)) addSource(out, a.source);
    const pk = c.packages;
    if (typeof pk === 'object' && pk !== null && Array.isArray((pk as Record<string, unknown>).files)) for (const f of (pk as Record<string, unknown[]>).files!) addSource(out, f);
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
