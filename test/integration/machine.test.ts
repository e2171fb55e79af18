/**
 * Issue 20's machine-wide settings on a real Debian 12 root with ca-certificates and
 * chrony, checked by the target's own tools: chronyd parses the sources flint wrote;
 * update-ca-certificates (what flint-ca-certificates.service runs at first boot) takes
 * the authority, and OpenSSL in the target then verifies a server certificate it
 * signed; the swap file service's own command line, as systemd splits it, makes a file
 * that blkid calls swap; apt, run as the packages unit runs it, installs the package
 * file the config brought, offline; systemd-analyze verify accepts every unit flint
 * wrote; a second apply changes nothing. Needs root and debootstrap (the cached root).
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../src/pipeline/provision.js';
import { argvOf, values } from '../helpers/systemd-exec.js';
import { issue } from '../helpers/pki.js';
import { freshRoot, hasRootfsSupport, inChroot, RECIPE } from './rootfs.js';
import type { FreshRoot, RootRecipe } from './rootfs.js';
import { hostEnv } from '../helpers/host.js';

const support = hasRootfsSupport();

/** The usual test root with the packages these settings meet on a real Debian: the trust store tool and chrony. */
const MACHINE_TOOLS: RootRecipe = { ...RECIPE, include: [...RECIPE.include, 'ca-certificates', 'chrony', 'openssl'] };

const ca = issue({ subject: 'home lab CA', ca: true });
const server = issue({ subject: 'mqtt.lab.home.arpa', issuer: ca, extKeyUsage: ['serverAuth'] });
const pem = (s: string) => s.replace(/\r\n/g, '\n');

const CONFIG = `version: 1
hostname: sensor-hub
etc_hosts:
  - {address: 192.168.10.5, names: [mqtt.lab.home.arpa, mqtt]}
ntp:
  servers: [192.168.10.1]
  pools: [2.debian.pool.ntp.org]
ca_certificates:
  - name: home-lab-ca
    contents: |
${pem(ca.certPem).trim().replace(/^/gm, '      ')}
swap_file: {path: /swapfile, size: 8MiB}
power_state: {mode: reboot, delay_seconds: 60, message: "configured"}
packages:
  files: [file:pkgs/flint-hello_1.0_all.deb]
`;

/** A package as a user would bring one on the stick: dpkg-deb --build of one file. */
function buildDeb(dir: string): void {
  const tree = join(dir, 'deb-tree');
  mkdirSync(join(tree, 'DEBIAN'), { recursive: true });
  mkdirSync(join(tree, 'usr/share/flint-hello'), { recursive: true });
  writeFileSync(join(tree, 'DEBIAN/control'), 'Package: flint-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: flint tests <tests@flint.invalid>\nDescription: a package file from the config medium\n');
  writeFileSync(join(tree, 'usr/share/flint-hello/hello'), 'installed from the stick\n');
  mkdirSync(join(dir, 'pkgs'), { recursive: true });
  execFileSync('dpkg-deb', ['--root-owner-group', '--build', tree, join(dir, 'pkgs/flint-hello_1.0_all.deb')], { env: hostEnv, stdio: 'ignore' });
}

