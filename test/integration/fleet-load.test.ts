/**
 * Issue 22 under load and faults. Debian's nginx on 127.0.0.1 (TLS, a throw-away CA)
 * serves a fleet of 200 configs built by `flint fleet build`, each naming the same
 * 256 KiB payload by https with verify:. 200 `flint run` processes start at once, each
 * with its own sysfs (its MAC), one kernel command line with flint.config=.../{mac}.yaml,
 * and its own small root: every one must apply its own config (host name, payload),
 * and nginx's access log must show each config fetched once and the payload once per
 * machine. The run prints p50 and p99 of the wall time and nginx's request count.
 *
 * Then a small proxy in front of nginx injects faults per machine: a 500 once, a 503
 * with Retry-After once, a reset connection once, a body cut short once (all of which
 * must end in the config applied once), and a redirect loop, a 404 and a payload whose
 * bytes do not match its verify: digest (which must stop before anything is written).
 * A server that does not answer at all (once) must be given up on after flint's 30 s
 * bound and asked again.
 *
 * Needs nginx (apt-get install nginx); no root beyond what nginx's workers need.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { createServer } from 'node:https';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, hostEnv, scratch } from '../helpers/host.js';
import { makePki } from '../helpers/pki.js';

const NGINX = '/usr/sbin/nginx';
const why = !existsSync(NGINX) ? 'nginx is not installed (apt-get install nginx)' : undefined;
if (why !== undefined) console.warn(`fleet load test skipped: ${why}`);

const { dir } = scratch('flint-fleet-load-');
const MACHINES = 200;
const PAYLOAD = Buffer.alloc(256 * 1024, 'flint fleet payload\n');
const payloadSha = createHash('sha256').update(PAYLOAD).digest('hex');

interface Run {
  code: number | null;
  out: string;
  err: string;
  ms: number;
}

function flint(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], { env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err, ms: Date.now() - t0 })));
}

const mac = (i: number) => `52:54:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
const hyphen = (m: string) => m.replace(/:/g, '-');

/** The fleet's config; its payload is at BASE/flint/FOLDERpayloads/common.bin. */
function fleetConfig(base: string, machines: number, folder = ''): string {
  // Machine 6 fetches the payload by its own URL (the query), so the fault proxy can hand it wrong bytes.
  const own = (i: number) => (i === 6 ? `    files:\n      - {path: /srv/payload.bin, source: "${base}/flint/${folder}payloads/common.bin?m=6"}\n` : '');
  const hosts = Array.from({ length: machines }, (_, i) => `  - match: {mac: "${mac(i)}"}\n    hostname: node-${String(i).padStart(3, '0')}\n${own(i)}`).join('');
  return `version: 1
hostname: node
files:
  - path: /srv/payload.bin
    source: ${base}/flint/${folder}payloads/common.bin
    verify: sha256-${payloadSha}
hosts:
${hosts}`;
}

function machine(i: number): { sys: string; root: string; work: string } {
  const sys = dir('sys');
  mkdirSync(join(sys, 'class/net/eth0'), { recursive: true });
  mkdirSync(join(sys, 'class/block'), { recursive: true });
  writeFileSync(join(sys, 'class/net/eth0/address'), `${mac(i)}\n`);
  const root = dir('root');
  mkdirSync(join(root, 'etc'));
  return { sys, root, work: dir('work') };
}

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

