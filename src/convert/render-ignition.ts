/**
 * A validated, resolved flint config as an Ignition config (spec 3.3.0 unless a setting
 * needs a newer one). What Ignition has no key for but flint writes as plain files
 * (host name, time zone, locale, keymap, sudo rules, the sshd drop-in, NetworkManager
 * keyfiles) becomes those very files, made by flint's own renderers so they are byte
 * for byte what `flint apply` writes. Everything else that cannot be said is a loss.
 * Pure: payload files come through `read`.
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { PathSeg } from '../config/diagnostics.js';
import type { FlintConfig } from '../config/validate.js';
import type { File as FileEntry, Filesystem, Partition, User } from '../config/generated/model.js';
import { renderNmKeyfiles } from '../steps/network/nm.js';
import { sshdDropin, SSHD_DROPIN_MODE, SSHD_DROPIN_PATH } from '../steps/ssh/sshd.js';
import { sudoersDropin, SUDOERS_DROPIN_MODE } from '../steps/users/sudo.js';
import { escapeUnitPath } from '../steps/systemd/unit-file.js';
import { parseSize } from '../config/checks/names.js';
import { DEFAULT_SWAP_FILE, SWAP_FILE_SERVICE, swapFileUnits, swapUnitName } from '../steps/swap-file/step.js';
import { POWER_STATE_SERVICE, powerStateUnit } from '../steps/power-state/step.js';
import { decodeDataUrl } from '../system/fetch.js';
import { compareVersions } from './ignition-spec.js';
import type { SpecVersion } from './ignition-spec.js';
import { LossList } from './render-loss.js';
import type { RenderLoss } from './render-loss.js';

type Obj = Record<string, unknown>;

export interface IgnitionRenderOptions {
  /** Pin the spec version; settings that need a newer one become losses. */
  version?: SpecVersion;
  /** The bytes of a `file:` payload, relative to the config's folder. */
  read: (rel: string) => Buffer;
}

export interface IgnitionRendering {
  config: Obj;
  version: SpecVersion;
  losses: RenderLoss[];
}

const BASE_VERSION: SpecVersion = '3.3.0';

/** Aliases of flint's partition types as GPT type GUIDs (lower case, as the reader gives them back). */
export const GPT_TYPES: Readonly<Record<string, string>> = {
  linux: '0fc63daf-8483-4772-8e79-3d69d8477de4',
  swap: '0657fd6d-a4ab-43c4-84e5-0933c84b4f4f',
  esp: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b',
  home: '933ac7e1-2eb4-4f13-b844-0e14e2aef915',
  var: '4d21b016-b534-45c2-a9fb-5c16e091fd2d',
};

class Out {
  readonly losses = new LossList();
  readonly files: Obj[] = [];
  readonly directories: Obj[] = [];
  readonly links: Obj[] = [];
  /** Units made for other settings (mounts, swap), after the config's own. */
  readonly units: Obj[] = [];
  /** The newest spec version a setting asked for. */
  needed: SpecVersion = BASE_VERSION;
  constructor(readonly opts: IgnitionRenderOptions) {}

  /** Whether the pinned version (if any) allows a setting that needs V; if not, it is lost. */
  allows(v: SpecVersion, path: PathSeg[], what: string): boolean {
    if (this.opts.version !== undefined && compareVersions(this.opts.version, v) < 0) {
      this.losses.lose(path, `${what} needs Ignition spec ${v}; the config is pinned to ${this.opts.version}`, `drop --ignition-version, or pin ${v} or newer`);
      return false;
    }
    if (compareVersions(v, this.needed) > 0) this.needed = v;
    return true;
  }
}

export function renderIgnition(config: FlintConfig, opts: IgnitionRenderOptions): IgnitionRendering {
  const o = new Out(opts);
  const out: Obj = {};
  const passwd = renderPasswd(o, config);
  if (passwd !== undefined) out.passwd = passwd;
  systemFiles(o, config);
  sshFiles(o, config);
  networkFiles(o, config);
  machineFiles(o, config);
  (config.files ?? []).forEach((f, i) => renderFile(o, f, i));
  (config.directories ?? []).forEach((d, i) => o.directories.push({ path: d.path, ...modeOf(o, d.mode, ['directories', i, 'mode']), ...owners(d) }));
  (config.links ?? []).forEach((l) => o.links.push(renderLink(l)));
  // Storage first (it adds mount units), systemd next (it adds the default.target link).
  const storage = renderStorage(o, config);
  const systemd = renderSystemd(o, config);
  if (o.files.length > 0) storage.files = o.files;
  if (o.directories.length > 0) storage.directories = o.directories;
  if (o.links.length > 0) storage.links = o.links;
  if (Object.keys(storage).length > 0) out.storage = storage;
  if (systemd !== undefined) out.systemd = systemd;
  const kargs = renderKernelArguments(o, config);
  if (kargs !== undefined) out.kernelArguments = kargs;
  unsupported(o, config);
  const version = opts.version ?? o.needed;
  return { config: { ignition: { version }, ...out }, version, losses: o.losses.items };
}

