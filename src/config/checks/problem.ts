import type { Problem } from '../diagnostics.js';

/** A check of one value: the problem without its place, which the caller knows. Never contains secret values. */
export type Verdict = Omit<Problem, 'path'>;

/**
 * Parsers return either their result or a Verdict; results never carry a
 * `message` string, so its presence is what tells the two apart.
 */
export function isProblem(value: unknown): value is Verdict {
  return typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string';
}
