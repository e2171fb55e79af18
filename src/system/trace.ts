/**
 * `flint.trace=1` (kernel command line) or FLINT_TRACE=1: one line on standard error for
 * every program flint starts and every phase of a first boot, with the time since node
 * started. For finding where a slow boot spends its time; off by default. A program's
 * arguments are shown: flint never passes secrets in argv (they go by stdin or by file).
 */
let on = process.env.FLINT_TRACE === '1';

export function setTracing(value: boolean): void {
  on = value;
}

export function tracing(): boolean {
  return on;
}

/** Milliseconds since this process started (node's time origin is its start). */
function sinceStart(): number {
  return Math.round(performance.now());
}

/** A trace line: WHAT, at the time since start; with START (a performance.now()), how long it took. */
export function trace(what: string, start?: number): void {
  if (!on) return;
  const took = start === undefined ? '' : ` (${Math.round(performance.now() - start)} ms)`;
  process.stderr.write(`flint: trace +${sinceStart()} ms: ${what}${took}\n`);
}
