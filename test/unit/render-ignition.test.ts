/**
 * Rendering to Ignition, round trip: every example and generated configs are rendered,
 * read back with flint's own Ignition reader, and compared with the original on what
 * Ignition expresses; what the rendering reports as lost is exactly what is missing.
 * Settings Ignition has no key for come back as the files flint itself writes for them.
 */
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { fromIgnition } from '../../src/convert/ignition.js';
import { GPT_TYPES, mountUnit, renderIgnition, sizeMiB, swapUnit } from '../../src/convert/render-ignition.js';
import { renderConfigFile } from '../../src/convert/render.js';
import { lossOf } from '../../src/convert/render-loss.js';
import type { Diagnostic } from '../../src/config/diagnostics.js';
import { renderNmKeyfiles } from '../../src/steps/network/nm.js';
import { sshdDropin, SSHD_DROPIN_PATH } from '../../src/steps/ssh/sshd.js';
import { decodeDataUrl } from '../../src/system/fetch.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSize } from '../../src/config/checks/names.js';
import { DEFAULT_SWAP_FILE, SWAP_FILE_SERVICE, swapFileUnits, swapUnitName } from '../../src/steps/swap-file/step.js';
import { POWER_STATE_SERVICE, powerStateUnit } from '../../src/steps/power-state/step.js';
import { sudoersDropin } from '../../src/steps/users/sudo.js';
import { examples } from './mutate.js';
import { fixedHash, generatedConfig, HASH, parsePath, validated, without } from '../helpers/render-configs.js';

type Obj = Record<string, unknown>;

function render(text: string, file = 'examples/c.yaml', host?: string) {
  const r = renderConfigFile(file, { target: 'ignition', hash: fixedHash, ...(host !== undefined ? { host } : {}) }, text);
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r;
}

function readBack(text: string): Obj {
  const r = fromIgnition('config.ign', text);
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return validated(JSON.stringify(r.config)) as unknown as Obj;
}

const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

/** The original with what Ignition has no key for turned into the files and links flint writes for it. */
function expandDerived(c: Obj): Obj {
  const files = [...list(c.files)];
  const links = [...list(c.links)];
  const units = [...list((c.systemd as Obj | undefined)?.units)];
  const textFile = (path: string, contents: string, mode: number) => ({ path, contents, mode, overwrite: true });
  const users = list(c.users).map((u) => {
    const { sudo, password, ...rest } = u;
    const d = sudoersDropin(String(u.name), sudo as string | undefined);
    if (d !== undefined) files.push(textFile(d.path, d.text, 0o440));
    return password !== undefined ? { ...rest, password_hash: HASH } : rest;
  });
  if (typeof c.hostname === 'string') files.push(textFile('/etc/hostname', `${c.hostname}\n`, 0o644));
  if (typeof c.timezone === 'string') links.push({ path: '/etc/localtime', target: `../usr/share/zoneinfo/${c.timezone}` });
  if (typeof c.locale === 'string') files.push(textFile('/etc/locale.conf', `LANG=${c.locale}\n`, 0o644));
  if (typeof c.keymap === 'string') files.push(textFile('/etc/vconsole.conf', `KEYMAP=${c.keymap}\n`, 0o644));
  const ssh = sshdDropin((c.ssh ?? {}) as Obj);
  if (ssh !== undefined) files.push(textFile(SSHD_DROPIN_PATH, ssh, 0o644));
  const conns = list((c.network as Obj | undefined)?.connections);
  for (const k of renderNmKeyfiles(conns as never)) files.push(textFile(k.path, k.text, 0o600));
  const target = (c.systemd as Obj | undefined)?.default_target;
  if (typeof target === 'string') links.push({ path: '/etc/systemd/system/default.target', target: `/usr/lib/systemd/system/${target}` });
  const storage = c.storage as Obj | undefined;
  for (const f of list(storage?.filesystems)) {
    const dev = (f.device as string | undefined) ?? `/dev/disk/by-partlabel/${String(f.partlabel)}`;
    if (f.format === 'swap') units.push(swapUnit(dev));
    else if (typeof f.mount === 'string') units.push(mountUnit(f.mount, dev, String(f.format), (f.mount_options as string[] | undefined) ?? []));
  }
  const hosts = list(c.etc_hosts).map((e) => `${String(e.address)}\t${(e.names as string[]).join(' ')}\n`).join('');
  if (hosts !== '') files.push({ path: '/etc/hosts', contents: hosts, append: true });
  for (const ca of list(c.ca_certificates)) files.push(textFile(`/etc/pki/ca-trust/source/anchors/${String(ca.name)}.pem`, caText(ca), 0o644));
  const sf = c.swap_file as { path?: string; size: string } | undefined;
  if (sf !== undefined) {
    const u = swapFileUnits(sf.path ?? DEFAULT_SWAP_FILE, (parseSize(sf.size) as { bytes: bigint }).bytes);
    units.push({ name: SWAP_FILE_SERVICE, contents: u.service }, { name: swapUnitName(sf.path ?? DEFAULT_SWAP_FILE), enabled: true, contents: u.swap });
  }
  if (c.power_state !== undefined) units.push({ name: POWER_STATE_SERVICE, enabled: true, contents: powerStateUnit(c.power_state as never) });
  return { ...c, users, files, links, systemd: { units } };
}

