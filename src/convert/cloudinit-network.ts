/**
 * NoCloud network-config, version 1 (cloud-init's own) and version 2 (Netplan's subset,
 * Wi-Fi included), as flint network connections. The file may wrap everything in
 * `network:` or not, as cloud-init accepts both.
 *
 * Bond and bridge members are named by kernel interface name in flint; a member that
 * Netplan matches only by MAC address or driver cannot be expressed and is an error.
 */
import { isIP } from 'node:net';
import type { PathSeg } from '../config/diagnostics.js';
import type { Connection, Ipv4, Ipv6, Network, Route } from '../config/generated/model.js';
import { isObj } from './cloudinit-source.js';
import type { Obj, SeedFile } from './cloudinit-source.js';

export function convertNetwork(nc: SeedFile): Network | undefined {
  const doc = nc.root;
  if (doc === undefined || doc === null) return undefined;
  if (!isObj(doc)) {
    nc.typeError([], 'a map with version: 1 or version: 2', doc);
    return undefined;
  }
  const base: PathSeg[] = isObj(doc.network) ? ['network'] : [];
  if (base.length > 0) nc.rest([], new Set(['network']));
  if (nc.at([...base, 'config']) === 'disabled') {
    nc.warn([...base, 'config'], 'network-disabled', 'network config is disabled: flint writes no network connections', undefined, 'key');
    return undefined;
  }
  const version = nc.int([...base, 'version']);
  if (version === 2) return new V2(nc, base).convert();
  if (version === 1) return new V1(nc, base).convert();
  if (version === undefined && !nc.written([...base, 'version'])) nc.error(base, 'missing-key', 'network-config needs version: 1 or version: 2', 'add version: 2 (Netplan format) or version: 1', 'key');
  else if (version !== undefined) nc.error([...base, 'version'], 'version', `network-config version ${version} is not known: cloud-init reads versions 1 and 2`);
  return undefined;
}

/** A connection name flint accepts (it becomes a file name), unique within the config. */
class Names {
  private readonly used = new Set<string>();

  take(raw: string): string {
    let n = raw.replace(/[^A-Za-z0-9_.@-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 60);
    if (n === '') n = 'conn';
    let name = n;
    for (let i = 2; this.used.has(name); i++) name = `${n}-${i}`;
    this.used.add(name);
    return name;
  }
}

interface IpSettings {
  ipv4?: Ipv4;
  ipv6?: Ipv6;
  dns_search?: string[];
  mtu?: number;
}

function family(addr: string): 4 | 6 | 0 {
  const ip = addr.split('/')[0] ?? '';
  const f = isIP(ip);
  return f === 4 ? 4 : f === 6 ? 6 : 0;
}

function addRoute(s: IpSettings, fam: 4 | 6, r: Route): void {
  if (fam === 4) {
    s.ipv4 ??= {};
    s.ipv4.routes = [...(s.ipv4.routes ?? []), r];
  } else {
    s.ipv6 ??= {};
    s.ipv6.routes = [...(s.ipv6.routes ?? []), r];
  }
}

function addDns(s: IpSettings, servers: readonly string[], search: readonly string[]): void {
  for (const a of servers) {
    if (family(a) === 6) {
      s.ipv6 ??= {};
      s.ipv6.dns = [...(s.ipv6.dns ?? []), a];
    } else {
      s.ipv4 ??= {};
      s.ipv4.dns = [...(s.ipv4.dns ?? []), a];
    }
  }
  if (search.length > 0) s.dns_search = [...new Set([...(s.dns_search ?? []), ...search])];
}

/** A gateway becomes the connection's gateway with static addresses, or a default route with DHCP. */
function setGateway(s: IpSettings, fam: 4 | 6, gw: string): void {
  const block = fam === 4 ? s.ipv4 : s.ipv6;
  if (block?.method === 'static') block.gateway = gw;
  else addRoute(s, fam, { to: fam === 4 ? '0.0.0.0/0' : '::/0', via: gw });
}

const V2_COMMON = ['dhcp4', 'dhcp6', 'addresses', 'gateway4', 'gateway6', 'routes', 'nameservers', 'mtu'];
const V2_NOTES: Record<string, string> = {
  'set-name': 'flint does not rename interfaces',
  wakeonlan: 'flint sets no wake-on-LAN',
  optional: 'flint has no per-link "optional" (wait-online) setting',
  macaddress: 'flint does not change MAC addresses',
  'accept-ra': 'flint leaves router advertisements to the renderer\'s default',
  'dhcp4-overrides': 'flint has no DHCP overrides',
  'dhcp6-overrides': 'flint has no DHCP overrides',
  renderer: 'flint has one renderer for all connections (network.renderer)',
  'link-local': 'flint sets link-local addressing only through ipv6.method',
  critical: 'flint has no critical setting',
};

interface V2Member {
  /** The kernel name a bond or bridge uses for this definition, if it has one. */
  kernelName?: string;
  why?: string;
}

class V2 {
  private readonly names = new Names();
  private readonly conns: Connection[] = [];
  private readonly members = new Set<string>();
  private readonly idToConn = new Map<string, string>();
  private readonly net: Network = {};

