/**
 * Reading payloads and downloading over https: the one place that does it, for config
 * sources, a config given by URL and a fleet server.
 *
 * Downloads: node:https with the system's CAs (plus `ca` when given), at most
 * `timeoutMs` (default 30 s) of silence per attempt, whether waiting for the connection,
 * the response or the next part of the body, so a dead server cannot stall first boot
 * while a large download that keeps arriving is not cut off. Failures that may pass
 * (network not up yet, timeouts, HTTP 5xx, 408, 429) are tried again with exponential
 * back-off (default 3 retries: after 0.5 s, 1 s and 2 s); an untrusted certificate, a
 * 4xx answer or an oversized payload fail at once. Redirects are followed to https
 * only, at most 10. No payload may exceed 512 MiB.
 *
 * Messages name a source without its user:password part and query string (presigned
 * URLs carry credentials there), and never quote the data.
 */
import { createRequire } from 'node:module';
import { open, realpath } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { Agent } from 'node:https';
import { proxyAgent } from './proxy-agent.js';

/** Largest payload flint reads or downloads, and largest decompressed file. */
export const MAX_PAYLOAD_BYTES = 512 * 1024 * 1024;
const MAX_REDIRECTS = 10;
export interface ResolveOptions {
  /** PEM certificate(s) of a CA to trust in addition to the system's. */
  ca?: string | Buffer;
  /** Longest silence per attempt, in ms. Default 30 000. */
  timeoutMs?: number;
  /** Attempts after the first. Default 3 (4 tries in all). */
  retries?: number;
  /** Wait before the first retry, in ms; it doubles for each next one. Default 500. */
  backoffMs?: number;
  /** Size limit per payload, in bytes. Default MAX_PAYLOAD_BYTES. */
  maxBytes?: number;
  /**
   * A total time bound, in ms: attempts go on (retries unbounded unless given) until the
   * next wait would pass it. For a config a fleet fetches, where a busy server should be
   * waited for, not given up on after four quick tries.
   */
  deadlineMs?: number;
  /** An http proxy that tunnels https (flint.proxy=), e.g. http://10.0.0.1:3128. */
  proxy?: string;
  /** Told before each wait: for a countdown on the console. */
  onRetry?: (r: { attempt: number; error: string; waitMs: number; leftMs?: number }) => void;
}

// Loaded on first use: `flint validate` must not pay for TLS at start-up.
const lazyRequire = createRequire(import.meta.url);
let httpsModule: typeof import('node:https') | undefined;
let tlsModule: typeof import('node:tls') | undefined;
function https(): typeof import('node:https') {
  httpsModule ??= lazyRequire('node:https') as typeof import('node:https');
  return httpsModule;
}
function tls(): typeof import('node:tls') {
  tlsModule ??= lazyRequire('node:tls') as typeof import('node:tls');
  return tlsModule;
}

/** The https Agent for OPTS: the extra CA, and the proxy tunnel when one is given. */
export function agentFor(opts: ResolveOptions): Agent {
  const options = { keepAlive: false, ...(opts.ca !== undefined ? { ca: [...tls().rootCertificates, String(opts.ca)] } : {}) };
  return opts.proxy !== undefined ? proxyAgent(opts.proxy, options) : new (https().Agent)(options);
}