describe.skipIf(why !== undefined).sequential('a fleet of 200 from nginx, under load and faults', () => {
  const pki = makePki();
  const prefix = dir('nginx');
  const www = dir('www');
  let nginx: ChildProcess | undefined;
  let port = 0;
  const env = { ...hostEnv, NODE_EXTRA_CA_CERTS: join(prefix, 'ca.pem') };
  const cmdline = (base: string) => {
    const f = join(dir('cmdline'), 'cmdline');
    writeFileSync(f, `flint.config=${base}/by-mac/{mac}.yaml flint.timeout=0\n`);
    return f;
  };
  const runMachine = (i: number, base: string) => {
    const m = machine(i);
    return flint(['run', '--sysroot', m.root, '--cmdline', cmdline(base), '--sys', m.sys, '--fw-cfg', dir('fw'), '--work', m.work], env).then((r) => ({ ...r, ...m, i }));
  };

  beforeAll(async () => {
    writeFileSync(join(prefix, 'ca.pem'), pki.caPem);
    writeFileSync(join(prefix, 'server.pem'), pki.certPem);
    writeFileSync(join(prefix, 'server.key'), pki.keyPem, { mode: 0o600 });
    // The port first: nginx needs it in its config, and the configs need it in their payload URL.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const base = `https://127.0.0.1:${port}`;
    const src = join(dir('src'), 'fleet.yaml');
    writeFileSync(src, fleetConfig(base, MACHINES));
    const built = await flint(['fleet', 'build', src, '-o', join(www, 'flint')], hostEnv);
    if (built.code !== 0) throw new Error(`flint fleet build failed: ${built.err}`);
    mkdirSync(join(www, 'flint/payloads'), { recursive: true });
    writeFileSync(join(www, 'flint/payloads/common.bin'), PAYLOAD);
    writeFileSync(
      join(prefix, 'nginx.conf'),
      `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 2;
error_log ${prefix}/error.log;
pid ${prefix}/nginx.pid;
events { worker_connections 1024; }
http {
  access_log ${prefix}/access.log;
  client_body_temp_path ${prefix}/tmp; proxy_temp_path ${prefix}/tmp; fastcgi_temp_path ${prefix}/tmp; uwsgi_temp_path ${prefix}/tmp; scgi_temp_path ${prefix}/tmp;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${prefix}/server.pem;
    ssl_certificate_key ${prefix}/server.key;
    location /flint/ { alias ${www}/flint/; default_type text/plain; }
  }
}
`,
    );
    mkdirSync(join(prefix, 'tmp'), { recursive: true });
    nginx = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
    for (let t = 0; t < 100; t++) {
      const up = await new Promise<boolean>((resolve) => {
        const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
          s.end();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (up) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 120_000);

  afterAll(() => {
    nginx?.kill('SIGQUIT');
  });

  it(`${MACHINES} machines at once, one command line: each applies its own config, every file fetched once per machine`, async () => {
    const base = `https://127.0.0.1:${port}`;
    const t0 = Date.now();
    const runs = await Promise.all(Array.from({ length: MACHINES }, (_, i) => runMachine(i, `${base}/flint`)));
    const wall = Date.now() - t0;
    for (const r of runs) {
      expect(r.code, `machine ${r.i}: ${r.err}`).toBe(0);
      expect(readFileSync(join(r.root, 'etc/hostname'), 'utf8')).toBe(`node-${String(r.i).padStart(3, '0')}\n`);
      expect(createHash('sha256').update(readFileSync(join(r.root, 'srv/payload.bin'))).digest('hex')).toBe(payloadSha);
    }
    const log = readFileSync(join(prefix, 'access.log'), 'utf8').trim().split('\n');
    const paths = new Map<string, number>();
    for (const line of log) {
      const path = /"GET (\S+) HTTP/.exec(line)?.[1]?.replace(/\?.*/, '');
      if (path !== undefined) paths.set(path, (paths.get(path) ?? 0) + 1);
    }
    for (let i = 0; i < MACHINES; i++) expect(paths.get(`/flint/by-mac/${hyphen(mac(i))}.yaml`), `config of machine ${i}`).toBe(1);
    expect(paths.get('/flint/payloads/common.bin')).toBe(MACHINES);
    const ms = runs.map((r) => r.ms);
    const report = { machines: MACHINES, wall_ms: wall, p50_ms: percentile(ms, 50), p99_ms: percentile(ms, 99), nginx_requests: log.length, per_path: { configs: MACHINES, payload: paths.get('/flint/payloads/common.bin') } };
    console.log(`fleet load: ${JSON.stringify(report)}`);
    writeFileSync(join(dir('report'), 'fleet-load.json'), JSON.stringify(report, null, 2));
  }, 15 * 60_000);

  it('faults: 500, 503 with Retry-After, a reset, a cut body and a stalled server are retried into one apply; a redirect loop, a 404 and wrong bytes stop with nothing written', async () => {
    const upstream = `https://127.0.0.1:${port}`;
    const seen = new Map<string, number>();
    // The fault for a machine is in its config's path: machine i gets FAULTS[i].
    const FAULTS = ['500', '503', 'reset', 'cut', 'loop', '404', 'wrong', 'stall'] as const;
    const proxy = createTlsServerForProxy(pki, async (path, respond) => {
      const n = (seen.get(path) ?? 0) + 1;
      seen.set(path, n);
      const m = /by-mac\/52-54-00-00-00-([0-9a-f]{2})\.yaml$/.exec(path);
      const i = m === null ? -1 : parseInt(m[1]!, 16);
      const fault = FAULTS[i];
      if (fault === '500' && n === 1) return respond.status(500);
      if (fault === '503' && n === 1) return respond.status(503, { 'retry-after': '1' });
      if (fault === 'reset' && n === 1) return respond.reset();
      // No answer at all: flint's 30 s bound on a silent server ends the attempt.
      if (fault === 'stall' && n === 1) return respond.stall(45_000);
      if (fault === 'loop') return respond.status(302, { location: path });
      if (fault === '404') return respond.status(404);
      const up = await fetchUpstream(`${upstream}${path}`, pki.caPem);
      if (up.status !== 200) return respond.status(up.status);
      if (fault === 'cut' && n === 1) return respond.cut(up.body);
      if (path.endsWith('common.bin?m=6')) return respond.ok(Buffer.concat([up.body.subarray(0, -1), Buffer.from('X')]));
      return respond.ok(up.body);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    const base = `https://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    // Its own small fleet, whose payload URL leads through the proxy too.
    const src = join(dir('src'), 'faults.yaml');
    writeFileSync(src, fleetConfig(base, FAULTS.length, 'faults/'));
    const built = await flint(['fleet', 'build', src, '-o', join(www, 'flint/faults')], hostEnv);
    expect(built.code, built.err).toBe(0);
    mkdirSync(join(www, 'flint/faults/payloads'), { recursive: true });
    writeFileSync(join(www, 'flint/faults/payloads/common.bin'), PAYLOAD);
    try {
      const runs = await Promise.all(FAULTS.map((_, i) => runMachine(i, `${base}/flint/faults`)));
      for (const r of runs) {
        const fault = FAULTS[r.i]!;
        const applied = ['500', '503', 'reset', 'cut', 'stall'].includes(fault);
        expect(r.code, `${fault}: ${r.err}`).toBe(applied ? 0 : 1);
        if (applied) {
          expect(readFileSync(join(r.root, 'etc/hostname'), 'utf8')).toBe(`node-${String(r.i).padStart(3, '0')}\n`);
          expect(r.err).toMatch(/using https:/);
        } else {
          expect(readdirSync(join(r.root, 'etc'))).toEqual([]);
          expect(r.err).toMatch(fault === 'loop' ? /more than \d+ redirects/ : fault === '404' ? /HTTP 404/ : /does not match verify/);
        }
      }
      expect(seen.get('/flint/faults/by-mac/52-54-00-00-00-01.yaml')).toBe(2);
    } finally {
      proxy.close();
    }
  }, 5 * 60_000);
});

interface Respond {
  stall(ms: number): void;
  status(code: number, headers?: Record<string, string>): void;
  reset(): void;
  cut(body: Buffer): void;
  ok(body: Buffer): void;
}

/** An https server whose handler answers with one of the faults above. */
function createTlsServerForProxy(pki: { keyPem: string; certPem: string }, handle: (path: string, respond: Respond) => Promise<void> | void): ReturnType<typeof createServer> {
  return createServer({ key: pki.keyPem, cert: pki.certPem }, (req, res) => {
    const respond: Respond = {
      stall: (ms) => void setTimeout(() => req.socket.destroy(), ms).unref(),
      status: (code, headers = {}) => {
        res.writeHead(code, headers);
        res.end();
      },
      reset: () => req.socket.destroy(),
      cut: (body) => {
        res.writeHead(200, { 'content-length': String(body.length) });
        res.write(body.subarray(0, Math.floor(body.length / 2)));
        setTimeout(() => req.socket.destroy(), 50);
      },
      ok: (body) => {
        res.writeHead(200, { 'content-length': String(body.length) });
        res.end(body);
      },
    };
    void Promise.resolve(handle(req.url ?? '/', respond)).catch(() => respond.status(502));
  });
}

function fetchUpstream(url: string, ca: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, { ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    })
      .on('error', reject)
      .end();
  });
}

