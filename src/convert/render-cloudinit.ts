/**
 * A validated, resolved flint config as a cloud-init NoCloud seed: user-data as
 * #cloud-config, network-config version 2 (Netplan's format, which cloud-init reads),
 * and meta-data whose instance-id is derived from the other two, so a changed config is
 * a new instance and an unchanged one is not applied twice. Settings cloud-init has a
 * module for use that module; what only a command can do goes to runcmd and is listed
 * as a note; the rest is a loss. Pure: payload files come through `read`.
 */
import { NAME_RE, parseSize } from '../config/checks/names.js';
import { DEFAULT_SWAP_FILE } from '../steps/swap-file/step.js';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import type { PathSeg } from '../config/diagnostics.js';
import type { FlintConfig } from '../config/validate.js';
import type { Connection, File as FileEntry, User } from '../config/generated/model.js';
import { sshdDropin, SSHD_DROPIN_PATH } from '../steps/ssh/sshd.js';
import { decodeDataUrl } from '../system/fetch.js';
import { wpaPsk } from '../steps/network/nm.js';
import { LossList } from './render-loss.js';
import type { RenderLoss } from './render-loss.js';

type Obj = Record<string, unknown>;

export interface CloudInitRenderOptions {
  /** The bytes of a `file:` payload, relative to the config's folder. */
  read: (rel: string) => Buffer;
}

export interface CloudInitRendering {
  userData: string;
  networkConfig?: string;
  metaData: string;
  losses: RenderLoss[];
  /** Settings rendered as runcmd commands: said, not silent. */
  notes: string[];
}

/** Where post scripts are put for runcmd to run. */
export const SCRIPT_DIR = '/var/lib/flint/scripts';

class Out {
  readonly losses = new LossList();
  readonly notes: string[] = [];
  readonly writeFiles: Obj[] = [];
  readonly runcmd: string[][] = [];
  constructor(
    readonly opts: CloudInitRenderOptions,
    /** Users and groups the config creates: files they own are written after cloud-init has made them. */
    readonly created: ReadonlySet<string>,
  ) {}
  command(argv: string[], why: string): void {
    this.runcmd.push(argv);
    this.notes.push(`runcmd: ${argv.join(' ')} (${why})`);
  }
}

export function renderCloudInit(config: FlintConfig, opts: CloudInitRenderOptions): CloudInitRendering {
  const created = new Set([...(config.users ?? []).map((u) => u.name), ...(config.groups ?? []).map((g) => g.name)]);
  created.delete('root');
  const o = new Out(opts, created);
  const ud: Obj = {};
  system(o, config, ud);
  accounts(o, config, ud);
  ssh(o, config, ud);
  (config.files ?? []).forEach((f, i) => writeFile(o, f, i));
  (config.directories ?? []).forEach((d) => directory(o, d));
  (config.links ?? []).forEach((l) => link(o, l));
  systemd(o, config);
  scripts(o, config);
  storage(o, config, ud);
  machine(o, config, ud);
  unsupported(o, config);
  if (o.writeFiles.length > 0) ud.write_files = o.writeFiles;
  if (o.runcmd.length > 0) ud.runcmd = o.runcmd;
  const userData = `#cloud-config\n${Object.keys(ud).length > 0 ? stringify(ud, { lineWidth: 0 }) : ''}`;
  const net = network(o, config);
  const networkConfig = net !== undefined ? stringify(net, { lineWidth: 0 }) : undefined;
  const digest = createHash('sha256').update(userData).update('\0').update(networkConfig ?? '').digest('hex');
  const metaData = `instance-id: flint-${digest.slice(0, 32)}\n`;
  return { userData, ...(networkConfig !== undefined ? { networkConfig } : {}), metaData, losses: o.losses.items, notes: o.notes };
}

// ---- system settings ------------------------------------------------------------------------

