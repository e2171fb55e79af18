/**
 * Node built-ins that cost start-up time and only some runs need. `flint validate`
 * must start within a few tens of milliseconds of bare node; loading node:crypto up
 * front takes a third of that budget.
 */
import { createRequire } from 'node:module';

let crypto: typeof import('node:crypto') | undefined;

export function nodeCrypto(): typeof import('node:crypto') {
  crypto ??= createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
  return crypto;
}

let childProcess: typeof import('node:child_process') | undefined;

/** node:child_process (it loads node:net and the streams): only when a program is run. */
export function nodeChildProcess(): typeof import('node:child_process') {
  childProcess ??= createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  return childProcess;
}
