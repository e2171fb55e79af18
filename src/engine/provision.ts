/**
 * The pipeline for one target: recover an unfinished journal, validate, resolve the
 * machine's hosts entry, plan every step, and (for apply) run the plan in a
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
import { nodeCrypto } from '../lazy-builtins.js';
import { TargetRoot } from '../target/root.js';
import { Journal } from '../transaction/journal.js';
import { applyOpen } from './apply.js';
import type { ApplyProgress } from './apply.js';
import { planSteps, settlePlan } from './plan.js';
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
import { ntpStep } from '../steps/time-sync.js';
import { caCertificatesStep } from '../steps/ca-certs.js';
import { swapFileStep } from '../steps/swap-file.js';
import { powerStateStep } from '../steps/power-state.js';
import { raspberryPiStep } from '../steps/raspberry-pi.js';
import { packagesStep } from '../steps/packages.js';
import { resolveSources } from '../steps/sources.js';
import { configScripts, networkNotes, runPostScripts, runPreScripts } from '../steps/scripts.js';
import type { Script, ScriptPolicy, ScriptRun } from '../steps/scripts.js';
import { applyStorage, mountExisting, planStorage, recoverStorage, storageChanges, storageStep } from '../steps/storage.js';

/**
 * The steps, in the order the design fixes: users before files, so owners by name work;
 * ssh before files, so a file under ~/.ssh meets the folder the ssh step made.
 */
export const STEPS: readonly Step[] = [usersStep, sshStep, filesStep, caCertificatesStep, systemStep, ntpStep, systemdStep, networkStep, containersStep, swapFileStep, raspberryPiStep, kernelArgsStep, packagesStep, powerStateStep];

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
  // Before anything else: an earlier apply that died mid-way is undone.
  // Storage first: the journal of an interrupted apply may sit in a filesystem it made.
  const recoveredStorage = req.apply ? await recoverStorage(root) : undefined;
  const recoveredFiles = req.apply ? Journal.recover(root) : undefined;
  const recovered = recoveredStorage === undefined && recoveredFiles === undefined ? undefined : (recoveredStorage ?? 0) + (recoveredFiles ?? 0);
  const started = new Date();
  const text = readFileSync(req.configFile);
  // Ignition, cloud-init and Combustion configs are converted first; positions stay theirs.
  const validation = validateAny(req.configFile, text.toString('utf8'));
  const extra = recovered !== undefined ? { recovered } : {};
  if (validation.config === undefined || validation.loaded === undefined) return { ok: false, stage: 'validate', diagnostics: validation.diagnostics, ...extra };
  const loaded = validation.loaded;
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
  const network = config.network?.in_initrd === true && req.apply && req.initrdNetwork !== undefined ? await req.initrdNetwork(config) : undefined;
  // Resolve: fetch https sources and read file: payloads before planning, which is
  // synchronous; a wrong hash is found here, before anything is written.
  const sources = await resolveSources(config, ctx.configDir, { ...(req.ca !== undefined ? { ca: req.ca } : {}), ...(req.proxy !== undefined ? { proxy: req.proxy } : {}) });
  ctx.payloads = sources.payloads;
  // Storage reads the disks (programs, so asynchronous) before the synchronous planning.
  const storage = config.storage !== undefined ? await planStorage(root, config.storage, { configFile: req.configFile, ...(req.excludeDevices !== undefined ? { excludeDevices: req.excludeDevices } : {}) }) : undefined;
  // Filesystems that exist already are mounted first, so the other steps plan against them.
  const premounted = storage !== undefined && storage.problems.length === 0 ? await mountExisting(root, storage, !req.apply) : undefined;
  const plan = planSteps(ctx, storage !== undefined ? [storageStep(storage), ...STEPS] : STEPS);
  if (network !== undefined) plan.problems.unshift({ step: 'network', path: ['network', 'in_initrd'], ...network });
  if (sources.problems.length > 0) {
    const failed = new Set(sources.problems.map((p) => JSON.stringify(p.path)));
    plan.problems = [...sources.problems.map((p) => ({ ...p, step: 'sources' })), ...plan.problems.filter((p) => !failed.has(JSON.stringify(p.path)))];
  }
  if (plan.problems.length > 0 || !req.apply) await premounted?.release();
  if (plan.problems.length > 0) return { ok: false, stage: 'plan', plan, diagnostics: validation.diagnostics, loaded, ...extra };
  const hostExtra = host !== undefined ? { host } : {};
  if (!req.apply) {
    await settlePlan(root, plan);
    return { ok: true, plan, diagnostics: validation.diagnostics, applied: false, config, ...extra, ...hostExtra };
  }
  const t0 = performance.now();
  // Disks before everything else; the new filesystems stay mounted in the target until
  // the report is written, so the other steps and the report go into them.
  const scripts = scriptsToRun(req, ctx, plan);
  const preRuns = await runPre(req, scripts);
  const disks = storage !== undefined ? await applyStorage(root, storage, premounted) : undefined;
  let scriptRuns: ScriptRun[];
  try {
    // Host keys were being made since planning, beside the disks' work; the files'
    // transaction needs them (a slow machine waits here for the rest of the RSA key).
    await settlePlan(root, plan);
    scriptRuns = [...preRuns, ...(await applyWithScripts(req, root, scripts, plan))];
  } catch (e) {
    await disks?.rollback();
    throw e;
  }
  disks?.commit();
  const applyMs = Math.round(performance.now() - t0);
  let report: Report | undefined;
  if (plan.planned.length > 0 || scriptRuns.length > 0 || (storage !== undefined && storageChanges(storage))) {
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
      ...(scriptRuns.length > 0 ? { scripts: scriptRuns } : {}),
    };
  }
  // The report is written after the transaction (a failure to write it does not undo the
  // apply), and before the new filesystems are unmounted, so it lands in them.
  try {
    if (report !== undefined) writeReport(root, report);
  } finally {
    await disks?.finish();
  }
  return { ok: true, plan, diagnostics: validation.diagnostics, applied: true, config, ...(report ? { report } : {}), ...extra, ...hostExtra };
}