function system(o: Out, c: FlintConfig, ud: Obj): void {
  if (c.hostname !== undefined) {
    // set_hostname writes the short name unless told to prefer the FQDN.
    if (c.hostname.includes('.')) Object.assign(ud, { fqdn: c.hostname, prefer_fqdn_over_hostname: true });
    else ud.hostname = c.hostname;
  }
  if (c.timezone !== undefined) ud.timezone = c.timezone;
  if (c.locale !== undefined) ud.locale = c.locale;
  if (c.keymap !== undefined) {
    const [layout, ...variant] = c.keymap.split('-');
    ud.keyboard = { layout, ...(variant.length > 0 ? { variant: variant.join('-') } : {}) };
  }
  if (c.kernel_arguments !== undefined) {
    o.losses.lose(['kernel_arguments'], 'cloud-init does not change the kernel command line', 'edit cmdline.txt on the boot partition (Raspberry Pi) or the boot loader\'s config in the image');
  }
}

// ---- users and groups -----------------------------------------------------------------------

function accounts(o: Out, c: FlintConfig, ud: Obj): void {
  (c.groups ?? []).forEach((g, i) => {
    if (g.gid !== undefined) o.losses.lose(['groups', i, 'gid'], 'cloud-init\'s groups: takes no GID: the group gets the next free one', `create it with a fixed GID from runcmd (groupadd -g ${g.gid} ${g.name}) instead`);
    if (g.system === true) o.losses.lose(['groups', i, 'system'], 'cloud-init\'s groups: makes no system groups', `create it from runcmd (groupadd -r ${g.name}) instead`);
  });
  if ((c.groups ?? []).length > 0) ud.groups = (c.groups ?? []).map((g) => g.name);
  // No "default" entry: flint makes exactly the users it is given, and so will cloud-init.
  if ((c.users ?? []).length > 0) ud.users = (c.users ?? []).map((u, i) => user(o, u, i));
}

function user(o: Out, u: User, i: number): Obj {
  const out: Obj = { name: u.name };
  if (u.gecos !== undefined) out.gecos = u.gecos;
  if (u.uid !== undefined) out.uid = u.uid;
  if (u.home !== undefined) out.homedir = u.home;
  if (u.primary_group !== undefined) out.primary_group = String(u.primary_group);
  // cloud-init creates the groups it is given; groupadd refuses names outside the portable rule.
  const groups = (u.groups ?? []).filter((g, j) => {
    if (NAME_RE.test(g)) return true;
    o.losses.lose(['users', i, 'groups', j], `cloud-init would create the group "${g}", and groupadd refuses that name`, 'use a group name of lower-case letters, digits, "_" and "-"');
    return false;
  });
  if (groups.length > 0) out.groups = groups;
  if (u.shell !== undefined) out.shell = u.shell;
  if (u.system === true) out.system = true;
  if (u.password !== undefined) throw new Error(`users[${i}].password was not hashed before rendering`);
  const hash = u.password_hash;
  // cloud-init locks every password unless lock_passwd is false; "!" and "*" are flint's locks.
  if (hash !== undefined && hash !== '!' && hash !== '*' && !hash.startsWith('!')) Object.assign(out, { hashed_passwd: hash, lock_passwd: false });
  else out.lock_passwd = true;
  if (u.ssh_authorized_keys !== undefined && u.ssh_authorized_keys.length > 0) out.ssh_authorized_keys = u.ssh_authorized_keys;
  if (u.sudo === 'nopasswd') out.sudo = 'ALL=(ALL) NOPASSWD:ALL';
  else if (u.sudo === 'password') out.sudo = 'ALL=(ALL) ALL';
  return out;
}

function ssh(o: Out, c: FlintConfig, ud: Obj): void {
  const s = c.ssh;
  if (s === undefined) return;
  if (s.password_authentication !== undefined) ud.ssh_pwauth = s.password_authentication;
  if (s.permit_root_login !== undefined) {
    const text = sshdDropin({ permit_root_login: s.permit_root_login });
    if (text !== undefined) o.writeFiles.push({ path: SSHD_DROPIN_PATH, content: text, permissions: '0644' });
  }
  // cloud-init deletes the image's host keys and makes new ones on first boot (ssh_deletekeys).
  if (s.host_keys === 'generate') ud.ssh_deletekeys = true;
  else if (s.host_keys === 'keep') ud.ssh_deletekeys = false;
}

