/**
 * Semantic checks: everything the JSON Schema cannot express. They run even when the
 * schema found problems (so one run shows them all), and therefore never trust a
 * shape: every access goes through the tolerant readers below.
 */
import type { PathSeg, Problem } from './diagnostics.js';
import type { Verdict } from './checks/problem.js';
import { parseAuthorizedKey } from './checks/sshkey.js';
import { checkPasswordHash } from './checks/crypt.js';
import { checkMac, checkRouteTarget, inSubnet, parseAddress, parseCidr } from './checks/net.js';
import {
  checkCountryCode,
  checkDropinName,
  checkHostname,
  checkImageReference,
  checkSafePath,
  checkTimezone,
  checkUnitName,
  installDirectives,
  isFullyQualifiedImage,
  NAME_RE,
  normalisePath,
  parseSize,
  unitHasInstallSection,
} from './checks/names.js';
import { STANDARD_GROUPS } from './checks/groups.js';
import { nearest } from './checks/suggest.js';
import { checkSource, checkVerify } from './checks/source.js';
import { SECTION_CHECKS } from './generated/section-checks.js';

export type Obj = Record<string, unknown>;

export interface Finding extends Problem {
  code: string;
  severity: 'error' | 'warning';
  /** Point at the key rather than the value (e.g. for a key that should not be there). */
  at?: 'key' | 'value';
}

/** Source text of plain scalars by path, for checks that depend on how a value was written (modes). */
export type RawLookup = (path: readonly PathSeg[]) => string | undefined;

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const objs = (v: unknown): Array<[Obj, number]> => list(v).flatMap((x, i): Array<[Obj, number]> => (isObj(x) ? [[x, i]] : []));
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strs = (v: unknown): Array<[string, number]> => list(v).flatMap((x, i): Array<[string, number]> => (typeof x === 'string' ? [[x, i]] : []));
const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) ? v : undefined);

class Reporter {
  readonly findings: Finding[] = [];
  error(path: PathSeg[], code: string, message: string, hint?: string, at?: 'key' | 'value'): void {
    this.findings.push(clean({ path, code, severity: 'error', message, hint, at }));
  }
  warn(path: PathSeg[], code: string, message: string, hint?: string, at?: 'key' | 'value'): void {
    this.findings.push(clean({ path, code, severity: 'warning', message, hint, at }));
  }
  problem(path: PathSeg[], code: string, p: Verdict | null | undefined): void {
    if (!p) return;
    this.findings.push(clean({ path, code, severity: p.severity ?? 'error', message: p.message, hint: p.hint }));
  }
}

function clean(f: { path: PathSeg[]; code: string; severity: 'error' | 'warning'; message: string; hint?: string | undefined; at?: 'key' | 'value' | undefined }): Finding {
  const out: Finding = { path: f.path, code: f.code, severity: f.severity, message: f.message };
  if (f.hint !== undefined) out.hint = f.hint;
  if (f.at !== undefined) out.at = f.at;
  return out;
}

/** Users every Linux system has, so ownership by these names needs no declaration. */
const STANDARD_USERS: ReadonlySet<string> = new Set(['root', 'nobody', 'daemon', 'bin', 'sys', 'adm', 'www-data', 'mail', 'systemd-network', 'messagebus']);

const GPT_TYPES = ['linux', 'swap', 'esp', 'home', 'var'];
const GUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * Check a config (top level, or a top level with one `hosts:` entry merged in).
 * `base` is the path prefix of every finding (empty for the document).
 */
export function checkConfig(cfg: unknown, raw: RawLookup): Finding[] {
  const r = new Reporter();
  if (!isObj(cfg)) return r.findings;
  checkSystem(cfg, r);
  const declaredGroups = checkGroups(cfg.groups, r);
  checkUsers(cfg, declaredGroups, r);
  checkAbsent(cfg, r);
  checkSsh(cfg, r);
  checkNetwork(cfg.network, r);
  checkStorage(cfg.storage, r);
  checkPaths(cfg, raw, r);
  checkSystemd(cfg.systemd, r);
  checkContainers(cfg.containers, r);
  checkKernelArguments(cfg.kernel_arguments, r);
  for (const check of SECTION_CHECKS) check(cfg, r);
  checkScripts(cfg.scripts, r);
  checkHosts(cfg.hosts, r);
  return r.findings;
}

function checkSystem(cfg: Obj, r: Reporter, base: PathSeg[] = []): void {
  const hostname = str(cfg.hostname);
  if (hostname !== undefined) r.problem([...base, 'hostname'], 'hostname', checkHostname(hostname));
  const tz = str(cfg.timezone);
  if (tz !== undefined) r.problem([...base, 'timezone'], 'timezone', checkTimezone(tz));
  const locale = str(cfg.locale);
  if (locale !== undefined && !/^(?:[a-zA-Z]{2,3}(?:_[A-Z]{2})?(?:\.[A-Za-z0-9-]+)?(?:@[a-zA-Z]+)?|C(?:\.UTF-8|\.utf8)?|POSIX)$/.test(locale)) {
    r.error([...base, 'locale'], 'locale', 'this is not a locale name', 'write language_TERRITORY.CHARSET, e.g. en_US.UTF-8 or de_DE.UTF-8');
  }
  const keymap = str(cfg.keymap);
  if (keymap !== undefined && !/^[A-Za-z0-9_.+-]+$/.test(keymap)) {
    r.error([...base, 'keymap'], 'keymap', 'a keymap is one console keymap name, such as us, de or de-nodeadkeys', 'list the names with `localectl list-keymaps` on the target');
  }
}