/** A CA entry's PEM: contents, or its file: source beside the examples. */
function caText(ca: Obj): string {
  if (typeof ca.contents === 'string') return ca.contents;
  const src = String(ca.source);
  return src.startsWith('file:') ? readFileSync(join('examples', src.slice('file:'.length)), 'utf8') : (decodeDataUrl(src)?.toString() ?? '');
}

function bytes(f: Obj): string {
  let b: Buffer | undefined;
  if (typeof f.contents === 'string') b = Buffer.from(f.contents, 'utf8');
  else if (typeof f.contents_base64 === 'string') b = Buffer.from(f.contents_base64, 'base64');
  else if (typeof f.source === 'string') b = decodeDataUrl(f.source);
  if (b !== undefined && f.compression === 'gzip') b = gunzipSync(b);
  return b?.toString('base64') ?? '';
}

const clean = (o: Obj): Obj => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)));
const byKey = (k: string) => (a: Obj, b: Obj) => String(a[k]).localeCompare(String(b[k]));

/** The part of a flint config Ignition expresses, in one form whichever way it was written. */
function normal(c: Obj): Obj {
  const storage = (c.storage ?? {}) as Obj;
  return {
    users: list(c.users).map((u) => clean({ ...u })).sort(byKey('name')),
    groups: list(c.groups).map((g) => clean({ name: g.name, gid: g.gid, system: g.system === true ? true : undefined })).sort(byKey('name')),
    files: list(c.files).map((f) => clean({ path: f.path, data: bytes(f), mode: f.mode ?? 0o644, owner: f.owner, group: f.group, append: f.append === true ? true : undefined, overwrite: f.append === true ? undefined : f.overwrite !== false })).sort(byKey('path')),
    directories: list(c.directories).map((d) => clean({ path: d.path, mode: d.mode ?? 0o755, owner: d.owner, group: d.group })).sort(byKey('path')),
    links: list(c.links).map((l) => clean({ path: l.path, target: l.target, hard: l.hard === true ? true : undefined, owner: l.owner, group: l.group })).sort(byKey('path')),
    units: list((c.systemd as Obj | undefined)?.units).map((u) => clean({ ...u })).sort(byKey('name')),
    kernel_arguments: clean({ ...((c.kernel_arguments ?? {}) as Obj) }),
    disks: list(storage.disks).map((d) => clean({ device: d.device, wipe_table: d.wipe_table === true ? true : undefined, partitions: list(d.partitions).map((p) => clean({ label: p.label, size: sizeMiB(p.size as string | undefined) || undefined, type: p.type === undefined ? undefined : (GPT_TYPES[String(p.type)] ?? String(p.type).toLowerCase()), replace: p.replace === true ? true : undefined })) })),
    filesystems: list(storage.filesystems).map((f) => clean({ device: f.device ?? `/dev/disk/by-partlabel/${String(f.partlabel)}`, format: f.format, label: f.label, wipe: f.wipe === true ? true : undefined, mount: f.format === 'swap' ? undefined : f.mount, mount_options: f.mount_options })),
  };
}

