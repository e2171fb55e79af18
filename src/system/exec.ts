/**
 * The one place flint starts processes. Programs get an argv array and never a shell,
 * so nothing a config or a medium says can be read as shell syntax; every run has a
 * time limit, so a hung tool cannot stall first boot. Only programs of the table in
 * programs.ts can be started.
 */
import type { Program } from './programs.js';
import { trace, tracing } from './trace.js';

export interface ExecOptions {
  /** Milliseconds before the process is killed. Default 30 000. */
  timeoutMs?: number;
  /** Written to the process's stdin. */
  input?: string;
}

export interface ExecResult {
  /** Exited with status 0. */
  ok: boolean;
  /** Undefined when the process did not exit by itself (not found, killed, timed out). */
  exitCode?: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** One line saying what happened, for messages. */
  summary: string;
}

export class ExecError extends Error {
  constructor(readonly result: ExecResult) {
    super(result.summary);
  }
}

/** Runs FILE with ARGS and reports how it ended; never throws for a failing program. */
export async function exec(file: Program, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  // Loaded on first use: `flint validate` never starts a process and must not pay for execa.
  const { execa } = await import('execa');
  const t0 = performance.now();
  const r = await execa(file, args, {
    shell: false,
    reject: false,
    timeout: opts.timeoutMs ?? 30_000,
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
    stripFinalNewline: true,
    // The initramfs may have no locale data: keep tools' messages parseable.
    env: { LC_ALL: 'C' },
  });
  const stdout = typeof r.stdout === 'string' ? r.stdout : '';
  const stderr = typeof r.stderr === 'string' ? r.stderr : '';
  const cmd = [file, ...args].join(' ');
  let summary: string;
  if (r.timedOut) summary = `${cmd}: no answer within ${Math.round((opts.timeoutMs ?? 30_000) / 1000)} s; stopped`;
  else if (r.exitCode === undefined) summary = `${cmd}: ${r.failed ? r.shortMessage : 'did not run'}`;
  else if (r.exitCode !== 0) summary = `${cmd}: exit status ${r.exitCode}${stderr.trim() !== '' ? `: ${stderr.trim().split('\n')[0]}` : ''}`;
  else summary = `${cmd}: ok`;
  if (tracing()) trace(summary.length > 300 ? `${summary.slice(0, 300)}...` : summary, t0);
  return { ok: !r.failed && r.exitCode === 0, ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}), stdout, stderr, timedOut: r.timedOut, summary };
}

/** Like exec, but a failure is an ExecError. */
export async function execOrThrow(file: Program, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await exec(file, args, opts);
  if (!r.ok) throw new ExecError(r);
  return r;
}
