/** `flint convert FILE [--to yaml|json] [-o OUT]`: another tool's config as a flint config. */
import { writeFileSync } from 'node:fs';
import { formatDiagnostic } from '../config/diagnostics.js';
import { FORMAT_NAMES } from '../config/format.js';
import { convertedYaml, validateAny } from '../convert/any.js';
import { expandShortFlags, parseArgs, UsageError } from './args.js';
import { convertHelp } from './convert-help.js';
import type { Output } from './output.js';

export function runConvert(argv: readonly string[], io: Output): number {
  const args = parseArgs(expandShortFlags(argv, { '-o': '--output' }), { booleans: [], values: ['to', 'output'] });
  if (args.flags.has('help')) {
    io.out(convertHelp);
    return 0;
  }
  if (args.positionals.length !== 1) throw new UsageError('flint convert takes one FILE (or a NoCloud seed folder)');
  const to = args.flags.get('to') ?? 'yaml';
  if (to !== 'yaml' && to !== 'json') throw new UsageError(`--to ${String(to)}: expected yaml or json`);
  const file = args.positionals[0]!;
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
