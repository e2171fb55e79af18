/**
 * Deleting accounts (`state: absent`, Ignition's shouldExist: false) as shadow-utils 4.13
 * (Debian 12) `userdel --remove` and `groupdel` change the account databases, checked
 * against them with --root (test/unit/accounts.test.ts, the Ignition oracle). Pure:
 * tables in, tables changed. Removing the home and the mail spool is the users step's
 * part (files, so the journal can restore them).
 */
import type { GroupEntry, GshadowEntry, PasswdEntry, ShadowEntry, SubidEntry, Table } from './accounts-files.js';

export interface DeleteDb {
  passwd: Table<PasswdEntry>;
  shadow: Table<ShadowEntry>;
  group: Table<GroupEntry>;
  gshadow: Table<GshadowEntry> | undefined;
  subuid: Table<SubidEntry>;
  subgid: Table<SubidEntry>;
}

/** What was deleted for a user: its home and uid, for the users step to remove the files. */
export interface DeletedUser { name: string; uid: number; home: string }

/**
 * userdel: the passwd and shadow entries, the name in every member (and gshadow admin)
 * list, the subordinate id ranges, and the personal group when userdel would take it
 * (USERGROUPS_ENAB yes, same name and gid, no other members, nobody else's primary group).
 * A user that does not exist is nothing to do (Ignition calls userdel only for one that does).
 */
export function deleteUser(db: DeleteDb, name: string, userGroups: boolean, changes: string[]): DeletedUser | undefined {
  const entry = db.passwd.find(name);
  if (entry === undefined) return undefined;
  db.passwd.remove(name);
  if (db.shadow.find(name)) db.shadow.remove(name);
  dropMember(db, name);
  for (const t of [db.subuid, db.subgid]) while (t.find(name)) t.remove(name);
  changes.push(`delete user ${name} (uid ${entry.uid})`);
  if (userGroups) deletePersonalGroup(db, entry, changes);
  return { name, uid: entry.uid, home: entry.home };
}

function dropMember(db: DeleteDb, name: string): void {
  for (const g of db.group.entries()) {
    if (!g.members.includes(name)) continue;
    g.members = g.members.filter((m) => m !== name);
    db.group.touch(g);
  }
  for (const g of db.gshadow?.entries() ?? []) {
    if (!g.members.includes(name) && !g.admins.includes(name)) continue;
    g.members = g.members.filter((m) => m !== name);
    g.admins = g.admins.filter((m) => m !== name);
    db.gshadow?.touch(g);
  }
}

/** remove_usergroup(): userdel keeps the group when any of its conditions fails, silently for the config. */
function deletePersonalGroup(db: DeleteDb, user: PasswdEntry, changes: string[]): void {
  const g = db.group.find(user.name);
  if (g === undefined || g.gid !== user.gid || g.members.length > 0) return;
  if (db.passwd.entries().some((p) => p.gid === g.gid)) return;
  removeGroupEntries(db, g.name);
  changes.push(`delete group ${g.name} (gid ${g.gid}) with its user`);
}

function removeGroupEntries(db: DeleteDb, name: string): void {
  db.group.remove(name);
  if (db.gshadow?.find(name)) db.gshadow.remove(name);
}

/**
 * groupdel: the group and gshadow entries. The primary group of a user is refused, as
 * groupdel refuses it ("cannot remove the primary group of user"); a missing group is
 * nothing to do. Returns the problem, if any.
 */
export function deleteGroup(db: DeleteDb, name: string, changes: string[]): string | undefined {
  const g = db.group.find(name);
  if (g === undefined) return undefined;
  const owner = db.passwd.entries().find((p) => p.gid === g.gid);
  if (owner !== undefined) return `group ${name} cannot be deleted: it is the primary group of user ${owner.name}`;
  removeGroupEntries(db, name);
  changes.push(`delete group ${name} (gid ${g.gid})`);
  return undefined;
}
