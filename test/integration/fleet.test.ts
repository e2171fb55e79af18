/**
 * Issue 22, first part, end to end with the bundle: `flint fleet build --sign` lays a
 * fleet out as plain files; a static https server (no flint code in it) serves the
 * folder; `flint run` on three "machines" (a sysfs with their MAC, or their DMI serial)
 * boots with one kernel command line whose flint.config= is a URL template, fetches its
 * own file and its signature, and applies it under flint.trust=required. A machine the
 * fleet does not know gets a 404 and stops before anything is written. No root needed.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, hostEnv, scratch } from '../helpers/host.js';
import { issue, makePki } from '../helpers/pki.js';

const { dir } = scratch('flint-fleet-');

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function flint(args: string[], env: NodeJS.ProcessEnv = hostEnv): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], { env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

const FLEET = `version: 1
hostname: node
files:
  - path: /etc/motd
    mode: 0644
    contents: "fleet node\\n"
hosts:
  - match: {mac: "52:54:00:00:00:01"}
    hostname: node-01
  - match: {mac: "52:54:00:00:00:02"}
    hostname: node-02
  - match: {serial: "SN-0003"}
    hostname: node-03
`;

/** A machine's sysfs: one interface with MAC, and a DMI serial. */
function sysfs(mac: string, serial?: string): string {
  const d = dir('sys');
  mkdirSync(join(d, 'class/net/eth0'), { recursive: true });
  writeFileSync(join(d, 'class/net/eth0/address'), `${mac}\n`);
  mkdirSync(join(d, 'class/block'), { recursive: true });
  if (serial !== undefined) {
    mkdirSync(join(d, 'class/dmi/id'), { recursive: true });
    writeFileSync(join(d, 'class/dmi/id/product_serial'), `${serial}\n`);
  }
  return d;
}