export class SourceError extends Error {
  constructor(
    message: string,
    /** Whether another attempt may succeed. */
    readonly retry: boolean,
    readonly hint?: string,
    /** What the server's Retry-After asked for. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export function hintOf(e: unknown): { hint?: string } {
  return e instanceof SourceError && e.hint !== undefined ? { hint: e.hint } : {};
}

/**
 * A payload on the config's medium. The path is taken literally (no %-decoding) and
 * must stay inside the config's folder after every symbolic link is followed, so a
 * link on the medium cannot make flint copy the installer's own files into a target.
 */
export async function readMediumFile(configDir: string, rel: string, maxBytes = MAX_PAYLOAD_BYTES): Promise<Buffer> {
  if (rel === '' || isAbsolute(rel) || rel.split('/').includes('..')) {
    throw new SourceError('a file: source is a path relative to the config\'s folder, without ".."', false);
  }
  const base = await realpath(configDir);
  let real: string;
  try {
    real = await realpath(join(base, rel));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SourceError(code === 'ENOENT' ? `not found next to the config (in ${base})` : `cannot be read (${code ?? 'error'})`, false);
  }
  if (!real.startsWith(base + sep)) throw new SourceError('leads out of the config\'s folder through a symbolic link; flint reads payloads only from inside it', false, 'copy the file into the config\'s folder instead of linking to it');
  const fh = await open(real, 'r');
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new SourceError('is not a regular file', false);
    if (st.size > maxBytes) throw new SourceError(`is larger than the limit of ${formatBytes(maxBytes)}`, false);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** One https download with the same time bounds, retries and limits as config sources (used for a config given by URL). */
export async function downloadHttps(url: string, opts: ResolveOptions = {}): Promise<Buffer> {
  const agent = agentFor(opts);
  try {
    return await download(url, agent, opts, opts.maxBytes ?? MAX_PAYLOAD_BYTES);
  } finally {
    agent.destroy();
  }
}

/** A download with retries; the error of the last attempt says how many were made. */
export async function download(url: string, agent: Agent, opts: ResolveOptions, maxBytes: number): Promise<Buffer> {
  const retries = Math.max(0, opts.retries ?? (opts.deadlineMs !== undefined ? Infinity : 3));
  const backoff = opts.backoffMs ?? 500;
  const t0 = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetchOnce(new URL(url), agent, opts.timeoutMs ?? 30_000, maxBytes, MAX_REDIRECTS);
    } catch (e) {
      const err = e instanceof SourceError ? e : new SourceError((e as Error).message, true);
      const waitMs = retryDelay(backoff, attempt, err.retryAfterMs);
      const leftMs = opts.deadlineMs === undefined ? undefined : opts.deadlineMs - (Date.now() - t0);
      const late = leftMs !== undefined && waitMs >= leftMs;
      if (!err.retry || attempt >= retries || late) {
        if (attempt > 0 || late) err.message += ` (after ${attempt + 1} attempt${attempt === 0 ? '' : 's'}${late ? ` in ${Math.round((Date.now() - t0) / 1000)} s, at the deadline of ${Math.round(opts.deadlineMs! / 1000)} s` : ''})`;
        throw err;
      }
      opts.onRetry?.({ attempt: attempt + 1, error: err.message, waitMs, ...(leftMs !== undefined ? { leftMs } : {}) });
      await sleep(waitMs);
    }
  }
}

/** The longest wait a server's Retry-After may ask for: a first boot does not wait for minutes. */
const MAX_RETRY_AFTER_MS = 60_000;

/**
 * The wait before attempt ATTEMPT+1: the backoff doubling each time, spread by a random
 * factor of 0.5 to 1.5 so that a fleet that failed together does not come back together,
 * and never shorter than what the server asked for with Retry-After (capped).
 */
export function retryDelay(backoffMs: number, attempt: number, retryAfterMs?: number, random: () => number = Math.random): number {
  // Doubling stops at 30 s: a fleet waiting out a busy server asks again at least that often.
  const jittered = Math.round(Math.min(backoffMs * 2 ** attempt, 30_000) * (0.5 + random()));
  return Math.max(jittered, Math.min(retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
}

/** Retry-After as milliseconds: a number of seconds, or an HTTP date. */
export function parseRetryAfter(v: string | undefined, now = Date.now()): number | undefined {
  if (v === undefined) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function fetchOnce(url: URL, agent: Agent, timeoutMs: number, maxBytes: number, redirectsLeft: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const tooLarge = () => new SourceError(`the file is larger than the limit of ${formatBytes(maxBytes)}`, false);
    const req = https().get(url, { agent, headers: { 'user-agent': 'flint', 'accept-encoding': 'identity' } }, (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location !== undefined) {
        res.resume();
        req.destroy();
        if (redirectsLeft <= 0) return reject(new SourceError(`more than ${MAX_REDIRECTS} redirects`, false));
        let next: URL;
        try {
          next = new URL(res.headers.location, url);
        } catch {
          return reject(new SourceError('the server redirected to an invalid address', false));
        }
        if (next.protocol !== 'https:') return reject(new SourceError(`the server redirected to ${next.protocol} (only https is followed)`, false));
        fetchOnce(next, agent, timeoutMs, maxBytes, redirectsLeft - 1).then(resolve, reject);
        return;
      }
      if (status !== 200) {
        res.resume();
        const retry = status >= 500 || status === 408 || status === 429;
        return fail(new SourceError(`HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`, retry, undefined, parseRetryAfter(res.headers['retry-after'])));
      }
      if (Number(res.headers['content-length'] ?? 0) > maxBytes) return fail(tooLarge());
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) fail(tooLarge());
        else chunks.push(chunk);
      });
      const broken = () => fail(new SourceError('the connection broke off during the download', true));
      res.on('aborted', broken);
      res.on('error', broken);
      res.on('end', () => (res.complete ? resolve(Buffer.concat(chunks, size)) : broken()));
    });
    // The socket's idle timer covers connecting, the TLS handshake, the wait for the
    // answer and every gap in the body.
    req.setTimeout(timeoutMs, () => fail(new SourceError(`no answer for ${timeoutMs / 1000} s`, true)));
    req.on('error', (e: NodeJS.ErrnoException) => reject(describeError(e)));

