/**
 * Users, groups, passwords, sudo and SSH applied to a copy of a real Debian root, and
 * checked with the target's own tools. Needs root (chown, chroot) and debootstrap.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../src/pipeline/provision.js';
import { Journal } from '../../src/transaction/journal.js';
import { TargetRoot } from '../../src/target/root.js';
import { hasTool } from '../helpers/host.js';
import { freshRoot, hasRootfsSupport, inChroot } from './rootfs.js';

const support = hasRootfsSupport();
const BIN = new URL('../../dist/flint.mjs', import.meta.url).pathname;
const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA2W4ylBpNwsCJJgCIJv6S+GBdb8LJg1OwHVwgsBw43P admin@laptop';
const PLAIN = 'correct horse battery staple';
const OPS_PASSWORD = 'ops-Secret-1';
// openssl passwd -6 -salt OpsSalt1 'ops-Secret-1', written out so that loading this file
// needs no openssl (not in Debian 12's base system); the openssl test recomputes it.
const OPS_HASH = '$6$OpsSalt1$5dEIG4l6rPNUlx4j.Bj/oDe9bnd7PBasn5PuAHHQR1J2nndTuxsKanEcnUD0b6CGR5qCmEKIKoZ3lWvYyYTsB/';
/** A host tool a test needs beyond Debian 12's base system: the reason to skip without it. */
function needs(tool: string, pkg: string): string | undefined {
  return hasTool(tool) ? undefined : `${tool} not installed: apt-get install ${pkg}`;
}
const noVisudo = needs('visudo', 'sudo');
const noOpenssl = needs('openssl', 'openssl');

function config(extra = ''): string {
  return `version: 1
groups:
  - {name: media, gid: 2000}
users:
  - name: admin
    gecos: Site admin
    shell: /bin/bash
    groups: [sudo, media]
    password: "${PLAIN}"
    sudo: nopasswd
    ssh_authorized_keys:
      - ${ED25519}
  - name: ops
    shell: /bin/bash
    password_hash: "${OPS_HASH}"
    sudo: password
    ssh_authorized_keys:
      - ${ED25519.replace('admin@laptop', 'ops@laptop')}
  - name: svc
    system: true
  - name: root
    password_hash: "!"
ssh:
  password_authentication: false
  permit_root_login: prohibit-password
${extra}`;
}

/** Path -> type, mode, owner, content digest (or link target), for the parts flint touches. */
function snapshot(root: string, parts = ['etc', 'home', 'root', 'var']): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const full = join(root, rel);
    const st = lstatSync(full, { throwIfNoEntry: false });
    if (!st) return;
    const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    if (st.isSymbolicLink()) out[rel] = `link ${readFileSyncLink(full)} ${st.uid}:${st.gid}`;
    else if (st.isFile()) out[rel] = `file ${meta} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`;
    else if (st.isDirectory()) {
      out[rel] = `dir ${meta}`;
      for (const n of readdirSync(full)) walk(`${rel}/${n}`);
    } else out[rel] = `other ${meta}`;
  };
  for (const p of parts) walk(p);
  return out;
}
function readFileSyncLink(p: string): string {
  return execFileSync('readlink', [p], { encoding: 'utf8' }).trim();
}
function mtimes(root: string): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (rel: string) => {
    const st = lstatSync(join(root, rel), { throwIfNoEntry: false });
    if (!st) return;
    out[rel] = st.mtimeMs;
    if (st.isDirectory()) for (const n of readdirSync(join(root, rel))) walk(`${rel}/${n}`);
  };
  for (const p of ['etc', 'home', 'root', 'var']) walk(p);
  return out;
}

/**
 * A fresh copy of the Debian root and a config file for one describe block. The fields
 * are filled in by beforeAll, so tests read them through getters.
 */
function debianCopyWith(text: string): { readonly dir: string; readonly work: string; readonly cfg: string } {
  const s = { dir: '', work: '', cfg: '', cleanup: async () => {} };
  beforeAll(async () => {
    const copy = await freshRoot();
    s.dir = copy.dir;
    s.cleanup = copy.cleanup;
    s.work = mkdtempSync(join(tmpdir(), 'flint-users-'));
    s.cfg = join(s.work, 'config.yaml');
    writeFileSync(s.cfg, text);
  }, 900_000);
  afterAll(async () => {
    await s.cleanup();
    if (s.work !== '') rmSync(s.work, { recursive: true, force: true });
  });
  return { get dir() { return s.dir; }, get work() { return s.work; }, get cfg() { return s.cfg; } };
}