describe('a fleet from one static web server', () => {
  const ca = issue({ subject: 'fleet CA', ca: true });
  const signer = issue({ subject: 'fleet signer', issuer: ca, extKeyUsage: ['codeSigning'] });
  const tls = makePki();
  const served = join(dir('www'), 'flint');
  const requests: string[] = [];
  let port = 0;
  let server: ReturnType<typeof createServer>;
  const files = { key: join(dir('keys'), 'signer.key'), cert: '', ca: '', tlsCa: '' };
  const trustDir = dir('trust');

  beforeAll(async () => {
    files.cert = join(dirname(files.key), 'signer.pem');
    files.tlsCa = join(dirname(files.key), 'tls-ca.pem');
    writeFileSync(files.key, signer.keyPem, { mode: 0o600 });
    writeFileSync(files.cert, signer.certPem);
    writeFileSync(files.tlsCa, tls.caPem);
    writeFileSync(join(trustDir, 'fleet-ca.pem'), ca.certPem);
    // A file server and nothing else: GET of a path under the folder, 404 otherwise.
    server = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
      requests.push(req.url ?? '');
      const rel = normalize(decodeURIComponent((req.url ?? '/').split('?')[0]!)).replace(/^(\.\.(\/|$))+/, '');
      const p = join(served, '..', rel);
      if (!p.startsWith(join(served, '..')) || !existsSync(p)) {
        res.statusCode = 404;
        res.end('not found\n');
        return;
      }
      res.end(readFileSync(p));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(() => server?.close());

  it('flint fleet build --sign writes one signed file per machine, digests and an index', async () => {
    const config = join(dir('src'), 'fleet.yaml');
    writeFileSync(config, FLEET);
    const r = await flint(['fleet', 'build', config, '-o', served, '--sign', '--key', files.key, '--cert', files.cert]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/wrote 4 configs to .* \(with \.sha512 and \.sig files and index\.json\)/);
    for (const rel of ['by-mac/52-54-00-00-00-01.yaml', 'by-mac/52-54-00-00-00-02.yaml', 'by-serial/SN-0003.yaml', 'default.yaml']) {
      const text = readFileSync(join(served, rel), 'utf8');
      const digest = readFileSync(join(served, `${rel}.sha512`), 'utf8');
      expect(digest).toBe(`${createHash('sha512').update(text).digest('hex')}  ${rel.split('/').pop()!}\n`);
      expect(existsSync(join(served, `${rel}.sig`))).toBe(true);
    }
    const index = JSON.parse(readFileSync(join(served, 'index.json'), 'utf8')) as { files: Array<{ file: string; machine: string; signed: boolean }> };
    expect(index.files.map((f) => [f.file, f.machine, f.signed])).toEqual([
      ['by-mac/52-54-00-00-00-01.yaml', 'mac 52:54:00:00:00:01', true],
      ['by-mac/52-54-00-00-00-02.yaml', 'mac 52:54:00:00:00:02', true],
      ['by-serial/SN-0003.yaml', 'serial SN-0003', true],
      ['default.yaml', 'any other machine', true],
    ]);
    const again = await flint(['fleet', 'build', config, '-o', served]);
    expect(again.code).toBe(2);
    expect(again.err).toContain('exists and is not empty: give --force');
  });

  it('one kernel command line for every machine: each fetches its own signed file and applies it', async () => {
    const env = { ...hostEnv, NODE_EXTRA_CA_CERTS: files.tlsCa };
    const machines = [
      { sys: sysfs('52:54:00:00:00:01'), url: 'by-mac/{mac}.yaml', hostname: 'node-01' },
      { sys: sysfs('52:54:00:00:00:02'), url: 'by-mac/{mac}.yaml', hostname: 'node-02' },
      { sys: sysfs('52:54:00:00:00:99', 'SN-0003'), url: 'by-serial/{serial}.yaml', hostname: 'node-03' },
    ];
    const runs = await Promise.all(
      machines.map(async (m) => {
        const root = dir('root');
        mkdirSync(join(root, 'etc'));
        const cmdline = join(dir('cmdline'), 'cmdline');
        writeFileSync(cmdline, `flint.config=https://127.0.0.1:${port}/flint/${m.url} flint.trust=required flint.timeout=0\n`);
        const r = await flint(['run', '--sysroot', root, '--cmdline', cmdline, '--sys', m.sys, '--fw-cfg', dir('fw'), '--work', dir('work'), '--trust-dir', trustDir], env);
        return { m, root, r };
      }),
    );
    for (const { m, root, r } of runs) {
      expect(r.code, r.err + r.out).toBe(0);
      expect(r.err).toMatch(/flint\.config: https:\/\/127\.0\.0\.1:\d+\/flint\/by-(mac|serial)\/\{(mac|serial)\}\.yaml is https:\/\/127\.0\.0\.1:\d+\/flint\/by-(mac|serial)\/[^ ]+\.yaml for this machine/);
      expect(r.err).toMatch(/config signed by "fleet signer"/);
      expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe(`${m.hostname}\n`);
      expect(readFileSync(join(root, 'etc/motd'), 'utf8')).toBe('fleet node\n');
    }
    // Each machine asked for its own file and its signature once.
    const configs = requests.filter((u) => /\.yaml$/.test(u)).sort();
    expect(configs).toEqual(['/flint/by-mac/52-54-00-00-00-01.yaml', '/flint/by-mac/52-54-00-00-00-02.yaml', '/flint/by-serial/SN-0003.yaml']);
  });

  it('the shared config itself over https still picks the machine\'s hosts: entry', async () => {
    writeFileSync(join(served, 'shared.yaml'), FLEET);
    const root = dir('root');
    mkdirSync(join(root, 'etc'));
    const cmdline = join(dir('cmdline'), 'cmdline');
    writeFileSync(cmdline, `flint.config=https://127.0.0.1:${port}/flint/shared.yaml flint.timeout=0\n`);
    const r = await flint(['run', '--sysroot', root, '--cmdline', cmdline, '--sys', sysfs('52:54:00:00:00:02'), '--fw-cfg', dir('fw'), '--work', dir('work')], { ...hostEnv, NODE_EXTRA_CA_CERTS: files.tlsCa });
    expect(r.code, r.err).toBe(0);
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('node-02\n');
  });

  it('a machine the fleet does not know stops with the 404 and writes nothing', async () => {
    const root = dir('root');
    mkdirSync(join(root, 'etc'));
    const cmdline = join(dir('cmdline'), 'cmdline');
    writeFileSync(cmdline, `flint.config=https://127.0.0.1:${port}/flint/by-mac/{mac}.yaml flint.timeout=0\n`);
    const r = await flint(['run', '--sysroot', root, '--cmdline', cmdline, '--sys', sysfs('52:54:00:00:00:77'), '--fw-cfg', dir('fw'), '--work', dir('work')], { ...hostEnv, NODE_EXTRA_CA_CERTS: files.tlsCa });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/52-54-00-00-00-77\.yaml/);
    expect(r.err).toMatch(/404/);
    expect(existsSync(join(root, 'etc/hostname'))).toBe(false);
  });
});

