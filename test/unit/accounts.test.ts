import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  applyAccounts, parseGroup, parseLoginDefs, parsePasswd,
  type AccountFiles, type AccountRequest, type AccountResult,
} from '../../src/steps/users/accounts.js';
import { mergeSortGlibc } from '../../src/steps/users/accounts-files.js';
import { expireToDays, parseUseraddDefaults } from '../../src/steps/users/accounts-defs.js';
import { findFreeSubRange, findNewId } from '../../src/steps/users/accounts-ids.js';

/**
 * Fixture: a stock Debian 12 /etc (base system + openssh-server + postgresql),
 * copied from a Debian 12 machine. The one local user was removed; root's
 * password is a dummy yescrypt-shaped string, every other account is locked.
 */
const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'accounts', 'debian12');
const DAY = 20000; // 2024-10-04
const HASH = '$6$fixturesalt$Q8v0P1aSecretLookingHashThatMustNeverLeakIntoReportsOrErrors0123456789abcdefghijklmnopqrstu';

function fixtureFiles(): Required<Pick<AccountFiles, 'passwd' | 'shadow' | 'group' | 'gshadow' | 'subuid' | 'subgid' | 'loginDefs' | 'useraddDefaults'>> {
  const read = (p: string) => readFileSync(join(FIXTURE, 'etc', p), 'utf8');
  return {
    passwd: read('passwd'), shadow: read('shadow'), group: read('group'), gshadow: read('gshadow'),
    subuid: read('subuid'), subgid: read('subgid'), loginDefs: read('login.defs'), useraddDefaults: read('default/useradd'),
  };
}

function req(partial: Partial<AccountRequest>): AccountRequest {
  return { groups: [], users: [], today: DAY, ...partial };
}

/** Lines of `after` that are not in `before` (as a multiset), in order. */
function added(before: string, after: string): string[] {
  const pool = before.split('\n');
  const out: string[] = [];
  for (const line of after.split('\n')) {
    const k = pool.indexOf(line);
    if (k >= 0) pool.splice(k, 1);
    else out.push(line);
  }
  return out;
}

function line(text: string | undefined, name: string): string | undefined {
  return (text ?? '').split('\n').find((l) => l.startsWith(`${name}:`));
}

function expectIdempotent(request: AccountRequest, first: AccountResult): void {
  const second = applyAccounts(first.files, request);
  expect(second.problems).toEqual([]);
  expect(second.changes).toEqual([]);
  expect(second.files).toEqual(first.files);
  expect(second.users.map((u) => ({ ...u, created: false }))).toEqual(first.users.map((u) => ({ ...u, created: false })));
}

function expectNoLeak(result: AccountResult, secret: string): void {
  const text = JSON.stringify({ changes: result.changes, problems: result.problems, users: result.users });
  expect(text).not.toContain(secret);
  // Not even a recognisable piece of it.
  expect(text).not.toContain(secret.slice(3, 20));
}