// ---- passwd -------------------------------------------------------------------------------

function renderPasswd(o: Out, c: FlintConfig): Obj | undefined {
  const groups = (c.groups ?? []).map((g) => ({ name: g.name, ...(g.gid !== undefined ? { gid: g.gid } : {}), ...(g.system === true ? { system: true } : {}) }));
  const users = (c.users ?? []).map((u, i) => renderUser(o, u, i));
  const out: Obj = {};
  if (users.length > 0) out.users = users;
  if (groups.length > 0) out.groups = groups;
  return Object.keys(out).length > 0 ? out : undefined;
}

function renderUser(o: Out, u: User, i: number): Obj {
  const out: Obj = { name: u.name };
  if (u.uid !== undefined) out.uid = u.uid;
  if (u.gecos !== undefined) out.gecos = u.gecos;
  if (u.home !== undefined) out.homeDir = u.home;
  // flint gives a system user a home only when one is named; Ignition's useradd makes one unless told not to.
  else if (u.system === true) out.noCreateHome = true;
  if (u.primary_group !== undefined) {
    if (typeof u.primary_group === 'string') out.primaryGroup = u.primary_group;
    else o.losses.lose(['users', i, 'primary_group'], 'Ignition names a primary group only by name, not by number', 'name the group');
  }
  if (u.groups !== undefined && u.groups.length > 0) out.groups = u.groups;
  if (u.shell !== undefined) out.shell = u.shell;
  if (u.system === true) out.system = true;
  // The driver hashes plain passwords before rendering; a password left here would be a bug.
  if (u.password !== undefined) throw new Error(`users[${i}].password was not hashed before rendering`);
  if (u.password_hash !== undefined) out.passwordHash = u.password_hash;
  if (u.ssh_authorized_keys !== undefined && u.ssh_authorized_keys.length > 0) out.sshAuthorizedKeys = u.ssh_authorized_keys;
  const sudo = sudoersDropin(u.name, u.sudo);
  if (sudo !== undefined) o.files.push(textFile(sudo.path, sudo.text, SUDOERS_DROPIN_MODE));
  return out;
}

// ---- plain files for what Ignition has no key for ------------------------------------------

function textFile(path: string, text: string, mode: number): Obj {
  return { path, overwrite: true, contents: { source: dataUrl(Buffer.from(text, 'utf8')) }, mode };
}

function systemFiles(o: Out, c: FlintConfig): void {
  if (c.hostname !== undefined) o.files.push(textFile('/etc/hostname', `${c.hostname}\n`, 0o644));
  if (c.timezone !== undefined) o.links.push({ path: '/etc/localtime', target: `../usr/share/zoneinfo/${c.timezone}`, overwrite: true });
  if (c.locale !== undefined) o.files.push(textFile('/etc/locale.conf', `LANG=${c.locale}\n`, 0o644));
  if (c.keymap !== undefined) o.files.push(textFile('/etc/vconsole.conf', `KEYMAP=${c.keymap}\n`, 0o644));
}

function sshFiles(o: Out, c: FlintConfig): void {
  const ssh = c.ssh;
  if (ssh === undefined) return;
  const text = sshdDropin(ssh);
  if (text !== undefined) o.files.push(textFile(SSHD_DROPIN_PATH, text, SSHD_DROPIN_MODE));
  if (ssh.host_keys === 'generate') o.losses.lose(['ssh', 'host_keys'], 'host keys are not made before first boot: the image\'s sshd makes its own, and no fingerprint is known in advance', 'read the fingerprints from the console at first boot, or use a flint stick');
}

