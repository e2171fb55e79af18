/** `flint drive create` and `flint drive write`: config media. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDiagnostic } from '../config/diagnostics.js';
import { FORMAT_NAMES } from '../config/format.js';
import { parseSize } from '../config/checks/names.js';
import { prepareConfig, PrepareError } from '../media/prepare.js';
import type { PreparedConfig } from '../media/prepare.js';
import { buildMedium, MediumError } from '../media/medium.js';
import { DeviceError, diskInfo, writeImage, writeRefusals } from '../media/blockdev.js';
import { formatBytes, Progress } from '../media/progress.js';
import { expandShortFlags, parseArgs, UsageError } from './args.js';
import type { ParsedArgs } from './args.js';
import { driveHelp } from './media-help.js';
import type { Output } from './output.js';
import { askYesNo } from '../media/prompt.js';
import { buildFilesMedium } from '../media/medium.js';
import type { MediumFile } from '../media/medium.js';
import { combustionFiles } from '../media/combustion-stick.js';
import { ImageError } from '../media/disk-image.js';
import { findExecutable } from '../media/executable.js';
import type { Arch } from '../media/executable.js';
import { TrustError } from '../trust/chain.js';
import { signManifest } from '../trust/manifest.js';
import { processSignIo, signingMaterial } from './sign.js';
import { engineOf, RENDER_BOOLEANS, RENDER_VALUES, renderForCli } from './render-cli.js';
import type { EngineChoice } from './render-cli.js';

/** A stick is for flint, an engine flint renders for, or Combustion (which runs flint from the stick). */
type DriveEngine = EngineChoice | 'combustion';

/** The label each engine looks for on a stick. */
const LABELS: Readonly<Record<DriveEngine, string>> = { flint: 'FLINT', ignition: 'IGNITION', 'cloud-init': 'CIDATA', combustion: 'COMBUSTION' };

/** What goes on the medium: flint's prepared config, or another engine's rendering. */
type Content = { kind: 'flint'; prepared: PreparedConfig; signature?: string } | { kind: 'rendered'; engine: DriveEngine; files: MediumFile[] };

declare const FLINT_VERSION: string | undefined;

const ARCH_CHOICES: Readonly<Record<string, readonly Arch[]>> = { both: ['x86_64', 'aarch64'], x86_64: ['x86_64'], amd64: ['x86_64'], aarch64: ['aarch64'], arm64: ['aarch64'] };

/** A Combustion stick: the config prepared as for flint, with the script and the self-contained flint for each --arch (default both). */
async function combustionContent(configFile: string, args: ParsedArgs, io: Output): Promise<Content | undefined> {
  for (const f of ['strict', 'host', 'ignition-version']) if (args.flags.has(f)) throw new UsageError(`--${f} is for --for ignition or --for cloud-init: a Combustion stick carries flint itself, which loses nothing`);
  const archFlag = str(args, 'arch') ?? 'both';
  const arches = ARCH_CHOICES[archFlag];
  if (arches === undefined) throw new UsageError(`--arch ${archFlag}: give x86_64, aarch64 or both`);
  let executables: Array<{ arch: Arch; data: Buffer }>;
  try {
    executables = arches.map((arch) => ({ arch, data: readFileSync(findExecutable(arch, undefined, import.meta.url, process.execPath)) }));
  } catch (e) {
    if (!(e instanceof ImageError)) throw e;
    io.err(`flint: a Combustion stick carries the self-contained flint, and ${e.message}${e.hint !== undefined ? `\n  hint: ${e.hint}` : ''}`);
    return undefined;
  }
  const prepared = await loadPrepared(configFile, io);
  if (prepared === undefined) return undefined;
  return { kind: 'rendered', engine: 'combustion', files: combustionFiles(prepared, executables, typeof FLINT_VERSION === 'string' ? FLINT_VERSION : 'dev') };
}

/**
 * --sign: the signature (CONFIG.sig, docs/signing.md) over what goes on the stick, the
 * config as written there (passwords already hashed) and its payloads.
 */
async function signed(prepared: PreparedConfig, args: ParsedArgs, io: Output): Promise<Content | undefined> {
  try {
    const { key, certificates } = await signingMaterial(args, processSignIo);
    const signature = signManifest({ name: prepared.name, config: Buffer.from(prepared.text), payloads: prepared.payloads, key, certificates });
    io.err(`flint: signed ${prepared.name} and ${prepared.payloads.length} payload${prepared.payloads.length === 1 ? '' : 's'} as "${certificates[0]!.subject.replace(/\n/g, ', ')}"`);
    return { kind: 'flint', prepared, signature };
  } catch (e) {
    if (!(e instanceof TrustError)) throw e;
    io.err(`flint: ${e.message}; nothing was written`);
    return undefined;
  }
}

