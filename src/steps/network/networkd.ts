/**
 * systemd-networkd files for the config's connections (systemd.network(5),
 * systemd.netdev(5)), and wpa_supplicant configurations for Wi-Fi, which networkd
 * does not associate by itself. Pure: no target access.
 *
 * Files are named 10-flint-NAME so they sort before the distribution's catch-all
 * files (Debian's, Raspberry Pi OS's 99-*): networkd uses the first .network that matches.
 */
import type { Connection, Ipv4, Ipv6 } from '../../config/generated/model.js';
import { deviceName, isGlob, searchFamily, wpaPsk } from './nm.js';

export const NETWORKD_DIR = '/etc/systemd/network';

export interface NetworkdFile {
  path: string;
  text: string;
  secret: boolean;
  /** Index of the config connection it comes from. */
  origin: number;
}

export interface NetworkdResult {
  files: NetworkdFile[];
  /** Interfaces that need wpa_supplicant@IFACE.service enabled. */
  wpaInterfaces: string[];
  /** Connections networkd cannot express, by index. */
  problems: Array<{ origin: number; key: string; message: string; hint?: string }>;
  warnings: string[];
}

type Section = [name: string, entries: Array<[key: string, value: string]>];

function render(sections: readonly Section[]): string {
  return `# Written by flint from the network section of its config.\n${sections.map(([name, entries]) => `\n[${name}]\n${entries.map(([k, v]) => `${k}=${v}\n`).join('')}`).join('')}`;
}

function matchSection(c: Connection): Section {
  if (c.mac !== undefined) return ['Match', [['MACAddress', c.mac.toLowerCase()]]];
  const type = c.type ?? 'ethernet';
  if (c.interface !== undefined || (type !== 'ethernet' && type !== 'wifi')) return ['Match', [['Name', deviceName(c)]]];
  // With neither interface nor mac the connection applies to any link of its kind.
  return ['Match', [['Type', type === 'wifi' ? 'wlan' : 'ether']]];
}

/**
 * [Network] for the addressing of one connection. IPv6 "auto" leaves DHCPv6 to the
 * router advertisement's M/O flags, as NetworkManager's auto does; "dhcp" runs DHCPv6
 * without waiting for an advertisement and takes no SLAAC address.
 */
function networkEntries(c: Connection): { network: Array<[string, string]>; extra: Section[] } {
  const v4: Ipv4 = c.ipv4 ?? {};
  const v6: Ipv6 = c.ipv6 ?? {};
  const m4 = v4.method ?? 'dhcp';
  const m6 = v6.method ?? 'auto';
  const dhcp4 = m4 === 'dhcp';
  const dhcp6 = m6 === 'dhcp';
  const n: Array<[string, string]> = [['DHCP', dhcp4 && dhcp6 ? 'yes' : dhcp4 ? 'ipv4' : dhcp6 ? 'ipv6' : 'no']];
  n.push(['LinkLocalAddressing', m6 === 'disabled' ? 'no' : 'ipv6']);
  n.push(['IPv6AcceptRA', m6 === 'auto' ? 'yes' : 'no']);
  for (const s of [v4, v6]) {
    if (s === v4 ? m4 === 'disabled' : m6 === 'disabled') continue;
    for (const a of s.addresses ?? []) n.push(['Address', a]);
    if (s.gateway !== undefined) n.push(['Gateway', s.gateway]);
    for (const d of s.dns ?? []) n.push(['DNS', d]);
  }
  if (searchFamily(c) !== undefined && (c.dns_search ?? []).length > 0) n.push(['Domains', (c.dns_search ?? []).join(' ')]);
  const extra: Section[] = [];
  if (dhcp6) extra.push(['DHCPv6', [['WithoutRA', 'solicit']]]);
  for (const s of [v4, v6]) {
    for (const r of s.routes ?? []) {
      const e: Array<[string, string]> = [['Destination', r.to]];
      if (r.via !== undefined) e.push(['Gateway', r.via]);
      if (r.metric !== undefined) e.push(['Metric', String(r.metric)]);
      extra.push(['Route', e]);
    }
  }
  return { network: n, extra };
}

function wpaQuote(s: string): string {
  // wpa_supplicant reads "..." literally up to the last quote; anything else as hex.
  return /^[\x20-\x7e]*$/.test(s) && !s.includes('"') ? `"${s}"` : Buffer.from(s, 'utf8').toString('hex');
}

/** One wpa_supplicant configuration for all Wi-Fi connections on an interface. */
export function renderWpaSupplicant(conns: readonly Connection[], country: string | undefined): string {
  const lines = ['# Written by flint from the network section of its config.', 'ctrl_interface=DIR=/run/wpa_supplicant', 'update_config=0'];
  if (country !== undefined) lines.push(`country=${country.toUpperCase()}`);
  for (const c of conns) {
    const w = c.wifi ?? { ssid: '' };
    const security = w.security ?? 'wpa-psk';
    lines.push('', 'network={', `\tid_str="${c.name}"`, `\tssid=${Buffer.from(w.ssid, 'utf8').toString('hex')}`);
    if (w.hidden === true) lines.push('\tscan_ssid=1');
    if (security === 'open') lines.push('\tkey_mgmt=NONE');
    else if (security === 'sae') {
      // WPA3 requires protected management frames.
      lines.push('\tkey_mgmt=SAE', '\tieee80211w=2', `\tsae_password=${wpaQuote(w.password ?? '')}`);
    } else lines.push('\tkey_mgmt=WPA-PSK', `\tpsk=${wpaPsk(w.password ?? '', w.ssid)}`);
    lines.push('}');
  }
  return `${lines.join('\n')}\n`;
}

