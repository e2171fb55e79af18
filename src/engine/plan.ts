/**
 * Planning: run each step over the config and the current target, then compare every
 * action with what the target already has. Only differences become planned actions;
 * nothing is written here.
 */
import { TargetError } from '../target/root.js';
import type { TargetRoot } from '../target/root.js';
import { modeString } from './actions.js';
import type { Action, PlannedAction } from './actions.js';
import { FactTable } from './step.js';
import type { Effect, Facts, Problem, Step, StepContext, StepOutput } from './step.js';

/** A step ready to plan: the step itself, or what its prepare made of it. */
export interface Planner {
  step: Step;
  plan(ctx: StepContext): StepOutput;
}

export interface Plan {
  planned: PlannedAction[];
  /** Actions that are already true of the target. */
  unchanged: Action[];
  problems: Array<Problem & { step: string }>;
  warnings: string[];
  report: Record<string, unknown>;
  /** Milliseconds each step took to plan. */
  timings: Record<string, number>;
  /** Changes to the machine that are not file actions, in step order. */
  effects: Array<Effect & { step: string }>;
  /** Steps' work still going on; settle it with settlePlan before applying or showing the plan. */
  pending: Promise<void>[];
}

/**
 * Plans STEPS in order over BASE. Facts start from BASE.facts when given (a test that
 * plans one step alone hands it the facts an earlier step would have provided).
 */
export function planSteps(base: Omit<StepContext, 'facts'> & { facts?: Facts }, steps: ReadonlyArray<Planner | Step>): Plan {
  const facts = new FactTable(base.facts instanceof FactTable ? base.facts : undefined);
  const ctx: StepContext = { ...base, facts };
  const effects: Plan['effects'] = [];
  // Facts a step failed to provide (its plan stopped at a problem): the steps that need
  // them are not planned, since the apply is refused anyway.
  const missing = new Set<string>();
  const planned: PlannedAction[] = [];
  const unchanged: Action[] = [];
  const problems: Plan['problems'] = [];
  const warnings: string[] = [];
  const report: Record<string, unknown> = {};
  const timings: Record<string, number> = {};
  const pending: Promise<void>[] = [];
  const claimed = new Map<string, Action>();
  const willExist = new Set<string>();
  // A hard link to a file this apply rewrites must be made again: the rewrite puts a
  // new inode in place, and the old link would keep the old content.
  const rewritten = new Set<string>();
  // Folders this plan creates: they are missing now, so is everything below them, and
  // looking (an lstat per path, 30,000 for 5,000 users) is not needed to know it.
  const creating = new Set<string>();
  for (const planner of steps.map(asPlanner)) {
    const step = planner.step;
    if ((step.needs ?? []).some((k) => missing.has(k.name) || !facts.has(k))) continue;
    const t0 = performance.now();
    const out = planOne(planner, ctx);
    timings[step.name] = Math.round((performance.now() - t0) * 10) / 10;
    facts.add(step, out.provides ?? []);
    const given = new Set((out.provides ?? []).map((p) => p.key.name));
    for (const k of step.provides ?? []) if (!given.has(k.name)) missing.add(k.name);
    effects.push(...(out.effects ?? []).map((e) => ({ ...e, step: step.name })));
    problems.push(...out.problems.map((p) => ({ ...p, step: step.name })));
    warnings.push(...out.warnings);
    Object.assign(report, out.report ?? {});
    if (out.pending !== undefined) {
      // The step's facts object is the one in the report: what it adds later shows.
      const facts = out.report;
      const settled = out.pending.then(() => void Object.assign(report, facts ?? {}));
      // Awaited by settlePlan; a plan that is never applied must not leave it unhandled.
      settled.catch(() => undefined);
      pending.push(settled);
    }
    for (const action of out.actions) {
      const earlier = claimed.get(action.path);
      if (earlier !== undefined) {
        if (sameClaim(earlier, action)) continue;
        problems.push({ step: step.name, path: [], message: `${action.path} is written by both ${earlier.step} (${earlier.why}) and ${action.step} (${action.why})` });
        continue;
      }
      claimed.set(action.path, action);
      for (const parent of action.kind === 'absent' ? [] : missingParents(ctx.root, action.path, willExist)) {
        const dir: Action = { kind: 'dir', path: parent, mode: 0o755, uid: 0, gid: 0, step: action.step, why: `folder for ${action.path}` };
        claimed.set(parent, dir);
        planned.push({ action: dir, change: 'create', details: ['create folder root:root 0755'] });
        willExist.add(parent);
        creating.add(parent);
      }
      const c = compare(ctx.root, action, creating.has(parentPath(action.path)));
      if (c?.change === 'create' && action.kind === 'dir') creating.add(action.path);
      if (c === undefined && action.kind === 'hardlink' && rewritten.has(action.target)) {
        planned.push({ action, change: 'change', details: [`link again to ${action.target}, which this apply rewrites`] });
      } else if (c === undefined) unchanged.push(action);
      else {
        planned.push(c);
        if (action.kind === 'file') rewritten.add(action.path);
      }
      if (action.kind !== 'absent') willExist.add(action.path);
    }
  }
  return { planned, unchanged, problems, warnings, report, timings, effects, pending };
}

/**
 * Waits for the steps' pending work (host keys), then describes the actions it completed
 * as the plan would have. Idempotent.
 */
