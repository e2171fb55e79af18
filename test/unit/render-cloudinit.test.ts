/**
 * Rendering to a cloud-init NoCloud seed, round trip: every example and generated
 * configs are rendered, read back with flint's own cloud-init reader, and compared with
 * the original on what cloud-init expresses; what is reported lost is exactly what is
 * missing, and what went to runcmd is listed as notes.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSize } from '../../src/config/checks/names.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { fromCloudInit } from '../../src/convert/cloudinit.js';
import type { NoCloudSeed } from '../../src/convert/cloudinit.js';
import { renderConfigFile } from '../../src/convert/render.js';
import type { RenderResult } from '../../src/convert/render.js';
import { SCRIPT_DIR } from '../../src/convert/render-cloudinit.js';
import { withNoCloudDs } from '../../src/media/embed.js';
import { engineFrom } from '../../src/media/inspect.js';
import { wpaPsk } from '../../src/steps/network/nm.js';
import { sshdDropin, SSHD_DROPIN_PATH } from '../../src/steps/ssh/sshd.js';
import { decodeDataUrl } from '../../src/system/fetch.js';
import { examples } from './mutate.js';
import { fixedHash, generatedConfig, HASH, parsePath, validated, without } from '../helpers/render-configs.js';

type Obj = Record<string, unknown>;

function render(text: string, file = 'examples/c.yaml', host?: string): RenderResult {
  const r = renderConfigFile(file, { target: 'cloud-init', hash: fixedHash, ...(host !== undefined ? { host } : {}) }, text);
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r;
}

function seedOf(r: RenderResult): NoCloudSeed {
  const f = Object.fromEntries(r.files.map((x) => [x.rel, x.text]));
  return {
    userData: { file: 'user-data', text: f['user-data']! },
    metaData: { file: 'meta-data', text: f['meta-data']! },
    ...(f['network-config'] !== undefined ? { networkConfig: { file: 'network-config', text: f['network-config'] } } : {}),
  };
}

function readBack(r: RenderResult): Obj {
  const back = fromCloudInit(seedOf(r));
  expect(back.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return validated(JSON.stringify(back.config)) as unknown as Obj;
}

const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const clean = (o: Obj): Obj => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)));
const byKey = (k: string) => (a: Obj, b: Obj) => String(a[k]).localeCompare(String(b[k]));

/** The original with settings cloud-init writes as files (units, post scripts, the sshd drop-in) as those files. */
function expandDerived(c: Obj): Obj {
  const files = [...list(c.files)];
  const text = (path: string, contents: string, mode = 0o644) => ({ path, contents, mode });
  const ssh = (c.ssh ?? {}) as Obj;
  const dropin = sshdDropin({ permit_root_login: ssh.permit_root_login as string | undefined });
  if (dropin !== undefined) files.push(text(SSHD_DROPIN_PATH, dropin));
  for (const u of list((c.systemd as Obj | undefined)?.units)) {
    if (typeof u.contents === 'string') files.push(text(`/etc/systemd/system/${String(u.name)}`, u.contents));
    for (const d of list(u.dropins)) files.push(text(`/etc/systemd/system/${String(u.name)}.d/${String(d.name)}`, String(d.contents)));
  }
  for (const s of list(c.scripts)) files.push(text(`${SCRIPT_DIR}/${String(s.name)}`, String(s.contents), 0o700));
  const hosts = list(c.etc_hosts).map((e) => `${String(e.address)}\t${(e.names as string[]).join(' ')}\n`).join('');
  if (hosts !== '') files.push({ path: '/etc/hosts', contents: hosts, mode: 0o644, append: true });
  const users = list(c.users).map((u) => (u.password !== undefined ? { ...without(u, [['password']]) as Obj, password_hash: HASH } : u));
  return { ...c, users, files };
}

