/**
 * Line-preserving models of the account databases (/etc/passwd, shadow, group,
 * gshadow, subuid, subgid), edited the way shadow-utils' commonio layer does.
 *
 * What shadow-utils 4.13 does, and therefore what this does (verified against
 * useradd/usermod/groupadd --prefix on Debian 12):
 * - Every line is kept as read. A line that does not parse (comments, blank
 *   lines, garbage) stays where it is and is never treated as an entry.
 * - Lines starting with "+" or "-" are NIS compat markers: never entries.
 * - Only changed entries are re-formatted; all other lines are written back
 *   byte for byte. A database that is not changed is not rewritten at all.
 * - A new entry of passwd/shadow/group/gshadow goes in front of the first NIS
 *   line when there is one (commonio KEEP_NIS_AT_END), otherwise at the end.
 *   Updating a name that already has an entry replaces that entry in place
 *   (e.g. a stale shadow line of a user missing from passwd).
 * - subuid/subgid entries are always appended at the very end (commonio_append).
 * - A rewritten file ends with a newline even if the input did not.
 *
 * Pure: strings in, strings out.
 */

export interface PasswdEntry { name: string; passwd: string; uid: number; gid: number; gecos: string; home: string; shell: string }
/** Shadow fields are kept as text (empty = unset) so untouched ones round-trip exactly. */
export interface ShadowEntry { name: string; passwd: string; fields: string[] /* lastchg min max warn inactive expire flag */ }
export interface GroupEntry { name: string; passwd: string; gid: number; members: string[] }
export interface GshadowEntry { name: string; passwd: string; admins: string[]; members: string[] }
export interface SubidEntry { owner: string; start: number; count: number }

const ID_MAX = 4294967295;

/**
 * A uid/gid field as shadow-utils' get_uid/get_gid read it: strtoll base 10,
 * the whole field, and the value must fit in a 32-bit id.
 */
export function parseIdField(text: string): number | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)([0-9]+)$/.exec(text);
  if (!m) return undefined;
  const digits = m[2] ?? '';
  const value = Number(digits);
  if (m[1] === '-') return value === 0 ? 0 : undefined;
  return value <= ID_MAX ? value : undefined;
}

/** unsigned long as getulong() reads it (strtoul base 0: decimal, 0x hex, 0 octal). */
export function parseCUnsigned(text: string): number | undefined {
  const value = parseCLong(text);
  return value !== undefined && value >= 0 ? value : undefined;
}

/**
 * long as getlong() reads it: strtol with base 0 over the whole string. Values
 * are returned as JS numbers (exact up to 2^53, far beyond any id or day count).
 */
export function parseCLong(text: string): number | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (!m) return undefined;
  const body = m[2] ?? '';
  let value: number;
  if (/^0[xX]/.test(body)) value = parseInt(body.slice(2), 16);
  else if (body.startsWith('0')) value = body.length === 1 ? 0 : parseInt(body.slice(1), 8);
  else value = parseInt(body, 10);
  return m[1] === '-' ? -value : value;
}

