/**
 * Planning: run each step over the config and the current target, then compare every
 * action with what the target already has. Only differences become planned actions;
 * nothing is written here.
 */
import type { FlintConfig } from '../config/validate.js';
import type { PathSeg } from '../config/diagnostics.js';
import { TargetError } from '../target/root.js';
import type { TargetRoot } from '../target/root.js';
import { modeString } from './actions.js';
import type { Action, PlannedAction } from './actions.js';

export interface Ids {
  users: Map<string, number>;
  groups: Map<string, number>;
}

/** What steps share: the target, the config, and what earlier steps worked out. */
export interface StepContext {
  root: TargetRoot;
  config: FlintConfig;
  /** Folder of the config on its medium, for `file:` payloads. */
  configDir: string;
  /** Days since 1970-01-01, for /etc/shadow. */
  today: number;
  /** Users and groups of the target as they will be after the users step. */
  ids: Ids;
  /** Homes of the config's users after the users step, by user name. */
  homes: Map<string, { home: string; uid: number; gid: number; /** missing in the target: this plan makes it */ made?: boolean }>;
  /** Data of `file:` and `https:` sources, fetched and read before planning (planning is synchronous). */
  payloads: Map<string, Buffer>;
}

export interface Problem {
  path: PathSeg[];
  message: string;
  hint?: string;
}

export interface StepOutput {
  actions: Action[];
  /** Problems found against the target (a shell that does not exist): nothing is applied. */
  problems: Problem[];
  warnings: string[];
  /** Facts for the report, e.g. host key fingerprints. Never secrets. */
  report?: Record<string, unknown>;
  /**
   * Work still going on (host keys being made in the thread pool): when it settles, it
   * has filled in the data of the actions marked `later` and its facts in the report.
   */
  pending?: Promise<void>;
}

export interface Step {
  name: string;
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
  /** Steps' work still going on; settle it with settlePlan before applying or showing the plan. */
  pending: Promise<void>[];
}

export function planSteps(ctx: StepContext, steps: readonly Step[]): Plan {
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
  for (const step of steps) {
    const t0 = performance.now();
    const out = planOne(step, ctx);
    timings[step.name] = Math.round((performance.now() - t0) * 10) / 10;
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
  return { planned, unchanged, problems, warnings, report, timings, pending };
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

/** Two steps may want the same folder or link (a home's ~/.ssh, an enablement link): fine when they agree. */
/**
 * A step's plan; a target that cannot be read safely (a symlink loop, a folder where a
 * file must be) is a problem of that step's section, for every step alike.
 */
function planOne(step: Step, ctx: StepContext): StepOutput {
  try {
    return step.plan(ctx);
  } catch (e) {
    if (!(e instanceof TargetError)) throw e;
    const section = step.name in ctx.config ? [step.name] : [];
    return { actions: [], problems: [{ path: section, message: e.message }], warnings: [] };
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
