/**
 * The pipeline for one target: recover an unfinished journal, validate, resolve the
 * machine's hosts entry, plan every step, and (for apply) run the plan in a
 * transaction and write the report. Nothing is written before planning has found no
 * problem.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { validateText } from '../config/validate.js';
import type { FlintConfig } from '../config/validate.js';
import type { Diagnostic } from '../config/diagnostics.js';
import type { LoadedConfig } from '../config/load.js';
import { effectiveConfig } from '../config/merge.js';
import { nodeCrypto } from '../lazy-builtins.js';
import { TargetRoot } from '../target/root.js';
import { Journal } from '../transaction/journal.js';
import { applyPlanned } from './apply.js';
import type { ApplyProgress } from './apply.js';
import { planSteps } from './plan.js';
import type { Plan, Step, StepContext } from './plan.js';
import { writeReport } from './report.js';
import type { Report } from './report.js';
import { usersStep } from '../steps/users.js';
import { sshStep } from '../steps/ssh-step.js';
import { filesStep } from '../steps/files.js';
import { systemStep } from '../steps/system.js';
import { kernelArgsStep } from '../steps/kernel-args.js';
import { systemdStep } from '../steps/systemd.js';
import { networkStep } from '../steps/network.js';
import { containersStep } from '../steps/containers.js';
import { resolveSources } from '../steps/sources.js';

/**
 * The steps, in the order the design fixes: users before files, so owners by name work;
 * ssh before files, so a file under ~/.ssh meets the folder the ssh step made.
 */
/** Sections of the format that no step applies yet. */
const NOT_YET_APPLIED = ['storage', 'scripts'] as const;

export const STEPS: readonly Step[] = [usersStep, sshStep, filesStep, systemStep, systemdStep, networkStep, containersStep, kernelArgsStep];

export interface MachineFacts {
  macs?: string[];
  serial?: string;
  machineUuid?: string;
}

export interface ProvisionRequest {
  root: string;
  configFile: string;
  apply: boolean;
  facts?: MachineFacts;
  progress?: ApplyProgress;
  /** Extra CA certificates (PEM) trusted for https sources. */
  ca?: string | Buffer;
}

export type ProvisionResult =
  | { ok: false; stage: 'validate'; diagnostics: Diagnostic[]; recovered?: number }
  | { ok: false; stage: 'plan'; plan: Plan; diagnostics: Diagnostic[]; loaded: LoadedConfig; recovered?: number }
  | { ok: true; plan: Plan; diagnostics: Diagnostic[]; applied: boolean; report?: Report; recovered?: number; host?: number };

export async function provision(req: ProvisionRequest): Promise<ProvisionResult> {
  const root = new TargetRoot(req.root);
  // Before anything else: an earlier apply that died mid-way is undone.
  const recovered = req.apply ? Journal.recover(root) : undefined;
  const started = new Date();
  const text = readFileSync(req.configFile);
  const validation = validateText(req.configFile, text.toString('utf8'));
  const extra = recovered !== undefined ? { recovered } : {};
  if (validation.config === undefined) return { ok: false, stage: 'validate', diagnostics: validation.diagnostics, ...extra };
  const { value, host } = effectiveConfig(validation.config as unknown as Record<string, unknown>, req.facts ?? {});
  const config = value as unknown as FlintConfig;
  const ctx: StepContext = {
    root,
    config,
    configDir: dirname(resolve(req.configFile)),
    today: Math.floor(Date.now() / 86_400_000),
    ids: { users: new Map(), groups: new Map() },
    homes: new Map(),
    payloads: new Map(),
  };
  // Resolve: fetch https sources and read file: payloads before planning, which is
  // synchronous; a wrong hash is found here, before anything is written.
  const sources = await resolveSources(config, ctx.configDir, req.ca !== undefined ? { ca: req.ca } : {});
  ctx.payloads = sources.payloads;
  const plan = planSteps(ctx, STEPS);
  // A section this flint cannot apply yet is refused, not skipped: a machine that
  // boots without the network or storage its config asked for is worse than one that
  // does not boot configured at all.
  for (const section of NOT_YET_APPLIED) {
    if ((config as unknown as Record<string, unknown>)[section] !== undefined) {
      plan.problems.push({ step: 'engine', path: [section], message: `this version of flint cannot apply ${section}: yet`, hint: `remove the ${section}: section, or use a flint that supports it (see the README's status table)` });
    }
  }
  if (sources.problems.length > 0) {
    const failed = new Set(sources.problems.map((p) => JSON.stringify(p.path)));
    plan.problems = [...sources.problems.map((p) => ({ ...p, step: 'sources' })), ...plan.problems.filter((p) => !failed.has(JSON.stringify(p.path)))];
  }
  if (plan.problems.length > 0) return { ok: false, stage: 'plan', plan, diagnostics: validation.diagnostics, loaded: validation.loaded, ...extra };
  const hostExtra = host !== undefined ? { host } : {};
  if (!req.apply) return { ok: true, plan, diagnostics: validation.diagnostics, applied: false, ...extra, ...hostExtra };
  const t0 = performance.now();
  applyPlanned(root, plan.planned, req.progress);
  const applyMs = Math.round(performance.now() - t0);
  let report: Report | undefined;
  if (plan.planned.length > 0) {
    report = {
      flint: typeof FLINT_VERSION === 'string' ? FLINT_VERSION : 'dev',
      config: { file: req.configFile, sha256: nodeCrypto().createHash('sha256').update(text).digest('hex') },
      started: started.toISOString(),
      finished: new Date().toISOString(),
      ...(host !== undefined ? { host } : {}),
      changes: plan.planned.map((p) => ({ path: p.action.path, change: p.change, step: p.action.step, what: p.details.join('; ') })),
      unchanged: plan.unchanged.length,
      warnings: [...validation.diagnostics.filter((d) => d.severity === 'warning').map((d) => `${d.path}: ${d.message}`), ...plan.warnings],
      timings_ms: { ...plan.timings, apply: applyMs },
      ...plan.report,
    };
    // The report is written after the transaction: a failure to write it does not undo the apply.
    writeReport(root, report);
  }
  return { ok: true, plan, diagnostics: validation.diagnostics, applied: true, ...(report ? { report } : {}), ...extra, ...hostExtra };
}

declare const FLINT_VERSION: string | undefined;