function bytes(f: Obj): string {
  let b: Buffer | undefined;
  if (typeof f.contents === 'string') b = Buffer.from(f.contents, 'utf8');
  else if (typeof f.contents_base64 === 'string') b = Buffer.from(f.contents_base64, 'base64');
  else if (typeof f.source === 'string') b = decodeDataUrl(f.source);
  return b?.toString('base64') ?? '';
}

function connection(x: Obj): Obj {
  const wifi = x.wifi as Obj | undefined;
  const security = (wifi?.security as string | undefined) ?? 'wpa-psk';
  // The seed carries a WPA2 passphrase as its derived key.
  const password = wifi?.password === undefined ? undefined : security === 'wpa-psk' && !/^[0-9a-f]{64}$/.test(String(wifi.password)) ? wpaPsk(String(wifi.password), String(wifi.ssid)) : wifi.password;
  const ip = (v: unknown, dflt: string) => clean({ ...((v ?? {}) as Obj), method: ((v ?? {}) as Obj).method ?? dflt });
  return clean({
    name: x.name,
    type: x.type ?? 'ethernet',
    interface: x.mac === undefined ? (x.interface ?? x.name) : undefined,
    mac: x.mac,
    ipv4: ip(x.ipv4, 'dhcp'),
    ipv6: ip(x.ipv6, 'auto'),
    dns_search: x.dns_search,
    mtu: x.mtu,
    wifi: wifi === undefined ? undefined : clean({ ssid: wifi.ssid, security, hidden: wifi.hidden === true ? true : undefined, password }),
    vlan: x.vlan,
    bond: x.bond,
    bridge: x.bridge,
  });
}

/** The part of a flint config cloud-init expresses, in one form whichever way it was written. */
function normal(c: Obj): Obj {
  const ssh = (c.ssh ?? {}) as Obj;
  const net = (c.network ?? {}) as Obj;
  return {
    system: clean({ hostname: c.hostname, timezone: c.timezone, locale: c.locale, keymap: c.keymap }),
    // cloud-init locks every password it does not set: no hash and "!" are the same there.
    users: list(c.users).map((u) => clean({ ...u, password_hash: u.password_hash ?? '!', sudo: u.sudo === 'none' ? undefined : u.sudo, primary_group: u.primary_group === u.name ? undefined : u.primary_group })).sort(byKey('name')),
    // cloud-init creates the supplementary groups it is given (the reader lists them); flint needs them declared or in the image.
    groups: [...new Set([...list(c.groups).map((g) => String(g.name)), ...list(c.users).flatMap((u) => (u.groups as string[] | undefined) ?? [])])].sort(),
    ssh: clean({ password_authentication: ssh.password_authentication, host_keys: ssh.host_keys === 'generate' ? 'generate' : undefined }),
    files: list(c.files).map((f) => clean({ path: f.path, data: bytes(f), mode: f.mode ?? 0o644, owner: String(f.owner ?? 'root'), group: String(f.group ?? f.owner ?? 'root'), append: f.append === true ? true : undefined })).sort(byKey('path')),
    network: clean({ wifi_country: net.wifi_country, renderer: net.renderer === 'auto' ? undefined : net.renderer, connections: list(net.connections).map(connection) }),
    grow_root: ((c.storage ?? {}) as Obj).grow_root === true,
    machine: clean({
      ntp: c.ntp,
      swap_file: c.swap_file === undefined ? undefined : { path: (c.swap_file as Obj).path ?? '/swapfile', bytes: String((parseSize(String((c.swap_file as Obj).size)) as { bytes: bigint }).bytes) },
      power_state: c.power_state,
      packages: c.packages,
      raspberry_pi: c.raspberry_pi,
      ca: list(c.ca_certificates).map((ca) => (typeof ca.contents === 'string' ? ca.contents : readFileSync(join('examples', String(ca.source).slice('file:'.length)), 'utf8')).trim()),
    }),
  };
}

