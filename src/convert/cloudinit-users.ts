/**
 * cloud-init's accounts modules (users_groups, set_passwords, ssh's key handling) as
 * flint users and groups, with cloud-init's semantics: passwords locked unless
 * lock_passwd is false, missing supplementary groups created, the distribution's
 * default user where `default` or a top-level key asks for it.
 */
import type { PathSeg } from '../config/diagnostics.js';
import type { Group, Ssh, User } from '../config/generated/model.js';
import { isObj } from './cloudinit-source.js';
import type { SeedFile } from './cloudinit-source.js';

/**
 * The default user of Debian's cloud-init (system_info.default_user in its
 * /etc/cloud/cloud.cfg). The image's own cloud.cfg is not read; user-data's
 * system_info.default_user is merged over this, as cloud-init merges it.
 */
export const DEBIAN_DEFAULT_USER = {
  name: 'debian',
  lock_passwd: true,
  gecos: 'Debian',
  groups: ['adm', 'audio', 'cdrom', 'dialout', 'dip', 'floppy', 'netdev', 'plugdev', 'sudo', 'video'],
  sudo: ['ALL=(ALL) NOPASSWD:ALL'],
  shell: '/bin/bash',
} as const;

const USER_KEYS = new Set(['name', 'gecos', 'homedir', 'primary_group', 'groups', 'shell', 'passwd', 'hashed_passwd', 'plain_text_passwd', 'lock_passwd', 'ssh_authorized_keys', 'sudo', 'system', 'uid', 'create_groups', 'no_log_init']);

const USER_NOTES: Record<string, string> = {
  expiredate: 'flint sets no account expiry date',
  inactive: 'flint sets no password inactivity period',
  selinux_user: 'flint sets no SELinux user',
  ssh_import_id: 'flint fetches no keys from Launchpad or GitHub: list them in ssh_authorized_keys',
  ssh_redirect_user: 'flint writes no refusing authorized_keys entries',
  snapuser: 'flint creates no snap users',
  no_create_home: 'flint creates the home directory of every non-system user',
  no_user_group: 'flint creates a group named after each new user unless primary_group is given',
  doas: 'flint writes sudo rules only',
  'lock-passwd': 'cloud-init ignores this spelling too: write lock_passwd',
  'primary-group': 'write primary_group',
  'ssh-authorized-keys': 'write ssh_authorized_keys',
};

export interface AccountsResult {
  users: User[];
  groups: Group[];
  ssh?: Ssh;
  /** The name given to cloud-init's default user, where the seed uses it. */
  defaultUser?: string;
}

/** Users by name, in the order they are first named, merging later mentions into earlier ones. */
class UserList {
  private readonly byName = new Map<string, User>();

