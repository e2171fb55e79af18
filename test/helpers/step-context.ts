/**
 * A step's context for tests that plan steps without the pipeline: a target folder, a
 * config, and the facts earlier steps would have provided (accounts: users and groups
 * by name, homes), with a plain environment that logs nowhere.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { FlintConfig } from '../../src/config/validate.js';
import { FactTable } from '../../src/engine/step.js';
import type { Environment, StepContext } from '../../src/engine/step.js';
import { TargetRoot } from '../../src/target/root.js';
import { ACCOUNTS } from '../../src/steps/users/step.js';
import type { Accounts } from '../../src/steps/users/step.js';

export interface ContextOptions {
  configDir?: string;
  today?: number;
  payloads?: ReadonlyMap<string, Buffer>;
  accounts?: Partial<Accounts>;
  apply?: boolean;
  env?: Partial<Environment>;
}

export function stepContext(root: string, config: FlintConfig, o: ContextOptions = {}): StepContext & { facts: FactTable } {
  const accounts: Accounts = { users: o.accounts?.users ?? new Map(), groups: o.accounts?.groups ?? new Map(), homes: o.accounts?.homes ?? new Map() };
  return {
    root: new TargetRoot(root),
    config,
    configDir: o.configDir ?? root,
    today: o.today ?? 0,
    apply: o.apply ?? false,
    payloads: o.payloads ?? new Map(),
    facts: new FactTable().set(ACCOUNTS, accounts),
    env: { configFile: `${o.configDir ?? root}/config.yaml`, scripts: 'post', log: () => undefined, withWork: (fn) => fn(root), ...o.env },
  };
}

/** A temporary target holding FILES (path below the root: content); its folder is added to CLEANUP. */
export function makeTargetRoot(files: Record<string, string | Buffer>, cleanup: string[], prefix = 'flint-root-'): string {
  const root = mkdtempSync(join(tmpdir(), prefix));
  cleanup.push(root);
  for (const [p, data] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), data);
  }
  return root;
}
