/**
 * The Ignition oracle: every test/oracle/ignition/*.ign is applied to one copy of the Debian
 * 12 root by Debian's Ignition 2.14 (stages fetch-offline and files, -platform file, -root)
 * and, translated by fromIgnition, to another copy by flint's provision(). The two trees
 * are compared on every path either tool changed (content, type, mode, owner, link target)
 * and on every entry of passwd/group/shadow/gshadow (shadow's date of last change
 * ignored). Each difference must be listed for that config in deviations.json with a
 * reason documented in docs/compat-ignition.md; a listed difference that does not occur
 * fails too.
 *
 * Needs root, debootstrap (the cached root) and Debian's `ignition` package.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromIgnition } from '../../src/convert/ignition.js';
import { renderConfigFile } from '../../src/convert/render.js';
import { provision } from '../../src/pipeline/provision.js';
import { cacheBase, debianRoot, freshRoot, hasRootfsSupport } from './rootfs.js';
import type { FreshRoot } from './rootfs.js';

const IGNITION = process.env.IGNITION ?? '/usr/lib/dracut/modules.d/30ignition/ignition';
const ORACLE = new URL('../oracle/ignition/', import.meta.url).pathname;
const DOC = new URL('../../docs/compat-ignition.md', import.meta.url).pathname;
const SBIN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const support = hasRootfsSupport();
const why = !support.ok ? support.reason : !existsSync(IGNITION) ? `${IGNITION} is missing: apt-get install ignition` : undefined;

// Ignition writes SSH keys as the new user (so a planted symlink cannot redirect it): every
// folder above the copy must be searchable by that user. The shared copies folder is 0700.
if (why === undefined && (process.env.FLINT_TEST_COPIES ?? '') === '') {
  process.env.FLINT_TEST_COPIES = join(cacheBase(), 'ignition-oracle-copies');
}

/** Paths the tools write for themselves, not for the config; never compared. */
const TOOL_ARTIFACTS: readonly RegExp[] = [
  /^\/etc\/\.ignition-result\.json$/, // Ignition's run record
  /^\/etc\/selinux(\/|$)/, // made by this harness: Debian's Ignition relabels and needs a policy file
  /^\/etc\/(passwd|group|shadow|gshadow|subuid|subgid)-$/, // shadow-utils' backups
  /^\/etc\/\.pwd\.lock$/, // shadow-utils' lock file
  /^\/var\/log\/flint(\/|$)/, // flint's report
  /^\/var\/lib\/flint(\/|$)/, // flint's journal
];
const ACCOUNT_FILES = ['/etc/passwd', '/etc/group', '/etc/shadow', '/etc/gshadow'];

interface Sig {
  type: 'file' | 'dir' | 'link' | 'other';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  target?: string;
}

function walk(root: string): Map<string, Sig> {
  const out = new Map<string, Sig>();
  const visit = (rel: string) => {
    const st = lstatSync(join(root, rel));
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : 'other';
    const sig: Sig = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size, mtime: Math.floor(st.mtimeMs) };
    if (type === 'link') sig.target = readlinkSync(join(root, rel));
    out.set(rel === '' ? '/' : rel, sig);
    if (type === 'dir' && !/^\/(proc|sys|dev)$/.test(rel)) for (const e of readdirSync(join(root, rel))) visit(`${rel}/${e}`);
  };
  visit('');
  return out;
}

function changed(before: Map<string, Sig>, after: Map<string, Sig>): Set<string> {
  const out = new Set<string>();
  for (const [p, s] of after) {
    const b = before.get(p);
    if (b === undefined || b.type !== s.type || b.mode !== s.mode || b.uid !== s.uid || b.gid !== s.gid || b.size !== s.size || b.mtime !== s.mtime || b.target !== s.target) out.add(p);
  }
  for (const p of before.keys()) if (!after.has(p)) out.add(p);
  return out;
}