/** Render TEXT, read it back, and check the round trip and the losses. */
function roundTrip(text: string, file?: string): Diagnostic[] {
  const r = render(text, file);
  const original = validated(text) as unknown as Obj;
  const lostPaths = r.losses.map((l) => parsePath(l.path));
  for (const p of lostPaths) expect(p.length).toBeGreaterThan(0);
  const back = readBack(r.files[0]!.text);
  expect(normal(back)).toEqual(normal(expandDerived(without(original, lostPaths) as Obj)));
  return r.losses;
}

describe('render to Ignition: round trip', () => {
  for (const ex of examples) {
    it(`examples/${ex.name}`, () => {
      const losses = roundTrip(ex.text, `examples/${ex.name}`);
      // Each loss names its line in the example and says what to do instead.
      for (const l of losses) {
        expect(l.file).toBe(`examples/${ex.name}`);
        expect(l.line).toBeGreaterThan(0);
        expect(l.hint).toBeTruthy();
      }
    });
  }

  it('generated configs', () => {
    for (let seed = 0; seed < 150; seed++) roundTrip(generatedConfig(seed), `gen-${seed}.yaml`);
  });

  it('lists exactly the settings Ignition cannot carry, at their lines', () => {
    const text = [
      'version: 1',
      'ssh: {host_keys: generate}',
      'network:',
      '  wifi_country: DE',
      '  connections: [{name: eth0}]',
      'storage:',
      '  grow_root: true',
      '  disks: [{device: root, partitions: [{label: var, size: 1GiB}]}]',
      '  filesystems: [{partlabel: var, format: btrfs, mount: /var, copy_existing: true}]',
      'containers: [{name: web, image: docker.io/library/nginx:1.27}]',
      'scripts: [{name: s, stage: post, contents: "#!/bin/sh\\n"}]',
      '',
    ].join('\n');
    const r = render(text);
    // The plain record (for --json and other tools): path, line, col, what, workaround.
    expect(lossOf(r.losses[0]!)).toEqual({ path: 'ssh.host_keys', line: 2, col: 7, what: expect.stringContaining('host keys') as unknown as string, workaround: expect.stringContaining('fingerprints') as unknown as string });
    expect(r.losses.map((l) => `${l.line}:${l.column} ${l.path}`)).toEqual([
      '2:7 ssh.host_keys',
      '4:3 network.wifi_country',
      '7:3 storage.grow_root',
      '8:11 storage.disks[0]',
      '9:62 storage.filesystems[0].copy_existing',
      '10:14 containers[0]',
      '11:11 scripts[0]',
    ]);
  });
});

