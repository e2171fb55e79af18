import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { stepContext } from '../helpers/step-context.js';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FlintConfig } from '../../src/config/validate.js';
import { planSteps } from '../../src/engine/plan.js';
import type { StepContext, StepOutput } from '../../src/engine/step.js';
import { PRESET_FILE, systemdStep } from '../../src/steps/systemd/step.js';
import { systemdVersion, unitSearchPath } from '../../src/steps/systemd/install.js';
import {
  applyInstall,
  checkAlias,
  emptyInstall,
  expandSpecifiers,
  parseInstall,
  parseOsRelease,
  replaceInstance,
  splitWords,
  symlinkNameCompatible,
  templateOf,
  unitNameKind,
} from '../../src/steps/systemd/units.js';
import type { InstallData, SpecifierSource } from '../../src/steps/systemd/units.js';
import { TargetRoot } from '../../src/target/root.js';

const NO_OS = new Map<string, string>();

/** The [Install] data of one file, as systemctl folds it. */
function install(name: string, text: string, upheldBy = true): { data: InstallData; warnings: string[]; error?: string } {
  const data = emptyInstall();
  const warnings: string[] = [];
  const parsed = parseInstall(text);
  warnings.push(...parsed.warnings);
  if (parsed.error !== undefined) return { data, warnings, error: parsed.error };
  const error = applyInstall(data, name, 'unit', parsed.assignments, { upheldBy, osRelease: NO_OS }, (m) => warnings.push(m));
  return error === undefined ? { data, warnings } : { data, warnings, error };
}

describe('[Install] parsing', () => {
  it('joins continuation lines, skips comments inside them, and trims keys and values', () => {
    const { data } = install('a.service', '[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=a.target \\\n# a comment, not part of the value\n  ; another\n  b.target\n   WantedBy = c.target  \n');
    expect(data.wantedBy).toEqual(['a.target', 'b.target', 'c.target']);
  });

  it('ends a continuation at an empty line and treats an escaped backslash as no continuation', () => {
    const p = parseInstall('[Install]\nWantedBy=a.target \\\n\nAlias=x\\\\\nRequiredBy=r.target\n');
    expect(p.assignments.map((a) => [a.key, a.value])).toEqual([
      ['WantedBy', 'a.target'],
      ['Alias', 'x\\\\'],
      ['RequiredBy', 'r.target'],
    ]);
  });

  it('reads CRLF files and a continuation at the end of the file', () => {
    expect(parseInstall('[Install]\r\nWantedBy=a.target\r\nAlso=b.service \\').assignments.map((a) => a.value)).toEqual(['a.target', 'b.service']);
  });

  it('takes several values per line and several lines, and an empty assignment resets the list', () => {
    const { data } = install('a.service', '[Install]\nWantedBy=one.target two.target\nWantedBy=three.target\nRequiredBy=r.target\nWantedBy=\nWantedBy=four.target\tfive.target\n');
    expect(data.wantedBy).toEqual(['four.target', 'five.target']);
    expect(data.requiredBy).toEqual(['r.target']);
  });

  it('resets Alias= and RequiredBy= too, but an empty Also= does not undo earlier ones', () => {
    const { data } = install('a.service', '[Install]\nAlias=x.service\nAlias=\nAlias=y.service\nRequiredBy=r.target\nRequiredBy=\nAlso=b.service c.service\nAlso=\n');
    expect(data.aliases).toEqual(['y.service']);
    expect(data.requiredBy).toEqual([]);
    expect(data.also).toEqual(['b.service', 'c.service']);
  });

  it('reads only [Install], keeps section names case-sensitive, and continues after another section', () => {
    const { data } = install('a.service', '[Unit]\nWantedBy=no.target\n[install]\nWantedBy=no2.target\n[X-Mine]\nWantedBy=no3.target\n[Install]\nWantedBy=yes.target\n');
    expect(data.wantedBy).toEqual(['yes.target']);
  });

  it('removes quotes and keeps backslash escapes in WantedBy=', () => {
    const { data } = install('a.service', '[Install]\nWantedBy="a.target" \'b c.target\' dev-disk-by\\x2dlabel-x.device\n');
    expect(data.wantedBy).toEqual(['a.target', 'b c.target', 'dev-disk-by\\x2dlabel-x.device']);
  });

  it('ignores a line with an unterminated quote, with a warning', () => {
    const r = install('a.service', '[Install]\nWantedBy=a.target\nWantedBy="b.target\n');
    expect(r.data.wantedBy).toEqual(['a.target']);
    expect(r.warnings.join()).toMatch(/unterminated quote/);
  });

  it('refuses a broken section header, as systemctl does', () => {
    expect(install('a.service', '[Install\nWantedBy=a.target\n').error).toMatch(/invalid section header/);
  });

  it('refuses an Also= that is no unit name', () => {
    expect(install('a.service', '[Install]\nAlso=not-a-unit\n').error).toMatch(/not a valid unit name/);
  });

  it('handles DefaultInstance=: set, reset by an empty value, ignored for instances and plain units', () => {
    expect(install('t@.service', '[Install]\nDefaultInstance=a\nDefaultInstance=\n').data.defaultInstance).toBeUndefined();
    expect(install('t@.service', '[Install]\nDefaultInstance=a\nDefaultInstance=b\n').data.defaultInstance).toBe('b');
    expect(install('t@x.service', '[Install]\nDefaultInstance=a\n').data.defaultInstance).toBeUndefined();
    const plain = install('p.service', '[Install]\nDefaultInstance=a\n');
    expect(plain.data.defaultInstance).toBeUndefined();
    expect(plain.warnings.join()).toMatch(/only applies to template/);
    expect(install('t@.service', '[Install]\nDefaultInstance=%p-1\n').data.defaultInstance).toBe('t-1');
  });

  it('ignores UpheldBy= where systemd is older than 254, and Alias= on types that cannot have one', () => {
    const old = install('a.service', '[Install]\nUpheldBy=x.target\n', false);
    expect(old.data.upheldBy).toEqual([]);
    expect(old.warnings.join()).toMatch(/UpheldBy=.*254/);
    expect(install('a.service', '[Install]\nUpheldBy=x.target\n').data.upheldBy).toEqual(['x.target']);
    const mount = install('srv.mount', '[Install]\nAlias=other.mount\nWantedBy=local-fs.target\n');
    expect(mount.data.aliases).toEqual([]);
    expect(mount.warnings.join()).toMatch(/Alias= is not allowed for \.mount/);
  });

  it('splits Also= without unquoting', () => {
    expect(splitWords('a\\-b.service "c.service"', false)).toEqual(['a-b.service', '"c.service"']);
    expect(splitWords('  ', true)).toEqual([]);
  });
});

