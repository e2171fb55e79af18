/**
 * Translation of a valid Ignition config (spec 3.0.0 to 3.6.0, merged) into a native flint
 * v1 config, with Ignition's semantics where the two differ: overwrite defaults to false,
 * modes are decimal and default to 0644/0755, special mode bits are dropped before 3.6.0,
 * append adds to a file, data: contents are decoded (and unpacked and verified) here, SSH
 * keys go where the target's sshd reads them. Whatever flint cannot honour becomes a
 * finding naming the key, never a silent drop. Pure: no file system, no network.
 */
import { gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import type { PathSeg } from '../config/diagnostics.js';
import { decodeDataUrl } from '../system/fetch.js';
import { compareVersions } from './ignition-spec.js';
import type { SpecVersion } from './ignition-spec.js';
import { isObj, schemeOf, show } from './ignition-validate.js';
import type { IgnFinding, Obj } from './ignition-validate.js';

export interface Translation {
  config: Obj;
  findings: IgnFinding[];
  /** Deliberate differences from what Ignition would do with this config, one line each. */
  deviations: string[];
  /** The Ignition path each object and list of `config` was made from. */
  tags: Map<object, PathSeg[]>;
}

/** Flint keys and the Ignition keys of the same setting, to follow a flint path below a tagged object into the Ignition config. */
export const IGNITION_RENAMES: Readonly<Record<string, readonly string[]>> = {
  home: ['homeDir'],
  password_hash: ['passwordHash'],
  ssh_authorized_keys: ['sshAuthorizedKeys'],
  primary_group: ['primaryGroup'],
  state: ['shouldExist'],
  owner: ['user/name', 'user/id'],
  group: ['group/name', 'group/id'],
  wipe_table: ['wipeTable'],
  size: ['sizeMiB'],
  type: ['typeGuid'],
  replace: ['wipePartitionEntry'],
  wipe: ['wipeFilesystem'],
  mount: ['path'],
  mount_options: ['mountOptions'],
  masked: ['mask'],
  contents: ['contents/source', 'append'],
  contents_base64: ['contents/source', 'append'],
  compression: ['contents/compression'],
  source: ['contents/source'],
  verify: ['contents/verification/hash', 'contents'],
};

class Translator {
  readonly findings: IgnFinding[] = [];
  readonly deviations = new Set<string>();
  readonly tags = new Map<object, PathSeg[]>();

  /** Record that V was made from the Ignition value at AT. */
  from<T extends object>(v: T, at: PathSeg[]): T {
    this.tags.set(v, at);
    return v;
  }

  error(path: PathSeg[], message: string, hint?: string): void {
    this.findings.push({ severity: 'error', code: 'ignition-unsupported', message, path, ...(hint !== undefined ? { hint } : {}) });
  }
  warn(path: PathSeg[], message: string, hint?: string): void {
    this.findings.push({ severity: 'warning', code: 'ignition-deviation', message, path, ...(hint !== undefined ? { hint } : {}) });
  }
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function objs(v: unknown): Array<[Obj, number]> {
  return list(v).flatMap((x, i): Array<[Obj, number]> => (isObj(x) ? [[x, i]] : []));
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

export function translateIgnition(cfg: Obj): Translation {
  const t = new Translator();
  const out: Obj = t.from({ version: 1 }, []);
  ignitionSection(t, cfg);
  const passwd = isObj(cfg.passwd) ? cfg.passwd : {};
  const groups = objs(passwd.groups).flatMap(([g, i]) => group(t, g, i));
  const users = objs(passwd.users).flatMap(([u, i]) => user(t, u, i));
  if (groups.length > 0) out.groups = t.from(groups, ['passwd', 'groups']);
  if (users.length > 0) out.users = t.from(users, ['passwd', 'users']);
  const storage = isObj(cfg.storage) ? cfg.storage : {};
  const s = storageSection(t, storage);
  if (s !== undefined) out.storage = t.from(s, ['storage']);
  const files = objs(storage.files).flatMap(([f, i]) => file(t, f, i));
  const dirs = objs(storage.directories).map(([d, i]) => directory(t, d, i));
  const links = objs(storage.links).map(([l, i]) => link(t, l, i));
  if (files.length > 0) out.files = t.from(files, ['storage', 'files']);
  if (dirs.length > 0) out.directories = t.from(dirs, ['storage', 'directories']);
  if (links.length > 0) out.links = t.from(links, ['storage', 'links']);
  const units = objs(isObj(cfg.systemd) ? cfg.systemd.units : undefined).map(([u, i]) => unit(t, u, i));
  if (units.length > 0) out.systemd = t.from({ units: t.from(units, ['systemd', 'units']) }, ['systemd']);
  const kargs = isObj(cfg.kernelArguments) ? cfg.kernelArguments : undefined;
  if (kargs !== undefined) {
    const add = list(kargs.shouldExist);
    const remove = list(kargs.shouldNotExist);
    if (add.length + remove.length > 0) out.kernel_arguments = t.from({ ...(add.length > 0 ? { add: t.from([...add], ['kernelArguments', 'shouldExist']) } : {}), ...(remove.length > 0 ? { remove: t.from([...remove], ['kernelArguments', 'shouldNotExist']) } : {}) }, ['kernelArguments']);
  }
  return { config: out, findings: t.findings, deviations: [...t.deviations], tags: t.tags };
}

// ---- ignition: ---------------------------------------------------------------------------

function ignitionSection(t: Translator, cfg: Obj): void {
  const ign = isObj(cfg.ignition) ? cfg.ignition : {};
  const base = ['ignition'];
  if (isObj(ign.timeouts) && Object.keys(ign.timeouts).length > 0) t.warn([...base, 'timeouts'], 'ignition.timeouts is not used: flint bounds every download itself (30 s without data, 4 attempts)');
  if (isObj(ign.proxy) && Object.keys(ign.proxy).length > 0) t.warn([...base, 'proxy'], 'ignition.proxy is not supported: flint fetches https sources directly', 'make the sources reachable without a proxy, or inline them as data: URLs');
  if (list(isObj(ign.security) && isObj(ign.security.tls) ? ign.security.tls.certificateAuthorities : undefined).length > 0) {
    t.warn([...base, 'security', 'tls', 'certificateAuthorities'], 'ignition.security.tls.certificateAuthorities is not read from the config: flint trusts the system CAs plus the one given to it', 'pass the CA to flint (flint run/apply --ca FILE) instead');
  }
}

// ---- passwd: -----------------------------------------------------------------------------

/**
 * shouldExist: false is `state: absent`: userdel --remove / groupdel when it exists. Ignition
 * looks at nothing else in such an entry, so other fields are dropped with a warning.
 */
function absent(t: Translator, e: Obj, at: (string | number)[], kind: 'user' | 'group'): Obj {
  const ignored = Object.keys(e).filter((k) => k !== 'name' && k !== 'shouldExist');
  if (ignored.length > 0) t.warn(at, `${kind} ${String(e.name)} is deleted (shouldExist: false), so ${ignored.join(', ')} ${ignored.length === 1 ? 'is' : 'are'} ignored`, 'remove them, or remove shouldExist: false to keep the ' + kind);
  return t.from({ name: e.name, state: 'absent' }, at);
}

function group(t: Translator, g: Obj, i: number): Obj[] {
  const at = ['passwd', 'groups', i];
  if (g.shouldExist === false) return [absent(t, g, at, 'group')];
  const out: Obj = t.from({ name: g.name }, at);
  if (typeof g.gid === 'number') out.gid = g.gid;
  if (g.system === true) out.system = true;
  if (typeof g.passwordHash === 'string' && g.passwordHash !== '') t.warn([...at, 'passwordHash'], 'a group password (passwordHash) is not supported by flint and is not written', 'group passwords are rarely wanted; use sudo or group membership');
  return [out];
}

function user(t: Translator, u: Obj, i: number): Obj[] {
  const at = ['passwd', 'users', i];
  const name = String(u.name);
  if (u.shouldExist === false) return [absent(t, u, at, 'user')];
  const out: Obj = t.from({ name }, at);
  if (typeof u.uid === 'number') out.uid = u.uid;
  if (typeof u.gecos === 'string') out.gecos = u.gecos;
  if (typeof u.shell === 'string') out.shell = u.shell;
  if (typeof u.primaryGroup === 'string') out.primary_group = u.primaryGroup;
  if (list(u.groups).length > 0) out.groups = list(u.groups);
  if (u.system === true) out.system = true;
  if (typeof u.homeDir === 'string') out.home = u.homeDir;
  else if (u.system === true && u.noCreateHome !== true) {
    // Ignition passes --create-home to useradd for system users too; flint makes a home
    // for a system user only when one is named.
    out.home = `/home/${name}`;
  }
  if (u.noCreateHome === true && u.system !== true) {
    t.warn([...at, 'noCreateHome'], `noCreateHome is not supported for a normal user: flint creates ${name}'s home`, 'make the user a system user (system: true) to have no home created');
  }
  if (u.noUserGroup === true && typeof u.primaryGroup !== 'string') {
    t.warn([...at, 'noUserGroup'], `noUserGroup is not supported: flint gives ${name} a personal group`, 'set primaryGroup to an existing group instead');
  }
  if (typeof u.passwordHash === 'string') {
    // Ignition turns an empty hash into "*" (login disabled); flint refuses an empty hash.
    out.password_hash = u.passwordHash === '' ? '*' : u.passwordHash;
  }
  const keys = list(u.sshAuthorizedKeys);
  if (keys.length > 0) {
    out.ssh_authorized_keys = keys;
    t.deviations.add('SSH keys are written to ~/.ssh/authorized_keys (which the target\'s sshd reads), not to ~/.ssh/authorized_keys.d/ignition (which stock sshd does not read); existing keys there are kept');
  }
  if (list(u.groups).length > 0) t.deviations.add('supplementary groups of an existing user are added to, not replaced (usermod -a -G, not usermod -G)');
  return [out];
}

// ---- storage: disks and filesystems -------------------------------------------------------

function storageSection(t: Translator, storage: Obj): Obj | undefined {
  if (list(storage.raid).length > 0) t.error(['storage', 'raid'], 'storage.raid (software RAID) is not supported by flint', 'create the array on the image beforehand, or remove storage.raid');
  if (list(storage.luks).length > 0) t.error(['storage', 'luks'], 'storage.luks (encrypted volumes) is not supported by flint', 'remove storage.luks, or use Ignition for this machine');
  const disks = objs(storage.disks).map(([d, i]) => disk(t, d, i));
  const filesystems = objs(storage.filesystems).flatMap(([f, i]) => filesystem(t, f, i));
  if (disks.length === 0 && filesystems.length === 0) return undefined;
  return { ...(disks.length > 0 ? { disks: t.from(disks, ['storage', 'disks']) } : {}), ...(filesystems.length > 0 ? { filesystems: t.from(filesystems, ['storage', 'filesystems']) } : {}) };
}

function disk(t: Translator, d: Obj, i: number): Obj {
  const at = ['storage', 'disks', i];
  const out: Obj = t.from({ device: d.device }, at);
  if (d.wipeTable === true) out.wipe_table = true;
  const parts = objs(d.partitions).flatMap(([p, j]) => partition(t, p, [...at, 'partitions', j]));
  if (parts.length > 0) out.partitions = t.from(parts, [...at, 'partitions']);
  return out;
}

function partition(t: Translator, p: Obj, at: PathSeg[]): Obj[] {
  if (p.shouldExist === false) {
    t.error([...at, 'shouldExist'], 'deleting a partition (shouldExist: false) is not supported by flint', 'remove the entry; flint only adds partitions');
    return [];
  }
  if (typeof p.label !== 'string' || p.label === '') {
    t.error(at, 'flint matches partitions by label: this partition has none', 'add a label (the GPT partition name)');
    return [];
  }
  const out: Obj = t.from({ label: p.label }, at);
  if (typeof p.sizeMiB === 'number' && p.sizeMiB > 0) out.size = `${p.sizeMiB}MiB`;
  if (typeof p.typeGuid === 'string' && p.typeGuid !== '') out.type = p.typeGuid.toLowerCase();
  if (p.wipePartitionEntry === true) out.replace = true;
  if (typeof p.number === 'number' && p.number !== 0) t.warn([...at, 'number'], `partition number ${p.number} is not used: flint places partitions in list order after the existing ones and finds them by label`);
  if (typeof p.startMiB === 'number' && p.startMiB !== 0) t.warn([...at, 'startMiB'], 'startMiB is not supported: flint starts a partition at the first free aligned space');
  if (typeof p.guid === 'string' && p.guid !== '') t.warn([...at, 'guid'], 'a fixed partition GUID is not supported: the partition gets a random one');
  if (p.resize === true) t.warn([...at, 'resize'], 'resize is not supported for a named partition: a partition with another size is an error unless wipePartitionEntry is true', 'use storage.grow_root in a flint config to grow the root partition');
  return [out];
}

const FLINT_FORMATS = new Set(['ext4', 'btrfs', 'xfs', 'vfat', 'swap']);

function filesystem(t: Translator, f: Obj, i: number): Obj[] {
  const at = ['storage', 'filesystems', i];
  if (f.format === 'none' || f.format === undefined || f.format === '') {
    t.warn([...at, 'format'], `filesystem on ${String(f.device)} has format ${f.format === 'none' ? 'none' : '(none)'}: nothing to create, the entry is skipped`);
    return [];
  }
  if (typeof f.format !== 'string' || !FLINT_FORMATS.has(f.format)) return [];
  const out: Obj = t.from({ device: f.device, format: f.format }, at);
  if (typeof f.label === 'string' && f.label !== '') out.label = f.label;
  if (f.wipeFilesystem === true) out.wipe = true;
  if (typeof f.path === 'string' && f.format === 'swap') t.warn([...at, 'path'], 'path is not used for swap: flint adds the swap space to /etc/fstab');
  if (typeof f.path === 'string' && f.format !== 'swap') {
    out.mount = f.path;
    t.warn([...at, 'path'], `${f.path} becomes a permanent mount (an /etc/fstab entry); Ignition mounts it only while it runs`, 'this is what Butane\'s with_mount_unit does; remove path to leave it unmounted');
  }
  if (list(f.mountOptions).length > 0) out.mount_options = list(f.mountOptions);
  if (typeof f.uuid === 'string' && f.uuid !== '') t.warn([...at, 'uuid'], 'a fixed filesystem UUID is not supported: mkfs chooses one, and an existing filesystem is reused whatever its UUID');
  if (list(f.options).length > 0) t.warn([...at, 'options'], 'extra mkfs options are not supported by flint and are not used');
  return [out];
}

// ---- storage: files, directories, links ---------------------------------------------------

function owners(n: Obj, out: Obj): void {
  for (const [who, key] of [['user', 'owner'], ['group', 'group']] as const) {
    const o = n[who];
    if (!isObj(o)) continue;
    if (typeof o.id === 'number') out[key] = o.id;
    else if (typeof o.name === 'string') out[key] = o.name;
  }
}

/** Special bits of a config older than 3.6.0 are already masked (see maskSpecialBits). */
function modeOf(n: Obj): string | undefined {
  return typeof n.mode === 'number' ? octal(n.mode) : undefined;
}

/**
 * What Ignition's translation to spec 3.6 does to an older config (config/v3_6/translate):
 * setuid, setgid and sticky bits of files and directories are dropped. Done per config,
 * before merging, since a merged child may have another version.
 */
export function maskSpecialBits(cfg: Obj, version: SpecVersion): Obj {
  if (compareVersions(version, '3.6.0') >= 0 || !isObj(cfg.storage)) return cfg;
  const storage: Obj = { ...cfg.storage };
  for (const kind of ['files', 'directories']) {
    if (!Array.isArray(storage[kind])) continue;
    storage[kind] = (storage[kind] as unknown[]).map((n) => (isObj(n) && typeof n.mode === 'number' ? { ...n, mode: n.mode & ~0o7000 } : n));
  }
  return { ...cfg, storage };
}

/** Bytes of a data: resource, unpacked and verified, or the finding that says why not. */
export function decodeDataResource(r: Obj, at: PathSeg[]): { data: Buffer } | { finding: IgnFinding } {
  const raw = decodeDataUrl(String(r.source));
  const fail = (path: PathSeg[], message: string, hint: string) => ({ finding: { severity: 'error' as const, code: 'ignition-data', message, hint, path } });
  if (raw === undefined) return fail([...at, 'source'], `${show([...at, 'source'])} is not a valid data: URL`, 'write data:,TEXT (percent-encoded) or data:;base64,DATA');
  let data = raw;
  if (r.compression === 'gzip') {
    try {
      data = gunzipSync(raw);
    } catch {
      return fail([...at, 'compression'], `${show([...at, 'source'])} is not valid gzip data`, 'compress the data with gzip, or remove compression');
    }
  }
  const hash = isObj(r.verification) ? r.verification.hash : undefined;
  if (typeof hash === 'string') {
    const [algo, hex] = hash.split('-') as [string, string];
    const got = createHash(algo).update(data).digest('hex');
    if (got !== hex.toLowerCase()) {
      return fail([...at, 'verification', 'hash'], `the data of ${show([...at, 'source'])} does not match ${show([...at, 'verification', 'hash'])}`, `the ${algo} of the ${r.compression === 'gzip' ? 'unpacked ' : ''}data is ${got}: fix the hash or the data`);
    }
  }
  return { data };
}

function dataResource(t: Translator, r: Obj, at: PathSeg[]): Buffer | undefined {
  const d = decodeDataResource(r, at);
  if ('finding' in d) {
    t.findings.push(d.finding);
    return undefined;
  }
  return d.data;
}

/** Text where the bytes are UTF-8 without control characters other than tab and newline. */
function asContents(data: Buffer): Obj {
  const text = data.toString('utf8');
  const printable = Buffer.from(text, 'utf8').equals(data) && !/[\0-\x08\x0b-\x1f\x7f]/.test(text);
  return printable ? { contents: text } : { contents_base64: data.toString('base64') };
}

/** A remote resource as flint source fields, or undefined (with a finding). */
function remoteResource(t: Translator, r: Obj, at: PathSeg[]): Obj | undefined {
  const source = String(r.source);
  const scheme = schemeOf(source);
  if (scheme !== 'https') {
    const hint = scheme === 'http' ? 'serve it over https (with verification.hash), or inline it as a data: URL' : 'download it beforehand and inline it as a data: URL, or serve it over https';
    t.error([...at, 'source'], `${scheme}: sources are not supported by flint`, hint);
    return undefined;
  }
  const hash = isObj(r.verification) ? r.verification.hash : undefined;
  if (typeof hash !== 'string') {
    t.error([...at, 'source'], 'flint downloads an https source only with a hash to check it against', `add verification.hash (sha512-HEX of the ${r.compression === 'gzip' ? 'unpacked ' : ''}data)`);
    return undefined;
  }
  if (list(r.httpHeaders).length > 0) {
    t.error([...at, 'httpHeaders'], 'httpHeaders are not supported by flint', 'make the source reachable without extra headers, or inline it as a data: URL');
    return undefined;
  }
  return { source, verify: hash, ...(r.compression === 'gzip' ? { compression: 'gzip' } : {}) };
}

function file(t: Translator, f: Obj, i: number): Obj[] {
  const at = ['storage', 'files', i];
  const out: Obj = t.from({ path: f.path }, at);
  const contents = isObj(f.contents) && typeof f.contents.source === 'string' ? f.contents : undefined;
  const appends = objs(f.append);
  const parts: Buffer[] = [];
  let remote: Obj | undefined;
  let ok = true;
  if (contents !== undefined) {
    if (schemeOf(String(contents.source)) === 'data') {
      const d = dataResource(t, contents, [...at, 'contents']);
      if (d === undefined) ok = false;
      else parts.push(d);
    } else {
      remote = remoteResource(t, contents, [...at, 'contents']);
      if (remote === undefined) ok = false;
      else if (appends.length > 0) {
        t.error([...at, 'append'], 'append after remote contents is not supported by flint', 'inline the contents or the appended data as data: URLs in one resource');
        ok = false;
      }
    }
  }
  for (const [r, j] of appends) {
    if (typeof r.source !== 'string') continue;
    if (schemeOf(r.source) !== 'data') {
      t.error([...at, 'append', j, 'source'], 'appending remote data is not supported by flint', 'inline the data as a data: URL');
      ok = false;
      continue;
    }
    const d = dataResource(t, r, [...at, 'append', j]);
    if (d === undefined) ok = false;
    else parts.push(d);
  }
  if (!ok) return [];
  if (remote !== undefined) Object.assign(out, remote);
  else if (contents !== undefined || appends.length > 0) Object.assign(out, asContents(Buffer.concat(parts)));
  if (contents === undefined && appends.length > 0) out.append = true;
  // Ignition: overwrite defaults to false; flint's default is true. Without contents
  // both keep an existing file (and append to it), so flint's check is not wanted there.
  if (contents !== undefined) out.overwrite = f.overwrite === true;
  if (f.overwrite !== true && contents !== undefined) t.deviations.add('overwrite: false with contents: an existing file with the same contents is accepted (Ignition fails on any existing file)');
  const mode = modeOf(f);
  if (mode !== undefined) out.mode = mode;
  else t.deviations.add('a file or directory without mode or owner gets 0644/0755 root:root even when it exists already (Ignition keeps the existing mode and owner)');
  owners(f, out);
  if (appends.length > 0) t.deviations.add('append: the data is not added again when the file already ends with it, so a second run changes nothing');
  return [out];
}

function directory(t: Translator, d: Obj, i: number): Obj {
  const at = ['storage', 'directories', i];
  const out: Obj = t.from({ path: d.path }, at);
  const mode = modeOf(d);
  if (mode !== undefined) out.mode = mode;
  owners(d, out);
  if (d.overwrite === true) t.warn([...at, 'overwrite'], 'overwrite: true on a directory is not honoured: flint keeps an existing directory and its contents (Ignition deletes them), and refuses to replace a file with a directory', 'remove overwrite, or delete the old node in the image');
  return out;
}

function link(t: Translator, l: Obj, i: number): Obj {
  const at = ['storage', 'links', i];
  const out: Obj = t.from({ path: l.path, target: l.target }, at);
  if (l.hard === true) {
    out.hard = true;
    if (isObj(l.user) || isObj(l.group)) t.warn([...at, isObj(l.user) ? 'user' : 'group'], 'the owner of a hard link is the owner of its file: user and group are ignored here, as Ignition does');
  } else owners(l, out);
  if (l.overwrite === true && l.hard !== true) out.overwrite = true;
  if (l.overwrite === false) t.warn([...at, 'overwrite'], 'overwrite: false on a link is not honoured: flint replaces an existing link with another target (an existing file or directory is still an error)');
  t.deviations.add('links: an existing symbolic link with another target is replaced (Ignition fails unless overwrite is true)');
  return out;
}

// ---- systemd: ----------------------------------------------------------------------------

function unit(t: Translator, u: Obj, i: number): Obj {
  const at = ['systemd', 'units', i];
  const out: Obj = t.from({ name: u.name }, at);
  if (typeof u.contents === 'string' && u.contents !== '') out.contents = u.contents;
  const install = [u.contents, ...objs(u.dropins).map(([d]) => d.contents)].some((c) => typeof c === 'string' && /^\s*\[Install\]/m.test(c));
  if (u.enabled === true && typeof out.contents === 'string' && !install) {
    // Ignition warns "has no install section so enable does nothing" (validation says so
    // too); flint would refuse enabled: true on such a unit, so it is left out, to the same effect.
  } else if (typeof u.enabled === 'boolean') {
    out.enabled = u.enabled;
    t.deviations.add('enabled units are linked as systemctl enable links them (the [Install] section), not listed in /etc/systemd/system-preset/20-ignition.preset, so they are enabled on every boot, not only when systemd applies presets on first boot');
  }
  if (typeof u.mask === 'boolean') out.masked = u.mask;
  const dropins: Obj[] = [];
  for (const [d, j] of objs(u.dropins)) {
    if (typeof d.contents !== 'string' || d.contents === '') {
      t.warn([...at, 'dropins', j], `drop-in ${String(d.name)} has no contents: it is skipped, as Ignition skips it`);
      continue;
    }
    dropins.push(t.from({ name: d.name, contents: d.contents }, [...at, 'dropins', j]));
  }
  if (dropins.length > 0) out.dropins = t.from(dropins, [...at, 'dropins']);
  return out;
}