/** Member lists as shadow-utils splits them: "a,,b" keeps the empty name, a trailing comma adds none. */
function splitList(text: string): string[] {
  if (text === '') return [];
  const parts = text.split(',');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

export function parsePasswdLine(line: string): PasswdEntry | null {
  const f = line.split(':');
  if (f.length !== 7) return null;
  const [name, passwd, uidText, gidText, gecos, home, shell] = f as [string, string, string, string, string, string, string];
  if (uidText === '' || gidText === '') return null;
  const uid = parseIdField(uidText);
  const gid = parseIdField(gidText);
  if (uid === undefined || gid === undefined) return null;
  return { name, passwd, uid, gid, gecos, home, shell };
}

export function formatPasswd(e: PasswdEntry): string {
  return `${e.name}:${e.passwd}:${e.uid}:${e.gid}:${e.gecos}:${e.home}:${e.shell}`;
}

export function parseShadowLine(line: string): ShadowEntry | null {
  const f = line.split(':');
  // 9 fields, or the old 5-field format (name:passwd:lastchg:min:max).
  if (f.length !== 9 && f.length !== 5) return null;
  const [name, passwd, ...rest] = f as [string, string, ...string[]];
  for (const field of rest.slice(0, 6)) {
    if (field !== '' && parseCLong(field) === undefined) return null;
  }
  const fields = [...rest];
  while (fields.length < 7) fields.push('');
  return { name, passwd, fields };
}

export function formatShadow(e: ShadowEntry): string {
  return [e.name, e.passwd, ...e.fields].join(':');
}

export function parseGroupLine(line: string): GroupEntry | null {
  const f = line.split(':');
  if (f.length !== 4) return null;
  const [name, passwd, gidText, members] = f as [string, string, string, string];
  if (gidText === '') return null;
  const gid = parseIdField(gidText);
  if (gid === undefined) return null;
  return { name, passwd, gid, members: splitList(members) };
}

export function formatGroup(e: GroupEntry): string {
  return `${e.name}:${e.passwd}:${e.gid}:${e.members.join(',')}`;
}

export function parseGshadowLine(line: string): GshadowEntry | null {
  const f = line.split(':');
  if (f.length !== 4) return null;
  const [name, passwd, admins, members] = f as [string, string, string, string];
  return { name, passwd, admins: splitList(admins), members: splitList(members) };
}

export function formatGshadow(e: GshadowEntry): string {
  return `${e.name}:${e.passwd}:${e.admins.join(',')}:${e.members.join(',')}`;
}

export function parseSubidLine(line: string): SubidEntry | null {
  const f = line.split(':');
  if (f.length !== 3) return null;
  const [owner, startText, countText] = f as [string, string, string];
  if (owner === '' || startText === '' || countText === '') return null;
  const start = parseCUnsigned(startText);
  const count = parseCUnsigned(countText);
  if (start === undefined || count === undefined) return null;
  return { owner, start, count };
}

export function formatSubid(e: SubidEntry): string {
  return `${e.owner}:${e.start}:${e.count}`;
}

interface Line<E> {
  /** The line as read (without its newline); null for a line this run added. */
  raw: string | null;
  entry: E | null;
  changed: boolean;
}

function isNisLine(raw: string | null): boolean {
  return raw !== null && (raw.startsWith('+') || raw.startsWith('-'));
}

/** Split a file into lines the way fgets + strip("\n") does; a missing final newline is remembered. */
function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (text.endsWith('\n')) lines.pop();
  return lines;
}

export class Table<E> {
  private readonly lines: Line<E>[];
  private changed = false;

  constructor(
    private readonly original: string | undefined,
    private readonly parse: (line: string) => E | null,
    private readonly format: (entry: E) => string,
    private readonly nameOf: (entry: E) => string,
  ) {
    this.lines = splitLines(original ?? '').map((raw) => ({
      raw,
      entry: isNisLine(raw) ? null : parse(raw),
      changed: false,
    }));
  }

  /** All parsed entries, in file order (including any after NIS lines). */
  entries(): E[] {
    const out: E[] = [];
    for (const l of this.lines) if (l.entry !== null) out.push(l.entry);
    return out;
  }

  /** The first entry of that name, as getpwnam/getgrnam on a files database. */
  find(name: string): E | undefined {
    for (const l of this.lines) if (l.entry !== null && this.nameOf(l.entry) === name) return l.entry;
    return undefined;
  }

  /** Mark an entry returned by find()/entries() as modified, so it is re-formatted. */
  touch(entry: E): void {
    const line = this.lines.find((l) => l.entry === entry);
    if (!line) throw new Error('internal error: entry not in table');
    line.changed = true;
    this.changed = true;
  }

