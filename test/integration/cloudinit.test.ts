/**
 * cloud-init's documentation examples (users and groups, write_files, network v2 with
 * Wi-Fi) converted and applied with provision() to copies of a real Debian root, then
 * checked in the target: accounts with the target's pwck/grpck, files byte for byte,
 * networkd and wpa_supplicant files and their service links.
 */
import { pbkdf2Sync } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { fromCloudInit } from '../../src/convert/cloudinit.js';
import type { NoCloudSeed } from '../../src/convert/cloudinit.js';
import { provision } from '../../src/pipeline/provision.js';
import { freshRoot, hasRootfsSupport, inChroot, RECIPE } from './rootfs.js';
import type { FreshRoot } from './rootfs.js';

const support = hasRootfsSupport();
const why = support.ok ? '' : ` (SKIPPED: ${support.reason ?? 'no root filesystem support'})`;
const FIXTURES = join(import.meta.dirname, '../fixtures/cloud-init');
const part = (name: string) => ({ file: join(FIXTURES, name), text: readFileSync(join(FIXTURES, name), 'utf8') });
/** systemd-networkd runs Wi-Fi through wpa_supplicant@IFACE, so the Wi-Fi root has it installed. */
const WIFI_RECIPE = { ...RECIPE, include: [...RECIPE.include, 'wpasupplicant'] };

