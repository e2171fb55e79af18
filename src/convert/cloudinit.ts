/**
 * cloud-init NoCloud seeds (user-data, meta-data, network-config) as a native flint
 * config. Each file is read with flint's own loader, so every problem points at the
 * seed's file:line:col; settings flint does not apply are named in one warning; the
 * result is checked with flint's validator and its findings are reported at the seed
 * lines they come from.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Diagnostic, PathSeg } from '../config/diagnostics.js';
import { compareDiagnostics, pointer } from '../config/diagnostics.js';
import { makeDiagnostic, plainSource } from '../config/load.js';
import type { Origin, Translation } from '../config/load.js';
import { validateTranslated } from './positions.js';
import { convertWriteFiles } from './cloudinit-files.js';
import { convertNetwork } from './cloudinit-network.js';
import { isObj, SeedFile } from './cloudinit-source.js';
import type { Unsupported } from './cloudinit-source.js';
import { convertScripts, convertStorage, convertSystem } from './cloudinit-system.js';
import { convertMachine } from './cloudinit-machine.js';
import { convertRepos, REPO_KEYS } from './cloudinit-repos.js';
import { convertAccounts } from './cloudinit-users.js';

export interface SeedPart {
  file: string;
  text: string;
}

export interface NoCloudSeed {
  userData?: SeedPart;
  metaData?: SeedPart;
  networkConfig?: SeedPart;
}

export interface CloudInitOptions {
  /** Name of cloud-init's default user; default: user-data's system_info.default_user.name, else Debian's "debian". */
  defaultUser?: string;
}

export interface CloudInitResult {
  /** A flint v1 config; only when there is no error. */
  config?: Record<string, unknown>;
  diagnostics: Diagnostic[];
  /** Where each value of `config` came from in the seed's files; with `config`. */
  translation?: Translation;
}

/** Whether a text is cloud-init user-data in cloud-config form (its first line is #cloud-config). */
export function looksLikeCloudConfig(text: string): boolean {
  return /^\uFEFF?#cloud-config[ \t]*\r?(?:\n|$)/.test(text);
}

const SEED_FILES = { userData: 'user-data', metaData: 'meta-data', networkConfig: 'network-config' } as const;

/** The seed files in a NoCloud folder (a mounted cidata medium); missing ones are left out, other read errors are thrown. */
export function readNoCloudSeed(dir: string): NoCloudSeed {
  const seed: NoCloudSeed = {};
  for (const [key, name] of Object.entries(SEED_FILES) as Array<[keyof NoCloudSeed, string]>) {
    const file = join(dir, name);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    seed[key] = { file, text };
  }
  return seed;
}

/** Top-level user-data keys, and the module or note for those flint does not apply. */
const HANDLED = new Set([
  'users', 'groups', 'chpasswd', 'password', 'ssh_authorized_keys', 'ssh_pwauth', 'ssh_deletekeys', 'disable_root', 'system_info',
  'write_files', 'hostname', 'fqdn', 'preserve_hostname', 'prefer_fqdn_over_hostname', 'manage_etc_hosts', 'timezone', 'locale',
  'locale_configfile', 'keyboard', 'growpart', 'resize_rootfs', 'mounts', 'mount_default_fields', 'swap', 'runcmd', 'bootcmd',
  'ntp', 'ca_certs', 'ca-certs', 'power_state', 'rpi', 'packages', 'package_update', 'package_upgrade', 'package_reboot_if_required',
  ...REPO_KEYS,
]);
const NOTES: Record<string, string> = {
  snap: 'flint installs no snaps: install them from a post script',
  ssh_import_id: 'flint downloads nothing that a digest does not pin, and GitHub or Launchpad keys change: list the keys in ssh_authorized_keys',
  ssh_keys: 'flint does not install given host keys (ssh.host_keys is keep or generate)',
  ssh_genkeytypes: 'flint generates ed25519 and RSA host keys with ssh_deletekeys: true',
  final_message: 'flint prints its own report',
  network: 'network settings are read from the network-config file only',
};
const META_KEYS = new Set(['instance-id', 'local-hostname', 'hostname', 'public-keys', 'public_keys']);