  constructor(
    private readonly nc: SeedFile,
    private readonly base: PathSeg[],
  ) {}

  convert(): Network | undefined {
    const { nc, base } = this;
    const renderer = nc.str([...base, 'renderer']);
    if (renderer === 'networkd') this.net.renderer = 'networkd';
    else if (renderer === 'NetworkManager') this.net.renderer = 'networkmanager';
    else if (renderer !== undefined) nc.error([...base, 'renderer'], 'enum', 'renderer must be networkd or NetworkManager');
    for (const kind of ['bonds', 'bridges']) {
      for (const id of this.ids(kind)) for (const m of nc.strList([...base, kind, id, 'interfaces'], false) ?? []) this.members.add(m);
    }
    for (const id of this.ids('ethernets')) this.physical('ethernets', id);
    for (const id of this.ids('wifis')) this.wifi(id);
    for (const id of this.ids('bonds')) this.virtual('bonds', id);
    for (const id of this.ids('bridges')) this.virtual('bridges', id);
    for (const id of this.ids('vlans')) this.virtual('vlans', id);
    nc.rest(base, new Set(['version', 'renderer', 'ethernets', 'wifis', 'bonds', 'bridges', 'vlans']));
    if (this.conns.length > 0) this.net.connections = this.conns;
    return Object.keys(this.net).length > 0 ? this.net : undefined;
  }

  private ids(kind: string): string[] {
    const m = this.nc.map([...this.base, kind]);
    return m === undefined ? [] : Object.keys(m);
  }

  private def(kind: string, id: string): Obj {
    return this.nc.map([...this.base, kind, id]) ?? {};
  }

  /** How a physical definition is matched: by kernel name (the ID itself without match:), glob, or MAC. */
  private matchOf(kind: string, id: string): { interface?: string; mac?: string } & V2Member {
    const path = [...this.base, kind, id, 'match'];
    const m = this.nc.map(path);
    if (m === undefined) return { interface: id, kernelName: id };
    const name = this.nc.str([...path, 'name']);
    const mac = this.nc.str([...path, 'macaddress']);
    this.nc.rest(path, new Set(['name', 'macaddress']), { driver: 'flint matches interfaces by name or MAC address only' });
    if (mac !== undefined) {
      if (name !== undefined) this.nc.warn([...path, 'name'], 'match', 'flint matches a connection by name or by MAC address, not both: the MAC address is used', undefined, 'key');
      return { mac: mac.toLowerCase(), why: 'it is matched by MAC address' };
    }
    // A glob names several members at once, which systemd-networkd's Name= matching takes as it is.
    if (name !== undefined) return { interface: name, kernelName: name };
    return { why: m.driver !== undefined ? 'it is matched by driver' : 'it matches every interface' };
  }