describe('unit names and specifiers', () => {
  it('classifies names as systemd does', () => {
    expect(unitNameKind('a.service')).toBe('plain');
    expect(unitNameKind('a@.service')).toBe('template');
    expect(unitNameKind('a@b@c.service')).toBe('instance');
    expect(unitNameKind('@a.service')).toBeUndefined();
    expect(unitNameKind('a.serv')).toBeUndefined();
    expect(unitNameKind('a b.service')).toBeUndefined();
    expect(unitNameKind(`${'a'.repeat(248)}.service`)).toBeUndefined();
    expect(templateOf('getty@tty1.service')).toBe('getty@.service');
    expect(templateOf('a.service')).toBeUndefined();
    expect(replaceInstance('getty@.service', 'tty2')).toBe('getty@tty2.service');
  });

  it('expands %i %n %N %p %j %% and the fixed ones', () => {
    const os = parseOsRelease('ID=debian\nVERSION_ID="12"\n');
    const src: SpecifierSource = { name: 'foo-bar@.service', defaultInstance: 'x', osRelease: os };
    const v = (f: string, s = src): string => {
      const r = expandSpecifiers(f, s);
      return 'value' in r ? r.value : `ERR ${r.error}`;
    };
    expect(v('%i|%n|%N|%p|%j|%%|%u|%U|%o|%w|%W')).toBe('x|foo-bar@x.service|foo-bar@x|foo-bar|bar|%|root|0|debian|12|');
    expect(v('%i|%n|%N', { ...src, name: 'foo-bar@y.service' })).toBe('y|foo-bar@y.service|foo-bar@y');
    expect(v('%i|%n', { ...src, defaultInstance: undefined })).toBe('|foo-bar@.service');
    expect(v('end%')).toBe('end%');
    expect(v('%Z')).toMatch(/^ERR invalid specifier/);
    expect(v('%H')).toMatch(/^ERR .*before first boot/);
  });

  it('checks aliases as systemctl does', () => {
    expect(checkAlias('b.service', 'a.service')).toBe('ok');
    expect(checkAlias('a.service', 'a.service')).toBe('self');
    expect(checkAlias('b.socket', 'a.service')).toMatch(/different unit types/);
    expect(checkAlias('b@.service', 'a.service')).toMatch(/not both/);
    expect(checkAlias('b@x.service', 'a@.service')).toBe('ok');
    expect(checkAlias('b@x.service', 'a@y.service')).toMatch(/different instances/);
    expect(checkAlias('b.mount', 'a.mount')).toMatch(/cannot have aliases/);
    expect(symlinkNameCompatible('a.service', 'a.service', false)).toBe(true);
    expect(symlinkNameCompatible('a@x.service', 'a@.service', false)).toBe(true);
    expect(symlinkNameCompatible('a@.service', 'a@.service', false)).toBe(false);
    expect(symlinkNameCompatible('a@.service', 'a@.service', true)).toBe(true);
    expect(symlinkNameCompatible('b.service', 'a.service', false)).toBe(false);
  });
});

