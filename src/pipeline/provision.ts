/**
 * The pipeline for one target, a loop over the ordered steps (steps/index.ts): recover
 * an unfinished apply, validate, resolve the machine's hosts entry, prepare and plan
 * every step, and (for apply) make the plan's effects and file actions in one
 * transaction and write the report. Nothing is written before planning has found no
 * problem.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { validateAny } from '../convert/any.js';
import type { FlintConfig } from '../config/validate.js';
import type { Diagnostic } from '../config/diagnostics.js';
import type { LoadedConfig } from '../config/load.js';
import { effectiveConfig } from '../config/merge.js';
import type { MachineFacts } from '../config/merge.js';
export type { MachineFacts } from '../config/merge.js';
import { nodeCrypto } from '../system/lazy-builtins.js';
import { TargetRoot } from '../target/root.js';
import { Journal } from '../transaction/journal.js';
import { applyOpen } from '../engine/apply.js';
import type { ApplyProgress } from '../engine/apply.js';
import { planSteps, settlePlan } from '../engine/plan.js';
import type { Effect, EffectRun, Environment, StepContext } from '../engine/step.js';
import type { Plan, Planner } from '../engine/plan.js';
import { writeReport } from '../engine/report.js';
import { trace } from '../system/trace.js';
import type { Report } from '../engine/report.js';
import { STEPS } from '../steps/index.js';
import { resolveSources } from '../steps/payloads.js';
import type { ScriptPolicy } from '../steps/scripts/step.js';

export interface ProvisionRequest {
  root: string;
  configFile: string;
  apply: boolean;
  facts?: MachineFacts;
  progress?: ApplyProgress;
  /** Extra CA certificates (PEM) trusted for https sources. */
  ca?: string | Buffer;
  /** An http proxy for https sources (flint.proxy=). */
  proxy?: string;
  /** Which `scripts:` run (default post: pre scripts belong to the initramfs, `flint run` says all). */
  scripts?: ScriptPolicy;
  /** RAM folder for the scripts' copies (default: a new folder under the system's temp folder). */
  work?: string;
  /** Script output and notes. Default: standard error. */
  log?: (line: string) => void;
  /**
   * Brings the config's connections up where flint runs (network.in_initrd, in the
   * initramfs) before https sources are fetched and scripts run; returns why it could
   * not. `flint run` passes it; elsewhere in_initrd only shapes the target's files.
   */
  initrdNetwork?: (config: FlintConfig) => Promise<{ message: string; hint: string } | undefined>;
  /** Block devices storage never writes (the config's medium: a disk or a partition). The config file's own device is added. */
  excludeDevices?: string[];
}

export type ProvisionResult =
  | { ok: false; stage: 'validate'; diagnostics: Diagnostic[]; recovered?: number }
  | { ok: false; stage: 'plan'; plan: Plan; diagnostics: Diagnostic[]; loaded: LoadedConfig; recovered?: number }
  | { ok: true; plan: Plan; diagnostics: Diagnostic[]; applied: boolean; report?: Report; recovered?: number; host?: number; /** The effective config (hosts merged, converted when it was not flint's own). */ config: FlintConfig };

export async function provision(req: ProvisionRequest): Promise<ProvisionResult> {
  const root = new TargetRoot(req.root);
  // Before anything else: an earlier apply that died mid-way is undone, the steps' own
  // undo first (storage: the journal may sit in a filesystem it made), then the journal.
  const recovered = req.apply ? await recover(root) : undefined;
  trace('provision: interrupted applies looked for');
  const started = new Date();
  const text = readFileSync(req.configFile);
  // Ignition, cloud-init and Combustion configs are converted first; positions stay theirs.
  const validation = validateAny(req.configFile, text.toString('utf8'));
  const extra = recovered !== undefined ? { recovered } : {};
  if (validation.config === undefined || validation.loaded === undefined) return { ok: false, stage: 'validate', diagnostics: validation.diagnostics, ...extra };
  trace('provision: config read and validated');
  const loaded = validation.loaded;
  const { value, host } = effectiveConfig(validation.config as unknown as Record<string, unknown>, req.facts ?? {});
  const config = value as unknown as FlintConfig;
  const base = { root, config, configDir: dirname(resolve(req.configFile)), today: Math.floor(Date.now() / 86_400_000), apply: req.apply, env: environment(req) };
  // The steps' prepares: storage reads the disks, the initramfs network comes up (https
  // sources need it).
  const prepared = await prepareSteps(base);
  trace('provision: steps prepared');
  // Resolve: fetch https sources and read file: payloads before planning, which is
  // synchronous; a wrong hash is found here, before anything is written.
  let sources: Awaited<ReturnType<typeof resolveSources>>;
  try {
    sources = await resolveSources(config, base.configDir, { ...(req.ca !== undefined ? { ca: req.ca } : {}), ...(req.proxy !== undefined ? { proxy: req.proxy } : {}) });
  } catch (e) {
    await prepared.release();
    throw e;
  }
  trace('provision: payloads resolved');
  const plan = planSteps({ ...base, payloads: sources.payloads }, prepared.planners);
  trace(`provision: planned (${plan.planned.length} changes)`);
  if (sources.problems.length > 0) {
    const failed = new Set(sources.problems.map((p) => JSON.stringify(p.path)));
    plan.problems = [...sources.problems.map((p) => ({ ...p, step: 'sources' })), ...plan.problems.filter((p) => !failed.has(JSON.stringify(p.path)))];
  }
  if (plan.problems.length > 0 || !req.apply) await prepared.release();
  if (plan.problems.length > 0) return { ok: false, stage: 'plan', plan, diagnostics: validation.diagnostics, loaded, ...extra };
  const hostExtra = host !== undefined ? { host } : {};
  if (!req.apply) {
    await settlePlan(root, plan);
    return { ok: true, plan, diagnostics: validation.diagnostics, applied: false, config, ...extra, ...hostExtra };
  }
  const t0 = performance.now();
  let runs: EffectRun[];
  try {
    runs = await applyPlan(root, plan, req.progress);
  } catch (e) {
    await prepared.release();
    throw e;
  }
  const applyMs = Math.round(performance.now() - t0);
  let report: Report | undefined;
  if (plan.planned.length > 0 || runs.some((r) => r.changed)) {
    report = {
      flint: typeof FLINT_VERSION === 'string' ? FLINT_VERSION : 'dev',
      config: { file: req.configFile, sha256: nodeCrypto().createHash('sha256').update(text).digest('hex'), ...(validation.format !== 'flint' ? { format: validation.format } : {}) },
      started: started.toISOString(),
      finished: new Date().toISOString(),
      ...(host !== undefined ? { host } : {}),
      changes: plan.planned.map((p) => ({ path: p.action.path, change: p.change, step: p.action.step, what: p.details.join('; ') })),
      unchanged: plan.unchanged.length,
      warnings: [...validation.diagnostics.filter((d) => d.severity === 'warning').map((d) => `${d.path}: ${d.message}`), ...plan.warnings],
      timings_ms: { ...plan.timings, apply: applyMs },
      ...plan.report,
      ...joinReports(runs),
    };
  }
  // The report is written after the transaction (a failure to write it does not undo the
  // apply), and before the new filesystems are unmounted, so it lands in them.
  try {
    if (report !== undefined) writeReport(root, report);
  } finally {
    for (const r of runs) await r.finish?.();
  }
  trace('provision: report written, new filesystems released');
  return { ok: true, plan, diagnostics: validation.diagnostics, applied: true, config, ...(report ? { report } : {}), ...extra, ...hostExtra };
}

