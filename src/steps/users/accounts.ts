/**
 * Users and groups: edit the target's account databases exactly as
 * shadow-utils 4.13 (Debian 12) useradd, usermod -a -G and groupadd would,
 * without running them. Pure: file contents in, file contents out, no file
 * system access, no processes.
 *
 * Order, as Ignition runs the tools (docs/peers/ignition.md §2.8, §5.1): all
 * declared groups (groupadd), then every user in config order (useradd for a
 * new one, usermod for an existing one). Supplementary memberships are
 * applied after all users exist, so a user may name the personal group of a
 * user listed after it; the resulting files are the same as useradd's
 * whenever useradd would have succeeded.
 *
 * Verified line for line against useradd/usermod/groupadd --prefix (see
 * test/unit/accounts.test.ts). Deliberate differences from the tools, each
 * because flint's config promises something else or the tool's behaviour is
 * unsafe:
 * - A new user whose name is already a group (declared in the config or
 *   present in the target) gets that group as its primary group; useradd
 *   refuses ("group X exists - if you want to add this user to that group,
 *   use -g"). primary_group naming the user's own, not yet existing group
 *   means the default (create it); useradd -g would refuse.
 * - Supplementary groups are only ever added (usermod -a -G), never removed;
 *   Ignition replaces the list.
 * - A password equal to the stored one is not set again, so lastchg stays
 *   (usermod -p would set lastchg to today on every run); this keeps a
 *   second run free of changes.
 * - usermod -p writes the hash into /etc/passwd itself when the passwd
 *   field is not "x" (e.g. "root::0:0:..."); flint never puts a hash in the
 *   world-readable passwd: it sets the passwd field to "x" and stores the
 *   hash in /etc/shadow (adding an entry when there is none, as usermod does
 *   for an "x" account).
 * - /etc/subuid and /etc/subgid are created when missing and a new normal
 *   user gets ranges (rootless Podman needs them); useradd skips them when
 *   the files do not exist.
 * - USERGROUPS_ENAB and SHELL= default to yes and /bin/sh when missing
 *   (see accounts-defs.ts).
 * - An empty password hash is refused (it would allow login without a
 *   password); useradd -p "" stores it.
 */
import type { Problem } from '../../config/diagnostics.js';
import type { Group, User } from '../../config/generated/model.js';
import {
  Table,
  formatGroup, formatGshadow, formatPasswd, formatShadow, formatSubid,
  parseGroupLine, parseGshadowLine, parsePasswdLine, parseShadowLine, parseSubidLine,
  type GroupEntry, type PasswdEntry, type SubidEntry,
} from './accounts-files.js';
import { expireToDays, parseFullLoginDefs, parseUseraddDefaults, type FullLoginDefs, type UseraddDefaults } from './accounts-defs.js';
import { deleteGroup, deleteUser, type DeleteDb, type DeletedUser } from './accounts-delete.js';
import { findNewId, scanFreeSubRange, subRangeCmp, type SubRangeScan } from './accounts-ids.js';

export { parseLoginDefs, type LoginDefs } from './accounts-defs.js';
export { parsePasswd, parseGroup } from './accounts-files.js';

export interface AccountFiles {
  passwd: string; shadow: string; group: string; gshadow?: string;
  subuid?: string; subgid?: string;
  loginDefs?: string;
  useraddDefaults?: string;
}

export interface AccountRequest {
  groups: Group[];
  /** `hash` is the crypt string to store; when absent, `password_hash` is used. `password` is ignored. */
  users: Array<User & { hash?: string }>;
  /** Days since 1970-01-01 (shadow lastchg). */
  today: number;
}

export interface AccountUser { name: string; uid: number; gid: number; home: string; shell: string; created: boolean }


export interface AccountResult {
  files: AccountFiles;
  /** Every config user, resolved. A new user that could not be added (see problems) has created: false and -1 for what is unknown. */
  users: AccountUser[];
  /** Users of the config with state: absent that existed and were deleted: their homes go too. */
  deleted: DeletedUser[];
  groupIds: Map<string, number>;
  userIds: Map<string, number>;
  changes: string[];
  problems: Problem[];
}

/** The account tables, as the deletions edit them too. */
type Db = DeleteDb;

interface Ctx {
  db: Db;
  defs: FullLoginDefs;
  useradd: UseraddDefaults;
  today: number;
  changes: string[];
  problems: Problem[];
}

