/**
 * Applying a plan inside a transaction. Each action's path is journaled (and synced)
 * before the action runs; any failure rolls every recorded path back.
 *
 * Test hooks (environment; they exist so the all-or-nothing promise can be tested at
 * every action, and do nothing unless set):
 *   FLINT_TEST_FAIL_AT=N        the Nth action (1-based) fails after its path is journaled
 *   FLINT_TEST_ACTION_DELAY_MS  sleep this long before each action (to SIGKILL mid-apply)
 */
import { Journal } from '../transaction/journal.js';
import type { TargetRoot } from '../target/root.js';
import type { PlannedAction } from './actions.js';

export interface ApplyProgress {
  (done: number, total: number, p: PlannedAction): void;
}

export class ApplyError extends Error {
  constructor(
    message: string,
    readonly index: number,
    readonly path: string,
    readonly restored: number,
    /** The step whose action failed, e.g. "files". */
    readonly step?: string,
  ) {
    super(message);
  }
}

export function applyPlanned(root: TargetRoot, planned: readonly PlannedAction[], progress?: ApplyProgress): void {
  applyOpen(root, planned, progress)?.commit();
}

/**
 * Like applyPlanned, but the transaction stays open (undefined: nothing to apply): the
 * caller commits it, or rolls it back when what follows (post scripts) fails.
 */
export function applyOpen(root: TargetRoot, planned: readonly PlannedAction[], progress?: ApplyProgress): Journal | undefined {
  if (planned.length === 0) return undefined;
  const failAt = Number(process.env.FLINT_TEST_FAIL_AT ?? 0);
  const delay = Number(process.env.FLINT_TEST_ACTION_DELAY_MS ?? 0);
  const journal = Journal.begin(root);
  let i = 0;
  try {
    for (; i < planned.length; i++) {
      const p = planned[i]!;
      if (delay > 0) sleep(delay);
      journal.record(p.action.path);
      if (failAt === i + 1) throw new Error(`injected failure at action ${i + 1} (FLINT_TEST_FAIL_AT)`);
      run(root, p);
      progress?.(i + 1, planned.length, p);
    }
  } catch (e) {
    const path = planned[i]?.action.path ?? '';
    journal.rollback();
    throw new ApplyError(`${(e as Error).message} (while writing ${path}); every change was rolled back`, i, path, i + 1, planned[i]?.action.step);
  }
  return journal;
}

function run(root: TargetRoot, p: PlannedAction): void {
  const a = p.action;
  switch (a.kind) {
    case 'file':
      root.writeFile(a.path, a.data, a.mode, a.uid, a.gid);
      break;
    case 'dir':
      root.mkdir(a.path, a.mode, a.uid, a.gid);
      break;
    case 'symlink':
      root.symlink(a.path, a.target, a.uid, a.gid);
      break;
    case 'hardlink':
      root.hardlink(a.path, a.target);
      break;
    case 'absent':
      root.remove(a.path);
      break;
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