  private ip(kind: string, id: string): IpSettings {
    const { nc } = this;
    const path = [...this.base, kind, id];
    const s: IpSettings = {};
    const dhcp4 = nc.bool([...path, 'dhcp4']) === true;
    const dhcp6 = nc.bool([...path, 'dhcp6']) === true;
    const addrs = (nc.list([...path, 'addresses']) ?? []).flatMap((a, i) => {
      if (isObj(a)) return Object.keys(a);
      const t = nc.str([...path, 'addresses', i], 'an address in CIDR notation');
      return t === undefined ? [] : [t];
    });
    const v4 = addrs.filter((a) => family(a) !== 6);
    const v6 = addrs.filter((a) => family(a) === 6);
    s.ipv4 = dhcp4 ? { method: 'dhcp' } : v4.length > 0 ? { method: 'static' } : { method: 'disabled' };
    if (v4.length > 0) s.ipv4.addresses = v4;
    if (dhcp6) s.ipv6 = { method: 'auto' };
    else if (v6.length > 0) s.ipv6 = { method: 'static' };
    if (v6.length > 0) (s.ipv6 ??= {}).addresses = v6;
    const gw4 = nc.str([...path, 'gateway4']);
    if (gw4 !== undefined) setGateway(s, 4, gw4);
    const gw6 = nc.str([...path, 'gateway6']);
    if (gw6 !== undefined) setGateway(s, 6, gw6);
    nc.list([...path, 'routes'])?.forEach((_, i) => this.route(s, [...path, 'routes', i]));
    const ns: PathSeg[] = [...path, 'nameservers'];
    if (nc.map(ns) !== undefined) {
      addDns(s, nc.strList([...ns, 'addresses'], false) ?? [], nc.strList([...ns, 'search'], false) ?? []);
      nc.rest(ns, new Set(['addresses', 'search']));
    }
    const mtu = nc.int([...path, 'mtu']);
    if (mtu !== undefined) s.mtu = mtu;
    return s;
  }

  private route(s: IpSettings, path: PathSeg[]): void {
    const { nc } = this;
    if (nc.map(path) === undefined) return;
    const to = nc.str([...path, 'to']);
    const via = nc.str([...path, 'via']);
    const metric = nc.int([...path, 'metric']);
    if (to === undefined) {
      nc.error(path, 'missing-key', 'a route needs to:', 'add to: 10.0.0.0/8 (or default)');
      return;
    }
    const fam = to === 'default' ? (via !== undefined && family(via) === 6 ? 6 : 4) : family(to) === 6 ? 6 : 4;
    const r: Route = { to: to === 'default' ? (fam === 4 ? '0.0.0.0/0' : '::/0') : to };
    if (via !== undefined) r.via = via;
    if (metric !== undefined) r.metric = metric;
    addRoute(s, fam, r);
    nc.rest(path, new Set(['to', 'via', 'metric']));
  }

  private hasIp(kind: string, id: string): boolean {
    const d = this.def(kind, id);
    return ['dhcp4', 'dhcp6', 'addresses', 'gateway4', 'gateway6', 'routes', 'nameservers'].some((k) => d[k] !== undefined && d[k] !== false);
  }

  private physical(kind: 'ethernets', id: string): void {
    const { nc, base } = this;
    const path = [...base, kind, id];
    const match = this.matchOf(kind, id);
    nc.rest(path, new Set(['match', ...V2_COMMON]), V2_NOTES);
    if (this.members.has(id)) {
      // A member carries no address of its own; the bond or bridge names it.
      if (this.hasIp(kind, id)) nc.warn(path, 'member-ip', `${id} is a member of a bond or bridge: its own IP settings are not converted (a member carries no address)`, 'put the addresses on the bond or bridge', 'key');
      return;
    }
    const c: Connection = { name: this.names.take(id), type: 'ethernet' };
    this.idToConn.set(id, c.name);
    if (match.interface !== undefined) c.interface = match.interface;
    if (match.mac !== undefined) c.mac = match.mac;
    Object.assign(c, this.ip(kind, id));
    this.conns.push(c);
  }

