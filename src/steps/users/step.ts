/**
 * The users step: groups and users in the target's account files (edited directly, in
 * shadow-utils' format, so the initramfs needs no useradd and no hash reaches an argv),
 * homes from the target's /etc/skel, and sudoers drop-ins.
 */
import type { User } from '../../config/generated/model.js';
import { hashPassword, verifyPassword } from '../../crypt/sha-crypt.js';
import type { Action } from '../../engine/actions.js';
import { factKey, provide } from '../../engine/step.js';
import type { Problem, Step, StepContext, StepOutput } from '../../engine/step.js';
import type { TargetRoot } from '../../target/root.js';
import type { DeletedUser } from './accounts-delete.js';
import { applyAccounts, parseLoginDefs, parsePasswd } from './accounts.js';
import type { AccountFiles } from './accounts.js';
import { sudoersDropin } from './sudo.js';

/** Each account file with the mode and owner it gets when the target lacks it. */
const FILES: ReadonlyArray<{ key: keyof AccountFiles; path: string; mode: number; group?: string; secret?: boolean }> = [
  { key: 'passwd', path: '/etc/passwd', mode: 0o644 },
  { key: 'group', path: '/etc/group', mode: 0o644 },
  { key: 'shadow', path: '/etc/shadow', mode: 0o640, group: 'shadow', secret: true },
  { key: 'gshadow', path: '/etc/gshadow', mode: 0o640, group: 'shadow', secret: true },
  { key: 'subuid', path: '/etc/subuid', mode: 0o644 },
  { key: 'subgid', path: '/etc/subgid', mode: 0o644 },
];

/** The target's users and groups as they will be after this step, and the config's users' homes. */
export interface Accounts {
  users: ReadonlyMap<string, number>;
  groups: ReadonlyMap<string, number>;
  /** By user name; `made`: missing in the target, this plan makes it. */
  homes: ReadonlyMap<string, { home: string; uid: number; gid: number; made?: boolean }>;
}

/** For owners by name (files) and ~/.ssh (ssh). */
export const ACCOUNTS = factKey<Accounts>('accounts');

export const usersStep: Step = {
  name: 'users',
  sections: ['users', 'groups'],
  provides: [ACCOUNTS],
  plan(ctx: StepContext): StepOutput {
    const { root, config } = ctx;
    const actions: Action[] = [];
    const problems: Problem[] = [];
    const warnings: string[] = [];
    const users = config.users ?? [];
    const groups = config.groups ?? [];
    const input: AccountFiles = {
      passwd: root.readText('/etc/passwd') ?? '',
      shadow: root.readText('/etc/shadow') ?? '',
      group: root.readText('/etc/group') ?? '',
    };
    for (const key of ['gshadow', 'subuid', 'subgid'] as const) {
      const text = root.readText(`/etc/${key}`);
      if (text !== undefined) input[key] = text;
    }
    const loginDefs = root.readText('/etc/login.defs');
    if (loginDefs !== undefined) input.loginDefs = loginDefs;
    const useradd = root.readText('/etc/default/useradd');
    if (useradd !== undefined) input.useraddDefaults = useradd;

    const result = applyAccounts(input, {
      groups,
      users: users.map((u) => withHash(u, input.shadow)),
      today: ctx.today,
    });
    problems.push(...result.problems.map((p) => ({ path: p.path, message: p.message })));
    const groupIds = result.groupIds;
    for (const f of FILES) {
      const after = result.files[f.key];
      if (after === undefined || after === input[f.key]) continue;
      const e = root.entry(f.path);
      const owner = e.type === 'file' ? { mode: e.mode, uid: e.uid, gid: e.gid } : { mode: f.mode, uid: 0, gid: f.group !== undefined ? groupIds.get(f.group) ?? 0 : 0 };
      actions.push({ kind: 'file', path: f.path, data: Buffer.from(after), ...owner, secret: f.secret, step: 'users', why: `account database ${f.path}` });
    }

    const homes = new Map<string, { home: string; uid: number; gid: number; made?: boolean }>();
    const defs = parseLoginDefs(loginDefs);
    for (const d of result.deleted) actions.push(...removalActions(root, d, result.files.passwd, loginDefs, warnings));
    const resolved = new Map<string, (typeof result.users)[number]>();
    for (const r of result.users) if (!resolved.has(r.name)) resolved.set(r.name, r);
    let skel: SkelEntry[] | undefined;
    const shells = new Map<string, boolean>();
    users.forEach((u, i) => {
      if (u.state === 'absent') return;
      const r = resolved.get(u.name);
      if (r === undefined) return;
      const home: { home: string; uid: number; gid: number; made?: boolean } = { home: r.home, uid: r.uid, gid: r.gid };
      homes.set(r.name, home);
      let shellExists = shells.get(r.shell);
      if (shellExists === undefined) shells.set(r.shell, (shellExists = root.exists(r.shell)));
      if (!shellExists) {
        problems.push({ path: ['users', i, 'shell'], message: `the shell ${r.shell} does not exist in the target`, hint: 'install it in the image, or choose one that exists (e.g. /bin/sh)' });
      }
      const wantsHome = u.system !== true || u.home !== undefined;
      if (wantsHome && root.entry(r.home).type === 'missing') {
        home.made = true;
        actions.push({ kind: 'dir', path: r.home, mode: defs.HOME_MODE, uid: r.uid, gid: r.gid, step: 'users', why: `home of ${r.name}` });
        skel ??= readSkel(root);
        for (const action of skelActions(skel, r.home, r.uid, r.gid, r.name)) actions.push(action);
      }
      const sudo = sudoersDropin(r.name, u.sudo);
      if (sudo !== undefined) {
        actions.push({ kind: 'file', path: sudo.path, data: Buffer.from(sudo.text), mode: 0o440, uid: 0, gid: 0, step: 'users', why: `sudo rule for ${r.name}` });
      }
      if (u.password !== undefined) warnings.push(`users[${i}] (${r.name}): a plain-text password was given; it is stored only as a SHA-512 crypt hash`);
    });
    return { actions, problems, warnings, report: { accounts: result.changes }, provides: [provide(ACCOUNTS, { users: result.userIds, groups: result.groupIds, homes })] };
  },
};