// ---------------------------------------------------------------------------
// The oracle: the real shadow-utils on this machine, run with --prefix on a copy
// of the fixture. Runs where useradd is available and we are root (Debian 12 CI
// image); elsewhere the recorded expectations below still pin the behaviour.
// ---------------------------------------------------------------------------
function oracleAvailable(): boolean {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return false;
  if (!existsSync('/usr/sbin/useradd')) return false;
  try {
    const help = execFileSync('/usr/sbin/useradd', ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const version = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'passwd'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return help.includes('--prefix') && version.startsWith('1:4.13');
  } catch {
    return false;
  }
}
const ORACLE = oracleAvailable();
const tmpDirs: string[] = [];
afterAll(() => { for (const d of tmpDirs) rmSync(d, { recursive: true, force: true }); });

type Tool = 'useradd' | 'usermod' | 'groupadd' | 'userdel' | 'groupdel';
/**
 * Copy the fixture, let `setup` edit it, run the tools, return before/after.
 * useradd gets -l so the host's lastlog/faillog are never touched.
 */
function runOracle(setup: (etc: string) => void, commands: Array<[Tool, ...string[]]>): { before: AccountFiles; after: AccountFiles } {
  const dir = mkdtempSync(join(tmpdir(), 'flint-accounts-'));
  tmpDirs.push(dir);
  cpSync(FIXTURE, dir, { recursive: true });
  const etc = join(dir, 'etc');
  setup(etc);
  const read = (): AccountFiles => {
    const get = (p: string) => existsSync(join(etc, p)) ? readFileSync(join(etc, p), 'utf8') : undefined;
    const files: AccountFiles = { passwd: get('passwd') ?? '', shadow: get('shadow') ?? '', group: get('group') ?? '' };
    for (const [key, p] of [['gshadow', 'gshadow'], ['subuid', 'subuid'], ['subgid', 'subgid'], ['loginDefs', 'login.defs'], ['useraddDefaults', 'default/useradd']] as const) {
      const v = get(p);
      if (v !== undefined) files[key] = v;
    }
    return files;
  };
  const before = read();
  for (const [tool, ...args] of commands) {
    const extra = tool === 'useradd' ? ['-l'] : [];
    execFileSync(`/usr/sbin/${tool}`, ['--prefix', dir, ...extra, ...args], {
      env: { ...process.env, SOURCE_DATE_EPOCH: String(DAY * 86400) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }
  return { before, after: read() };
}

function expectSameFiles(ours: AccountFiles, oracle: AccountFiles): void {
  for (const key of ['passwd', 'shadow', 'group', 'gshadow', 'subuid', 'subgid'] as const) {
    expect({ file: key, text: ours[key] }).toEqual({ file: key, text: oracle[key] });
  }
}

describe('applyAccounts: new user with defaults (useradd -m -s /bin/bash -G sudo admin)', () => {
  const input = fixtureFiles();
  const request = req({ users: [{ name: 'admin', shell: '/bin/bash', groups: ['sudo'] }] });
  const result = applyAccounts(input, request);

  it('writes exactly the lines Debian 12 useradd writes', () => {
    expect(result.problems).toEqual([]);
    expect(added(input.passwd, result.files.passwd)).toEqual(['admin:x:1000:1000::/home/admin:/bin/bash']);
    expect(added(input.shadow, result.files.shadow)).toEqual(['admin:!:20000:0:99999:7:::']);
    expect(added(input.group, result.files.group)).toEqual(['sudo:x:27:admin', 'admin:x:1000:']);
    expect(added(input.gshadow, result.files.gshadow ?? '')).toEqual(['sudo:*::admin', 'admin:!::']);
    expect(result.files.subuid).toBe('admin:100000:65536\n');
    expect(result.files.subgid).toBe('admin:100000:65536\n');
    // Appended at the end; everything else is untouched.
    expect(result.files.passwd).toBe(`${input.passwd}admin:x:1000:1000::/home/admin:/bin/bash\n`);
    expect(result.files.group).toBe(`${input.group.replace('\nsudo:x:27:\n', '\nsudo:x:27:admin\n')}admin:x:1000:\n`);
  });

  it('resolves the user and reports the changes', () => {
    expect(result.users).toEqual([{ name: 'admin', uid: 1000, gid: 1000, home: '/home/admin', shell: '/bin/bash', created: true }]);
    expect(result.userIds.get('admin')).toBe(1000);
    expect(result.userIds.get('root')).toBe(0);
    expect(result.userIds.get('nobody')).toBe(65534);
    expect(result.groupIds.get('admin')).toBe(1000);
    expect(result.groupIds.get('sudo')).toBe(27);
    expect(result.changes).toEqual([
      'add group admin (gid 1000)',
      'add user admin (uid 1000)',
      'add subordinate uids 100000-165535 for admin',
      'add subordinate gids 100000-165535 for admin',
      'add admin to group sudo',
    ]);
  });

  it('leaves login.defs and /etc/default/useradd as they were', () => {
    expect(result.files.loginDefs).toBe(input.loginDefs);
    expect(result.files.useraddDefaults).toBe(input.useraddDefaults);
  });

  it('is idempotent', () => expectIdempotent(request, result));

  it.skipIf(!ORACLE)('oracle: matches useradd --prefix line for line', () => {
    const { before, after } = runOracle(() => {}, [['useradd', '-m', '-s', '/bin/bash', '-G', 'sudo', 'admin']]);
    expect(before.passwd).toBe(input.passwd);
    expectSameFiles(result.files, after);
  });
});

describe('applyAccounts: system users', () => {
  const input = fixtureFiles();
  const request = req({ users: [{ name: 'svc', system: true, shell: '/usr/sbin/nologin' }] });
  const result = applyAccounts(input, request);

  it('takes uid and gid from the system range, top down, and no subordinate ids', () => {
    // uids 101 and 102 (postgres, sshd) are used, so "lowest used - 1" is below
    // SYS_UID_MIN: the search restarts at SYS_UID_MAX (999). gids 996-999 are used.
    expect(added(input.passwd, result.files.passwd)).toEqual(['svc:x:999:995::/home/svc:/usr/sbin/nologin']);
    expect(added(input.shadow, result.files.shadow)).toEqual(['svc:!:20000::::::']);
    expect(added(input.group, result.files.group)).toEqual(['svc:x:995:']);
    expect(added(input.gshadow, result.files.gshadow ?? '')).toEqual(['svc:!::']);
    expect(result.files.subuid).toBe(input.subuid);
    expect(result.files.subgid).toBe(input.subgid);
  });

  it('does not create missing subuid/subgid files for a system user', () => {
    const { subuid: _u, subgid: _g, ...rest } = input;
    const r = applyAccounts(rest, request);
    expect('subuid' in r.files).toBe(false);
    expect('subgid' in r.files).toBe(false);
  });

  it('is idempotent', () => expectIdempotent(request, result));

  it.skipIf(!ORACLE)('oracle: matches useradd --system', () => {
    const { after } = runOracle(() => {}, [['useradd', '--system', '-s', '/usr/sbin/nologin', 'svc']]);
    expectSameFiles(result.files, after);
  });

  it('takes a preferred gid below SYS_GID_MIN for an explicit system uid', () => {
    const r = applyAccounts(input, req({ users: [{ name: 'low', system: true, uid: 70 }, { name: 'low2', system: true, uid: 60 }] }));
    expect(added(input.passwd, r.files.passwd)).toEqual(['low:x:70:70::/home/low:/bin/sh', 'low2:x:60:995::/home/low2:/bin/sh']);
  });

  it.skipIf(!ORACLE)('oracle: explicit system uids', () => {
    const r = applyAccounts(input, req({ users: [{ name: 'low', system: true, uid: 70 }, { name: 'low2', system: true, uid: 60 }] }));
    const { after } = runOracle(() => {}, [['useradd', '-r', '-u', '70', 'low'], ['useradd', '-r', '-u', '60', 'low2']]);
    expectSameFiles(r.files, after);
  });
});

describe('applyAccounts: groups, explicit ids and a sequence of accounts', () => {
  const input = fixtureFiles();
  const request = req({
    groups: [
      { name: 'media' },
      { name: 'media2', gid: 2000 },
      { name: 'sysg', system: true },
      { name: 'other' },
    ],
    users: [
      { name: 'frank', groups: ['media', 'media2'], primary_group: 'users' },
      { name: 'carol', uid: 1500 },
      { name: 'dave' },
      { name: 'erin', uid: 500 },
      { name: 'sys2', system: true, uid: 50 },
      { name: 'gina', groups: ['2000'], gecos: 'Gina G', home: '/srv/gina', hash: HASH },
    ],
  });
  const result = applyAccounts(input, request);

  it('allocates like groupadd/useradd', () => {
    expect(result.problems).toEqual([]);
    expect(added(input.group, result.files.group)).toEqual([
      'media:x:1000:frank', 'media2:x:2000:frank,gina', 'sysg:x:995:', 'other:x:2001:',
      'carol:x:1500:', 'dave:x:1501:', 'erin:x:2002:', 'sys2:x:994:', 'gina:x:1502:',
    ]);
    expect(added(input.passwd, result.files.passwd)).toEqual([
      'frank:x:1000:100::/home/frank:/bin/sh',
      'carol:x:1500:1500::/home/carol:/bin/sh',
      'dave:x:1501:1501::/home/dave:/bin/sh',
      'erin:x:500:2002::/home/erin:/bin/sh', // uid outside GID_MIN..GID_MAX: gid = highest used + 1
      'sys2:x:50:994::/home/sys2:/bin/sh', // gid 50 (staff) taken
      'gina:x:1502:1502:Gina G:/srv/gina:/bin/sh',
    ]);
    expect(line(result.files.shadow, 'gina')).toBe(`gina:${HASH}:20000:0:99999:7:::`);
    expect(line(result.files.shadow, 'sys2')).toBe('sys2:!:20000::::::');
    // erin's explicit uid is outside UID_MIN..UID_MAX: no subordinate ids.
    expect(result.files.subuid).toBe('frank:100000:65536\ncarol:165536:65536\ndave:231072:65536\ngina:296608:65536\n');
    expect(result.files.subgid).toBe(result.files.subuid);
  });

  it('reports every group and user, never the hash', () => {
    expect(result.changes).toContain('add group media2 (gid 2000)');
    expect(result.changes).toContain('add user gina (uid 1502)');
    expect(result.changes).toContain('set password of gina');
    expect(result.changes).toContain('add frank to groups media, media2');
    expect(result.changes).toContain('add gina to group media2');
    expectNoLeak(result, HASH);
  });

  it('is idempotent', () => expectIdempotent(request, result));

  it.skipIf(!ORACLE)('oracle: matches groupadd/useradd run in the same order', () => {
    const { after } = runOracle(() => {}, [
      ['groupadd', 'media'],
      ['groupadd', '-g', '2000', 'media2'],
      ['groupadd', '-r', 'sysg'],
      ['groupadd', 'other'],
      ['useradd', '-G', 'media,media2', '-g', 'users', 'frank'],
      ['useradd', '-u', '1500', 'carol'],
      ['useradd', 'dave'],
      ['useradd', '-u', '500', 'erin'],
      ['useradd', '-r', '-u', '50', 'sys2'],
      ['useradd', '-G', '2000', '-c', 'Gina G', '-d', '/srv/gina', '-p', HASH, 'gina'],
    ]);
    expectSameFiles(result.files, after);
  });
});

describe('applyAccounts: existing users are updated, never failed', () => {
  const input = fixtureFiles();
  input.passwd += 'alice:x:1000:1000:Alice:/home/alice:/bin/sh\n';
  input.shadow += 'alice:$6$old$hash:19000:0:99999:7:::\n';
  input.group += 'alice:x:1000:\n';
  input.gshadow += 'alice:!::\n';
  input.group = input.group.replace('\nusers:x:100:\n', '\nusers:x:100:bob\n');
  input.gshadow = input.gshadow.replace('\nusers:*::\n', '\nusers:*::bob\n');
  const request = req({
    users: [
      { name: 'root', password_hash: '!' },
      { name: 'alice', groups: ['users', 'sudo'], shell: '/bin/bash', gecos: 'Alice A', uid: 1005, primary_group: 'users', home: '/srv/alice' },
      { name: 'postgres', groups: ['ssl-cert'] }, // already a member: nothing to do
    ],
  });
  const result = applyAccounts(input, request);

  it('changes only the fields given', () => {
    expect(result.problems).toEqual([]);
    expect(line(result.files.passwd, 'alice')).toBe('alice:x:1005:100:Alice A:/srv/alice:/bin/bash');
    expect(line(result.files.shadow, 'alice')).toBe('alice:$6$old$hash:19000:0:99999:7:::');
    expect(line(result.files.group, 'users')).toBe('users:x:100:bob,alice');
    expect(line(result.files.gshadow, 'users')).toBe('users:*::bob,alice');
    expect(line(result.files.group, 'sudo')).toBe('sudo:x:27:alice');
    expect(line(result.files.group, 'ssl-cert')).toBe('ssl-cert:x:103:postgres');
    expect(result.files.passwd.replace(/^alice:.*$/m, '')).toBe(input.passwd.replace(/^alice:.*$/m, ''));
    expect(result.users).toEqual([
      { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash', created: false },
      { name: 'alice', uid: 1005, gid: 100, home: '/srv/alice', shell: '/bin/bash', created: false },
      { name: 'postgres', uid: 101, gid: 104, home: '/var/lib/postgresql', shell: '/bin/bash', created: false },
    ]);
    expect(result.files.subuid).toBe(input.subuid);
  });

  it('locks root as usermod -p "!" does (lastchg becomes today)', () => {
    expect(line(result.files.shadow, 'root')).toBe('root:!:20000:0:99999:7:::');
    expect(result.changes).toContain('lock password of root');
  });

  it('describes each change', () => {
    expect(result.changes).toEqual([
      'lock password of root',
      'change uid of alice from 1000 to 1005',
      'change primary group of alice from 1000 to 100',
      'change gecos of alice',
      'change home of alice from /home/alice to /srv/alice',
      'change shell of alice from /bin/sh to /bin/bash',
      'add alice to groups users, sudo',
    ]);
  });

  it('does not set the same password again (usermod would bump lastchg)', () => {
    const r = applyAccounts(input, req({ users: [{ name: 'alice', password_hash: '$6$old$hash' }] }));
    expect(r.changes).toEqual([]);
    expect(r.files).toEqual(input);
  });

  it('is idempotent', () => expectIdempotent(request, result));

  it.skipIf(!ORACLE)('oracle: matches usermod', () => {
    const { after } = runOracle((etc) => {
      for (const f of ['passwd', 'shadow', 'group', 'gshadow'] as const) writeFileSync(join(etc, f), input[f]);
    }, [
      ['usermod', '-p', '!', 'root'],
      ['usermod', '-u', '1005', '-g', 'users', '-c', 'Alice A', '-d', '/srv/alice', '-s', '/bin/bash', 'alice'],
      ['usermod', '-a', '-G', 'users,sudo', 'alice'],
    ]);
    expectSameFiles(result.files, after);
  });
});

describe('applyAccounts: passwords', () => {
  const input = fixtureFiles();

  it('stores a hash for a new user, and "!"/"*"/"!hash" as given', () => {
    const r = applyAccounts(input, req({
      users: [
        { name: 'a1', hash: HASH },
        { name: 'a2', password_hash: '*' },
        { name: 'a3', password_hash: `!${HASH}` },
        { name: 'a4' },
      ],
    }));
    expect(r.problems).toEqual([]);
    expect(line(r.files.shadow, 'a1')).toBe(`a1:${HASH}:20000:0:99999:7:::`);
    expect(line(r.files.shadow, 'a2')).toBe('a2:*:20000:0:99999:7:::');
    expect(line(r.files.shadow, 'a3')).toBe(`a3:!${HASH}:20000:0:99999:7:::`);
    expect(line(r.files.shadow, 'a4')).toBe('a4:!:20000:0:99999:7:::');
    expect(r.changes).toEqual(expect.arrayContaining(['set password of a1', 'lock password of a2', 'lock password of a3']));
    expect(r.changes.filter((c) => c.includes('a4') && c.includes('password'))).toEqual([]);
    expectNoLeak(r, HASH);
  });

  it('prefers `hash` over `password_hash` and ignores `password`', () => {
    const r = applyAccounts(input, req({ users: [{ name: 'b', hash: HASH, password_hash: '!', password: 'plain-secret' }] }));
    expect(line(r.files.shadow, 'b')).toBe(`b:${HASH}:20000:0:99999:7:::`);
    expect(JSON.stringify(r)).not.toContain('plain-secret');
  });

  it('never writes a hash into /etc/passwd: a non-"x" passwd field moves to shadow', () => {
    const files = { ...input, passwd: input.passwd.replace('root:x:0:0:', 'root::0:0:') };
    const r = applyAccounts(files, req({ users: [{ name: 'root', hash: HASH }] }));
    expect(line(r.files.passwd, 'root')).toBe('root:x:0:0:root:/root:/bin/bash');
    expect(line(r.files.shadow, 'root')).toBe(`root:${HASH}:20000:0:99999:7:::`);
    expectNoLeak(r, HASH);
  });

  it('adds the missing shadow entry of an existing account, as usermod -p does', () => {
    const files = { ...input, passwd: `${input.passwd}ghost:x:1200:1200::/home/ghost:/bin/sh\n` };
    const r = applyAccounts(files, req({ users: [{ name: 'ghost', hash: HASH, groups: ['sudo'] }] }));
    expect(added(files.shadow, r.files.shadow)).toEqual([`ghost:${HASH}:20000:0:99999:7:::`]);
    expect(line(r.files.group, 'sudo')).toBe('sudo:x:27:ghost');
  });

  it('refuses values that would break the files, without echoing the hash', () => {
    const bad = `${HASH}:0:0`;
    const r = applyAccounts(input, req({ users: [{ name: 'x', hash: bad }, { name: 'y', password_hash: '' }, { name: 'z', gecos: 'a:b' }] }));
    expect(r.problems.map((p) => p.path)).toEqual([['users', 0, 'password'], ['users', 1, 'password_hash'], ['users', 2, 'gecos']]);
    expectNoLeak(r, bad);
    expect(r.files.passwd).toBe(input.passwd);
  });

  it('uses day 0 as "no last change" like useradd', () => {
    const r = applyAccounts(input, req({ today: 0, users: [{ name: 'epoch' }] }));
    expect(line(r.files.shadow, 'epoch')).toBe('epoch:!::0:99999:7:::');
  });
});

describe('applyAccounts: problems against the target', () => {
  const input = fixtureFiles();

  it('names a supplementary group that neither exists nor is declared', () => {
    const r = applyAccounts(input, req({ users: [{ name: 'admin', groups: ['sudo', 'wheel'] }] }));
    expect(r.problems).toEqual([{ path: ['users', 0, 'groups', 1], message: expect.stringContaining('"wheel"') }]);
  });

  it('accepts a declared group and the personal group of another config user (even a later one)', () => {
    const r = applyAccounts(input, req({
      groups: [{ name: 'wheel' }],
      users: [{ name: 'alice', groups: ['wheel', 'bob'] }, { name: 'bob' }],
    }));
    expect(r.problems).toEqual([]);
    expect(line(r.files.group, 'bob')).toBe('bob:x:1002:alice');
    expect(line(r.files.group, 'wheel')).toBe('wheel:x:1000:alice');
    expect(r.users.map((u) => [u.name, u.uid, u.gid])).toEqual([['alice', 1000, 1001], ['bob', 1001, 1002]]);
  });

  it('refuses a uid already used by another user', () => {
    const r = applyAccounts(input, req({ users: [{ name: 'admin', uid: 101 }, { name: 'sshd', uid: 0 }] }));
    expect(r.problems).toEqual([
      { path: ['users', 0, 'uid'], message: 'uid 101 is already used by user postgres in the target' },
      { path: ['users', 1, 'uid'], message: 'uid 0 is already used by user root in the target' },
    ]);
    expect(r.files.passwd).toBe(input.passwd);
    expect(r.users[0]).toMatchObject({ name: 'admin', created: false });
  });

  it('refuses a gid conflict for an existing or a new group', () => {
    const r = applyAccounts(input, req({ groups: [{ name: 'sudo', gid: 28 }, { name: 'sudo2', gid: 27 }, { name: 'users', gid: 100 }] }));
    expect(r.problems).toEqual([
      { path: ['groups', 0, 'gid'], message: 'group sudo already exists in the target with gid 27, not 28' },
      { path: ['groups', 1, 'gid'], message: 'gid 27 is already used by group sudo in the target' },
    ]);
  });

  it('refuses a missing primary group (name or gid)', () => {
    const r = applyAccounts(input, req({ users: [{ name: 'a', primary_group: 'nosuch' }, { name: 'b', primary_group: 4242 }, { name: 'root', primary_group: 'nosuch' }] }));
    expect(r.problems.map((p) => p.path)).toEqual([['users', 0, 'primary_group'], ['users', 1, 'primary_group'], ['users', 2, 'primary_group']]);
    expect(r.files.passwd).toBe(input.passwd);
  });

  it('takes a primary group by name or gid, and the own name as "create it"', () => {
    const r = applyAccounts(input, req({ users: [{ name: 'a', primary_group: 'users' }, { name: 'b', primary_group: 100 }, { name: 'c', primary_group: 'c' }] }));
    expect(r.problems).toEqual([]);
    expect(r.users.map((u) => u.gid)).toEqual([100, 100, 1002]);
    expect(line(r.files.group, 'a')).toBeUndefined();
    expect(line(r.files.group, 'c')).toBe('c:x:1002:');
  });

  it('uses a group that already has the user\'s name as its primary group (useradd would refuse)', () => {
    const r = applyAccounts(input, req({ groups: [{ name: 'admin', gid: 1500 }], users: [{ name: 'admin' }] }));
    expect(r.problems).toEqual([]);
    expect(added(input.group, r.files.group)).toEqual(['admin:x:1500:']);
    expect(r.users[0]).toMatchObject({ uid: 1000, gid: 1500 });
  });
});

describe('applyAccounts: subordinate ids', () => {
  const input = fixtureFiles();

  it('takes the first hole of SUB_UID_COUNT ids from SUB_UID_MIN, sorting the file like useradd', () => {
    const files = {
      ...input,
      subuid: 'zed:300000:65536\n# a comment\nyan:100000:65536\nbad line\nxav:165536:1000\n',
      subgid: 'yan:100000:65536\n',
    };
    const r = applyAccounts(files, req({ users: [{ name: 'admin' }] }));
    expect(r.files.subuid).toBe('yan:100000:65536\nxav:165536:1000\nzed:300000:65536\nbad line\n# a comment\nadmin:166536:65536\n');
    expect(r.files.subgid).toBe('yan:100000:65536\nadmin:165536:65536\n');
    expectIdempotent(req({ users: [{ name: 'admin' }] }), r);
  });

  it('creates missing files for a new normal user (useradd would skip them)', () => {
    const { subuid: _u, subgid: _g, ...rest } = input;
    const r = applyAccounts(rest, req({ users: [{ name: 'admin' }] }));
    expect(r.files.subuid).toBe('admin:100000:65536\n');
    expect(r.files.subgid).toBe('admin:100000:65536\n');
    const existing = applyAccounts(rest, req({ users: [{ name: 'root', shell: '/bin/sh' }] }));
    expect('subuid' in existing.files).toBe(false);
  });

  it('keeps an existing range of the same owner and follows SUB_* from login.defs', () => {
    const files = {
      ...input,
      subuid: 'admin:200000:65536\n',
      loginDefs: `${input.loginDefs}SUB_UID_MIN 500000\nSUB_UID_COUNT 1000\nSUB_GID_COUNT 0\n`,
    };
    const r = applyAccounts(files, req({ users: [{ name: 'admin' }, { name: 'bob' }] }));
    expect(r.files.subuid).toBe('admin:200000:65536\nbob:500000:1000\n');
    expect(r.files.subgid).toBe(input.subgid);
  });

  it('reports when no range is free', () => {
    const files = { ...input, subuid: 'big:100000:600000001\n' };
    const r = applyAccounts(files, req({ users: [{ name: 'admin' }] }));
    expect(r.problems).toEqual([{ path: ['users', 0], message: expect.stringContaining('subordinate uids') }]);
  });

  it.skipIf(!ORACLE)('oracle: sorting, unparsable lines and holes match useradd', () => {
    const subuid = 'zed:300000:65536\n# a comment\nyan:100000:65536\nbad line\nxav:165536:1000\n-nis:1:1\nlate:1000:1\n';
    const subgid = '# c1\nq:400000:10\n# c2\np:100000:65536\n# c3\n# c4\n';
    const files = { ...input, subuid, subgid };
    const r = applyAccounts(files, req({ users: [{ name: 'admin' }, { name: 'bob' }] }));
    const { after } = runOracle((etc) => {
      writeFileSync(join(etc, 'subuid'), subuid);
      writeFileSync(join(etc, 'subgid'), subgid);
    }, [['useradd', 'admin'], ['useradd', 'bob']]);
    expectSameFiles(r.files, after);
  });
});

describe('applyAccounts: preserving the files', () => {
  const input = fixtureFiles();

  it('adds a newline to a file that lacked one, before the new line', () => {
    const files = { ...input, passwd: input.passwd.slice(0, -1), group: input.group.slice(0, -1), gshadow: input.gshadow.slice(0, -1) };
    const r = applyAccounts(files, req({ users: [{ name: 'admin' }] }));
    expect(r.files.passwd).toBe(`${input.passwd}admin:x:1000:1000::/home/admin:/bin/sh\n`);
    expect(r.files.group).toBe(`${input.group}admin:x:1000:\n`);
    expect(r.files.gshadow).toBe(`${input.gshadow}admin:!::\n`);
    expect(r.files.shadow).toBe(`${input.shadow}admin:!:20000:0:99999:7:::\n`);
  });

  it('leaves unchanged files byte-identical, even without a final newline', () => {
    const files = { ...input, passwd: input.passwd.slice(0, -1), shadow: `${input.shadow}# trailing comment` };
    const r = applyAccounts(files, req({ groups: [{ name: 'media' }] }));
    expect(r.files.passwd).toBe(files.passwd);
    expect(r.files.shadow).toBe(files.shadow);
    expect(r.files.subuid).toBe(files.subuid);
  });

  it('keeps comments, blank lines and unknown lines, and inserts before NIS "+" lines', () => {
    const files = {
      ...input,
      passwd: `# comment\n${input.passwd}\nnot a passwd line\n+@netgroup::::::\n-baduser::::::\n`,
      group: `${input.group}+:::\n`,
    };
    const r = applyAccounts(files, req({ users: [{ name: 'admin', groups: ['postgres'] }] }));
    expect(r.files.passwd).toBe(`# comment\n${input.passwd}\nnot a passwd line\nadmin:x:1000:1000::/home/admin:/bin/sh\n+@netgroup::::::\n-baduser::::::\n`);
    expect(r.files.group).toBe(`${input.group.replace('\npostgres:x:104:\n', '\npostgres:x:104:admin\n')}admin:x:1000:\n+:::\n`);
  });

  it('replaces a stale shadow/gshadow entry of the new name in place, and keeps odd member lists', () => {
    const files = {
      ...input,
      shadow: `${input.shadow}stale:$6$a$b:1:2:3:4:5:6:\n`,
      gshadow: `${input.gshadow.replace(/^sudo:.*\n/m, '')}stale:!:adm:mem\n`,
      group: input.group.replace('\nsudo:x:27:\n', '\nsudo:x:27:a,,b,\n'),
    };
    const r = applyAccounts(files, req({ users: [{ name: 'stale', groups: ['sudo'] }] }));
    expect(line(r.files.shadow, 'stale')).toBe('stale:!:20000:0:99999:7:::');
    expect(r.files.shadow.split('\n').length).toBe(files.shadow.split('\n').length);
    expect(line(r.files.gshadow, 'stale')).toBe('stale:!::');
    expect(line(r.files.group, 'sudo')).toBe('sudo:x:27:a,,b,stale');
  });

  it('without gshadow: leaves it absent; useradd\'s group gets "!", groupadd\'s "x"', () => {
    const { gshadow: _gs, ...rest } = input;
    const r = applyAccounts(rest, req({ groups: [{ name: 'media' }], users: [{ name: 'admin', groups: ['media'] }] }));
    expect('gshadow' in r.files).toBe(false);
    expect(added(rest.group, r.files.group)).toEqual(['media:x:1000:admin', 'admin:!:1001:']);
  });

  it.skipIf(!ORACLE)('oracle: odd files give the same result as useradd', () => {
    const passwd = `# comment\n${input.passwd}\n+@netgroup::::::\n-baduser::::::\nghost:x:1200:1200::/home/ghost:/bin/sh`;
    const shadow = `${input.shadow}stale:$6$a$b:1:2:3:4:5:6:\n# comment\n+::::::::`;
    const group = `${input.group.replace('\nsudo:x:27:\n', '\nsudo:x:27:a,,b,\n')}+:::\n`;
    const gshadow = input.gshadow.slice(0, -1);
    const r = applyAccounts({ ...input, passwd, shadow, group, gshadow }, req({
      users: [{ name: 'stale', groups: ['sudo', 'postgres'] }, { name: 'ghost', hash: HASH, groups: ['sudo'] }],
    }));
    const { after } = runOracle((etc) => {
      writeFileSync(join(etc, 'passwd'), passwd);
      writeFileSync(join(etc, 'shadow'), shadow);
      writeFileSync(join(etc, 'group'), group);
      writeFileSync(join(etc, 'gshadow'), gshadow);
    }, [['useradd', '-G', 'sudo,postgres', 'stale'], ['usermod', '-p', HASH, 'ghost'], ['usermod', '-a', '-G', 'sudo', 'ghost']]);
    expectSameFiles(r.files, after);
  });

  it.skipIf(!ORACLE)('oracle: no gshadow, custom /etc/default/useradd', () => {
    const useraddDefaults = 'HOME=/srv/home/\nINACTIVE=30\nEXPIRE=2030-01-02\nSHELL=/bin/bash\n';
    const { gshadow: _gs, ...rest } = input;
    const r = applyAccounts({ ...rest, useraddDefaults }, req({ groups: [{ name: 'media' }, { name: 'sysg', system: true }], users: [{ name: 'admin', groups: ['media'] }, { name: 'svc', system: true }] }));
    const { after } = runOracle((etc) => {
      rmSync(join(etc, 'gshadow'));
      writeFileSync(join(etc, 'default', 'useradd'), useraddDefaults);
    }, [['groupadd', 'media'], ['groupadd', '-r', 'sysg'], ['useradd', '-G', 'media', 'admin'], ['useradd', '-r', 'svc']]);
    expectSameFiles(r.files, after);
    expect(line(r.files.shadow, 'admin')).toBe('admin:!:20000:0:99999:7:30:21916:');
    expect(line(r.files.passwd, 'admin')).toBe('admin:x:1000:1001::/srv/home//admin:/bin/bash');
  });
});

describe('applyAccounts: defaults files', () => {
  const input = fixtureFiles();

  it('without login.defs: shadow-utils defaults (no ageing), but still a personal group', () => {
    const { loginDefs: _l, ...rest } = input;
    const r = applyAccounts(rest, req({ users: [{ name: 'admin' }] }));
    expect(line(r.files.shadow, 'admin')).toBe('admin:!:20000::::::');
    expect(line(r.files.passwd, 'admin')).toBe('admin:x:1000:1000::/home/admin:/bin/sh');
  });

  it('USERGROUPS_ENAB no: GROUP= of /etc/default/useradd, else 100', () => {
    const loginDefs = input.loginDefs.replace('USERGROUPS_ENAB yes', 'USERGROUPS_ENAB no');
    const r = applyAccounts({ ...input, loginDefs }, req({ users: [{ name: 'a' }] }));
    expect(line(r.files.passwd, 'a')).toBe('a:x:1000:100::/home/a:/bin/sh');
    expect(line(r.files.group, 'a')).toBeUndefined();
    const r2 = applyAccounts({ ...input, loginDefs, useraddDefaults: 'GROUP=staff\n' }, req({ users: [{ name: 'a' }] }));
    expect(line(r2.files.passwd, 'a')).toBe('a:x:1000:50::/home/a:/bin/sh');
  });

  it('without /etc/default/useradd: /home and /bin/sh', () => {
    const { useraddDefaults: _d, ...rest } = input;
    const r = applyAccounts(rest, req({ users: [{ name: 'a' }] }));
    expect(r.users[0]).toMatchObject({ home: '/home/a', shell: '/bin/sh' });
  });

  it('root defaults to /root', () => {
    const r = applyAccounts({ ...input, passwd: input.passwd.replace(/^root:.*\n/, '') }, req({ users: [{ name: 'root', uid: 0, primary_group: 'root' }] }));
    expect(r.users[0]).toMatchObject({ home: '/root', uid: 0, gid: 0, created: true });
  });
});

describe('parseLoginDefs', () => {
  it('reads Debian 12 login.defs', () => {
    expect(parseLoginDefs(fixtureFiles().loginDefs)).toEqual({
      UID_MIN: 1000, UID_MAX: 60000, SYS_UID_MIN: 101, SYS_UID_MAX: 999,
      GID_MIN: 1000, GID_MAX: 60000, SYS_GID_MIN: 101, SYS_GID_MAX: 999,
      SUB_UID_MIN: 100000, SUB_UID_MAX: 600100000, SUB_UID_COUNT: 65536,
      SUB_GID_MIN: 100000, SUB_GID_MAX: 600100000, SUB_GID_COUNT: 65536,
      HOME_MODE: 0o755, UMASK: 0o022, USERGROUPS_ENAB: true,
    });
  });

  it('gives shadow-utils defaults when absent', () => {
    const d = parseLoginDefs(undefined);
    expect(d).toMatchObject({ UID_MIN: 1000, UID_MAX: 60000, SYS_UID_MIN: 101, SYS_UID_MAX: 999, HOME_MODE: 0o755, UMASK: 0o022 });
    expect(d.CREATE_HOME).toBeUndefined();
  });

  it('parses like getdef: base 0 numbers, quotes, last one wins, bad values ignored', () => {
    const d = parseLoginDefs([
      '  UID_MIN   2000  ', 'UID_MIN 3000', 'GID_MIN 0x10', 'HOME_MODE\t"0700"', 'UMASK 077',
      'UID_MAX bogus', '#SYS_UID_MAX 5', 'CREATE_HOME YES', 'USERGROUPS_ENAB no', 'SUB_UID_COUNT 08', 'GID_MAX',
    ].join('\n'));
    expect(d).toMatchObject({
      UID_MIN: 3000, SYS_UID_MAX: 2999, GID_MIN: 16, SYS_GID_MAX: 15, HOME_MODE: 0o700, UMASK: 0o077,
      UID_MAX: 60000, CREATE_HOME: true, USERGROUPS_ENAB: false, SUB_UID_COUNT: 65536, GID_MAX: 60000,
    });
    expect(parseLoginDefs('UMASK 027').HOME_MODE).toBe(0o750);
  });
});

describe('helpers', () => {
  it('parsePasswd/parseGroup skip what shadow-utils cannot parse', () => {
    expect(parsePasswd('root:x:0:0:root:/root:/bin/bash\n# c\n+::::::\nbad:x:1:2\nu:x:1a:2:::\nv:x:5:6:V:/h:/s')).toEqual([
      { name: 'root', uid: 0, gid: 0, gecos: 'root', home: '/root', shell: '/bin/bash' },
      { name: 'v', uid: 5, gid: 6, gecos: 'V', home: '/h', shell: '/s' },
    ]);
    expect(parseGroup('sudo:x:27:a,b\nusers:x:100:\nx:y:\n')).toEqual([
      { name: 'sudo', gid: 27, members: ['a', 'b'] },
      { name: 'users', gid: 100, members: [] },
    ]);
  });

  it('findNewId follows find_new_uid', () => {
    const r = { min: 1000, max: 1005 };
    expect(findNewId([0, 1000, 1002], false, r)).toBe(1003);
    expect(findNewId([1005], false, r)).toBe(1000); // highest + 1 overflows: first free
    expect(findNewId([1000, 1001, 1002, 1003, 1004, 1005], false, r)).toBeUndefined();
    expect(findNewId([], true, { min: 101, max: 999 })).toBe(999);
    expect(findNewId([500, 998], true, { min: 101, max: 999 })).toBe(499);
    expect(findNewId([101, 999], true, { min: 101, max: 999 })).toBe(998);
    expect(findNewId([999], true, { min: 101, max: 999 }, 50)).toBe(50); // preferred below SYS_*_MIN is fine
    expect(findNewId([], false, { min: 1000, max: 60000 }, 500)).toBe(1000); // but not for normal ids
    expect(findNewId([], false, { min: 65535, max: 65536 })).toBe(65536);
  });

  it('findFreeSubRange finds holes', () => {
    expect(findFreeSubRange([], 100000, 600100000, 65536)).toBe(100000);
    expect(findFreeSubRange([{ start: 100000, count: 10 }, { start: 200000, count: 10 }], 100000, 600100000, 65536)).toBe(100010);
    expect(findFreeSubRange([{ start: 100000, count: 65536 }], 100000, 165535, 65536)).toBeUndefined();
    expect(findFreeSubRange([], 10, 5, 1)).toBeUndefined();
  });

  it('mergeSortGlibc splits like glibc msort', () => {
    // shadow-utils' subuid comparator: an unparsed line (null) compares greater than
    // anything, even another unparsed line, so their order depends on the merge pattern.
    const cmp = (a: string, b: string) => (a.startsWith('N') ? 1 : b.startsWith('N') ? -1 : a < b ? -1 : a > b ? 1 : 0);
    expect(mergeSortGlibc(['N1', 'a', 'N2'], cmp)).toEqual(['a', 'N2', 'N1']);
    expect(mergeSortGlibc(['z', 'N1', 'y', 'N2', 'x'], cmp)).toEqual(['x', 'y', 'z', 'N2', 'N1']);
    expect(mergeSortGlibc([3, 1, 2], (a, b) => a - b)).toEqual([1, 2, 3]);
  });

  it('reads /etc/default/useradd and EXPIRE dates like useradd', () => {
    expect(parseUseraddDefaults('SHELL=/bin/zsh\nHOME =/x\nHOME=/u\n# SHELL=/no\nINACTIVE=junk\n')).toEqual({ shell: '/bin/zsh', home: '/u', inactive: -1, expire: '' });
    expect(expireToDays('2030-01-02')).toBe(21916);
    expect(expireToDays('')).toBe(-1);
    expect(expireToDays('010')).toBe(8);
    expect(expireToDays('Jan 2 2030')).toBeUndefined();
  });
});

describe('applyAccounts: state: absent (userdel --remove, groupdel)', () => {
  /** The fixture with bob (in sudo and users, with subordinate ids) and carol, made by flint. */
  function withBob(): AccountFiles {
    const made = applyAccounts(fixtureFiles(), req({ users: [{ name: 'bob', groups: ['sudo', 'users'] }, { name: 'carol' }] }));
    expect(made.problems).toEqual([]);
    return made.files;
  }

  it('removes the user, its memberships, its subordinate ids and its personal group', () => {
    const before = withBob();
    const r = applyAccounts(before, req({ users: [{ name: 'bob', state: 'absent' }] }));
    expect(r.problems).toEqual([]);
    for (const key of ['passwd', 'shadow', 'group', 'gshadow', 'subuid', 'subgid'] as const) expect(r.files[key], key).not.toMatch(/(^|[:,\n])bob(:|,|\n|$)/);
    expect(line(r.files.group, 'sudo')).toBe('sudo:x:27:');
    expect(line(r.files.passwd, 'carol')).toBe(line(before.passwd, 'carol'));
    expect(r.deleted).toEqual([{ name: 'bob', uid: 1000, home: '/home/bob' }]);
    expect(r.changes).toEqual(['delete user bob (uid 1000)', 'delete group bob (gid 1000) with its user']);
    expectIdempotent(req({ users: [{ name: 'bob', state: 'absent' }] }), r);
  });

  it('a user or group that does not exist is nothing to do', () => {
    const input = fixtureFiles();
    const r = applyAccounts(input, req({ users: [{ name: 'nosuch', state: 'absent' }], groups: [{ name: 'nogroup-here', state: 'absent' }] }));
    expect(r.problems).toEqual([]);
    expect(r.changes).toEqual([]);
    expect(r.files.passwd).toBe(input.passwd);
  });

  it('a personal group with other members stays, as userdel keeps it', () => {
    const before = applyAccounts(withBob(), req({ users: [{ name: 'carol', groups: ['bob'] }] })).files;
    const r = applyAccounts(before, req({ users: [{ name: 'bob', state: 'absent' }] }));
    expect(line(r.files.group, 'bob')).toBe('bob:x:1000:carol');
  });

  it('groupdel: the group goes with its members; a primary group is refused', () => {
    const before = withBob();
    const r = applyAccounts(before, req({ groups: [{ name: 'users', state: 'absent' }, { name: 'carol', state: 'absent' }] }));
    expect(line(r.files.group, 'users')).toBeUndefined();
    expect(line(r.files.gshadow, 'users')).toBeUndefined();
    expect(r.problems).toEqual([{ path: ['groups', 1, 'state'], message: 'group carol cannot be deleted: it is the primary group of user carol' }]);
  });

  it('a user and its group deleted together: the user first, so the group is free', () => {
    const r = applyAccounts(withBob(), req({ users: [{ name: 'carol', state: 'absent' }], groups: [{ name: 'carol', state: 'absent' }] }));
    expect(r.problems).toEqual([]);
    expect(line(r.files.group, 'carol')).toBeUndefined();
  });

  it.skipIf(!ORACLE)('oracle: matches userdel and groupdel --prefix line for line', () => {
    const { before, after } = runOracle((etc) => {
      const dir = join(etc, '..');
      for (const args of [['-l', '-G', 'sudo,users', 'bob'], ['-l', 'carol'], ['-l', '-G', 'bob', 'dave']]) {
        execFileSync('/usr/sbin/useradd', ['--prefix', dir, ...args], { env: { ...process.env, SOURCE_DATE_EPOCH: String(DAY * 86400) }, stdio: ['ignore', 'pipe', 'pipe'] });
      }
    }, [['userdel', 'bob'], ['userdel', 'carol'], ['groupdel', 'users']]);
    const r = applyAccounts(before, req({ users: [{ name: 'bob', state: 'absent' }, { name: 'carol', state: 'absent' }], groups: [{ name: 'users', state: 'absent' }] }));
    expect(r.problems).toEqual([]);
    expectSameFiles(r.files, after);
  });
});