/** The characters that would break a colon-separated line (VALID() in useradd). */
function badField(value: string): boolean {
  return /[:\n\r]/.test(value);
}

function describeHash(hash: string): 'lock' | 'set' {
  return hash === '!' || hash === '*' || hash.startsWith('!') || hash.startsWith('*') ? 'lock' : 'set';
}

/** -1 (unset) is written as an empty field. */
function ageField(value: number): string {
  return value === -1 ? '' : String(value);
}

function lastChange(today: number): string {
  // useradd/usermod: "Better disable aging than requiring a password change" when the day is 0.
  return today === 0 ? '' : String(today);
}

const uidOf = (e: PasswdEntry): number => e.uid;
const gidOf = (e: GroupEntry): number => e.gid;

function groupByGid(db: Db, gid: number): GroupEntry | undefined {
  return db.group.entries().find((g) => g.gid === gid);
}

function userByUid(db: Db, uid: number): PasswdEntry | undefined {
  return db.passwd.entries().find((p) => p.uid === uid);
}

/** prefix_getgr_nam_gid(): an all-digit name is a gid (and only a gid), anything else a name. */
function resolveGroup(db: Db, ref: string | number): GroupEntry | undefined {
  if (typeof ref === 'number') return groupByGid(db, ref);
  if (/^[0-9]+$/.test(ref)) {
    const gid = Number(ref);
    return gid <= 4294967295 ? groupByGid(db, gid) : undefined;
  }
  return ref === '' ? undefined : db.group.find(ref);
}

function uidRange(defs: FullLoginDefs, system: boolean): { min: number; max: number } {
  return system ? { min: defs.SYS_UID_MIN, max: defs.SYS_UID_MAX } : { min: defs.UID_MIN, max: defs.UID_MAX };
}

function gidRange(defs: FullLoginDefs, system: boolean): { min: number; max: number } {
  return system ? { min: defs.SYS_GID_MIN, max: defs.SYS_GID_MAX } : { min: defs.GID_MIN, max: defs.GID_MAX };
}

function rangeText(system: boolean, kind: 'UID' | 'GID', r: { min: number; max: number }): string {
  return system ? `SYS_${kind}_MIN..SYS_${kind}_MAX (${r.min}..${r.max})` : `${kind}_MIN..${kind}_MAX (${r.min}..${r.max})`;
}

/**
 * Add a group entry and its gshadow entry.
 * groupadd writes "x" in /etc/group even without a gshadow file; useradd's
 * own group for a user gets "!" there when there is no gshadow file.
 */
function addGroup(ctx: Ctx, name: string, gid: number, by: 'groupadd' | 'useradd'): void {
  const { db } = ctx;
  db.group.update({ name, passwd: by === 'useradd' && !db.gshadow ? '!' : 'x', gid, members: [] });
  db.gshadow?.update({ name, passwd: '!', admins: [], members: [] });
  ctx.changes.push(`add group ${name} (gid ${gid})`);
}

function applyGroups(ctx: Ctx, groups: Group[]): void {
  const { db, defs, problems } = ctx;
  groups.forEach((g, i) => {
    if (g.state === 'absent') return; // deleted after the users (see applyAccounts)
    if (g.name === '' || badField(g.name) || g.name.includes(',')) {
      problems.push({ path: ['groups', i, 'name'], message: `group name ${JSON.stringify(g.name)} cannot be written to /etc/group` });
      return;
    }
    const existing = db.group.find(g.name);
    if (existing) {
      if (g.gid !== undefined && g.gid !== existing.gid) {
        problems.push({
          path: ['groups', i, 'gid'],
          message: `group ${g.name} already exists in the target with gid ${existing.gid}, not ${g.gid}`,
        });
      }
      return;
    }
    const system = g.system === true;
    let gid: number;
    if (g.gid !== undefined) {
      const other = groupByGid(db, g.gid);
      if (other) {
        problems.push({ path: ['groups', i, 'gid'], message: `gid ${g.gid} is already used by group ${other.name} in the target` });
        return;
      }
      gid = g.gid;
    } else {
      const range = gidRange(defs, system);
      const found = findNewId(db.group.column(gidOf), system, range);
      if (found === undefined) {
        problems.push({ path: ['groups', i], message: `no free gid left for group ${g.name} in ${rangeText(system, 'GID', range)}` });
        return;
      }
      gid = found;
    }
    addGroup(ctx, g.name, gid, 'groupadd');
  });
}

