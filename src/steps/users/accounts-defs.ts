/**
 * The settings useradd/groupadd read: /etc/login.defs and /etc/default/useradd,
 * parsed as shadow-utils 4.13 (Debian 12) parses them. Pure.
 */
import { parseCLong, parseCUnsigned } from './accounts-files.js';

export interface LoginDefs {
  UID_MIN: number; UID_MAX: number; SYS_UID_MIN: number; SYS_UID_MAX: number;
  GID_MIN: number; GID_MAX: number; SYS_GID_MIN: number; SYS_GID_MAX: number;
  SUB_UID_MIN: number; SUB_UID_MAX: number; SUB_UID_COUNT: number;
  SUB_GID_MIN: number; SUB_GID_MAX: number; SUB_GID_COUNT: number;
  HOME_MODE: number; UMASK: number; USERGROUPS_ENAB: boolean; CREATE_HOME?: boolean;
}

/** LoginDefs plus the password-ageing values useradd copies into new shadow entries (-1 = unset). */
export interface FullLoginDefs extends LoginDefs {
  PASS_MIN_DAYS: number; PASS_MAX_DAYS: number; PASS_WARN_AGE: number;
}

/**
 * def_load(): per line, trailing white space is cut; blank lines and "#"
 * comments are skipped; the name ends at the first blank or tab; the value
 * starts after any blanks, tabs and double quotes and ends before the next
 * double quote. A later line for the same name wins.
 */
function loadDefs(text: string | undefined): Map<string, string> {
  const defs = new Map<string, string>();
  if (text === undefined) return defs;
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/[ \t\n\v\f\r]+$/, '');
    const name = line.replace(/^[ \t]+/, '');
    if (name === '' || name.startsWith('#')) continue;
    const end = name.search(/[ \t]/);
    if (end < 0) continue; // a name without a value is ignored
    const key = name.slice(0, end);
    let value = name.slice(end + 1).replace(/^[ \t"]+/, '');
    const quote = value.indexOf('"');
    if (quote >= 0) value = value.slice(0, quote);
    defs.set(key, value);
  }
  return defs;
}

/** getdef_ulong(): strtoul base 0 over the whole value; unparsable -> the default. */
function getULong(defs: Map<string, string>, key: string, dflt: number): number {
  const text = defs.get(key);
  if (text === undefined) return dflt;
  // Deviation: strtoul would wrap a negative value to a huge one; it is treated as unparsable.
  return parseCUnsigned(text) ?? dflt;
}

/** getdef_num(): strtol base 0, must fit in an int; unparsable -> the default. */
function getNum(defs: Map<string, string>, key: string, dflt: number): number {
  const text = defs.get(key);
  if (text === undefined) return dflt;
  const value = parseCLong(text);
  if (value === undefined || value > 2147483647 || value < -2147483648) return dflt;
  return value;
}

/** getdef_bool(): "yes" in any case is true, anything else false; undefined when absent. */
function getBool(defs: Map<string, string>, key: string): boolean | undefined {
  const text = defs.get(key);
  return text === undefined ? undefined : text.toLowerCase() === 'yes';
}

