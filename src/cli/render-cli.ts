/**
 * The options every command that renders for another engine shares (--for/--to,
 * --strict, --host, --ignition-version), and printing a rendering's findings: the
 * losses come before anything is written, and --strict stops there.
 */
import { formatDiagnostic } from '../config/diagnostics.js';
import { isSupportedVersion, SUPPORTED_VERSIONS } from '../convert/ignition-spec.js';
import type { SpecVersion } from '../convert/ignition-spec.js';
import { RENDER_TARGETS, RenderError, renderConfigFile } from '../convert/render.js';
import type { RenderedFile, RenderTarget } from '../convert/render.js';
import { UsageError } from './args.js';
import type { ParsedArgs } from './args.js';
import type { Output } from './output.js';

/** Boolean and value flags to add to a command's parseArgs spec. */
export const RENDER_BOOLEANS = ['strict'] as const;
export const RENDER_VALUES = ['host', 'ignition-version'] as const;

export type EngineChoice = RenderTarget | 'flint';

/** The engine named by FLAG (for, to), or undefined when it is not given. */
export function engineOf<E extends string = never>(args: ParsedArgs, flag: string, extra: readonly E[] = []): EngineChoice | E | undefined {
  const v = args.flags.get(flag);
  if (v === undefined) return undefined;
  const allowed = ['flint', ...RENDER_TARGETS];
  if (typeof v !== 'string' || !(allowed.includes(v) || (extra as readonly string[]).includes(v))) {
    const combustion = v === 'combustion' ? ' (Combustion reads its script from a stick: flint drive create CONFIG --for combustion -o stick.img)' : '';
    throw new UsageError(`--${flag} ${String(v)}: expected ${[...allowed, ...extra].join(', ')}${combustion}`);
  }
  return v as EngineChoice | E;
}

/** --ignition-version, checked. */
function versionOf(args: ParsedArgs, target: RenderTarget): SpecVersion | undefined {
  const v = args.flags.get('ignition-version');
  if (v === undefined) return undefined;
  if (target !== 'ignition') throw new UsageError('--ignition-version is for --for ignition (or --to ignition) only');
  if (typeof v !== 'string' || !isSupportedVersion(v)) throw new UsageError(`--ignition-version ${String(v)}: expected one of ${SUPPORTED_VERSIONS.join(', ')}`);
  return v;
}

/** Renders CONFIG for TARGET and prints findings; undefined (after saying why) when nothing may be written. */
export function renderForCli(configFile: string, target: RenderTarget, args: ParsedArgs, io: Output): RenderedFile[] | undefined {
  const host = args.flags.get('host');
  const version = versionOf(args, target);
  let r;
  try {
    r = renderConfigFile(configFile, { target, ...(typeof host === 'string' ? { host } : {}), ...(version !== undefined ? { ignitionVersion: version } : {}) });
  } catch (e) {
    if (e instanceof RenderError) {
      io.err(`flint: ${e.message}`);
      return undefined;
    }
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`${configFile}: no such file`);
    throw e;
  }
  // The plain-password warning is answered here: the password is hashed right now.
  for (const d of r.diagnostics) if (!/plain[- ]text password/i.test(d.message)) io.err(formatDiagnostic(d, { color: io.color }) + '\n');
  if (r.files.length === 0) {
    io.err(`flint: ${configFile} is invalid; nothing was written`);
    return undefined;
  }
  for (const d of r.losses) io.err(formatDiagnostic(d, { color: io.color }) + '\n');
  for (const n of r.notes) io.err(`note: ${n}`);
  const engine = target === 'ignition' ? `Ignition (spec ${r.version ?? ''})` : 'cloud-init';
  if (r.losses.length > 0) {
    const n = `${r.losses.length} setting${r.losses.length === 1 ? '' : 's'}`;
    if (args.flags.has('strict')) {
      io.err(`flint: ${n} of ${configFile} cannot be expressed for ${engine} (above); --strict: nothing was written`);
      return undefined;
    }
    io.err(`flint: ${n} of ${configFile} cannot be expressed for ${engine} and are left out (above); --strict refuses instead`);
  }
  return r.files;
}