type ConfigUser = User & { hash?: string };

/** Reject values that would corrupt the files; never echoes the password hash. */
function checkUserFields(u: ConfigUser, i: number, problems: Problem[]): boolean {
  const before = problems.length;
  const bad = (field: string, what: string): void => {
    problems.push({ path: ['users', i, field], message: `${what} of user ${JSON.stringify(u.name)} contains ":" or a line break` });
  };
  if (u.name === '' || badField(u.name) || u.name.includes(',')) {
    problems.push({ path: ['users', i, 'name'], message: `user name ${JSON.stringify(u.name)} cannot be written to /etc/passwd` });
    return false;
  }
  if (u.gecos !== undefined && badField(u.gecos)) bad('gecos', 'gecos');
  if (u.home !== undefined) {
    if (badField(u.home)) bad('home', 'home');
    else if (!u.home.startsWith('/')) problems.push({ path: ['users', i, 'home'], message: `home of user ${u.name} must be an absolute path` });
  }
  if (u.shell !== undefined) {
    if (badField(u.shell)) bad('shell', 'shell');
    else if (u.shell !== '' && !u.shell.startsWith('/') && !u.shell.startsWith('*')) {
      problems.push({ path: ['users', i, 'shell'], message: `shell of user ${u.name} must be an absolute path` });
    }
  }
  const hash = passwordOf(u);
  if (hash !== undefined) {
    const field = u.password_hash !== undefined ? 'password_hash' : 'password';
    if (badField(hash)) {
      problems.push({ path: ['users', i, field], message: `password hash of user ${u.name} contains ":" or a line break` });
    } else if (hash === '') {
      problems.push({ path: ['users', i, field], message: `password hash of user ${u.name} is empty, which would allow login without a password; use "!" to lock it` });
    }
  }
  return problems.length === before;
}

function passwordOf(u: ConfigUser): string | undefined {
  return u.hash ?? u.password_hash;
}

/** Resolve `primary_group` to a gid; a problem and undefined when the group is missing. */
function resolvePrimary(ctx: Ctx, u: ConfigUser, i: number, ref: string | number): number | undefined {
  const group = resolveGroup(ctx.db, ref);
  if (group) return group.gid;
  ctx.problems.push({
    path: ['users', i, 'primary_group'],
    message: `primary group ${JSON.stringify(ref)} of user ${u.name} does not exist in the target and is not declared in groups`,
  });
  return undefined;
}