/**
 * The hash to store for a user. A plain-text password that the stored hash already
 * matches keeps that hash: hashing again (with a new salt) would change /etc/shadow on
 * every run.
 */
function withHash(u: User, shadow: string): User & { hash?: string } {
  const out: User & { hash?: string } = { ...u };
  delete out.password;
  if (u.password_hash !== undefined) out.hash = u.password_hash;
  else if (u.password !== undefined) {
    const current = shadowHash(shadow, u.name);
    out.hash = current !== undefined && verifyPassword(u.password, current) ? current : hashPassword(u.password);
  }
  return out;
}

function shadowHash(shadow: string, name: string): string | undefined {
  for (const line of shadow.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name) return fields[1];
  }
  return undefined;
}

/**
 * What userdel --remove deletes besides the account entries: the home with everything in
 * it and the mail spool MAIL_DIR/NAME, each only when the user owns it, and the home not
 * when it is "/" or another remaining user's home (userdel keeps those too). One absent
 * action per node, deepest first, so the journal records each one and a rollback puts
 * the tree back. A home the user does not own is kept with a warning; userdel keeps it
 * too but exits 12, which fails Ignition's whole run.
 */
function removalActions(root: TargetRoot, d: DeletedUser, passwdAfter: string, loginDefs: string | undefined, warnings: string[]): Action[] {
  const out: Action[] = [];
  const why = `userdel --remove ${d.name}`;
  const home = root.entry(d.home);
  const shared = parsePasswd(passwdAfter).find((p) => p.home === d.home);
  if (home.type === 'dir' && d.home !== '/' && d.home.startsWith('/')) {
    if (shared !== undefined) warnings.push(`user ${d.name} is deleted; its home ${d.home} is kept: it is also the home of ${shared.name}`);
    else if (home.uid !== d.uid) warnings.push(`user ${d.name} is deleted; its home ${d.home} is kept: it belongs to uid ${home.uid}, not to ${d.name} (userdel keeps it too)`);
    else {
      const walk = (path: string, depth: number): void => {
        if (depth > 64) return; // deeper than any home: the folder's own removal then fails and rolls back
        if (root.entry(path).type === 'dir') for (const name of root.list(path)) walk(`${path}/${name}`, depth + 1);
        out.push({ kind: 'absent', path, step: 'users', why });
      };
      walk(d.home, 0);
    }
  }
  const spool = `${mailDir(loginDefs)}/${d.name}`;
  const e = root.entry(spool);
  if (e.type !== 'missing' && e.uid === d.uid) out.push({ kind: 'absent', path: spool, step: 'users', why });
  return out;
}

/** MAIL_DIR of login.defs (Debian: /var/mail), as userdel reads it; /var/mail when unset. */
function mailDir(loginDefs: string | undefined): string {
  const m = /^[ \t]*MAIL_DIR[ \t]+"?([^\s"]+)/m.exec(loginDefs ?? '');
  return (m?.[1] ?? '/var/mail').replace(/\/+$/, '');
}

/** What is in the target's /etc/skel, relative to it; read once however many homes are made. */
interface SkelEntry {
  rel: string;
  entry: ReturnType<TargetRoot['entry']>;
  data?: Buffer;
}

function readSkel(root: TargetRoot): SkelEntry[] {
  const out: SkelEntry[] = [];
  const walk = (rel: string, depth: number) => {
    if (depth > 16) return;
    for (const name of root.list(`/etc/skel${rel}`)) {
      const r = `${rel}/${name}`;
      const e = root.entry(`/etc/skel${r}`);
      if (e.type === 'file') out.push({ rel: r, entry: e, data: root.readFile(`/etc/skel${r}`) ?? Buffer.alloc(0) });
      else if (e.type === 'dir') {
        out.push({ rel: r, entry: e });
        walk(r, depth + 1);
      } else if (e.type === 'symlink') out.push({ rel: r, entry: e });
    }
  };
  walk('', 0);
  return out;
}

/** A copy of the target's /etc/skel into a new home, owned by the user (the file contents shared, not copied). */
function skelActions(skel: readonly SkelEntry[], home: string, uid: number, gid: number, user: string): Action[] {
  const out: Action[] = [];
  for (const { rel, entry: e, data } of skel) {
    const dst = `${home}${rel}`;
    const why = `/etc/skel${rel} for ${user}`;
    if (e.type === 'file') out.push({ kind: 'file', path: dst, data: data!, mode: e.mode, uid, gid, step: 'users', why });
    else if (e.type === 'dir') out.push({ kind: 'dir', path: dst, mode: e.mode, uid, gid, step: 'users', why });
    else if (e.type === 'symlink') out.push({ kind: 'symlink', path: dst, target: e.target, uid, gid, step: 'users', why });
  }
  return out;
}
