/**
 * cloud-init NoCloud seeds converted to flint configs: the documentation's examples
 * convert and validate; every cloud-init form of each supported key comes out with
 * cloud-init's meaning; broken YAML and wrong types are reported at the seed's
 * line:col; unsupported keys are named in one warning; secrets never show.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { Diagnostic } from '../../src/config/diagnostics.js';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import type { Connection, File, User } from '../../src/config/generated/model.js';
import { validateText } from '../../src/config/validate.js';
import { fromCloudInit, looksLikeCloudConfig, readNoCloudSeed } from '../../src/convert/cloudinit.js';
import { issue } from '../helpers/pki.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/cloud-init');
const fixture = (name: string) => ({ file: join(FIXTURES, name), text: readFileSync(join(FIXTURES, name), 'utf8') });
const ud = (text: string) => fromCloudInit({ userData: { file: 'user-data', text } });
const nc = (text: string) => fromCloudInit({ networkConfig: { file: 'network-config', text } });

/** Line and column (1-based) of the first occurrence of `needle` in `text`. */
function where(text: string, needle: string, nth = 0): { line: number; column: number } {
  let at = -1;
  for (let i = 0; i <= nth; i++) at = text.indexOf(needle, at + 1);
  if (at < 0) throw new Error(`${needle} not in text`);
  const before = text.slice(0, at).split('\n');
  return { line: before.length, column: (before[before.length - 1] ?? '').length + 1 };
}

const errors = (ds: Diagnostic[]) => ds.filter((d) => d.severity === 'error');

function validConfig(r: { config?: Record<string, unknown>; diagnostics: Diagnostic[] }): Record<string, unknown> {
  expect(errors(r.diagnostics).map((d) => formatDiagnostic(d, { color: false }))).toEqual([]);
  expect(r.config).toBeDefined();
  const v = validateText('converted.yaml', stringify(r.config));
  expect(errors(v.diagnostics).map((d) => formatDiagnostic(d, { color: false }))).toEqual([]);
  return r.config ?? {};
}

const userNamed = (cfg: Record<string, unknown>, name: string) => (cfg.users as User[]).find((u) => u.name === name);