  get(name: string): User {
    let u = this.byName.get(name);
    if (u === undefined) {
      u = { name };
      this.byName.set(name, u);
    }
    return u;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  all(): User[] {
    return [...this.byName.values()];
  }
}

interface DefaultUser {
  name: string;
  /** Where the warning about it points. */
  path: PathSeg[];
  /** Named by user-data's system_info.default_user. */
  fromSeed: boolean;
}

export function convertAccounts(ud: SeedFile | undefined, md: SeedFile | undefined, defaultUserName: string | undefined): AccountsResult {
  const users = new UserList();
  const groups = new Map<string, Group>();
  const extraGroups: string[] = [];
  const def = defaultUser(ud, defaultUserName);
  let defaultNamed = false;
  const useDefault = (): string => {
    defaultNamed = true;
    return def.name;
  };

  if (ud !== undefined) {
    readGroups(ud, groups, users);
    const list = usersList(ud);
    // cloud-init's default: no users key means [default].
    const wantsDefault = list === undefined ? mentionsDefaultUser(ud) : list.some((e) => e.kind === 'default');
    for (const e of list ?? []) {
      if (e.kind === 'default') applyDefault(ud, users.get(useDefault()), extraGroups);
      else if (e.kind === 'name') lockNew(users.get(e.name));
      else applyUser(ud, e.path, users.get(e.name), extraGroups);
    }
    if (list === undefined && wantsDefault) applyDefault(ud, users.get(useDefault()), extraGroups);
    topLevelKeys(ud, users, wantsDefault || defaultNamed, useDefault);
    chpasswd(ud, users, useDefault);
  }
  if (md !== undefined) metaKeys(md, users, useDefault);
  if (defaultNamed && ud !== undefined && defaultUserName === undefined) {
    ud.warn(def.path, 'default-user', `cloud-init's default user is taken to be "${def.name}" (${def.fromSeed ? 'system_info.default_user in user-data' : "Debian's cloud.cfg"}); flint does not read the image's /etc/cloud/cloud.cfg`, 'to use another name, set system_info: {default_user: {name: NAME}} in user-data', 'key');
  }
  // cloud-init creates supplementary groups that do not exist; declaring them does the same in flint.
  for (const g of extraGroups) if (!groups.has(g)) groups.set(g, { name: g });
  const out: AccountsResult = { users: users.all(), groups: [...groups.values()] };
  const ssh = sshSettings(ud);
  if (ssh !== undefined) out.ssh = ssh;
  if (defaultNamed) out.defaultUser = def.name;
  return out;
}

function defaultUser(ud: SeedFile | undefined, override: string | undefined): DefaultUser {
  const path: PathSeg[] = ['system_info', 'default_user', 'name'];
  const fromSeed = ud?.str(path);
  if (override !== undefined) return { name: override, path: [], fromSeed: false };
  if (fromSeed !== undefined) return { name: fromSeed, path, fromSeed: true };
  return { name: DEBIAN_DEFAULT_USER.name, path: ud?.written(['users']) ? ['users'] : ud?.written(['ssh_authorized_keys']) ? ['ssh_authorized_keys'] : [], fromSeed: false };
}

/** The default user's settings: Debian's, with user-data's system_info.default_user over them. */
function applyDefault(ud: SeedFile, u: User, extraGroups: string[]): void {
  u.gecos = DEBIAN_DEFAULT_USER.gecos;
  u.groups = [...DEBIAN_DEFAULT_USER.groups];
  u.shell = DEBIAN_DEFAULT_USER.shell;
  u.sudo = 'nopasswd';
  u.password_hash = '!';
  extraGroups.push(...DEBIAN_DEFAULT_USER.groups);
  if (ud.map(['system_info', 'default_user']) !== undefined) applyUser(ud, ['system_info', 'default_user'], u, extraGroups, true);
}

type UserEntry = { kind: 'default' } | { kind: 'name'; name: string } | { kind: 'map'; name: string; path: PathSeg[] };

/** users: a list (of names, `default` and maps), a comma-separated string, or a map of name to settings. */
function usersList(ud: SeedFile): UserEntry[] | undefined {
  const v = ud.at(['users']);
  if (v === undefined || v === null) return undefined;
  const out: UserEntry[] = [];
  const named = (name: string): UserEntry => (name === 'default' ? { kind: 'default' } : { kind: 'name', name });
  if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter((s) => s !== '').map(named);
  if (isObj(v)) {
    for (const name of Object.keys(v)) {
      if (name === 'default') out.push({ kind: 'default' });
      else if (isObj(v[name])) out.push({ kind: 'map', name, path: ['users', name] });
      else out.push({ kind: 'name', name });
    }
    return out;
  }
  if (!Array.isArray(v)) {
    ud.typeError(['users'], 'a list of users', v);
    return undefined;
  }
  v.forEach((item, i) => {
    const path: PathSeg[] = ['users', i];
    if (typeof item === 'string') out.push(named(item));
    else if (Array.isArray(item)) item.forEach((_, j) => {
      const s = ud.str([...path, j], 'a user name');
      if (s !== undefined) out.push(named(s));
    });
    else if (isObj(item)) {
      const name = ud.str([...path, 'name'], 'a user name');
      if (name !== undefined) out.push({ kind: 'map', name, path });
      else if (item.name === undefined) {
        if (item.snapuser !== undefined) ud.unsupported([...path, 'snapuser'], USER_NOTES.snapuser);
        else ud.error(path, 'missing-key', `users[${i}] has no name`, 'add name: LOGIN');
      }
    } else ud.typeError(path, 'a user name or a map of user settings', item);
  });
  return out;
}

/** A user named without settings: cloud-init creates it with a locked password. */
function lockNew(u: User): void {
  if (u.password_hash === undefined && u.password === undefined) u.password_hash = '!';
}

function applyUser(ud: SeedFile, path: PathSeg[], u: User, extraGroups: string[], isDefault = false): void {
  const gecos = ud.str([...path, 'gecos']);
  if (gecos !== undefined) u.gecos = gecos;
  const home = ud.str([...path, 'homedir']);
  if (home !== undefined) u.home = home;
  const shell = ud.str([...path, 'shell']);
  if (shell !== undefined) u.shell = shell;
  const pg = ud.str([...path, 'primary_group']);
  // A primary group named after the user is what flint makes anyway.
  if (pg !== undefined && pg !== u.name) u.primary_group = pg;
  const uid = ud.int([...path, 'uid']);
  if (uid !== undefined) u.uid = uid;
  const system = ud.bool([...path, 'system']);
  if (system !== undefined) u.system = system;
  const groups = ud.strList([...path, 'groups'], true);
  if (groups !== undefined) {
    u.groups = [...new Set([...(isDefault ? [] : (u.groups ?? [])), ...groups])];
    if (ud.bool([...path, 'create_groups']) !== false) extraGroups.push(...groups);
  }
  const keys = ud.strList([...path, 'ssh_authorized_keys'], false);
  if (keys !== undefined) u.ssh_authorized_keys = [...(u.ssh_authorized_keys ?? []), ...keys];
  const sudo = sudoOf(ud, [...path, 'sudo']);
  if (sudo !== undefined) u.sudo = sudo;
  password(ud, path, u);
  ud.rest(path, USER_KEYS, USER_NOTES);
}

/**
 * cloud-init sets the password, then locks it unless lock_passwd is false (`passwd -l`
 * puts "!" before the hash). A plain-text password that ends up locked is useless, so
 * flint stores only the lock for it.
 */
function password(ud: SeedFile, path: PathSeg[], u: User): void {
  const lock = ud.bool([...path, 'lock_passwd']) ?? true;
  const hash = ud.str([...path, 'hashed_passwd']) ?? ud.str([...path, 'passwd']);
  const plain = ud.str([...path, 'plain_text_passwd']);
  if (hash !== undefined) {
    u.password_hash = lock ? `!${hash}` : hash;
    delete u.password;
  } else if (plain !== undefined && !lock) {
    u.password = plain;
    delete u.password_hash;
  } else if (lock) {
    u.password_hash = '!';
    delete u.password;
    if (plain !== undefined) ud.warn([...path, 'plain_text_passwd'], 'locked-password', `${u.name}'s plain_text_passwd is locked by lock_passwd (true unless set to false), as cloud-init does: password login stays off`, 'add lock_passwd: false to allow password login', 'key');
  }
}

/** cloud-init's sudo rule strings, as far as flint's three levels say the same. */
function sudoOf(ud: SeedFile, path: PathSeg[]): User['sudo'] | undefined {
  const v = ud.at(path);
  if (v === undefined || v === null) return undefined;
  if (v === false || (typeof v === 'string' && /^(false|no|off)$/i.test(v))) return 'none';
  const rules = ud.strList(path, false);
  if (rules === undefined) return undefined;
  const kinds = new Set(rules.map(sudoKind));
  if (kinds.size === 1 && !kinds.has(undefined)) return [...kinds][0];
  if (kinds.has('nopasswd') && !kinds.has(undefined)) return 'nopasswd';
  ud.warn(path, 'sudo-rule', 'flint writes only full sudo rights ("ALL=(ALL) ALL" or "ALL=(ALL) NOPASSWD:ALL"); this rule is not applied and the user gets no sudo rule from flint', 'grant the narrower rule with a file under /etc/sudoers.d/ in files:');
  return undefined;
}

function sudoKind(rule: string): 'nopasswd' | 'password' | undefined {
  const r = rule.replace(/\s+/g, ' ').trim();
  if (/^ALL ?= ?\(ALL(?: ?: ?ALL)?\) ?NOPASSWD ?: ?ALL$/.test(r)) return 'nopasswd';
  if (/^ALL ?= ?\(ALL(?: ?: ?ALL)?\) ?ALL$/.test(r)) return 'password';
  return undefined;
}

/** groups: names, or maps of a group to its members (a list or a comma-separated string). */
function readGroups(ud: SeedFile, groups: Map<string, Group>, users: UserList): void {
  const v = ud.at(['groups']);
  if (v === undefined || v === null) return;
  const add = (name: string, members: string[]): void => {
    if (!groups.has(name)) groups.set(name, { name });
    for (const m of members) {
      const u = users.get(m);
      u.groups = [...new Set([...(u.groups ?? []), name])];
    }
  };
  const fromMap = (path: PathSeg[], m: Record<string, unknown>): void => {
    for (const name of Object.keys(m)) add(name, ud.strList([...path, name], true) ?? []);
  };
  if (typeof v === 'string') for (const g of ud.strList(['groups'], true) ?? []) add(g, []);
  else if (isObj(v)) fromMap(['groups'], v);
  else if (Array.isArray(v)) {
    v.forEach((item, i) => {
      if (typeof item === 'string') add(item, []);
      else if (isObj(item)) fromMap(['groups', i], item);
      else ud.typeError(['groups', i], 'a group name or a map of a group to its members', item);
    });
  } else ud.typeError(['groups'], 'a list of groups', v);
}

/** Whether user-data, with no users key, still needs the default user. */
function mentionsDefaultUser(ud: SeedFile): boolean {
  return ud.at(['ssh_authorized_keys']) !== undefined || ud.at(['password']) !== undefined || ud.at(['system_info', 'default_user']) !== undefined;
}

/** Top-level ssh_authorized_keys and password belong to the default user; with disable_root: false, keys go to root too. */
function topLevelKeys(ud: SeedFile, users: UserList, defaultExists: boolean, useDefault: () => string): void {
  const keys = ud.strList(['ssh_authorized_keys'], false);
  const disableRoot = ud.bool(['disable_root']) ?? true;
  if (keys !== undefined && keys.length > 0) {
    if (defaultExists) {
      const u = users.get(useDefault());
      u.ssh_authorized_keys = [...(u.ssh_authorized_keys ?? []), ...keys];
    } else if (disableRoot) {
      ud.warn(['ssh_authorized_keys'], 'no-default-user', `these keys are for cloud-init's default user, which users: does not include (no "- default"), so no account gets them`, `add "- default" to users:, or list the keys under a user`, 'key');
    }
    if (!disableRoot) {
      const root = users.get('root');
      root.ssh_authorized_keys = [...(root.ssh_authorized_keys ?? []), ...keys];
    }
  }
  const pw = ud.str(['password']);
  if (pw !== undefined) {
    ud.secret(['password']);
    if (defaultExists) {
      setPassword(users.get(useDefault()), pw);
      expiryNote(ud, ['password']);
    } else {
      ud.warn(['password'], 'no-default-user', `password is for cloud-init's default user, which users: does not include (no "- default"), so no account gets it`, 'add "- default" to users:, or use chpasswd with the user\'s name', 'key');
    }
  }
  if (ud.written(['disable_root']) && disableRoot) ud.unsupported(['disable_root'], 'flint writes no refusing entry to root\'s authorized_keys; root simply gets no keys');
}

/** meta-data's public-keys go to the default user, as cloud-init's ssh module does. */
function metaKeys(md: SeedFile, users: UserList, useDefault: () => string): void {
  for (const key of ['public-keys', 'public_keys']) {
    const v = md.at([key]);
    if (v === undefined) continue;
    const keys = isObj(v) ? Object.keys(v).flatMap((k) => md.strList([key, k], false) ?? []) : (md.strList([key], false) ?? []);
    if (keys.length === 0) continue;
    const u = users.get(useDefault());
    u.ssh_authorized_keys = [...(u.ssh_authorized_keys ?? []), ...keys];
  }
}

function setPassword(u: User, pw: string): void {
  if (/^\$(?:1|2[aby]|5|6|7|y|gy)\$/.test(pw)) {
    u.password_hash = pw;
    delete u.password;
  } else {
    u.password = pw;
    delete u.password_hash;
  }
}

/**
 * chpasswd: {list: "user:password" lines or a list of them, users: [{name, password,
 * type}], expire}. Applied after users, so it replaces a lock, as in cloud-init.
 */
function chpasswd(ud: SeedFile, users: UserList, useDefault: () => string): void {
  const c = ud.map(['chpasswd']);
  if (c === undefined) return;
  const nameOf = (n: string) => (n === 'default' ? useDefault() : n);
  const listV = c.list;
  if (listV !== undefined && listV !== null) {
    ud.secret(['chpasswd', 'list']);
    const lines = typeof listV === 'string' ? listV.split('\n').map((l) => ({ l, path: ['chpasswd', 'list'] as PathSeg[] })) : Array.isArray(listV) ? listV.map((l, i) => ({ l, path: ['chpasswd', 'list', i] as PathSeg[] })) : [];
    if (typeof listV !== 'string' && !Array.isArray(listV)) ud.typeError(['chpasswd', 'list'], 'text of "user:password" lines', listV);
    for (const { l, path } of lines) {
      if (typeof l !== 'string') {
        ud.typeError(path, 'a "user:password" line', l);
        continue;
      }
      ud.secret(path);
      const line = l.trim();
      if (line === '') continue;
      const colon = line.indexOf(':');
      if (colon <= 0) {
        ud.error(path, 'chpasswd', 'a chpasswd line is user:password (the line itself is not shown: it may hold a password)');
        continue;
      }
      const name = line.slice(0, colon);
      const pw = line.slice(colon + 1);
      if (/^(R|RANDOM)$/.test(pw)) {
        ud.unsupported(path, `a RANDOM password for ${name}: flint makes no random passwords`);
        continue;
      }
      setPassword(users.get(nameOf(name)), pw);
    }
  }
  const list = ud.list(['chpasswd', 'users']);
  list?.forEach((_, i) => {
    const path: PathSeg[] = ['chpasswd', 'users', i];
    if (ud.map(path) === undefined) return;
    const name = ud.str([...path, 'name']);
    const type = ud.str([...path, 'type']) ?? 'hash';
    if (name === undefined) {
      ud.error(path, 'missing-key', 'a chpasswd user needs a name', 'add name: LOGIN');
      return;
    }
    if (type === 'RANDOM') {
      ud.unsupported([...path, 'type'], `a RANDOM password for ${name}: flint makes no random passwords`);
      return;
    }
    const pw = ud.str([...path, 'password']);
    if (pw === undefined) {
      ud.error(path, 'missing-key', `chpasswd user ${name} needs a password`, 'add password: (a crypt hash, or text with type: text)');
      return;
    }
    const u = users.get(nameOf(name));
    if (type === 'text') {
      u.password = pw;
      delete u.password_hash;
    } else {
      u.password_hash = pw;
      delete u.password;
    }
  });
  expiryNote(ud, ['chpasswd']);
  ud.rest(['chpasswd'], new Set(['list', 'users', 'expire']));
}

/** cloud-init expires passwords it sets unless chpasswd.expire is false; flint cannot. */
function expiryNote(ud: SeedFile, path: PathSeg[]): void {
  if (ud.bool(['chpasswd', 'expire']) === false) return;
  ud.unsupported(ud.written(['chpasswd', 'expire']) ? ['chpasswd', 'expire'] : path, 'chpasswd.expire is true unless set to false: cloud-init forces a password change at first login, flint does not');
}

function sshSettings(ud: SeedFile | undefined): Ssh | undefined {
  if (ud === undefined) return undefined;
  const ssh: Ssh = {};
  const pw = ud.at(['ssh_pwauth']);
  if (pw !== undefined && pw !== null && !(typeof pw === 'string' && pw.toLowerCase() === 'unchanged')) {
    const b = ud.bool(['ssh_pwauth']);
    if (b !== undefined) ssh.password_authentication = b;
  }
  if (ud.bool(['ssh_deletekeys']) === true) ssh.host_keys = 'generate';
  return Object.keys(ssh).length > 0 ? ssh : undefined;
}
