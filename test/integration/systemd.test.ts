/**
 * The systemd step against the target's own systemctl: on two copies of a Debian root,
 * flint plans and applies a set of units on one, and systemctl (enable, disable, mask,
 * unmask, set-default) works on the other from the same unit files. Everything under
 * /etc/systemd/system must come out the same, link for link. Needs root and debootstrap.
 */
import { stepContext } from '../helpers/step-context.js';
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlintConfig } from '../../src/config/validate.js';
import { applyPlanned } from '../../src/engine/apply.js';
import { planSteps } from '../../src/engine/plan.js';
import type { Plan } from '../../src/engine/plan.js';
import type { StepContext } from '../../src/engine/step.js';
import { systemdStep } from '../../src/steps/systemd/step.js';
import { systemdVersion } from '../../src/steps/systemd/install.js';
import { TargetRoot } from '../../src/target/root.js';
import { freshRoot, hasRootfsSupport, inChroot } from './rootfs.js';
import type { FreshRoot } from './rootfs.js';

const support = hasRootfsSupport();

function svc(install: string, extra = ''): string {
  return `[Unit]\nDescription=flint test unit\n\n[Service]\nType=oneshot\nExecStart=/bin/true\n${extra}\n[Install]\n${install}\n`;
}

type Unit = NonNullable<NonNullable<FlintConfig['systemd']>['units']>[number];

/** One of each case the step handles; the comments say what systemctl is expected to do. */
const UNITS: Unit[] = [
  { name: 'plain.service', contents: svc('WantedBy=multi-user.target'), enabled: true, dropins: [{ name: '10-env.conf', contents: '[Service]\nEnvironment=X=1\n' }] },
  // Continuation, a comment inside it, an empty assignment resetting the list, quotes, RequiredBy.
  { name: 'multi.service', contents: svc('WantedBy=multi-user.target \\\n# not part of the value\n  timers.target\nWantedBy=\nWantedBy=sockets.target "basic.target"\nRequiredBy=local-fs.target'), enabled: true },
  // A drop-in adds to [Install]: systemctl reads drop-ins too.
  { name: 'viadropin.service', contents: svc('WantedBy=multi-user.target'), enabled: true, dropins: [{ name: 'install.conf', contents: '[Install]\nWantedBy=\nWantedBy=timers.target\n' }] },
  // Template with DefaultInstance.
  { name: 'tmpl@.service', contents: svc('WantedBy=multi-user.target\nDefaultInstance=alpha'), enabled: true },
  // Instance of a template: the template file is written, the instance enabled.
  { name: 'worker@.service', contents: svc('WantedBy=multi-user.target\nAlias=helper@.service') },
  { name: 'worker@one.service', enabled: true },
  // An instance of a template the OS ships.
  { name: 'getty@tty2.service', enabled: true },
  // Specifiers.
  { name: 'spec@.service', contents: svc('WantedBy=multi-user.target\nRequiredBy=%p-%i.target\nDefaultInstance=%p1\nAlias=%p-alt@.service') },
  { name: 'spec@x-y.service', enabled: true },
  { name: 'aliased.service', contents: svc('WantedBy=multi-user.target\nAlias=aliased-alt.service other-name.service'), enabled: true },
  // Also= both ways: a cycle.
  { name: 'also-a.service', contents: svc('WantedBy=multi-user.target\nAlso=also-b.service'), enabled: true },
  { name: 'also-b.service', contents: svc('WantedBy=graphical.target\nAlso=also-a.service') },
  { name: 'req.service', contents: svc('RequiredBy=multi-user.target'), enabled: true },
  // systemd 252 does not know UpheldBy= and ignores it; newer ones link .upholds/.
  { name: 'upheld.service', contents: svc('UpheldBy=multi-user.target\nWantedBy=default.target'), enabled: true },
  // The legacy Alias=X.wants/NAME form.
  { name: 'legacy.service', contents: svc('Alias=multi-user.target.wants/legacy.service'), enabled: true },
  // Masks: a unit the OS ships and enables, and one that does not exist.
  { name: 'e2scrub_all.timer', masked: true },
  { name: 'nothere.service', masked: true },
  // OS-shipped units without contents: Alias= and Also= of systemd-networkd; ssh is enabled already.
  { name: 'systemd-networkd.service', enabled: true },
  { name: 'ssh.service', enabled: true },
  // Disable what the OS enabled, and unmask what is masked in both copies beforehand.
  { name: 'e2scrub_reap.service', enabled: false },
  { name: 'apt-daily.timer', masked: false },
];