export async function settlePlan(root: TargetRoot, plan: Plan): Promise<void> {
  if (plan.pending.length === 0) return;
  const waiting = plan.pending;
  plan.pending = [];
  await Promise.all(waiting);
  for (const p of plan.planned) {
    const a = p.action;
    if (a.kind !== 'file' || a.later !== true) continue;
    delete a.later;
    const c = compare(root, a);
    if (c !== undefined) Object.assign(p, c);
  }
}

function asPlanner(s: Planner | Step): Planner {
  return 'step' in s ? s : { step: s, plan: (c) => s.plan(c) };
}

/** Two steps may want the same folder or link (a home's ~/.ssh, an enablement link): fine when they agree. */
/**
 * A step's plan; a target that cannot be read safely (a symlink loop, a folder where a
 * file must be) is a problem of that step's section, for every step alike.
 */
function planOne(planner: Planner, ctx: StepContext): StepOutput {
  try {
    return planner.plan(ctx);
  } catch (e) {
    if (!(e instanceof TargetError)) throw e;
    const step = planner.step;
    const section = step.sections.find((s) => s in ctx.config);
    return { actions: [], problems: [{ path: section !== undefined ? [section] : [], message: e.message }], warnings: [] };
  }
}

function sameClaim(a: Action, b: Action): boolean {
  if (a.kind === 'dir' && b.kind === 'dir') return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid;
  if (a.kind === 'symlink' && b.kind === 'symlink') return a.target === b.target && a.uid === b.uid && a.gid === b.gid;
  return false;
}

/** Parents of `path` that neither exist in the target nor are created by an earlier action. */
function missingParents(root: TargetRoot, path: string, willExist: Set<string>): string[] {
  const out: string[] = [];
  let p = path.slice(0, path.lastIndexOf('/'));
  while (p !== '' && !willExist.has(p) && root.entry(p).type === 'missing') {
    out.unshift(p);
    p = p.slice(0, p.lastIndexOf('/'));
  }
  return out;
}

function parentPath(p: string): string {
  return p.slice(0, p.lastIndexOf('/'));
}

/**
 * The difference between an action and the target, or undefined when there is none.
 * `missing`: the caller knows nothing is at the path (its folder is yet to be made).
 */
export function compare(root: TargetRoot, a: Action, missing = false): PlannedAction | undefined {
  const e = missing ? { type: 'missing' as const } : root.entry(a.path);
  if (a.kind === 'absent') return e.type === 'missing' ? undefined : { action: a, change: 'change', details: [`remove ${e.type}`] };
  if (e.type === 'missing') return { action: a, change: 'create', details: [describeCreate(a)] };
  const details: string[] = [];
  let before: string | undefined;
  switch (a.kind) {
    case 'file': {
      if (e.type !== 'file') {
        details.push(`replace ${e.type} with a file`);
        break;
      }
      if (a.later === true) {
        details.push(a.secret ? 'content (secret, not shown)' : 'content');
        break;
      }
      const current = root.readFile(a.path) ?? Buffer.alloc(0);
      if (!current.equals(a.data)) {
        details.push(a.secret ? 'content (secret, not shown)' : 'content');
        if (!a.secret && isText(current) && isText(a.data)) before = current.toString('utf8');
      }
      ownerModeDetails(details, e, a);
      break;
    }
    case 'dir':
      if (e.type !== 'dir') details.push(`replace ${e.type} with a folder`);
      else ownerModeDetails(details, e, a);
      break;
    case 'symlink':
      if (e.type !== 'symlink') details.push(`replace ${e.type} with a link`);
      else {
        if (e.target !== a.target) details.push(`link target ${e.target} -> ${a.target}`);
        if (e.uid !== a.uid || e.gid !== a.gid) details.push(`owner ${e.uid}:${e.gid} -> ${a.uid}:${a.gid}`);
      }
      break;
    case 'hardlink': {
      const target = root.entry(a.target);
      const same = e.type === 'file' && target.type === 'file' && sameInode(root, a.path, a.target);
      if (!same) details.push(`hard link to ${a.target}`);
      break;
    }
  }
  if (details.length === 0) return undefined;
  const out: PlannedAction = { action: a, change: 'change', details };
  if (before !== undefined) out.before = before;
  return out;
}

function ownerModeDetails(details: string[], e: { mode: number; uid: number; gid: number }, a: { mode: number; uid: number; gid: number }): void {
  if (e.mode !== a.mode) details.push(`mode ${modeString(e.mode)} -> ${modeString(a.mode)}`);
  if (e.uid !== a.uid || e.gid !== a.gid) details.push(`owner ${e.uid}:${e.gid} -> ${a.uid}:${a.gid}`);
}

function describeCreate(a: Exclude<Action, { kind: 'absent' }>): string {
  switch (a.kind) {
    case 'file': return `create file ${a.uid}:${a.gid} ${modeString(a.mode)}, ${a.data.length} bytes`;
    case 'dir': return `create folder ${a.uid}:${a.gid} ${modeString(a.mode)}`;
    case 'symlink': return `create link -> ${a.target}`;
    case 'hardlink': return `create hard link to ${a.target}`;
  }
}

function isText(b: Buffer): boolean {
  return b.length < 1 << 20 && !b.includes(0);
}

function sameInode(root: TargetRoot, a: string, b: string): boolean {
  const sa = root.statIno(a);
  const sb = root.statIno(b);
  return sa !== undefined && sa === sb;
}
