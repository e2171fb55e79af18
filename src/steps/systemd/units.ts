/**
 * Unit names, the [Install] section and install-time specifiers, as systemctl's
 * install logic (systemd 252, src/shared/install.c and unit-name.c) reads them. Pure
 * functions: the systemd step uses them to decide which links `systemctl enable`
 * would make without running it.
 */

const UNIT_TYPES: ReadonlySet<string> = new Set(['service', 'socket', 'target', 'device', 'mount', 'automount', 'swap', 'timer', 'path', 'slice', 'scope']);
/** unit_type_may_template() */
const TEMPLATE_TYPES: ReadonlySet<string> = new Set(['service', 'socket', 'target', 'timer', 'path']);
/** unit_type_may_alias() */
const ALIAS_TYPES: ReadonlySet<string> = new Set(['service', 'socket', 'target', 'device', 'timer', 'path']);
const NAME_CHARS = /^[a-zA-Z0-9:_.\\@-]*$/;
/** UNIT_NAME_MAX counts the terminating NUL. */
const UNIT_NAME_MAX = 256;

export type NameKind = 'plain' | 'template' | 'instance';

/** unit_name_is_valid(): the kind of a unit name, or undefined when systemd rejects it. */
export function unitNameKind(name: string): NameKind | undefined {
  if (name === '' || name.length >= UNIT_NAME_MAX) return undefined;
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || !UNIT_TYPES.has(name.slice(dot + 1))) return undefined;
  const stem = name.slice(0, dot);
  if (!NAME_CHARS.test(stem)) return undefined;
  const at = stem.indexOf('@');
  if (at === 0) return undefined;
  if (at < 0) return 'plain';
  return at === stem.length - 1 ? 'template' : 'instance';
}

export function unitType(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1);
}

export function mayTemplate(name: string): boolean {
  return TEMPLATE_TYPES.has(unitType(name));
}

export function mayAlias(name: string): boolean {
  return ALIAS_TYPES.has(unitType(name));
}

/** unit_name_template(): foo@bar.service -> foo@.service (a template stays itself); undefined for a plain name. */
export function templateOf(name: string): string | undefined {
  const kind = unitNameKind(name);
  if (kind !== 'instance' && kind !== 'template') return undefined;
  return `${name.slice(0, name.indexOf('@') + 1)}${name.slice(name.lastIndexOf('.'))}`;
}

/** unit_name_to_instance(): '' for a template, undefined for a plain name. */
export function instanceOf(name: string): string | undefined {
  const at = name.indexOf('@');
  if (at < 0) return undefined;
  return name.slice(at + 1, name.lastIndexOf('.'));
}

/** unit_name_replace_instance() on a template or instance name; undefined when the result is no valid name. */
export function replaceInstance(name: string, instance: string): string | undefined {
  const at = name.indexOf('@');
  if (at < 0) return undefined;
  const out = `${name.slice(0, at + 1)}${instance}${name.slice(name.lastIndexOf('.'))}`;
  return unitNameKind(out) === undefined ? undefined : out;
}

/** unit_name_to_prefix(): the part before "@" or before the suffix. */
export function prefixOf(name: string): string {
  const at = name.indexOf('@');
  return at >= 0 ? name.slice(0, at) : name.slice(0, name.lastIndexOf('.'));
}

/** unit_instance_is_valid() */
export function instanceIsValid(s: string): boolean {
  return s !== '' && NAME_CHARS.test(s);
}

// ---------------------------------------------------------------- parsing

export interface InstallAssignment {
  key: string;
  value: string;
  line: number;
}

export interface ParsedInstall {
  /** Assignments in the [Install] section, in file order. */
  assignments: InstallAssignment[];
  /** A syntax error that makes systemctl refuse the whole file. */
  error?: string;
  /** What systemctl logs and then ignores. */
  warnings: string[];
}

/**
 * The [Install] assignments of one unit file or drop-in, read as systemd's config_parse()
 * does: a line whose first non-blank character is # or ; is a comment even inside a
 * continuation; an odd backslash at the end of a line continues it (the backslash
 * becomes a space); keys and values are trimmed; section names and keys are case-sensitive.
 */