function roundTrip(text: string, file?: string): RenderResult {
  const r = render(text, file);
  const original = validated(text) as unknown as Obj;
  const back = readBack(r);
  const lostPaths = r.losses.map((l) => parsePath(l.path));
  expect(normal(back)).toEqual(normal(expandDerived(without(original, lostPaths) as Obj)));
  // What cloud-init has no key for runs as commands, each listed as a note; the reader sees them as one post script.
  const runcmd = list(back.scripts).filter((s) => s.name === 'runcmd');
  const lines = runcmd.length === 0 ? [] : String(runcmd[0]!.contents).split('\n').filter((l) => l !== '' && !l.startsWith('#!'));
  expect(lines.length).toBe(r.notes.length);
  return r;
}

describe('render to cloud-init: round trip', () => {
  for (const ex of examples) {
    it(`examples/${ex.name}`, () => {
      const r = roundTrip(ex.text, `examples/${ex.name}`);
      for (const l of r.losses) {
        expect(l.file).toBe(`examples/${ex.name}`);
        expect(l.hint).toBeTruthy();
      }
    });
  }

  it('generated configs', () => {
    for (let seed = 0; seed < 150; seed++) roundTrip(generatedConfig(seed), `gen-${seed}.yaml`);
  });

  it('lists exactly the settings cloud-init cannot carry, at their lines', () => {
    const text = [
      'version: 1',
      'groups: [{name: media, gid: 2000, system: true}]',
      'files: [{path: /a, contents: x, overwrite: false}]',
      'storage:',
      '  disks: [{device: /dev/sdb, partitions: [{label: data}]}]',
      '  filesystems: [{partlabel: data, format: ext4, mount: /data}]',
      'kernel_arguments: {add: [quiet]}',
      'containers: [{name: web, image: docker.io/library/nginx:1.27}]',
      'scripts: [{name: early, stage: pre, contents: "#!/bin/sh\\n"}]',
      'network: {connections: [{name: eth0, ipv6: {method: disabled}}]}',
      '',
    ].join('\n');
    const r = render(text);
    expect(r.losses.map((l) => `${l.line} ${l.path}`)).toEqual([
      '2 groups[0].gid',
      '2 groups[0].system',
      '3 files[0].overwrite',
      '5 storage.disks[0]',
      '6 storage.filesystems[0]',
      '7 kernel_arguments',
      '8 containers[0]',
      '9 scripts[0]',
      '10 network.connections[0].ipv6.method',
    ].sort((a, b) => Number(a.split(' ')[0]) - Number(b.split(' ')[0])));
  });
});

describe('render to cloud-init: the seed', () => {
  it('meta-data has an instance-id from the digest of user-data and network-config', () => {
    const r = render('version: 1\nhostname: a\nnetwork: {connections: [{name: eth0}]}\n');
    const f = Object.fromEntries(r.files.map((x) => [x.rel, x.text]));
    const digest = createHash('sha256').update(f['user-data']!).update('\0').update(f['network-config']!).digest('hex');
    expect(parse(f['meta-data']!)).toEqual({ 'instance-id': `flint-${digest.slice(0, 32)}` });
    expect(f['user-data']!.startsWith('#cloud-config\n')).toBe(true);
    expect(parse(f['network-config']!).version).toBe(2);
    const other = render('version: 1\nhostname: b\nnetwork: {connections: [{name: eth0}]}\n');
    expect(other.files.find((x) => x.rel === 'meta-data')!.text).not.toBe(f['meta-data']);
  });

  it('defers files owned by users cloud-init creates, and hashes passwords', () => {
    const r = renderConfigFile('c.yaml', { target: 'cloud-init' }, 'version: 1\nusers: [{name: ops, password: "hunter2 hunter2"}]\nfiles: [{path: /home/ops/x, contents: x, owner: ops}, {path: /etc/y, contents: y}]\n');
    const ud = parse(r.files[0]!.text) as Obj;
    const wf = ud.write_files as Obj[];
    expect(wf[0]).toMatchObject({ path: '/home/ops/x', owner: 'ops:ops', defer: true });
    expect(wf[1]!.defer).toBeUndefined();
    expect(r.files.map((f) => f.text).join('')).not.toContain('hunter2');
    expect((ud.users as Obj[])[0]).toMatchObject({ lock_passwd: false });
    expect(String((ud.users as Obj[])[0]!.hashed_passwd)).toMatch(/^\$6\$/);
  });

  it('lists runcmd commands as notes', () => {
    const r = render('version: 1\ndirectories: [{path: /srv/x, mode: "0750"}]\nsystemd: {units: [{name: a.service, contents: "[Service]\\nExecStart=/bin/true\\n[Install]\\nWantedBy=multi-user.target\\n", enabled: true}]}\n');
    expect(r.notes).toEqual(['runcmd: install -d -m 0750 /srv/x (cloud-init has no directories)', 'runcmd: systemctl enable --now a.service (cloud-init has no systemd units)']);
  });
});

