/**
 * The storage step. Its prepare reads the disks and plans the section (planStorage,
 * asynchronous: it runs programs), and mounts the filesystems that exist already so the
 * other steps plan against them; its plan hands the engine the one file storage changes,
 * /etc/fstab, so the journal covers it like any other file, puts the partition tables
 * before and after into the plan and the report, and gives one effect: the disks
 * written by applyStorage (execute.ts) just before the engine's actions run, undone
 * from its saved tables when a later part of the apply fails.
 */
import type { Action } from '../../engine/actions.js';
import type { Prepared, Step, StepContext, StepOutput } from '../../engine/step.js';
import { editFstab } from './fstab.js';
import { formatTable, humanBytes } from './gpt.js';
import { diskChanges, planStorage, storageChanges } from './plan.js';
import { applyStorage, mountExisting, recoverStorage } from './execute.js';
import type { Premounted } from './execute.js';
import type { StoragePlan } from './plan.js';
import { editedFile } from '../files/conffile.js';

export { planStorage, storageChanges } from './plan.js';
export type { StoragePlan } from './plan.js';
export { applyStorage, mountExisting, recoverStorage, StorageError } from './execute.js';
export type { Premounted, StorageRun } from './execute.js';

const STEP = 'storage';

export const storageStep: Step = {
  name: STEP,
  sections: ['storage'],
  // Before the journal's recovery: the journal of an interrupted apply may sit in a filesystem storage made.
  recover: (root) => recoverStorage(root),
  async prepare(ctx): Promise<Prepared | undefined> {
    // No storage: the plain plan below, which has nothing to do.
    if (ctx.config.storage === undefined) return undefined;
    const plan = await planStorage(ctx.root, ctx.config.storage, { configFile: ctx.env.configFile, ...(ctx.env.excludeDevices !== undefined ? { excludeDevices: ctx.env.excludeDevices } : {}) });
    // Filesystems that exist already are mounted first, so the other steps plan against them.
    const premounted = plan.problems.length === 0 ? await mountExisting(ctx.root, plan, !ctx.apply) : undefined;
    let handedOver = false;
    return {
      plan: (c) => ({ ...planFstab(c, plan), effects: [{ phase: 'disks', run: () => ((handedOver = true), writeDisks(c, plan, premounted)) }] }),
      release: async () => {
        if (!handedOver) await premounted?.release();
      },
    };
  },
  plan: () => ({ actions: [], problems: [], warnings: [] }),
};

function planFstab(ctx: StepContext, plan: StoragePlan): StepOutput {
  const actions: Action[] = [];
  if (plan.fstab.length > 0) {
    const text = editFstab(ctx.root.readText('/etc/fstab'), plan.fstab);
    actions.push(editedFile(ctx.root, '/etc/fstab', text, STEP, 'mounts and swap of storage.filesystems'));
  }
  return { actions, problems: plan.problems, warnings: plan.warnings, report: { storage: storageSummary(plan) } };
}

/** The new filesystems stay mounted in the target until the report is written, so the other steps and the report go into them. */
async function writeDisks(ctx: StepContext, plan: StoragePlan, premounted: Premounted | undefined) {
  const run = await applyStorage(ctx.root, plan, premounted);
  return { changed: storageChanges(plan), rollback: () => run.rollback(), commit: () => run.commit(), finish: () => run.finish() };
}

/** What storage does, as lines for people: per disk the table before and after, then the filesystems. */
export function storageSummary(plan: StoragePlan): string[] {
  const out: string[] = [];
  for (const d of plan.disks) {
    const l = d.layout;
    const ss = d.facts.sectorSize;
    out.push(`disk ${d.disk} (${humanBytes(d.facts.sizeBytes)}${d.isRoot ? ', holds the root filesystem' : ''}): ${diskChanges(l) ? 'changes' : 'unchanged'}`);
    if (!diskChanges(l)) continue;
    if (l.relocate) out.push('  move the backup GPT header to the end of the disk');
    if (l.wipeTable) out.push('  replace the whole partition table (wipe_table: true)');
    for (const x of l.destroys) out.push(`  DESTROY ${x}`);
    out.push('  before:', ...(l.before.length > 0 ? formatTable(l.before, ss).map((s) => `    ${s}`) : ['    (no partitions)']));
    const marks = new Map<number, string>(l.created.map((n) => [n, 'new']));
    if (l.rootGrowth !== undefined) marks.set(l.rootGrowth.number, `grown from ${humanBytes(l.rootGrowth.from * ss)}`);
    out.push('  after:', ...formatTable(l.after, ss, marks).map((s) => `    ${s}`));
  }
  if (plan.growFs !== undefined) out.push(`grow the root ${plan.growFs.fstype} filesystem (${plan.growFs.node}) to fill its partition`);
  for (const f of plan.filesystems) {
    const what = f.mkfs ? `make ${f.format}${f.label !== undefined ? ` labelled ${f.label}` : ''} on ${f.node}` : `keep the ${f.format} filesystem on ${f.node}`;
    const where = f.format === 'swap' ? ', swap' : f.mount !== undefined ? `, mounted at ${f.mount}` : '';
    out.push(`${what}${where}${f.copy ? `, with a copy of what ${f.mount} holds now` : ''}`);
    if (f.destroys !== undefined) out.push(`  DESTROY ${f.destroys}`);
  }
  return out;
}