// ---------------------------------------------------------------- link sets on synthetic roots

const SVC = '[Service]\nExecStart=/bin/true\n';
const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** A root with /usr/lib/systemd/system and /etc/systemd/system, and files or links given as path -> text or '-> target'. */
function makeRoot(entries: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'flint-systemd-'));
  roots.push(dir);
  for (const d of ['etc/systemd/system', 'usr/lib/systemd/system', 'dev']) mkdirSync(join(dir, d), { recursive: true });
  for (const [p, v] of Object.entries(entries)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    if (v.startsWith('-> ')) symlinkSync(v.slice(3), join(dir, p));
    else writeFileSync(join(dir, p), v);
  }
  return dir;
}

type Units = NonNullable<NonNullable<FlintConfig['systemd']>['units']>;

function ctxFor(dir: string, units: Units, defaultTarget?: string): StepContext {
  const systemd = defaultTarget === undefined ? { units } : { units, default_target: defaultTarget };
  const config = { version: 1, systemd } as unknown as FlintConfig;
  return stepContext(dir, config, { configDir: dir, today: 0 });
}

interface Outcome {
  links: Record<string, string>;
  files: string[];
  absent: string[];
  problems: string[];
  warnings: string[];
}

function plan(dir: string, units: Units, defaultTarget?: string): Outcome {
  const out: StepOutput = systemdStep.plan(ctxFor(dir, units, defaultTarget));
  const links: Record<string, string> = {};
  const files: string[] = [];
  const absent: string[] = [];
  for (const a of out.actions) {
    const p = a.path.replace('/etc/systemd/system/', '');
    if (a.kind === 'symlink') links[p] = a.target;
    else if (a.kind === 'file') files.push(p);
    else if (a.kind === 'absent') absent.push(p);
  }
  return { links, files, absent, problems: out.problems.map((p) => `${p.path.join('.')}: ${p.message}`), warnings: out.warnings };
}

const E = '/etc/systemd/system';
const U = '/usr/lib/systemd/system';