export function fromCloudInit(seed: NoCloudSeed, options: CloudInitOptions = {}): CloudInitResult {
  const out = { diagnostics: [] as Diagnostic[], unsupported: [] as Unsupported[] };
  const finish = (config?: Record<string, unknown>, translation?: Translation): CloudInitResult => {
    const diagnostics = sorted(redactParserText(maskChpasswd(out.diagnostics, seed.userData)));
    return config !== undefined && translation !== undefined && !hasError(diagnostics) ? { config, diagnostics, translation } : { diagnostics };
  };
  const { parts, extraScripts } = loadSeed(seed, out);
  const files = [parts.ud, parts.md, parts.nc].filter((f): f is SeedFile => f !== undefined);
  if (hasError(out.diagnostics)) return finish();
  const { config, origins } = build(parts, options, extraScripts);
  const warning = unsupportedWarning(out.unsupported, files);
  if (warning !== undefined) out.diagnostics.push(warning);
  // Findings about a seed that did not convert cleanly would describe flint's guesses.
  if (hasError(out.diagnostics)) return finish();
  const translation = withUserDataScript(seedTranslation(origins, files), config, extraScripts.length > 0 ? seed.userData : undefined);
  out.diagnostics.push(...validateTranslated('converted.yaml', config, translation).diagnostics);
  return finish(config, translation);
}

/** Each seed file loaded with positions; syntax errors and non-map documents are reported. */
function loadSeed(seed: NoCloudSeed, out: { diagnostics: Diagnostic[]; unsupported: Unsupported[] }): { parts: { ud?: SeedFile; md?: SeedFile; nc?: SeedFile }; extraScripts: Array<Record<string, unknown>> } {
  const parts: { ud?: SeedFile; md?: SeedFile; nc?: SeedFile } = {};
  const extraScripts: Array<Record<string, unknown>> = [];
  if (seed.userData !== undefined) {
    const kind = userDataKind(seed.userData.text);
    if (kind === 'cloud-config') parts.ud = new SeedFile(seed.userData.file, seed.userData.text, out);
    else if (kind === 'script') extraScripts.push({ name: 'user-data', stage: 'post', contents: seed.userData.text });
    else if (kind !== 'empty') out.diagnostics.push(userDataError(seed.userData, kind));
  }
  if (seed.metaData !== undefined) parts.md = new SeedFile(seed.metaData.file, seed.metaData.text, out);
  if (seed.networkConfig !== undefined) parts.nc = new SeedFile(seed.networkConfig.file, seed.networkConfig.text, out);
  for (const f of [parts.ud, parts.md, parts.nc]) {
    if (f === undefined) continue;
    out.diagnostics.push(...f.loaded.diagnostics);
    if (!f.loaded.diagnostics.some((d) => d.severity === 'error') && f.root !== null && f.root !== undefined && !isObj(f.root)) f.typeError([], 'a map of settings', f.root);
  }
  return { parts, extraScripts };
}

type UserDataKind = 'cloud-config' | 'script' | 'empty' | 'include' | 'mime' | 'boothook' | 'jinja' | 'gzip' | 'unknown';

