/**
 * The engine on plain folders: containment of every path in the root, atomic writes,
 * planning only what differs, and all-or-nothing under a failure at every action and
 * after a crash.
 */
import { stepContext } from '../helpers/step-context.js';
import { chmodSync, chownSync, existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TargetError, TargetRoot } from '../../src/target/root.js';
import { Journal } from '../../src/transaction/journal.js';
import { compare, planSteps } from '../../src/engine/plan.js';
import type { StepContext } from '../../src/engine/step.js';
import type { FlintConfig } from '../../src/config/validate.js';
import { applyPlanned } from '../../src/engine/apply.js';
import type { Action, PlannedAction } from '../../src/engine/actions.js';
import { unifiedDiff } from '../../src/engine/diff.js';

const isRoot = process.getuid?.() === 0;
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'flint-engine-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  delete process.env.FLINT_TEST_FAIL_AT;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Every path under a folder with type, mode, owner, content or link target. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const full = join(dir, rel);
    const st = lstatSync(full);
    const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    if (st.isSymbolicLink()) out[rel] = `link ${readlinkSync(full)} ${st.uid}:${st.gid}`;
    else if (st.isFile()) out[rel] = `file ${meta} ${readFileSync(full).toString('base64')} ino-links ${st.nlink}`;
    else if (st.isDirectory()) {
      out[rel] = `dir ${meta}`;
      for (const n of readdirSync(full)) walk(rel === '' ? n : `${rel}/${n}`);
    }
  };
  walk('');
  return out;
}

function makeTree(): string {
  const root = tmp();
  mkdirSync(join(root, 'etc/ssh'), { recursive: true });
  mkdirSync(join(root, 'home/admin'), { recursive: true, mode: 0o700 });
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(root, 'etc/motd'), 'old motd\n', { mode: 0o644 });
  writeFileSync(join(root, 'etc/ssh/sshd_config'), 'Include /etc/ssh/sshd_config.d/*.conf\n');
  symlinkSync('../usr/share/zoneinfo/UTC', join(root, 'etc/localtime'));
  chmodSync(join(root, 'etc/motd'), 0o640);
  if (isRoot) chownSync(join(root, 'home/admin'), 1000, 1000);
  return root;
}

function actionsFor(): Action[] {
  const s = { step: 'test', why: 'test' };
  return [
    { ...s, kind: 'file', path: '/etc/motd', data: Buffer.from('new motd\n'), mode: 0o644, uid: 0, gid: 0 },
    { ...s, kind: 'dir', path: '/etc/ssh/sshd_config.d', mode: 0o755, uid: 0, gid: 0 },
    { ...s, kind: 'file', path: '/etc/ssh/sshd_config.d/10-flint.conf', data: Buffer.from('PasswordAuthentication no\n'), mode: 0o644, uid: 0, gid: 0 },
    { ...s, kind: 'dir', path: '/home/admin/.ssh', mode: 0o700, uid: isRoot ? 1000 : 0, gid: isRoot ? 1000 : 0 },
    { ...s, kind: 'file', path: '/home/admin/.ssh/authorized_keys', data: Buffer.from('ssh-ed25519 AAAA x\n'), mode: 0o600, uid: isRoot ? 1000 : 0, gid: isRoot ? 1000 : 0 },
    { ...s, kind: 'symlink', path: '/etc/localtime', target: '../usr/share/zoneinfo/Europe/Berlin', uid: 0, gid: 0 },
    { ...s, kind: 'file', path: '/etc/passwd', data: Buffer.from('root:x:0:0:root:/root:/bin/bash\nadmin:x:1000:1000::/home/admin:/bin/sh\n'), mode: 0o644, uid: 0, gid: 0 },
    { ...s, kind: 'hardlink', path: '/etc/motd.link', target: '/etc/motd' },
  ];
}

function plan(root: TargetRoot, actions: Action[]): PlannedAction[] {
  return actions.flatMap((a) => compare(root, a) ?? []);
}

