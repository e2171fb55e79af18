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
  /*
   * Indexes, so that a fleet of users costs no scan of the whole file per lookup: the
   * entries in file order, the first line of each name, the line of each entry. Each
   * is built when first needed and dropped by a change it cannot follow cheaply.
   */
  private entryList: E[] | undefined;
  private byName: Map<string, Line<E>> | undefined;
  private lineOf: Map<E, Line<E>> | undefined;
  private nisAt: number | undefined;
  /** Number columns of the entries (ids), by the function that reads them; a push extends them. */
  private readonly columns = new Map<(e: E) => number, number[]>();
  /** The comparator the lines are known to be in order by (see sortLines). */
  private sortedBy: ((a: E | null, b: E | null) => number) | undefined;

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

  /** All parsed entries, in file order (including any after NIS lines). Read only: the table's own list. */
  entries(): readonly E[] {
    if (this.entryList === undefined) {
      this.entryList = [];
      for (const l of this.lines) if (l.entry !== null) this.entryList.push(l.entry);
    }
    return this.entryList;
  }

  /** fn of every entry, in file order (as entries().map(fn), without a new array per call). */
  column(fn: (e: E) => number): readonly number[] {
    const list = this.entries();
    let c = this.columns.get(fn);
    if (c === undefined) this.columns.set(fn, (c = list.map(fn)));
    else for (let i = c.length; i < list.length; i++) c.push(fn(list[i]!));
    return c;
  }

  private names(): Map<string, Line<E>> {
    if (this.byName === undefined) {
      this.byName = new Map();
      for (const l of this.lines) if (l.entry !== null && !this.byName.has(this.nameOf(l.entry))) this.byName.set(this.nameOf(l.entry), l);
    }
    return this.byName;
  }

  /** Index of the first NIS line, or -1. */
  private firstNis(): number {
    this.nisAt ??= this.lines.findIndex((l) => isNisLine(l.raw));
    return this.nisAt;
  }

  /** Drop the indexes that follow line order (after a removal, an insertion or a sort). */
  /** Counts every change other than a push at the end (what resumable scans must know). */
  generation = 0;

  private reordered(): void {
    this.generation++;
    this.entryList = undefined;
    this.byName = undefined;
    this.nisAt = undefined;
    this.columns.clear();
    this.sortedBy = undefined;
  }

  /** A line added at the end: the indexes follow it. */
  private pushed(line: Line<E>): void {
    const last = this.lines[this.lines.length - 1];
    if (this.sortedBy !== undefined && last !== undefined && this.sortedBy(last.entry, line.entry) > 0) this.sortedBy = undefined;
    this.lines.push(line);
    const e = line.entry!;
    this.entryList?.push(e);
    if (this.byName !== undefined && !this.byName.has(this.nameOf(e))) this.byName.set(this.nameOf(e), line);
    this.lineOf?.set(e, line);
  }

  /** The first entry of that name, as getpwnam/getgrnam on a files database. */
  find(name: string): E | undefined {
    return this.names().get(name)?.entry ?? undefined;
  }

  /** Mark an entry returned by find()/entries() as modified, so it is re-formatted. */
  touch(entry: E): void {
    if (this.lineOf === undefined) {
      this.lineOf = new Map();
      for (const l of this.lines) if (l.entry !== null) this.lineOf.set(l.entry, l);
    }
    const line = this.lineOf.get(entry);
    if (!line || line.entry !== entry) throw new Error('internal error: entry not in table');
    // The caller changed the entry: what was derived from its fields is stale.
    this.generation++;
    this.columns.clear();
    this.sortedBy = undefined;
    line.changed = true;
    this.changed = true;
  }

  /** commonio_update: replace the entry of the same name in place, or insert before the first NIS line. */
  update(entry: E): void {
    const name = this.nameOf(entry);
    const existing = this.names().get(name);
    if (existing) {
      existing.entry = entry;
      existing.changed = true;
      this.generation++;
      this.entryList = undefined;
      this.columns.clear();
      this.sortedBy = undefined;
      this.lineOf?.set(entry, existing);
    } else {
      const line: Line<E> = { raw: null, entry, changed: true };
      const nis = this.firstNis();
      if (nis >= 0) {
        this.lines.splice(nis, 0, line);
        this.reordered();
        this.lineOf?.set(entry, line);
      } else this.pushed(line);
    }
    this.changed = true;
  }

  /** commonio_remove: drop the first entry of that name (its line goes from the file). */
  remove(name: string): void {
    const line = this.names().get(name);
    if (line === undefined) return;
    this.lines.splice(this.lines.indexOf(line), 1);
    if (line.entry !== null) this.lineOf?.delete(line.entry);
    this.reordered();
    this.changed = true;
  }

  /** commonio_append: add at the very end. */
  append(entry: E): void {
    this.pushed({ raw: null, entry, changed: true });
    this.changed = true;
  }

  /**
   * commonio_sort: sort the lines in front of the first NIS line with glibc's
   * qsort (a merge sort, see mergeSortGlibc); NIS lines and what follows stay.
   * Unparsed lines take part in the sort, as in shadow-utils.
   */
  sortLines(cmp: (a: E | null, b: E | null) => number): void {
    let n = this.firstNis();
    if (n < 0) n = this.lines.length;
    if (n <= 1) return;
    this.changed = true;
    // Lines already in order (every neighbour pair cmp <= 0) come out of the merge sort
    // as they went in: it takes from the left run while cmp <= 0. useradd sorts before
    // every new user, and each new range sorts last, so this is the usual case.
    // Known to be in order: sorted (or checked) before, and only pushes that keep the
    // order since (NIS lines: none, or firstNis would not be the end).
    if (this.sortedBy === cmp && n === this.lines.length) return;
    let sorted = true;
    for (let i = 1; i < n && sorted; i++) sorted = cmp(this.lines[i - 1]!.entry, this.lines[i]!.entry) <= 0;
    if (!sorted) {
      const head = mergeSortGlibc(this.lines.slice(0, n), (a, b) => cmp(a.entry, b.entry));
      this.lines.splice(0, n, ...head);
      this.reordered();
    }
    if (n === this.lines.length) this.sortedBy = cmp;
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