/** useradd. Returns the resolved account; on a problem nothing is written and unknown values are -1. */
function addUser(ctx: Ctx, u: ConfigUser, i: number): AccountUser {
  const { db, defs, useradd, problems } = ctx;
  const system = u.system === true;
  const home = u.home ?? (u.name === 'root' ? '/root' : `${useradd.home}/${u.name}`);
  const shell = u.shell ?? useradd.shell;
  const failed: AccountUser = { name: u.name, uid: u.uid ?? -1, gid: -1, home, shell, created: false };
  const before = problems.length;

  // Non-system accounts copy INACTIVE= and EXPIRE= (system ones leave ageing unset).
  let expire = -1;
  if (!system) {
    const days = expireToDays(useradd.expire);
    if (days === undefined) {
      problems.push({ path: ['users', i], message: `EXPIRE=${useradd.expire} in the target's /etc/default/useradd is not a date flint can read (YYYY-MM-DD)` });
    } else {
      expire = days;
    }
  }

  // 1. uid (find_new_uid, or the given one, which must be free).
  let uid: number | undefined;
  if (u.uid !== undefined) {
    const other = userByUid(db, u.uid);
    if (other) {
      problems.push({ path: ['users', i, 'uid'], message: `uid ${u.uid} is already used by user ${other.name} in the target` });
    } else {
      uid = u.uid;
    }
  } else {
    const range = uidRange(defs, system);
    uid = findNewId(db.passwd.column(uidOf), system, range);
    if (uid === undefined) {
      problems.push({ path: ['users', i], message: `no free uid left for user ${u.name} in ${rangeText(system, 'UID', range)}` });
    }
  }

  // 2. Primary group: the given one, else a new group named after the user
  //    (find_new_gid preferring gid = uid), else GROUP= when USERGROUPS_ENAB is no.
  let gid: number | undefined;
  let personalGroup = false;
  const pg = u.primary_group;
  if (pg !== undefined && !(pg === u.name && !db.group.find(u.name))) {
    gid = resolvePrimary(ctx, u, i, pg);
  } else if (defs.USERGROUPS_ENAB || pg === u.name) {
    const same = db.group.find(u.name);
    if (same) {
      gid = same.gid; // deviation: useradd would refuse, see the top of this file
    } else {
      const range = gidRange(defs, system);
      gid = findNewId(db.group.column(gidOf), system, range, uid);
      if (gid === undefined) {
        problems.push({ path: ['users', i], message: `no free gid left for the group of user ${u.name} in ${rangeText(system, 'GID', range)}` });
      } else {
        personalGroup = true;
      }
    }
  } else {
    // GROUP= of /etc/default/useradd: a group name or gid that must exist, else 100.
    const def = useradd.group === undefined ? undefined : resolveGroup(db, useradd.group);
    gid = def ? def.gid : 100;
  }
  if (uid === undefined || gid === undefined || problems.length > before) {
    return { ...failed, uid: uid ?? failed.uid, gid: gid ?? -1 };
  }

  // 3. Write: group (grp_add), passwd, shadow (usr_update), subordinate ids.
  if (personalGroup) addGroup(ctx, u.name, gid, 'useradd');
  db.passwd.update({ name: u.name, passwd: 'x', uid, gid, gecos: u.gecos ?? '', home, shell });
  const hash = passwordOf(u);
  db.shadow.update({
    name: u.name,
    passwd: hash ?? '!',
    fields: system
      ? [lastChange(ctx.today), '', '', '', '', '', '']
      : [lastChange(ctx.today), ageField(defs.PASS_MIN_DAYS), ageField(defs.PASS_MAX_DAYS), ageField(defs.PASS_WARN_AGE),
        ageField(useradd.inactive), ageField(expire), ''],
  });
  ctx.changes.push(`add user ${u.name} (uid ${uid})`);
  if (hash !== undefined) ctx.changes.push(`${describeHash(hash)} password of ${u.name}`);

  // is_sub_uid/is_sub_gid: not for system accounts, and not for an explicit uid outside UID_MIN..UID_MAX.
  const subEligible = !system && (u.uid === undefined || u.uid === 0 || (uid >= defs.UID_MIN && uid <= defs.UID_MAX));
  if (subEligible) {
    addSubIds(ctx, u.name, i, db.subuid, 'uid', defs.SUB_UID_MIN, defs.SUB_UID_MAX, defs.SUB_UID_COUNT);
    addSubIds(ctx, u.name, i, db.subgid, 'gid', defs.SUB_GID_MIN, defs.SUB_GID_MAX, defs.SUB_GID_COUNT);
  }
  return { name: u.name, uid, gid, home, shell, created: true };
}

function addSubIds(
  ctx: Ctx, name: string, i: number, table: Table<SubidEntry>, kind: 'uid' | 'gid',
  min: number, max: number, count: number,
): void {
  if (count === 0) return;
  const KIND = kind.toUpperCase();
  // find_free_range() sorts the whole file first (and so rewrites it in that order).
  table.sortLines(subRangeCmp);
  const start = freeSubRange(table, min, max, count);
  if (start === undefined) {
    ctx.problems.push({
      path: ['users', i],
      message: `no free range of ${count} subordinate ${kind}s for user ${name} in SUB_${KIND}_MIN..SUB_${KIND}_MAX (${min}..${max})`,
    });
    return;
  }
  if (table.find(name) !== undefined) return; // local_sub_uid_assigned()
  table.append({ owner: name, start, count });
  ctx.changes.push(`add subordinate ${kind}s ${start}-${start + count - 1} for ${name}`);
}

/**
 * findFreeSubRange over the table, resuming where the last search of the same range
 * stopped while the table has only grown at its end since (each new user's search
 * would otherwise walk every range again: quadratic for a fleet).
 */
const subRangeScans = new WeakMap<Table<SubidEntry>, { generation: number; min: number; max: number; count: number; state: SubRangeScan }>();