// ---- files ----------------------------------------------------------------------------------

function octal(mode: unknown, dflt: number): string {
  return `0${(typeof mode === 'number' ? mode : dflt).toString(8).padStart(3, '0')}`;
}

function ownerOf(o: Out, n: { owner?: string | number; group?: string | number }): { owner?: string; defer?: boolean } {
  if (n.owner === undefined && n.group === undefined) return {};
  const user = String(n.owner ?? 'root');
  const group = String(n.group ?? user);
  const defer = o.created.has(user) || o.created.has(group);
  return { owner: `${user}:${group}`, ...(defer ? { defer: true } : {}) };
}

function bytesOf(o: Out, f: FileEntry): Buffer | undefined {
  let data: Buffer | undefined;
  if (f.contents !== undefined) return Buffer.from(f.contents, 'utf8');
  if (f.contents_base64 !== undefined) data = Buffer.from(f.contents_base64, 'base64');
  else if (f.source?.startsWith('file:') === true) data = o.opts.read(f.source.slice('file:'.length));
  else if (f.source?.startsWith('data:') === true) data = decodeDataUrl(f.source);
  if (data !== undefined && f.compression === 'gzip') data = gunzipSync(data);
  return data;
}

/** Text when the bytes are UTF-8 without control characters other than tab and newline. */
function isText(data: Buffer): boolean {
  const text = data.toString('utf8');
  return Buffer.from(text, 'utf8').equals(data) && !/[\0-\x08\x0b-\x1f\x7f]/.test(text);
}

function writeFile(o: Out, f: FileEntry, i: number): void {
  const at: PathSeg[] = ['files', i];
  const data = bytesOf(o, f);
  if (data === undefined) {
    o.losses.lose([...at, 'source'], 'cloud-init\'s write_files cannot download a file and check its hash: the file is not written', 'download it beforehand and give it as source: file:...');
    return;
  }
  const out: Obj = { path: f.path, ...(isText(data) ? { content: data.toString('utf8') } : { encoding: 'b64', content: data.toString('base64') }) };
  out.permissions = octal(f.mode, 0o644);
  Object.assign(out, ownerOf(o, f));
  if (f.append === true) out.append = true;
  if (f.overwrite === false) o.losses.lose([...at, 'overwrite'], 'write_files always replaces an existing file: overwrite: false is not kept', 'leave the file out where the image may have its own');
  o.writeFiles.push(out);
}

function directory(o: Out, d: { path: string; mode?: unknown; owner?: string | number; group?: string | number }): void {
  const argv = ['install', '-d', '-m', octal(d.mode, 0o755)];
  if (d.owner !== undefined) argv.push('-o', String(d.owner));
  if (d.group !== undefined) argv.push('-g', String(d.group));
  o.command([...argv, d.path], 'cloud-init has no directories');
}

function link(o: Out, l: { path: string; target: string; hard?: boolean; owner?: string | number; group?: string | number }): void {
  o.command(l.hard === true ? ['ln', '-f', l.target, l.path] : ['ln', '-sfn', l.target, l.path], 'cloud-init has no links');
  if (l.hard !== true && (l.owner !== undefined || l.group !== undefined)) o.command(['chown', '-h', `${String(l.owner ?? 'root')}:${String(l.group ?? l.owner ?? 'root')}`, l.path], 'owner of the link');
}

// ---- systemd, scripts -----------------------------------------------------------------------

