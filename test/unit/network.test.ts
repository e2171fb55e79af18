import { spawnSync } from 'node:child_process';
import { stepContext } from '../helpers/step-context.js';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Connection } from '../../src/config/generated/model.js';
import type { FlintConfig } from '../../src/config/validate.js';
import { validateText } from '../../src/config/validate.js';
import { applyPlanned } from '../../src/engine/apply.js';
import { planSteps } from '../../src/engine/plan.js';
import type { StepContext } from '../../src/engine/step.js';
import { networkStep, WIFI_COUNTRY_PATH } from '../../src/steps/network/step.js';
import { renderNetworkd, renderWpaSupplicant } from '../../src/steps/network/networkd.js';
import { connectionUuid, renderNmKeyfiles, wpaPsk } from '../../src/steps/network/nm.js';
import type { NmKeyfile } from '../../src/steps/network/nm.js';

const hasNmcli = spawnSync('nmcli', ['--version']).error === undefined;
const hasWpa = existsSync('/usr/sbin/wpa_supplicant') || existsSync('/sbin/wpa_supplicant');
const hasSystemctl = spawnSync('systemctl', ['--version']).error === undefined && existsSync('/lib/systemd/system/systemd-networkd.service') && existsSync('/lib/systemd/system/wpa_supplicant@.service');
const skipped = (ok: boolean, why: string): string => (ok ? '' : ` (SKIPPED: ${why})`);

import { ALL, NETWORKD, PASSPHRASE, SAE_PASSWORD, bond, glob, lan, open, sae, wpa } from '../fixtures/connections.js';

const keyfile = (files: NmKeyfile[], id: string): NmKeyfile => {
  const f = files.find((k) => k.id === id);
  if (f === undefined) throw new Error(`no keyfile ${id}`);
  return f;
};

describe('Wi-Fi keys', () => {
  it('derives the WPA PSK as IEEE 802.11i annex H.4 does', () => {
    expect(wpaPsk('password', 'IEEE')).toBe('f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e');
  });
  it('takes a 64-hex-digit password as the PSK itself', () => {
    expect(wpaPsk('F42C6FC52DF0EBEF9EBB4B90B38A5F902E83FE1B135A70E23AED762E9710A12E', 'other')).toBe('f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e');
  });
});

describe('connection UUIDs', () => {
  it('are version 5 UUIDs that depend on the name only', () => {
    const u = connectionUuid('lan');
    expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(connectionUuid('lan')).toBe(u);
    expect(connectionUuid('lan2')).not.toBe(u);
  });
});