describe('systemd step: enable', () => {
  it('writes the unit and its drop-ins, and links WantedBy=/RequiredBy=/UpheldBy= to the unit file', () => {
    const dir = makeRoot();
    const r = plan(dir, [{ name: 'a.service', contents: `${SVC}[Install]\nWantedBy=multi-user.target\nRequiredBy=x.target\nUpheldBy=y.target\n`, enabled: true, dropins: [{ name: '10-env.conf', contents: '[Service]\nEnvironment=A=1\n' }] }]);
    expect(r.problems).toEqual([]);
    expect(r.files).toEqual(['a.service', 'a.service.d/10-env.conf']);
    expect(r.links).toEqual({
      'multi-user.target.wants/a.service': `${E}/a.service`,
      'x.target.requires/a.service': `${E}/a.service`,
      'y.target.upholds/a.service': `${E}/a.service`,
    });
  });

  it('ignores UpheldBy= with a warning when the target has systemd 252', () => {
    const dir = makeRoot({ 'usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-252.so': 'x' });
    expect(systemdVersion(new TargetRoot(dir))).toBe(252);
    const r = plan(dir, [{ name: 'a.service', contents: `${SVC}[Install]\nUpheldBy=y.target\n`, enabled: true }]);
    expect(r.links).toEqual({});
    expect(r.warnings.join('\n')).toMatch(/UpheldBy= is ignored/);
    expect(r.warnings.join('\n')).toMatch(/links nothing/);
  });

  it('enables a unit the OS ships, reading its [Install] and drop-ins from the search path', () => {
    const dir = makeRoot({
      'usr/lib/systemd/system/os.service': `${SVC}[Install]\nWantedBy=multi-user.target\n`,
      // /etc overrides a vendor drop-in of the same name.
      'usr/lib/systemd/system/os.service.d/50-x.conf': '[Install]\nWantedBy=vendor.target\n',
      'etc/systemd/system/os.service.d/50-x.conf': '[Install]\nWantedBy=admin.target\n',
    });
    const r = plan(dir, [{ name: 'os.service', enabled: true }]);
    expect(r.problems).toEqual([]);
    expect(r.links).toEqual({ 'multi-user.target.wants/os.service': `${U}/os.service`, 'admin.target.wants/os.service': `${U}/os.service` });
  });

  it('links to /lib/systemd/system on a target whose systemd package ships there (Debian 12)', () => {
    const dir = makeRoot({
      'usr/lib/systemd/system/os.service': `${SVC}[Install]\nWantedBy=multi-user.target\n`,
      'var/lib/dpkg/info/systemd.list': '/.\n/lib\n/lib/systemd/system/systemd-journald.service\n',
    });
    symlinkSync('usr/lib', join(dir, 'lib'));
    expect(unitSearchPath(new TargetRoot(dir))).toContain('/lib/systemd/system');
    const r = plan(dir, [{ name: 'os.service', enabled: true }]);
    expect(r.links).toEqual({ 'multi-user.target.wants/os.service': '/lib/systemd/system/os.service' });
  });

  it('keeps an existing link that points to the same file by another path, so nothing changes', () => {
    const dir = makeRoot({
      'usr/lib/systemd/system/os.service': `${SVC}[Install]\nWantedBy=multi-user.target\n`,
      'etc/systemd/system/multi-user.target.wants/os.service': '-> /lib/systemd/system/os.service',
    });
    symlinkSync('usr/lib', join(dir, 'lib'));
    const ctx = ctxFor(dir, [{ name: 'os.service', enabled: true }]);
    const p = planSteps(ctx, [systemdStep]);
    expect(p.problems).toEqual([]);
    expect(p.planned).toEqual([]);
    expect(p.unchanged.map((a) => a.path)).toEqual([`${E}/multi-user.target.wants/os.service`]);
  });

  it('replaces a wants link that points elsewhere', () => {
    const dir = makeRoot({ 'etc/systemd/system/multi-user.target.wants/a.service': '-> /nowhere/a.service' });
    const r = plan(dir, [{ name: 'a.service', contents: `${SVC}[Install]\nWantedBy=multi-user.target\n`, enabled: true }]);
    expect(r.links['multi-user.target.wants/a.service']).toBe(`${E}/a.service`);
  });

  it('instantiates a template with DefaultInstance= and expands specifiers', () => {
    const dir = makeRoot();
    const r = plan(dir, [{ name: 't@.service', contents: `${SVC}[Install]\nWantedBy=multi-user.target %p-%i.target\nDefaultInstance=alpha\nAlias=tt@.service\n`, enabled: true }]);
    expect(r.problems).toEqual([]);
    expect(r.links).toEqual({
      'tt@.service': `${E}/t@.service`,
      'multi-user.target.wants/t@alpha.service': `${E}/t@.service`,
      't-alpha.target.wants/t@alpha.service': `${E}/t@.service`,
    });
  });

  it('enables an instance through its template, carrying the instance into template aliases', () => {
    const dir = makeRoot({ 'usr/lib/systemd/system/getty@.service': `${SVC}[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\nAlias=console@.service\n` });
    const r = plan(dir, [{ name: 'getty@tty2.service', enabled: true }]);
    expect(r.links).toEqual({
      'console@tty2.service': `${U}/getty@.service`,
      'getty.target.wants/getty@tty2.service': `${U}/getty@.service`,
    });
  });

  it('refuses a template without DefaultInstance= wanted by a plain unit, but allows a template target', () => {
    const dir = makeRoot();
    const bad = plan(dir, [{ name: 't@.service', contents: `${SVC}[Install]\nWantedBy=multi-user.target\n`, enabled: true }]);
    expect(bad.problems.join()).toMatch(/systemd\.units\.0\.enabled: t@\.service is a template without DefaultInstance=/);
    const ok = plan(dir, [{ name: 't@.service', contents: `${SVC}[Install]\nWantedBy=w@%i.target\n`, enabled: true }]);
    expect(ok.problems).toEqual([]);
    expect(ok.links).toEqual({ 'w@.target.wants/t@.service': `${E}/t@.service` });
  });

  it('makes Alias= links, replaces a dangling alias, and refuses one that is somebody else\'s', () => {
    const dir = makeRoot({ 'etc/systemd/system/gone.service': '-> /nowhere.service' });
    const r = plan(dir, [{ name: 'a.service', contents: `${SVC}[Install]\nAlias=b.service gone.service a.service\n`, enabled: true }]);
    expect(r.problems).toEqual([]);
    expect(r.links).toEqual({ 'b.service': `${E}/a.service`, 'gone.service': `${E}/a.service` });
    const taken = makeRoot({ 'usr/lib/systemd/system/other.service': SVC, 'etc/systemd/system/b.service': `-> ${U}/other.service` });
    const t = plan(taken, [{ name: 'a.service', contents: `${SVC}[Install]\nAlias=b.service\n`, enabled: true }]);
    expect(t.problems.join()).toMatch(/b\.service already exists and is a link to/);
    const wrong = plan(dir, [{ name: 'a.service', contents: `${SVC}[Install]\nAlias=b.socket\n`, enabled: true }]);
    expect(wrong.problems.join()).toMatch(/cannot be aliased as b\.socket/);
  });

  it('follows Also= recursively, once per unit, and only warns for a missing or masked one', () => {
    const dir = makeRoot({ 'etc/systemd/system/masked.service': '-> /dev/null' });
    const r = plan(dir, [
      { name: 'a.service', contents: `${SVC}[Install]\nWantedBy=a.target\nAlso=b.service missing.service masked.service\n`, enabled: true },
      { name: 'b.service', contents: `${SVC}[Install]\nWantedBy=b.target\nAlso=c.service\n` },
      { name: 'c.service', contents: `${SVC}[Install]\nRequiredBy=c.target\nAlso=a.service b.service\n` },
    ]);
    expect(r.problems).toEqual([]);
    expect(r.links).toEqual({
      'a.target.wants/a.service': `${E}/a.service`,
      'b.target.wants/b.service': `${E}/b.service`,
      'c.target.requires/c.service': `${E}/c.service`,
    });
    expect(r.warnings.join('\n')).toMatch(/missing\.service \(named by Also=\) cannot be enabled/);
    expect(r.warnings.join('\n')).toMatch(/masked\.service \(named by Also=\) is masked/);
  });

  it('warns and links nothing for a unit whose [Install] names nothing', () => {
    const r = plan(makeRoot(), [{ name: 'a.service', contents: `${SVC}[Install]\nWantedBy=\n`, enabled: true }]);
    expect(r.links).toEqual({});
    expect(r.problems).toEqual([]);
    expect(r.warnings.join()).toMatch(/a\.service: its \[Install\] section has no WantedBy=/);
  });

  it('refuses to enable a unit that is masked, or only an alias name in /etc', () => {
    const dir = makeRoot({
      'etc/systemd/system/m.service': '-> /dev/null',
      'usr/lib/systemd/system/real.service': `${SVC}[Install]\nWantedBy=multi-user.target\n`,
      'etc/systemd/system/nick.service': `-> ${U}/real.service`,
    });
    const r = plan(dir, [
      { name: 'none.service', enabled: true },
      { name: 'm.service', enabled: true },
      { name: 'nick.service', enabled: true },
    ]);
    expect(r.problems).toHaveLength(2);
    expect(r.problems[0]).toMatch(/units\.1\.enabled: .*m\.service is masked/);
    expect(r.problems[1]).toMatch(/units\.2\.enabled: .*nick\.service is a link: systemctl refuses/);
  });

  it('a unit that is not in the target yet is enabled by a preset line, with the nearest name as a warning', () => {
    const dir = makeRoot({ 'usr/lib/systemd/system/nginx.service': `${SVC}[Install]\nWantedBy=multi-user.target\n`, 'etc/systemd/system-preset/20-flint.preset': 'enable old.service\n' });
    const r = plan(dir, [{ name: 'nginxx.service', enabled: true }, { name: 'podman-web.service', enabled: true }, { name: 'nginx.service', enabled: true }]);
    expect(r.problems).toEqual([]);
    expect(r.links).toEqual({ 'multi-user.target.wants/nginx.service': `${U}/nginx.service` });
    expect(r.files).toEqual(['/etc/systemd/system-preset/20-flint.preset']);
    const out = systemdStep.plan(ctxFor(dir, [{ name: 'nginxx.service', enabled: true }, { name: 'podman-web.service', enabled: true }]));
    const preset = out.actions.find((a) => a.path === PRESET_FILE);
    expect(preset?.kind === 'file' ? preset.data.toString() : '').toBe('enable nginxx.service\nenable old.service\nenable podman-web.service\n');
    expect(r.warnings.join('\n')).toMatch(/nginxx\.service does not exist in the target \(did you mean nginx\.service\?\); it is listed in \/etc\/systemd\/system-preset\/20-flint\.preset/);
  });

  it('a template or instance without its file stays an error that says why', () => {
    const r = plan(makeRoot(), [{ name: 'getty@tty7.service', enabled: true }, { name: 'worker@.service', enabled: true }]);
    expect(r.problems).toHaveLength(2);
    expect(r.problems[0]).toMatch(/units\.0\.enabled: getty@tty7\.service cannot be enabled: getty@\.service does not exist in the target.*template's \[Install\]/);
    expect(r.files).toEqual([]);
  });

  it('masking and unmasking a unit that is not in the target writes or removes the /dev/null link', () => {
    const dir = makeRoot({ 'etc/systemd/system/gone.service': '-> /dev/null' });
    const r = plan(dir, [{ name: 'later.service', masked: true }, { name: 'gone.service', masked: false }]);
    expect(r.problems).toEqual([]);
    expect(r.links).toEqual({ 'later.service': '/dev/null' });
    expect(r.absent).toEqual(['gone.service']);
  });

  it('enables a linked unit file outside the search path by its own path', () => {
    const dir = makeRoot({ 'opt/app/app.service': `${SVC}[Install]\nWantedBy=multi-user.target\n`, 'etc/systemd/system/app.service': '-> /opt/app/app.service' });
    const r = plan(dir, [{ name: 'app.service', enabled: true }]);
    expect(r.problems).toEqual([]);
    expect(r.links).toEqual({ 'app.service': '/opt/app/app.service', 'multi-user.target.wants/app.service': '/opt/app/app.service' });
  });
});

describe('systemd step: mask, unmask, disable, default target', () => {
  it('masks by a link to /dev/null, skips the contents of a masked unit, and refuses to replace a file', () => {
    const dir = makeRoot({ 'etc/systemd/system/f.service': SVC });
    const r = plan(dir, [
      { name: 'a.service', masked: true, contents: SVC },
      { name: 'f.service', masked: true },
    ]);
    expect(r.links).toEqual({ 'a.service': '/dev/null' });
    expect(r.files).toEqual([]);
    expect(r.problems.join()).toMatch(/units\.1\.masked: .*f\.service already exists/);
  });

  it('unmasks: removes a /dev/null link or an empty file in /etc, and lets the config\'s file take its place', () => {
    const dir = makeRoot({ 'etc/systemd/system/a.service': '-> /dev/null', 'etc/systemd/system/b.service': '', 'etc/systemd/system/c.service': '-> /dev/null' });
    const r = plan(dir, [
      { name: 'a.service', masked: false },
      { name: 'b.service', masked: false },
      { name: 'c.service', masked: false, contents: SVC },
    ]);
    expect(r.absent).toEqual(['a.service', 'b.service']);
    expect(r.files).toEqual(['c.service']);
  });

  it('disables: every link named like the unit, its aliases and template instances, and folders left empty', () => {
    const dir = makeRoot({
      'usr/lib/systemd/system/d.service': `${SVC}[Install]\nWantedBy=multi-user.target\nAlias=dd.service\nAlso=t@.service\n`,
      'usr/lib/systemd/system/t@.service': `${SVC}[Install]\nWantedBy=getty.target\n`,
      'usr/lib/systemd/system/keep.service': SVC,
      'etc/systemd/system/multi-user.target.wants/d.service': `-> ${U}/d.service`,
      'etc/systemd/system/multi-user.target.wants/keep.service': `-> ${U}/keep.service`,
      'etc/systemd/system/dd.service': `-> ${U}/d.service`,
      'etc/systemd/system/other.target.wants/renamed.service': `-> ${U}/d.service`,
      'etc/systemd/system/getty.target.wants/t@1.service': `-> ${U}/t@.service`,
      'etc/systemd/system/getty.target.wants/t@2.service': `-> ${U}/t@.service`,
    });
    const r = plan(dir, [{ name: 'd.service', enabled: false }]);
    expect(r.problems).toEqual([]);
    expect(r.absent.sort()).toEqual([
      'dd.service',
      'getty.target.wants',
      'getty.target.wants/t@1.service',
      'getty.target.wants/t@2.service',
      'multi-user.target.wants/d.service',
      'other.target.wants',
      'other.target.wants/renamed.service',
    ]);
  });

  it('disables before it enables, so a link both remove and want stays', () => {
    const dir = makeRoot({
      'usr/lib/systemd/system/a.service': `${SVC}[Install]\nWantedBy=multi-user.target\n`,
      'usr/lib/systemd/system/b.service': `${SVC}[Install]\nWantedBy=multi-user.target\nAlso=a.service\n`,
      'etc/systemd/system/multi-user.target.wants/a.service': `-> ${U}/a.service`,
    });
    const ctx = ctxFor(dir, [
      { name: 'b.service', enabled: false },
      { name: 'a.service', enabled: true },
    ]);
    const p = planSteps(ctx, [systemdStep]);
    expect(p.problems).toEqual([]);
    expect(p.planned).toEqual([]);
  });

  it('only warns when a unit to disable does not exist', () => {
    const r = plan(makeRoot(), [{ name: 'x.service', enabled: false }]);
    expect(r.problems).toEqual([]);
    expect(r.absent).toEqual([]);
    expect(r.warnings.join()).toMatch(/x\.service does not exist in the target: nothing to disable/);
  });

  it('points default.target at the target unit, following a vendor alias, and refuses a file in the way', () => {
    const dir = makeRoot({
      'usr/lib/systemd/system/multi-user.target': '[Unit]\nDescription=x\n',
      'usr/lib/systemd/system/runlevel3.target': '-> multi-user.target',
      'etc/systemd/system/default.target': '-> /usr/lib/systemd/system/graphical.target',
    });
    expect(plan(dir, [], 'multi-user.target').links).toEqual({ 'default.target': `${U}/multi-user.target` });
    expect(plan(dir, [], 'runlevel3.target').links).toEqual({ 'default.target': `${U}/multi-user.target` });
    expect(plan(dir, [], 'nothere.target').problems.join()).toMatch(/systemd\.default_target: nothere\.target does not exist/);
    const blocked = makeRoot({ 'usr/lib/systemd/system/multi-user.target': '[Unit]\n', 'etc/systemd/system/default.target': '[Unit]\n' });
    expect(plan(blocked, [], 'multi-user.target').problems.join()).toMatch(/default\.target already exists and is not a link/);
  });

  it('refuses an alias onto a name the config masks', () => {
    const r = plan(makeRoot(), [
      { name: 'x.service', masked: true },
      { name: 'a.service', contents: `${SVC}[Install]\nAlias=x.service\n`, enabled: true },
    ]);
    expect(r.problems.join()).toMatch(/units\.1\.enabled: \/etc\/systemd\/system\/x\.service is wanted both as mask x\.service/);
  });

  it('uses a target unit the config writes', () => {
    const r = plan(makeRoot(), [{ name: 'kiosk.target', contents: '[Unit]\nDescription=Kiosk\n' }], 'kiosk.target');
    expect(r.links).toEqual({ 'default.target': `${E}/kiosk.target` });
  });
});