  private wifi(id: string): void {
    const { nc, base } = this;
    const path = [...base, 'wifis', id];
    const match = this.matchOf('wifis', id);
    const country = nc.str([...path, 'regulatory-domain']);
    if (country !== undefined) this.net.wifi_country = country.toUpperCase();
    nc.rest(path, new Set(['match', 'access-points', 'regulatory-domain', ...V2_COMMON]), V2_NOTES);
    const aps = nc.map([...path, 'access-points']);
    if (aps === undefined) {
      nc.error(path, 'missing-key', `Wi-Fi ${id} has no access-points`, 'add access-points: {"SSID": {password: …}}', 'key');
      return;
    }
    const ssids = Object.keys(aps);
    for (const ssid of ssids) {
      const ap: PathSeg[] = [...path, 'access-points', ssid];
      const wifi = this.accessPoint(ap, ssid);
      if (wifi === undefined) continue;
      const c: Connection = { name: this.names.take(ssids.length === 1 ? id : `${id}-${ssid}`), type: 'wifi', wifi };
      if (match.interface !== undefined) c.interface = match.interface;
      if (match.mac !== undefined) c.mac = match.mac;
      Object.assign(c, this.ip('wifis', id));
      this.conns.push(c);
    }
  }

  private accessPoint(ap: PathSeg[], ssid: string): Connection['wifi'] {
    const { nc } = this;
    if (nc.at(ap) !== undefined && nc.map(ap) === undefined) return undefined;
    const mode = nc.str([...ap, 'mode']);
    if (mode !== undefined && mode !== 'infrastructure') {
      nc.unsupported([...ap, 'mode'], `mode ${mode}: flint connects to access points only (infrastructure)`);
      return undefined;
    }
    const auth: PathSeg[] = [...ap, 'auth'];
    const km = nc.str([...auth, 'key-management']);
    const password = nc.str([...auth, 'password']) ?? nc.str([...ap, 'password']);
    nc.secret([...auth, 'password']);
    nc.secret([...ap, 'password']);
    if (km !== undefined && !['psk', 'sae', 'none'].includes(km)) {
      nc.unsupported([...auth, 'key-management'], `key-management ${km} (enterprise Wi-Fi): flint writes WPA-Personal (psk, sae) and open networks only`);
      return undefined;
    }
    if (nc.map(auth) !== undefined) nc.rest(auth, new Set(['key-management', 'password']));
    nc.rest(ap, new Set(['password', 'auth', 'mode', 'hidden']), { bssid: 'flint does not pin a BSSID', band: 'flint does not pin a band', channel: 'flint does not pin a channel' });
    const wifi: NonNullable<Connection['wifi']> = { ssid };
    if (km === 'none' || (km === undefined && password === undefined)) wifi.security = 'open';
    else {
      wifi.security = km === 'sae' ? 'sae' : 'wpa-psk';
      if (password !== undefined) wifi.password = password.replace(/^hex:/, '');
    }
    if (nc.bool([...ap, 'hidden']) === true) wifi.hidden = true;
    return wifi;
  }

  /** The kernel name of a bond or bridge member: an ID defined here (by name), or a plain interface name. */
  private memberName(owner: PathSeg[], id: string, role = 'member'): string | undefined {
    for (const kind of ['ethernets', 'bonds', 'bridges', 'vlans']) {
      if (this.nc.map([...this.base, kind, id]) === undefined) continue;
      if (kind !== 'ethernets') return id;
      const m = this.matchOf('ethernets', id);
      if (m.kernelName !== undefined) return m.kernelName;
      this.nc.error(owner, 'member-match', `${role} ${id} cannot be named: ${m.why ?? 'it has no interface name'}, and flint names ${role === 'member' ? 'bond and bridge members' : 'the link of a VLAN without a connection of its own'} by interface name`, `give ${id} a match: {name: …} (or no match:, so its ID is the interface name)`);
      return undefined;
    }
    return id;
  }

