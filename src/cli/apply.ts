/** `flint plan --root DIR CONFIG` and `flint apply --root DIR CONFIG`. */
import { existsSync, readFileSync } from 'node:fs';
import { countBySeverity, diagnosticToJson, formatDiagnostic } from '../config/diagnostics.js';
import type { Diagnostic } from '../config/diagnostics.js';
import { spanOf } from '../config/validate.js';
import { makeDiagnostic } from '../config/load.js';
import type { LoadedConfig } from '../config/load.js';
import { modeString } from '../engine/actions.js';
import type { PlannedAction } from '../engine/actions.js';
import { unifiedDiff } from '../engine/diff.js';
import { ApplyError } from '../engine/apply.js';
import type { Plan } from '../engine/plan.js';
import { provision } from '../pipeline/provision.js';
import type { MachineFacts, ProvisionResult } from '../pipeline/provision.js';
import { parseArgs, UsageError } from './args.js';
import type { ParsedArgs } from './args.js';
import { applyHelp, planHelp, REPORT_PATH } from './apply-help.js';
import type { Output } from './output.js';

export async function runPlanOrApply(argv: readonly string[], io: Output, apply: boolean): Promise<number> {
  const args = parseArgs(argv, { booleans: ['json'], values: ['root', 'mac', 'serial', 'machine-uuid', 'ca'] });
  if (args.flags.has('help')) {
    io.out(apply ? applyHelp : planHelp);
    return 0;
  }
  const root = args.flags.get('root');
  if (typeof root !== 'string') throw new UsageError(`flint ${apply ? 'apply' : 'plan'} needs --root DIR`);
  if (args.positionals.length !== 1) throw new UsageError(`flint ${apply ? 'apply' : 'plan'} needs exactly one CONFIG`);
  const configFile = args.positionals[0]!;
  if (!existsSync(root)) throw new UsageError(`the target root ${root} does not exist`);
  if (!existsSync(configFile)) throw new UsageError(`${configFile}: no such file`);
  const facts = factsOf(args);
  const json = args.flags.has('json');
  const caFile = args.flags.get('ca');
  let ca: Buffer | undefined;
  if (typeof caFile === 'string') {
    try {
      ca = readFileSync(caFile);
    } catch {
      throw new UsageError(`--ca ${caFile}: cannot read it`);
    }
  }

  let result: ProvisionResult;
  // Progress lines go out in chunks: one write(2) per line was a tenth of applying 500 users.
  let pending: string[] = [];
  const flushProgress = () => {
    if (pending.length > 0) io.err(pending.join('\n'));
    pending = [];
  };
  try {
    result = await provision({
      root,
      configFile,
      apply,
      facts,
      ...(ca !== undefined ? { ca } : {}),
      progress: json ? undefined : (done, total, p) => {
        pending.push(`  [${done}/${total}] ${p.change === 'create' ? 'created' : 'changed'} ${p.action.path}`);
        if (pending.length >= 256 || done === total) flushProgress();
      },
    });
  } catch (e) {
    flushProgress();
    if (e instanceof ApplyError) {
      if (json) io.out(JSON.stringify({ ok: false, stage: 'apply', error: e.message, path: e.path }, null, 2));
      else io.err(`flint: apply failed: ${e.message}`);
      return 1;
    }
    throw e;
  }
  if (result.recovered !== undefined && !json) io.err(`flint: an interrupted apply was found in the target and rolled back (${result.recovered} paths restored)`);
  const diagnostics = result.ok || result.stage === 'validate' ? result.diagnostics : [...result.diagnostics, ...planProblems(result.loaded, result.plan)];
  if (json) {
    io.out(JSON.stringify(toJson(result, diagnostics), null, 2));
    return result.ok ? 0 : 1;
  }
  for (const d of diagnostics) io.err(formatDiagnostic(d, { color: io.color }) + '\n');
  if (!result.ok) {
    const { errors } = countBySeverity(diagnostics);
    io.out(`${configFile}: ${result.stage === 'validate' ? 'invalid' : 'does not fit the target'} (${errors} error${errors === 1 ? '' : 's'}); nothing was written`);
    return 1;
  }
  printPlan(io, result.plan, apply);
  if (apply) {
    if (result.plan.planned.length === 0 && result.report === undefined) io.out(`nothing to do: ${root} already matches ${configFile} (${result.plan.unchanged.length} paths checked)`);
    else {
      io.out(`applied ${result.plan.planned.length} change${result.plan.planned.length === 1 ? '' : 's'} to ${root}; report in ${REPORT_PATH}`);
      const hostKeys = result.report?.host_keys as Array<{ type: string; bits: number; fingerprint: string }> | undefined;
      for (const k of hostKeys ?? []) io.out(`  host key ${k.bits} ${k.fingerprint} (${k.type.toUpperCase()})`);
    }
  }
  return 0;
}

