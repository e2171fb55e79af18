/**
 * The systemd step: unit files and drop-ins from the config, and the symlinks that
 * `systemctl enable`, `disable`, `mask`, `unmask` and `set-default` would make, worked
 * out offline so that no systemd has to run, by install.ts's port of systemctl's own
 * install logic (systemd 252, src/shared/install.c); the integration test holds flint's
 * links against what the target's systemctl makes from the same unit files.
 *
 * Operations run in the order systemctl would be called: files, mask/unmask, disable,
 * enable, set-default. Everything is planned against a view of the target with the
 * earlier operations already applied, so enabling a unit whose file the config writes
 * works in one plan.
 *
 * Not done: disabling a unit that an earlier config enabled and this one no longer
 * names (flint keeps no record of what it enabled; `enabled: false` disables
 * explicitly), presets, SysV init script links (systemctl's systemd-sysv-install), and
 * /run (a tmpfs at boot, so nothing an image holds there counts).
 */
import type { PathSeg } from '../../config/diagnostics.js';
import type { Action } from '../../engine/actions.js';
import type { Problem, Step, StepContext, StepOutput } from '../../engine/step.js';
import { nearest } from '../../config/checks/suggest.js';
import type { TargetRoot } from '../../target/root.js';
import { templateOf, unitNameKind } from './units.js';
import { CONFIG_DIR, installerFor, unitExists, unitSearchPath, UnitView } from './install.js';

export const systemdStep: Step = {
  name: 'systemd',
  sections: ['systemd'],
  bootUnits: (c) => (c.systemd?.units ?? []).filter((u) => u.enabled === true && !/@\.|\.(target|device|mount|swap|slice|scope)$/.test(u.name)).map((u) => [u.name]),
  plan(ctx: StepContext): StepOutput {
    const sd = ctx.config.systemd;
    if (sd === undefined) return { actions: [], problems: [], warnings: [] };
    return planSystemd(ctx);
  },
};

function planSystemd(ctx: StepContext): StepOutput {
  const { root } = ctx;
  const sd = ctx.config.systemd ?? {};
  const units = sd.units ?? [];
  const view = new UnitView(root);
  const problems: Problem[] = [];
  const files: Action[] = [];
  const at = (i: number, ...rest: PathSeg[]): PathSeg[] => ['systemd', 'units', i, ...rest];

  // Unit files and drop-ins. A masked unit's contents are not written: its name is the mask.
  units.forEach((u, i) => {
    const path = `${CONFIG_DIR}/${u.name}`;
    if (u.contents !== undefined && u.masked !== true) {
      if (view.entry(path).type === 'dir') problems.push({ path: at(i, 'contents'), message: `${path} is a folder in the target`, hint: 'remove it from the image' });
      else {
        const data = Buffer.from(u.contents);
        files.push({ kind: 'file', path, data, mode: 0o644, uid: 0, gid: 0, step: 'systemd', why: `unit ${u.name}` });
        view.set(path, { type: 'file', data });
      }
    }
    for (const d of u.dropins ?? []) {
      const p = `${path}.d/${d.name}`;
      const data = Buffer.from(d.contents);
      files.push({ kind: 'file', path: p, data, mode: 0o644, uid: 0, gid: 0, step: 'systemd', why: `drop-in ${d.name} of ${u.name}` });
      view.set(p, { type: 'file', data });
    }
  });

  const inst = installerFor(root, view);

  // A unit file of the config already stands where a mask was: unmask finds nothing to remove.
  units.forEach((u, i) => {
    if (u.masked === true) inst.mask(u.name, i);
    else if (u.masked === false) inst.unmask(u.name);
  });
  const named = (want: boolean) => units.flatMap((u, i) => (u.enabled === want ? [{ name: u.name, origin: i }] : []));
  inst.disable(named(false));
  const later = laterUnits(view, named(true), problems, inst.warnings, at);
  // The missing ones were reported (or listed as presets) by laterUnits.
  inst.enable(named(true).filter((u) => unitNameKind(u.name) === undefined || unitExists(view, u.name)));
  if (sd.default_target !== undefined) inst.setDefault(sd.default_target);

  for (const p of inst.problems) {
    problems.push({ path: p.origin < 0 ? ['systemd', 'default_target'] : at(p.origin, p.key), message: p.message, ...(p.hint !== undefined ? { hint: p.hint } : {}) });
  }
  for (const u of units) {
    if (u.contents === undefined && (u.dropins ?? []).length > 0 && u.masked !== true && !unitExists(view, u.name)) {
      inst.warnings.push(`${u.name} does not exist in the target; its drop-ins are written for a unit that may come later`);
    }
  }

  // One action per path: a link replaces a removal of the same path; folders still
  // holding something planned are kept.
  const actions = new Map<string, Action>();
  for (const f of files) actions.set(f.path, f);
  for (const [path, l] of inst.links) {
    if (actions.has(path)) {
      problems.push({ path: ['systemd'], message: `${path} is both a file of the config and a link (${l.why})` });
      continue;
    }
    actions.set(path, { kind: 'symlink', path, target: l.target, uid: 0, gid: 0, step: 'systemd', why: l.why });
  }
  const removals: Action[] = [];
  for (const [path, why] of inst.removals) {
    if (actions.has(path) || [...actions.keys()].some((p) => p.startsWith(`${path}/`))) continue;
    removals.push({ kind: 'absent', path, step: 'systemd', why });
  }
  const preset = presetAction(root, later);
  if (preset !== undefined) actions.set(preset.path, preset);
  return { actions: [...removals, ...actions.values()], problems, warnings: inst.warnings.map((w) => `systemd: ${w}`) };
}