function networkFiles(o: Out, c: FlintConfig): void {
  const n = c.network;
  if (n === undefined) return;
  if (n.renderer === 'networkd') o.losses.lose(['network', 'renderer'], 'the network is written as NetworkManager keyfiles (what Fedora CoreOS and Flatcar\'s Ignition images run), not as systemd-networkd files', 'write .network files under files: for a networkd image');
  if (n.wifi_country !== undefined) o.losses.lose(['network', 'wifi_country'], 'the Wi-Fi regulatory domain is not set', `add cfg80211.ieee80211_regdom=${n.wifi_country} to kernel_arguments.add`);
  if (n.in_initrd === true) o.losses.lose(['network', 'in_initrd'], 'Ignition brings the network up in the initramfs by itself when it fetches; flint\'s in_initrd has no Ignition key', 'use ip= on the kernel command line');
  for (const k of renderNmKeyfiles(n.connections ?? [])) o.files.push(textFile(k.path, k.text, 0o600));
}

// ---- files, directories, links --------------------------------------------------------------

function dataUrl(data: Buffer): string {
  return `data:;base64,${data.toString('base64')}`;
}

function owners(n: { owner?: string | number; group?: string | number }): Obj {
  const one = (v: string | number) => (typeof v === 'number' ? { id: v } : { name: v });
  return { ...(n.owner !== undefined ? { user: one(n.owner) } : {}), ...(n.group !== undefined ? { group: one(n.group) } : {}) };
}

/** Validated modes are numbers. Before 3.6.0 Ignition drops setuid, setgid and sticky. */
function modeOf(o: Out, mode: unknown, path: PathSeg[]): Obj {
  if (typeof mode !== 'number') return {};
  if ((mode & 0o7000) !== 0 && !o.allows('3.6.0', path, 'a setuid, setgid or sticky bit')) return { mode: mode & 0o777 };
  return { mode };
}

/** Inline bytes: gzip only where it makes the config noticeably smaller. */
function inline(o: Out, data: Buffer): Obj {
  if (data.length >= 4096 && compareVersions(o.opts.version ?? '3.1.0', '3.1.0') >= 0) {
    const packed = gzipSync(data, { level: 9 });
    if (packed.length < data.length * 0.7) return { source: dataUrl(packed), compression: 'gzip', verification: { hash: `sha512-${createHash('sha512').update(data).digest('hex')}` } };
  }
  return { source: dataUrl(data) };
}

function fileBytes(o: Out, f: FileEntry): Buffer | undefined {
  if (f.contents !== undefined) return Buffer.from(f.contents, 'utf8');
  if (f.contents_base64 !== undefined) return Buffer.from(f.contents_base64, 'base64');
  const src = f.source;
  if (src === undefined) return undefined;
  if (src.startsWith('file:')) return o.opts.read(src.slice('file:'.length));
  if (src.startsWith('data:')) return decodeDataUrl(src);
  return undefined;
}

function renderFile(o: Out, f: FileEntry, i: number): void {
  const at: PathSeg[] = ['files', i];
  const out: Obj = { path: f.path };
  const remote = f.source !== undefined && /^https:/i.test(f.source);
  let resource: Obj | undefined;
  if (remote) {
    // Ignition checks the hash of what it downloads after unpacking, as flint's verify does.
    resource = { source: f.source, ...(f.compression === 'gzip' ? { compression: 'gzip' } : {}), ...(f.verify !== undefined ? { verification: { hash: f.verify } } : {}) };
  } else {
    let data = fileBytes(o, f);
    if (data !== undefined && f.compression === 'gzip') data = gunzip(data);
    if (data !== undefined) resource = inline(o, data);
  }
  if (f.append === true) {
    if (resource !== undefined) out.append = [resource];
  } else if (resource !== undefined) out.contents = resource;
  // flint's default is overwrite: true, Ignition's false: always say which.
  if (resource !== undefined && f.append !== true) out.overwrite = f.overwrite !== false;
  Object.assign(out, modeOf(o, f.mode, [...at, 'mode']), owners(f));
  if (f.mode === undefined) out.mode = 0o644;
  o.files.push(out);
}

function gunzip(data: Buffer): Buffer {
  // Validation checked the data against verify already; a payload that is not gzip stays as given.
  try {
    return gunzipSync(data);
  } catch {
    return data;
  }
}

function renderLink(l: { path: string; target: string; hard?: boolean; owner?: string | number; group?: string | number }): Obj {
  // Ignition fails on an existing link unless overwrite is true; flint replaces it.
  if (l.hard === true) return { path: l.path, target: l.target, hard: true, overwrite: true };
  return { path: l.path, target: l.target, overwrite: true, ...owners(l) };
}

// ---- storage --------------------------------------------------------------------------------

const UNITS: Readonly<Record<string, number>> = { KiB: 1 / 1024, MiB: 1, GiB: 1024, TiB: 1024 * 1024 };

