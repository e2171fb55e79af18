/**
 * Helpers for steps that edit small configuration files the image already has
 * (/etc/vconsole.conf, /etc/default/grub, ...): change only the lines that must change,
 * and keep the file's mode and owner, so an image's own choices survive.
 */
import type { Action } from '../../engine/actions.js';
import type { TargetRoot } from '../../target/root.js';

/**
 * A `file` action for `path`. An existing regular file keeps its mode and owner (the
 * image may have made it 0600 or group-owned on purpose); a new one is root:root `mode`.
 */
export function editedFile(root: TargetRoot, path: string, text: string, step: string, why: string, mode = 0o644): Action {
  const e = root.entry(path);
  const meta = e.type === 'file' ? { mode: e.mode, uid: e.uid, gid: e.gid } : { mode, uid: 0, gid: 0 };
  return { kind: 'file', path, data: Buffer.from(text), ...meta, step, why };
}

/** One `KEY=VALUE` line as written in an environment-style file, split into its parts. */
interface Assignment {
  key: string;
  /** The value with shell quotes removed. */
  value: string;
  quoted: boolean;
}

const ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;

/** Parse one line of an environment-style file (locale.conf, vconsole.conf, /etc/default/*). */
export function parseAssignment(line: string): Assignment | undefined {
  const m = ASSIGNMENT.exec(line);
  if (!m) return undefined;
  const raw = m[2]!.trim();
  const dq = /^"((?:[^"\\]|\\.)*)"$/.exec(raw);
  if (dq) return { key: m[1]!, value: dq[1]!.replace(/\\(.)/g, '$1'), quoted: true };
  const sq = /^'([^']*)'$/.exec(raw);
  if (sq) return { key: m[1]!, value: sq[1]!, quoted: true };
  return { key: m[1]!, value: raw, quoted: false };
}

/** The value of the last assignment of `key` (the one a shell would keep), if any. */
export function readAssignment(text: string | undefined, key: string): string | undefined {
  let out: string | undefined;
  for (const line of (text ?? '').split('\n')) {
    const a = parseAssignment(line);
    if (a?.key === key) out = a.value;
  }
  return out;
}

function formatValue(value: string, quote: boolean): string {
  if (!quote && /^[A-Za-z0-9_.@:+/,=-]*$/.test(value)) return value;
  return `"${value.replace(/[\\"$`]/g, '\\$&')}"`;
}

/**
 * `text` with each key set to its value: the first line assigning a key is rewritten
 * (left byte for byte as it was when it already holds the value), later lines assigning
 * the same key are dropped (they would override it), and keys not assigned yet are
 * appended. Every other line (comments, other keys) is kept. Values are written
 * unquoted when they need no quotes, as systemd writes them, unless `quote` asks for
 * double quotes (Debian's /etc/default/keyboard style) or the replaced line had them.
 */
export function setAssignments(text: string | undefined, values: ReadonlyArray<readonly [string, string]>, quote = false): string {
  const want = new Map(values);
  const done = new Set<string>();
  const lines = text === undefined || text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const out: string[] = [];
  for (const line of lines) {
    const a = parseAssignment(line);
    const value = a === undefined ? undefined : want.get(a.key);
    if (a === undefined || value === undefined) {
      out.push(line);
      continue;
    }
    if (done.has(a.key)) continue;
    done.add(a.key);
    out.push(a.value === value ? line : `${a.key}=${formatValue(value, quote || a.quoted)}`);
  }
  for (const [key, value] of values) if (!done.has(key)) out.push(`${key}=${formatValue(value, quote)}`);
  // Unchanged lines: the text as it was, even without a final newline.
  if (text !== undefined && out.length === lines.length && out.every((l, i) => l === lines[i])) return text;
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}
