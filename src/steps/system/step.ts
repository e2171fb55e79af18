/**
 * The system step: hostname (and etc_hosts), timezone, locale and keymap, written as the target's own
 * tools would write them, byte for byte where systemd-firstboot writes the same file
 * (checked against `systemd-firstboot --root=` on Debian 12 in the integration tests).
 *
 * Decisions:
 * - hostname: /etc/hostname is "NAME\n", the name as given (an FQDN stays an FQDN, as
 *   hostnamectl does). /etc/hosts: the names on an existing 127.0.1.1 line are replaced
 *   ("FQDN SHORT" for an FQDN); a Debian-family target (/etc/debian_version) without
 *   such a line gets one after the 127.0.0.1 line, as the Debian installer and
 *   Raspberry Pi OS write it, so `sudo` and other resolvers of the own name work without
 *   nss-myhostname. Other targets resolve their name through nss-myhostname and their
 *   /etc/hosts is left alone.
 * - etc_hosts: after the host name, in the same edit of /etc/hosts, each entry's names
 *   go on the first line for its address, or on a new line at the end.
 * - timezone: /etc/localtime -> ../usr/share/zoneinfo/NAME (relative, as
 *   systemd-firstboot and timedatectl make it); the zone must exist in the target.
 *   /etc/timezone ("NAME\n", Debian's older record) is updated only where it exists.
 * - locale: LANG=NAME in the file the target's systemd reads. Debian patches systemd
 *   (firstboot, localed, PID 1) to use /etc/default/locale, which pam_env reads too;
 *   other distributions use /etc/locale.conf. So Debian-family targets get
 *   /etc/default/locale, others /etc/locale.conf, and the other file is updated as
 *   well when it exists, so the two never disagree. Other keys in the file are kept.
 *   A locale the target has not compiled is a warning (it may be generated later).
 * - keymap: KEYMAP=NAME in /etc/vconsole.conf, other keys kept. Where the target has
 *   /etc/default/keyboard (Debian's console-setup, which would otherwise set its own
 *   layout at boot), its XKB* keys are set from systemd's kbd-model-map, as
 *   `localectl set-keymap` converts; a keymap that map does not know leaves that file
 *   unchanged, with a warning.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { Action } from '../../engine/actions.js';
import type { Problem, Step, StepContext, StepOutput } from '../../engine/step.js';
import type { TargetRoot } from '../../target/root.js';
import { editedFile, setAssignments } from '../files/conffile.js';

const STEP = 'system';

export const systemStep: Step = {
  name: STEP,
  sections: ['hostname', 'timezone', 'locale', 'keymap', 'etc_hosts'],
  plan(ctx: StepContext): StepOutput {
    const { root, config } = ctx;
    const actions: Action[] = [];
    const problems: Problem[] = [];
    const warnings: string[] = [];
    if (config.hostname !== undefined) actions.push(editedFile(root, '/etc/hostname', `${config.hostname}\n`, STEP, 'host name'));
    const hosts = hostsAction(root, config.hostname, config.etc_hosts ?? []);
    if (hosts !== undefined) actions.push(hosts);
    if (config.timezone !== undefined) {
      const tz = timezoneActions(root, config.timezone);
      if ('problem' in tz) problems.push(tz.problem);
      else actions.push(...tz.actions);
    }
    if (config.locale !== undefined) {
      actions.push(...localeActions(root, config.locale));
      if (!localeInstalled(root, config.locale)) {
        warnings.push(`locale ${config.locale} is not compiled in the target (not in /usr/lib/locale); programs fall back to the C locale until it is generated (locale-gen)`);
      }
    }
    if (config.keymap !== undefined) {
      const k = keymapActions(root, config.keymap);
      actions.push(...k.actions);
      warnings.push(...k.warnings);
    }
    return { actions, problems, warnings };
  },
};

function isDebianFamily(root: TargetRoot): boolean {
  return root.entry('/etc/debian_version').type === 'file';
}

/** /etc/hosts with the own name (hostname) and then the etc_hosts entries, or undefined when it stays as it is. */
function hostsAction(root: TargetRoot, hostname: string | undefined, entries: ReadonlyArray<{ address: string; names: string[] }>): Action | undefined {
  const before = root.readText('/etc/hosts');
  let text = before;
  if (hostname !== undefined) text = editHosts(text, hostname, isDebianFamily(root)) ?? text;
  if (entries.length > 0) text = setHostsEntries(text ?? '', entries);
  if (text === undefined || text === before) return undefined;
  const why = entries.length > 0 ? (hostname !== undefined ? 'own host name on 127.0.1.1 and etc_hosts entries' : 'etc_hosts entries') : 'own host name on 127.0.1.1';
  return editedFile(root, '/etc/hosts', text, STEP, why);
}

