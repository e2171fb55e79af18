/** `flint validate [--strict] [--json] FILE...` */
import { readFileSync, statSync } from 'node:fs';
import { countBySeverity, diagnosticToJson, formatDiagnostic } from '../config/diagnostics.js';
import type { Diagnostic } from '../config/diagnostics.js';
import { FORMAT_NAMES, sniffFormat } from '../config/format.js';
import type { ConfigFormat } from '../config/format.js';
import { validateText } from '../config/validate.js';
import { parseArgs, UsageError } from './args.js';
import type { Output } from './output.js';

export const validateHelp = `Usage: flint validate [--strict] [--json] FILE...

Check flint configs (YAML or JSON) without touching any machine: the schema, and
everything it cannot express (addresses, keys, hashes, names, modes, paths, sizes,
unit files, image references, hosts overrides). Every problem is reported with
file:line:col, its path in the config, the line and, where known, the fix.
FILE "-" reads standard input.

The configs of other tools are read too, recognised by their content: Ignition
JSON (spec 3.0.0 to 3.6.0), cloud-init NoCloud (a #cloud-config user-data file,
with the meta-data and network-config beside it, or the seed's folder as FILE)
and Combustion scripts. They are checked as their own tool would, then converted
and checked as a flint config; "flint convert" prints that config.

Options:
  --strict   treat warnings as errors
  --json     print the diagnostics as JSON, for machines
  -h, --help show this help

Exit status: 0 valid (warnings allowed unless --strict), 1 invalid,
2 usage error or a file that cannot be read.`;

interface FileResult {
  file: string;
  valid: boolean;
  diagnostics: Diagnostic[];
  format?: ConfigFormat;
  unreadable?: boolean;
}

interface Input {
  file: string;
  /** Undefined for a folder (a NoCloud seed). */
  text?: string;
  format: ConfigFormat;
}

export function runValidate(argv: readonly string[], io: Output, readStdin: () => string): number | Promise<number> {
  const args = parseArgs(argv, { booleans: ['strict', 'json'] });
  if (args.flags.has('help')) {
    io.out(validateHelp);
    return 0;
  }
  if (args.positionals.length === 0) throw new UsageError('flint validate needs at least one FILE');
  const inputs: Array<Input | FileResult> = args.positionals.map((file) => readInput(file, readStdin, io, args.flags.has('json')));
  // flint's own configs are checked without loading the converters (start-up time).
  if (inputs.every((i) => 'valid' in i || i.format === 'flint')) return report(inputs.map((i) => ('valid' in i ? i : check(i, args.flags.has('strict'), (f, t) => validateText(f, t ?? '')))), args.flags, io);
  return import('../convert/any.js').then(({ validateAny }) =>
    report(
      inputs.map((i) => ('valid' in i ? i : check(i, args.flags.has('strict'), (f, t) => validateAny(f, t)))),
      args.flags,
      io,
    ),
  );
}

/** The file's text and format, or a result saying it cannot be read. */
function readInput(file: string, readStdin: () => string, io: Output, json: boolean): Input | FileResult {
  try {
    if (file !== '-' && statSync(file).isDirectory()) return { file, format: 'cloud-init' };
    const text = file === '-' ? readStdin() : readFileSync(file, 'utf8');
    const name = file === '-' ? '<stdin>' : file;
    return { file: name, text, format: sniffFormat(name, text) };
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    if (!json) io.err(`${file}: cannot read: ${reason}`);
    return { file, valid: false, diagnostics: [], unreadable: true };
  }
}

function check(i: Input, strict: boolean, validate: (file: string, text?: string) => { diagnostics: Diagnostic[] }): FileResult {
  const { diagnostics } = validate(i.file, i.text);
  const { errors, warnings } = countBySeverity(diagnostics);
  return { file: i.file, valid: errors === 0 && (!strict || warnings === 0), diagnostics, ...(i.format !== 'flint' ? { format: i.format } : {}) };
}

function report(results: FileResult[], flags: ReadonlyMap<string, unknown>, io: Output): number {
  const unreadable = results.some((r) => r.unreadable === true);
  if (flags.has('json')) {
    io.out(
      JSON.stringify(
        {
          valid: results.every((r) => r.valid) && !unreadable,
          files: results.filter((r) => r.unreadable !== true).map((r) => ({ file: r.file, ...(r.format !== undefined ? { format: r.format } : {}), valid: r.valid, diagnostics: r.diagnostics.map(diagnosticToJson) })),
        },
        null,
        2,
      ),
    );
  } else {
    for (const r of results) {
      for (const d of r.diagnostics) io.err(formatDiagnostic(d, { color: io.color }) + '\n');
      const { errors, warnings } = countBySeverity(r.diagnostics);
      if (r.unreadable === true) continue;
      const counts = [errors > 0 ? plural(errors, 'error') : '', warnings > 0 ? plural(warnings, 'warning') : ''].filter(Boolean).join(', ');
      const kind = r.format !== undefined ? ` (${FORMAT_NAMES[r.format]})` : '';
      io.out(`${r.file}${kind}: ${r.valid ? 'valid' : 'invalid'}${counts ? ` (${counts})` : ''}`);
    }
  }
  if (unreadable) return 2;
  return results.every((r) => r.valid) ? 0 : 1;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