export function renderNetworkd(conns: readonly Connection[], country: string | undefined): NetworkdResult {
  const files: NetworkdFile[] = [];
  const problems: NetworkdResult['problems'] = [];
  const warnings: string[] = [];
  const byName = new Map(conns.map((c) => [c.name, c]));
  // VLAN= lines go into the parent's .network; parents outside the config get a file of their own.
  const vlansOf = new Map<string, string[]>();
  const memberOf = new Map<string, Array<[key: 'Bond' | 'Bridge', dev: string, origin: number]>>();
  conns.forEach((c, i) => {
    const type = c.type ?? 'ethernet';
    if (type === 'vlan' && c.vlan !== undefined) {
      const key = byName.has(c.vlan.parent) ? `conn:${c.vlan.parent}` : `if:${c.vlan.parent}`;
      vlansOf.set(key, [...(vlansOf.get(key) ?? []), deviceName(c)]);
    }
    const members = type === 'bond' ? c.bond?.members : type === 'bridge' ? c.bridge?.members : undefined;
    for (const m of members ?? []) memberOf.set(m, [...(memberOf.get(m) ?? []), [type === 'bond' ? 'Bond' : 'Bridge', deviceName(c), i]]);
  });
  const wifiByIface = new Map<string, Array<[Connection, number]>>();
  conns.forEach((c, origin) => {
    const type = c.type ?? 'ethernet';
    const base = `${NETWORKD_DIR}/10-flint-${c.name}`;
    if (type === 'vlan' || type === 'bond' || type === 'bridge') {
      const nd: Section[] = [['NetDev', [['Name', deviceName(c)], ['Kind', type]]]];
      if (type === 'vlan') nd.push(['VLAN', [['Id', String(c.vlan?.id ?? 0)]]]);
      if (type === 'bond') nd.push(['Bond', [['Mode', c.bond?.mode ?? 'balance-rr']]]);
      if (type === 'bridge') nd.push(['Bridge', [['STP', c.bridge?.stp === true ? 'yes' : 'no']]]);
      files.push({ path: `${base}.netdev`, text: render(nd), secret: false, origin });
    }
    if (type === 'wifi') {
      if (c.interface === undefined || isGlob(c.interface)) {
        problems.push({ origin, key: c.mac !== undefined ? 'mac' : 'interface', message: 'with systemd-networkd a Wi-Fi connection needs interface: with a kernel name (wpa_supplicant runs per interface)', hint: 'set interface: wlan0, or use renderer: networkmanager' });
      } else wifiByIface.set(c.interface, [...(wifiByIface.get(c.interface) ?? []), [c, origin]]);
    }
    const { network, extra } = networkEntries(c);
    for (const dev of vlansOf.get(`conn:${c.name}`) ?? []) network.push(['VLAN', dev]);
    const sections: Section[] = [matchSection(c)];
    if (c.mtu !== undefined) sections.push(['Link', [['MTUBytes', String(c.mtu)]]]);
    sections.push(['Network', network], ...extra);
    files.push({ path: `${base}.network`, text: render(sections), secret: false, origin });
    if (type === 'bond' || type === 'bridge') {
      for (const m of (type === 'bond' ? c.bond?.members : c.bridge?.members) ?? []) {
        const ctrl = memberOf.get(m) ?? [];
        if (ctrl.length > 1) {
          if (ctrl[0]?.[2] === origin) problems.push({ origin, key: type, message: `interface ${m} is a member of more than one bond or bridge` });
          continue;
        }
        const ms: Section[] = [['Match', [['Name', m]]], ['Network', [[type === 'bond' ? 'Bond' : 'Bridge', deviceName(c)]]]];
        files.push({ path: `${base}-${m.replace(/[^A-Za-z0-9_.@-]/g, '_')}.network`, text: render(ms), secret: false, origin });
      }
    }
  });
  for (const [key, devs] of vlansOf) {
    if (!key.startsWith('if:')) continue;
    const parent = key.slice(3);
    const origin = conns.findIndex((c) => c.type === 'vlan' && c.vlan?.parent === parent);
    warnings.push(`network: ${parent} carries VLANs but has no connection in the config; flint's file for it gives it no address of its own`);
    files.push({ path: `${NETWORKD_DIR}/10-flint-parent-${parent}.network`, text: render([['Match', [['Name', parent]]], ['Network', [['LinkLocalAddressing', 'no'], ...devs.map((d): [string, string] => ['VLAN', d])]]]), secret: false, origin });
  }
  for (const [iface, list] of wifiByIface) {
    const secret = list.some(([c]) => (c.wifi?.security ?? 'wpa-psk') !== 'open');
    files.push({ path: `/etc/wpa_supplicant/wpa_supplicant-${iface}.conf`, text: renderWpaSupplicant(list.map(([c]) => c), country), secret, origin: list[0]?.[1] ?? 0 });
  }
  return { files, wpaInterfaces: [...wifiByIface.keys()], problems, warnings };
}