/**
 * /etc/hosts with each entry's names on its address: the first line for the address
 * gets them (its spacing and comment kept); an address without a line gets a new one
 * at the end. Later lines for the same address are left alone (the resolver takes the
 * first match for a name, so the entry's names win wherever they appear first).
 */
export function setHostsEntries(text: string, entries: ReadonlyArray<{ address: string; names: readonly string[] }>): string {
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  for (const e of entries) {
    const i = lines.findIndex((l) => l.trim().split(/\s+/)[0] === e.address && !l.trim().startsWith('#'));
    if (i >= 0) {
      const m = /^(\s*\S+\s+)([^#]*?)(\s*#.*)?$/.exec(lines[i]!);
      lines[i] = m !== null ? `${m[1]}${e.names.join(' ')}${m[3] ?? ''}` : `${e.address}\t${e.names.join(' ')}`;
    } else lines.push(`${e.address}\t${e.names.join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * /etc/hosts with `name` on the 127.0.1.1 line: the first such line gets the new names
 * (its spacing and any comment kept), or, when `addLine`, a new line goes after the last
 * 127.0.0.1 line. Undefined when nothing is to be done.
 */
export function editHosts(text: string | undefined, name: string, addLine: boolean): string | undefined {
  const short = name.split('.')[0]!;
  const names = short !== name ? `${name} ${short}` : name;
  const lines = (text ?? '').split('\n');
  const i = lines.findIndex((l) => /^\s*127\.0\.1\.1\s/.test(l));
  if (i >= 0) {
    const m = /^(\s*127\.0\.1\.1\s+)([^#]*?)(\s*#.*)?$/.exec(lines[i]!)!;
    lines[i] = `${m[1]}${names}${m[3] ?? ''}`;
    return lines.join('\n');
  }
  if (!addLine) return undefined;
  if (text === undefined || text === '') return `127.0.0.1\tlocalhost\n127.0.1.1\t${names}\n`;
  let after = -1;
  lines.forEach((l, j) => {
    if (/^\s*127\.0\.0\.1\s/.test(l)) after = j;
  });
  const line = `127.0.1.1\t${names}`;
  if (after < 0) return `${text}${text.endsWith('\n') ? '' : '\n'}${line}\n`;
  lines.splice(after + 1, 0, line);
  return lines.join('\n');
}

export function timezoneActions(root: TargetRoot, zone: string): { actions: Action[] } | { problem: Problem } {
  const file = `/usr/share/zoneinfo/${zone}`;
  // readFile follows links inside the root and is undefined for folders (Europe) and missing names.
  const data = zone.split('/').includes('..') ? undefined : root.readFile(file);
  if (data === undefined || data.subarray(0, 4).toString('latin1') !== 'TZif') {
    return { problem: { path: ['timezone'], message: `the time zone ${zone} does not exist in the target (no ${file})`, hint: 'install tzdata in the image, or choose a zone from its /usr/share/zoneinfo' } };
  }
  const actions: Action[] = [{ kind: 'symlink', path: '/etc/localtime', target: `../usr/share/zoneinfo/${zone}`, uid: 0, gid: 0, step: STEP, why: 'time zone' }];
  if (root.entry('/etc/timezone').type === 'file') actions.push(editedFile(root, '/etc/timezone', `${zone}\n`, STEP, 'time zone (Debian)'));
  return { actions };
}

export function localeActions(root: TargetRoot, locale: string): Action[] {
  const primary = isDebianFamily(root) ? '/etc/default/locale' : '/etc/locale.conf';
  const paths = ['/etc/default/locale', '/etc/locale.conf'].filter((p) => p === primary || root.entry(p).type === 'file');
  return paths.map((p) => editedFile(root, p, setAssignments(root.readText(p), [['LANG', locale]]), STEP, 'system locale'));
}

/**
 * Whether glibc in the target can load `locale`: C and POSIX always; otherwise a
 * compiled folder in /usr/lib/locale or the name in its locale-archive. glibc looks
 * names up with the codeset normalised (UTF-8 -> utf8), so both spellings are tried.
 */
export function localeInstalled(root: TargetRoot, locale: string): boolean {
  if (/^(C|POSIX)$/.test(locale)) return true;
  const names = new Set([locale, normaliseCodeset(locale)]);
  if (/^C\./.test(locale)) names.add('C.utf8');
  for (const n of names) if (root.entry(`/usr/lib/locale/${n}`).type === 'dir') return true;
  const archive = localeArchiveNames(root);
  return [...names].some((n) => archive.has(n));
}

function normaliseCodeset(locale: string): string {
  return locale.replace(/\.([^@]+)/, (_m, cs: string) => `.${/^\d+$/.test(cs.replace(/[^A-Za-z0-9]/g, '')) ? 'iso' : ''}${cs.replace(/[^A-Za-z0-9]/g, '').toLowerCase()}`);
}

/**
 * Locale names in the target's /usr/lib/locale/locale-archive. Only its header and
 * string table are read: with every locale compiled the archive is hundreds of MiB.
 */
function localeArchiveNames(root: TargetRoot): Set<string> {
  const out = new Set<string>();
  if (root.entry('/usr/lib/locale/locale-archive').type === 'missing') return out;
  let fd: number | undefined;
  try {
    fd = openSync(root.resolve('/usr/lib/locale/locale-archive', true), 'r');
    const head = Buffer.alloc(32);
    if (readSync(fd, head, 0, 32, 0) !== 32) return out;
    // struct locarhead: magic, serial, namehash_{offset,used,size}, string_{offset,used,size}.
    const le = head.readUInt32LE(0) === 0xde020109;
    if (!le && head.readUInt32BE(0) !== 0xde020109) return out;
    const u32 = (o: number) => (le ? head.readUInt32LE(o) : head.readUInt32BE(o));
    const offset = u32(20);
    const used = Math.min(u32(24), 1 << 20);
    const strings = Buffer.alloc(used);
    readSync(fd, strings, 0, used, offset);
    for (const s of strings.toString('latin1').split('\0')) if (s !== '') out.add(s);
  } catch {
    // An unreadable archive: the locale counts as missing, which is only a warning.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return out;
}

export function keymapActions(root: TargetRoot, keymap: string): { actions: Action[]; warnings: string[] } {
  const actions = [editedFile(root, '/etc/vconsole.conf', setAssignments(root.readText('/etc/vconsole.conf'), [['KEYMAP', keymap]]), STEP, 'console keymap')];
  const warnings: string[] = [];
  const keyboard = root.readText('/etc/default/keyboard');
  if (keyboard !== undefined) {
    const x11 = x11Layout(root.readText('/usr/share/systemd/kbd-model-map'), keymap);
    if (x11 === undefined) warnings.push(`keymap ${keymap} has no X11 equivalent in the target's /usr/share/systemd/kbd-model-map; /etc/default/keyboard (console-setup) is left as it is and may set another layout at boot`);
    else {
      const text = setAssignments(keyboard, [['XKBMODEL', x11.model], ['XKBLAYOUT', x11.layout], ['XKBVARIANT', x11.variant], ['XKBOPTIONS', x11.options]], true);
      if (text !== keyboard) actions.push(editedFile(root, '/etc/default/keyboard', text, STEP, 'keyboard layout (console-setup)'));
    }
  }
  return { actions, warnings };
}

/** The X11 layout systemd's kbd-model-map gives for a console keymap ("-" is empty). */
export function x11Layout(map: string | undefined, keymap: string): { layout: string; model: string; variant: string; options: string } | undefined {
  for (const line of (map ?? '').split('\n')) {
    if (line.startsWith('#')) continue;
    const f = line.trim().split(/\s+/);
    if (f[0] !== keymap || f.length < 5) continue;
    const v = (s: string | undefined) => (s === undefined || s === '-' ? '' : s);
    return { layout: v(f[1]), model: v(f[2]), variant: v(f[3]), options: v(f[4]) };
  }
  return undefined;
}