export function parseInstall(text: string): ParsedInstall {
  const assignments: InstallAssignment[] = [];
  const warnings: string[] = [];
  let section: string | undefined;
  let continuation: string | undefined;
  let startLine = 0;
  const lines = text.split(/\r\n|\r|\n|\0/);
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n] ?? '';
    const lead = raw.replace(/^[ \t\n\r]+/, '');
    if (lead !== '' && (lead[0] === '#' || lead[0] === ';')) continue;
    const p = continuation === undefined ? raw : continuation + raw;
    if (continuation === undefined) startLine = n + 1;
    if (endsEscaped(p)) {
      continuation = `${p.slice(0, -1)} `;
      continue;
    }
    continuation = undefined;
    const l = p.trim();
    if (l === '') continue;
    if (l.startsWith('[')) {
      if (!l.endsWith(']')) return { assignments, warnings, error: `line ${startLine}: invalid section header "${l}"` };
      section = l.slice(1, -1);
      continue;
    }
    if (section === undefined) {
      warnings.push(`line ${startLine}: assignment outside of any section, ignored`);
      continue;
    }
    if (section !== 'Install') continue;
    const eq = l.indexOf('=');
    if (eq < 0) {
      warnings.push(`line ${startLine}: missing "=", line ignored`);
      continue;
    }
    if (eq === 0) {
      warnings.push(`line ${startLine}: missing key before "=", line ignored`);
      continue;
    }
    assignments.push({ key: l.slice(0, eq).trim(), value: l.slice(eq + 1).trim(), line: startLine });
  }
  // A continuation at the end of the file is parsed as it stands, as systemd does.
  if (continuation !== undefined && section === 'Install') {
    const l = continuation.trim();
    const eq = l.indexOf('=');
    if (eq > 0) assignments.push({ key: l.slice(0, eq).trim(), value: l.slice(eq + 1).trim(), line: startLine });
  }
  return { assignments, warnings };
}

/** Whether a line ends in an unescaped backslash. */
function endsEscaped(s: string): boolean {
  let escaped = false;
  for (const c of s) escaped = escaped ? false : c === '\\';
  return escaped;
}

/**
 * extract_first_word() over a whole value: words split at blanks. With `unquote` (the
 * flags WantedBy= and friends use) '…' and "…" are removed and a backslash escape is
 * kept as written, so "foo\x2dbar.target" stays as it is; without (Also=) quotes are
 * ordinary characters and a backslash just makes the next character literal.
 * Undefined on an unterminated quote, which makes systemd ignore the whole line.
 */
export function splitWords(value: string, unquote: boolean): string[] | undefined {
  const words: string[] = [];
  let cur: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] ?? '';
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && i + 1 < value.length) {
        cur = (cur ?? '') + c + (value[i + 1] ?? '');
        i++;
      } else cur = (cur ?? '') + c;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (cur !== undefined) words.push(cur);
      cur = undefined;
    } else if (c === '\\' && i + 1 < value.length) {
      cur = (cur ?? '') + (unquote ? c : '') + (value[i + 1] ?? '');
      i++;
    } else if (unquote && (c === '"' || c === "'")) {
      quote = c;
      cur = cur ?? '';
    } else cur = (cur ?? '') + c;
  }
  if (quote !== undefined) return undefined;
  if (cur !== undefined) words.push(cur);
  return words;
}

// ---------------------------------------------------------------- specifiers

export interface SpecifierSource {
  /** The unit being installed (a template, an instance or a plain name). */
  name: string;
  defaultInstance: string | undefined;
  /** Fields of the target's os-release, for %o %w %W %B %A %M. */
  osRelease: ReadonlyMap<string, string>;
}

const OS_RELEASE_SPECIFIERS: Readonly<Record<string, string>> = { o: 'ID', w: 'VERSION_ID', W: 'VARIANT_ID', B: 'BUILD_ID', A: 'IMAGE_VERSION', M: 'IMAGE_ID' };