/** The config's scripts this run may start (the policy's), with a warning for each left out. */
function scriptsToRun(req: ProvisionRequest, ctx: StepContext, plan: Plan): Script[] {
  const policy = req.scripts ?? 'post';
  if (policy !== 'all') {
    const skipped = (ctx.config.scripts ?? []).filter((s) => policy === 'none' || s.stage === 'pre').map((s) => s.name);
    for (const name of skipped) plan.warnings.push(`script "${name}" not run: ${policy === 'none' ? 'scripts are off for this run' : 'pre scripts run only in the initramfs (flint run)'}`);
  }
  if (policy === 'none') return [];
  const scripts = configScripts(ctx.config, ctx.payloads, ctx.configDir);
  for (const note of networkNotes(scripts, policy === 'all')) scriptLog(req)(`flint: ${note}`);
  // Outside the initramfs only the chrooted part runs: no pre scripts, no --prepare runs.
  return policy === 'all' ? scripts : scripts.filter((s) => s.stage === 'post').map((s) => ({ ...s, prepare: false }));
}

function scriptLog(req: ProvisionRequest): (line: string) => void {
  return req.log ?? ((line: string) => process.stderr.write(line + '\n'));
}

/** Runs FN with the scripts' RAM folder, removing it afterwards when it is a temporary one. */
async function withScriptWork<T>(req: ProvisionRequest, fn: (o: { work: string; log: (line: string) => void }) => Promise<T>): Promise<T> {
  const work = req.work ?? mkdtempSync(join(tmpdir(), 'flint-scripts-'));
  try {
    return await fn({ work, log: scriptLog(req) });
  } finally {
    if (req.work === undefined) rmSync(work, { recursive: true, force: true });
  }
}

/** Pre scripts and Combustion's --prepare runs: in this environment, before anything of the target is touched. */
async function runPre(req: ProvisionRequest, scripts: readonly Script[]): Promise<ScriptRun[]> {
  if (!scripts.some((s) => s.stage === 'pre' || s.prepare)) return [];
  return withScriptWork(req, (o) => runPreScripts(scripts, o));
}

/**
 * The planned actions, then post scripts, in one transaction: a failing script rolls
 * back flint's own changes (ScriptError, an ApplyError).
 */
async function applyWithScripts(req: ProvisionRequest, root: TargetRoot, scripts: readonly Script[], plan: Plan): Promise<ScriptRun[]> {
  return withScriptWork(req, async (o) => {
    const runs: ScriptRun[] = [];
    const journal = applyOpen(root, plan.planned, req.progress);
    try {
      runs.push(...(await runPostScripts(req.root, scripts, o)));
    } catch (e) {
      journal?.rollback();
      throw e;
    }
    journal?.commit();
    return runs;
  });
}

declare const FLINT_VERSION: string | undefined;