function checkGroups(groups: unknown, r: Reporter): Set<string> {
  const names = new Map<string, number>();
  const gids = new Map<number, number>();
  for (const [g, i] of objs(groups)) {
    const name = str(g.name);
    if (name !== undefined) {
      if (!NAME_RE.test(name)) r.error(['groups', i, 'name'], 'group-name', 'a group name is up to 32 lower-case letters, digits, "_" or "-", starting with a letter or "_"');
      const prev = names.get(name);
      if (prev !== undefined) r.error(['groups', i, 'name'], 'duplicate-group', `group "${name}" is already declared at groups[${prev}]`, 'declare each group once');
      else names.set(name, i);
    }
    const gid = int(g.gid);
    if (gid !== undefined) {
      const prev = gids.get(gid);
      if (prev !== undefined) r.error(['groups', i, 'gid'], 'duplicate-gid', `gid ${gid} is already used by groups[${prev}]`, 'give each group its own gid, or leave gid out to have one allocated');
      else gids.set(gid, i);
    }
  }
  return new Set(names.keys());
}

/**
 * `state: absent` entries: a deletion has nothing to set, root cannot go (the target
 * would have no administrator), and a group to delete cannot also be one a user of the
 * config is put in (one of the two entries is a mistake).
 */
function checkAbsent(cfg: Obj, r: Reporter): void {
  const absentGroups = new Set<string>();
  for (const [kind, key] of [['group', 'groups'], ['user', 'users']] as const) {
    for (const [e, i] of objs(cfg[key])) {
      if (e.state !== 'absent') continue;
      const name = str(e.name);
      if (kind === 'group' && name !== undefined) absentGroups.add(name);
      if (name === 'root') r.error([key, i, 'state'], 'absent-root', `${kind} root cannot be deleted`, 'lock the account instead: password_hash: "!"');
      for (const other of Object.keys(e)) {
        if (other === 'name' || other === 'state') continue;
        r.error([key, i, other], 'absent-with-settings', `${key}[${i}] (${name ?? '?'}) has state: absent, so ${other} has nothing to apply to`, `remove ${other}, or remove state: absent to keep the ${kind}`);
      }
    }
  }
  for (const [u, i] of objs(cfg.users)) {
    if (u.state === 'absent') continue;
    for (const [g, j] of strs(u.groups)) {
      if (absentGroups.has(g)) r.error(['users', i, 'groups', j], 'absent-group-used', `group "${g}" has state: absent under groups:, but user ${str(u.name) ?? '?'} is put in it`, 'keep the group, or take it out of this user\'s groups');
    }
    const primary = str(u.primary_group);
    if (primary !== undefined && absentGroups.has(primary)) r.error(['users', i, 'primary_group'], 'absent-group-used', `group "${primary}" has state: absent under groups:, but it is the primary group of user ${str(u.name) ?? '?'}`, 'keep the group, or choose another primary group');
  }
}

function checkUsers(cfg: Obj, declaredGroups: Set<string>, r: Reporter): void {
  const names = new Map<string, number>();
  const uids = new Map<number, number>();
  const userNames = new Set(objs(cfg.users).flatMap(([u]) => (typeof u.name === 'string' ? [u.name] : [])));
  const knownGroups = [...declaredGroups, ...userNames, ...STANDARD_GROUPS];
  for (const [u, i] of objs(cfg.users)) {
    const at = (...p: PathSeg[]): PathSeg[] => ['users', i, ...p];
    const name = str(u.name);
    if (name !== undefined) {
      if (!NAME_RE.test(name)) r.error(at('name'), 'user-name', 'a user name is up to 32 lower-case letters, digits, "_" or "-", starting with a letter or "_"', name.toLowerCase() !== name ? `write "${name.toLowerCase()}"` : undefined);
      const prev = names.get(name);
      if (prev !== undefined) r.error(at('name'), 'duplicate-user', `user "${name}" is already declared at users[${prev}]`, 'declare each user once; put all of its settings in one entry');
      else names.set(name, i);
    }
    const uid = int(u.uid);
    if (uid !== undefined) {
      const prev = uids.get(uid);
      if (prev !== undefined) r.error(at('uid'), 'duplicate-uid', `uid ${uid} is already used by users[${prev}]`, 'give each user its own uid, or leave uid out to have one allocated');
      else uids.set(uid, i);
      if (name === 'root' && uid !== 0) r.error(at('uid'), 'root-uid', 'root must have uid 0');
    }
    for (const [g, j] of strs(u.groups)) {
      if (g === '' || /[\s:,/]/.test(g)) {
        r.error(at('groups', j), 'group-name', `"${g}" cannot be a group name: /etc/group has no room for blanks, ":", "," or "/" in one`, 'write the group\'s name as the target has it, e.g. i2c');
        continue;
      }
      if (declaredGroups.has(g) || userNames.has(g) || STANDARD_GROUPS.has(g)) continue;
      const near = nearest(g, knownGroups);
      r.warn(at('groups', j), 'unknown-group', `group "${g}" is neither declared under groups: nor a standard group; it must already exist in the target`, near !== undefined ? `did you mean "${near}"? Otherwise declare it under groups:` : 'declare it under groups: so flint creates it');
    }
    const primary = str(u.primary_group);
    if (primary !== undefined && !declaredGroups.has(primary) && !userNames.has(primary) && !STANDARD_GROUPS.has(primary)) {
      r.warn(at('primary_group'), 'unknown-group', `primary group "${primary}" is not declared under groups:; it must already exist in the target`, 'declare it under groups:');
    }
    for (const key of ['home', 'shell'] as const) {
      const p = str(u[key]);
      if (p !== undefined) r.problem(at(key), 'path', checkSafePath(p));
    }
    if (u.password !== undefined && u.password_hash !== undefined) {
      r.error(at('password'), 'password-and-hash', 'give either password or password_hash, not both', 'keep password_hash', 'key');
    } else if (typeof u.password === 'string') {
      r.warn(at('password'), 'plaintext-password', 'a plain-text password is in this config; flint hashes it (SHA-512 crypt) before storing it, but the file itself still holds it', 'store a hash instead: password_hash: the output of `openssl passwd -6`', 'key');
      if (u.password === '') r.error(at('password'), 'empty-password', 'an empty password lets anyone log in', 'lock the account with password_hash: "!" and log in with a key');
    }
    const hash = str(u.password_hash);
    if (hash !== undefined) r.problem(at('password_hash'), 'password-hash', checkPasswordHash(hash));
    const seenKeys = new Map<string, number>();
    for (const [k, j] of strs(u.ssh_authorized_keys)) {
      const parsed = parseAuthorizedKey(k);
      if (!parsed.ok) {
        r.problem(at('ssh_authorized_keys', j), 'ssh-key', parsed.problem);
        continue;
      }
      const id = parsed.blob.toString('base64');
      const prev = seenKeys.get(id);
      if (prev !== undefined) r.warn(at('ssh_authorized_keys', j), 'duplicate-key', `this key is already listed at ssh_authorized_keys[${prev}]`, 'remove the repeated line');
      else seenKeys.set(id, j);
    }
    if (name === 'root' && u.sudo !== undefined && u.sudo !== 'none') r.warn(at('sudo'), 'root-sudo', 'root needs no sudo rule', 'remove sudo: from root', 'key');
    if (name === 'root' && u.home !== undefined && u.home !== '/root') r.warn(at('home'), 'root-home', 'root\'s home is /root on every Linux system; changing it breaks tools that expect it');
  }
}

