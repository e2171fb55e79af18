/**
 * Applying a plan inside a transaction: every action's path is journaled before anything
 * of the target changes; any failure rolls every recorded path back.
 *
 * Test hooks (environment; they exist so the all-or-nothing promise can be tested at
 * every action, and do nothing unless set):
 *   FLINT_TEST_FAIL_AT=N        the Nth action (1-based) fails after its path is journaled
 *                               (in the last phase, after actions 1..N-1 are in place)
 *   FLINT_TEST_ACTION_DELAY_MS  sleep this long before each action of the last phase
 *                               (to SIGKILL mid-apply)
 *   FLINT_SYNC=fsync            sync file by file instead of syncfs (target/sync.ts)
 */
import { rmSync } from 'node:fs';
import { Journal } from '../transaction/journal.js';
import { parentOf } from '../target/root.js';
import type { Staged, TargetRoot } from '../target/root.js';
import { syncWritten } from '../target/sync.js';
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
  if (planned.some((p) => p.action.kind === 'file' && p.action.later === true)) throw new Error('internal error: the plan has pending content (settlePlan first)');
  const failAt = Number(process.env.FLINT_TEST_FAIL_AT ?? 0);
  const delay = Number(process.env.FLINT_TEST_ACTION_DELAY_MS ?? 0);
  // Planning learnt which folders exist; anything may have run since (scripts, storage).
  root.forget();
  const journal = Journal.begin(root, true);
  let i = 0;
  const staged: Array<Staged | undefined> = [];
  try {
    // The order of durability, which is what makes this all-or-nothing across a power
    // cut with four sync points instead of four fsyncs per action:
    //
    // 1. Every path's prior state goes into the journal, then ONE sync of the journal
    //    (syncWritten: syncfs, or fsync of each journal file and folder). Until it
    //    returns, nothing of the target has changed, so a cut leaves the target as it
    //    was whatever part of the journal reached the disk (a restore skips paths that
    //    still are as recorded, and refuses a blob shorter than recorded).
    journal.recordAll(planned.map((p) => p.action.path));
    // 2. New folders are made (and existing ones get their owner and mode), and every
    //    file and link is written beside its path as a temp file, or, below a folder
    //    made here (a new home), straight at its path; then ONE sync of their content
    //    and of the folders. A cut here leaves changes the durable journal undoes (the
    //    new folders, whole) and temp files its restore removes.
    const written = { files: [] as string[], dirs: new Set<string>() };
    const made = new Set<string>();
    for (; i < planned.length; i++) {
      const p = planned[i]!;
      const s = stage(root, p, made.has(p.action.path.slice(0, p.action.path.lastIndexOf('/'))));
      if (p.action.kind === 'dir' && p.change === 'create') made.add(p.action.path);
      staged.push(s);
      if (s !== undefined) {
        // A link has no content of its own to sync: its folder's sync holds it.
        if (p.action.kind === 'file') written.files.push(s.tmp);
        written.dirs.add(parentOf(s.host));
      } else if (planned[i]!.action.kind === 'dir') {
        const host = root.resolve(planned[i]!.action.path);
        written.dirs.add(host);
        written.dirs.add(parentOf(host));
      }
    }
    syncWritten(written);
    // 3. In plan order: renames over the paths, removals, hard links; then ONE sync of
    //    the folders they changed. Only a rename makes a new content visible, and its
    //    data was durable before it; a cut between renames leaves some paths new, some
    //    old, and all of them journaled: the next run rolls back to before.
    const touched = new Set<string>();
    for (i = 0; i < planned.length; i++) {
      const p = planned[i]!;
      if (delay > 0) sleep(delay);
      if (failAt === i + 1) throw new Error(`injected failure at action ${i + 1} (FLINT_TEST_FAIL_AT)`);
      commit(root, p, staged[i], touched);
      progress?.(i + 1, planned.length, p);
    }
    syncWritten({ files: [], dirs: touched });
    // 4. Only now may the journal go (Journal.commit, by the caller: remove, then fsync
    //    of its folder). Removed before step 3's sync, a cut could keep the removal and
    //    lose renames: the target between before and after, with nothing to undo it.
  } catch (e) {
    const path = planned[i]?.action.path ?? '';
    // Temp files not renamed yet (the restore also sweeps the journaled paths' folders).
    for (const s of staged) if (s !== undefined) rmSync(s.tmp, { force: true });
    journal.rollback();
    throw new ApplyError(`${(e as Error).message} (while writing ${path}); every change was rolled back`, i, path, i + 1, planned[i]?.action.step);
  }
  return journal;
}

/** Phase 2 of one action: a temp file or link for files and links, the folder itself for folders. */
function stage(root: TargetRoot, p: PlannedAction, fresh: boolean): Staged | undefined {
  const a = p.action;
  switch (a.kind) {
    case 'file':
      return root.stageFile(a.path, a.data, a.mode, a.uid, a.gid, fresh);
    case 'symlink':
      return root.stageSymlink(a.path, a.target, a.uid, a.gid, fresh);
    case 'dir':
      root.mkdir(a.path, a.mode, a.uid, a.gid, false, fresh);
      return undefined;
    case 'hardlink':
    case 'absent':
      return undefined;
  }
}

/** Phase 3 of one action; the folders whose entries it changed go into `touched`. */
function commit(root: TargetRoot, p: PlannedAction, s: Staged | undefined, touched: Set<string>): void {
  const a = p.action;
  if (s !== undefined) {
    // Written in place below a folder this run made (stageFile, fresh): already there.
    if (s.tmp === s.host) return;
    if (root.commitStaged(s)) touched.add(parentOf(s.host));
    // A link on the way to the path was replaced since it was staged: write it where
    // it leads now, synced on its own (rare: no plan of flint's own does this).
    else if (a.kind === 'file') root.writeFile(a.path, a.data, a.mode, a.uid, a.gid);
    else if (a.kind === 'symlink') root.symlink(a.path, a.target, a.uid, a.gid);
    return;
  }
  if (a.kind === 'hardlink') {
    root.hardlink(a.path, a.target, false);
    touched.add(parentOf(root.resolve(a.path)));
  } else if (a.kind === 'absent') {
    const host = root.resolve(a.path);
    root.remove(a.path, false);
    touched.add(parentOf(host));
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
