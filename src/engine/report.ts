/**
 * The result of an apply, for machines (var/log/flint/result.json in the target, and
 * `--json`) and for people (a short summary). Reports carry paths, counts, timings and
 * fingerprints; never a password, hash, passphrase or private key.
 */
import type { TargetRoot } from '../target/root.js';

export interface Report {
  flint: string;
  /** The config applied; format only when it was converted (ignition, cloud-init, combustion). */
  config: { file: string; sha256: string; format?: string };
  started: string;
  finished: string;
  host?: number;
  changes: Array<{ path: string; change: 'create' | 'change'; step: string; what: string }>;
  unchanged: number;
  warnings: string[];
  timings_ms: Record<string, number>;
  [fact: string]: unknown;
}

export const REPORT_PATH = '/var/log/flint/result.json';

export function writeReport(root: TargetRoot, report: Report): void {
  for (const dir of ['/var', '/var/log', '/var/log/flint']) {
    if (root.entry(dir).type === 'missing') root.mkdir(dir, 0o755, 0, 0);
  }
  root.writeFile(REPORT_PATH, Buffer.from(JSON.stringify(report, null, 2) + '\n'), 0o600, 0, 0);
}
