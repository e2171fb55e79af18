/**
 * NetworkManager keyfiles for the config's connections, written as NetworkManager 1.42
 * writes them itself (`nmcli --offline connection add`; the unit tests compare the two
 * key by key). Pure: no target access, so the same connections give the same bytes.
 *
 * Member interfaces of a bond or bridge get a keyfile of their own (NAME-MEMBER), as
 * NetworkManager models them: an ethernet profile with master=/slave-type=. NM 1.42
 * only knows those key names; controller=/port-type= came with 1.46.
 */
import { nodeCrypto } from '../../system/lazy-builtins.js';
import type { Connection, Ipv4, Ipv6, Route } from '../../config/generated/model.js';

/** Where NetworkManager reads system connection profiles. */
export const NM_CONNECTIONS_DIR = '/etc/NetworkManager/system-connections';

/**
 * The namespace of flint's connection UUIDs. Fixed forever: a changed namespace would
 * give every connection a new UUID, which NetworkManager treats as a new profile.
 */
const UUID_NAMESPACE = 'a3f1c2e4-6b7d-4e8f-9a0b-1c2d3e4f5a6b';

export interface NmKeyfile {
  /** Connection id; also the file's base name. */
  id: string;
  path: string;
  text: string;
  /** Holds a Wi-Fi key: readable by root only and never shown. */
  secret: boolean;
  /** Index of the config connection it comes from. */
  origin: number;
}

/** RFC 4122 version 5 UUID of `name` in flint's namespace. */
export function connectionUuid(name: string): string {
  const ns = Buffer.from(UUID_NAMESPACE.replace(/-/g, ''), 'hex');
  const h = nodeCrypto().createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x50;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The WPA pre-shared key for a passphrase (IEEE 802.11i annex H.4): what is stored instead of the passphrase. */
export function wpaPsk(passphrase: string, ssid: string): string {
  if (/^[0-9a-fA-F]{64}$/.test(passphrase)) return passphrase.toLowerCase();
  return nodeCrypto().pbkdf2Sync(Buffer.from(passphrase, 'utf8'), Buffer.from(ssid, 'utf8'), 4096, 32, 'sha1').toString('hex');
}

/** Whether an interface value is a glob, which NetworkManager takes only in [match]. */
export function isGlob(iface: string): boolean {
  return /[*?[\]!]/.test(iface);
}

/** The kernel device a vlan, bond or bridge connection creates. */
export function deviceName(c: Connection): string {
  return c.interface ?? c.name;
}

type Section = [name: string, entries: Array<[key: string, value: string]>];

/**
 * g_key_file_set_string()'s escaping, which NetworkManager's keyfile writer uses: a
 * leading blank would otherwise be trimmed when the file is read back.
 */
function escapeValue(v: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i] ?? '';
    if (c === '\\') out += '\\\\';
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (i === 0 && c === ' ') out += '\\s';
    else if (i === 0 && c === '\t') out += '\\t';
    else out += c;
  }
  return out;
}

/** A string list as g_key_file_set_string_list() writes it: each item ;-terminated, ; inside an item escaped. */
function list(items: readonly string[]): string {
  return items.map((s) => `${escapeValue(s).replace(/;/g, '\\;')};`).join('');
}

/**
 * NetworkManager's ssid writer: printable ASCII as a string (a ; escaped so that "1;2;"
 * is not read as bytes), anything else as a list of byte values.
 */
function ssidValue(ssid: string): string {
  const bytes = Buffer.from(ssid, 'utf8');
  if (bytes.every((b) => b >= 0x20 && b <= 0x7e)) return escapeValue(ssid.replace(/;/g, '\\;'));
  return [...bytes].map((b) => `${b};`).join('');
}

/**
 * NetworkManager writes a setting's keys in name order, numbered ones (address1,
 * address2, ..., address10) by number; [connection] starts with id, uuid, type.
 */
function keyOrder(a: string, b: string): number {
  const [pa = a, na = ''] = /^(.*?)(\d*)$/.exec(a)?.slice(1) ?? [];
  const [pb = b, nb = ''] = /^(.*?)(\d*)$/.exec(b)?.slice(1) ?? [];
  if (pa !== pb) return pa < pb ? -1 : 1;
  return Number(na) - Number(nb);
}