async function contentFor(configFile: string, engine: DriveEngine, args: ParsedArgs, io: Output): Promise<Content | undefined> {
  if (engine !== 'combustion' && args.flags.has('arch')) throw new UsageError('--arch is for --for combustion');
  if (engine !== 'flint' && args.flags.has('sign')) throw new UsageError(`--sign is for flint sticks: ${engine === 'combustion' ? 'Combustion' : engine === 'ignition' ? 'Ignition' : 'cloud-init'} does not check signatures`);
  if (!args.flags.has('sign')) for (const f of ['key', 'cert', 'chain', 'passphrase-stdin']) if (args.flags.has(f)) throw new UsageError(`--${f} is for --sign`);
  if (engine === 'combustion') return combustionContent(configFile, args, io);
  if (engine === 'flint') {
    for (const f of ['strict', 'host', 'ignition-version']) if (args.flags.has(f)) throw new UsageError(`--${f} is for --for ignition or --for cloud-init`);
    const prepared = await loadPrepared(configFile, io);
    if (prepared === undefined) return undefined;
    return args.flags.has('sign') ? signed(prepared, args, io) : { kind: 'flint', prepared };
  }
  if (!existsSync(configFile)) throw new UsageError(`${configFile}: no such file`);
  const files = renderForCli(configFile, engine, args, io);
  return files === undefined ? undefined : { kind: 'rendered', engine, files: files.map((f) => ({ rel: f.rel, data: f.text })) };
}

function build(content: Content, out: string, opts: { label: string; iso?: boolean; size?: number }): Promise<{ bytes: number }> {
  if (content.kind === 'rendered') return buildFilesMedium(content.files, out, opts);
  return buildMedium(content.prepared, out, opts, content.signature !== undefined ? [{ rel: `${content.prepared.name}.sig`, data: content.signature }] : []);
}

function describe(content: Content): string {
  return content.kind === 'flint' ? `flint/${content.prepared.name}${payloadNote(content.prepared)}${content.signature !== undefined ? `, signed (flint/${content.prepared.name}.sig)` : ''}` : content.files.map((f) => (f.data.length > 1e6 ? `${f.rel} (${formatBytes(f.data.length)})` : f.rel)).join(', ');
}

const SHORT = { '-o': '--output', '-y': '--yes' };

export async function runDrive(argv: readonly string[], io: Output): Promise<number> {
  const args = parseArgs(expandShortFlags(argv, SHORT), { booleans: ['iso', 'yes', 'force', 'sign', 'passphrase-stdin', ...RENDER_BOOLEANS], values: ['output', 'label', 'size', 'for', 'arch', 'key', 'cert', 'chain', ...RENDER_VALUES] });
  const [sub, ...rest] = args.positionals;
  if (args.flags.has('help') || sub === undefined) {
    io.out(driveHelp);
    return sub === undefined && !args.flags.has('help') ? 2 : 0;
  }
  if (sub === 'create') return create(rest, args, io);
  if (sub === 'write') return write(rest, args, io);
  throw new UsageError(`unknown "flint drive ${sub}": use "flint drive create" or "flint drive write"`);
}

function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

function sizeOf(args: ParsedArgs): number | undefined {
  const s = str(args, 'size');
  if (s === undefined) return undefined;
  const p = parseSize(s);
  if (!('bytes' in p)) throw new UsageError(`--size ${s}: ${'message' in p ? p.message : 'a percentage is no image size'}`);
  return Number(p.bytes);
}

