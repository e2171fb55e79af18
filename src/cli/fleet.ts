/** `flint fleet build CONFIG -o DIR`: per-machine configs for a static web server (media/fleet.ts). */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { formatDiagnostic } from '../config/diagnostics.js';
import { digestLine, fleetFiles, FleetError } from '../media/fleet.js';
import type { FleetFile } from '../media/fleet.js';
import { prepareConfig, PrepareError } from '../media/prepare.js';
import type { PreparedConfig } from '../media/prepare.js';
import { signManifest } from '../trust/manifest.js';
import { expandShortFlags, parseArgs, UsageError } from './args.js';
import type { ParsedArgs } from './args.js';
import type { Output } from './output.js';
import { processSignIo, signingMaterial } from './sign.js';
import { fleetHelp } from './fleet-help.js';

function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

async function prepared(config: string, io: Output): Promise<PreparedConfig | undefined> {
  try {
    return await prepareConfig(config);
  } catch (e) {
    if (!(e instanceof PrepareError)) throw e;
    for (const d of e.diagnostics) io.err(formatDiagnostic(d, { color: io.color }) + '\n');
    io.err(`flint: ${e.message}`);
    return undefined;
  }
}

/** Writes FILES into a new folder beside OUT, then swaps it in. */
function writeFleet(out: string, files: readonly FleetFile[], sigs: ReadonlyMap<string, string>): void {
  const abs = resolve(out);
  const stage = join(dirname(abs), `.${basename(abs)}.flint-new`);
  rmSync(stage, { recursive: true, force: true });
  for (const f of files) {
    const p = join(stage, f.rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.text, { mode: 0o644 });
    writeFileSync(`${p}.sha512`, digestLine(f), { mode: 0o644 });
    const sig = sigs.get(f.rel);
    if (sig !== undefined) writeFileSync(`${p}.sig`, sig, { mode: 0o644 });
  }
  const index = files.map((f) => ({ file: f.rel, machine: f.machine, ...(f.host !== undefined ? { host: f.host } : {}), sha512: f.sha512, signed: sigs.has(f.rel) }));
  writeFileSync(join(stage, 'index.json'), JSON.stringify({ flint_fleet: 1, files: index }, null, 2) + '\n', { mode: 0o644 });
  const old = join(dirname(abs), `.${basename(abs)}.flint-old`);
  rmSync(old, { recursive: true, force: true });
  if (existsSync(abs)) renameSync(abs, old);
  renameSync(stage, abs);
  rmSync(old, { recursive: true, force: true });
}

export async function runFleet(argv: readonly string[], io: Output): Promise<number> {
  const args = parseArgs(expandShortFlags(argv, { '-o': '--output' }), { booleans: ['sign', 'passphrase-stdin', 'force', 'json'], values: ['output', 'key', 'cert', 'chain'] });
  const [sub, ...rest] = args.positionals;
  if (args.flags.has('help') || sub === undefined) {
    io.out(fleetHelp);
    return sub === undefined && !args.flags.has('help') ? 2 : 0;
  }
  if (sub !== 'build') throw new UsageError(`unknown "flint fleet ${sub}": use "flint fleet build"`);
  if (rest.length !== 1) throw new UsageError('flint fleet build needs one CONFIG (and -o DIR)');
  const out = str(args, 'output');
  if (out === undefined) throw new UsageError('flint fleet build needs -o DIR, the folder to write');
  if (existsSync(out) && readdirSync(out).length > 0 && !args.flags.has('force')) throw new UsageError(`${out} exists and is not empty: give --force to replace what is in it`);
  if (!args.flags.has('sign')) for (const f of ['key', 'cert', 'chain', 'passphrase-stdin']) if (args.flags.has(f)) throw new UsageError(`--${f} is for --sign`);
  const config = rest[0]!;
  const p = await prepared(config, io);
  if (p === undefined) return 1;
  let files: FleetFile[];
  try {
    files = fleetFiles(p, config);
  } catch (e) {
    if (!(e instanceof FleetError)) throw e;
    io.err(`flint: ${e.message}; nothing was written`);
    return 1;
  }
  const sigs = new Map<string, string>();
  if (args.flags.has('sign')) {
    const { key, certificates } = await signingMaterial(args, processSignIo);
    for (const f of files) sigs.set(f.rel, signManifest({ name: basename(f.rel), config: Buffer.from(f.text), payloads: [], key, certificates }));
  }
  writeFleet(out, files, sigs);
  if (args.flags.has('json')) {
    io.out(JSON.stringify({ ok: true, output: out, files: files.map((f) => ({ file: f.rel, machine: f.machine, sha512: f.sha512, signed: sigs.has(f.rel) })) }, null, 2));
    return 0;
  }
  for (const f of files) io.out(`${join(out, f.rel)}: ${f.machine}${sigs.has(f.rel) ? ', signed' : ''}`);
  io.out(`wrote ${files.length} config${files.length === 1 ? '' : 's'} to ${out} (with .sha512${sigs.size > 0 ? ' and .sig' : ''} files and index.json); serve ${out} as it is and boot with flint.config=https://HOST/PATH/by-mac/{mac}.yaml`);
  return 0;
}