describe('image embed --for cloud-init: cmdline.txt', () => {
  it('gets ds=nocloud;i=ID in place of an earlier ds= word, as Raspberry Pi Imager writes it', () => {
    expect(withNoCloudDs('console=serial0,115200 root=PARTUUID=1 rootwait ds=nocloud;i=old\n', 'flint-abc')).toBe('console=serial0,115200 root=PARTUUID=1 rootwait ds=nocloud;i=flint-abc\n');
    expect(withNoCloudDs('root=/dev/mmcblk0p2 quiet', 'flint-abc')).toBe('root=/dev/mmcblk0p2 quiet ds=nocloud;i=flint-abc\n');
  });
});

describe('image embed without --for: the engine from the image root', () => {
  it('prefers flint, then Ignition, then Combustion (dracut modules), then cloud-init', () => {
    expect(engineFrom(['95flint', '30ignition'], true)).toBe('flint');
    expect(engineFrom(['30ignition', '90kernel-modules'], true)).toBe('ignition');
    expect(engineFrom(['35combustion'], false)).toBe('combustion');
    expect(engineFrom(['90kernel-modules'], true)).toBe('cloud-init');
    expect(engineFrom([], false)).toBeUndefined();
  });
});

describe('machine-wide settings (issue 20)', () => {
  it('ntp, swap_file, power_state and raspberry_pi render to their cloud-init modules and read back the same', () => {
    const text = 'version: 1\nntp: {servers: [ntp.example.org], pools: [0.pool.example.org]}\nswap_file: {path: /swapfile, size: 2GiB}\npower_state: {mode: reboot, delay_seconds: 120, message: bye}\nraspberry_pi: {i2c: true, serial_hardware: true, serial_console: false}\n';
    const r = render(text);
    const ud = parse(r.files.find((f) => f.rel === 'user-data')!.text) as Obj;
    expect(ud).toMatchObject({ ntp: { enabled: true, servers: ['ntp.example.org'], pools: ['0.pool.example.org'] }, swap: { filename: '/swapfile', size: 2 * 1024 ** 3 }, power_state: { mode: 'reboot', delay: 2, message: 'bye' }, rpi: { interfaces: { i2c: true, serial: { console: false, hardware: true } } } });
    expect(readBack(r)).toMatchObject({ ntp: { servers: ['ntp.example.org'], pools: ['0.pool.example.org'] }, swap_file: { path: '/swapfile', size: '2GiB' }, power_state: { mode: 'reboot', delay_seconds: 120, message: 'bye' }, raspberry_pi: { i2c: true, serial_hardware: true, serial_console: false } });
  });

  it('a delay that is not whole minutes is a loss; etc_hosts is appended with write_files', () => {
    const r = render('version: 1\npower_state: {mode: halt, delay_seconds: 90}\netc_hosts:\n  - {address: 10.0.0.2, names: [db.lan, db]}\n');
    expect(r.losses.map((d) => d.message)).toEqual(['cloud-init delays in whole minutes: 90 s becomes 2 min']);
    const ud = parse(r.files.find((f) => f.rel === 'user-data')!.text) as Obj;
    expect(ud.write_files).toEqual([{ path: '/etc/hosts', content: '10.0.0.2\tdb.lan db\n', append: true }]);
  });
});