function sha(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Entries of an account file by name; shadow's lastchg (field 3) blanked: it is today's date. */
function entries(root: string, file: string): Map<string, string> {
  const text = readFileSync(join(root, file), 'utf8');
  const out = new Map<string, string>();
  for (const line of text.split('\n').filter(Boolean)) {
    const f = line.split(':');
    if (file === '/etc/shadow' && f.length > 2 && f[2] !== '') f[2] = 'DATE';
    out.set(f[0]!, f.join(':'));
  }
  return out;
}

/** Every difference between the two trees, as "PATH: ASPECT"; `details` says what each side has. */
function compareTrees(pristine: Map<string, Sig>, ign: string, flint: string, details: string[] = []): string[] {
  const a = walk(ign);
  const b = walk(flint);
  const paths = new Set([...changed(pristine, a), ...changed(pristine, b)]);
  const diffs: string[] = [];
  const onlyOne: string[] = [];
  for (const p of [...paths].sort()) {
    if (TOOL_ARTIFACTS.some((r) => r.test(p)) || ACCOUNT_FILES.includes(p)) continue;
    if (onlyOne.some((o) => p.startsWith(`${o}/`))) continue;
    const x = a.get(p);
    const y = b.get(p);
    if (x === undefined && y === undefined) continue; // removed by both
    if (x === undefined || y === undefined) {
      diffs.push(`${p}: only ${x === undefined ? 'flint' : 'ignition'}`);
      onlyOne.push(p);
      continue;
    }
    if (x.type !== y.type) {
      diffs.push(`${p}: type`);
      continue;
    }
    if (x.type === 'file' && sha(join(ign, p)) !== sha(join(flint, p))) diffs.push(`${p}: content`);
    if (x.type === 'link' && x.target !== y.target) diffs.push(`${p}: target`);
    if (x.type !== 'link' && x.mode !== y.mode) diffs.push(`${p}: mode`);
    if (x.uid !== y.uid || x.gid !== y.gid) diffs.push(`${p}: owner`);
    if (x.mode !== y.mode || x.uid !== y.uid || x.gid !== y.gid) details.push(`${p}: ignition 0${x.mode.toString(8)} ${x.uid}:${x.gid} | flint 0${y.mode.toString(8)} ${y.uid}:${y.gid}`);
  }
  for (const file of ACCOUNT_FILES) {
    const ea = entries(ign, file);
    const eb = entries(flint, file);
    for (const name of new Set([...ea.keys(), ...eb.keys()])) {
      if (ea.get(name) === eb.get(name)) continue;
      diffs.push(`${file}: entry ${name}`);
      // Hashes are masked: the assertion message may end up in a CI log.
      const mask = (e: string | undefined) => e?.replace(/\$[^:]*/g, '$HASH');
      details.push(`${file} ${name}: ignition ${String(mask(ea.get(name)))} | flint ${String(mask(eb.get(name)))}`);
    }
  }
  return diffs.sort();
}

/** Debian's Ignition on one copy: the two stages a files-only config needs. */
function runIgnition(copy: string, config: string, work: string): void {
  mkdirSync(join(copy, 'etc/selinux/targeted/contexts/files'), { recursive: true });
  writeFileSync(join(copy, 'etc/selinux/config'), 'SELINUX=disabled\nSELINUXTYPE=targeted\n');
  writeFileSync(join(copy, 'etc/selinux/targeted/contexts/files/file_contexts'), '');
  // Debian's build ends the files stage with setfiles(8); the host has no policy to relabel with.
  const stub = join(work, 'stub');
  mkdirSync(stub, { recursive: true });
  writeFileSync(join(stub, 'setfiles'), '#!/bin/sh\nexec cat >/dev/null\n', { mode: 0o755 });
  const run = join(work, 'run');
  mkdirSync(run, { recursive: true });
  const common = ['-platform', 'file', '-root', copy, '-config-cache', join(run, 'ignition.json'), '-state-file', join(run, 'state'), '-neednet', join(run, 'neednet'), '-log-to-stdout'];
  for (const stage of ['fetch-offline', 'files']) {
    const r = spawnSync(IGNITION, ['-stage', stage, ...common], { encoding: 'utf8', env: { PATH: `${stub}:${SBIN_PATH}`, LC_ALL: 'C', IGNITION_CONFIG_FILE: config }, timeout: 60_000 });
    if (r.status !== 0) {
      // Ignition logs useradd's argv, password hash included: mask it before it reaches a log.
      const lines = (r.stdout + r.stderr).split('\n').filter((l) => /CRITICAL|ERROR/.test(l)).slice(0, 10);
      throw new Error(`ignition -stage ${stage} failed (${String(r.status ?? r.signal)}):\n${lines.join('\n').replace(/\$(?:1|2[aby]|5|6|y|gy)\$[^\s"]*/g, '$HASH')}`);
    }
  }
}

/** flint's own config applied by provision(), as `flint apply` does. */
async function runFlintConfig(copy: string, file: string): Promise<void> {
  const r = await provision({ root: copy, configFile: file, apply: true });
  if (!r.ok) {
    const problems = r.stage === 'plan' ? r.plan.problems.map((p) => `${p.step} ${p.path.join('.')}: ${p.message}`) : r.diagnostics.map((d) => `${d.path}: ${d.message}`);
    throw new Error(`flint refused ${file} at ${r.stage}:\n${problems.join('\n')}`);
  }
}

async function runFlint(copy: string, name: string, text: string, work: string): Promise<void> {
  const conv = fromIgnition(`${name}.ign`, text);
  const errors = conv.diagnostics.filter((d) => d.severity === 'error');
  if (conv.config === undefined) throw new Error(`fromIgnition refused ${name}:\n${errors.map((d) => `${d.line}:${d.column} ${d.path}: ${d.message}`).join('\n')}`);
  const file = join(work, `${name}.flint.json`);
  writeFileSync(file, JSON.stringify(conv.config, null, 2));
  const r = await provision({ root: copy, configFile: file, apply: true });
  if (!r.ok) {
    const problems = r.stage === 'plan' ? r.plan.problems.map((p) => `${p.step} ${p.path.join('.')}: ${p.message}`) : r.diagnostics.map((d) => `${d.path}: ${d.message}`);
    throw new Error(`flint refused ${name} at ${r.stage}:\n${problems.join('\n')}`);
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Paths of the files, directories and links, and the users, the converted config declares (and the users it deletes). */
function declared(text: string): { paths: string[]; users: string[]; gone: string[] } {
  const cfg = fromIgnition('x.ign', text).config ?? {};
  const paths = (['files', 'directories', 'links'] as const).flatMap((k) => ((cfg[k] ?? []) as Array<{ path: string }>).map((n) => n.path));
  const all = (cfg.users ?? []) as Array<{ name: string; state?: string }>;
  const users = all.filter((u) => u.state !== 'absent').map((u) => u.name);
  const gone = all.filter((u) => u.state === 'absent').map((u) => u.name);
  return { paths, users, gone };
}

interface Expectations {
  reasons: Record<string, string>;
  configs: Record<string, Record<string, string>>;
}

const configs = existsSync(ORACLE) ? readdirSync(ORACLE).filter((f) => f.endsWith('.ign')).sort() : [];
const expectations = JSON.parse(readFileSync(join(ORACLE, 'deviations.json'), 'utf8')) as Expectations;

describe('the Ignition oracle files', () => {
  it('has at least 30 configs, each with an entry in deviations.json, and every reason is documented', () => {
    expect(configs.length).toBeGreaterThanOrEqual(30);
    const names = configs.map((c) => c.replace(/\.ign$/, ''));
    expect(Object.keys(expectations.configs).sort()).toEqual(names);
    const doc = readFileSync(DOC, 'utf8');
    for (const [name, diffs] of Object.entries(expectations.configs)) {
      for (const reason of Object.values(diffs)) expect(expectations.reasons[reason], `${name}: reason ${reason}`).toBeDefined();
    }
    for (const id of Object.keys(expectations.reasons)) expect(doc, `docs/compat-ignition.md names [${id}]`).toContain(`[${id}]`);
  });

  it('uses only spec versions Debian\'s Ignition 2.14 reads (3.0.0 to 3.3.0)', () => {
    for (const c of configs) {
      const v = (JSON.parse(readFileSync(join(ORACLE, c), 'utf8')) as { ignition: { version: string } }).ignition.version;
      expect(['3.0.0', '3.1.0', '3.2.0', '3.3.0'], c).toContain(v);
    }
  });
});

describe.skipIf(why !== undefined)(`Ignition 2.14 and flint on the same root${why !== undefined ? ` (skipped: ${why})` : ''}`, () => {
  let pristine: Map<string, Sig>;
  const copies: FreshRoot[] = [];

  beforeAll(async () => {
    pristine = walk(await debianRoot());
    const base = process.env.FLINT_TEST_COPIES!;
    mkdirSync(base, { recursive: true });
    chmodSync(base, 0o755);
  }, 20 * 60_000);

  afterAll(async () => {
    for (const c of copies) await c.cleanup();
  }, 10 * 60_000);

  async function copy(): Promise<FreshRoot> {
    const c = await freshRoot();
    copies.push(c);
    chmodSync(dirname(c.dir), 0o755);
    return c;
  }

  // Not comparable, so not in the table: Ignition 2.14 fails the whole files stage on a
  // group that exists (fixed upstream in 2.25 by running groupmod); flint keeps it.
  it('an existing group: Ignition 2.14 fails, flint keeps the group and adds the member', async () => {
    const text = JSON.stringify({ ignition: { version: '3.3.0' }, passwd: { groups: [{ name: 'users', gid: 100 }], users: [{ name: 'dave', groups: ['users'] }] } });
    const [ign, fl] = [await copy(), await copy()];
    const file = join(dirname(ign.dir), 'existing-group.ign');
    writeFileSync(file, text);
    expect(() => runIgnition(ign.dir, file, dirname(ign.dir))).toThrow(/groupadd: group 'users' already exists/);
    await runFlint(fl.dir, 'existing-group', text, dirname(fl.dir));
    const before = entries(await debianRoot(), '/etc/group').get('users');
    expect(before).toBe('users:x:100:');
    expect(entries(fl.dir, '/etc/group').get('users')).toBe('users:x:100:dave');
    expect(entries(fl.dir, '/etc/passwd').has('dave')).toBe(true);
    await ign.cleanup();
    await fl.cleanup();
  }, 120_000);

  /** The same account on both copies, made by the target's own useradd, with a mail spool it owns. */
  function addBob(dir: string): void {
    const r = spawnSync('useradd', ['--root', dir, '-l', '-m', '-G', 'staff', 'bob'], { encoding: 'utf8', env: { PATH: SBIN_PATH, LC_ALL: 'C' } });
    if (r.status !== 0) throw new Error(`useradd: ${r.stderr}`);
    const uid = Number(readFileSync(join(dir, 'etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith('bob:'))!.split(':')[2]);
    writeFileSync(join(dir, 'var/mail/bob'), 'From x\n');
    chownSync(join(dir, 'var/mail/bob'), uid, 8);
    mkdirSync(join(dir, 'home/bob/.config/app'), { recursive: true });
    writeFileSync(join(dir, 'home/bob/.config/app/rc'), 'x=1\n');
    chownSync(join(dir, 'home/bob/.config'), uid, uid);
  }

  // Not in the table: the user to delete must exist first, with a home of its own, and no
  // Debian 12 base account owns its home.
  it('deleting a user with a home and a mail spool: both remove the same things', async () => {
    const text = JSON.stringify({ ignition: { version: '3.2.0' }, passwd: { users: [{ name: 'bob', shouldExist: false }] } });
    const [ign, fl] = [await copy(), await copy()];
    for (const c of [ign, fl]) addBob(c.dir);
    const file = join(dirname(ign.dir), 'delete-bob.ign');
    writeFileSync(file, text);
    runIgnition(ign.dir, file, dirname(ign.dir));
    await runFlint(fl.dir, 'delete-bob', text, dirname(fl.dir));
    const details: string[] = [];
    expect(compareTrees(pristine, ign.dir, fl.dir, details), details.join('\n')).toEqual([]);
    for (const c of [ign, fl]) {
      expect(existsSync(join(c.dir, 'home/bob')) || existsSync(join(c.dir, 'var/mail/bob'))).toBe(false);
      expect(entries(c.dir, '/etc/passwd').has('bob') || entries(c.dir, '/etc/group').has('bob')).toBe(false);
      expect(entries(c.dir, '/etc/group').get('staff')).toBe('staff:x:50:');
    }
    await ign.cleanup();
    await fl.cleanup();
  }, 120_000);

  // Not comparable: userdel keeps a home the user does not own and exits 12, which fails
  // Ignition's run after the account is gone; flint deletes the account, keeps the home, warns.
  it('deleting a user whose home belongs to root: Ignition fails, flint keeps the home', async () => {
    const text = JSON.stringify({ ignition: { version: '3.2.0' }, passwd: { users: [{ name: 'list', shouldExist: false }] } });
    const [ign, fl] = [await copy(), await copy()];
    const file = join(dirname(ign.dir), 'delete-list.ign');
    writeFileSync(file, text);
    expect(() => runIgnition(ign.dir, file, dirname(ign.dir))).toThrow(/\/var\/list not owned by list, not removing/);
    await runFlint(fl.dir, 'delete-list', text, dirname(fl.dir));
    expect(entries(fl.dir, '/etc/passwd').has('list')).toBe(false);
    expect(entries(fl.dir, '/etc/group').has('list')).toBe(false);
    expect(existsSync(join(fl.dir, 'var/list'))).toBe(true);
    await ign.cleanup();
    await fl.cleanup();
  }, 120_000);

  for (const c of configs) {
    const name = c.replace(/\.ign$/, '');
    it(name, async () => {
      const text = readFileSync(join(ORACLE, c), 'utf8');
      const [ign, fl] = [await copy(), await copy()];
      runIgnition(ign.dir, join(ORACLE, c), dirname(ign.dir));
      await runFlint(fl.dir, name, text, dirname(fl.dir));
      const details: string[] = [];
      const diffs = compareTrees(pristine, ign.dir, fl.dir, details);
      const expected = Object.keys(expectations.configs[name] ?? {}).sort();
      expect(diffs, `differences between Ignition's and flint's trees for ${c}:\n${details.join('\n')}`).toEqual(expected);
      // A config neither tool applied would compare equal: every node and user it declares must exist.
      const { paths, users, gone } = declared(text);
      for (const u of users) expect(entries(ign.dir, '/etc/passwd').has(u), `user ${u} made by Ignition`).toBe(true);
      for (const u of gone) expect(entries(ign.dir, '/etc/passwd').has(u) || entries(fl.dir, '/etc/passwd').has(u), `user ${u} deleted by both`).toBe(false);
      for (const p of paths) {
        expect(existsSync(join(ign.dir, p)) || isLink(join(ign.dir, p)), `${p} made by Ignition`).toBe(true);
        expect(existsSync(join(fl.dir, p)) || isLink(join(fl.dir, p)), `${p} made by flint`).toBe(true);
      }
      await ign.cleanup();
      await fl.cleanup();
    }, 120_000);
  }
});

/**
 * The other direction: a flint config rendered to Ignition (flint convert --to ignition)
 * and applied by Ignition 2.14 gives the tree `flint apply` gives with the config itself,
 * but for the differences listed here, each documented in docs/compat-ignition.md.
 */
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA2W4ylBpNwsCJJgCIJv6S+GBdb8LJg1OwHVwgsBw43P admin@laptop';
const HASH = '$6$OracleSalt1$Czqcp6Yi60Rjk7IfBxjelcb5QX0W/ipCQjtQM0WgOpgY0G259JsHVT2rmdyjJzh3D0uVpNb42y5s6e26wy7ae/';
const RENDERED: Record<string, { config: string; deviations: Record<string, string> }> = {
  'accounts-files': {
    config: [
      'version: 1',
      'groups: [{name: media, gid: 2000}]',
      `users: [{name: ops, uid: 1500, groups: [media], shell: /bin/bash, gecos: Operator, password_hash: "${HASH}", sudo: nopasswd}]`,
      'files:',
      '  - {path: /etc/motd, contents: "Welcome\\n"}',
      '  - {path: /etc/flint/secret.conf, contents: "x=1\\n", mode: "0600", owner: ops, group: media}',
      '  - {path: /usr/local/bin/hello, contents: "#!/bin/sh\\necho hi\\n", mode: "0755"}',
      'directories: [{path: /srv/web, mode: "0750", owner: ops, group: media}]',
      'links: [{path: /usr/local/bin/hi, target: /usr/local/bin/hello}]',
      '',
    ].join('\n'),
    deviations: { '/etc/gshadow: entry media': 'group-password' },
  },
  'system-ssh': {
    config: ['version: 1', 'hostname: oracle-host', 'timezone: Europe/Berlin', `users: [{name: admin, ssh_authorized_keys: ["${KEY}"]}]`, 'ssh: {password_authentication: false, permit_root_login: "no"}', ''].join('\n'),
    deviations: {
      '/etc/hosts: content': 'render-hosts',
      '/etc/timezone: content': 'render-timezone',
      '/etc/shadow: entry admin': 'new-user-lock',
      '/home/admin/.ssh/authorized_keys.d: only ignition': 'ssh-authorized-keys',
      '/home/admin/.ssh/authorized_keys: only flint': 'ssh-authorized-keys',
    },
  },
  units: {
    config: [
      'version: 1',
      'systemd:',
      '  units:',
      '    - name: hello.service',
      '      contents: "[Unit]\\nDescription=hi\\n[Service]\\nType=oneshot\\nExecStart=/bin/true\\n[Install]\\nWantedBy=multi-user.target\\n"',
      '      enabled: true',
      '      dropins: [{name: 10-env.conf, contents: "[Service]\\nEnvironment=X=1\\n"}]',
      '    - {name: getty@tty2.service, masked: true}',
      '',
    ].join('\n'),
    deviations: {
      '/etc/systemd/system-preset: only ignition': 'unit-enable',
      '/etc/systemd/system/multi-user.target.wants/hello.service: only flint': 'unit-enable',
    },
  },
};

describe('the rendered-config oracle table', () => {
  it('names only reasons docs/compat-ignition.md documents', () => {
    const doc = readFileSync(DOC, 'utf8');
    for (const { deviations } of Object.values(RENDERED)) for (const id of Object.values(deviations)) expect(doc, `docs/compat-ignition.md names [${id}]`).toContain(`[${id}]`);
  });
});

describe.skipIf(why !== undefined)(`flint configs rendered to Ignition, applied by Ignition 2.14, against flint apply${why !== undefined ? ` (skipped: ${why})` : ''}`, () => {
  let pristine: Map<string, Sig>;
  beforeAll(async () => {
    pristine = walk(await debianRoot());
    const base = process.env.FLINT_TEST_COPIES!;
    mkdirSync(base, { recursive: true });
    chmodSync(base, 0o755);
  }, 20 * 60_000);

  for (const [name, { config, deviations }] of Object.entries(RENDERED)) {
    it(name, async () => {
      const [ign, fl] = [await freshRoot(), await freshRoot()];
      try {
        chmodSync(dirname(ign.dir), 0o755);
        const work = dirname(fl.dir);
        const file = join(work, `${name}.yaml`);
        writeFileSync(file, config);
        const r = renderConfigFile(file, { target: 'ignition' });
        expect(r.losses.map((l) => l.path)).toEqual([]);
        const ignFile = join(dirname(ign.dir), `${name}.ign`);
        writeFileSync(ignFile, r.files[0]!.text);
        runIgnition(ign.dir, ignFile, dirname(ign.dir));
        await runFlintConfig(fl.dir, file);
        const details: string[] = [];
        const diffs = compareTrees(pristine, ign.dir, fl.dir, details);
        expect(diffs, `differences for ${name}:\n${details.join('\n')}`).toEqual(Object.keys(deviations).sort());
      } finally {
        await ign.cleanup();
        await fl.cleanup();
      }
    }, 180_000);
  }
});