    function fail(e: SourceError): void {
      // The first failure wins: the promise ignores later ones, e.g. from this destroy().
      reject(e);
      req.destroy();
    }
  });
}

/** Certificate checks that fail because of the machine's clock, common on a first boot without RTC. */
const CLOCK_CODES = new Set(['CERT_NOT_YET_VALID', 'CERT_HAS_EXPIRED']);
/** Other certificate check failures: trying again cannot help. */
const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|SIGNATURE/;

function describeError(e: NodeJS.ErrnoException): SourceError {
  const code = e.code ?? '';
  if (CLOCK_CODES.has(code)) {
    return new SourceError(`the server's certificate is not valid at this machine's time, ${new Date().toISOString()} (${code})`, false, 'a board without a battery-backed clock starts with a wrong date: set the clock (NTP) before downloading, or serve the file from the medium with file:');
  }
  if (TLS_CODES.test(code)) {
    return new SourceError(`the server's certificate is not trusted (${code})`, false, 'the certificate must be signed by a CA the system trusts, or by the CA given to flint');
  }
  return new SourceError(e.message, true);
}

/** The URL for messages: no user:password, no query or fragment. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search !== '' || u.hash !== '' ? '?…' : ''}`;
  } catch {
    return '(an invalid URL)';
  }
}

/**
 * The bytes of a `data:` URL (RFC 2397): %-escapes decoded, then base64 when the media
 * type part ends in `;base64`. Undefined when it is not a data URL or not valid base64.
 */
export function decodeDataUrl(url: string): Buffer | undefined {
  const m = /^data:([^,]*),(.*)$/is.exec(url);
  if (!m) return undefined;
  const body = percentDecode(m[2]!);
  if (!/;base64$/i.test(m[1]!)) return body;
  const b64 = body.toString('latin1').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 === 1) return undefined;
  return Buffer.from(b64, 'base64');
}

function percentDecode(s: string): Buffer {
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of s.matchAll(/%([0-9a-fA-F]{2})/g)) {
    parts.push(Buffer.from(s.slice(last, m.index), 'utf8'), Buffer.from([parseInt(m[1]!, 16)]));
    last = m.index + 3;
  }
  parts.push(Buffer.from(s.slice(last), 'utf8'));
  return Buffer.concat(parts);
}

export function formatBytes(n: number): string {
  return n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : `${n} bytes`;
}

export async function runLimited(jobs: ReadonlyArray<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) await jobs[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