describe('NetworkManager keyfiles', () => {
  const files = renderNmKeyfiles(ALL);

  it('writes a static ethernet connection as NetworkManager 1.42 does', () => {
    expect(keyfile(files, 'lan').text).toBe(`[connection]
id=lan
uuid=${connectionUuid('lan')}
type=ethernet
interface-name=eth0

[ethernet]
mtu=9000

[ipv4]
address1=192.168.1.20/24,192.168.1.1
address2=192.168.2.20/24
dns=192.168.1.1;9.9.9.9;
dns-search=home.arpa;example.net;
method=manual
route1=10.0.0.0/8,192.168.1.254,100
route2=10.9.0.0/16
route3=10.8.0.0/16,0.0.0.0,5

[ipv6]
addr-gen-mode=default
address1=2001:db8::20/64,2001:db8::1
dns=2001:db8::53;
method=manual
route1=2001:db8:1::/48,2001:db8::1,10
route2=2001:db8:2::/48,::,20

[proxy]
`);
    expect(keyfile(files, 'lan').path).toBe('/etc/NetworkManager/system-connections/lan.nmconnection');
  });

  it('matches a glob in [match], never in interface-name', () => {
    const t = keyfile(files, 'any-en').text;
    expect(t.slice(0, t.indexOf('\n\n'))).not.toContain('interface-name');
    expect(t).toContain('[match]\ninterface-name=en*;\n');
    expect(t).toContain('method=dhcp');
  });

  it('matches by MAC address', () => {
    const t = keyfile(files, 'by-mac').text;
    expect(t).toContain('[ethernet]\nmac-address=DC:A6:32:01:02:03\n');
    expect(t).not.toContain('interface-name');
    expect(t).toContain('[ipv4]\nmethod=disabled\n');
    expect(t).toContain('method=link-local');
  });

  it('puts search domains on IPv6 when IPv4 is disabled', () => {
    expect(keyfile(files, 'v6only').text).toContain('[ipv6]\naddr-gen-mode=default\ndns-search=v6.example;\nmethod=auto\n');
  });

  it('stores the derived PSK for WPA2, never the passphrase', () => {
    const k = keyfile(files, 'home-wifi');
    expect(k.text).toContain(`[wifi]\nhidden=true\nmode=infrastructure\nssid=Home\n\n[wifi-security]\nkey-mgmt=wpa-psk\npsk=${wpaPsk(PASSPHRASE, 'Home')}\n`);
    expect(k.text).not.toContain(PASSPHRASE);
    expect(k.secret).toBe(true);
  });

  it('stores the SAE password itself, escaped as NetworkManager does', () => {
    const k = keyfile(files, 'wpa3');
    expect(k.text).toContain('ssid=My Net\\\\;2\n');
    expect(k.text).toContain('key-mgmt=sae\npsk=sae secret;with\\\\odd "chars"\n');
    expect(k.text).toContain('mtu=1400');
    expect(k.secret).toBe(true);
  });

  it('orders [wifi] keys by name with a MAC match, and keeps a given 64-hex PSK', () => {
    const t = keyfile(files, 'wifi-mac').text;
    expect(t).toContain('[wifi]\nhidden=true\nmac-address=DC:A6:32:0A:0B:0C\nmode=infrastructure\nssid=Hidden\n');
    expect(t).toContain('psk=f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e\n');
    expect(t).toContain('[ipv4]\naddress1=192.168.7.9/24\nmethod=auto\n');
  });

  it('writes an open network without a security section, a non-ASCII SSID as bytes', () => {
    const k = keyfile(files, 'cafe');
    expect(k.text).not.toContain('wifi-security');
    expect(k.text).toContain('ssid=67;97;102;195;169;32;\n');
    expect(k.secret).toBe(false);
  });

  it('gives a VLAN its parent connection\'s interface', () => {
    expect(keyfile(files, 'vlan10').text).toContain('[vlan]\nflags=1\nid=10\nparent=eth0\n');
    expect(keyfile(files, 'vlan10').text).toContain('interface-name=vlan10\n');
    expect(keyfile(files, 'vlan20').text).toContain('parent=eth9\n');
    const onGlob = renderNmKeyfiles([glob, { name: 'v', type: 'vlan', vlan: { id: 3, parent: 'any-en' } }]);
    expect(keyfile(onGlob, 'v').text).toContain(`parent=${connectionUuid('any-en')}\n`);
    const onBond = renderNmKeyfiles([bond, { name: 'v', type: 'vlan', vlan: { id: 4, parent: 'bond0' } }]);
    expect(keyfile(onBond, 'v').text).toContain('parent=bond0\n');
  });

  it('writes bond and bridge members as port profiles with master=/slave-type=', () => {
    expect(keyfile(files, 'bond0').text).toContain('[bond]\nmode=active-backup\n');
    expect(keyfile(files, 'bond1').text).toContain('[bond]\nmode=balance-rr\n');
    const m = keyfile(files, 'bond0-eth5').text;
    expect(m).toContain('interface-name=eth5\nmaster=bond0\nslave-type=bond\n');
    expect(m).toContain('[bond-port]\n');
    expect(m).not.toContain('[ipv4]');
    expect(keyfile(files, 'br0').text).toContain('[bridge]\nstp=false\n');
    expect(keyfile(files, 'br1').text).toContain('[bridge]\n\n');
    expect(keyfile(files, 'br0-eth8').text).toContain('master=br0\nslave-type=bridge\n');
  });

  it('is deterministic and marks only Wi-Fi keys secret', () => {
    expect(renderNmKeyfiles(ALL)).toEqual(files);
    expect(files.filter((f) => f.secret).map((f) => f.id)).toEqual(['home-wifi', 'wpa3', 'wifi-mac']);
  });
});