function checkSsh(cfg: Obj, r: Reporter): void {
  const ssh = cfg.ssh;
  if (!isObj(ssh) || ssh.password_authentication !== false) return;
  const anyKey = objs(cfg.users).some(([u]) => list(u.ssh_authorized_keys).length > 0);
  if (!anyKey) {
    r.warn(['ssh', 'password_authentication'], 'no-login', 'password logins are off and no user has an SSH key: nobody will be able to log in over SSH', 'add ssh_authorized_keys to a user');
  }
}

function checkNetwork(network: unknown, r: Reporter): void {
  if (!isObj(network)) return;
  const country = str(network.wifi_country);
  if (country !== undefined) r.problem(['network', 'wifi_country'], 'country', checkCountryCode(country));
  const conns = objs(network.connections);
  const names = new Map<string, number>();
  const ifaces = new Set<string>();
  for (const [c] of conns) {
    if (typeof c.interface === 'string') ifaces.add(c.interface);
    if (typeof c.name === 'string') ifaces.add(c.name);
  }
  for (const [c, i] of conns) {
    const at = (...p: PathSeg[]): PathSeg[] => ['network', 'connections', i, ...p];
    const name = str(c.name);
    if (name !== undefined) {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/.test(name)) r.error(at('name'), 'connection-name', 'a connection name becomes a file name: use letters, digits, ".", "_", "-" or "@", up to 64 characters');
      const prev = names.get(name);
      if (prev !== undefined) r.error(at('name'), 'duplicate-connection', `connection "${name}" is already declared at network.connections[${prev}]`);
      else names.set(name, i);
    }
    if (c.interface !== undefined && c.mac !== undefined) r.error(at('mac'), 'interface-and-mac', 'give either interface or mac, not both', 'match by mac: for a fixed device, by interface: for a name or glob', 'key');
    const mac = str(c.mac);
    if (mac !== undefined) r.problem(at('mac'), 'mac', checkMac(mac));
    const iface = str(c.interface);
    if (iface !== undefined && (iface.length > 15 && !/[*?[]/.test(iface) || /[\s/:]/.test(iface))) {
      r.error(at('interface'), 'interface', 'an interface name is at most 15 characters, without spaces, "/" or ":"', 'use the kernel name shown by `ip link`, e.g. eth0, enp1s0 or wlan0, or a glob such as en*');
    }
    const type = str(c.type) ?? 'ethernet';
    for (const block of ['wifi', 'vlan', 'bond', 'bridge'] as const) {
      if (c[block] !== undefined && type !== block) r.error(at(block), 'type-block', `a ${block}: block belongs to a connection of type ${block}, but this one is ${type}`, `set type: ${block}, or remove the ${block}: block`, 'key');
    }
    if (type !== 'ethernet' && c[type] === undefined) r.error(at(), 'type-block', `a ${type} connection needs a ${type}: block`, blockHint(type));
    if (type === 'wifi' && isObj(c.wifi)) checkWifi(c.wifi, at('wifi'), r, network.wifi_country !== undefined);
    if (type === 'vlan' && isObj(c.vlan)) {
      const parent = str(c.vlan.parent);
      if (parent !== undefined && !ifaces.has(parent) && !/^[a-z]+[0-9a-z]*$/.test(parent)) r.error(at('vlan', 'parent'), 'vlan-parent', `parent "${parent}" is neither a connection name nor an interface name`);
    }
    if (type === 'bond' && isObj(c.bond) && list(c.bond.members).length === 0) r.error(at('bond', 'members'), 'bond-members', 'a bond needs at least one member interface');
    for (const fam of [4, 6] as const) checkIp(c[`ipv${fam}`], fam, at(`ipv${fam}`), r);
    for (const [d, j] of strs(c.dns_search)) {
      if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(d)) r.error(at('dns_search', j), 'dns-search', 'a search domain is a domain name such as home.arpa');
    }
  }
}

