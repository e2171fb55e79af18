/**
 * https sources against a local server whose certificate comes from a CA made here with
 * node-forge: trusted only when that CA is given, retried after a 503, bounded when
 * the server never answers, and checked against verify by the files step.
 */
import { stepContext } from '../helpers/step-context.js';
import { createHash } from 'node:crypto';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { parseCmdline } from '../../src/discover/cmdline.js';
import type { FlintConfig } from '../../src/config/validate.js';
import { planSteps } from '../../src/engine/plan.js';
import type { StepContext } from '../../src/engine/step.js';
import { filesStep } from '../../src/steps/files/step.js';
import { resolveSources } from '../../src/steps/payloads.js';
import { downloadHttps, parseRetryAfter, retryDelay } from '../../src/system/fetch.js';
import { makePki } from '../helpers/pki.js';
import type { Pki } from '../helpers/pki.js';

const BODY = 'served over https\n';
const sha256 = (b: Buffer | string) => `sha256-${createHash('sha256').update(b).digest('hex')}`;

describe('https sources', () => {
  let pki: Pki;
  let server: Server;
  let base: string;
  const hits = new Map<string, number>();
  let dir: string;

  beforeAll(async () => {
    pki = makePki();
    dir = mkdtempSync(join(tmpdir(), 'flint-https-'));
    server = createServer({ key: pki.keyPem, cert: pki.certPem }, (req, res) => {
      const url = (req.url ?? '/').replace(/\?.*/, '');
      const n = (hits.get(url) ?? 0) + 1;
      hits.set(url, n);
      if (url === '/file') res.end(BODY);
      else if (url === '/file.gz') res.end(gzipSync(BODY));
      else if (url === '/flaky' && n === 1) {
        res.statusCode = 503;
        res.end('try later');
      } else if (url === '/flaky') res.end(BODY);
      else if (url === '/busy' && n === 1) {
        res.writeHead(503, { 'retry-after': '1' });
        res.end();
      } else if (url === '/busy') res.end(BODY);
      else if (url === '/down') {
        res.statusCode = 503;
        res.end('down');
      }
      else if (url === '/redirect') {
        res.writeHead(302, { location: '/file' });
        res.end();
      } else if (url === '/to-http') {
        res.writeHead(302, { location: 'http://127.0.0.1/file' });
        res.end();
      } else if (url === '/hang') {
        // Never answers: the client's timeout must end the wait.
      } else {
        res.statusCode = 404;
        res.end('no');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const config = (...files: NonNullable<FlintConfig['files']>): FlintConfig => ({ version: 1, files });

  it('downloads with the given CA, and follows a redirect', async () => {
    const r = await resolveSources(config({ path: '/a', source: `${base}/file`, verify: sha256(BODY) }, { path: '/b', source: `https://localhost:${new URL(base).port}/redirect`, verify: sha256(BODY) }), dir, { ca: pki.caPem });
    expect(r.problems).toEqual([]);
    expect(r.payloads.get(`${base}/file`)?.toString()).toBe(BODY);
    expect([...r.payloads.values()].map((b) => b.toString())).toEqual([BODY, BODY]);
  });

  it('refuses the server without its CA, at once and with a hint', async () => {
    const t0 = Date.now();
    const r = await resolveSources(config({ path: '/a', source: `${base}/file`, verify: sha256(BODY) }), dir, { backoffMs: 2_000 });
    expect(Date.now() - t0).toBeLessThan(1_500); // no retries: another try cannot help
    expect(r.payloads.size).toBe(0);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]!.message).toMatch(/^could not download https:\/\/127\.0\.0\.1:\d+\/file: the server's certificate is not trusted \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)$/);
    expect(r.problems[0]!.hint).toMatch(/CA/);
  });

  it('tries again after a 503', async () => {
    hits.delete('/flaky');
    const r = await resolveSources(config({ path: '/a', source: `${base}/flaky`, verify: sha256(BODY) }), dir, { ca: pki.caPem, backoffMs: 50 });
    expect(r.problems).toEqual([]);
    expect(r.payloads.get(`${base}/flaky`)?.toString()).toBe(BODY);
    expect(hits.get('/flaky')).toBe(2);
  });

  it('makes 4 attempts by default, waiting twice as long each time (spread by half either way)', async () => {
    const t0 = Date.now();
    const r = await resolveSources(config({ path: '/a', source: `${base}/down`, verify: sha256(BODY) }), dir, { ca: pki.caPem, backoffMs: 40 });
    expect(hits.get('/down')).toBe(4);
    expect(Date.now() - t0).toBeGreaterThanOrEqual((40 + 80 + 160) / 2);
    expect(r.problems[0]!.message).toMatch(/: HTTP 503 Service Unavailable \(after 4 attempts\)$/);
  });

  it('the wait: doubling, jittered by 0.5 to 1.5, never shorter than Retry-After (capped at 60 s)', () => {
    expect([0, 1, 2].map((a) => retryDelay(500, a, undefined, () => 0))).toEqual([250, 500, 1000]);
    expect([0, 1, 2].map((a) => retryDelay(500, a, undefined, () => 0.999999))).toEqual([750, 1500, 3000]);
    expect(retryDelay(500, 0, 5_000, () => 0.5)).toBe(5_000);
    expect(retryDelay(500, 0, 3_600_000, () => 0.5)).toBe(60_000);
    expect(parseRetryAfter('7')).toBe(7_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });

  it('waits as long as a 503\'s Retry-After asks before the next attempt', async () => {
    const t0 = Date.now();
    const r = await resolveSources(config({ path: '/a', source: `${base}/busy`, verify: sha256(BODY) }), dir, { ca: pki.caPem, backoffMs: 10 });
    expect(r.problems).toEqual([]);
    expect(hits.get('/busy')).toBe(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000);
  });

  it('with a deadline, asks again until the next wait would pass it, telling each wait', async () => {
    const waits: Array<{ attempt: number; leftMs?: number }> = [];
    const t0 = Date.now();
    await expect(downloadHttps(`${base}/down`, { ca: pki.caPem, backoffMs: 100, deadlineMs: 1_500, onRetry: (r) => waits.push(r) })).rejects.toThrow(/HTTP 503 Service Unavailable \(after \d+ attempts in \d+ s, at the deadline of 2 s\)$/);
    expect(Date.now() - t0).toBeLessThan(1_500 + 500);
    expect(waits.length).toBeGreaterThanOrEqual(3);
    expect(waits.map((w) => w.attempt)).toEqual(waits.map((_, i) => i + 1));
    expect(waits.every((w) => w.leftMs !== undefined && w.leftMs > 0 && w.leftMs <= 1_500)).toBe(true);
  });

  it('through an http proxy (flint.proxy=): a CONNECT tunnel, TLS end to end; a refusing proxy is a clear error', async () => {
    const connects: string[] = [];
    const proxy = createHttpServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      connects.push(`${req.url ?? ''} ${String(req.headers['proxy-authorization'] ?? '')}`);
      if (req.url?.endsWith(':1')) {
        socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
        return;
      }
      const [host, port] = (req.url ?? '').split(':');
      const up = netConnect(Number(port), host!, () => {
        socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
        up.write(head);
        up.pipe(socket);
        socket.pipe(up);
      });
      up.on('error', () => socket.destroy());
      socket.on('error', () => up.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const via = `http://fleet:s3cret@127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const data = await downloadHttps(`${base}/file`, { ca: pki.caPem, proxy: via });
      expect(data.toString()).toBe(BODY);
      expect(connects).toEqual([`${base.replace('https://', '')} Basic ${Buffer.from('fleet:s3cret').toString('base64')}`]);
      await expect(downloadHttps('https://127.0.0.1:1/file', { ca: pki.caPem, proxy: via, retries: 0 })).rejects.toThrow(/the proxy 127\.0\.0\.1:\d+ answered 403 to CONNECT 127\.0\.0\.1:1/);
    } finally {
      proxy.close();
    }
    expect(parseCmdline('flint.proxy=http://p:3128').proxy).toBe('http://p:3128');
    expect(parseCmdline('flint.proxy=socks5://u:secret@p:1080').problems).toEqual(['flint.proxy=socks5://u:***@p:1080: expected http://HOST:PORT (an http proxy that tunnels with CONNECT); ignored']);
  });

  it('does not retry a 404, and counts the attempts of a failure that may pass', async () => {
    const r = await resolveSources(config({ path: '/a', source: `${base}/nothing`, verify: sha256(BODY) }), dir, { ca: pki.caPem, backoffMs: 50 });
    expect(r.problems[0]!.message).toMatch(/: HTTP 404 Not Found$/);
    expect(hits.get('/nothing')).toBe(1);
  });

  it('gives up on a server that never answers, within the bounds set', async () => {
    const t0 = Date.now();
    const r = await resolveSources(config({ path: '/a', source: `${base}/hang`, verify: sha256(BODY) }), dir, { ca: pki.caPem, timeoutMs: 300, retries: 1, backoffMs: 50 });
    const took = Date.now() - t0;
    expect(r.problems[0]!.message).toMatch(/no answer for 0\.3 s \(after 2 attempts\)$/);
    expect(took).toBeGreaterThanOrEqual(600);
    expect(took).toBeLessThan(3_000);
  });

  it('refuses a redirect to plain http, and a payload over the size limit', async () => {
    const r = await resolveSources(config({ path: '/a', source: `${base}/to-http`, verify: sha256(BODY) }, { path: '/b', source: `${base}/file?big`, verify: sha256(BODY) }), dir, { ca: pki.caPem, maxBytes: 4 });
    expect(r.problems.map((p) => p.message.replace(/^could not download \S+: /, ''))).toEqual(['the server redirected to http: (only https is followed)', 'the file is larger than the limit of 4 bytes']);
  });

  it('feeds the files step, which checks verify on the unpacked data', async () => {
    const files = config(
      { path: '/etc/good', source: `${base}/file.gz`, compression: 'gzip', verify: sha256(BODY) },
      { path: '/etc/bad', source: `${base}/file`, verify: sha256('tampered') },
    );
    const r = await resolveSources(files, dir, { ca: pki.caPem });
    expect(r.problems).toEqual([]);
    const ctx: StepContext = stepContext(dir, files, { payloads: r.payloads });
    const plan = planSteps(ctx, [filesStep]);
    expect(plan.problems).toEqual([expect.objectContaining({ path: ['files', 1, 'verify'], message: expect.stringMatching(/^the data of https:\/\/127\.0\.0\.1:\d+\/file does not match verify: its sha256 is [0-9a-f]{64}$/) })]);
    const written = plan.planned.filter((p) => p.action.kind === 'file');
    expect(written.map((p) => p.action.path)).toEqual(['/etc/good']);
    expect(written[0]!.action.kind === 'file' && written[0]!.action.data.toString()).toBe(BODY);
  });
});
