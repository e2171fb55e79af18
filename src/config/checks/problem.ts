/** A finding about one value: a plain message and, where one exists, the fix. Never contains secret values. */
export interface Problem { message: string; hint?: string; severity?: 'error' | 'warning' }

/**
 * Parsers return either their result or a Problem; results never carry a
 * `message` string, so its presence is what tells the two apart.
 */
export function isProblem(value: unknown): value is Problem {
  return typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string';
}