/** A flint size in whole MiB (0: the rest of the disk), or undefined when it is not a whole number of MiB. */
export function sizeMiB(size: string | undefined): number | undefined {
  if (size === undefined || size === '100%') return 0;
  const m = /^([0-9]+(?:\.[0-9]+)?)(KiB|MiB|GiB|TiB)$/.exec(size);
  if (m === null) return undefined;
  const mib = Number(m[1]) * UNITS[m[2]!]!;
  return Number.isInteger(mib) ? mib : undefined;
}

function renderStorage(o: Out, c: FlintConfig): Obj {
  const s = c.storage;
  const out: Obj = {};
  if (s === undefined) return out;
  if (s.grow_root === true) o.losses.lose(['storage', 'grow_root'], 'Ignition does not grow the root partition', 'Fedora CoreOS and Flatcar grow their root on first boot by themselves; elsewhere use growpart in a unit');
  const disks: Obj[] = [];
  (s.disks ?? []).forEach((d, i) => {
    if (d.device === 'root') {
      o.losses.lose(['storage', 'disks', i], 'Ignition cannot name "the disk holding the root filesystem": this disk and its partitions are not rendered', 'name the disk by path (/dev/disk/by-id/...); on Fedora CoreOS /dev/disk/by-id/coreos-boot-disk');
      return;
    }
    const parts = (d.partitions ?? []).flatMap((p, j) => renderPartition(o, p, ['storage', 'disks', i, 'partitions', j]));
    disks.push({ device: d.device, ...(d.wipe_table === true ? { wipeTable: true } : {}), ...(parts.length > 0 ? { partitions: parts } : {}) });
  });
  const filesystems = (s.filesystems ?? []).map((f, i) => renderFilesystem(o, f, i));
  if (disks.length > 0) out.disks = disks;
  if (filesystems.length > 0) out.filesystems = filesystems;
  return out;
}

function renderPartition(o: Out, p: Partition, at: PathSeg[]): Obj[] {
  const out: Obj = { label: p.label };
  const mib = sizeMiB(p.size);
  if (mib === undefined) o.losses.lose([...at, 'size'], `Ignition sizes partitions in whole MiB: ${String(p.size)} is rendered as the rest of the disk`, 'give the size in whole MiB');
  else if (mib > 0) out.sizeMiB = mib;
  if (p.type !== undefined) out.typeGuid = GPT_TYPES[p.type] ?? p.type.toLowerCase();
  if (p.replace === true) out.wipePartitionEntry = true;
  return [out];
}

function renderFilesystem(o: Out, f: Filesystem, i: number): Obj {
  const at: PathSeg[] = ['storage', 'filesystems', i];
  const device = f.device ?? `/dev/disk/by-partlabel/${String(f.partlabel)}`;
  const out: Obj = { device, format: f.format };
  if (f.label !== undefined) out.label = f.label;
  if (f.wipe === true) out.wipeFilesystem = true;
  // path makes Ignition mount it while it runs (files under it land in it); the unit keeps it mounted after, as flint's fstab entry does.
  if (f.mount !== undefined && f.format !== 'swap') {
    out.path = f.mount;
    o.units.push(mountUnit(f.mount, device, f.format, f.mount_options ?? []));
  }
  if (f.mount_options !== undefined && f.mount_options.length > 0) out.mountOptions = f.mount_options;
  if (f.format === 'swap') o.units.push(swapUnit(device));
  if (f.copy_existing === true) o.losses.lose([...at, 'copy_existing'], 'Ignition does not copy what the root holds at the mount point into the new filesystem', 'copy it with a oneshot unit before the mount');
  return out;
}

/** What Butane's with_mount_unit writes: a mount unit local-fs.target requires. */
export function mountUnit(where: string, what: string, type: string, options: readonly string[]): Obj {
  const lines = ['[Unit]', `Description=${where}, from the flint config`, 'Before=local-fs.target', '', '[Mount]', `What=${what}`, `Where=${where}`, `Type=${type}`];
  if (options.length > 0) lines.push(`Options=${options.join(',')}`);
  lines.push('', '[Install]', 'RequiredBy=local-fs.target', '');
  return { name: `${escapeUnitPath(where)}.mount`, enabled: true, contents: lines.join('\n') };
}

export function swapUnit(what: string): Obj {
  const contents = ['[Unit]', 'Description=swap space from the flint config', '', '[Swap]', `What=${what}`, '', '[Install]', 'RequiredBy=swap.target', ''].join('\n');
  return { name: `${escapeUnitPath(what)}.swap`, enabled: true, contents };
}

// ---- systemd, kernel arguments --------------------------------------------------------------