function systemd(o: Out, c: FlintConfig): void {
  const sd = c.systemd;
  if (sd === undefined) return;
  for (const u of sd.units ?? []) {
    if (u.contents !== undefined) o.writeFiles.push({ path: `/etc/systemd/system/${u.name}`, content: u.contents, permissions: '0644' });
    for (const d of u.dropins ?? []) o.writeFiles.push({ path: `/etc/systemd/system/${u.name}.d/${d.name}`, content: d.contents, permissions: '0644' });
    if (u.masked === true) o.command(['systemctl', 'mask', u.name], 'cloud-init has no systemd units');
    // --now: runcmd runs late in the first boot (cloud-final), when systemd has already
    // queued the boot's jobs; enabling alone would start the unit only at the next boot.
    else if (u.enabled === true) o.command(['systemctl', 'enable', '--now', u.name], 'cloud-init has no systemd units');
    else if (u.enabled === false) o.command(['systemctl', 'disable', u.name], 'cloud-init has no systemd units');
  }
  if (sd.default_target !== undefined) o.command(['systemctl', 'set-default', sd.default_target], 'cloud-init has no default target');
}

function scripts(o: Out, c: FlintConfig): void {
  (c.scripts ?? []).forEach((s, i) => {
    if (s.stage === 'pre') {
      o.losses.lose(['scripts', i], 'cloud-init has no stage before the root is mounted: this pre script is not run', 'make it a post script, or use bootcmd by hand (it runs on every boot)');
      return;
    }
    const data = s.contents !== undefined ? Buffer.from(s.contents, 'utf8') : s.source?.startsWith('file:') === true ? o.opts.read(s.source.slice('file:'.length)) : undefined;
    if (data === undefined) {
      o.losses.lose(['scripts', i, 'source'], 'the script\'s source cannot be carried on a seed', 'give it as contents or as source: file:...');
      return;
    }
    const path = `${SCRIPT_DIR}/${s.name}`;
    o.writeFiles.push({ path, ...(isText(data) ? { content: data.toString('utf8') } : { encoding: 'b64', content: data.toString('base64') }), permissions: '0700' });
    // runcmd runs late in the first boot, with the system up: flint's post scripts run chrooted before it.
    o.command([path], `post script ${s.name}, run on the running system rather than chrooted before the first boot`);
  });
}

function storage(o: Out, c: FlintConfig, ud: Obj): void {
  const s = c.storage;
  if (s === undefined) return;
  if (s.grow_root === true) Object.assign(ud, { growpart: { mode: 'auto', devices: ['/'] }, resize_rootfs: true });
  else if (s.grow_root === false) Object.assign(ud, { growpart: { mode: 'off' }, resize_rootfs: false });
  (s.disks ?? []).forEach((_, i) => o.losses.lose(['storage', 'disks', i], 'partitions are not rendered for cloud-init (its disk_setup module is not available on every image and cannot add to a partition table)', 'partition the image beforehand, or use a flint stick'));
  (s.filesystems ?? []).forEach((_, i) => o.losses.lose(['storage', 'filesystems', i], 'filesystems are not rendered for cloud-init', 'make the filesystem in the image beforehand and add the mount with cloud-init\'s mounts: by hand'));
}

/** The PEM of a CA entry: contents, or a file:/data: source (https ones need the network, which rendering does not use). */
function caPem(o: Out, c: NonNullable<FlintConfig['ca_certificates']>[number]): string | undefined {
  if (c.contents !== undefined) return c.contents;
  if (c.source?.startsWith('file:') === true) return o.opts.read(c.source.slice('file:'.length)).toString('utf8');
  if (c.source?.startsWith('data:') === true) return decodeDataUrl(c.source)?.toString('utf8');
  return undefined;
}

// ---- machine-wide settings ------------------------------------------------------------------

