/** `flint validate [--strict] [--json] FILE...` */
import { readFileSync } from 'node:fs';
import { countBySeverity, diagnosticToJson, formatDiagnostic } from '../config/diagnostics.js';
import type { Diagnostic } from '../config/diagnostics.js';
import { validateText } from '../config/validate.js';
import { parseArgs, UsageError } from './args.js';
import type { Output } from './output.js';

export const validateHelp = `Usage: flint validate [--strict] [--json] FILE...

Check flint configs (YAML or JSON) without touching any machine: the schema, and
everything it cannot express (addresses, keys, hashes, names, modes, paths, sizes,
unit files, image references, hosts overrides). Every problem is reported with
file:line:col, its path in the config, the line and, where known, the fix.
FILE "-" reads standard input.

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
}

export function runValidate(argv: readonly string[], io: Output, readStdin: () => string): number {
  const args = parseArgs(argv, { booleans: ['strict', 'json'] });
  if (args.flags.has('help')) {
    io.out(validateHelp);
    return 0;
  }
  if (args.positionals.length === 0) throw new UsageError('flint validate needs at least one FILE');
  const strict = args.flags.has('strict');
  const results: FileResult[] = [];
  let unreadable = false;
  for (const file of args.positionals) {
    let text: string;
    try {
      text = file === '-' ? readStdin() : readFileSync(file, 'utf8');
    } catch (e) {
      unreadable = true;
      const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as NodeJS.ErrnoException).code === 'EISDIR' ? 'it is a directory' : (e as Error).message;
      if (!args.flags.has('json')) io.err(`${file}: cannot read: ${reason}`);
      results.push({ file, valid: false, diagnostics: [] });
      continue;
    }
    const { diagnostics } = validateText(file === '-' ? '<stdin>' : file, text);
    const { errors, warnings } = countBySeverity(diagnostics);
    results.push({ file, valid: errors === 0 && (!strict || warnings === 0), diagnostics });
  }
  if (args.flags.has('json')) {
    io.out(
      JSON.stringify(
        {
          valid: results.every((r) => r.valid) && !unreadable,
          files: results.map((r) => ({ file: r.file, valid: r.valid, diagnostics: r.diagnostics.map(diagnosticToJson) })),
        },
        null,
        2,
      ),
    );
  } else {
    for (const r of results) {
      for (const d of r.diagnostics) io.err(formatDiagnostic(d, { color: io.color }) + '\n');
      const { errors, warnings } = countBySeverity(r.diagnostics);
      if (r.diagnostics.length === 0 && !r.valid) continue;
      const counts = [errors > 0 ? plural(errors, 'error') : '', warnings > 0 ? plural(warnings, 'warning') : ''].filter(Boolean).join(', ');
      io.out(`${r.file}: ${r.valid ? 'valid' : 'invalid'}${counts ? ` (${counts})` : ''}`);
    }
  }
  if (unreadable) return 2;
  return results.every((r) => r.valid) ? 0 : 1;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