  private virtual(kind: 'bonds' | 'bridges' | 'vlans', id: string): void {
    const { nc, base } = this;
    const path = [...base, kind, id];
    const c: Connection = { name: this.names.take(id), interface: id };
    this.idToConn.set(id, c.name);
    const ifPath: PathSeg[] = [...path, 'interfaces'];
    const listed = nc.strList(ifPath, false) ?? [];
    const members = listed.flatMap((m, i) => this.memberName(Array.isArray(nc.at(ifPath)) ? [...ifPath, i] : ifPath, m) ?? []);
    const params: PathSeg[] = [...path, 'parameters'];
    if (kind === 'bonds') {
      c.type = 'bond';
      c.bond = { members };
      const mode = nc.str([...params, 'mode']);
      if (mode !== undefined) c.bond.mode = mode as NonNullable<Connection['bond']>['mode'];
      nc.rest(params, new Set(['mode']));
    } else if (kind === 'bridges') {
      c.type = 'bridge';
      // Netplan's bridges run STP unless told not to; flint's default is off.
      c.bridge = { members, stp: nc.bool([...params, 'stp']) ?? true };
      nc.rest(params, new Set(['stp']));
    } else {
      c.type = 'vlan';
      const vid = nc.int([...path, 'id']);
      const link = nc.str([...path, 'link']);
      if (vid === undefined || link === undefined) {
        nc.error(path, 'missing-key', `VLAN ${id} needs id: and link:`, undefined, 'key');
        return;
      }
      const parent = this.idToConn.get(link) ?? this.memberName([...path, 'link'], link, 'VLAN link');
      if (parent === undefined) return;
      c.vlan = { id: vid, parent };
    }
    nc.rest(path, new Set(['interfaces', 'parameters', 'id', 'link', ...V2_COMMON]), V2_NOTES);
    Object.assign(c, this.ip(kind, id));
    this.conns.push(c);
  }
}

const V1_SUBNET_KEYS = new Set(['type', 'address', 'netmask', 'prefix', 'gateway', 'dns_nameservers', 'dns_search', 'routes', 'control']);

class V1 {
  private readonly names = new Names();
  private readonly conns: Connection[] = [];
  private readonly members = new Set<string>();

  constructor(
    private readonly nc: SeedFile,
    private readonly base: PathSeg[],
  ) {}

  convert(): Network | undefined {
    const { nc, base } = this;
    const list = nc.list([...base, 'config']) ?? [];
    const items = list.map((_, i) => [...base, 'config', i] as PathSeg[]).filter((p) => nc.map(p) !== undefined);
    for (const p of items) {
      for (const key of ['bond_interfaces', 'bridge_interfaces']) for (const m of nc.strList([...p, key], false) ?? []) this.members.add(m);
    }
    const dns: PathSeg[][] = [];
    const routes: PathSeg[][] = [];
    for (const p of items) {
      const type = nc.str([...p, 'type']);
      if (type === 'physical' || type === 'bond' || type === 'bridge' || type === 'vlan') this.device(p, type);
      else if (type === 'nameserver') dns.push(p);
      else if (type === 'route') routes.push(p);
      else if (type === undefined) nc.error(p, 'missing-key', 'a network config entry needs type:', 'physical, bond, bridge, vlan, nameserver or route', 'key');
      else nc.unsupported([...p, 'type'], `type ${type}: flint converts physical, bond, bridge, vlan, nameserver and route`);
    }
    for (const p of dns) this.nameserver(p);
    for (const p of routes) this.globalRoute(p);
    nc.rest(base, new Set(['version', 'config']));
    return this.conns.length > 0 ? { connections: this.conns } : undefined;
  }

  private device(p: PathSeg[], type: 'physical' | 'bond' | 'bridge' | 'vlan'): void {
    const { nc } = this;
    const name = nc.str([...p, 'name']);
    if (name === undefined) {
      nc.error(p, 'missing-key', `a ${type} entry needs name:`, undefined, 'key');
      return;
    }
    const known = new Set(['type', 'name', 'subnets', 'mtu']);
    const c: Connection = { name: this.names.take(name) };
    if (type === 'physical') {
      known.add('mac_address');
      if (this.members.has(name)) {
        if (nc.list([...p, 'subnets'])?.length) nc.warn([...p, 'subnets'], 'member-ip', `${name} is a member of a bond or bridge: its subnets are not converted (a member carries no address)`, undefined, 'key');
        nc.rest(p, new Set([...known, 'subnets']), V1_NOTES);
        return;
      }
      c.type = 'ethernet';
      const mac = nc.str([...p, 'mac_address']);
      if (mac !== undefined) c.mac = mac.toLowerCase();
      else c.interface = name;
    } else if (type === 'bond') {
      known.add('bond_interfaces').add('params');
      c.type = 'bond';
      c.interface = name;
      c.bond = { members: nc.strList([...p, 'bond_interfaces'], false) ?? [] };
      const mode = nc.str([...p, 'params', 'bond-mode']);
      if (mode !== undefined) c.bond.mode = mode as NonNullable<Connection['bond']>['mode'];
      nc.rest([...p, 'params'], new Set(['bond-mode']));
    } else if (type === 'bridge') {
      known.add('bridge_interfaces').add('params');
      c.type = 'bridge';
      c.interface = name;
      c.bridge = { members: nc.strList([...p, 'bridge_interfaces'], false) ?? [] };
      const stp = nc.bool([...p, 'params', 'bridge_stp']);
      if (stp !== undefined) c.bridge.stp = stp;
      nc.rest([...p, 'params'], new Set(['bridge_stp']));
    } else {
      known.add('vlan_link').add('vlan_id');
      c.type = 'vlan';
      c.interface = name;
      const id = nc.int([...p, 'vlan_id']);
      const link = nc.str([...p, 'vlan_link']);
      if (id === undefined || link === undefined) {
        nc.error(p, 'missing-key', `VLAN ${name} needs vlan_id: and vlan_link:`, undefined, 'key');
        return;
      }
      c.vlan = { id, parent: link };
    }
    const mtu = nc.int([...p, 'mtu']);
    if (mtu !== undefined) c.mtu = mtu;
    Object.assign(c, this.subnets(p));
    nc.rest(p, known, V1_NOTES);
    this.conns.push(c);
  }