describe('format detection and seed reading', () => {
  it('takes #cloud-config on the first line, and nothing else', () => {
    expect(looksLikeCloudConfig('#cloud-config\nusers: []\n')).toBe(true);
    expect(looksLikeCloudConfig('#cloud-config')).toBe(true);
    expect(looksLikeCloudConfig('\uFEFF#cloud-config\r\nhostname: a\r\n')).toBe(true);
    expect(looksLikeCloudConfig('# cloud-config\n')).toBe(false);
    expect(looksLikeCloudConfig('version: 1\n#cloud-config\n')).toBe(false);
    expect(looksLikeCloudConfig('#cloud-configuration\n')).toBe(false);
    expect(looksLikeCloudConfig('#!/bin/sh\n')).toBe(false);
  });

  const dir = mkdtempSync(join(tmpdir(), 'flint-nocloud-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads user-data, meta-data and network-config from a folder, leaving out missing ones', () => {
    writeFileSync(join(dir, 'user-data'), '#cloud-config\nhostname: a\n');
    writeFileSync(join(dir, 'meta-data'), 'instance-id: i-1\n');
    const seed = readNoCloudSeed(dir);
    expect(seed.userData).toEqual({ file: join(dir, 'user-data'), text: '#cloud-config\nhostname: a\n' });
    expect(seed.metaData?.text).toBe('instance-id: i-1\n');
    expect(seed.networkConfig).toBeUndefined();
    expect(fromCloudInit(seed).config).toEqual({ version: 1, hostname: 'a' });
  });
});

describe("cloud-init's users and groups example (cloud-config-user-groups)", () => {
  const seed = fixture('users-groups.user-data');
  const r = fromCloudInit({ userData: seed });

  it('converts to a config flint validates', () => {
    validConfig(r);
  });

  it('keeps every user and what each asked for, with cloud-init password locking', () => {
    const cfg = validConfig(r);
    expect(userNamed(cfg, 'foobar')).toEqual({
      name: 'foobar',
      gecos: 'Foo B. Bar',
      groups: ['users'],
      // lock_passwd: false keeps the hash usable; primary_group foobar is flint's default.
      password_hash: '$6$j212wezy$7H/1LT4f9/N3wpgNunhsIqtMj62OKiS3nyNwuizouQc3u7MbYCarYeAHWYPYb2FT.lbioDm2RrkJPb9BZMN1O/',
    });
    const barfoo = userNamed(cfg, 'barfoo');
    expect(barfoo?.sudo).toBe('nopasswd');
    expect(barfoo?.groups).toEqual(['users', 'admin']);
    expect(barfoo?.password_hash).toBe('!');
    expect(barfoo?.ssh_authorized_keys?.[0]).toMatch(/^ssh-rsa AAAAB3NzaC1yc2E.* csmith@fringe$/);
    expect(userNamed(cfg, 'cloudy')).toMatchObject({ system: true, password_hash: '!' });
    expect(userNamed(cfg, 'fizzbuzz')).toMatchObject({ sudo: 'none', shell: '/bin/bash' });
    expect(userNamed(cfg, 'nosshlogins')).toEqual({ name: 'nosshlogins', password_hash: '!' });
  });

  it('makes the default user as Debian cloud-init does, and says so', () => {
    const cfg = validConfig(r);
    expect(userNamed(cfg, 'debian')).toMatchObject({ gecos: 'Debian', shell: '/bin/bash', sudo: 'nopasswd', password_hash: '!' });
    expect(userNamed(cfg, 'debian')?.groups).toContain('sudo');
    const d = r.diagnostics.find((x) => x.code === 'default-user');
    expect(d?.message).toMatch(/"debian"/);
    expect(d).toMatchObject(where(seed.text, 'users:\n  - default'));
  });

  it("creates the groups, and adds root and sys to admingroup as groups: asks", () => {
    const cfg = validConfig(r);
    const names = (cfg.groups as Array<{ name: string }>).map((g) => g.name);
    expect(names).toEqual(expect.arrayContaining(['admingroup', 'cloud-users', 'admin', 'users']));
    expect(userNamed(cfg, 'root')).toEqual({ name: 'root', groups: ['admingroup'] });
    expect(userNamed(cfg, 'sys')).toEqual({ name: 'sys', groups: ['admingroup'] });
  });

  it('names every key it does not apply in one warning, with line:col', () => {
    const unsupported = r.diagnostics.filter((d) => d.code === 'unsupported');
    expect(unsupported).toHaveLength(1);
    const msg = unsupported[0]?.message ?? '';
    for (const [key, needle, nth] of [
      ['users[1].selinux_user', 'selinux_user:', 0],
      ['users[1].expiredate', 'expiredate:', 0],
      ['users[1].ssh_import_id', 'ssh_import_id:', 0],
      ['users[2].ssh_import_id', 'ssh_import_id:', 1],
      ['users[3].inactive', 'inactive:', 0],
      ['users[5].snapuser', 'snapuser:', 0],
      ['users[6].ssh_redirect_user', 'ssh_redirect_user:', 0],
    ] as const) {
      const { line, column } = where(seed.text, `    ${needle}`.replace('    snapuser', '  - snapuser'), nth);
      const col = needle === 'snapuser:' ? column + 4 : column + 4;
      expect(msg).toContain(`${key} (${line}:${col})`);
    }
    expect(unsupported[0]).toMatchObject({ line: where(seed.text, '    selinux_user').line, column: 5 });
    expect(unsupported[0]?.hint).toMatch(/expiredate: flint sets no account expiry date/);
  });
});

describe("cloud-init's write_files examples", () => {
  const files = (n: number) => validConfig(fromCloudInit({ userData: fixture(`write-files-${n}.user-data`) })).files as File[];

  it('1: base64 content, decoded past the "..." as Python does', () => {
    const r = fromCloudInit({ userData: fixture('write-files-1.user-data') });
    const [f] = validConfig(r).files as File[];
    expect(f).toMatchObject({ path: '/etc/sysconfig/selinux', mode: '0644', owner: 'root', group: 'root' });
    expect(Buffer.from(f?.contents_base64 ?? '', 'base64').toString()).toBe('\n# This file controls the state of SELinux');
    expect(r.diagnostics.find((d) => d.code === 'base64')).toMatchObject({ severity: 'warning', line: 5, column: 12 });
  });

  it('2: append', () => {
    expect(files(2)).toEqual([{ path: '/etc/crontab', contents: '15 * * * * root ship_logs\n', mode: '0644', owner: 'root', group: 'root', append: true }]);
  });

  it('3: gzip in !!binary', () => {
    const [f] = files(3);
    expect(f).toMatchObject({ path: '/usr/bin/hello', mode: '0755', compression: 'gzip' });
    expect(gunzipSync(Buffer.from(f?.contents_base64 ?? '', 'base64')).toString()).toBe("#!/bin/sh\necho hello world\n");
  });

  it('4: no content is an empty file, replacing what is there', () => {
    expect(files(4)).toEqual([{ path: '/root/CLOUD_INIT_WAS_HERE', contents: '', mode: '0644', owner: 'root', group: 'root' }]);
  });

  it('5: defer, owner user:group, 0640; the unknown owner is flagged at the seed line', () => {
    const seed = fixture('write-files-5.user-data');
    const r = fromCloudInit({ userData: seed });
    const [f] = validConfig(r).files as File[];
    expect(f).toMatchObject({ path: '/etc/nginx/conf.d/example.com.conf', mode: '0640', owner: 'nginx', group: 'nginx' });
    expect(f?.contents).toContain('try_files $uri $uri/ $uri.html =404;');
    const owner = r.diagnostics.find((d) => /user "nginx"/.test(d.message));
    expect(owner).toMatchObject({ severity: 'warning', ...where(seed.text, "'nginx:nginx'"), path: 'write_files[0].owner' });
    expect(r.diagnostics.some((d) => d.code === 'unsupported')).toBe(false);
  });

  it('reads permissions as cloud-init does: unquoted 0644 is octal, 420 is taken as the number', () => {
    const r = ud('#cloud-config\nwrite_files:\n- {path: /a, permissions: 0644}\n- {path: /b, permissions: 420}\n- {path: /c, permissions: "755"}\n- {path: /d, owner: admin}\n');
    expect((validConfig(r).files as File[]).map((f) => [f.mode, f.owner, f.group])).toEqual([['0644', 'root', 'root'], ['0644', 'root', 'root'], ['0755', 'root', 'root'], ['0644', 'admin', 'root']]);
  });

  it('gz+b64 text becomes contents_base64 with gzip; a bad encoding is an error at its line', () => {
    const r = ud('#cloud-config\nwrite_files:\n- {path: /a, encoding: gz+b64, content: "H4sIAIDb/U8C/1NW1E/KzNMvzuBKTc7IV8hIzcnJVyjPL8pJ4QIA6N+MVxsAAAA="}\n');
    expect((validConfig(r).files as File[])[0]).toMatchObject({ compression: 'gzip' });
    const bad = ud('#cloud-config\nwrite_files:\n- path: /a\n  encoding: rot13\n  content: x\n');
    expect(bad.config).toBeUndefined();
    expect(errors(bad.diagnostics)).toMatchObject([{ code: 'encoding', line: 4, column: 13, path: 'write_files[0].encoding' }]);
  });
});

describe('network-config version 2', () => {
  it("Netplan's Wi-Fi example: one wifi connection with its SSID, password, address, route and DNS", () => {
    const seed = fixture('network-v2-wifi.network-config');
    const r = fromCloudInit({ networkConfig: seed });
    const cfg = validConfig(r);
    expect(cfg.network).toEqual({
      renderer: 'networkd',
      connections: [
        {
          name: 'wlp2s0b1',
          type: 'wifi',
          interface: 'wlp2s0b1',
          wifi: { ssid: 'network_ssid_name', security: 'wpa-psk', password: '**********' },
          ipv4: { method: 'static', addresses: ['192.168.0.21/24'], routes: [{ to: '0.0.0.0/0', via: '192.168.0.1' }], dns: ['192.168.0.1', '8.8.8.8'] },
        },
      ],
    });
    // flint's own finding (no Wi-Fi country) is reported at the seed's Wi-Fi definition.
    expect(r.diagnostics.find((d) => /wifi_country/.test(d.message))).toMatchObject({ severity: 'warning', ...where(seed.text, 'wlp2s0b1:') });
  });

  it("cloud-init's complex example: members matched by MAC or driver are errors at the member's line:col", () => {
    const seed = fixture('network-v2-complex.network-config');
    const r = fromCloudInit({ networkConfig: seed });
    expect(r.config).toBeUndefined();
    const errs = errors(r.diagnostics);
    expect(errs.map((d) => [d.line, d.column, d.path])).toEqual([
      [where(seed.text, 'id0, lom').line, where(seed.text, 'id0, lom').column, 'network.bonds.bond0.interfaces[0]'],
      [where(seed.text, 'lom]').line, where(seed.text, 'lom]').column, 'network.bonds.bond0.interfaces[1]'],
      [where(seed.text, 'link: id0').line, where(seed.text, 'link: id0').column + 6, 'network.vlans.en-intra.link'],
    ]);
    expect(errs[0]?.message).toMatch(/matched by MAC address/);
    expect(errs[1]?.message).toMatch(/matched by driver/);
    const unsupported = r.diagnostics.filter((d) => d.code === 'unsupported');
    expect(unsupported).toHaveLength(1);
    expect(unsupported[0]?.message).toContain('network.ethernets.lom.set-name');
  });

  it('the parts of the complex example flint can express convert with their meaning', () => {
    const text = [
      'network:',
      '  version: 2',
      '  ethernets:',
      '    eno1: {}',
      '    switchports:',
      '      match: {name: "enp2*"}',
      '      mtu: 1280',
      '    id0:',
      '      match: {macaddress: "00:11:22:33:44:55"}',
      '      dhcp4: true',
      '      addresses: [192.168.14.2/24, "2001:1::1/64"]',
      '      gateway4: 192.168.14.1',
      '      gateway6: "2001:1::2"',
      '      nameservers: {search: [foo.local, bar.local], addresses: [8.8.8.8]}',
      '      routes: [{to: 192.0.2.0/24, via: 192.168.14.254, metric: 3}]',
      '  bonds:',
      '    bond0: {interfaces: [eno1], parameters: {mode: active-backup}}',
      '  bridges:',
      '    br0: {interfaces: [wlp1s0, switchports], dhcp4: true}',
      '  vlans:',
      '    en-intra: {id: 1, link: id0, dhcp4: yes}',
      '',
    ].join('\n');
    const conns = (validConfig(nc(text)).network as { connections: Connection[] }).connections;
    expect(conns.map((c) => c.name)).toEqual(['id0', 'bond0', 'br0', 'en-intra']);
    expect(conns[0]).toEqual({
      name: 'id0',
      type: 'ethernet',
      mac: '00:11:22:33:44:55',
      ipv4: { method: 'dhcp', addresses: ['192.168.14.2/24'], routes: [{ to: '0.0.0.0/0', via: '192.168.14.1' }, { to: '192.0.2.0/24', via: '192.168.14.254', metric: 3 }], dns: ['8.8.8.8'] },
      ipv6: { method: 'static', addresses: ['2001:1::1/64'], gateway: '2001:1::2' },
      dns_search: ['foo.local', 'bar.local'],
    });
    expect(conns[1]).toMatchObject({ type: 'bond', interface: 'bond0', bond: { mode: 'active-backup', members: ['eno1'] }, ipv4: { method: 'disabled' } });
    // Netplan's bridges run STP unless told otherwise.
    expect(conns[2]).toMatchObject({ type: 'bridge', bridge: { members: ['wlp1s0', 'enp2*'], stp: true }, ipv4: { method: 'dhcp' } });
    expect(conns[3]).toMatchObject({ type: 'vlan', vlan: { id: 1, parent: 'id0' }, ipv4: { method: 'dhcp' } });
  });

  it('access points: one connection each, sae, open and hidden; regulatory-domain sets the Wi-Fi country', () => {
    const text = 'version: 2\nwifis:\n  wlan0:\n    dhcp4: true\n    regulatory-domain: de\n    access-points:\n      "Home": {password: "correct horse"}\n      "Cafe": {}\n      "Lab": {hidden: true, auth: {key-management: sae, password: "battery staple"}}\n';
    const net = validConfig(nc(text)).network as { wifi_country: string; connections: Connection[] };
    expect(net.wifi_country).toBe('DE');
    expect(net.connections.map((c) => [c.name, c.interface, c.wifi, c.ipv4?.method])).toEqual([
      ['wlan0-Home', 'wlan0', { ssid: 'Home', security: 'wpa-psk', password: 'correct horse' }, 'dhcp'],
      ['wlan0-Cafe', 'wlan0', { ssid: 'Cafe', security: 'open' }, 'dhcp'],
      ['wlan0-Lab', 'wlan0', { ssid: 'Lab', security: 'sae', password: 'battery staple', hidden: true }, 'dhcp'],
    ]);
  });

  it('enterprise Wi-Fi is named in the warning and never shows its password', () => {
    const text = 'version: 2\nwifis:\n  wlan0:\n    dhcp4: true\n    access-points:\n      "Corp":\n        auth: {key-management: eap, method: peap, identity: me, password: "s3cr3t-Corp-pw"}\n';
    const r = nc(text);
    expect(r.config).toEqual({ version: 1 });
    const w = r.diagnostics.find((d) => d.code === 'unsupported');
    expect(w?.message).toContain('wifis.wlan0.access-points.Corp.auth.key-management (7:16)');
    expect(JSON.stringify(r.diagnostics)).not.toContain('s3cr3t');
  });

  it('wrong types are errors at the value', () => {
    const r = nc('version: 2\nethernets:\n  eth0:\n    dhcp4: maybe\n    mtu: big\n');
    expect(errors(r.diagnostics).map((d) => [d.line, d.column, d.path, d.message])).toEqual([
      [4, 12, 'ethernets.eth0.dhcp4', 'ethernets.eth0.dhcp4 must be true or false, not text'],
      [5, 10, 'ethernets.eth0.mtu', 'ethernets.eth0.mtu must be a whole number, not text'],
    ]);
    expect(errors(nc('version: 3\n').diagnostics)).toMatchObject([{ line: 1, column: 10, code: 'version' }]);
  });
});

describe('network-config version 1', () => {
  it('physical by MAC with a netmask, a bond, a VLAN, global name servers and a global route', () => {
    const text = [
      'network:',
      '  version: 1',
      '  config:',
      '    - type: physical',
      '      name: eth0',
      '      mac_address: "52:54:00:12:34:00"',
      '      subnets:',
      '        - type: static',
      '          address: 192.168.1.10',
      '          netmask: 255.255.255.0',
      '          gateway: 192.168.1.1',
      '        - type: dhcp6',
      '    - {type: physical, name: eth1}',
      '    - {type: physical, name: eth2}',
      '    - type: bond',
      '      name: bond0',
      '      bond_interfaces: [eth1, eth2]',
      '      params: {bond-mode: active-backup}',
      '      subnets: [{type: dhcp}]',
      '    - {type: vlan, name: eth0.10, vlan_link: eth0, vlan_id: 10, subnets: [{type: static, address: 10.10.0.5/24}]}',
      '    - {type: nameserver, address: [192.168.1.53, "2001:db8::53"], search: [example.org]}',
      '    - {type: route, destination: 10.0.0.0/8, gateway: 192.168.1.254, metric: 5}',
      '',
    ].join('\n');
    const conns = (validConfig(nc(text)).network as { connections: Connection[] }).connections;
    expect(conns.map((c) => c.name)).toEqual(['eth0', 'bond0', 'eth0.10']);
    expect(conns[0]).toEqual({
      name: 'eth0',
      type: 'ethernet',
      mac: '52:54:00:12:34:00',
      ipv4: { method: 'static', addresses: ['192.168.1.10/24'], gateway: '192.168.1.1', dns: ['192.168.1.53'], routes: [{ to: '10.0.0.0/8', via: '192.168.1.254', metric: 5 }] },
      ipv6: { method: 'dhcp', dns: ['2001:db8::53'] },
      dns_search: ['example.org'],
    });
    expect(conns[1]).toMatchObject({ type: 'bond', bond: { members: ['eth1', 'eth2'], mode: 'active-backup' }, ipv4: { method: 'dhcp' } });
    expect(conns[2]).toMatchObject({ type: 'vlan', interface: 'eth0.10', vlan: { id: 10, parent: 'eth0' }, ipv4: { method: 'static', addresses: ['10.10.0.5/24'] } });
  });
});

describe('user-data keys', () => {
  it('hostname from fqdn, meta-data local-hostname, or kept with preserve_hostname', () => {
    expect(ud('#cloud-config\nfqdn: web.example.org\n').config?.hostname).toBe('web');
    expect(ud('#cloud-config\nfqdn: web.example.org\nprefer_fqdn_over_hostname: true\n').config?.hostname).toBe('web.example.org');
    expect(ud('#cloud-config\nhostname: db.example.org\n').config?.hostname).toBe('db');
    expect(ud('#cloud-config\nhostname: a\npreserve_hostname: true\n').config?.hostname).toBeUndefined();
    const both = fromCloudInit({ userData: { file: 'u', text: '#cloud-config\ntimezone: Europe/Berlin\n' }, metaData: { file: 'm', text: 'instance-id: x\nlocal-hostname: node-7.lan\n' } });
    expect(validConfig(both)).toEqual({ version: 1, hostname: 'node-7', timezone: 'Europe/Berlin' });
  });

  it('timezone, locale, keyboard, ssh_pwauth, growpart, runcmd and bootcmd', () => {
    const r = ud(
      [
        '#cloud-config',
        'timezone: Europe/Berlin',
        'locale: en_US.UTF-8',
        'keyboard: {layout: de, variant: nodeadkeys}',
        'ssh_pwauth: no',
        'growpart: {mode: auto, devices: ["/"]}',
        'resize_rootfs: true',
        'bootcmd:',
        '  - echo early > /run/early',
        'runcmd:',
        '  - [sh, -c, "echo it\'s here"]',
        '  - touch /var/lib/done',
        '',
      ].join('\n'),
    );
    expect(r.config).toMatchObject({
      timezone: 'Europe/Berlin',
      locale: 'en_US.UTF-8',
      keymap: 'de-nodeadkeys',
      ssh: { password_authentication: false },
      storage: { grow_root: true },
      scripts: [
        { name: 'bootcmd', stage: 'pre', contents: '#!/bin/sh\necho early > /run/early\n' },
        { name: 'runcmd', stage: 'post', contents: "#!/bin/sh\n'sh' '-c' 'echo it'\\''s here'\ntouch /var/lib/done\n" },
      ],
    });
    expect(r.diagnostics.find((d) => d.code === 'bootcmd')).toMatchObject({ severity: 'warning', line: 8, column: 1 });
    validConfig(r);
  });

  it('mounts with a known type become filesystems; cloud-specific ones are named in the warning', () => {
    const r = ud('#cloud-config\nmounts:\n  - [/dev/vdb, /srv, ext4, "defaults,noatime", "0", "2"]\n  - [ephemeral0, /mnt, auto]\n  - [LABEL=data, /data, xfs]\n');
    expect(r.config?.storage).toEqual({
      filesystems: [
        { device: '/dev/vdb', format: 'ext4', mount: '/srv', mount_options: ['defaults', 'noatime'] },
        { device: '/dev/disk/by-label/data', format: 'xfs', mount: '/data', mount_options: ['defaults', 'nofail'] },
      ],
    });
    expect(r.diagnostics.find((d) => d.code === 'unsupported')?.message).toContain('mounts[1] (4:5)');
  });

  it('top-level ssh_authorized_keys go to the default user; system_info names it', () => {
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host';
    const r = ud(`#cloud-config\nsystem_info:\n  default_user:\n    name: pi\nssh_authorized_keys:\n  - ${key}\n`);
    const cfg = validConfig(r);
    expect(userNamed(cfg, 'pi')).toMatchObject({ ssh_authorized_keys: [key], sudo: 'nopasswd', password_hash: '!' });
    expect(r.diagnostics.find((d) => d.code === 'default-user')).toMatchObject({ line: 4, column: 5 });
    const named = fromCloudInit({ userData: { file: 'u', text: `#cloud-config\nssh_authorized_keys: ["${key}"]\n` } }, { defaultUser: 'admin' });
    expect(userNamed(validConfig(named), 'admin')?.ssh_authorized_keys).toEqual([key]);
    expect(named.diagnostics.some((d) => d.code === 'default-user')).toBe(false);
  });

  it('chpasswd list and users forms set passwords after users; expiry is named in the warning', () => {
    const hash = '$6$rounds=4096$saltsalt$' + 'a'.repeat(86);
    const r = ud(`#cloud-config\nusers: [default, {name: ops, lock_passwd: true}]\nchpasswd:\n  list: |\n    ops:${hash}\n    root:Hunter2-secret\n  users:\n    - {name: debian, password: Another-secret, type: text}\n`);
    const cfg = r.config ?? {};
    expect(userNamed(cfg, 'ops')).toMatchObject({ password_hash: hash });
    expect(userNamed(cfg, 'root')).toMatchObject({ password: 'Hunter2-secret' });
    expect(userNamed(cfg, 'debian')).toMatchObject({ password: 'Another-secret' });
    const w = r.diagnostics.find((d) => d.code === 'unsupported');
    expect(w?.message).toContain('chpasswd (3:1)');
    expect(w?.hint).toMatch(/password change at first login/);
  });

  it('a bad chpasswd line is an error that shows no password', () => {
    const r = ud('#cloud-config\nchpasswd:\n  list:\n    - "root Hunter2-secret"\n');
    expect(errors(r.diagnostics)).toMatchObject([{ line: 4, column: 7, code: 'chpasswd' }]);
    const shown = r.diagnostics.map((d) => formatDiagnostic(d, { color: false })).join('\n');
    expect(shown).not.toContain('Hunter2');
  });

  it('a plain_text_passwd left locked becomes a lock, with a warning; unlocked it is kept for flint to hash', () => {
    const locked = ud('#cloud-config\nusers:\n  - name: a\n    plain_text_passwd: Hunter2-secret\n');
    expect(userNamed(locked.config ?? {}, 'a')).toEqual({ name: 'a', password_hash: '!' });
    expect(locked.diagnostics.find((d) => d.code === 'locked-password')).toMatchObject({ line: 4, column: 5 });
    const open = ud('#cloud-config\nusers:\n  - name: a\n    lock_passwd: false\n    plain_text_passwd: Hunter2-secret\n');
    expect(userNamed(open.config ?? {}, 'a')).toEqual({ name: 'a', password: 'Hunter2-secret' });
    const shown = [...locked.diagnostics, ...open.diagnostics].map((d) => formatDiagnostic(d, { color: false })).join('\n');
    expect(shown).not.toContain('Hunter2');
  });

  it('sudo rules: full rights map, narrower ones are refused with a warning', () => {
    const r = ud('#cloud-config\nusers:\n  - {name: a, sudo: "ALL=(ALL:ALL) ALL"}\n  - {name: b, sudo: ["ALL=(ALL) NOPASSWD:/bin/mysql"]}\n');
    expect((r.config?.users as User[]).map((u) => u.sudo)).toEqual(['password', undefined]);
    expect(r.diagnostics.find((d) => d.code === 'sudo-rule')).toMatchObject({ line: 4, column: 21 });
  });

  it("users and groups in cloud-init's other forms; meta-data keys; disable_root: false gives root the keys", () => {
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host';
    const r = fromCloudInit({
      userData: { file: 'u', text: `#cloud-config\nusers: "default, alice"\ngroups: "ops, media"\ndisable_root: false\nssh_authorized_keys: ["${key}"]\nssh_deletekeys: true\n` },
      metaData: { file: 'm', text: `instance-id: i-9\npublic-keys:\n  laptop: ["${key.replace('user@host', 'meta@host')}"]\n` },
    });
    const cfg = validConfig(r);
    expect((cfg.groups as Array<{ name: string }>).map((g) => g.name)).toEqual(expect.arrayContaining(['ops', 'media', 'sudo']));
    expect(userNamed(cfg, 'alice')).toEqual({ name: 'alice', password_hash: '!' });
    expect(userNamed(cfg, 'debian')?.ssh_authorized_keys).toEqual([key, key.replace('user@host', 'meta@host')]);
    expect(userNamed(cfg, 'root')).toEqual({ name: 'root', ssh_authorized_keys: [key] });
    expect(cfg.ssh).toEqual({ host_keys: 'generate' });
    const dict = validConfig(ud('#cloud-config\nusers:\n  bob: {gecos: Bob, sudo: ["ALL=(ALL) NOPASSWD:ALL"], lock_passwd: false}\n'));
    expect(userNamed(dict, 'bob')).toEqual({ name: 'bob', gecos: 'Bob', sudo: 'nopasswd' });
  });

  it('a script as user-data becomes a post script; MIME and #include are refused', () => {
    expect(ud('#!/bin/sh\necho hi\n').config).toEqual({ version: 1, scripts: [{ name: 'user-data', stage: 'post', contents: '#!/bin/sh\necho hi\n' }] });
    expect(errors(ud('Content-Type: multipart/mixed; boundary="x"\n').diagnostics)).toMatchObject([{ code: 'user-data-format', line: 1, column: 1 }]);
    expect(errors(ud('#include\nhttps://example.org/x\n').diagnostics)[0]?.message).toMatch(/#include/);
  });

  it('keys flint does not apply are listed in one warning with their line:col', () => {
    const r = ud('#cloud-config\nsnap: {commands: [x]}\nbyobu_by_default: enable\nhostname: web\nfinal_message: done\nsystem_info: {distro: debian}\n');
    const w = r.diagnostics.filter((d) => d.code === 'unsupported');
    expect(w).toHaveLength(1);
    expect(w[0]).toMatchObject({ severity: 'warning', line: 2, column: 1 });
    expect(w[0]?.message).toBe('flint does not apply these 4 settings of the cloud-init seed: snap (2:1), byobu_by_default (3:1), final_message (5:1), system_info.distro (6:15)');
    expect(w[0]?.hint).toContain('snap: flint installs no snaps: install them from a post script');
    expect(r.config).toEqual({ version: 1, hostname: 'web' });
  });
});

describe('broken input', () => {
  it('broken YAML is reported at its line:col, with no config', () => {
    const r = ud('#cloud-config\nusers:\n  - name: a\n   gecos: x\n');
    expect(r.config).toBeUndefined();
    const e = errors(r.diagnostics);
    expect(e.length).toBeGreaterThan(0);
    expect(e[0]).toMatchObject({ file: 'user-data', line: 4, code: 'syntax' });
    const dup = ud('#cloud-config\nhostname: a\nhostname: b\n');
    expect(errors(dup.diagnostics)).toMatchObject([{ line: 3, column: 1, code: 'duplicate-key' }]);
  });

  it('broken network-config YAML names the network-config file', () => {
    const r = nc('version: 2\nethernets:\n  eth0: {dhcp4: true\n');
    expect(errors(r.diagnostics)[0]).toMatchObject({ file: 'network-config', line: 4 });
  });

  it('wrong types are errors at the value, one per value', () => {
    const r = ud('#cloud-config\nwrite_files:\n  path: /etc/motd\nusers:\n  - name: a\n    uid: abc\n    groups: 7\nssh_pwauth: maybe\nruncmd: ls\n');
    expect(r.config).toBeUndefined();
    expect(errors(r.diagnostics).map((d) => [d.line, d.column, d.path, d.message])).toEqual([
      [3, 3, 'write_files', 'write_files must be a list, not a map'],
      [6, 10, 'users[0].uid', 'users[0].uid must be a whole number, not text'],
      [7, 13, 'users[0].groups', 'users[0].groups must be a list of text, not a number'],
      [8, 13, 'ssh_pwauth', 'ssh_pwauth must be true or false, not text'],
      [9, 9, 'runcmd', 'runcmd must be a list, not text'],
    ]);
  });

  it('a seed whose top level is not a map is an error', () => {
    expect(errors(ud('#cloud-config\n- a\n- b\n').diagnostics)).toMatchObject([{ line: 2, column: 1, code: 'type' }]);
  });

  it('values flint refuses are reported at the seed line they come from', () => {
    const r = ud('#cloud-config\ntimezone: Mars/Olympus\nusers:\n  - name: a\n    ssh_authorized_keys: ["<ssh pub key 1>"]\n');
    expect(r.config).toBeUndefined();
    expect(errors(r.diagnostics).map((d) => [d.line, d.column, d.path])).toEqual([
      [2, 11, 'timezone'],
      [5, 27, 'users[0].ssh_authorized_keys[0]'],
    ]);
    expect(errors(r.diagnostics)[1]?.message).toMatch(/flint's users\[0\]\.ssh_authorized_keys\[0\]/);
  });
});

describe('mutated seeds (seeded fuzz)', () => {
  // Long and mixed, like the secrets of the project's own fuzz test: where a line does
  // not parse, the loader can only recognise a secret by its look.
  const SECRET = 'Zk8Hq2Lm9Xp4Wr7Tn3Bv';
  const seeds = [
    ...['users-groups.user-data', 'write-files-1.user-data', 'write-files-3.user-data', 'write-files-5.user-data'].map((n) => ({ kind: 'userData' as const, text: fixture(n).text })),
    { kind: 'userData' as const, text: `#cloud-config\nchpasswd:\n  list: |\n    root:${SECRET}\nusers:\n  - name: a\n    lock_passwd: false\n    plain_text_passwd: ${SECRET}\nruncmd:\n  - [ls, -l]\nmounts:\n  - [/dev/vdb, /srv, ext4]\n` },
    ...['network-v2-wifi.network-config', 'network-v2-complex.network-config'].map((n) => ({ kind: 'networkConfig' as const, text: fixture(n).text.replace('**********', SECRET) })),
    { kind: 'networkConfig' as const, text: `version: 1\nconfig:\n  - {type: physical, name: eth0, subnets: [{type: static, address: 10.0.0.2/24, gateway: 10.0.0.1}]}\n  - {type: nameserver, address: [10.0.0.53]}\n` },
  ];
  const pieces = [':', '-', ' ', '\n', '[', ']', '{', '}', "'", '"', '0', 'yes', '!!binary ', '\t', 'null', '- - ', '&a ', '*a'];

  it('never throws, always places its diagnostics, and never shows a secret', () => {
    let state = Number(process.env.FLINT_FUZZ_SEED ?? 12345) >>> 0;
    const rand = (n: number) => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state % n;
    };
    const runs = Number(process.env.FLINT_FUZZ_RUNS ?? 120);
    for (const seed of seeds) {
      for (let run = 0; run < runs; run++) {
        let text = seed.text;
        for (let k = 1 + rand(3); k > 0; k--) {
          const at = rand(text.length + 1);
          if (rand(2) === 0) text = text.slice(0, at) + text.slice(at + 1 + rand(8));
          else text = text.slice(0, at) + (pieces[rand(pieces.length)] ?? '') + text.slice(at);
        }
        const input = { file: 'seed', text };
        let r: ReturnType<typeof fromCloudInit> | undefined;
        expect(() => (r = fromCloudInit(seed.kind === 'userData' ? { userData: input } : { networkConfig: input })), text).not.toThrow();
        for (const d of r?.diagnostics ?? []) {
          expect(d.line, text).toBeGreaterThanOrEqual(1);
          expect(d.column, text).toBeGreaterThanOrEqual(1);
          expect(formatDiagnostic(d, { color: false }), text).not.toContain(SECRET);
        }
        if (r?.config !== undefined) expect(errors(validateText('c.yaml', stringify(r.config)).diagnostics), text).toEqual([]);
      }
    }
  }, 120_000);
});

describe('machine-wide modules (issue 20): ntp, ca_certs, manage_etc_hosts, swap, power_state, rpi', () => {
  const PEM = issue({ subject: 'seed CA', ca: true }).certPem.replace(/\r\n/g, '\n').trim();

  it("each becomes flint's own setting, with the seed line it came from", () => {
    const text = [
      '#cloud-config',
      'fqdn: pi.home.arpa',
      'manage_etc_hosts: localhost',
      'ntp:',
      '  servers: [ntp.example.org]',
      '  pools: [0.pool.example.org]',
      'swap:',
      '  filename: /swapfile',
      '  size: 2G',
      'power_state:',
      '  mode: reboot',
      '  delay: 5',
      '  message: bye',
      'rpi:',
      '  interfaces:',
      '    i2c: true',
      '    spi: false',
      '    serial: {console: true, hardware: true}',
      '',
    ].join('\n');
    const r = ud(text);
    expect(r.diagnostics.filter((d) => d.code === 'unsupported')).toEqual([]);
    expect(r.config).toMatchObject({
      hostname: 'pi',
      etc_hosts: [{ address: '127.0.1.1', names: ['pi.home.arpa', 'pi'] }],
      ntp: { servers: ['ntp.example.org'], pools: ['0.pool.example.org'] },
      swap_file: { path: '/swapfile', size: '2GiB' },
      power_state: { mode: 'reboot', delay_seconds: 300, message: 'bye' },
      raspberry_pi: { i2c: true, spi: false, serial_console: true, serial_hardware: true },
    });
    validConfig(r);
  });

  it('ca_certs.trusted become ca_certificates under cloud-init\'s own file names; remove_defaults is named as not applied', () => {
    const r = ud(`#cloud-config\nca_certs:\n  remove_defaults: true\n  trusted:\n    - |\n${PEM.replace(/^/gm, '      ')}\n`);
    expect(r.config?.ca_certificates).toEqual([{ name: 'cloud-init-ca-cert-1', contents: `${PEM}\n` }]);
    const w = r.diagnostics.filter((d) => d.code === 'unsupported');
    expect(w[0]?.message).toMatch(/ca_certs\.remove_defaults \(3:3\)/);
  });

  it('what flint cannot take is said: swap size auto, power_state condition, ntp peers, ssh_import_id', () => {
    const r = ud('#cloud-config\nswap: {filename: /swap.img, size: auto}\npower_state: {mode: poweroff, condition: true}\nntp: {servers: [a.example], peers: [b.example]}\nssh_import_id: [gh:someone]\n');
    const msg = r.diagnostics.filter((d) => d.code === 'unsupported').map((d) => `${d.message}\n${d.hint ?? ''}`).join('');
    expect(msg).toMatch(/swap\.size \(2:/);
    expect(msg).toMatch(/power_state\.condition \(3:/);
    expect(msg).toMatch(/ntp\.peers \(4:/);
    expect(msg).toMatch(/ssh_import_id: flint downloads nothing that a digest does not pin/);
    expect(r.config).toMatchObject({ power_state: { mode: 'poweroff' }, ntp: { servers: ['a.example'] } });
    expect(r.config?.swap_file).toBeUndefined();
  });

  it('packages, package_update and package_upgrade become packages:, a [name, version] pair apt\'s NAME=VERSION', () => {
    const r = ud('#cloud-config\npackage_update: true\npackage_upgrade: true\npackage_reboot_if_required: true\npackages:\n  - nginx\n  - [libpython3.11, 3.11.2-6]\n');
    expect(r.config?.packages).toEqual({ install: ['nginx', 'libpython3.11=3.11.2-6'], update: true, upgrade: true });
    expect(r.diagnostics.filter((d) => d.code === 'unsupported').map((d) => d.message)).toEqual([expect.stringMatching(/package_reboot_if_required \(4:1\)/)]);
    validConfig(r);
  });

  it('yum_repos, zypper.repos and apt.sources become the files their modules write; what needs the running system is named', () => {
    const text = [
      '#cloud-config',
      'yum_repos:',
      '  epel testing:',
      '    name: Extra Packages - Testing',
      '    baseurl: https://example.org/epel/testing/$basearch/',
      '    enabled: false',
      '    gpgcheck: true',
      '  no-url: {name: x}',
      'zypper:',
      '  repos:',
      '    - {id: oss, name: Main, baseurl: "https://download.opensuse.org/tumbleweed/repo/oss/", enabled: 1, autorefresh: 1}',
      'apt:',
      '  preserve_sources_list: true',
      '  sources:',
      '    lab.list:',
      '      source: "deb [signed-by=/etc/apt/trusted.gpg.d/lab.asc] https://apt.lab.example bookworm main"',
      '      key: |',
      '        -----BEGIN PGP PUBLIC KEY BLOCK-----',
      '        mQINBGVc',
      '        -----END PGP PUBLIC KEY BLOCK-----',
      '    ppa:',
      '      source: "deb $MIRROR $RELEASE main"',
      '      keyid: F430BBA5',
      '',
    ].join('\n');
    const r = ud(text);
    const files = (r.config?.files ?? []) as File[];
    expect(files.map((f) => f.path)).toEqual(['/etc/yum.repos.d/epel-testing.repo', '/etc/zypp/repos.d/oss.repo', '/etc/apt/sources.list.d/lab.list', '/etc/apt/trusted.gpg.d/lab.asc']);
    expect(files[0]).toMatchObject({ overwrite: false, contents: '# Created by flint from the cloud-init seed\n[epel-testing]\nname = Extra Packages - Testing\nbaseurl = https://example.org/epel/testing/$basearch/\nenabled = 0\ngpgcheck = 1\n\n' });
    expect(files[1]?.contents).toContain('[oss]\nname = Main\nbaseurl = https://download.opensuse.org/tumbleweed/repo/oss/\nenabled = 1\nautorefresh = 1\n');
    expect(files[2]?.contents).toBe('deb [signed-by=/etc/apt/trusted.gpg.d/lab.asc] https://apt.lab.example bookworm main\n');
    expect(files[3]?.contents).toMatch(/^-----BEGIN PGP PUBLIC KEY BLOCK-----\nmQINBGVc\n-----END PGP PUBLIC KEY BLOCK-----\n$/);
    const msg = r.diagnostics.filter((d) => d.code === 'unsupported').map((d) => d.message).join('');
    for (const k of ['yum_repos.no-url', 'apt.preserve_sources_list', 'apt.sources.ppa.keyid', 'apt.sources.ppa.source']) expect(msg).toContain(k);
    validConfig(r);
  });

  it('a bad power_state mode and a swap size that is not one are errors at their line', () => {
    const r = ud('#cloud-config\npower_state: {mode: explode}\nswap: {size: lots}\n');
    expect(errors(r.diagnostics).map((d) => `${d.line}: ${d.message}`)).toEqual(['2: power_state.mode must be poweroff, reboot or halt, not "explode"', '3: swap.size "lots" is not a size']);
  });
});