function machine(o: Out, c: FlintConfig, ud: Obj): void {
  if (c.ntp !== undefined) ud.ntp = { enabled: true, ...(c.ntp.servers !== undefined ? { servers: c.ntp.servers } : {}), ...(c.ntp.pools !== undefined ? { pools: c.ntp.pools } : {}) };
  const trusted: string[] = [];
  (c.ca_certificates ?? []).forEach((ca, i) => {
    const pem = caPem(o, ca);
    if (pem === undefined) o.losses.lose(['ca_certificates', i, 'source'], 'cloud-init takes the certificate itself, and this one is downloaded', 'paste the PEM under contents:');
    else trusted.push(pem);
  });
  if (trusted.length > 0) ud.ca_certs = { trusted };
  if ((c.etc_hosts ?? []).length > 0) {
    const lines = (c.etc_hosts ?? []).map((e) => `${e.address}\t${e.names.join(' ')}\n`).join('');
    // An address already in the image's /etc/hosts keeps its old line first: a loss only where the resolver reads that one.
    o.writeFiles.push({ path: '/etc/hosts', content: lines, append: true });
  }
  if (c.swap_file !== undefined) {
    const size = parseSize(c.swap_file.size);
    if ('bytes' in size) ud.swap = { filename: c.swap_file.path ?? DEFAULT_SWAP_FILE, size: Number(size.bytes) };
  }
  const ps = c.power_state;
  if (ps !== undefined) {
    const secs = ps.delay_seconds ?? 0;
    if (secs % 60 !== 0) o.losses.lose(['power_state', 'delay_seconds'], `cloud-init delays in whole minutes: ${secs} s becomes ${Math.ceil(secs / 60)} min`, 'give delay_seconds in multiples of 60');
    ud.power_state = { mode: ps.mode, delay: secs === 0 ? 'now' : Math.ceil(secs / 60), ...(ps.message !== undefined ? { message: ps.message } : {}) };
  }
  const pk = c.packages;
  if (pk !== undefined) {
    if ((pk.install ?? []).length > 0) ud.packages = pk.install;
    if (pk.update !== undefined) ud.package_update = pk.update;
    if (pk.upgrade === true) ud.package_upgrade = true;
    (pk.files ?? []).forEach((_, i) => o.losses.lose(['packages', 'files', i], 'cloud-init installs packages from repositories only, not package files', 'put the file on a repository the machine reaches, or install it from runcmd'));
  }
  const pi = c.raspberry_pi;
  if (pi !== undefined) {
    const interfaces: Obj = {};
    for (const k of ['i2c', 'spi', 'onewire'] as const) if (pi[k] !== undefined) interfaces[k] = pi[k];
    if (pi.serial_console !== undefined || pi.serial_hardware !== undefined) interfaces.serial = { ...(pi.serial_console !== undefined ? { console: pi.serial_console } : {}), ...(pi.serial_hardware !== undefined ? { hardware: pi.serial_hardware } : {}) };
    // cloud-init's rpi module runs on Raspberry Pi OS trixie and later only (docs/machine.md).
    ud.rpi = { interfaces };
  }
}

function unsupported(o: Out, c: FlintConfig): void {
  (c.containers ?? []).forEach((_, i) => o.losses.lose(['containers', i], 'cloud-init has no containers: this workload is not rendered', 'write a Podman Quadlet .container file under files: (/etc/containers/systemd/)'));
  const n = c.network;
  if (n?.in_initrd === true) o.losses.lose(['network', 'in_initrd'], 'cloud-init brings up no network in the initramfs', 'use ip= on the kernel command line');
}

// ---- network-config version 2 ---------------------------------------------------------------

const KIND: Readonly<Record<string, string>> = { ethernet: 'ethernets', wifi: 'wifis', vlan: 'vlans', bond: 'bonds', bridge: 'bridges' };

function network(o: Out, c: FlintConfig): Obj | undefined {
  const n = c.network;
  const conns = n?.connections ?? [];
  if (n === undefined || conns.length === 0) {
    if (n?.wifi_country !== undefined) o.losses.lose(['network', 'wifi_country'], 'without a Wi-Fi connection there is nowhere to put the regulatory domain', 'add the Wi-Fi connection');
    return undefined;
  }
  const out: Obj = { version: 2 };
  if (n.renderer === 'networkmanager') out.renderer = 'NetworkManager';
  else if (n.renderer === 'networkd') out.renderer = 'networkd';
  let country = n.wifi_country;
  conns.forEach((x, i) => {
    const kind = KIND[x.type ?? 'ethernet']!;
    const def = definition(o, x, i);
    if (x.type === 'wifi' && country !== undefined) {
      def['regulatory-domain'] = country;
      country = undefined;
    }
    ((out[kind] ??= {}) as Obj)[x.name] = def;
  });
  if (country !== undefined) o.losses.lose(['network', 'wifi_country'], 'network-config carries the regulatory domain on a Wi-Fi definition, and there is none', 'add the Wi-Fi connection');
  return out;
}