  private subnets(p: PathSeg[]): IpSettings {
    const { nc } = this;
    const s: IpSettings = { ipv4: { method: 'disabled' } };
    const list = nc.list([...p, 'subnets']) ?? [];
    list.forEach((_, i) => {
      const sp: PathSeg[] = [...p, 'subnets', i];
      if (nc.map(sp) === undefined) return;
      const type = nc.str([...sp, 'type']) ?? '';
      switch (type) {
        case 'dhcp':
        case 'dhcp4':
          s.ipv4 = { ...s.ipv4, method: 'dhcp' };
          break;
        case 'dhcp6':
        case 'ipv6_dhcpv6-stateful':
          s.ipv6 = { ...s.ipv6, method: 'dhcp' };
          break;
        case 'ipv6_slaac':
        case 'ipv6_dhcpv6-stateless':
          s.ipv6 = { ...s.ipv6, method: 'auto' };
          break;
        case 'static':
        case 'static6':
          this.staticSubnet(s, sp);
          break;
        case 'manual':
          break;
        default:
          nc.error([...sp, 'type'], 'enum', `subnet type "${type}" is not known`, 'use dhcp, dhcp6, static, static6, ipv6_slaac, ipv6_dhcpv6-stateless, ipv6_dhcpv6-stateful or manual');
      }
      addDns(s, nc.strList([...sp, 'dns_nameservers'], false) ?? [], nc.strList([...sp, 'dns_search'], false) ?? []);
      nc.list([...sp, 'routes'])?.forEach((_, j) => this.route(s, [...sp, 'routes', j]));
      nc.rest(sp, V1_SUBNET_KEYS, { control: 'flint brings every connection up automatically' });
    });
    return s;
  }

  private staticSubnet(s: IpSettings, sp: PathSeg[]): void {
    const { nc } = this;
    const address = nc.str([...sp, 'address']);
    if (address === undefined) {
      nc.error(sp, 'missing-key', 'a static subnet needs address:', undefined, 'key');
      return;
    }
    const fam = family(address) === 6 ? 6 : 4;
    let cidr = address;
    if (!address.includes('/')) {
      const prefix = prefixOf(nc.str([...sp, 'netmask']) ?? nc.str([...sp, 'prefix']), fam);
      if (prefix === undefined) {
        nc.error([...sp, 'address'], 'prefix', 'a static address needs a prefix: write it as ADDRESS/PREFIX or give netmask:');
        return;
      }
      cidr = `${address}/${prefix}`;
    }
    const block = fam === 4 ? (s.ipv4 = { ...s.ipv4, method: s.ipv4?.method === 'dhcp' ? 'dhcp' : 'static' }) : (s.ipv6 = { ...s.ipv6, method: s.ipv6?.method ?? 'static' });
    block.addresses = [...(block.addresses ?? []), cidr];
    const gw = nc.str([...sp, 'gateway']);
    if (gw !== undefined) setGateway(s, fam, gw);
  }