async function create(rest: string[], args: ParsedArgs, io: Output): Promise<number> {
  if (rest.length !== 1) throw new UsageError('flint drive create needs exactly one CONFIG (and -o FILE)');
  const out = str(args, 'output');
  if (out === undefined) throw new UsageError('flint drive create needs -o FILE, the image to create');
  if (existsSync(out) && !statSync(out).isFile()) throw new UsageError(`${out} exists and is not a regular file; to write to a disk use: flint drive write CONFIG DEVICE`);
  const iso = args.flags.has('iso');
  const size = sizeOf(args);
  if (iso && size !== undefined) throw new UsageError('--size is for FAT images; an ISO is always as large as its content');
  const engine = engineOf(args, 'for', ['combustion']) ?? 'flint';
  const content = await contentFor(rest[0]!, engine, args, io);
  if (content === undefined) return 1;
  const label = str(args, 'label') ?? LABELS[engine];
  try {
    const { bytes } = await build(content, out, { label, iso, ...(size !== undefined ? { size } : {}) });
    io.out(`${out}: ${iso ? 'ISO 9660' : 'FAT32'} image labelled ${label}, ${formatBytes(bytes)}, with ${describe(content)}`);
    return 0;
  } catch (e) {
    if (e instanceof MediumError) {
      io.err(`flint: cannot build ${out}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

async function write(rest: string[], args: ParsedArgs, io: Output): Promise<number> {
  if (rest.length !== 2) throw new UsageError('flint drive write needs CONFIG and DEVICE, e.g. flint drive write config.yaml /dev/sdb');
  const [configFile, node] = rest as [string, string];
  let disk;
  try {
    disk = diskInfo(node);
  } catch (e) {
    if (e instanceof DeviceError) {
      io.err(`flint: ${e.message}`);
      return 1;
    }
    throw e;
  }
  const force = args.flags.has('force');
  const refusals = writeRefusals(disk);
  for (const r of refusals) io.err(`flint: ${force ? 'warning: ' : ''}${r.message}`);
  if (refusals.length > 0 && !force) {
    io.err(`flint: not writing to ${node}; --force writes anyway, if you are sure it is the right disk`);
    return 1;
  }
  const engine = engineOf(args, 'for', ['combustion']) ?? 'flint';
  const content = await contentFor(configFile, engine, args, io);
  if (content === undefined) return 1;
  const label = str(args, 'label') ?? LABELS[engine];
  const tmp = await mkdtemp(join(tmpdir(), 'flint-write-'));
  try {
    const img = join(tmp, 'stick.img');
    const { bytes } = await build(content, img, { label });
    if (bytes > disk.bytes) {
      io.err(`flint: ${node} holds ${formatBytes(disk.bytes)}, the image needs ${formatBytes(bytes)}`);
      return 1;
    }
    const what = `${node} (${disk.model ?? 'disk'}, ${formatBytes(disk.bytes)})`;
    if (!args.flags.has('yes')) {
      const yes = await askYesNo(`Erase everything on ${what} and write the config medium? [y/N] `);
      if (yes === undefined) {
        io.err(`flint: not writing to ${node}: no terminal to ask on; give --yes to write without asking`);
        return 1;
      }
      if (!yes) {
        io.err('flint: nothing written');
        return 1;
      }
    }
    const progress = new Progress({ write: (s) => process.stderr.write(s), tty: process.stderr.isTTY === true, columns: process.stderr.columns }, bytes, `writing ${node}`);
    const done = writeImage(img, node, (n) => progress.update(n));
    progress.finish(done);
    io.out(`${node}: FAT32 labelled ${label} with ${describe(content)}; it can be removed now`);
    return 0;
  } catch (e) {
    if (e instanceof MediumError) {
      io.err(`flint: cannot build the image: ${e.message}`);
      return 1;
    }
    if ((e as NodeJS.ErrnoException).code !== undefined) {
      const code = (e as NodeJS.ErrnoException).code;
      io.err(`flint: writing ${node} failed: ${(e as Error).message}${code === 'EACCES' || code === 'EPERM' ? ' (writing to a disk needs root: run it with sudo)' : ''}`);
      return 1;
    }
    throw e;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The config validated and with passwords hashed; diagnostics printed. Undefined when it cannot be used. */
export async function loadPrepared(configFile: string, io: Output): Promise<PreparedConfig | undefined> {
  if (!existsSync(configFile)) throw new UsageError(`${configFile}: no such file`);
  let prepared: PreparedConfig;
  try {
    prepared = await prepareConfig(configFile);
  } catch (e) {
    if (e instanceof PrepareError) {
      for (const d of e.diagnostics) io.err(formatDiagnostic(d, { color: io.color }) + '\n');
      io.err(`flint: ${e.message}`);
      return undefined;
    }
    throw e;
  }
  // The plain-password warning is answered here: the password is hashed right now.
  for (const d of prepared.diagnostics) if (d.severity === 'warning' && !/plain[- ]text password/i.test(d.message)) io.err(formatDiagnostic(d, { color: io.color }) + '\n');
  if (prepared.convertedFrom !== undefined) {
    io.err(`flint: ${configFile} (${FORMAT_NAMES[prepared.convertedFrom]}) goes on the medium as a flint config, as "flint convert" prints it`);
    for (const d of prepared.deviations) io.err(`note: ${d}`);
  }
  if (prepared.hashed > 0) io.err(`flint: ${prepared.hashed} plain-text password${prepared.hashed === 1 ? '' : 's'} replaced by SHA-512 crypt hashes (password_hash)`);
  return prepared;
}

function payloadNote(p: PreparedConfig): string {
  if (p.payloads.length === 0) return '';
  const bytes = p.payloads.reduce((s, x) => s + x.data.length, 0);
  return ` and ${p.payloads.length} payload${p.payloads.length === 1 ? '' : 's'} (${formatBytes(bytes)})`;
}