describe.skipIf(!support.ok)(`apply users, passwords, sudo and SSH to a Debian root${support.ok ? '' : ` (SKIPPED: ${support.reason})`}`, () => {
  const t = debianCopyWith(config('  host_keys: generate\n'));
  let dir = '';
  let cfg = '';
  beforeAll(() => {
    ({ dir, cfg } = t);
  });

  it('applies, and the target\'s own tools accept the result', async () => {
    const r = spawnSync(process.execPath, [BIN, 'apply', '--root', dir, cfg], { encoding: 'utf8' });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/applied \d+ changes/);
    expect(r.stdout).toMatch(/host key 256 SHA256:\S+ \(ED25519\)/);
    for (const s of [r.stdout, r.stderr]) {
      expect(s).not.toContain(PLAIN);
      expect(s).not.toContain(OPS_HASH);
    }
    expect(spawnSync('pwck', ['-r', '-R', dir], { encoding: 'utf8' }).status).toBe(0);
    expect(spawnSync('grpck', ['-r', '-R', dir], { encoding: 'utf8' }).status).toBe(0);
    const id = await inChroot(dir, ['id', 'admin']);
    expect(id.stdout).toMatch(/uid=1000\(admin\) gid=1000\(admin\) groups=1000\(admin\),27\(sudo\),2000\(media\)/);
    const sshd = await inChroot(dir, ['/usr/sbin/sshd', '-t']);
    expect(sshd.code, sshd.stderr).toBe(0);
    for (const f of readdirSync(join(dir, 'etc/sudoers.d')).filter((n) => n.startsWith('flint'))) {
      expect(lstatSync(join(dir, 'etc/sudoers.d', f)).mode & 0o7777).toBe(0o440);
    }
    const ak = lstatSync(join(dir, 'home/admin/.ssh/authorized_keys'));
    expect([ak.mode & 0o7777, ak.uid, ak.gid]).toEqual([0o600, 1000, 1000]);
    const sshDir = lstatSync(join(dir, 'home/admin/.ssh'));
    expect([sshDir.mode & 0o7777, sshDir.uid]).toEqual([0o700, 1000]);
    expect(existsSync(join(dir, 'home/admin/.bashrc'))).toBe(true);
  });

  // Runs after the apply above (vitest keeps the order within a file).
  it.skipIf(noVisudo !== undefined)(`visudo accepts the sudoers drop-ins${noVisudo !== undefined ? ` (SKIPPED: ${noVisudo})` : ''}`, () => {
    const files = readdirSync(join(dir, 'etc/sudoers.d')).filter((n) => n.startsWith('flint'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(spawnSync('visudo', ['-c', '-f', join(dir, 'etc/sudoers.d', f)]).status).toBe(0);
  });

  it('stores the given hash as it is', () => {
    const shadow = readFileSync(join(dir, 'etc/shadow'), 'utf8');
    expect(shadow.split('\n').find((l) => l.startsWith('ops:'))!.split(':')[1]).toBe(OPS_HASH);
  });

  it.skipIf(noOpenssl !== undefined)(`stores hashes that openssl recomputes from the known passwords${noOpenssl !== undefined ? ` (SKIPPED: ${noOpenssl})` : ''}`, () => {
    const shadow = readFileSync(join(dir, 'etc/shadow'), 'utf8');
    const entry = (name: string) => shadow.split('\n').find((l) => l.startsWith(`${name}:`))!.split(':');
    expect(execFileSync('openssl', ['passwd', '-6', '-salt', 'OpsSalt1', '-stdin'], { input: OPS_PASSWORD + '\n', encoding: 'utf8' }).trim()).toBe(OPS_HASH);
    expect(entry('ops')[1]).toBe(OPS_HASH);
    const adminHash = entry('admin')[1]!;
    const salt = adminHash.split('$')[2]!;
    expect(adminHash).toBe(execFileSync('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], { input: PLAIN + '\n', encoding: 'utf8' }).trim());
    expect(entry('root')[1]).toBe('!');
  });

  it('changes nothing on a second apply, and touches no mtime', () => {
    const before = snapshot(dir);
    const times = mtimes(dir);
    const r = spawnSync(process.execPath, [BIN, 'apply', '--root', dir, cfg], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('nothing to do');
    expect(snapshot(dir)).toEqual(before);
    expect(mtimes(dir)).toEqual(times);
  });

  it('never writes a secret into the report', () => {
    const report = readFileSync(join(dir, 'var/log/flint/result.json'), 'utf8');
    expect(report).not.toContain(PLAIN);
    expect(report).not.toContain(OPS_HASH);
    expect(report).not.toMatch(/\$6\$/);
    expect(report).not.toContain('PRIVATE KEY');
    expect(JSON.parse(report).host_keys).toHaveLength(2);
  });
});

describe.skipIf(!support.ok)('all or nothing on a Debian root', () => {
  // Deterministic: no plain-text password (random salt) and no host keys.
  const t = debianCopyWith(config().replace(`password: "${PLAIN}"`, `password_hash: "${OPS_HASH}"`));
  let dir = '';
  let work = '';
  let cfg = '';
  beforeAll(() => {
    ({ dir, work, cfg } = t);
  });

  it('leaves the root identical after a failure injected at every action', async () => {
    const before = snapshot(dir);
    const plan = await provision({ root: dir, configFile: cfg, apply: false });
    expect(plan.ok).toBe(true);
    const n = plan.ok ? plan.plan.planned.length : 0;
    expect(n).toBeGreaterThan(10);
    for (let k = 1; k <= n; k++) {
      process.env.FLINT_TEST_FAIL_AT = String(k);
      try {
        await expect(provision({ root: dir, configFile: cfg, apply: true })).rejects.toThrow(/injected failure/);
      } finally {
        delete process.env.FLINT_TEST_FAIL_AT;
      }
      expect(snapshot(dir), `failure at action ${k} of ${n}`).toEqual(before);
    }
  });

  it('says on the command line that a failed apply was rolled back, and exits 1', () => {
    const before = snapshot(dir);
    const r = spawnSync(process.execPath, [BIN, 'apply', '--root', dir, cfg], { encoding: 'utf8', env: { ...process.env, FLINT_TEST_FAIL_AT: '3' } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/apply failed: injected failure at action 3 .*every change was rolled back/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('recovers from SIGKILL at random points (20 trials), and no journal holds a secret', async () => {
    const before = snapshot(dir);
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    let killedMidway = 0;
    // A kill that lands after the apply finished leaves the applied state: put the
    // original back from this copy before the next trial.
    const backup = join(work, 'backup');
    mkdirSync(backup);
    const parts = ['etc', 'home', 'root', 'var'];
    execFileSync('cp', ['-a', ...parts.map((p) => join(dir, p)), backup]);
    for (let t = 0; t < 20; t++) {
      const child = spawn(process.execPath, [BIN, 'apply', '--root', dir, cfg], { env: { ...process.env, FLINT_TEST_ACTION_DELAY_MS: '25' }, stdio: 'ignore' });
      let exited = false;
      const done = new Promise((r) => child.once('exit', () => { exited = true; r(undefined); }));
      await new Promise((r) => setTimeout(r, 100 + rand() * 500));
      const finishedFirst = exited;
      child.kill('SIGKILL');
      await done;
      if (finishedFirst) {
        for (const p of parts) rmSync(join(dir, p), { recursive: true, force: true });
        execFileSync('cp', ['-a', ...parts.map((p) => join(backup, p)), dir]);
        continue;
      }
      const journal = join(dir, 'var/lib/flint/journal');
      if (existsSync(join(journal, 'entries'))) {
        killedMidway++;
        for (const f of listFiles(journal)) {
          const text = readFileSync(f, 'latin1');
          expect(text).not.toContain(OPS_HASH);
        }
      }
      // What the next run does first: roll back.
      Journal.recover(new TargetRoot(dir));
      const after = snapshot(dir);
      const diff = Object.keys({ ...before, ...after }).filter((k) => before[k] !== after[k]);
      expect(diff, `trial ${t}: ${diff.map((k) => `${k}: ${before[k]} -> ${after[k]}`).join('; ')}`).toEqual([]);
    }
    // The trials must actually have interrupted applies, or they tested nothing.
    expect(killedMidway).toBeGreaterThan(5);
    const r = spawnSync(process.execPath, [BIN, 'apply', '--root', dir, cfg], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  }, 120_000);
});

describe.skipIf(!support.ok)('hostile symlinks in the target', () => {
  it('writes nothing outside the root', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flint-hostile-'));
    const hostFiles = ['/etc/passwd', '/etc/shadow', '/etc/group'].filter(existsSync);
    const digest = () => hostFiles.map((f) => createHash('sha256').update(readFileSync(f)).digest('hex'));
    const before = digest();
    const rootSsh = existsSync('/root/.ssh/authorized_keys') ? readFileSync('/root/.ssh/authorized_keys', 'utf8') : undefined;
    try {
      symlinkSync('/', join(dir, 'etc'));
      mkdirSync(join(dir, 'home/admin'), { recursive: true });
      symlinkSync('/root/.ssh', join(dir, 'home/admin/.ssh'));
      mkdirSync(join(dir, 'bin'));
      writeFileSync(join(dir, 'bin/bash'), '');
      symlinkSync('../../../../../../../tmp', join(dir, 'chain'));
      const cfg = join(dir, 'c.yaml');
      writeFileSync(cfg, config());
      spawnSync(process.execPath, [BIN, 'apply', '--root', dir, cfg], { encoding: 'utf8' });
      expect(digest()).toEqual(before);
      expect(existsSync('/root/.ssh/authorized_keys') ? readFileSync('/root/.ssh/authorized_keys', 'utf8') : undefined).toEqual(rootSsh);
      expect(existsSync('/home/admin')).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function listFiles(d: string): string[] {
  if (!existsSync(d)) return [];
  return readdirSync(d, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name));
}