function definition(o: Out, x: Connection, i: number): Obj {
  const at: PathSeg[] = ['network', 'connections', i];
  const def: Obj = {};
  const type = x.type ?? 'ethernet';
  if (type === 'ethernet' || type === 'wifi') {
    if (x.mac !== undefined) def.match = { macaddress: x.mac };
    else if (x.interface !== undefined && x.interface !== x.name) def.match = { name: x.interface };
  }
  if (type === 'wifi' && x.wifi !== undefined) def['access-points'] = { [x.wifi.ssid]: accessPoint(x.wifi) };
  // A VLAN's link is a definition ID: the parent connection's name (its ID here) or an interface name, as written.
  if (type === 'vlan' && x.vlan !== undefined) Object.assign(def, { id: x.vlan.id, link: x.vlan.parent });
  if (type === 'bond' && x.bond !== undefined) Object.assign(def, { interfaces: x.bond.members, ...(x.bond.mode !== undefined ? { parameters: { mode: x.bond.mode } } : {}) });
  if (type === 'bridge' && x.bridge !== undefined) Object.assign(def, { interfaces: x.bridge.members, parameters: { stp: x.bridge.stp === true } });
  Object.assign(def, addressing(o, x, at));
  return def;
}

function accessPoint(w: NonNullable<Connection['wifi']>): Obj {
  const ap: Obj = {};
  if (w.hidden === true) ap.hidden = true;
  const security = w.security ?? 'wpa-psk';
  if (security === 'open' || w.password === undefined) return ap;
  // WPA2: the derived key (64 hex digits), so the passphrase is not on the stick; SAE needs the passphrase.
  if (security === 'sae') ap.auth = { 'key-management': 'sae', password: w.password };
  else ap.password = wpaPsk(w.password, w.ssid);
  return ap;
}

function addressing(o: Out, x: Connection, at: PathSeg[]): Obj {
  const def: Obj = {};
  const v4 = x.ipv4 ?? {};
  const v6 = x.ipv6 ?? {};
  const m4 = v4.method ?? 'dhcp';
  const m6 = v6.method ?? 'auto';
  if (m4 === 'dhcp') def.dhcp4 = true;
  if (m6 === 'auto' || m6 === 'dhcp') def.dhcp6 = true;
  if (m6 === 'dhcp') o.losses.lose([...at, 'ipv6', 'method'], 'network-config has no DHCPv6-only setting: dhcp6 also takes router advertisements', 'accept SLAAC addresses, or set accept-ra: false by hand');
  if (m6 === 'link-local' || m6 === 'disabled') o.losses.lose([...at, 'ipv6', 'method'], `ipv6.method ${m6} is not expressed: the interface may still configure IPv6 from router advertisements`, 'add accept-ra: false (and link-local: [] for disabled) by hand');
  const addresses = [...(m4 === 'static' ? (v4.addresses ?? []) : []), ...(m6 === 'static' ? (v6.addresses ?? []) : [])];
  if (addresses.length > 0) def.addresses = addresses;
  if (m4 === 'static' && v4.gateway !== undefined) def.gateway4 = v4.gateway;
  if (m6 === 'static' && v6.gateway !== undefined) def.gateway6 = v6.gateway;
  const routes = [...(v4.routes ?? []), ...(v6.routes ?? [])].map((r) => ({ to: r.to, ...(r.via !== undefined ? { via: r.via } : {}), ...(r.metric !== undefined ? { metric: r.metric } : {}) }));
  if (routes.length > 0) def.routes = routes;
  const dns = [...(v4.dns ?? []), ...(v6.dns ?? [])];
  const search = x.dns_search ?? [];
  if (dns.length + search.length > 0) def.nameservers = { ...(dns.length > 0 ? { addresses: dns } : {}), ...(search.length > 0 ? { search } : {}) };
  if (x.mtu !== undefined) def.mtu = x.mtu;
  return def;
}