export function parseFullLoginDefs(text: string | undefined): FullLoginDefs {
  const defs = loadDefs(text);
  const UID_MIN = getULong(defs, 'UID_MIN', 1000);
  const GID_MIN = getULong(defs, 'GID_MIN', 1000);
  const UMASK = getNum(defs, 'UMASK', 0o022);
  const CREATE_HOME = getBool(defs, 'CREATE_HOME');
  return {
    UID_MIN,
    UID_MAX: getULong(defs, 'UID_MAX', 60000),
    SYS_UID_MIN: getULong(defs, 'SYS_UID_MIN', 101),
    SYS_UID_MAX: getULong(defs, 'SYS_UID_MAX', UID_MIN - 1),
    GID_MIN,
    GID_MAX: getULong(defs, 'GID_MAX', 60000),
    SYS_GID_MIN: getULong(defs, 'SYS_GID_MIN', 101),
    SYS_GID_MAX: getULong(defs, 'SYS_GID_MAX', GID_MIN - 1),
    SUB_UID_MIN: getULong(defs, 'SUB_UID_MIN', 100000),
    SUB_UID_MAX: getULong(defs, 'SUB_UID_MAX', 600100000),
    SUB_UID_COUNT: getULong(defs, 'SUB_UID_COUNT', 65536),
    SUB_GID_MIN: getULong(defs, 'SUB_GID_MIN', 100000),
    SUB_GID_MAX: getULong(defs, 'SUB_GID_MAX', 600100000),
    SUB_GID_COUNT: getULong(defs, 'SUB_GID_COUNT', 65536),
    // create_home(): HOME_MODE, else 0777 & ~UMASK (Debian 12: no HOME_MODE, UMASK 022 -> 0755).
    HOME_MODE: getNum(defs, 'HOME_MODE', 0o777 & ~UMASK),
    UMASK,
    // Deviation, on purpose: shadow-utils treats a missing USERGROUPS_ENAB (or a
    // missing login.defs) as "no" and then gives new users the GROUP= group of
    // /etc/default/useradd (100). flint's config promises "a new group named
    // after the user" by default, and every distribution that ships login.defs
    // sets it to yes, so absent means yes here. An explicit "no" is honoured.
    USERGROUPS_ENAB: getBool(defs, 'USERGROUPS_ENAB') ?? true,
    ...(CREATE_HOME === undefined ? {} : { CREATE_HOME }),
    PASS_MIN_DAYS: getNum(defs, 'PASS_MIN_DAYS', -1),
    PASS_MAX_DAYS: getNum(defs, 'PASS_MAX_DAYS', -1),
    PASS_WARN_AGE: getNum(defs, 'PASS_WARN_AGE', -1),
  };
}

export function parseLoginDefs(text: string | undefined): LoginDefs {
  const {
    PASS_MIN_DAYS: _min, PASS_MAX_DAYS: _max, PASS_WARN_AGE: _warn, ...defs
  } = parseFullLoginDefs(text);
  return defs;
}

/** What useradd takes from /etc/default/useradd (get_defaults()). */
export interface UseraddDefaults {
  /** GROUP=, a group name or gid; only used when USERGROUPS_ENAB is no. */
  group?: string;
  /** HOME=, the base directory of new homes. */
  home: string;
  /** SHELL=. */
  shell: string;
  /** INACTIVE=, days; -1 = unset (also when the value is not a number, as get_defaults() does). */
  inactive: number;
  /** EXPIRE=, as written (a date). */
  expire: string;
}

/**
 * get_defaults(): each line is split at its first "="; the part before must be
 * exactly the key (no trimming), the rest is the value as is. A later line wins.
 *
 * Defaults when a key (or the whole file) is missing: HOME=/home, INACTIVE=-1,
 * EXPIRE= empty, GROUP=100. SHELL: Debian 12's useradd falls back to /bin/bash
 * when SHELL= is missing (verified with `useradd -D --prefix` on an empty
 * tree); flint deliberately uses /bin/sh, the shell every target has and the
 * one Debian's own /etc/default/useradd names, as the config reference says.
 */
export function parseUseraddDefaults(text: string | undefined): UseraddDefaults {
  const out: UseraddDefaults = { home: '/home', shell: '/bin/sh', inactive: -1, expire: '' };
  if (text === undefined) return out;
  for (const rawLine of text.split('\n')) {
    const eq = rawLine.indexOf('=');
    if (eq < 0) continue;
    const key = rawLine.slice(0, eq);
    const value = rawLine.slice(eq + 1);
    switch (key) {
      case 'GROUP': out.group = value; break;
      case 'HOME': out.home = value; break;
      case 'SHELL': out.shell = value; break;
      case 'INACTIVE': out.inactive = parseCLong(value) ?? -1; break;
      case 'EXPIRE': out.expire = value; break;
      default: break;
    }
  }
  return out;
}

/**
 * strtoday() for EXPIRE=: empty -> -1 (never); a plain (optionally negative)
 * number is already a day count; a YYYY-MM-DD date -> days since 1970-01-01.
 * Other date spellings that get_date() would accept are not supported and
 * give undefined (the caller reports it).
 */
export function expireToDays(text: string): number | undefined {
  if (text === '') return -1;
  if (/^-?[0-9]+$/.test(text)) return parseCLong(text); // getlong(): base 0, so 010 is octal
  const m = /^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$/.exec(text);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  const d = new Date(ms);
  if (d.getUTCMonth() !== Number(m[2]) - 1 || d.getUTCDate() !== Number(m[3])) return undefined;
  return Math.round(ms / 86400000);
}
