/**
 * The one shape every domain has. A step owns sections of the config; it may name the
 * payloads it needs fetched, do read-only work before planning (`prepare`, asynchronous:
 * disks are read by programs), and then plans: the file actions it wants, the problems
 * that stop the apply, the facts it gives to later steps, and any effect on the machine
 * that is not a file action (partitions, scripts), each with its undo.
 *
 * Facts are declared, not written into a shared object: a step lists what it needs and
 * what it provides, and the pipeline refuses an order in which a step would read a fact
 * no earlier step provides (checkOrder), so the order of the list is checked, not trusted.
 */
import type { FlintConfig } from '../config/validate.js';
import type { PathSeg, Problem } from '../config/diagnostics.js';
import type { TargetRoot } from '../target/root.js';
import type { Action } from './actions.js';

/** A fact one step works out and later steps read, e.g. the uid of each user. */
export interface FactKey<T> {
  readonly name: string;
  /** Only for the type checker: the type of the fact's value. */
  readonly type?: T;
}

export function factKey<T>(name: string): FactKey<T> {
  return { name };
}

/** The facts earlier steps provided, read-only. */
export interface Facts {
  /** The value; a step may only ask for what it declared in `needs`, so it is there. */
  get<T>(key: FactKey<T>): T;
}

export interface Provided {
  key: FactKey<unknown>;
  value: unknown;
}

export function provide<T>(key: FactKey<T>, value: T): Provided {
  return { key, value };
}

/** What the run may use beyond the target: given by the caller of provision(). */
export interface Environment {
  /** Where the config file is (its device is never a storage target). */
  configFile: string;
  /** Block devices storage never writes. */
  excludeDevices?: string[];
  /** Brings the config's connections up where flint runs (the initramfs); returns why it could not. */
  initrdNetwork?: (config: FlintConfig) => Promise<{ message: string; hint: string } | undefined>;
  /** Which scripts run: all (initramfs), post (elsewhere), none. */
  scripts: 'all' | 'post' | 'none';
  /** Runs FN with a RAM folder for scripts' copies (removed afterwards when it is a temporary one). */
  withWork<T>(fn: (work: string) => Promise<T>): Promise<T>;
  /** Script output and notes. */
  log: (line: string) => void;
}

/** What every step sees. */
export interface StepContext {
  root: TargetRoot;
  config: FlintConfig;
  /** Folder of the config on its medium, for `file:` payloads. */
  configDir: string;
  /** Days since 1970-01-01, for /etc/shadow. */
  today: number;
  /** Whether this run applies (effects are only made then) or only plans. */
  apply: boolean;
  /** Data of `file:` and `https:` sources, fetched and read before planning (planning is synchronous). */
  payloads: ReadonlyMap<string, Buffer>;
  /** What earlier steps provided. */
  facts: Facts;
  env: Environment;
}

export type { Problem } from '../config/diagnostics.js';

/** One change to the machine that is not a file action, with its undo. */
export interface Effect {
  /**
   * environment: before anything of the target is touched (pre scripts, in the initramfs);
   * disks: before the file actions (tables, filesystems, mounts the later writes go into);
   * after-files: after the file actions, in the same transaction (post scripts).
   */
  phase: 'environment' | 'disks' | 'after-files';
  run(): Promise<EffectRun>;
}

export interface EffectRun {
  /** Whether the machine changed (a report is written when anything did). */
  changed: boolean;
  /** A later part of the apply failed: put back what this effect did. */
  rollback?(): Promise<void>;
  /** Everything is applied: forget the undo state (synchronous, so it runs right as the journal commits). */
  commit?(): void;
  /** After the report is written (e.g. unmount what later steps wrote into). */
  finish?(): Promise<void>;
  /** Facts for the report; lists under the same key from several effects are joined. */
  report?: Record<string, unknown>;
}

export interface StepOutput {
  actions: Action[];
  /** Problems found against the target (a shell that does not exist): nothing is applied. */
  problems: Problem[];
  warnings: string[];
  /** Facts for the report, e.g. host key fingerprints. Never secrets. */
  report?: Record<string, unknown>;
  /** Facts for later steps: exactly those the step declares in `provides`. */
  provides?: Provided[];
  effects?: Effect[];
  /**
   * Work still going on (host keys being made in the thread pool): when it settles, it
   * has filled in the data of the actions marked `later` and its facts in the report.
   */
  pending?: Promise<void>;
}