function freeSubRange(table: Table<SubidEntry>, min: number, max: number, count: number): number | undefined {
  const list = table.entries();
  const last = subRangeScans.get(table);
  const from = last !== undefined && last.generation === table.generation && last.min === min && last.max === max && last.count === count && last.state.next <= list.length ? last.state : undefined;
  const state = scanFreeSubRange(list, min, max, count, from);
  subRangeScans.set(table, { generation: table.generation, min, max, count, state });
  return state.found;
}

/** usermod: only the fields given change. */
function modifyUser(ctx: Ctx, u: ConfigUser, i: number, entry: PasswdEntry): AccountUser {
  const { db, problems, changes } = ctx;
  const before = problems.length;
  const next = { ...entry };
  const what: string[] = [];

  if (u.uid !== undefined && u.uid !== entry.uid) {
    const other = userByUid(db, u.uid);
    if (other) {
      problems.push({ path: ['users', i, 'uid'], message: `uid ${u.uid} is already used by user ${other.name} in the target` });
    } else {
      next.uid = u.uid;
      what.push(`change uid of ${u.name} from ${entry.uid} to ${u.uid}`);
    }
  }
  if (u.primary_group !== undefined) {
    const gid = resolvePrimary(ctx, u, i, u.primary_group);
    if (gid !== undefined && gid !== entry.gid) {
      next.gid = gid;
      what.push(`change primary group of ${u.name} from ${entry.gid} to ${gid}`);
    }
  }
  if (u.gecos !== undefined && u.gecos !== entry.gecos) {
    next.gecos = u.gecos;
    what.push(`change gecos of ${u.name}`);
  }
  if (u.home !== undefined && u.home !== entry.home) {
    next.home = u.home;
    what.push(`change home of ${u.name} from ${entry.home} to ${u.home}`);
  }
  if (u.shell !== undefined && u.shell !== entry.shell) {
    next.shell = u.shell;
    what.push(`change shell of ${u.name} from ${entry.shell} to ${u.shell}`);
  }

  const hash = passwordOf(u);
  const shadow = db.shadow.find(u.name);
  const setPassword = hash !== undefined && (shadow?.passwd !== hash || entry.passwd !== 'x');

  if (problems.length > before) {
    return { name: u.name, uid: entry.uid, gid: entry.gid, home: entry.home, shell: entry.shell, created: false };
  }

  if (setPassword) next.passwd = 'x';
  if (what.length > 0 || next.passwd !== entry.passwd) {
    Object.assign(entry, next);
    db.passwd.touch(entry);
  }
  changes.push(...what);
  if (setPassword && hash !== undefined) {
    if (shadow) {
      shadow.passwd = hash;
      shadow.fields[0] = lastChange(ctx.today);
      db.shadow.touch(shadow);
    } else {
      // usermod creates the missing shadow entry with login.defs ageing.
      const { defs } = ctx;
      db.shadow.update({
        name: u.name,
        passwd: hash,
        fields: [lastChange(ctx.today), ageField(defs.PASS_MIN_DAYS), ageField(defs.PASS_MAX_DAYS), ageField(defs.PASS_WARN_AGE), '', '', ''],
      });
    }
    changes.push(`${describeHash(hash)} password of ${u.name}`);
  }
  return { name: u.name, uid: entry.uid, gid: entry.gid, home: entry.home, shell: entry.shell, created: false };
}

/** useradd -G / usermod -a -G: add the user to each group it is not yet a member of. */
function addMemberships(ctx: Ctx, u: ConfigUser, i: number, declared: ReadonlySet<string>, pending: ReadonlySet<string>): void {
  const { db } = ctx;
  const added: string[] = [];
  (u.groups ?? []).forEach((name, j) => {
    const group = resolveGroup(db, name);
    if (!group) {
      // A declared group or personal group that failed has its own problem already.
      if (declared.has(name) || pending.has(name)) return;
      ctx.problems.push({
        path: ['users', i, 'groups', j],
        message: `group ${JSON.stringify(name)} of user ${u.name} does not exist in the target and is not declared in groups`,
      });
      return;
    }
    if (!db.passwd.find(u.name)) return; // the user itself could not be added
    if (!group.members.includes(u.name)) {
      group.members = [...group.members, u.name];
      db.group.touch(group);
      added.push(group.name);
    }
    // The gshadow entry of the group, when it has one, gets the member too.
    const sg = db.gshadow?.find(group.name);
    if (sg && !sg.members.includes(u.name)) {
      sg.members = [...sg.members, u.name];
      db.gshadow?.touch(sg);
      if (!added.includes(group.name)) added.push(group.name);
    }
  });
  if (added.length > 0) ctx.changes.push(`add ${u.name} to ${added.length === 1 ? 'group' : 'groups'} ${added.join(', ')}`);
}