describe.skipIf(!isRoot)(`target root${isRoot ? '' : ' (SKIPPED: needs root for chown)'}`, () => {
  it('keeps every path inside the root, whatever the symlinks in the target say', () => {
    const dir = tmp();
    const outside = tmp();
    writeFileSync(join(outside, 'secret'), 'host file\n');
    mkdirSync(join(dir, 'home/u'), { recursive: true });
    mkdirSync(join(dir, 'root'), { recursive: true });
    symlinkSync('/', join(dir, 'etc')); // etc -> /
    symlinkSync('/root/.ssh', join(dir, 'home/u/.ssh')); // home/u/.ssh -> /root/.ssh
    symlinkSync('../../../../../../..' + outside, join(dir, 'chain1')); // a chain that tries to climb out
    symlinkSync('chain1', join(dir, 'chain2'));
    symlinkSync('loop2', join(dir, 'loop1'));
    symlinkSync('loop1', join(dir, 'loop2'));
    const root = new TargetRoot(dir);
    expect(root.resolve('/etc/passwd')).toBe(join(dir, 'passwd'));
    expect(root.resolve('/home/u/.ssh/authorized_keys')).toBe(join(dir, 'root/.ssh/authorized_keys'));
    expect(root.resolve('/chain2/secret')).toBe(join(dir, outside, 'secret'));
    expect(root.resolve('/../../etc/x')).toBe(join(dir, 'x'));
    expect(() => root.resolve('/loop1/x')).toThrow(/too many symbolic links/);
    root.writeFile('/etc/passwd', Buffer.from('x\n'), 0o644, 0, 0);
    mkdirSync(join(dir, 'root/.ssh'));
    root.writeFile('/home/u/.ssh/authorized_keys', Buffer.from('k\n'), 0o600, 0, 0);
    mkdirSync(join(dir, outside), { recursive: true });
    root.writeFile('/chain2/secret', Buffer.from('changed\n'), 0o600, 0, 0);
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('host file\n');
    expect(readFileSync('/etc/passwd', 'utf8')).not.toBe('x\n');
    expect(readFileSync(join(dir, 'passwd'), 'utf8')).toBe('x\n');
    expect(readFileSync(join(dir, outside, 'secret'), 'utf8')).toBe('changed\n');
  });

  it('replaces a final symlink instead of writing through it', () => {
    const dir = tmp();
    const outside = tmp();
    writeFileSync(join(outside, 'target'), 'host\n');
    symlinkSync(join(outside, 'target'), join(dir, 'file'));
    new TargetRoot(dir).writeFile('/file', Buffer.from('mine\n'), 0o644, 0, 0);
    expect(lstatSync(join(dir, 'file')).isFile()).toBe(true);
    expect(readFileSync(join(outside, 'target'), 'utf8')).toBe('host\n');
  });

  it('writes atomically with the mode and owner asked for, setuid bits included', () => {
    const dir = tmp();
    const root = new TargetRoot(dir);
    root.writeFile('/f', Buffer.from('a'), 0o4755, 1000, 1000);
    const st = lstatSync(join(dir, 'f'));
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o4755, 1000, 1000]);
    expect(readdirSync(dir).filter((n) => n.startsWith('.flint-'))).toEqual([]);
  });
});

