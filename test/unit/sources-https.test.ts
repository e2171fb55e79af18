/**
 * https sources against a local server whose certificate comes from a CA made here with
 * node-forge: trusted only when that CA is given, retried after a 503, bounded when
 * the server never answers, and checked against verify by the files step.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlintConfig } from '../../src/config/validate.js';
import { planSteps } from '../../src/engine/plan.js';
import type { StepContext } from '../../src/engine/plan.js';
import { filesStep } from '../../src/steps/files.js';
import { resolveSources } from '../../src/steps/sources.js';
import { TargetRoot } from '../../src/target/root.js';
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

  it('makes 4 attempts by default, waiting twice as long each time', async () => {
    const t0 = Date.now();
    const r = await resolveSources(config({ path: '/a', source: `${base}/down`, verify: sha256(BODY) }), dir, { ca: pki.caPem, backoffMs: 40 });
    expect(hits.get('/down')).toBe(4);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40 + 80 + 160);
    expect(r.problems[0]!.message).toMatch(/: HTTP 503 Service Unavailable \(after 4 attempts\)$/);
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
    const ctx: StepContext = {
      root: new TargetRoot(dir),
      config: files,
      configDir: dir,
      today: 0,
      ids: { users: new Map(), groups: new Map() },
      homes: new Map(),
      payloads: r.payloads,
    };
    const plan = planSteps(ctx, [filesStep]);
    expect(plan.problems).toEqual([expect.objectContaining({ path: ['files', 1, 'verify'], message: expect.stringMatching(/^the data of https:\/\/127\.0\.0\.1:\d+\/file does not match verify: its sha256 is [0-9a-f]{64}$/) })]);
    const written = plan.planned.filter((p) => p.action.kind === 'file');
    expect(written.map((p) => p.action.path)).toEqual(['/etc/good']);
    expect(written[0]!.action.kind === 'file' && written[0]!.action.data.toString()).toBe(BODY);
  });
});