/** Target-aware problems as diagnostics at the config lines they concern. */
function planProblems(loaded: LoadedConfig, plan: Plan): Diagnostic[] {
  return plan.problems.map((p) => makeDiagnostic(loaded, { severity: 'error', code: `target-${p.step}`, message: p.message, hint: p.hint, span: spanOf(loaded, p.path, p.path.length === 1 ? 'key' : 'value'), path: p.path }));
}

function printPlan(io: Output, plan: Plan, apply: boolean): void {
  const creates = plan.planned.filter((p) => p.change === 'create').length;
  const changes = plan.planned.length - creates;
  // Storage's partition tables before and after (the storage step puts them in the report).
  const storage = plan.report.storage;
  if (Array.isArray(storage)) for (const line of storage) io.out(String(line));
  if (!apply) {
    for (const p of plan.planned) printAction(io, p);
    io.out(`${creates} to create, ${changes} to change, ${plan.unchanged.length} unchanged`);
  }
  for (const w of plan.warnings) io.err(`warning: ${w}`);
}

function printAction(io: Output, p: PlannedAction): void {
  const a = p.action;
  const mark = p.change === 'create' ? '+ create' : '~ change';
  io.out(`${mark}  ${a.path}  (${a.step}: ${a.why})`);
  for (const d of p.details) io.out(`      ${d}`);
  if (a.kind === 'file' && p.before !== undefined && !a.secret) {
    for (const line of unifiedDiff(a.path, p.before, a.data.toString('utf8'))) io.out(`      ${line}`);
  }
}

function toJson(result: ProvisionResult, diagnostics: Diagnostic[]): Record<string, unknown> {
  const base: Record<string, unknown> = { ok: result.ok, diagnostics: diagnostics.map(diagnosticToJson) };
  if (result.recovered !== undefined) base.recovered = result.recovered;
  if (!result.ok) return { ...base, stage: result.stage };
  return {
    ...base,
    applied: result.applied,
    changes: result.plan.planned.map((p) => ({ path: p.action.path, change: p.change, step: p.action.step, why: p.action.why, details: p.details, ...(p.action.kind === 'file' || p.action.kind === 'dir' ? { mode: modeString(p.action.mode) } : {}) })),
    unchanged: result.plan.unchanged.length,
    warnings: result.plan.warnings,
    // The disks' tables before and after, as the plain output shows them.
    ...(Array.isArray(result.plan.report.storage) ? { storage: result.plan.report.storage } : {}),
    ...(result.report ? { report: result.report } : {}),
  };
}

/** For `hosts:` matching: the machine the config is applied for, from --mac, --serial and --machine-uuid. */
export function factsOf(args: ParsedArgs): MachineFacts {
  const facts: MachineFacts = {};
  const mac = args.flags.get('mac');
  if (typeof mac === 'string') facts.macs = mac.split(',');
  const serial = args.flags.get('serial');
  if (typeof serial === 'string') facts.serial = serial;
  const uuid = args.flags.get('machine-uuid');
  if (typeof uuid === 'string') facts.machineUuid = uuid;
  return facts;
}