function blockHint(type: string): string {
  switch (type) {
    case 'wifi': return 'add wifi: {ssid: NAME, password: ..., security: wpa-psk}';
    case 'vlan': return 'add vlan: {id: 10, parent: lan}';
    case 'bond': return 'add bond: {mode: active-backup, members: [eth1, eth2]}';
    default: return 'add bridge: {members: [eth1]}';
  }
}

function checkWifi(w: Obj, at: PathSeg[], r: Reporter, hasCountry: boolean): void {
  const ssid = str(w.ssid);
  if (ssid !== undefined && (Buffer.byteLength(ssid) < 1 || Buffer.byteLength(ssid) > 32)) r.error([...at, 'ssid'], 'ssid', 'an SSID is 1 to 32 bytes long');
  const security = str(w.security) ?? 'wpa-psk';
  const pw = str(w.password);
  // Only lengths are reported: the passphrase itself is a secret.
  if (security === 'open' && w.password !== undefined) r.error([...at, 'password'], 'wifi-password', 'an open network has no password', 'remove password:, or set security: wpa-psk', 'key');
  if (security !== 'open' && w.password === undefined) r.error(at, 'wifi-password', `security ${security} needs a password`, 'add password: (8 to 63 characters)');
  if (pw !== undefined && security === 'wpa-psk' && !/^[0-9a-fA-F]{64}$/.test(pw) && (pw.length < 8 || pw.length > 63 || !/^[\x20-\x7e]*$/.test(pw))) {
    r.error([...at, 'password'], 'wifi-password', `a WPA passphrase is 8 to 63 printable ASCII characters (this one has ${pw.length} characters${/^[\x20-\x7e]*$/.test(pw) ? '' : ' and some outside printable ASCII'})`, 'check the passphrase, or give the 64-hex-digit PSK');
  }
  if (pw !== undefined && security === 'sae' && pw.length < 1) r.error([...at, 'password'], 'wifi-password', 'a WPA3 (SAE) password may not be empty');
  if (!hasCountry) r.warn(at, 'wifi-country', 'Wi-Fi without network.wifi_country: many devices (a Raspberry Pi among them) keep Wi-Fi off until the regulatory country is set', 'add network: {wifi_country: DE} with your ISO 3166 country code', 'key');
}

function checkIp(ip: unknown, fam: 4 | 6, at: PathSeg[], r: Reporter): void {
  if (!isObj(ip)) return;
  const method = str(ip.method) ?? (fam === 4 ? 'dhcp' : 'auto');
  const subnets: Array<{ family: 4 | 6; address: bigint; prefix: number }> = [];
  const example = fam === 4 ? '192.168.1.20/24' : '2001:db8::20/64';
  for (const [a, j] of strs(ip.addresses)) {
    const c = parseCidr(a);
    if ('message' in c) r.problem([...at, 'addresses', j], 'address', c);
    else if (c.family !== fam) r.error([...at, 'addresses', j], 'address-family', `this is an IPv${c.family} address in the ipv${fam} section`, `move it to ipv${c.family}:`);
    else subnets.push(c);
  }
  if (method === 'static' && list(ip.addresses).length === 0) r.error(at, 'static-needs-address', `method static needs at least one address`, `add addresses: [${example}]`);
  if (method === 'disabled' && (ip.addresses !== undefined || ip.gateway !== undefined)) r.error([...at, 'method'], 'disabled-with-address', `ipv${fam} is disabled but addresses or a gateway are given`, 'remove them, or change the method');
  const gw = str(ip.gateway);
  if (gw !== undefined) {
    const g = parseAddress(gw);
    if (!g) r.error([...at, 'gateway'], 'gateway', `this is not an IPv${fam} address`, `write a bare address, without a prefix, e.g. ${fam === 4 ? '192.168.1.1' : 'fe80::1'}`);
    else if (g.family !== fam) r.error([...at, 'gateway'], 'address-family', `an IPv${g.family} gateway in the ipv${fam} section`);
    else if (subnets.length > 0 && !(fam === 6 && isLinkLocal6(g.value)) && !subnets.some((s) => inSubnet(g, s))) {
      r.error([...at, 'gateway'], 'gateway-unreachable', `the gateway is not inside any of this connection's subnets (${list(ip.addresses).filter((x) => typeof x === 'string').join(', ')}), so it cannot be reached`, 'check the gateway address or the prefix length of the addresses');
    }
  }
  for (const [d, j] of strs(ip.dns)) {
    const a = parseAddress(d);
    if (!a) r.error([...at, 'dns', j], 'dns', 'a DNS server is an IP address', `e.g. ${fam === 4 ? '9.9.9.9' : '2620:fe::fe'}; names cannot be used before DNS works`);
  }
  for (const [rt, j] of objs(ip.routes)) {
    const to = str(rt.to);
    if (to !== undefined) {
      const p = checkRouteTarget(to);
      if (p) r.problem([...at, 'routes', j, 'to'], 'route', p);
      else if (to !== 'default') {
        const c = parseCidr(to);
        if (!('message' in c) && c.family !== fam) r.error([...at, 'routes', j, 'to'], 'address-family', `an IPv${c.family} route in the ipv${fam} section`);
      }
    }
    const via = str(rt.via);
    if (via !== undefined) {
      const v = parseAddress(via);
      if (!v) r.error([...at, 'routes', j, 'via'], 'route', 'via is the IP address of the next hop');
      else if (v.family !== fam) r.error([...at, 'routes', j, 'via'], 'address-family', `an IPv${v.family} next hop in the ipv${fam} section`);
      else if (subnets.length > 0 && !(fam === 6 && isLinkLocal6(v.value)) && !subnets.some((s) => inSubnet(v, s))) {
        r.warn([...at, 'routes', j, 'via'], 'via-unreachable', 'the next hop is outside this connection\'s subnets', 'check the address; the route will not come up unless the hop is reachable');
      }
    }
  }
}