async function recover(root: TargetRoot): Promise<number | undefined> {
  let total: number | undefined;
  for (const step of STEPS) {
    const n = await step.recover?.(root);
    if (n !== undefined) total = (total ?? 0) + n;
  }
  const files = Journal.recover(root);
  return files === undefined ? total : (total ?? 0) + files;
}

/** Each step, or what its prepare made of it; and the undo of every prepare, for a plan that is not applied. */
async function prepareSteps(base: Omit<StepContext, 'payloads' | 'facts'>): Promise<{ planners: Planner[]; release: () => Promise<void> }> {
  const planners: Planner[] = [];
  const releases: Array<() => Promise<void>> = [];
  const release = async () => {
    for (const r of releases.splice(0).reverse()) await r();
  };
  try {
    for (const step of STEPS) {
      if (step.prepare === undefined) {
        planners.push({ step, plan: (c) => step.plan(c) });
        continue;
      }
      const p = await step.prepare(base);
      if (p === undefined) {
        planners.push({ step, plan: (c) => step.plan(c) });
        continue;
      }
      if (p.release !== undefined) releases.push(p.release);
      planners.push({ step, plan: (c) => p.plan(c) });
    }
  } catch (e) {
    await release();
    throw e;
  }
  return { planners, release };
}

/**
 * The effects and the file actions in one transaction: the environment's effects (pre
 * scripts), the disks, the file actions under the journal, then the after-files effects
 * (post scripts). A failure anywhere rolls back the journal and every effect made so
 * far, newest first; success commits them all at once.
 */
async function applyPlan(root: TargetRoot, plan: Plan, progress: ApplyProgress | undefined): Promise<EffectRun[]> {
  const runs: EffectRun[] = [];
  const phase = async (p: Effect['phase']) => {
    for (const e of plan.effects.filter((x) => x.phase === p)) runs.push(await e.run());
    trace(`apply: ${p} effects done`);
  };
  try {
    await phase('environment');
    await phase('disks');
    // Host keys were being made since planning, beside the disks' work; the files'
    // transaction needs them (a slow machine waits here for the rest of the RSA key).
    await settlePlan(root, plan);
    trace('apply: host keys ready');
    const journal = applyOpen(root, plan.planned, progress);
    trace('apply: files written');
    try {
      await phase('after-files');
    } catch (e) {
      journal?.rollback();
      throw e;
    }
    journal?.commit();
  } catch (e) {
    for (const r of [...runs].reverse()) await r.rollback?.();
    throw e;
  }
  for (const r of runs) r.commit?.();
  trace('apply: committed');
  return runs;
}

/** The effects' report facts; lists under one key (scripts: pre, then post) are joined. */
function joinReports(runs: readonly EffectRun[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of runs) {
    for (const [k, v] of Object.entries(r.report ?? {})) out[k] = Array.isArray(v) && Array.isArray(out[k]) ? [...(out[k] as unknown[]), ...v] : v;
  }
  return out;
}

function environment(req: ProvisionRequest): Environment {
  const log = req.log ?? ((line: string) => process.stderr.write(line + '\n'));
  return {
    configFile: req.configFile,
    ...(req.excludeDevices !== undefined ? { excludeDevices: req.excludeDevices } : {}),
    ...(req.initrdNetwork !== undefined ? { initrdNetwork: req.initrdNetwork } : {}),
    scripts: req.scripts ?? 'post',
    log,
    async withWork(fn) {
      const work = req.work ?? mkdtempSync(join(tmpdir(), 'flint-scripts-'));
      try {
        return await fn(work);
      } finally {
        if (req.work === undefined) rmSync(work, { recursive: true, force: true });
      }
    },
  };
}

declare const FLINT_VERSION: string | undefined;