function renderSystemd(o: Out, c: FlintConfig): Obj | undefined {
  const sd = c.systemd ?? {};
  if (sd.default_target !== undefined) o.links.push({ path: '/etc/systemd/system/default.target', target: `/usr/lib/systemd/system/${sd.default_target}`, overwrite: true });
  const units = (sd.units ?? []).map((u) => {
    const out: Obj = { name: u.name };
    if (u.contents !== undefined) out.contents = u.contents;
    if (u.enabled !== undefined) out.enabled = u.enabled;
    if (u.masked !== undefined) out.mask = u.masked;
    if (u.dropins !== undefined && u.dropins.length > 0) out.dropins = u.dropins.map((d) => ({ name: d.name, contents: d.contents }));
    return out;
  });
  units.push(...o.units);
  return units.length > 0 ? { units } : undefined;
}

function renderKernelArguments(o: Out, c: FlintConfig): Obj | undefined {
  const k = c.kernel_arguments;
  if (k === undefined || (k.add ?? []).length + (k.remove ?? []).length === 0) return undefined;
  if (!o.allows('3.3.0', ['kernel_arguments'], 'kernelArguments')) return undefined;
  return { ...((k.add ?? []).length > 0 ? { shouldExist: k.add } : {}), ...((k.remove ?? []).length > 0 ? { shouldNotExist: k.remove } : {}) };
}

/**
 * Machine-wide settings: /etc/hosts lines appended, CA certificates where Fedora CoreOS
 * takes local ones (its coreos-update-ca-trust.service runs update-ca-trust at boot),
 * and for swap_file and power_state the very units flint writes.
 */
function machineFiles(o: Out, c: FlintConfig): void {
  if ((c.etc_hosts ?? []).length > 0) {
    const lines = (c.etc_hosts ?? []).map((e) => `${e.address}\t${e.names.join(' ')}\n`).join('');
    o.files.push({ path: '/etc/hosts', append: [{ source: dataUrl(Buffer.from(lines)) }] });
  }
  (c.ca_certificates ?? []).forEach((ca, i) => {
    const pem = ca.contents !== undefined ? Buffer.from(ca.contents) : ca.source?.startsWith('file:') === true ? o.opts.read(ca.source.slice('file:'.length)) : ca.source?.startsWith('data:') === true ? decodeDataUrl(ca.source) : undefined;
    if (pem === undefined) o.losses.lose(['ca_certificates', i, 'source'], 'the certificate is downloaded, and rendering fetches nothing', 'paste the PEM under contents:');
    else o.files.push({ path: `/etc/pki/ca-trust/source/anchors/${ca.name}.pem`, overwrite: true, contents: { source: dataUrl(pem) }, mode: 0o644 });
  });
  if (c.ntp !== undefined) o.losses.lose(['ntp'], 'Ignition has no NTP setting, and the chrony.conf of Fedora CoreOS or Flatcar\'s timesyncd differ', 'write /etc/chrony.conf (Fedora CoreOS) or a timesyncd.conf.d drop-in (Flatcar) under files:');
  if (c.swap_file !== undefined) {
    const size = parseSize(c.swap_file.size);
    const path = c.swap_file.path ?? DEFAULT_SWAP_FILE;
    if ('bytes' in size) {
      const units = swapFileUnits(path, size.bytes);
      o.units.push({ name: SWAP_FILE_SERVICE, contents: units.service }, { name: swapUnitName(path), enabled: true, contents: units.swap });
    }
  }
  if (c.power_state !== undefined) o.units.push({ name: POWER_STATE_SERVICE, enabled: true, contents: powerStateUnit(c.power_state) });
  if (c.packages !== undefined) o.losses.lose(['packages'], 'Ignition installs no packages (Fedora CoreOS layers them with rpm-ostree, Flatcar has none)', 'layer them with a oneshot unit that runs rpm-ostree install --apply-live, or build them into the image');
  if (c.raspberry_pi !== undefined) o.losses.lose(['raspberry_pi'], 'Ignition does not edit the Raspberry Pi\'s config.txt', 'write config.txt on the boot partition yourself, or use a flint stick');
}

function unsupported(o: Out, c: FlintConfig): void {
  (c.containers ?? []).forEach((_, i) => o.losses.lose(['containers', i], 'Ignition has no containers: this workload is not rendered', 'write a Podman Quadlet .container file under files: (/etc/containers/systemd/)'));
  (c.scripts ?? []).forEach((_, i) => o.losses.lose(['scripts', i], 'Ignition runs no scripts', 'write the script under files: and run it from a oneshot unit with ConditionFirstBoot=yes'));
}