// ---------------------------------------------------------------- oracle: nmcli --offline

type Parsed = Map<string, Map<string, string>>;

function parseKeyfile(text: string): Parsed {
  const out: Parsed = new Map();
  let cur: Map<string, string> | undefined;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      cur = new Map();
      out.set(s[1] ?? '', cur);
      continue;
    }
    const eq = line.indexOf('=');
    if (cur === undefined || eq < 0) throw new Error(`bad keyfile line: ${line}`);
    cur.set(line.slice(0, eq), line.slice(eq + 1));
  }
  // What NetworkManager makes up on its own and flint derives differently.
  out.get('connection')?.delete('uuid');
  out.get('connection')?.delete('timestamp');
  return out;
}

const plain = (p: Parsed): Record<string, Record<string, string>> => Object.fromEntries([...p].map(([s, kv]) => [s, Object.fromEntries([...kv].sort())]));

/** The nmcli arguments for one connection, written from NetworkManager's documented property names. */
function nmcliArgs(c: Connection, all: readonly Connection[]): string[][] {
  const type = c.type ?? 'ethernet';
  const a = ['connection', 'add', 'type', type, 'con-name', c.name];
  const dev = type === 'ethernet' || type === 'wifi' ? c.interface : (c.interface ?? c.name);
  if (dev !== undefined && !/[*?[]/.test(dev)) a.push('ifname', dev);
  if (dev !== undefined && /[*?[]/.test(dev)) a.push('match.interface-name', dev);
  const devSetting = type === 'wifi' ? 'wifi' : 'ethernet';
  if (c.mac !== undefined) a.push(`${devSetting}.mac-address`, c.mac);
  if (c.mtu !== undefined) a.push(`${devSetting}.mtu`, String(c.mtu));
  const m4 = c.ipv4?.method ?? 'dhcp';
  const m6 = c.ipv6?.method ?? 'auto';
  a.push('ipv4.method', { dhcp: 'auto', static: 'manual', disabled: 'disabled' }[m4]);
  a.push('ipv6.method', { auto: 'auto', dhcp: 'dhcp', static: 'manual', 'link-local': 'link-local', disabled: 'disabled' }[m6]);
  for (const fam of ['ipv4', 'ipv6'] as const) {
    const s = c[fam];
    if (s === undefined) continue;
    if (s.addresses !== undefined) a.push(`${fam}.addresses`, s.addresses.join(','));
    if (s.gateway !== undefined) a.push(`${fam}.gateway`, s.gateway);
    if (s.dns !== undefined) a.push(`${fam}.dns`, s.dns.join(','));
    if (s.routes !== undefined) a.push(`${fam}.routes`, s.routes.map((r) => [r.to, r.via ?? '', r.metric ?? ''].join(' ').trim()).join(','));
  }
  if (c.dns_search !== undefined) a.push(m4 !== 'disabled' ? 'ipv4.dns-search' : 'ipv6.dns-search', c.dns_search.join(','));
  const w = c.wifi;
  if (w !== undefined) {
    a.push('ssid', w.ssid, 'wifi.mode', 'infrastructure');
    if (w.hidden === true) a.push('wifi.hidden', 'yes');
    const sec = w.security ?? 'wpa-psk';
    if (sec !== 'open') a.push('wifi-sec.key-mgmt', sec, 'wifi-sec.psk', sec === 'sae' ? (w.password ?? '') : wpaPsk(w.password ?? '', w.ssid));
  }
  if (c.vlan !== undefined) {
    const p = all.find((x) => x.name === c.vlan?.parent);
    a.push('vlan.id', String(c.vlan.id), 'vlan.parent', p === undefined ? c.vlan.parent : (p.interface ?? p.name));
  }
  if (c.bond !== undefined) a.push('bond.options', `mode=${c.bond.mode ?? 'balance-rr'}`);
  if (c.bridge !== undefined) a.push('bridge.stp', c.bridge.stp === true ? 'yes' : 'no');
  const out = [a];
  for (const m of c.bond?.members ?? c.bridge?.members ?? []) {
    out.push(['connection', 'add', 'type', 'ethernet', 'con-name', `${c.name}-${m}`, 'ifname', m, 'master', c.interface ?? c.name, 'slave-type', type]);
  }
  return out;
}

function nmcli(args: string[]): string {
  const r = spawnSync('nmcli', ['--offline', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nmcli ${args.join(' ')}: ${r.stderr}`);
  // A port profile whose controller is not stored yet draws a warning on stdout.
  return r.stdout.split('\n').filter((l) => !l.startsWith('Warning: ')).join('\n');
}

function exampleConnections(): Array<[string, Connection[]]> {
  const dir = new URL('../../examples/', import.meta.url);
  const out: Array<[string, Connection[]]> = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.yaml')).sort()) {
    const { config } = validateText(f, readFileSync(new URL(f, dir), 'utf8'));
    const conns = config?.network?.connections;
    if (conns !== undefined && conns.length > 0) out.push([f, conns]);
  }
  return out;
}

describe(`NetworkManager keyfiles against nmcli --offline${skipped(hasNmcli, 'nmcli is not installed; install the network-manager package (Debian 12: NetworkManager 1.42)')}`, () => {
  const cases: Array<[string, Connection[]]> = [['tests', ALL], ...exampleConnections()];
  it.skipIf(!hasNmcli).each(cases)('%s: same sections, keys and values as NetworkManager writes', (_, conns) => {
    const mine = renderNmKeyfiles(conns);
    for (const c of conns) {
      for (const args of nmcliArgs(c, conns)) {
        const id = args[5] ?? '';
        const theirs = nmcli([...args, 'connection.uuid', connectionUuid(id)]);
        expect({ id, ...plain(parseKeyfile(keyfile(mine, id).text)) }).toEqual({ id, ...plain(parseKeyfile(theirs)) });
        // Given the same UUID, even the order of sections and keys is NetworkManager's.
        expect(keyfile(mine, id).text).toBe(theirs);
      }
    }
  });
  it('covers the examples', () => {
    expect(exampleConnections().length).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------- networkd

/**
 * The keys flint may write, with their value syntax, from systemd.network(5) and
 * systemd.netdev(5) of systemd 252. networkd has no offline checker (systemd-analyze
 * verify does not read .network files), so this strict table stands in for it.
 */
const BOOL = /^(yes|no|true|false|1|0|on|off)$/;
const IP = /^([0-9.]+|[0-9a-f:]+)$/i;
const CIDR = /^([0-9.]+\/\d{1,2}|[0-9a-f:]+\/\d{1,3})$/i;
const IFNAME = /^[^\s/:]{1,15}$/;
const KEYS: Record<string, Record<string, RegExp>> = {
  Match: { Name: /^\S+$/, MACAddress: /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, Type: /^(ether|wlan)$/ },
  Link: { MTUBytes: /^\d+$/ },
  Network: { DHCP: /^(yes|no|ipv4|ipv6)$/, LinkLocalAddressing: /^(yes|no|ipv4|ipv6)$/, IPv6AcceptRA: BOOL, Address: CIDR, Gateway: IP, DNS: IP, Domains: /^\S+( \S+)*$/, VLAN: IFNAME, Bond: IFNAME, Bridge: IFNAME },
  DHCPv6: { WithoutRA: /^(no|solicit|information-request)$/ },
  Route: { Destination: CIDR, Gateway: IP, Metric: /^\d+$/ },
  NetDev: { Name: IFNAME, Kind: /^(vlan|bond|bridge)$/ },
  VLAN: { Id: /^\d+$/ },
  Bond: { Mode: /^(balance-rr|active-backup|balance-xor|broadcast|802\.3ad|balance-tlb|balance-alb)$/ },
  Bridge: { STP: BOOL },
};
const SECTIONS: Record<'network' | 'netdev', string[]> = { network: ['Match', 'Link', 'Network', 'DHCPv6', 'Route'], netdev: ['NetDev', 'VLAN', 'Bond', 'Bridge'] };
const MULTI = new Set(['Address', 'Gateway', 'DNS', 'VLAN']);

function checkNetworkd(path: string, text: string): Array<[string, string, string]> {
  const kind = path.endsWith('.netdev') ? 'netdev' : 'network';
  const out: Array<[string, string, string]> = [];
  let section: string | undefined;
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const s = /^\[([A-Za-z0-9]+)\]$/.exec(line);
    if (s) {
      section = s[1] ?? '';
      seen.clear();
      if (!SECTIONS[kind].includes(section)) throw new Error(`${path}: section [${section}] is not one of a .${kind} file`);
      continue;
    }
    const m = /^([A-Za-z0-9]+)=(.*)$/.exec(line);
    if (section === undefined || !m) throw new Error(`${path}: bad line ${line}`);
    const [, key = '', value = ''] = m;
    const re = KEYS[section]?.[key];
    if (re === undefined) throw new Error(`${path}: unknown key [${section}] ${key}=`);
    if (!re.test(value)) throw new Error(`${path}: bad value ${key}=${value}`);
    if (seen.has(key) && !MULTI.has(key)) throw new Error(`${path}: ${key}= given twice in [${section}]`);
    seen.add(key);
    out.push([section, key, value]);
  }
  return out;
}

describe('systemd-networkd files', () => {
  const nd = renderNetworkd(NETWORKD, 'de');
  const get = (name: string): string => {
    const f = nd.files.find((x) => x.path.endsWith(`/${name}`));
    if (f === undefined) throw new Error(`no file ${name}: ${nd.files.map((x) => x.path).join(' ')}`);
    return f.text;
  };

  it('passes the strict key check', () => {
    for (const f of nd.files.filter((x) => !x.path.endsWith('.conf'))) expect(() => checkNetworkd(f.path, f.text)).not.toThrow();
  });

  it('writes a static connection with routes, DNS, search domains, MTU and its VLAN', () => {
    expect(get('10-flint-lan.network')).toBe(`# Written by flint from the network section of its config.

[Match]
Name=eth0

[Link]
MTUBytes=9000

[Network]
DHCP=no
LinkLocalAddressing=ipv6
IPv6AcceptRA=no
Address=192.168.1.20/24
Address=192.168.2.20/24
Gateway=192.168.1.1
DNS=192.168.1.1
DNS=9.9.9.9
Address=2001:db8::20/64
Gateway=2001:db8::1
DNS=2001:db8::53
Domains=home.arpa example.net
VLAN=vlan10

[Route]
Destination=10.0.0.0/8
Gateway=192.168.1.254
Metric=100

[Route]
Destination=10.9.0.0/16

[Route]
Destination=10.8.0.0/16
Metric=5

[Route]
Destination=2001:db8:1::/48
Gateway=2001:db8::1
Metric=10

[Route]
Destination=2001:db8:2::/48
Metric=20
`);
  });

  it('maps DHCP and IPv6 methods', () => {
    expect(get('10-flint-dhcp.network')).toContain('[Network]\nDHCP=ipv4\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=yes\n');
    expect(get('10-flint-any-en.network')).toContain('Name=en*\n');
    expect(get('10-flint-any-en.network')).toContain('DHCP=yes\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=no\n');
    expect(get('10-flint-any-en.network')).toContain('[DHCPv6]\nWithoutRA=solicit\n');
    expect(get('10-flint-by-mac.network')).toContain('[Match]\nMACAddress=dc:a6:32:01:02:03\n');
    expect(get('10-flint-by-mac.network')).toContain('DHCP=no\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=no\n');
    expect(get('10-flint-br0.network')).toContain('DHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n');
  });

  it('writes netdevs for vlan, bond and bridge, and their members', () => {
    expect(get('10-flint-vlan10.netdev')).toContain('[NetDev]\nName=vlan10\nKind=vlan\n\n[VLAN]\nId=10\n');
    expect(get('10-flint-parent-eth9.network')).toContain('[Match]\nName=eth9\n\n[Network]\nLinkLocalAddressing=no\nVLAN=eth9.20\n');
    expect(get('10-flint-bond0.netdev')).toContain('[Bond]\nMode=active-backup\n');
    expect(get('10-flint-bond0-eth5.network')).toContain('[Match]\nName=eth5\n\n[Network]\nBond=bond0\n');
    expect(get('10-flint-br0.netdev')).toContain('[Bridge]\nSTP=no\n');
    expect(get('10-flint-br1.netdev')).toContain('[Bridge]\nSTP=yes\n');
    expect(get('10-flint-br0-eth8.network')).toContain('Bridge=br0\n');
  });

  it('writes one wpa_supplicant configuration per interface, secret, without the passphrase', () => {
    const f = nd.files.find((x) => x.path === '/etc/wpa_supplicant/wpa_supplicant-wlan0.conf');
    expect(f?.secret).toBe(true);
    expect(f?.text).toContain(`\tssid=486f6d65\n\tscan_ssid=1\n\tkey_mgmt=WPA-PSK\n\tpsk=${wpaPsk(PASSPHRASE, 'Home')}\n`);
    expect(f?.text).toContain('country=DE\n');
    expect(f?.text).toContain(`key_mgmt=SAE\n\tieee80211w=2\n\tsae_password=${Buffer.from(SAE_PASSWORD).toString('hex')}\n`);
    expect(f?.text).not.toContain(PASSPHRASE);
    expect(nd.wpaInterfaces).toEqual(['wlan0']);
    expect(renderWpaSupplicant([{ name: 'x', type: 'wifi', wifi: { ssid: 'a', password: 'plain pass', security: 'sae' } }], undefined)).toContain('sae_password="plain pass"\n');
  });

  it('refuses Wi-Fi without a fixed interface name', () => {
    const r = renderNetworkd([{ name: 'w', type: 'wifi', interface: 'wl*', wifi: { ssid: 'x', password: PASSPHRASE } }], undefined);
    expect(r.problems.map((p) => p.key)).toEqual(['interface']);
    expect(JSON.stringify(r.problems)).not.toContain(PASSPHRASE);
  });

  it('is deterministic', () => {
    expect(renderNetworkd(NETWORKD, 'de')).toEqual(nd);
  });

  it.skipIf(!hasWpa)(`wpa_supplicant itself parses the configuration${skipped(hasWpa, 'wpa_supplicant is not installed; install wpasupplicant')}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'flint-wpa-'));
    try {
      for (const conns of [[wpa, sae], [open]]) {
        const file = join(dir, 'w.conf');
        writeFileSync(file, renderWpaSupplicant(conns, 'DE'));
        // The interface does not exist: the configuration is read first, then the driver fails.
        const r = spawnSync('wpa_supplicant', ['-c', file, '-i', 'flintnone0', '-D', 'nl80211'], { encoding: 'utf8', timeout: 10_000 });
        const out = `${r.stdout}${r.stderr}`;
        expect(out).not.toMatch(/Line \d+:|Failed to read or parse/);
        expect(out).toContain('Successfully initialized');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------- the step

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function target(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'flint-net-'));
  dirs.push(dir);
  for (const [p, v] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), v);
  }
  return dir;
}

function ctxFor(dir: string, network: NonNullable<FlintConfig['network']>): StepContext {
  const config = { version: 1, network } as unknown as FlintConfig;
  return stepContext(dir, config, { configDir: dir, today: 0 });
}

const NETWORKD_UNITS: Record<string, string> = {
  '/lib/systemd/system/systemd-networkd.service': '[Service]\nExecStart=/lib/systemd/systemd-networkd\n[Install]\nWantedBy=multi-user.target\nAlso=systemd-networkd.socket\nAlias=dbus-org.freedesktop.network1.service\nAlso=systemd-networkd-wait-online.service\n',
  '/lib/systemd/system/systemd-networkd.socket': '[Install]\nWantedBy=sockets.target\n',
  '/lib/systemd/system/systemd-networkd-wait-online.service': '[Install]\nWantedBy=network-online.target\n',
};

describe('the network step', () => {
  it('picks NetworkManager when the target has it, writes 0600 keyfiles and changes nothing the second time', () => {
    const dir = target({ '/usr/sbin/NetworkManager': '' });
    const ctx = ctxFor(dir, { wifi_country: 'de', connections: [lan, wpa] });
    const first = planSteps(ctx, [networkStep]);
    expect(first.problems).toEqual([]);
    const keyfiles = first.planned.filter((p) => p.action.path.startsWith('/etc/NetworkManager/system-connections/'));
    expect(keyfiles.map((p) => p.action.path)).toEqual(['/etc/NetworkManager/system-connections/lan.nmconnection', '/etc/NetworkManager/system-connections/home-wifi.nmconnection']);
    for (const p of keyfiles) expect(p.action.kind === 'file' && p.action.mode).toBe(0o600);
    expect(keyfiles.map((p) => p.action.kind === 'file' && p.action.secret === true)).toEqual([false, true]);
    applyPlanned(ctx.root, first.planned);
    expect(readFileSync(join(dir, WIFI_COUNTRY_PATH), 'utf8')).toContain('options cfg80211 ieee80211_regdom=DE\n');
    expect(planSteps(ctxFor(dir, { wifi_country: 'de', connections: [lan, wpa] }), [networkStep]).planned).toEqual([]);
    expect(JSON.stringify(first)).not.toContain(PASSPHRASE);
  });

  it('uses networkd without NetworkManager, enabling it as systemctl would', () => {
    const dir = target({ ...NETWORKD_UNITS, '/lib/systemd/system/wpa_supplicant@.service': '[Install]\nWantedBy=multi-user.target\n' });
    const ctx = ctxFor(dir, { wifi_country: 'DE', connections: [lan, wpa] });
    const p = planSteps(ctx, [networkStep]);
    expect(p.problems).toEqual([]);
    const links = Object.fromEntries(p.planned.flatMap((x) => (x.action.kind === 'symlink' ? [[x.action.path, x.action.target]] : [])));
    expect(links).toEqual({
      '/etc/systemd/system/multi-user.target.wants/systemd-networkd.service': '/lib/systemd/system/systemd-networkd.service',
      '/etc/systemd/system/dbus-org.freedesktop.network1.service': '/lib/systemd/system/systemd-networkd.service',
      '/etc/systemd/system/sockets.target.wants/systemd-networkd.socket': '/lib/systemd/system/systemd-networkd.socket',
      '/etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service': '/lib/systemd/system/systemd-networkd-wait-online.service',
      '/etc/systemd/system/multi-user.target.wants/wpa_supplicant@wlan0.service': '/lib/systemd/system/wpa_supplicant@.service',
    });
    const conf = p.planned.find((x) => x.action.path === '/etc/wpa_supplicant/wpa_supplicant-wlan0.conf')?.action;
    expect(conf?.kind === 'file' && conf.mode === 0o600 && conf.secret === true).toBe(true);
    const nw = p.planned.find((x) => x.action.path === '/etc/systemd/network/10-flint-lan.network')?.action;
    expect(nw?.kind === 'file' && nw.mode).toBe(0o644);
    applyPlanned(ctx.root, p.planned);
    expect(readlinkSync(join(dir, '/etc/systemd/system/multi-user.target.wants/systemd-networkd.service'))).toBe('/lib/systemd/system/systemd-networkd.service');
    expect(planSteps(ctxFor(dir, { wifi_country: 'DE', connections: [lan, wpa] }), [networkStep]).planned).toEqual([]);
    expect(JSON.stringify(p)).not.toContain(PASSPHRASE);
  });

  it('reports a missing wpa_supplicant and a missing networkd as problems', () => {
    const p = planSteps(ctxFor(target({}), { renderer: 'networkd', connections: [wpa] }), [networkStep]);
    expect(p.problems.map((x) => x.message).sort()).toEqual(['systemd-networkd is not installed in the target', 'wpa_supplicant is not installed in the target']);
    expect(p.problems.find((x) => x.message.startsWith('wpa'))?.path).toEqual(['network', 'connections', 0, 'wifi']);
    expect(JSON.stringify(p)).not.toContain(PASSPHRASE);
  });

  it('refuses a bond member profile that collides with a connection of the config', () => {
    const p = planSteps(ctxFor(target({}), { renderer: 'networkmanager', connections: [bond, { name: 'bond0-eth5' }] }), [networkStep]);
    expect(p.problems.map((x) => x.message)).toEqual(['/etc/NetworkManager/system-connections/bond0-eth5.nmconnection would be written for both network.connections[0] and network.connections[1]']);
  });

  it.skipIf(!hasSystemctl)(`makes the same links as the host's systemctl --root enable${skipped(hasSystemctl, 'needs systemctl and the systemd (networkd) and wpasupplicant packages')}`, () => {
    const units = ['systemd-networkd.service', 'systemd-networkd.socket', 'systemd-networkd-wait-online.service', 'systemd-network-generator.service', 'wpa_supplicant@.service'];
    const dir = target({});
    mkdirSync(join(dir, 'lib/systemd/system'), { recursive: true });
    for (const u of units) if (existsSync(`/lib/systemd/system/${u}`)) copyFileSync(`/lib/systemd/system/${u}`, join(dir, 'lib/systemd/system', u));
    const sysctl = mkdtempSync(join(tmpdir(), 'flint-net-sysctl-'));
    dirs.push(sysctl);
    for (const u of units) if (existsSync(`/lib/systemd/system/${u}`)) {
      mkdirSync(join(sysctl, 'lib/systemd/system'), { recursive: true });
      copyFileSync(`/lib/systemd/system/${u}`, join(sysctl, 'lib/systemd/system', u));
    }
    const r = spawnSync('systemctl', ['--root', sysctl, 'enable', 'systemd-networkd.service', 'wpa_supplicant@wlan0.service'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const theirs: Record<string, string> = {};
    const walk = (d: string): void => {
      for (const n of readdirSync(join(sysctl, d))) {
        const p = `${d}/${n}`;
        const st = lstatSync(join(sysctl, p));
        if (st.isSymbolicLink()) theirs[p] = readlinkSync(join(sysctl, p));
        else if (st.isDirectory()) walk(p);
      }
    };
    walk('/etc/systemd/system');
    const p = planSteps(ctxFor(dir, { renderer: 'networkd', connections: [wpa] }), [networkStep]);
    expect(p.problems).toEqual([]);
    const mine = Object.fromEntries(p.planned.flatMap((x) => (x.action.kind === 'symlink' ? [[x.action.path, x.action.target]] : [])));
    expect(mine).toEqual(theirs);
  });
});