/** Where flint lists enabled units whose file is not in the target yet (see laterUnits). */
export const PRESET_FILE = '/etc/systemd/system-preset/20-flint.preset';

/**
 * Enabled units that exist nowhere in the target's unit search path (from a package
 * installed later, a generator such as Quadlet, a later script): their [Install] section
 * is unknown, so no link can be made now. A plain name is listed in PRESET_FILE
 * (`enable NAME`), as Ignition does for every unit: systemd applies it when the package
 * manager presets the unit on install (rpm, zypper) and on the first boot with an
 * unpopulated machine-id. It is a warning with the nearest existing name, since a typo
 * looks the same. A template or an instance needs the template's file (the instance
 * links come from its [Install]): that stays an error.
 */
function laterUnits(view: UnitView, enabled: ReadonlyArray<{ name: string; origin: number }>, problems: Problem[], warnings: string[], at: (i: number, ...rest: PathSeg[]) => PathSeg[]): string[] {
  const missing = enabled.filter((u) => unitNameKind(u.name) !== undefined && !unitExists(view, u.name));
  if (missing.length === 0) return [];
  const known = knownUnits(view);
  const out: string[] = [];
  for (const u of missing) {
    const near = nearest(u.name, known);
    const typo = near !== undefined ? ` (did you mean ${near}?)` : '';
    if (unitNameKind(u.name) !== 'plain') {
      problems.push({ path: at(u.origin, 'enabled'), message: `${u.name} cannot be enabled: ${templateOf(u.name) ?? u.name} does not exist in the target${typo}, and an instance or template is enabled from its template's [Install] section`, hint: 'give the template\'s contents in the config, or install it in the image' });
      continue;
    }
    warnings.push(`${u.name} does not exist in the target${typo}; it is listed in ${PRESET_FILE} (enable ${u.name}), which systemd applies when the unit is installed or on the first boot. An alias needs its unit file in the target: give the contents instead`);
    out.push(u.name);
  }
  return out;
}

/** Unit file names in the search path, for the "did you mean" of a unit that is missing. */
function knownUnits(view: UnitView): string[] {
  const names = new Set<string>();
  for (const d of unitSearchPath(view.root)) for (const n of view.list(d)) if (unitNameKind(n) !== undefined) names.add(n);
  return [...names];
}

/**
 * PRESET_FILE with one `enable NAME` line per unit, sorted (as Ignition 2.15+ sorts its
 * preset file); lines for other units an earlier run wrote are kept, so the file only grows.
 */
function presetAction(root: TargetRoot, names: readonly string[]): Action | undefined {
  if (names.length === 0) return undefined;
  const old = (root.readText(PRESET_FILE) ?? '').split('\n').filter((l) => l.trim() !== '');
  const lines = [...new Set([...old, ...names.map((n) => `enable ${n}`)])].sort();
  return { kind: 'file', path: PRESET_FILE, data: Buffer.from(`${lines.join('\n')}\n`), mode: 0o644, uid: 0, gid: 0, step: 'systemd', why: `enable ${names.join(', ')} when installed (preset)` };
}