function isLinkLocal6(v: bigint): boolean {
  return v >> 118n === 0x3fan; // fe80::/10
}

function checkStorage(storage: unknown, r: Reporter): void {
  if (!isObj(storage)) return;
  const labels = new Map<string, string>();
  for (const [d, i] of objs(storage.disks)) {
    const device = str(d.device);
    if (device !== undefined && device !== 'root' && !/^\/dev\/\S+$/.test(device)) {
      r.error(['storage', 'disks', i, 'device'], 'disk-device', 'a disk is "root" (the disk holding the root filesystem) or a device path under /dev', 'e.g. /dev/disk/by-id/usb-..., /dev/sdb or root');
    }
    const parts = objs(d.partitions);
    for (const [p, j] of parts) {
      const at = (...s: PathSeg[]): PathSeg[] => ['storage', 'disks', i, 'partitions', j, ...s];
      const label = str(p.label);
      if (label !== undefined) {
        const prev = labels.get(label);
        if (prev !== undefined) r.error(at('label'), 'duplicate-partlabel', `partition label "${label}" is already used at ${prev}`, 'partitions are matched by label, so each label must be unique');
        else labels.set(label, `storage.disks[${i}].partitions[${j}]`);
        if (label.length > 36) r.error(at('label'), 'partlabel', 'a GPT partition label holds at most 36 characters');
        // sfdisk scripts quote names with double quotes and know no escapes.
        if (/["\\\x00-\x1f]/.test(label)) r.error(at('label'), 'partlabel', 'a GPT partition label may not hold double quotes, backslashes or control characters', 'use letters, digits, "-" and "_", e.g. var');
      }
      const size = str(p.size);
      if (size !== undefined) {
        const s = parseSize(size);
        if ('message' in s) r.problem(at('size'), 'size', s);
      } else if (p.size === undefined && j !== parts[parts.length - 1]![1]) {
        r.error(at(), 'size-missing', 'only the last partition of a disk may leave out size (it takes the rest of the disk)', 'give this partition a size, e.g. size: 40GiB');
      }
      const type = str(p.type);
      if (type !== undefined && !GPT_TYPES.includes(type) && !GUID_RE.test(type)) {
        const near = nearest(type, GPT_TYPES);
        r.error(at('type'), 'partition-type', `unknown partition type "${type}"`, near !== undefined ? `did you mean "${near}"? Types are ${GPT_TYPES.join(', ')} or a GPT type GUID` : `use one of ${GPT_TYPES.join(', ')} or a GPT type GUID`);
      }
    }
  }
  const mounts = new Map<string, number>();
  for (const [f, i] of objs(storage.filesystems)) {
    const at = (...s: PathSeg[]): PathSeg[] => ['storage', 'filesystems', i, ...s];
    if (f.device === undefined && f.partlabel === undefined) r.error(at(), 'filesystem-device', 'a filesystem needs device: or partlabel:', 'e.g. partlabel: var');
    if (f.device !== undefined && f.partlabel !== undefined) r.error(at('partlabel'), 'filesystem-device', 'give either device or partlabel, not both', undefined, 'key');
    const device = str(f.device);
    if (device !== undefined && !/^\/dev\/\S+$/.test(device)) r.error(at('device'), 'filesystem-device', 'a device is a path under /dev', 'e.g. /dev/disk/by-partlabel/var, or write partlabel: var');
    const partlabel = str(f.partlabel);
    if (partlabel !== undefined && !labels.has(partlabel)) r.warn(at('partlabel'), 'partlabel', `no partition labelled "${partlabel}" is declared under storage.disks; it must already exist on the machine`);
    const format = str(f.format);
    const mount = str(f.mount);
    if (mount !== undefined) {
      if (format === 'swap') r.error(at('mount'), 'swap-mount', 'swap is not mounted at a path; it is enabled as swap', 'remove mount:', 'key');
      else {
        r.problem(at('mount'), 'path', checkSafePath(mount === '/' ? '/x' : mount));
        const prev = mounts.get(mount);
        if (prev !== undefined) r.error(at('mount'), 'duplicate-mount', `${mount} is already mounted by storage.filesystems[${prev}]`);
        else mounts.set(mount, i);
      }
    }
    const label = str(f.label);
    const max: Record<string, number> = { ext4: 16, xfs: 12, vfat: 11, btrfs: 255, swap: 15 };
    if (label !== undefined && format !== undefined && max[format] !== undefined && Buffer.byteLength(label) > max[format]!) {
      r.error(at('label'), 'fs-label', `a ${format} label holds at most ${max[format]} bytes`);
    }
    for (const [o, j] of strs(f.mount_options)) {
      if (/[\s,]/.test(o) || o === '') r.error(at('mount_options', j), 'mount-option', 'one option per list item, without spaces or commas', 'write mount_options: [noatime, compress=zstd]');
    }
    if (f.copy_existing === true && mount === undefined) r.error(at('copy_existing'), 'copy-existing', 'copy_existing needs mount: (the path whose contents are copied)', undefined, 'key');
  }
}

/** files, directories and links: safe paths, one entry per path, modes, contents and sources. */
function checkPaths(cfg: Obj, raw: RawLookup, r: Reporter): void {
  const seen = new Map<string, string>();
  const claim = (p: PathSeg[], value: string, where: string) => {
    const prev = seen.get(value);
    if (prev !== undefined) r.error(p, 'duplicate-path', `${value} is already declared at ${prev}`, 'declare each path once, under files, directories or links');
    else seen.set(value, where);
  };
  const users = new Set(objs(cfg.users).flatMap(([u]) => (typeof u.name === 'string' ? [u.name] : [])));
  const groups = new Set([...users, ...objs(cfg.groups).flatMap(([g]) => (typeof g.name === 'string' ? [g.name] : []))]);
  const owner = (at: PathSeg[], o: Obj) => {
    if (typeof o.owner === 'string' && !users.has(o.owner) && !STANDARD_USERS.has(o.owner)) {
      r.warn([...at, 'owner'], 'unknown-owner', `user "${o.owner}" is not declared under users:; it must already exist in the target`, nearestHint(o.owner, [...users]));
    }
    if (typeof o.group === 'string' && !groups.has(o.group) && !STANDARD_GROUPS.has(o.group)) {
      r.warn([...at, 'group'], 'unknown-group', `group "${o.group}" is not declared; it must already exist in the target`, nearestHint(o.group, [...groups]));
    }
    for (const k of ['owner', 'group'] as const) {
      if (typeof o[k] === 'number' && (!Number.isInteger(o[k]) || (o[k] as number) < 0)) r.error([...at, k], 'owner', 'a numeric id is a whole number of 0 or more');
    }
  };
  for (const [section, kind] of [['files', 'file'], ['directories', 'directory'], ['links', 'link']] as const) {
    for (const [e, i] of objs(cfg[section])) {
      const at: PathSeg[] = [section, i];
      const p = str(e.path);
      if (p !== undefined) {
        const problem = checkSafePath(p);
        if (problem) r.problem([...at, 'path'], 'path', problem);
        else claim([...at, 'path'], p, `${section}[${i}]`);
      }
      if (e.mode !== undefined) checkMode([...at, 'mode'], e.mode, raw([...at, 'mode']), kind === 'directory' ? '0755' : '0644', r);
      owner(at, e);
      if (kind === 'file') checkFile(e, at, r);
      if (kind === 'link') {
        const t = str(e.target);
        if (t !== undefined) {
          if (t === '' || t.includes('\0')) r.error([...at, 'target'], 'link-target', 'a link target may not be empty');
          else if (e.hard === true) r.problem([...at, 'target'], 'link-target', checkSafePath(t));
        }
      }
    }
  }
}

function nearestHint(word: string, candidates: string[]): string | undefined {
  const n = nearest(word, candidates);
  return n !== undefined ? `did you mean "${n}"?` : undefined;
}

/**
 * Modes are octal. YAML 1.2 reads `0644` as the decimal number 644, so the source text
 * decides: a leading 0 (or 0o) means octal, and a bare 644 or 420 is refused because a
 * reader cannot tell what was meant.
 */
export function checkMode(at: PathSeg[], value: unknown, rawText: string | undefined, example: string, r: { error: Reporter['error'] }): void {
  const text = typeof value === 'string' ? value : rawText ?? (typeof value === 'number' ? String(value) : undefined);
  if (text === undefined) return;
  const bits = modeBits(text);
  if (bits !== undefined) {
    if (bits > 0o7777) r.error(at, 'mode', `mode ${text} is out of range: the highest mode is 07777`);
    return;
  }
  const decimal = Number(text);
  const decimalAsMode = /^\d+$/.test(text) && COMMON_MODES.has(decimal) ? `0${decimal.toString(8)}` : undefined;
  if (/^[0-7]{3,4}$/.test(text)) {
    const asOctal = `0${text.replace(/^0+(?=.{3})/, '')}`;
    const hint = decimalAsMode !== undefined ? `write ${decimalAsMode} (${text} is the decimal form of ${decimalAsMode}, as Ignition writes modes), or ${asOctal}` : `write ${asOctal}`;
    r.error(at, 'mode-decimal', `mode ${text} has no leading 0, so it is not octal`, hint);
    return;
  }
  if (decimalAsMode !== undefined) {
    r.error(at, 'mode-decimal', `mode ${text} is a decimal number; modes are written in octal`, `write ${decimalAsMode}`);
    return;
  }
  r.error(at, 'mode', `"${text}" is not a file mode`, `write an octal mode such as ${example}`);
}

/** Modes people use, by value: a decimal number that is one of these was meant as a mode. */
const COMMON_MODES: ReadonlySet<number> = new Set([0o400, 0o440, 0o444, 0o500, 0o550, 0o555, 0o600, 0o640, 0o644, 0o660, 0o664, 0o666, 0o700, 0o710, 0o711, 0o750, 0o755, 0o770, 0o775, 0o777, 0o1777, 0o2755, 0o4755]);

/** The permission bits of an octal mode as written (`0644`, `"0644"`, `0o644`); undefined if it is not one. */
export function modeBits(text: string): number | undefined {
  const m = /^0o?([0-7]{1,5})$/.exec(text);
  return m ? parseInt(m[1]!, 8) : undefined;
}

function checkFile(f: Obj, at: PathSeg[], r: Reporter): void {
  const sources = (['contents', 'contents_base64', 'source'] as const).filter((k) => f[k] !== undefined);
  if (sources.length > 1) r.error([...at, sources[1]!], 'file-contents', `give only one of contents, contents_base64 and source (found ${sources.join(' and ')})`, undefined, 'key');
  const b64 = str(f.contents_base64);
  if (b64 !== undefined && !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(b64)) r.error([...at, 'contents_base64'], 'base64', 'this is not valid base64', 'encode the file with `base64 -w0 FILE`');
  const source = str(f.source);
  if (source !== undefined) checkSource([...at, 'source'], source, f.verify !== undefined, r);
  checkVerify([...at, 'verify'], f.verify, r);
  if (f.compression !== undefined && f.contents !== undefined) r.error([...at, 'compression'], 'compression', 'compression applies to source or contents_base64 data, not to plain contents', 'remove compression:', 'key');
  if (f.append === true && f.overwrite === false) r.error([...at, 'append'], 'append-overwrite', 'append: true adds to an existing file, which overwrite: false forbids', 'remove one of them', 'key');
}

function checkSystemd(systemd: unknown, r: Reporter): void {
  if (!isObj(systemd)) return;
  const def = str(systemd.default_target);
  if (def !== undefined) {
    const p = checkUnitName(def);
    if (p) r.problem(['systemd', 'default_target'], 'unit-name', p);
    else if (!def.endsWith('.target')) r.error(['systemd', 'default_target'], 'default-target', 'the default target must be a .target unit', 'e.g. multi-user.target or graphical.target');
  }
  const names = new Map<string, number>();
  for (const [u, i] of objs(systemd.units)) {
    const at = (...s: PathSeg[]): PathSeg[] => ['systemd', 'units', i, ...s];
    const name = str(u.name);
    if (name !== undefined) {
      r.problem(at('name'), 'unit-name', checkUnitName(name));
      const prev = names.get(name);
      if (prev !== undefined) r.error(at('name'), 'duplicate-unit', `unit ${name} is already declared at systemd.units[${prev}]`, 'merge the two entries');
      else names.set(name, i);
    }
    if (u.enabled === true && u.masked === true) r.error(at('masked'), 'enabled-masked', 'a unit cannot be both enabled and masked', 'remove one of them', 'key');
    if (u.masked === true && u.contents !== undefined) r.warn(at('contents'), 'masked-contents', 'a masked unit is never started, so its contents are unused', undefined, 'key');
    const contents = str(u.contents);
    if (contents !== undefined && u.enabled === true) {
      if (!unitHasInstallSection(contents)) {
        r.error(at('enabled'), 'no-install', 'enabled: true needs an [Install] section in the unit (systemctl enable reads it)', 'add "[Install]\\nWantedBy=multi-user.target" to contents');
      } else {
        const keys = installDirectives(contents);
        if (!keys.some((k) => ['WantedBy', 'RequiredBy', 'UpheldBy', 'Alias', 'Also'].includes(k))) {
          r.error(at('enabled'), 'no-install', 'the [Install] section names nothing to enable the unit for', 'add WantedBy=multi-user.target under [Install]');
        }
        if (name !== undefined && /@\.[a-z]+$/.test(name) && !keys.includes('DefaultInstance')) {
          r.error(at('name'), 'template-instance', `${name} is a template: enabling it needs an instance`, `name an instance (e.g. ${name.replace('@.', '@main.')}) or add DefaultInstance= under [Install]`);
        }
      }
    }
    const dropins = new Map<string, number>();
    for (const [d, j] of objs(u.dropins)) {
      const dn = str(d.name);
      if (dn === undefined) continue;
      r.problem(at('dropins', j, 'name'), 'dropin-name', checkDropinName(dn));
      const prev = dropins.get(dn);
      if (prev !== undefined) r.error(at('dropins', j, 'name'), 'duplicate-dropin', `drop-in ${dn} is already declared at dropins[${prev}]`);
      else dropins.set(dn, j);
    }
  }
}

function checkContainers(containers: unknown, r: Reporter): void {
  const names = new Map<string, number>();
  for (const [c, i] of objs(containers)) {
    const at = (...s: PathSeg[]): PathSeg[] => ['containers', i, ...s];
    const name = str(c.name);
    if (name !== undefined) {
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) r.error(at('name'), 'container-name', 'a container name is letters, digits, "_", "." and "-", starting with a letter or digit');
      const prev = names.get(name);
      if (prev !== undefined) r.error(at('name'), 'duplicate-container', `container "${name}" is already declared at containers[${prev}]`);
      else names.set(name, i);
    }
    const image = str(c.image);
    if (image !== undefined) {
      const p = checkImageReference(image);
      if (p) r.problem(at('image'), 'image', p);
      else if (!isFullyQualifiedImage(image)) {
        if (c.auto_update === 'registry') r.error(at('image'), 'image-short-name', 'auto_update: registry needs a fully qualified image (registry/name:tag)', `e.g. docker.io/library/${image}`);
        else r.warn(at('image'), 'image-short-name', 'a short image name: Podman refuses to pull it unless the target\'s registries.conf has an alias', `name the registry, e.g. docker.io/library/${image}`);
      }
    }
    for (const [p, j] of strs(c.ports)) {
      if (!/^(?:(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?(?:\d{1,5}(?:-\d{1,5})?:)?\d{1,5}(?:-\d{1,5})?(?:\/(?:tcp|udp|sctp))?$/.test(p) || p.split(/[:/-]/).some((n) => /^\d+$/.test(n) && Number(n) > 65535)) {
        r.error(at('ports', j), 'port', 'a port mapping is [IP:]HOST:CONTAINER[/tcp|udp], e.g. 8080:80 or 127.0.0.1:8080:80/tcp');
      }
    }
    for (const [v, j] of strs(c.volumes)) {
      const parts = v.split(':');
      const dst = parts[1];
      if (parts.length < 2 || parts.length > 3 || parts[0] === '' || dst === undefined || !dst.startsWith('/')) {
        r.error(at('volumes', j), 'volume', 'a volume is SOURCE:/PATH/IN/CONTAINER[:OPTIONS]; the source is a host path or a volume name', 'e.g. /srv/web:/usr/share/nginx/html:ro');
      }
    }
    if (isObj(c.environment)) {
      for (const k of Object.keys(c.environment)) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) r.error(at('environment', k), 'env-name', `"${k}" is not a valid environment variable name`, 'use letters, digits and "_", not starting with a digit', 'key');
      }
    }
    const archive = str(c.image_archive);
    if (archive !== undefined && (archive.startsWith('/') || archive.split('/').includes('..') || archive === '')) {
      r.error(at('image_archive'), 'image-archive', 'image_archive is a path relative to the config\'s folder on the medium, without ".."', 'e.g. images/nginx.tar (made with `podman save -o images/nginx.tar IMAGE`)');
    }
  }
}

function checkKernelArguments(ka: unknown, r: Reporter): void {
  if (!isObj(ka)) return;
  const added = new Map<string, number>();
  for (const key of ['add', 'remove'] as const) {
    for (const [a, j] of strs(ka[key])) {
      if (a === '' || /\s/.test(a.replace(/"[^"]*"/g, ''))) {
        r.error(['kernel_arguments', key, j], 'kernel-argument', 'one kernel argument per list item, without spaces', 'split it into separate list items');
      }
      if (key === 'add') added.set(a, j);
      else if (added.has(a)) r.error(['kernel_arguments', 'remove', j], 'kernel-argument', `"${a}" is both added and removed`, 'keep it in one list only');
    }
  }
}

function checkScripts(scripts: unknown, r: Reporter): void {
  const names = new Map<string, number>();
  for (const [s, i] of objs(scripts)) {
    const at = (...p: PathSeg[]): PathSeg[] => ['scripts', i, ...p];
    const name = str(s.name);
    if (name !== undefined) {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) r.error(at('name'), 'script-name', 'a script name is letters, digits, "_", "." and "-" (it names the script\'s log)');
      const prev = names.get(name);
      if (prev !== undefined) r.error(at('name'), 'duplicate-script', `script "${name}" is already declared at scripts[${prev}]`);
      else names.set(name, i);
    }
    if (s.contents === undefined && s.source === undefined) r.error(at(), 'script-contents', 'a script needs contents: or source:', 'add contents: | with the script');
    if (s.contents !== undefined && s.source !== undefined) r.error(at('source'), 'script-contents', 'give either contents or source, not both', undefined, 'key');
    const contents = str(s.contents);
    if (contents !== undefined && !contents.startsWith('#!')) r.warn(at('contents'), 'shebang', 'the script has no #! line; it runs with /bin/sh', 'start it with #!/bin/sh (or #!/bin/bash)');
    const source = str(s.source);
    if (source !== undefined && !source.startsWith('data:')) {
      const rel = source.startsWith('file:') ? source.slice(5) : undefined;
      if (rel === undefined || rel === '' || rel.startsWith('/') || rel.split('/').includes('..')) {
        r.error(at('source'), 'source', 'a script source is file: plus a path relative to the config\'s folder on the medium, or a data: URL (https is refused: a script has no verify)', 'e.g. source: file:combustion/script');
      }
    }
  }
}

function checkHosts(hosts: unknown, r: Reporter): void {
  const seen = new Map<string, number>();
  for (const [h, i] of objs(hosts)) {
    const m = h.match;
    if (!isObj(m)) continue;
    const keys = ['mac', 'serial', 'machine_uuid'].filter((k) => m[k] !== undefined);
    if (keys.length === 0) r.error(['hosts', i, 'match'], 'host-match', 'match: needs mac, serial or machine_uuid', 'e.g. match: {mac: "dc:a6:32:aa:bb:cc"}');
    const mac = str(m.mac);
    if (mac !== undefined) r.problem(['hosts', i, 'match', 'mac'], 'mac', checkMac(mac));
    const uuid = str(m.machine_uuid);
    if (uuid !== undefined && !GUID_RE.test(uuid)) r.error(['hosts', i, 'match', 'machine_uuid'], 'machine-uuid', 'machine_uuid is the DMI product UUID, e.g. 4c4c4544-0042-3510-8048-b7c04f4b4d32', 'read it with `cat /sys/class/dmi/id/product_uuid`');
    const serial = str(m.serial);
    if (serial !== undefined && serial.trim() === '') r.error(['hosts', i, 'match', 'serial'], 'serial', 'serial may not be empty');
    const id = JSON.stringify(keys.map((k) => [k, String(m[k]).toLowerCase()]));
    const prev = seen.get(id);
    if (keys.length > 0 && prev !== undefined) r.warn(['hosts', i, 'match'], 'duplicate-match', `the same match as hosts[${prev}]: the first matching entry wins, so this one is never used`);
    else seen.set(id, i);
    if (Object.keys(h).length === 1) r.warn(['hosts', i], 'empty-host', 'this entry overrides nothing', 'add the settings this machine needs, e.g. hostname:');
  }
}

export { normalisePath };