/**
 * install_name_printf(): the specifiers systemctl expands in [Install] values. Those
 * that describe a running machine (%H %l %m %b %v %a) have no value before first boot
 * and are refused, so a link is never made from the build host's identity.
 */
export function expandSpecifiers(format: string, src: SpecifierSource): { value: string } | { error: string } {
  let out = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c !== '%') {
      out += c;
      continue;
    }
    if (i + 1 >= format.length) {
      // systemd keeps a stray % at the end.
      out += '%';
      break;
    }
    const s = format[++i] ?? '';
    const v = specifier(s, src);
    if (v === undefined) {
      const offline = 'HlmbvaqT'.includes(s);
      return { error: offline ? `%${s} describes the running machine, which flint cannot know before first boot` : `invalid specifier %${s}` };
    }
    out += v;
  }
  return { value: out };
}

function specifier(s: string, src: SpecifierSource): string | undefined {
  const { name, defaultInstance } = src;
  switch (s) {
    case '%':
      return '%';
    case 'n':
      return unitNameKind(name) === 'template' && defaultInstance !== undefined ? (replaceInstance(name, defaultInstance) ?? name) : name;
    case 'N': {
      const stem = name.slice(0, name.lastIndexOf('.'));
      return stem.endsWith('@') && defaultInstance !== undefined ? stem + defaultInstance : stem;
    }
    case 'p':
      return prefixOf(name);
    case 'i': {
      const inst = instanceOf(name) ?? '';
      return inst === '' ? (defaultInstance ?? '') : inst;
    }
    case 'j': {
      const prefix = prefixOf(name);
      return prefix.slice(prefix.lastIndexOf('-') + 1);
    }
    case 'u':
    case 'g':
      return 'root';
    case 'U':
    case 'G':
      return '0';
  }
  const field = OS_RELEASE_SPECIFIERS[s];
  return field === undefined ? undefined : (src.osRelease.get(field) ?? '');
}