function userDataKind(text: string): UserDataKind {
  if (looksLikeCloudConfig(text)) return 'cloud-config';
  if (text.trim() === '') return 'empty';
  if (text.startsWith('\x1f\x8b')) return 'gzip';
  const first = (text.replace(/^\uFEFF/, '').split('\n')[0] ?? '').trim();
  if (first.startsWith('#!')) return 'script';
  if (/^#include/.test(first)) return 'include';
  if (/^#cloud-boothook/.test(first)) return 'boothook';
  if (/^##\s*template:\s*jinja/i.test(first)) return 'jinja';
  if (/^(Content-Type|MIME-Version):/i.test(first)) return 'mime';
  return 'unknown';
}

function userDataError(part: SeedPart, kind: UserDataKind): Diagnostic {
  const what: Record<string, string> = {
    include: 'an #include list (URLs to fetch)',
    mime: 'a MIME multi-part archive',
    boothook: 'a #cloud-boothook',
    jinja: 'a Jinja template',
    gzip: 'gzip-compressed',
    unknown: 'neither #cloud-config nor a script',
  };
  const first = part.text.split('\n')[0] ?? '';
  return {
    severity: 'error',
    code: 'user-data-format',
    message: `user-data is ${what[kind] ?? kind}; flint reads #cloud-config user-data and #! scripts`,
    hint: 'start the file with the line #cloud-config (cloud-init ignores user-data it does not recognise, flint refuses it)',
    file: part.file,
    line: 1,
    column: 1,
    length: Math.max(1, Math.min(first.length, 20)),
    path: '',
  };
}

/** Where each part of the flint config came from in the seed, by flint JSON pointer ("/users/2"). */
type Origins = Map<string, { seed: SeedFile; path: PathSeg[] }>;

function build(parts: { ud?: SeedFile; md?: SeedFile; nc?: SeedFile }, options: CloudInitOptions, extraScripts: Array<Record<string, unknown>>): { config: Record<string, unknown>; origins: Origins } {
  const { ud, md, nc } = parts;
  const origins: Origins = new Map();
  const config: Record<string, unknown> = { version: 1 };
  const origin = (flint: PathSeg[], seed: SeedFile | undefined, path: PathSeg[]) => {
    if (seed !== undefined) origins.set(pointer(flint), { seed, path });
  };
  // What no setting of its own stands for (version: 1, a default) is the seed's as a whole.
  origin([], ud ?? nc ?? md, []);

  const sys = convertSystem(ud, md);
  for (const [k, v] of Object.entries(sys)) {
    config[k] = v;
    if (k === 'hostname') {
      const from = ud?.written(['hostname']) ? ['hostname'] : ud?.written(['fqdn']) ? ['fqdn'] : ['local-hostname'];
      origin([k], from[0] === 'local-hostname' ? md : ud, from);
    } else origin([k], ud, [k === 'keymap' ? 'keyboard' : k]);
  }
  const accounts = convertAccounts(ud, md, options.defaultUser);
  if (accounts.groups.length > 0) {
    config.groups = accounts.groups;
    accounts.groups.forEach((g, i) => origin(['groups', i], ud, ud?.written(['groups']) ? ['groups'] : ['users']));
  }
  if (accounts.users.length > 0) {
    config.users = accounts.users;
    accounts.users.forEach((u, i) => {
      origin(['users', i], ud ?? md, ud !== undefined ? userOrigin(ud, u.name, accounts.defaultUser) : []);
      u.ssh_authorized_keys?.forEach((k, j) => {
        const at = keyOrigin(ud, md, k);
        if (at !== undefined) origin(['users', i, 'ssh_authorized_keys', j], at.seed, at.path);
      });
    });
  }
  if (accounts.ssh !== undefined) {
    config.ssh = accounts.ssh;
    origin(['ssh', 'password_authentication'], ud, ['ssh_pwauth']);
    origin(['ssh', 'host_keys'], ud, ['ssh_deletekeys']);
  }
  if (nc !== undefined) {
    const network = convertNetwork(nc);
    if (network !== undefined) {
      config.network = network;
      origin(['network'], nc, []);
      network.connections?.forEach((c, i) => origin(['network', 'connections', i], nc, connectionOrigin(nc, c.name)));
    }
  }
  if (ud !== undefined) {
    const storage = convertStorage(ud);
    if (storage !== undefined) {
      config.storage = storage;
      origin(['storage'], ud, ud.written(['growpart']) ? ['growpart'] : ud.written(['resize_rootfs']) ? ['resize_rootfs'] : ['mounts']);
    }
    const written = convertWriteFiles(ud);
    const repos = convertRepos(ud);
    const files = [...written, ...repos.map((r) => r.file)];
    if (files.length > 0) {
      config.files = files;
      written.forEach((_, i) => origin(['files', i], ud, ['write_files', i]));
      repos.forEach((r, i) => origin(['files', written.length + i], ud, r.from));
    }
    const fqdn = ud.str(['fqdn']) ?? ud.str(['hostname']) ?? md?.str(['local-hostname']) ?? md?.str(['hostname']);
    for (const [k, c] of Object.entries(convertMachine(ud, fqdn))) {
      config[k] = c.value;
      origin([k], ud, c.from);
      if (Array.isArray(c.value)) c.value.forEach((_: unknown, i: number) => origin([k, i], ud, k === 'ca_certificates' ? [...c.from, i] : c.from));
    }
    const scripts = [...convertScripts(ud), ...extraScripts];
    if (scripts.length > 0) {
      config.scripts = scripts;
      scripts.forEach((s, i) => origin(['scripts', i], ud, [String(s.name)]));
    }
    noteTopLevel(ud);
  } else if (extraScripts.length > 0) config.scripts = extraScripts;
  if (md !== undefined) md.rest([], META_KEYS);
  return { config, origins };
}

function noteTopLevel(ud: SeedFile): void {
  ud.rest([], HANDLED, NOTES);
  if (ud.map(['system_info']) !== undefined) ud.rest(['system_info'], new Set(['default_user']), { distro: 'flint does not switch distributions' });
}

/** The seed entry a user comes from: its users: entry, its chpasswd or groups: mention, or the default user's. */
function userOrigin(ud: SeedFile, name: string, defaultUser: string | undefined): PathSeg[] {
  const list = ud.at(['users']);
  const at = (key: string, match: (e: unknown) => boolean): PathSeg[] | undefined => {
    const v = ud.at([key]);
    const i = Array.isArray(v) ? v.findIndex(match) : -1;
    return i >= 0 ? [key, i] : undefined;
  };
  const own = at('users', (e) => (isObj(e) && e.name === name) || e === name);
  if (own !== undefined) return own;
  if (name === defaultUser) return at('users', (e) => e === 'default') ?? (ud.written(['system_info', 'default_user']) ? ['system_info', 'default_user'] : ud.written(['ssh_authorized_keys']) ? ['ssh_authorized_keys'] : []);
  const member = at('groups', (e) => isObj(e) && Object.values(e).some((m) => (Array.isArray(m) ? m.includes(name) : typeof m === 'string' && m.split(',').map((x) => x.trim()).includes(name))));
  if (member !== undefined) return member;
  if (ud.written(['chpasswd'])) return ['chpasswd'];
  return list !== undefined ? ['users'] : [];
}

function connectionOrigin(nc: SeedFile, name: string): PathSeg[] {
  const base: PathSeg[] = isObj(nc.at(['network'])) ? ['network'] : [];
  for (const kind of ['ethernets', 'wifis', 'bonds', 'bridges', 'vlans']) {
    const m = nc.at([...base, kind]);
    if (!isObj(m)) continue;
    const id = Object.keys(m).find((k) => name === k || name.startsWith(`${k}-`));
    if (id !== undefined) return [...base, kind, id];
  }
  const list = nc.at([...base, 'config']);
  if (Array.isArray(list)) {
    const i = list.findIndex((e) => isObj(e) && e.name === name);
    if (i >= 0) return [...base, 'config', i];
  }
  return base;
}

/**
 * A key of a user comes from one of several lists (the user's own, the top level's for
 * the default user, meta-data's public-keys), merged: find the one that has it.
 */
function keyOrigin(ud: SeedFile | undefined, md: SeedFile | undefined, key: string): { seed: SeedFile; path: PathSeg[] } | undefined {
  const lists: Array<[SeedFile | undefined, PathSeg[]]> = [[ud, ['ssh_authorized_keys']], [md, ['public-keys']], [md, ['public_keys']]];
  const users = ud?.at(['users']);
  if (Array.isArray(users)) users.forEach((_, i) => lists.unshift([ud, ['users', i, 'ssh_authorized_keys']]));
  if (ud?.written(['system_info', 'default_user', 'ssh_authorized_keys'])) lists.push([ud, ['system_info', 'default_user', 'ssh_authorized_keys']]);
  for (const [seed, path] of lists) {
    const v = seed?.at(path);
    if (seed === undefined) continue;
    if (v === key) return { seed, path };
    const i = Array.isArray(v) ? v.indexOf(key) : -1;
    if (i >= 0) return { seed, path: [...path, i] };
  }
  return undefined;
}

/** Flint key names back to the cloud-init keys they come from, to point findings at the right line. */
const SEED_KEY: Record<string, readonly string[]> = {
  home: ['homedir'],
  password_hash: ['hashed_passwd', 'passwd'],
  password: ['plain_text_passwd'],
  contents: ['content'],
  contents_base64: ['content'],
  compression: ['encoding'],
  mode: ['permissions'],
  group: ['owner'],
  interface: ['match'],
  mac: ['match'],
};

/** A #! user-data is the last of the scripts; with no other seed file, it stands for the whole config too. */
function withUserDataScript(t: Translation, config: Record<string, unknown>, script: SeedPart | undefined): Translation {
  if (script === undefined || !Array.isArray(config.scripts)) return t;
  const origins = new Map(t.origins);
  const at: Origin = { source: t.sources.length, path: [] };
  origins.set(pointer(['scripts', config.scripts.length - 1]), at);
  if (!origins.has('')) origins.set('', at);
  return { ...t, sources: [...t.sources, plainSource(script.file, script.text)], origins };
}

/** The seed's origins as a translation map over the files it was read from. */
function seedTranslation(origins: Origins, files: readonly SeedFile[]): Translation {
  const byPointer = new Map<string, Origin>();
  for (const [ptr, o] of origins) byPointer.set(ptr, { source: files.indexOf(o.seed), path: o.path });
  return { sources: files.map((f) => f.loaded), origins: byPointer, renames: SEED_KEY };
}

/** All keys flint does not apply, in one warning at the first of them. */
function unsupportedWarning(list: Unsupported[], files: readonly SeedFile[]): Diagnostic | undefined {
  if (list.length === 0) return undefined;
  list = [...list].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
  const first = list[0];
  if (first === undefined) return undefined;
  const seed = files.find((f) => f.file === first.file);
  const names = list.map((u) => `${u.what} (${u.file === first.file ? '' : `${u.file}:`}${u.line}:${u.column})`);
  const notes = [...new Set(list.filter((u) => u.note !== undefined).map((u) => `${u.what.replace(/^.*\./, '')}: ${u.note}`))];
  const message = `flint does not apply ${list.length === 1 ? 'this setting' : `these ${list.length} settings`} of the cloud-init seed: ${names.join(', ')}`;
  const hint = notes.length > 0 ? notes.join('; ') : 'remove them, or express them another way in a flint config';
  if (seed === undefined) return { severity: 'warning', code: 'unsupported', message, hint, file: first.file, line: first.line, column: first.column, length: 1, path: first.what };
  const offset = lineColToOffset(seed.loaded.text, first.line, first.column);
  return makeDiagnostic(seed.loaded, { severity: 'warning', code: 'unsupported', message, hint, span: { start: offset, end: offset + first.what.replace(/^.*[.\]]/, '').length }, path: [] });
}

function lineColToOffset(text: string, line: number, column: number): number {
  let offset = 0;
  for (let l = 1; l < line; l++) offset = text.indexOf('\n', offset) + 1;
  return offset + column - 1;
}

function hasError(ds: readonly Diagnostic[]): boolean {
  return ds.some((d) => d.severity === 'error');
}

function sorted(ds: Diagnostic[]): Diagnostic[] {
  return [...ds].sort(compareDiagnostics);
}

/**
 * chpasswd's "user:password" lines are secrets under a key ("list") that is not a
 * secret word, and a broken document may not parse far enough for the loader to know
 * them: every line of a chpasswd block is shown with its values starred out.
 */
function maskChpasswd(ds: Diagnostic[], seed: SeedPart | undefined): Diagnostic[] {
  if (seed === undefined) return ds;
  const lines = seed.text.split('\n');
  const inBlock = new Set<number>();
  let indent = -1;
  lines.forEach((l, i) => {
    const m = /^(\s*)(?:-\s+)?chpasswd\s*:/.exec(l);
    if (m) {
      indent = m[1]?.length ?? 0;
      inBlock.add(i + 1);
    } else if (indent >= 0 && (l.trim() === '' || l.search(/\S/) > indent || /^\s*[:|>]/.test(l) || !/^\s*[\w-]+\s*:(\s|$)/.test(l))) inBlock.add(i + 1);
    else indent = -1;
  });
  const star = (l: string) => l.replace(/^(\s*(?:-\s+)?)((?:[\w-]+:(?=\s|$))?)(.*)$/, (_m, lead: string, key: string, rest: string) => lead + key + rest.replace(/\S/g, '*'));
  return ds.map((d) => (d.file === seed.file && d.source !== undefined && inBlock.has(d.line) ? { ...d, source: star(d.source) } : d));
}

/**
 * The YAML parser's "not a YAML token: TEXT" quotes the source, which may be a secret;
 * the loader passes that on (reported to the lead), so it is cut here.
 */
function redactParserText(ds: Diagnostic[]): Diagnostic[] {
  return ds.map((d) => {
    const out: Diagnostic = { ...d, message: starLookalikes(d.message.replace(/(not a YAML token):.*$/, '$1')), path: starLookalikes(d.path) };
    if (d.hint !== undefined) out.hint = starLookalikes(d.hint);
    if (d.source !== undefined) out.source = starLookalikes(d.code === 'unsupported' ? d.source.replace(/^(\s*(?:-\s+)?[^:\s]+\s*:)(.*)$/, (_m, k: string, v: string) => k + v.replace(/\S/g, '*')) : d.source);
    return out;
  });
}

/**
 * A mangled key (a typo the loader cannot tie to a password) leaves its value
 * unmasked; long words of mixed case and digits look like keys and passwords, so
 * they are starred wherever a diagnostic shows text.
 */
function starLookalikes(s: string): string {
  const pathLike = /^[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\[\d+\])+$/;
  return s.replace(/[A-Za-z0-9+/=_.@!#%^&*~-]{12,}/g, (w) => (/[a-z]/.test(w) && /[A-Z]/.test(w) && /[0-9]/.test(w) && !pathLike.test(w) ? '*'.repeat(w.length) : w));
}
