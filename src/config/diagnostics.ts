/**
 * Diagnostics: every problem flint finds in a config, with where it is and how to fix it.
 * Everything here is plain data plus pure formatting; printing happens in the CLI.
 */

/** A place in the source text: offsets into it. */
export interface Span {
  start: number;
  end: number;
}

export type Severity = 'error' | 'warning';

/** One segment of a path into the config: an object key or an array index. */
export type PathSeg = string | number;

/**
 * The one problem type: something wrong at a place in the config, and its fix. A check
 * of one value gives it without the place (checks/problem.ts's Verdict); the steps,
 * storage and the accounts editor give it with the place; the semantic checks add a code
 * (Finding); a Diagnostic is one of them positioned in a file for people.
 */
export interface Problem {
  path: PathSeg[];
  message: string;
  hint?: string;
  severity?: Severity;
}

export interface Diagnostic {
  severity: Severity;
  /** Stable machine-readable identifier, e.g. "unknown-key", "yaml-syntax". */
  code: string;
  /** Plain message. Never contains a secret value. */
  message: string;
  /** The fix, where one is known. */
  hint?: string;
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based, in characters. */
  column: number;
  /** Number of characters the caret underlines (at least 1). */
  length: number;
  /** Readable path into the config, e.g. `users[0].ssh_authorized_keys[1]`; "" for the document. */
  path: string;
  /** The offending source line, secrets masked. */
  source?: string;
}

/** `users[0].name` from ['users', 0, 'name']. Keys that are not identifiers are quoted. */
export function formatPath(path: readonly PathSeg[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** The segments of a path formatPath wrote: `users[0].name` -> ['users', 0, 'name']. */
export function parsePath(text: string): PathSeg[] {
  const out: PathSeg[] = [];
  for (const m of text.matchAll(/(?:^|\.)([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(m[3]!) as string);
  }
  return out;
}

/** JSON pointer (RFC 6901) for a path: the key the loader's span table uses. */
export function pointer(path: readonly PathSeg[]): string {
  let out = '';
  for (const s of path) out += pointerSegment(s);
  return out;
}

/** One segment of a JSON pointer, with its "/": most keys need no escaping, so skip the regexes then. */
export function pointerSegment(s: PathSeg): string {
  const t = String(s);
  return t.includes('~') || t.includes('/') ? '/' + t.replace(/~/g, '~0').replace(/\//g, '~1') : '/' + t;
}

export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  return a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column || a.message.localeCompare(b.message);
}

export interface FormatOptions {
  color: boolean;
}

const ansi = {
  red: (s: string) => `\x1b[31m${s}\x1b[39m`,
  yellow: (s: string) => `\x1b[33m${s}\x1b[39m`,
  bold: (s: string) => `\x1b[1m${s}\x1b[22m`,
  dim: (s: string) => `\x1b[2m${s}\x1b[22m`,
  cyan: (s: string) => `\x1b[36m${s}\x1b[39m`,
};

/** Expand tabs so the caret lines up with what a terminal shows. */
function untab(line: string, column: number): { text: string; col: number } {
  let text = '';
  let col = column;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\t') {
      const width = 8 - (text.length % 8);
      if (i < column - 1) col += width - 1;
      text += ' '.repeat(width);
    } else text += line[i];
  }
  return { text, col };
}

/**
 * A diagnostic as people read it:
 *
 *   config.yaml:12:5: error: unknown key "sshAuthorizedKeys" in users[0]
 *      12 |     sshAuthorizedKeys:
 *         |     ^^^^^^^^^^^^^^^^^
 *     path: users[0].sshAuthorizedKeys
 *     hint: did you mean "ssh_authorized_keys"?
 */
export function formatDiagnostic(d: Diagnostic, opts: FormatOptions): string {
  const c = opts.color ? ansi : { red: id, yellow: id, bold: id, dim: id, cyan: id };
  const sev = d.severity === 'error' ? c.red(c.bold('error')) : c.yellow(c.bold('warning'));
  const out = [`${c.bold(`${d.file}:${d.line}:${d.column}`)}: ${sev}: ${d.message}`];
  if (d.source !== undefined) {
    const num = String(d.line);
    const pad = ' '.repeat(num.length);
    const { text, col } = untab(d.source, d.column);
    const avail = Math.max(1, text.length - (col - 1));
    const caret = '^'.repeat(Math.max(1, Math.min(d.length, avail)));
    out.push(`  ${c.dim(`${num} |`)} ${text}`);
    out.push(`  ${c.dim(`${pad} |`)} ${' '.repeat(Math.max(0, col - 1))}${d.severity === 'error' ? c.red(caret) : c.yellow(caret)}`);
  }
  if (d.path !== '') out.push(`  ${c.dim('path:')} ${d.path}`);
  if (d.hint !== undefined) out.push(`  ${c.cyan('hint:')} ${d.hint}`);
  return out.join('\n');
}

function id(s: string): string {
  return s;
}

/** The shape `--json` prints: stable keys, no source text (it may be long). */
export function diagnosticToJson(d: Diagnostic): Record<string, unknown> {
  const o: Record<string, unknown> = {
    file: d.file,
    line: d.line,
    column: d.column,
    path: d.path,
    severity: d.severity,
    code: d.code,
    message: d.message,
  };
  if (d.hint !== undefined) o.hint = d.hint;
  return o;
}

export function countBySeverity(ds: readonly Diagnostic[]): { errors: number; warnings: number } {
  let errors = 0;
  let warnings = 0;
  for (const d of ds) {
    if (d.severity === 'error') errors++;
    else warnings++;
  }
  return { errors, warnings };
}