/** KEY=VALUE lines of an os-release file, quotes removed. */
export function parseOsRelease(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let v = (m[2] ?? '').trim();
    if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.endsWith(v[0])) v = v.slice(1, -1).replace(/\\(["'$`\\])/g, '$1');
    out.set(m[1] ?? '', v);
  }
  return out;
}

// ---------------------------------------------------------------- [Install] data

export interface InstallData {
  aliases: string[];
  wantedBy: string[];
  requiredBy: string[];
  upheldBy: string[];
  /** Also= names, specifiers already expanded (systemd expands them while parsing). */
  also: string[];
  defaultInstance: string | undefined;
}

export function emptyInstall(): InstallData {
  return { aliases: [], wantedBy: [], requiredBy: [], upheldBy: [], also: [], defaultInstance: undefined };
}

export interface InstallOptions {
  /** systemd before 254 does not know UpheldBy= and ignores it. */
  upheldBy: boolean;
  osRelease: ReadonlyMap<string, string>;
}

/**
 * Folds one file's [Install] assignments into `data`, with systemd's semantics: an
 * empty WantedBy=/RequiredBy=/UpheldBy=/Alias= clears the list built so far, an empty
 * DefaultInstance= unsets it, an empty Also= does nothing (Also= names are taken as
 * they are read). Returns an error text when systemctl would refuse the unit.
 */
export function applyInstall(data: InstallData, unitName: string, file: string, assignments: readonly InstallAssignment[], opts: InstallOptions, warn: (message: string) => void): string | undefined {
  for (const a of assignments) {
    const where = `${file}:${a.line}`;
    const list = (key: string): string[] | undefined => {
      switch (key) {
        case 'WantedBy': return data.wantedBy;
        case 'RequiredBy': return data.requiredBy;
        case 'UpheldBy': return opts.upheldBy ? data.upheldBy : undefined;
        case 'Alias': return data.aliases;
      }
      return undefined;
    };
    if (a.key === 'Alias' && !mayAlias(unitName)) {
      warn(`${where}: Alias= is not allowed for .${unitType(unitName)} units, ignored`);
      continue;
    }
    if (a.key === 'UpheldBy' && !opts.upheldBy) {
      warn(`${where}: UpheldBy= is ignored: the target's systemd is older than 254, whose systemctl does not know it`);
      continue;
    }
    const target = list(a.key);
    if (target !== undefined) {
      if (a.value === '') {
        target.length = 0;
        continue;
      }
      const words = splitWords(a.value, true);
      if (words === undefined) warn(`${where}: unterminated quote in ${a.key}=, line ignored`);
      else target.push(...words);
      continue;
    }
    if (a.key === 'Also') {
      for (const word of splitWords(a.value, false) ?? []) {
        const r = expandSpecifiers(word, { name: unitName, defaultInstance: data.defaultInstance, osRelease: opts.osRelease });
        if ('error' in r) {
          warn(`${where}: Also=${word}: ${r.error}; ignored`);
          continue;
        }
        if (unitNameKind(r.value) === undefined) return `${where}: Also= names "${r.value}", which is not a valid unit name`;
        data.also.push(r.value);
      }
      continue;
    }
    if (a.key === 'DefaultInstance') {
      // When an instance is enabled from its template's file, DefaultInstance= does not apply.
      const kind = unitNameKind(unitName);
      if (kind === 'instance') continue;
      if (kind !== 'template') {
        warn(`${where}: DefaultInstance= only applies to template units, ignored`);
        continue;
      }
      const r = expandSpecifiers(a.value, { name: unitName, defaultInstance: data.defaultInstance, osRelease: opts.osRelease });
      if ('error' in r) {
        warn(`${where}: DefaultInstance=${a.value}: ${r.error}; ignored`);
        continue;
      }
      if (r.value === '') data.defaultInstance = undefined;
      else if (!instanceIsValid(r.value)) warn(`${where}: invalid DefaultInstance= value "${r.value}", ignored`);
      else data.defaultInstance = r.value;
      continue;
    }
    warn(`${where}: unknown key ${a.key}= in [Install], ignored`);
  }
  return undefined;
}

// ---------------------------------------------------------------- alias checks

/**
 * unit_validate_alias_symlink_or_warn(): whether `alias` may be a symlink to the unit
 * `unit`. 'self' for an alias to itself, which systemd quietly skips.
 */
export function checkAlias(alias: string, unit: string): 'ok' | 'self' | string {
  const srcKind = unitNameKind(alias);
  if (srcKind === undefined) return `"${alias}" is not a valid unit name`;
  if (!mayAlias(alias)) return `.${unitType(alias)} units cannot have aliases`;
  if (srcKind !== 'plain' && !mayTemplate(alias)) return `.${unitType(alias)} units cannot be templates`;
  if (alias === unit) return 'self';
  const dstKind = unitNameKind(unit);
  if (dstKind === undefined) return `"${unit}" is not a valid unit name`;
  if (!(dstKind === srcKind || (srcKind === 'instance' && dstKind === 'template'))) return `${alias} and ${unit} are not both plain, template or instance names`;
  if (dstKind === 'instance' && instanceOf(alias) !== instanceOf(unit)) return `${alias} and ${unit} have different instances`;
  if (unitType(alias) !== unitType(unit)) return `${alias} and ${unit} are different unit types`;
  return 'ok';
}

/** unit_symlink_name_compatible() as systemd 252 has it, for the legacy Alias=X.wants/NAME form. */
export function symlinkNameCompatible(symlink: string, target: string, instancePropagation: boolean): boolean {
  const k1 = unitNameKind(symlink);
  if (symlink === target && (k1 === 'plain' || k1 === 'instance')) return true;
  const template = templateOf(symlink);
  if (template === undefined) return false;
  const k2 = unitNameKind(target);
  if (k1 === 'instance' && k2 === 'template' && template === target) return true;
  return instancePropagation && k1 === 'template' && k2 === 'template' && template === target;
}