describe.skipIf(!support.ok)(`machine-wide settings on a Debian 12 root with ca-certificates and chrony${support.ok ? '' : ` (SKIPPED: ${support.reason ?? ''})`}`, () => {
  let root: FreshRoot;
  let configFile = '';

  beforeAll(async () => {
    root = await freshRoot(MACHINE_TOOLS);
    configFile = join(root.dir, '..', 'config.yaml');
    writeFileSync(configFile, CONFIG);
    buildDeb(join(root.dir, '..'));
    const first = await provision({ root: root.dir, configFile, apply: true });
    if (!first.ok) throw new Error(`flint refused the config at ${first.stage}: ${JSON.stringify(first.stage === 'plan' ? first.plan.problems : first.diagnostics)}`);
  }, 15 * 60_000);

  afterAll(async () => {
    await root?.cleanup();
  });

  it('a second apply changes nothing', async () => {
    const second = await provision({ root: root.dir, configFile, apply: true });
    expect(second.ok).toBe(true);
    if (second.ok) expect(second.plan.planned.map((p) => p.action.path)).toEqual([]);
  });

  it('chronyd reads the config\'s servers and no other', async () => {
    const conf = readFileSync(join(root.dir, 'etc/chrony/chrony.conf'), 'utf8');
    expect(conf).toContain('server 192.168.10.1 iburst\npool 2.debian.pool.ntp.org iburst\n');
    // -p prints the configuration as chronyd parsed it, includes followed, and exits.
    const r = await inChroot(root.dir, ['chronyd', '-p', '-f', '/etc/chrony/chrony.conf']);
    expect(r.code, r.stderr).toBe(0);
    const sources = r.stdout.split('\n').filter((l) => /^(server|pool|peer) /.test(l));
    expect(sources).toEqual(['server 192.168.10.1 iburst', 'pool 2.debian.pool.ntp.org iburst']);
  });

  it('update-ca-certificates (the first-boot unit\'s command) takes the authority, and OpenSSL in the target trusts what it signed', async () => {
    expect(readFileSync(join(root.dir, 'usr/local/share/ca-certificates/home-lab-ca.crt'), 'utf8')).toBe(`${pem(ca.certPem).trim()}\n`);
    const unit = readFileSync(join(root.dir, 'etc/systemd/system/flint-ca-certificates.service'), 'utf8');
    const argv = argvOf(values(unit, 'Service', 'ExecStart')[0]!, 'flint-ca-certificates.service');
    expect(argv).toEqual(['update-ca-certificates']);
    // Before the tool runs, the bundle already holds it (for a post script in the initramfs).
    expect(readFileSync(join(root.dir, 'etc/ssl/certs/ca-certificates.crt'), 'utf8')).toContain(pem(ca.certPem).trim());
    const r = await inChroot(root.dir, argv, { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/1 added, 0 removed/);
    expect(readlinkSync(join(root.dir, 'etc/ssl/certs/home-lab-ca.pem'))).toBe('/usr/local/share/ca-certificates/home-lab-ca.crt');
    const bundle = readFileSync(join(root.dir, 'etc/ssl/certs/ca-certificates.crt'), 'utf8');
    expect(bundle.split(pem(ca.certPem).trim()).length - 1, 'in the rebuilt bundle once').toBe(1);
    writeFileSync(join(root.dir, 'tmp/server.pem'), pem(server.certPem));
    for (const args of [['-CAfile', '/etc/ssl/certs/ca-certificates.crt'], ['-CApath', '/etc/ssl/certs']]) {
      const v = await inChroot(root.dir, ['openssl', 'verify', ...args, '/tmp/server.pem']);
      expect(v.stdout.trim(), v.stderr).toBe('/tmp/server.pem: OK');
    }
  });

  it('the swap file service\'s own command line makes an 8 MiB swap file, mode 0600, once', async () => {
    const unit = readFileSync(join(root.dir, 'etc/systemd/system/flint-swap-file.service'), 'utf8');
    expect(values(unit, 'Unit', 'ConditionPathExists')).toEqual(['!/swapfile']);
    const argv = argvOf(values(unit, 'Service', 'ExecStart')[0]!, 'flint-swap-file.service');
    const r = await inChroot(root.dir, argv, { mounts: ['proc'] });
    expect(r.code, r.stderr).toBe(0);
    const st = statSync(join(root.dir, 'swapfile'));
    expect(st.size).toBe(8 * 1024 * 1024);
    expect((st.mode & 0o7777).toString(8)).toBe('600');
    expect(execFileSync('blkid', ['-p', '-s', 'TYPE', '-o', 'value', join(root.dir, 'swapfile')], { encoding: 'utf8', env: hostEnv }).trim()).toBe('swap');
    expect(() => lstatSync(join(root.dir, 'swapfile.flint-new'))).toThrow();
    expect(readlinkSync(join(root.dir, 'etc/systemd/system/multi-user.target.wants/swapfile.swap'))).toBe('/etc/systemd/system/swapfile.swap');
  });

  it('the packages unit\'s commands, run as systemd would, install the package file from the medium with apt, offline', async () => {
    const unit = readFileSync(join(root.dir, 'etc/systemd/system/flint-packages.service'), 'utf8');
    expect(unit).not.toContain('network-online');
    expect(values(unit, 'Service', 'Environment')).toEqual(['DEBIAN_FRONTEND=noninteractive']);
    const commands = values(unit, 'Service', 'ExecStart').map((v) => argvOf(v, 'flint-packages.service'));
    expect(commands).toEqual([
      ['apt-get', '-y', '-q', '-o', 'Dpkg::Options::=--force-confold', 'install', '/var/lib/flint/packages/flint-hello_1.0_all.deb'],
      ['touch', '/var/lib/flint/packages-done'],
    ]);
    for (const argv of commands) {
      const r = await inChroot(root.dir, argv, { mounts: ['proc'], env: { DEBIAN_FRONTEND: 'noninteractive' }, timeoutMs: 300_000 });
      expect(r.code, `${argv.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
    }
    expect(readFileSync(join(root.dir, 'usr/share/flint-hello/hello'), 'utf8')).toBe('installed from the stick\n');
    const q = await inChroot(root.dir, ['dpkg-query', '-W', '-f', '${Status} ${Version}', 'flint-hello']);
    expect(q.stdout).toBe('install ok installed 1.0');
  });

  it('systemd-analyze verify accepts every unit flint wrote', async () => {
    const units = ['flint-ca-certificates.service', 'flint-swap-file.service', 'swapfile.swap', 'flint-power-state.service', 'flint-packages.service'].map((u) => `/etc/systemd/system/${u}`);
    const r = await inChroot(root.dir, ['systemd-analyze', 'verify', '--man=no', ...units], { timeoutMs: 120_000 });
    // Units the test root lacks (no kernel, no network units) may be named; nothing about flint's.
    const about = (r.stdout + r.stderr).split('\n').filter((l) => /flint-|swapfile\.swap/.test(l));
    expect(about, r.stdout + r.stderr).toEqual([]);
  });

  it('/etc/hosts has the own name and the broker', () => {
    const hosts = readFileSync(join(root.dir, 'etc/hosts'), 'utf8');
    expect(hosts).toMatch(/^127\.0\.1\.1\tsensor-hub$/m);
    expect(hosts).toMatch(/^192\.168\.10\.5\tmqtt\.lab\.home\.arpa mqtt$/m);
  });
});
