/**
 * File payloads that planning cannot read itself. Planning is synchronous and reads only
 * the target, so before it runs every `https://` source is downloaded and every `file:`
 * payload is read from the config's medium; the steps then take the bytes from their
 * context's payloads, keyed by the source string exactly as the config writes it.
 * Which values are sources, each step says itself (Step.sources, gathered by index.ts).
 */
import type { FlintConfig } from '../config/validate.js';
import type { PathSeg } from '../config/diagnostics.js';
import type { Problem } from '../engine/step.js';
import { configSources } from './index.js';
import { agentFor, download, hintOf, MAX_PAYLOAD_BYTES, readMediumFile, redactUrl, runLimited } from '../system/fetch.js';
import type { ResolveOptions } from '../system/fetch.js';
import type { Agent } from 'node:https';

/** Downloads at the same time: enough to overlap latency, few enough for a small board. */
const PARALLEL = 4;

export interface ResolvedSources {
  payloads: Map<string, Buffer>;
  problems: Problem[];
}

/** Every `file:` and `https:` source of the config (as its steps name them), read or downloaded. */
export async function resolveSources(config: FlintConfig, configDir: string, opts: ResolveOptions = {}): Promise<ResolvedSources> {
  const uses = new Map<string, PathSeg[]>();
  for (const u of configSources(config as unknown as Record<string, unknown>)) if (!uses.has(u.source)) uses.set(u.source, u.path);
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
 * The `file:` payloads a config names (each step says which of its values are sources;
 * `hosts:` entries included), relative to its folder, each once, in the config's order.
 */
export function payloadPaths(config: Record<string, unknown>): string[] {
  const out = new Set<string>();
  const sections = [config, ...(Array.isArray(config.hosts) ? config.hosts.filter((h): h is Record<string, unknown> => typeof h === 'object' && h !== null) : [])];
  for (const s of sections) for (const u of configSources(s)) if (u.source.startsWith('file:')) out.add(u.source.slice('file:'.length));
  return [...out];
}
