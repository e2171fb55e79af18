/**
 * `flint convert FILE [--to yaml|json] [-o OUT]`: another tool's config as a flint config;
 * `flint convert CONFIG --to ignition|cloud-init [-o OUT]`: a flint config for that engine.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatDiagnostic } from '../config/diagnostics.js';
import { FORMAT_NAMES, sniffFormat } from '../config/format.js';
import { convertedYaml, isDir, validateAny } from '../convert/any.js';
import type { RenderedFile } from '../convert/render.js';
import { expandShortFlags, parseArgs, UsageError } from './args.js';
import type { ParsedArgs } from './args.js';
import { convertHelp } from './convert-help.js';
import type { Output } from './output.js';
import { RENDER_BOOLEANS, RENDER_VALUES, renderForCli } from './render-cli.js';
import { readFileSync } from 'node:fs';

const TO = ['yaml', 'json', 'flint', 'ignition', 'cloud-init'];

export function runConvert(argv: readonly string[], io: Output): number {
  const args = parseArgs(expandShortFlags(argv, { '-o': '--output' }), { booleans: [...RENDER_BOOLEANS], values: ['to', 'output', ...RENDER_VALUES] });
  if (args.flags.has('help')) {
    io.out(convertHelp);
    return 0;
  }
  if (args.positionals.length !== 1) throw new UsageError('flint convert takes one FILE (or a NoCloud seed folder)');
  const to = args.flags.get('to') ?? 'yaml';
  if (typeof to !== 'string' || !TO.includes(to)) throw new UsageError(`--to ${String(to)}: expected ${TO.join(', ')}${to === 'combustion' ? ' (Combustion gets a stick that carries flint itself: flint drive create CONFIG --for combustion -o stick.img)' : ''}`);
  const file = args.positionals[0]!;
  if (to === 'ignition' || to === 'cloud-init') return render(file, to, args, io);
  for (const f of ['strict', 'host', 'ignition-version']) if (args.flags.has(f)) throw new UsageError(`--${f} is for rendering a flint config (--to ignition or --to cloud-init)`);
  return read(file, to === 'json' ? 'json' : 'yaml', args, io);
}

function read(file: string, to: 'yaml' | 'json', args: ParsedArgs, io: Output): number {
  let result: ReturnType<typeof validateAny>;
  try {
    result = validateAny(file);
  } catch (e) {
    io.err(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    return 2;
  }
  for (const d of result.diagnostics) io.err(formatDiagnostic(d, { color: io.color }) + '\n');
  for (const d of result.deviations) io.err(`note: ${d}`);
  if (result.converted === undefined || result.config === undefined) {
    io.err(`${file}: not converted: the ${FORMAT_NAMES[result.format]} has errors (above)`);
    return 1;
  }
  const text = to === 'json' ? JSON.stringify(result.converted, null, 2) + '\n' : convertedYaml(result.converted, file, result.format, result.deviations);
  const out = args.flags.get('output');
  if (typeof out === 'string') {
    writeFileSync(out, text, { mode: 0o600 });
    io.err(`flint: wrote ${out}`);
  } else io.out(text.replace(/\n$/, ''));
  return 0;
}

/** A flint config rendered for another engine: Ignition JSON, or a NoCloud seed (a folder with -o). */
function render(file: string, to: 'ignition' | 'cloud-init', args: ParsedArgs, io: Output): number {
  let text: string;
  try {
    text = isDir(file) ? '' : readFileSync(file, 'utf8');
  } catch (e) {
    io.err(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    return 2;
  }
  const format = isDir(file) ? 'cloud-init' : sniffFormat(file, text);
  if (format !== 'flint') throw new UsageError(`${file} is ${FORMAT_NAMES[format]}, not a flint config: --to ${to} renders a flint config (read it into one first with: flint convert ${file} -o config.yaml)`);
  const files = renderForCli(file, to, args, io);
  if (files === undefined) return 1;
  const out = args.flags.get('output');
  if (typeof out === 'string') writeOut(out, to, files, io);
  else if (files.length === 1) io.out(files[0]!.text.replace(/\n$/, ''));
  else io.out(files.map((f) => `==> ${f.rel} <==\n${f.text.replace(/\n$/, '')}`).join('\n\n'));
  return 0;
}

/** Ignition: OUT is the file; cloud-init: OUT is the seed's folder, made when missing. */
function writeOut(out: string, to: 'ignition' | 'cloud-init', files: readonly RenderedFile[], io: Output): void {
  if (to === 'ignition') {
    writeFileSync(out, files[0]!.text, { mode: 0o600 });
    io.err(`flint: wrote ${out}`);
    return;
  }
  mkdirSync(out, { recursive: true, mode: 0o700 });
  for (const f of files) writeFileSync(join(out, f.rel), f.text, { mode: 0o600 });
  io.err(`flint: wrote the NoCloud seed ${files.map((f) => f.rel).join(', ')} to ${out}/`);
}