function render(sections: readonly Section[]): string {
  const sorted = sections.map(([name, entries]): Section => [name, name === 'connection' ? entries : [...entries].sort(([a], [b]) => keyOrder(a, b))]);
  return sorted.map(([name, entries]) => `[${name}]\n${entries.map(([k, v]) => `${k}=${v}\n`).join('')}`).join('\n');
}

/** Which [connection] match the interface or mac gives: interface-name, [match] or a mac-address key. */
function binding(c: Pick<Connection, 'interface' | 'mac'>): { ifname?: string; match?: string; mac?: string } {
  if (c.mac !== undefined) return { mac: c.mac.toUpperCase() };
  if (c.interface === undefined) return {};
  return isGlob(c.interface) ? { match: c.interface } : { ifname: c.interface };
}

function routes(rs: readonly Route[], family: 'ipv4' | 'ipv6'): Array<[string, string]> {
  // NetworkManager writes an absent next hop as the unspecified address when a metric follows it.
  const any = family === 'ipv4' ? '0.0.0.0' : '::';
  return rs.map((r, i) => [`route${i + 1}`, [r.to, ...(r.via !== undefined || r.metric !== undefined ? [r.via ?? any] : []), ...(r.metric !== undefined ? [String(r.metric)] : [])].join(',')]);
}

function addresses(addrs: readonly string[], gateway: string | undefined): Array<[string, string]> {
  return addrs.map((a, i) => [`address${i + 1}`, i === 0 && gateway !== undefined ? `${a},${gateway}` : a]);
}

const IPV4_METHOD = { dhcp: 'auto', static: 'manual', disabled: 'disabled' } as const;
const IPV6_METHOD = { auto: 'auto', dhcp: 'dhcp', static: 'manual', 'link-local': 'link-local', disabled: 'disabled' } as const;

/** Where the search domains go: NetworkManager refuses them on a family that is disabled (or link-local only). */
export function searchFamily(c: Connection): 'ipv4' | 'ipv6' | undefined {
  if ((c.ipv4?.method ?? 'dhcp') !== 'disabled') return 'ipv4';
  const m6 = c.ipv6?.method ?? 'auto';
  return m6 === 'disabled' || m6 === 'link-local' ? undefined : 'ipv6';
}

function ipSections(c: Connection): Section[] {
  const v4: Ipv4 = c.ipv4 ?? {};
  const v6: Ipv6 = c.ipv6 ?? {};
  const search = c.dns_search ?? [];
  const fam = searchFamily(c);
  const ip = (family: 'ipv4' | 'ipv6', s: Ipv4 | Ipv6, method: string, extra: Array<[string, string]>): Section => {
    const e: Array<[string, string]> = [...extra];
    e.push(...addresses(s.addresses ?? [], s.gateway));
    if ((s.dns ?? []).length > 0) e.push(['dns', list(s.dns ?? [])]);
    if (fam === family && search.length > 0) e.push(['dns-search', list(search)]);
    e.push(['method', method]);
    e.push(...routes(s.routes ?? [], family));
    return [family, e];
  };
  return [
    ip('ipv4', v4, IPV4_METHOD[v4.method ?? 'dhcp'], []),
    // addr-gen-mode=default defers to NetworkManager.conf (stable-privacy unless changed), as nmcli writes it.
    ip('ipv6', v6, IPV6_METHOD[v6.method ?? 'auto'], [['addr-gen-mode', 'default']]),
    ['proxy', []],
  ];
}

function connectionSection(id: string, type: string, b: { ifname?: string }, extra: Array<[string, string]> = []): Section {
  const e: Array<[string, string]> = [['id', escapeValue(id)], ['uuid', connectionUuid(id)], ['type', type]];
  if (b.ifname !== undefined) e.push(['interface-name', b.ifname]);
  return ['connection', [...e, ...extra]];
}

function mtu(c: Connection): Array<[string, string]> {
  return c.mtu !== undefined ? [['mtu', String(c.mtu)]] : [];
}

/**
 * The keyfiles for all connections. A vlan's parent that names another connection
 * becomes that connection's interface name, or its UUID when it has no fixed name.
 */
