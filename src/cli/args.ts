/**
 * A small argv parser: flint's commands take a handful of flags, and the initramfs
 * bundle should not carry a general-purpose one.
 */
import { nearest } from '../config/checks/suggest.js';

export interface FlagSpec {
  /** Flags that take no value. */
  booleans: readonly string[];
  /** Flags that take a value (`--root DIR` or `--root=DIR`). */
  values?: readonly string[];
}

export interface ParsedArgs {
  flags: Map<string, string | true>;
  positionals: string[];
}

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[], spec: FlagSpec): ParsedArgs {
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  const values = spec.values ?? [];
  const known = [...spec.booleans, ...values, 'help'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a === '-h') {
      flags.set('help', true);
      continue;
    }
    if (!a.startsWith('--') || a === '-') {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (values.includes(name)) {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`--${name} needs a value`);
      flags.set(name, v);
    } else if (spec.booleans.includes(name) || name === 'help') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else {
      const near = nearest(name, known);
      throw new UsageError(`unknown option --${name}${near !== undefined ? ` (did you mean --${near}?)` : ''}`);
    }
  }
  return { flags, positionals };
}

/** ARGV with short flags such as -o replaced by their long names. */
export function expandShortFlags(argv: readonly string[], short: Readonly<Record<string, string>>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    out.push(short[a] ?? a);
  }
  return out;
}