const CONFIG = { version: 1, systemd: { default_target: 'multi-user.target', units: UNITS } } as unknown as FlintConfig;

function context(dir: string): StepContext {
  return stepContext(dir, CONFIG, { configDir: dir, today: 20000 });
}

/** Every entry under /etc/systemd/system: links with their targets, files with mode and digest, folders with mode. */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const base = join(root, 'etc/systemd/system');
  const walk = (rel: string): void => {
    const full = join(base, rel);
    const st = lstatSync(full);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out[rel] = `link -> ${readlinkSync(full)}`;
    else if (st.isDirectory()) {
      if (rel !== '') out[rel] = `dir ${mode} ${st.uid}:${st.gid}`;
      for (const n of readdirSync(full)) walk(rel === '' ? n : `${rel}/${n}`);
    } else out[rel] = `file ${mode} ${st.uid}:${st.gid} ${createHash('sha256').update(readFileSync(full)).digest('hex').slice(0, 16)}`;
  };
  walk('');
  return out;
}

/**
 * The host's systemctl when it is the target's version (its --root then behaves as the
 * target's would), else the chroot's; FLINT_TEST_SYSTEMCTL=chroot forces the chroot's.
 */
async function systemctlRunner(root: string): Promise<(args: string[]) => Promise<{ code: number; output: string }>> {
  const want = systemdVersion(new TargetRoot(root));
  const host = await execa('systemctl', ['--version'], { reject: false });
  const hostVersion = host.exitCode === 0 ? Number(/^systemd (\d+)/.exec(host.stdout)?.[1]) : undefined;
  if (process.env.FLINT_TEST_SYSTEMCTL !== 'chroot' && hostVersion !== undefined && hostVersion === want) {
    return async (args) => {
      const r = await execa('systemctl', [`--root=${root}`, ...args], { reject: false, all: true });
      return { code: r.exitCode ?? -1, output: r.all ?? '' };
    };
  }
  return async (args) => {
    const r = await inChroot(root, ['systemctl', ...args]);
    return { code: r.code, output: r.stdout + r.stderr };
  };
}

function writeUnits(root: string): void {
  const dir = join(root, 'etc/systemd/system');
  for (const u of UNITS) {
    if (u.contents !== undefined) {
      writeFileSync(join(dir, u.name), u.contents);
      chmodSync(join(dir, u.name), 0o644);
    }
    for (const d of u.dropins ?? []) {
      mkdirSync(join(dir, `${u.name}.d`), { recursive: true, mode: 0o755 });
      writeFileSync(join(dir, `${u.name}.d`, d.name), d.contents);
      chmodSync(join(dir, `${u.name}.d`, d.name), 0o644);
    }
  }
}