export function renderNmKeyfiles(conns: readonly Connection[]): NmKeyfile[] {
  const byName = new Map(conns.map((c) => [c.name, c]));
  const out: NmKeyfile[] = [];
  const add = (id: string, sections: Section[], secret: boolean, origin: number): void => {
    out.push({ id, path: `${NM_CONNECTIONS_DIR}/${id}.nmconnection`, text: render(sections), secret, origin });
  };
  conns.forEach((c, origin) => {
    const type = c.type ?? 'ethernet';
    const sections: Section[] = [];
    let secret = false;
    if (type === 'ethernet' || type === 'wifi') {
      const b = binding(c);
      sections.push(connectionSection(c.name, type, b));
      const dev: Array<[string, string]> = [];
      if (b.mac !== undefined) dev.push(['mac-address', b.mac]);
      if (type === 'ethernet') {
        dev.push(...mtu(c));
        sections.push(['ethernet', dev]);
      } else {
        const w = c.wifi ?? { ssid: '' };
        if (w.hidden === true) dev.push(['hidden', 'true']);
        dev.push(['mode', 'infrastructure'], ...mtu(c), ['ssid', ssidValue(w.ssid)]);
        sections.push(['wifi', dev]);
        const security = w.security ?? 'wpa-psk';
        if (security !== 'open' && w.password !== undefined) {
          // WPA2: store the derived key, so the passphrase never reaches the target.
          // SAE hashes the passphrase itself into each handshake: it must be stored as given.
          const psk = security === 'sae' ? escapeValue(w.password) : wpaPsk(w.password, w.ssid);
          sections.push(['wifi-security', [['key-mgmt', security], ['psk', psk]]]);
          secret = true;
        }
      }
      if (b.match !== undefined) sections.push(['match', [['interface-name', list([b.match])]]]);
    } else if (type === 'vlan') {
      const v = c.vlan ?? { id: 0, parent: '' };
      const parent = vlanParent(v.parent, byName);
      sections.push(connectionSection(c.name, 'vlan', { ifname: deviceName(c) }));
      sections.push(['ethernet', mtu(c)]);
      // flags=1: reorder headers, the kernel's and nmcli's default.
      sections.push(['vlan', [['flags', '1'], ['id', String(v.id)], ['parent', parent]]]);
    } else if (type === 'bond') {
      sections.push(connectionSection(c.name, 'bond', { ifname: deviceName(c) }));
      if (c.mtu !== undefined) sections.push(['ethernet', mtu(c)]);
      sections.push(['bond', [['mode', c.bond?.mode ?? 'balance-rr']]]);
    } else {
      sections.push(connectionSection(c.name, 'bridge', { ifname: deviceName(c) }));
      sections.push(['ethernet', mtu(c)]);
      // NetworkManager's default is STP on (and then it writes no key); the config's default is off.
      sections.push(['bridge', c.bridge?.stp === true ? [] : [['stp', 'false']]]);
    }
    sections.push(...ipSections(c));
    add(c.name, sections, secret, origin);
    if (type === 'bond' || type === 'bridge') {
      const members = type === 'bond' ? (c.bond?.members ?? []) : (c.bridge?.members ?? []);
      for (const m of members) {
        const b = binding({ interface: m });
        const id = memberId(c.name, m);
        const ctrl: Array<[string, string]> = [['master', deviceName(c)], ['slave-type', type]];
        const s: Section[] = [connectionSection(id, 'ethernet', b, ctrl), ['ethernet', []]];
        if (b.match !== undefined) s.push(['match', [['interface-name', list([b.match])]]]);
        s.push([`${type}-port`, []]);
        add(id, s, false, origin);
      }
    }
  });
  return out;
}

/**
 * NetworkManager's vlan.parent: an interface name or a profile's UUID. A parent
 * connection matched by glob or MAC has no single name, so its UUID stands in.
 */
function vlanParent(parent: string, byName: ReadonlyMap<string, Connection>): string {
  const p = byName.get(parent);
  if (p === undefined) return parent;
  const type = p.type ?? 'ethernet';
  if (type !== 'ethernet' && type !== 'wifi') return deviceName(p);
  return p.interface !== undefined && !isGlob(p.interface) && p.mac === undefined ? p.interface : connectionUuid(p.name);
}

/** The id of a bond or bridge member's own profile. */
export function memberId(controller: string, member: string): string {
  return `${controller}-${member.replace(/[^A-Za-z0-9_.@-]/g, '_')}`;
}