describe('render to Ignition: versions and secrets', () => {
  it('uses 3.3.0, and 3.6.0 only for special mode bits; a pinned older version loses them', () => {
    expect(render('version: 1\nfiles: [{path: /a, contents: x}]\n').version).toBe('3.3.0');
    expect(render('version: 1\nfiles: [{path: /a, contents: x, mode: "04755"}]\n').version).toBe('3.6.0');
    const pinned = renderConfigFile('c.yaml', { target: 'ignition', ignitionVersion: '3.3.0' }, 'version: 1\nfiles: [{path: /a, contents: x, mode: "04755"}]\n');
    expect(pinned.version).toBe('3.3.0');
    expect(pinned.losses.map((l) => l.path)).toEqual(['files[0].mode']);
    const old = renderConfigFile('c.yaml', { target: 'ignition', ignitionVersion: '3.2.0' }, 'version: 1\nkernel_arguments: {add: [quiet]}\n');
    expect(old.losses.map((l) => l.path)).toEqual(['kernel_arguments']);
    expect(JSON.parse(old.files[0]!.text).kernelArguments).toBeUndefined();
  });

  it('hashes plain passwords and keeps them out of messages; Wi-Fi keys go in as derived keys', () => {
    const r = renderConfigFile('c.yaml', { target: 'ignition' }, 'version: 1\nusers: [{name: a, password: "hunter2 hunter2"}]\nnetwork: {connections: [{name: w, type: wifi, interface: wlan0, wifi: {ssid: S, password: "wifi secret 1"}}]}\n');
    const text = r.files[0]!.text;
    const all = text + JSON.stringify(r.losses) + r.notes.join('');
    expect(all).not.toContain('hunter2');
    const keyfiles = (JSON.parse(text).storage.files as Obj[]).map((f) => decodeDataUrl(String((f.contents as Obj).source))!.toString());
    expect(keyfiles.join('')).not.toContain('wifi secret 1');
    expect(JSON.parse(text).passwd.users[0].passwordHash).toMatch(/^\$6\$/);
  });

  it('renders one machine of a fleet with --host, and lists hosts: entries as losses without it', () => {
    const fleet = examples.find((e) => e.name === 'fleet.yaml')!;
    const all = render(fleet.text, 'examples/fleet.yaml');
    expect(all.losses.filter((l) => /^hosts\[\d+\]$/.test(l.path)).length).toBeGreaterThan(0);
    const one = render(fleet.text, 'examples/fleet.yaml', '0');
    expect(one.losses.some((l) => l.path.startsWith('hosts'))).toBe(false);
    const files = JSON.parse(one.files[0]!.text).storage.files as Obj[];
    const hostname = files.find((f) => f.path === '/etc/hostname')!;
    expect(decodeDataUrl(String((hostname.contents as Obj).source))!.toString()).toBe('node-01\n');
  });

  it('is pure: the renderer itself reads no file but through read', () => {
    const c = validated('version: 1\nfiles: [{path: /a, source: "file:payload/a"}]\n');
    const r = renderIgnition(c, { read: (rel) => Buffer.from(`read ${rel}`) });
    expect(decodeDataUrl(String((((r.config.storage as Obj).files as Obj[])[0]!.contents as Obj).source))!.toString()).toBe('read payload/a');
  });
});

describe('render: verify of inlined data', () => {
  it('is checked while rendering, as flint apply checks it', () => {
    const good = 'sha256-2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';
    expect(render(`version: 1\nfiles: [{path: /a, source: "data:,hello", verify: ${good}}]\n`).files).toHaveLength(1);
    const bad = `sha256-${'0'.repeat(64)}`;
    expect(() => renderConfigFile('c.yaml', { target: 'cloud-init' }, `version: 1\nfiles: [{path: /a, source: "data:,hello", verify: ${bad}}]\n`)).toThrow(/files\[0\] \(\/a\): its data does not match verify/);
  });
});

describe('machine-wide settings (issue 20)', () => {
  it('etc_hosts is appended, CA certificates go where Fedora CoreOS takes them, swap_file and power_state are flint\'s own units; ntp and raspberry_pi are losses', () => {
    const r = render('version: 1\netc_hosts:\n  - {address: 10.0.0.2, names: [db]}\nca_certificates:\n  - {name: lab, source: "data:,-----BEGIN%20CERTIFICATE-----"}\nswap_file: {size: 1GiB}\npower_state: {mode: poweroff}\nntp: {servers: [a.example]}\nraspberry_pi: {spi: true}\n', 'examples/c.yaml');
    const ign = JSON.parse(r.files[0]!.text) as { storage: { files: Obj[] }; systemd: { units: Obj[] } };
    const hosts = ign.storage.files.find((f) => f.path === '/etc/hosts');
    expect(decodeDataUrl(String((hosts?.append as Obj[])[0]?.source))?.toString()).toBe('10.0.0.2\tdb\n');
    expect(ign.storage.files.some((f) => f.path === '/etc/pki/ca-trust/source/anchors/lab.pem')).toBe(true);
    expect(ign.systemd.units.map((u) => [u.name, u.enabled])).toEqual(expect.arrayContaining([['flint-swap-file.service', undefined], ['swapfile.swap', true], ['flint-power-state.service', true]]));
    expect(r.losses.map((d) => d.path)).toEqual(['ntp', 'raspberry_pi']);
  });
});