describe.skipIf(!support.ok)(`systemd units against systemctl${support.ok ? '' : ` (SKIPPED: ${support.reason})`}`, () => {
  let flint: FreshRoot;
  let reference: FreshRoot;
  let plan: Plan;
  const log: string[] = [];

  beforeAll(async () => {
    [flint, reference] = await Promise.all([freshRoot(), freshRoot()]);
    for (const r of [flint, reference]) symlinkSync('/dev/null', join(r.dir, 'etc/systemd/system/apt-daily.timer'));

    plan = planSteps(context(flint.dir), [systemdStep]);
    if (plan.problems.length === 0) applyPlanned(new TargetRoot(flint.dir), plan.planned);

    writeUnits(reference.dir);
    const systemctl = await systemctlRunner(reference.dir);
    const names = (pick: (u: Unit) => boolean) => UNITS.filter(pick).map((u) => u.name);
    for (const args of [
      ['unmask', ...names((u) => u.masked === false)],
      ['mask', ...names((u) => u.masked === true)],
      ['disable', ...names((u) => u.enabled === false)],
      ['enable', ...names((u) => u.enabled === true)],
      ['set-default', 'multi-user.target'],
    ]) {
      const r = await systemctl(args);
      log.push(`$ systemctl ${args.join(' ')}  (exit ${r.code})\n${r.output}`);
      if (r.code !== 0) throw new Error(`systemctl ${args.join(' ')} failed:\n${r.output}`);
    }
  }, 900_000);

  afterAll(async () => {
    await Promise.all([flint?.cleanup(), reference?.cleanup()]);
  });

  it('plans without problems', () => {
    expect(plan.problems).toEqual([]);
    expect(plan.planned.length).toBeGreaterThan(0);
  });

  it('leaves /etc/systemd/system exactly as systemctl does', () => {
    const ours = tree(flint.dir);
    const theirs = tree(reference.dir);
    expect(ours, log.join('\n')).toEqual(theirs);
    // The cases the comparison is about are really there.
    expect(ours['multi-user.target.wants/plain.service']).toBe('link -> /etc/systemd/system/plain.service');
    expect(ours['multi-user.target.wants/tmpl@alpha.service']).toBe('link -> /etc/systemd/system/tmpl@.service');
    expect(ours['multi-user.target.wants/worker@one.service']).toBe('link -> /etc/systemd/system/worker@.service');
    expect(ours['helper@one.service']).toBe('link -> /etc/systemd/system/worker@.service');
    expect(ours['getty.target.wants/getty@tty2.service']).toBe('link -> /lib/systemd/system/getty@.service');
    expect(ours['aliased-alt.service']).toBe('link -> /etc/systemd/system/aliased.service');
    expect(ours['graphical.target.wants/also-b.service']).toBe('link -> /etc/systemd/system/also-b.service');
    expect(ours['multi-user.target.requires/req.service']).toBe('link -> /etc/systemd/system/req.service');
    expect(ours['dbus-org.freedesktop.network1.service']).toBe('link -> /lib/systemd/system/systemd-networkd.service');
    expect(ours['sockets.target.wants/systemd-networkd.socket']).toBe('link -> /lib/systemd/system/systemd-networkd.socket');
    expect(ours['e2scrub_all.timer']).toBe('link -> /dev/null');
    expect(ours['nothere.service']).toBe('link -> /dev/null');
    expect(ours['default.target']).toBe('link -> /lib/systemd/system/multi-user.target');
    expect(ours['multi-user.target.wants/e2scrub_reap.service']).toBeUndefined();
    expect(ours['apt-daily.timer']).toBeUndefined();
    expect(ours['multi-user.target.wants/ssh.service']).toBe('link -> /lib/systemd/system/ssh.service');
  });

  it('handles UpheldBy= as the target\'s systemctl does, and says so', () => {
    const version = systemdVersion(new TargetRoot(flint.dir)) ?? 0;
    const ignored = plan.warnings.some((w) => /UpheldBy=.*older than 254/.test(w));
    expect(ignored).toBe(version < 254);
    expect(tree(flint.dir)['multi-user.target.upholds/upheld.service'] !== undefined).toBe(version >= 254);
  });

  it('plans nothing on a second run', () => {
    const again = planSteps(context(flint.dir), [systemdStep]);
    expect(again.problems).toEqual([]);
    expect(again.planned.map((p) => `${p.action.path}: ${p.details.join(', ')}`)).toEqual([]);
  });

  it('writes units that systemd-analyze verify accepts in the target', async () => {
    const checked: string[] = [];
    for (const u of UNITS) {
      if (u.contents === undefined) continue;
      // A template is checked through an instance: verify loads a unit, and a template is none.
      const what = u.name.includes('@.') ? u.name.replace('@.', '@check.') : `/etc/systemd/system/${u.name}`;
      const r = await inChroot(flint.dir, ['systemd-analyze', 'verify', '--man=no', what]);
      expect(r.code, `${what}:\n${r.stdout}${r.stderr}`).toBe(0);
      checked.push(what);
    }
    expect(checked.length).toBeGreaterThan(8);
  }, 120_000);
});