const work = mkdtempSync(join(tmpdir(), 'flint-cloudinit-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Convert a seed, write the flint config next to nothing else, and apply it. */
async function applySeed(root: string, name: string, seed: NoCloudSeed): Promise<void> {
  const r = fromCloudInit(seed);
  const shown = r.diagnostics.filter((d) => d.severity === 'error').map((d) => formatDiagnostic(d, { color: false }));
  expect(shown).toEqual([]);
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, stringify(r.config));
  const result = await provision({ root, configFile: file, apply: true });
  const problems = result.ok ? [] : result.stage === 'plan' ? result.plan.problems : result.diagnostics.filter((d) => d.severity === 'error');
  expect(problems).toEqual([]);
  expect(result.ok && result.applied).toBe(true);
}

const lines = (root: string, file: string) => readFileSync(join(root, file), 'utf8').split('\n');
const entry = (root: string, file: string, name: string) => lines(root, file).find((l) => l.startsWith(`${name}:`))?.split(':');

describe.skipIf(!support.ok)(`cloud-init users and groups example on a Debian root${why}`, () => {
  let root: FreshRoot;
  beforeAll(async () => {
    root = await freshRoot();
    await applySeed(root.dir, 'users', { userData: part('users-groups.user-data'), metaData: part('meta-data') });
  }, 300_000);
  afterAll(() => root?.cleanup());

  it('creates every user, with the passwords cloud-init would leave', () => {
    for (const name of ['debian', 'foobar', 'barfoo', 'cloudy', 'fizzbuzz', 'nosshlogins']) expect(entry(root.dir, 'etc/passwd', name), name).toBeDefined();
    expect(entry(root.dir, 'etc/shadow', 'foobar')?.slice(1, 2).join(':')).toBe('$6$j212wezy$7H/1LT4f9/N3wpgNunhsIqtMj62OKiS3nyNwuizouQc3u7MbYCarYeAHWYPYb2FT.lbioDm2RrkJPb9BZMN1O/');
    for (const name of ['debian', 'barfoo', 'cloudy', 'fizzbuzz']) expect(entry(root.dir, 'etc/shadow', name)?.[1], name).toBe('!');
    expect(Number(entry(root.dir, 'etc/passwd', 'cloudy')?.[2])).toBeLessThan(1000);
    expect(entry(root.dir, 'etc/passwd', 'fizzbuzz')?.[6]).toBe('/bin/bash');
    expect(entry(root.dir, 'etc/passwd', 'barfoo')?.[4]).toBe('Bar B. Foo');
  });

  it('creates the groups and memberships, and the target\'s pwck and grpck accept the result', async () => {
    expect(entry(root.dir, 'etc/group', 'admingroup')?.[3]?.split(',').sort()).toEqual(['root', 'sys']);
    expect(entry(root.dir, 'etc/group', 'cloud-users')).toBeDefined();
    expect(entry(root.dir, 'etc/group', 'admin')?.[3]).toBe('barfoo');
    expect(entry(root.dir, 'etc/group', 'users')?.[3]?.split(',')).toEqual(expect.arrayContaining(['foobar', 'barfoo']));
    expect(entry(root.dir, 'etc/group', 'sudo')?.[3]?.split(',')).toContain('debian');
    const id = await inChroot(root.dir, ['id', '-Gn', 'barfoo']);
    expect(id.stdout.trim().split(' ').sort()).toEqual(['admin', 'barfoo', 'users']);
    for (const tool of [['pwck', '-r'], ['grpck', '-r']]) {
      const r = await inChroot(root.dir, tool);
      expect(r.code, `${tool.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });

  it('installs the SSH keys and sudo rules, which visudo accepts', async () => {
    for (const user of ['barfoo', 'fizzbuzz']) {
      const keys = readFileSync(join(root.dir, 'home', user, '.ssh/authorized_keys'), 'utf8');
      expect(keys).toMatch(/^ssh-rsa AAAAB3NzaC1yc2E\S+ csmith@fringe$/m);
    }
    const sudoers = await inChroot(root.dir, ['visudo', '-c']);
    expect(sudoers.code, sudoers.stdout + sudoers.stderr).toBe(0);
    for (const [user, can] of [['barfoo', true], ['debian', true], ['fizzbuzz', false], ['foobar', false]] as const) {
      const r = await inChroot(root.dir, ['sudo', '-l', '-U', user]);
      expect(r.stdout.includes('NOPASSWD: ALL'), `${user}: ${r.stdout}`).toBe(can);
    }
  });

  it("sets the host name from meta-data's local-hostname", () => {
    expect(readFileSync(join(root.dir, 'etc/hostname'), 'utf8')).toBe('cloudimg\n');
  });
});

describe.skipIf(!support.ok)(`cloud-init write_files examples on a Debian root${why}`, () => {
  let root: FreshRoot;
  beforeAll(async () => {
    root = await freshRoot();
    // Example 5 defers its file until the package has made its user: here the package is "installed" first.
    for (const argv of [['groupadd', '--system', 'nginx'], ['useradd', '--system', '--gid', 'nginx', '--no-create-home', 'nginx']]) {
      const r = await inChroot(root.dir, argv);
      expect(r.code, r.stderr).toBe(0);
    }
    for (let n = 1; n <= 5; n++) await applySeed(root.dir, `write-files-${n}`, { userData: part(`write-files-${n}.user-data`) });
  }, 300_000);
  afterAll(() => root?.cleanup());

  const meta = (p: string) => {
    const s = statSync(join(root.dir, p));
    return { mode: (s.mode & 0o7777).toString(8), uid: s.uid, gid: s.gid };
  };

  it('1: decodes the base64 content', () => {
    expect(readFileSync(join(root.dir, 'etc/sysconfig/selinux'), 'utf8')).toBe('\n# This file controls the state of SELinux');
    expect(meta('etc/sysconfig/selinux')).toEqual({ mode: '644', uid: 0, gid: 0 });
  });

  it('2: appends to /etc/crontab', () => {
    expect(readFileSync(join(root.dir, 'etc/crontab'), 'utf8').endsWith('15 * * * * root ship_logs\n')).toBe(true);
  });

  it('3: writes the gzip data decompressed, executable', async () => {
    expect(readFileSync(join(root.dir, 'usr/bin/hello'), 'utf8')).toBe('#!/bin/sh\necho hello world\n');
    expect(meta('usr/bin/hello').mode).toBe('755');
    const r = await inChroot(root.dir, ['/usr/bin/hello']);
    expect(r.stdout).toBe('hello world\n');
  });

  it('4: creates the empty file', () => {
    expect(readFileSync(join(root.dir, 'root/CLOUD_INIT_WAS_HERE'), 'utf8')).toBe('');
    expect(meta('root/CLOUD_INIT_WAS_HERE').mode).toBe('644');
  });

  it('5: writes the deferred file owned by nginx:nginx, 0640', () => {
    const uid = Number(entry(root.dir, 'etc/passwd', 'nginx')?.[2]);
    const gid = Number(entry(root.dir, 'etc/group', 'nginx')?.[2]);
    expect(meta('etc/nginx/conf.d/example.com.conf')).toEqual({ mode: '640', uid, gid });
    expect(readFileSync(join(root.dir, 'etc/nginx/conf.d/example.com.conf'), 'utf8')).toContain('    server_name example.com;\n');
  });
});

describe.skipIf(!support.ok)(`Netplan's Wi-Fi example (network-config v2) on a Debian root with wpa_supplicant${why}`, () => {
  let root: FreshRoot;
  beforeAll(async () => {
    root = await freshRoot(WIFI_RECIPE);
    await applySeed(root.dir, 'wifi', { networkConfig: part('network-v2-wifi.network-config') });
  }, 900_000);
  afterAll(() => root?.cleanup());

  it('writes the systemd-networkd file with the address, route and DNS', () => {
    const text = readFileSync(join(root.dir, 'etc/systemd/network/10-flint-wlp2s0b1.network'), 'utf8');
    expect(text).toMatch(/^Name=wlp2s0b1$/m);
    expect(text).toMatch(/^Address=192\.168\.0\.21\/24$/m);
    expect(text).toMatch(/^DNS=192\.168\.0\.1$/m);
    expect(text).toMatch(/^DNS=8\.8\.8\.8$/m);
    expect(text).toMatch(/^Gateway=192\.168\.0\.1$/m);
  });

  it('writes the access point for wpa_supplicant, readable by root only, and enables both services', () => {
    const conf = join(root.dir, 'etc/wpa_supplicant/wpa_supplicant-wlp2s0b1.conf');
    const text = readFileSync(conf, 'utf8');
    expect(text).toMatch(new RegExp(`^\\s*ssid=${Buffer.from('network_ssid_name').toString('hex')}$`, 'm'));
    // Only the PSK derived from the passphrase is stored (WPA's PBKDF2), never the passphrase.
    expect(text).toMatch(new RegExp(`^\\s*psk=${pbkdf2Sync('**********', 'network_ssid_name', 4096, 32, 'sha1').toString('hex')}$`, 'm'));
    expect(text).not.toContain('**********');
    expect(statSync(conf).mode & 0o777).toBe(0o600);
    const wants = join(root.dir, 'etc/systemd/system/multi-user.target.wants');
    expect(lstatSync(join(wants, 'wpa_supplicant@wlp2s0b1.service')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(wants, 'systemd-networkd.service'))).toMatch(/systemd-networkd\.service$/);
  });
});