function firstIds<E>(entries: readonly E[], name: (e: E) => string, id: (e: E) => number): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of entries) if (!out.has(name(e))) out.set(name(e), id(e));
  return out;
}

export function applyAccounts(input: AccountFiles, req: AccountRequest): AccountResult {
  const db: Db = {
    passwd: new Table(input.passwd, parsePasswdLine, formatPasswd, (e) => e.name),
    shadow: new Table(input.shadow, parseShadowLine, formatShadow, (e) => e.name),
    group: new Table(input.group, parseGroupLine, formatGroup, (e) => e.name),
    gshadow: input.gshadow === undefined ? undefined : new Table(input.gshadow, parseGshadowLine, formatGshadow, (e) => e.name),
    subuid: new Table(input.subuid, parseSubidLine, formatSubid, (e) => e.owner),
    subgid: new Table(input.subgid, parseSubidLine, formatSubid, (e) => e.owner),
  };
  const ctx: Ctx = {
    db,
    defs: parseFullLoginDefs(input.loginDefs),
    useradd: parseUseraddDefaults(input.useraddDefaults),
    today: req.today,
    changes: [],
    problems: [],
  };

  applyGroups(ctx, req.groups);

  // Deletions first among the users, so that a name can be freed and its uid taken; the
  // groups to delete after them, so that a deleted user's group is no longer a primary group
  // (Ignition runs groupdel before userdel and fails there).
  const deleted: DeletedUser[] = [];
  for (const u of req.users) {
    if (u.state !== 'absent') continue;
    const d = deleteUser(db, u.name, ctx.defs.USERGROUPS_ENAB, ctx.changes);
    if (d !== undefined) deleted.push(d);
  }
  req.groups.forEach((g, i) => {
    if (g.state !== 'absent') return;
    const problem = deleteGroup(db, g.name, ctx.changes);
    if (problem !== undefined) ctx.problems.push({ path: ['groups', i, 'state'], message: problem });
  });

  const users: AccountUser[] = [];
  const valid: boolean[] = [];
  req.users.forEach((u, i) => {
    if (u.state === 'absent') {
      users.push({ name: u.name, uid: -1, gid: -1, home: '', shell: '', created: false });
      valid.push(false);
      return;
    }
    const ok = checkUserFields(u, i, ctx.problems);
    valid.push(ok);
    if (!ok) {
      users.push({ name: u.name, uid: u.uid ?? -1, gid: -1, home: u.home ?? '', shell: u.shell ?? '', created: false });
      return;
    }
    const existing = db.passwd.find(u.name);
    users.push(existing ? modifyUser(ctx, u, i, existing) : addUser(ctx, u, i));
  });

  const declared = new Set(req.groups.map((g) => g.name));
  // Personal groups that were meant to be created but were not (their user has a problem).
  const pending = new Set(req.users.filter((u, i) => u.state !== 'absent' && !users[i]?.created && !db.passwd.find(u.name)).map((u) => u.name));
  req.users.forEach((u, i) => {
    if (valid[i]) addMemberships(ctx, u, i, declared, pending);
  });

  const files: AccountFiles = {
    ...input,
    passwd: db.passwd.serialize(),
    shadow: db.shadow.serialize(),
    group: db.group.serialize(),
  };
  if (db.gshadow) files.gshadow = db.gshadow.serialize();
  // A missing subuid/subgid file stays missing unless an entry was added to it.
  if (input.subuid !== undefined || db.subuid.isChanged()) files.subuid = db.subuid.serialize();
  if (input.subgid !== undefined || db.subgid.isChanged()) files.subgid = db.subgid.serialize();

  return {
    files,
    users,
    deleted,
    groupIds: firstIds(db.group.entries(), (e) => e.name, (e) => e.gid),
    userIds: firstIds(db.passwd.entries(), (e) => e.name, (e) => e.uid),
    changes: ctx.changes,
    problems: ctx.problems,
  };
}