/** A step after its `prepare`: the plan, and what to undo when the plan is not applied. */
export interface Prepared {
  plan(ctx: StepContext): StepOutput;
  /** The plan is not applied (a problem, or a dry run): undo what prepare did (e.g. mounts). */
  release?(): Promise<void>;
}

/** A `file:` or `https:` payload the step reads, and where the config names it. */
export interface SourceUse {
  source: string;
  path: PathSeg[];
}

export interface Step {
  name: string;
  /** The top-level config keys this step owns. */
  sections: readonly string[];
  needs?: ReadonlyArray<FactKey<unknown>>;
  provides?: ReadonlyArray<FactKey<unknown>>;
  /**
   * The payloads of one section's worth of config (the top level, or a hosts entry).
   * It may be unvalidated (the medium is checked before it is signed): read it tolerantly.
   */
  sources?(config: Record<string, unknown>): SourceUse[];
  /** Undo an apply of this step that died mid-way; the number of paths restored. */
  recover?(root: TargetRoot): Promise<number | undefined>;
  /**
   * Work before planning, read-only on the target (undefined: plan as without it). The
   * steps' prepares run in step order before the payloads are fetched.
   */
  prepare?(ctx: Omit<StepContext, 'payloads' | 'facts'>): Promise<Prepared | undefined>;
  plan(ctx: StepContext): StepOutput;
  /** Units flint's first-boot runner starts, after an apply in the booted system, in order. */
  bootUnits?(config: FlintConfig): string[][];
}

/**
 * The order is one a reader can trust: every fact a step needs is provided by a step
 * before it, and no two steps provide one fact or own one section.
 */
export function checkOrder(steps: readonly Step[]): string[] {
  const out: string[] = [];
  const provided = new Map<string, string>();
  const owners = new Map<string, string>();
  for (const s of steps) {
    for (const k of s.needs ?? []) if (!provided.has(k.name)) out.push(`step ${s.name} needs ${k.name}, which no step before it provides`);
    for (const k of s.provides ?? []) {
      const earlier = provided.get(k.name);
      if (earlier !== undefined) out.push(`${k.name} is provided by both ${earlier} and ${s.name}`);
      else provided.set(k.name, s.name);
    }
    for (const key of s.sections) {
      const earlier = owners.get(key);
      if (earlier !== undefined) out.push(`section ${key} is owned by both ${earlier} and ${s.name}`);
      else owners.set(key, s.name);
    }
  }
  return out;
}

/** Facts as they grow step by step; a step sees only what earlier steps provided. */
export class FactTable implements Facts {
  private readonly values: Map<string, unknown>;

  constructor(seed?: FactTable) {
    this.values = new Map(seed?.values);
  }

  has(key: FactKey<unknown>): boolean {
    return this.values.has(key.name);
  }

  /** A fact given from outside the steps (a test of one step alone). */
  set<T>(key: FactKey<T>, value: T): this {
    this.values.set(key.name, value);
    return this;
  }

  get<T>(key: FactKey<T>): T {
    if (!this.values.has(key.name)) throw new Error(`no step before this one provided ${key.name}`);
    return this.values.get(key.name) as T;
  }

  /** STEP's provided facts; a fact it did not declare is a programming error. */
  add(step: Step, provided: readonly Provided[]): void {
    const declared = new Set((step.provides ?? []).map((k) => k.name));
    for (const p of provided) {
      if (!declared.has(p.key.name)) throw new Error(`step ${step.name} provided ${p.key.name} without declaring it`);
      this.values.set(p.key.name, p.value);
    }
  }
}

/**
 * The `file:`/`https:` sources in config[SECTION][i][FIELD] (or, without FIELD,
 * config[SECTION][i] itself), read tolerantly: the config may be unvalidated.
 * TO_SOURCE turns a value into the source string (e.g. an archive path into file:PATH).
 */
export function listSources(config: Record<string, unknown>, at: readonly PathSeg[], field?: string, toSource: (v: string) => string = (v) => v): SourceUse[] {
  let list: unknown = config;
  for (const seg of at) list = typeof list === 'object' && list !== null ? (list as Record<string | number, unknown>)[seg] : undefined;
  if (!Array.isArray(list)) return [];
  return list.flatMap((item, i): SourceUse[] => {
    const v = field === undefined ? item : typeof item === 'object' && item !== null ? (item as Record<string, unknown>)[field] : undefined;
    return typeof v === 'string' ? [{ source: toSource(v), path: [...at, i, ...(field !== undefined ? [field] : [])] }] : [];
  });
}