  /** commonio_update: replace the entry of the same name in place, or insert before the first NIS line. */
  update(entry: E): void {
    const name = this.nameOf(entry);
    const existing = this.lines.find((l) => l.entry !== null && this.nameOf(l.entry) === name);
    if (existing) {
      existing.entry = entry;
      existing.changed = true;
    } else {
      const line: Line<E> = { raw: null, entry, changed: true };
      const nis = this.lines.findIndex((l) => isNisLine(l.raw));
      if (nis >= 0) this.lines.splice(nis, 0, line);
      else this.lines.push(line);
    }
    this.changed = true;
  }

  /** commonio_remove: drop the first entry of that name (its line goes from the file). */
  remove(name: string): void {
    const i = this.lines.findIndex((l) => l.entry !== null && this.nameOf(l.entry) === name);
    if (i < 0) return;
    this.lines.splice(i, 1);
    this.changed = true;
  }

  /** commonio_append: add at the very end. */
  append(entry: E): void {
    this.lines.push({ raw: null, entry, changed: true });
    this.changed = true;
  }

  /**
   * commonio_sort: sort the lines in front of the first NIS line with glibc's
   * qsort (a merge sort, see mergeSortGlibc); NIS lines and what follows stay.
   * Unparsed lines take part in the sort, as in shadow-utils.
   */
  sortLines(cmp: (a: E | null, b: E | null) => number): void {
    let n = this.lines.findIndex((l) => isNisLine(l.raw));
    if (n < 0) n = this.lines.length;
    if (n <= 1) return;
    const head = mergeSortGlibc(this.lines.slice(0, n), (a, b) => cmp(a.entry, b.entry));
    this.lines.splice(0, n, ...head);
    this.changed = true;
  }

  isChanged(): boolean {
    return this.changed;
  }

  /** The file's new text: the input itself when nothing changed. */
  serialize(): string {
    if (!this.changed) return this.original ?? '';
    return this.lines
      .map((l) => (l.changed || l.raw === null) && l.entry !== null ? this.format(l.entry) : l.raw ?? '')
      .map((s) => `${s}\n`)
      .join('');
  }
}

/**
 * glibc's qsort (msort_with_tmp): top-down merge sort splitting at n/2 and
 * taking from the left run while cmp(left, right) <= 0. Reproduced exactly
 * because shadow-utils' subuid comparator is not a consistent order for
 * unparsed lines (cmp(x, y) = 1 when both are unparsed), so their resulting
 * order depends on the algorithm.
 */
export function mergeSortGlibc<T>(items: T[], cmp: (a: T, b: T) => number): T[] {
  if (items.length <= 1) return items.slice();
  const n1 = Math.floor(items.length / 2);
  const left = mergeSortGlibc(items.slice(0, n1), cmp);
  const right = mergeSortGlibc(items.slice(n1), cmp);
  const out: T[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length && j < right.length) {
    const a = left[i] as T;
    const b = right[j] as T;
    if (cmp(a, b) <= 0) { out.push(a); i++; } else { out.push(b); j++; }
  }
  while (i < left.length) out.push(left[i++] as T);
  while (j < right.length) out.push(right[j++] as T);
  return out;
}

/** The entries of a passwd file that shadow-utils would read (unparsable lines and NIS markers skipped). */
export function parsePasswd(text: string): Array<{ name: string; uid: number; gid: number; gecos: string; home: string; shell: string }> {
  return new Table(text, parsePasswdLine, formatPasswd, (e) => e.name)
    .entries()
    .map(({ name, uid, gid, gecos, home, shell }) => ({ name, uid, gid, gecos, home, shell }));
}

/** The entries of a group file (unparsable lines and NIS markers skipped). */
export function parseGroup(text: string): Array<{ name: string; gid: number; members: string[] }> {
  return new Table(text, parseGroupLine, formatGroup, (e) => e.name)
    .entries()
    .map(({ name, gid, members }) => ({ name, gid, members: [...members] }));
}