  private route(s: IpSettings, rp: PathSeg[]): void {
    const r = routeV1(this.nc, rp);
    if (r !== undefined) addRoute(s, r.fam, r.route);
  }

  /** Global nameservers go to every connection that carries addresses, split by family. */
  private nameserver(p: PathSeg[]): void {
    const { nc } = this;
    const servers = nc.strList([...p, 'address'], false) ?? [];
    const search = nc.strList([...p, 'search'], false) ?? [];
    const iface = nc.str([...p, 'interface']);
    const targets = this.conns.filter((c) => (iface === undefined ? c.ipv4?.method !== 'disabled' || c.ipv6 !== undefined : c.interface === iface || c.name === iface));
    if (targets.length === 0) nc.unsupported(p, 'no connection here carries addresses for these name servers');
    for (const c of targets) addDns(c, servers, search);
    nc.rest(p, new Set(['type', 'address', 'search', 'interface']));
  }

  /** A global route goes to the connection whose static subnet holds its gateway. */
  private globalRoute(p: PathSeg[]): void {
    const r = routeV1(this.nc, p, new Set(['type']));
    if (r === undefined) return;
    const via = r.route.via;
    const target = this.conns.find((c) => (r.fam === 4 ? c.ipv4 : c.ipv6)?.addresses?.some((a) => via !== undefined && sameSubnet(a, via)));
    if (target === undefined) {
      this.nc.unsupported(p, 'no connection here has a subnet holding this route\'s gateway');
      return;
    }
    addRoute(target, r.fam, r.route);
  }
}

const V1_NOTES: Record<string, string> = {
  accept_ra: 'flint leaves router advertisements to the renderer\'s default',
  'accept-ra': 'flint leaves router advertisements to the renderer\'s default',
  mac_address: 'flint does not change MAC addresses',
};

function routeV1(nc: SeedFile, rp: PathSeg[], extra: ReadonlySet<string> = new Set()): { fam: 4 | 6; route: Route } | undefined {
  if (nc.map(rp) === undefined) return undefined;
  const dest = nc.str([...rp, 'destination']) ?? nc.str([...rp, 'network']);
  const gw = nc.str([...rp, 'gateway']);
  const metric = nc.int([...rp, 'metric']);
  nc.rest(rp, new Set(['destination', 'network', 'netmask', 'prefix', 'gateway', 'metric', ...extra]));
  if (dest === undefined) {
    nc.error(rp, 'missing-key', 'a route needs destination: (or network: with netmask:)', undefined, 'key');
    return undefined;
  }
  const fam = family(dest) === 6 || (gw !== undefined && family(gw) === 6) ? 6 : 4;
  let to = dest;
  if (!dest.includes('/')) {
    const prefix = prefixOf(nc.str([...rp, 'netmask']) ?? nc.str([...rp, 'prefix']), fam) ?? (fam === 4 ? 32 : 128);
    to = `${dest}/${prefix}`;
  }
  const route: Route = { to };
  if (gw !== undefined) route.via = gw;
  if (metric !== undefined) route.metric = metric;
  return { fam, route };
}

/** A prefix length from a dotted netmask (255.255.255.0) or a number. */
function prefixOf(mask: string | undefined, fam: 4 | 6): number | undefined {
  if (mask === undefined) return undefined;
  if (/^\d+$/.test(mask)) return Number(mask);
  if (fam !== 4 || isIP(mask) !== 4) return undefined;
  const bits = mask.split('.').map((o) => Number(o).toString(2).padStart(8, '0')).join('');
  return /^1*0*$/.test(bits) ? bits.indexOf('0') === -1 ? 32 : bits.indexOf('0') : undefined;
}

function sameSubnet(cidr: string, addr: string): boolean {
  const [net, len] = cidr.split('/');
  if (net === undefined || isIP(net) !== 4 || isIP(addr) !== 4) return family(net ?? '') === family(addr);
  const n = Number(len ?? 32);
  const toInt = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const mask = n === 0 ? 0 : 2 ** 32 - 2 ** (32 - n);
  return (toInt(net) & mask) >>> 0 === (toInt(addr) & mask) >>> 0;
}