describe.skipIf(!isRoot)('plan and apply', () => {
  it('plans only what differs, and a second apply plans nothing and touches no mtime', () => {
    const dir = makeTree();
    const root = new TargetRoot(dir);
    const first = plan(root, actionsFor());
    expect(first.map((p) => [p.action.path, p.change])).toEqual([
      ['/etc/motd', 'change'],
      ['/etc/ssh/sshd_config.d', 'create'],
      ['/etc/ssh/sshd_config.d/10-flint.conf', 'create'],
      ['/home/admin/.ssh', 'create'],
      ['/home/admin/.ssh/authorized_keys', 'create'],
      ['/etc/localtime', 'change'],
      ['/etc/passwd', 'change'],
      ['/etc/motd.link', 'create'],
    ]);
    expect(first[0]!.details).toEqual(['content', 'mode 0640 -> 0644']);
    applyPlanned(root, first);
    expect(existsSync(join(dir, 'var'))).toBe(false); // the journal and its folders are gone
    const before = snapshot(dir);
    const mtimes = readdirSync(join(dir, 'etc')).map((n) => lstatSync(join(dir, 'etc', n)).mtimeMs);
    expect(plan(root, actionsFor())).toEqual([]);
    applyPlanned(root, plan(root, actionsFor()));
    expect(snapshot(dir)).toEqual(before);
    expect(readdirSync(join(dir, 'etc')).map((n) => lstatSync(join(dir, 'etc', n)).mtimeMs)).toEqual(mtimes);
  });

  it('restores the root exactly after a failure at every action', () => {
    const n = actionsFor().length;
    for (let k = 1; k <= n; k++) {
      const dir = makeTree();
      const before = snapshot(dir);
      const root = new TargetRoot(dir);
      process.env.FLINT_TEST_FAIL_AT = String(k);
      expect(() => applyPlanned(root, plan(root, actionsFor()))).toThrow(/injected failure at action/);
      delete process.env.FLINT_TEST_FAIL_AT;
      expect(snapshot(dir), `failure at action ${k}`).toEqual(before);
    }
  });

  it('rolls back an apply that crashed mid-way when the next run recovers', () => {
    const dir = makeTree();
    const before = snapshot(dir);
    const root = new TargetRoot(dir);
    const planned = plan(root, actionsFor());
    // What a crash leaves: a journal with entries and half of the actions done.
    const journal = Journal.begin(root);
    for (const p of planned.slice(0, 5)) {
      journal.record(p.action.path);
      if (p.action.kind === 'file') root.writeFile(p.action.path, p.action.data, p.action.mode, p.action.uid, p.action.gid);
      if (p.action.kind === 'dir') root.mkdir(p.action.path, p.action.mode, p.action.uid, p.action.gid);
    }
    expect(snapshot(dir)).not.toEqual(before);
    expect(Journal.recover(root)).toBe(5);
    expect(snapshot(dir)).toEqual(before);
    expect(Journal.recover(root)).toBeUndefined();
  });

  it('a crash while the journal is made or removed leaves none of the folders made to hold it', () => {
    const journalDir = (dir: string) => join(dir, 'var/lib/flint/journal');
    // Crash before the header is written: the folders exist, the header does not.
    const a = makeTree();
    const before = snapshot(a);
    Journal.begin(new TargetRoot(a));
    expect(existsSync(join(a, '.flint-journal-parents.json'))).toBe(true);
    rmSync(join(journalDir(a), 'header.json'));
    expect(Journal.recover(new TargetRoot(a))).toBeUndefined();
    expect(snapshot(a)).toEqual(before);
    // Crash after the journal folder is removed, before its parents are.
    const b = makeTree();
    Journal.begin(new TargetRoot(b));
    rmSync(journalDir(b), { recursive: true });
    expect(Journal.recover(new TargetRoot(b))).toBeUndefined();
    expect(snapshot(b)).toEqual(before);
    // The same after an apply that put a file under /var/lib/flint: that file and its folders stay.
    const c = makeTree();
    Journal.begin(new TargetRoot(c));
    writeFileSync(join(c, 'var/lib/flint/kept'), 'x');
    rmSync(journalDir(c), { recursive: true });
    Journal.recover(new TargetRoot(c));
    expect(readFileSync(join(c, 'var/lib/flint/kept'), 'utf8')).toBe('x');
    expect(existsSync(join(c, '.flint-journal-parents.json'))).toBe(false);
    // A committed transaction leaves no note either.
    const d = makeTree();
    Journal.begin(new TargetRoot(d)).commit();
    expect(snapshot(d)).toEqual(before);
  });

  it('restores owners of links and times of files', () => {
    const dir = makeTree();
    lchownSync(join(dir, 'etc/localtime'), 5, 5);
    const mtime = lstatSync(join(dir, 'etc/motd')).mtimeMs;
    const root = new TargetRoot(dir);
    process.env.FLINT_TEST_FAIL_AT = String(actionsFor().length);
    expect(() => applyPlanned(root, plan(root, actionsFor()))).toThrow();
    expect(lstatSync(join(dir, 'etc/localtime')).uid).toBe(5);
    // Node sets times with microsecond precision.
    expect(lstatSync(join(dir, 'etc/motd')).mtimeMs).toBeCloseTo(mtime, 2);
  });
});

describe('planning a target that cannot be read safely', () => {
  it('turns a TargetError of any step into a problem of its section, and plans nothing', () => {
    const root = new TargetRoot(tmp());
    const ctx: StepContext = stepContext(root.root, { version: 1, network: {} } as FlintConfig, { configDir: '/' });
    const plan = planSteps(ctx, [
      {
        name: 'network',
        sections: ['network'],
        plan: () => {
          throw new TargetError('too many symbolic links resolving /etc/x', '/etc/x');
        },
      },
    ]);
    expect(plan.problems).toEqual([{ step: 'network', path: ['network'], message: 'too many symbolic links resolving /etc/x' }]);
    expect(plan.planned).toEqual([]);
  });
});

describe('unified diff', () => {
  it('shows changed lines with context', () => {
    const a = 'a\nb\nc\nd\ne\nf\ng\n';
    const b = 'a\nb\nc\nD\ne\nf\ng\nh\n';
    expect(unifiedDiff('/x', a, b)).toEqual(['--- a/x', '+++ b/x', '@@ -2,7 +2,8 @@', ' b', ' c', '-d', '+D', ' e', ' f', ' g', '+h', ' ']);
  });
  it('is empty of hunks for equal texts', () => {
    expect(unifiedDiff('/x', 'a\n', 'a\n')).toEqual(['--- a/x', '+++ b/x']);
  });
});
