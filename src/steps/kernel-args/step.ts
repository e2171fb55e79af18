/**
 * The kernel arguments step: `kernel_arguments.add` and `.remove` applied to every boot
 * configuration the target has:
 * - GRUB: GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub and /etc/default/grub.d/*.cfg
 *   (grub-mkconfig sources them in that order). Removals apply to every assignment of
 *   GRUB_CMDLINE_LINUX_DEFAULT and GRUB_CMDLINE_LINUX; additions go to the last
 *   assignment of GRUB_CMDLINE_LINUX_DEFAULT (the one that wins), or a new line at the
 *   end of /etc/default/grub. The quoting of each line is kept; every other line too.
 *   grub.cfg is not regenerated here: a warning says so.
 * - /etc/kernel/cmdline (kernel-install, UKIs).
 * - Boot Loader Specification entries in /boot/loader/entries, /efi/loader/entries and
 *   /boot/efi/loader/entries: their `options` lines.
 * - Raspberry Pi: cmdline.txt in /boot/firmware, or in /boot when /boot/firmware has
 *   none (Raspberry Pi OS before Bookworm); only its first line counts.
 * When the target has none of these, a warning says the arguments were not applied.
 *
 * Matching is by exact token, as the schema says: `add` appends an argument that is not
 * there yet, exactly as written; `console=ttyS0` is added next to an existing
 * `console=tty0` (the kernel uses every console= it is given). For keys given twice
 * the kernel and systemd use the last one, so an added `loglevel=7` after `loglevel=3`
 * wins; to drop the old one, also remove `loglevel=3`. `remove` drops tokens equal to
 * one of its items: `quiet` removes `quiet`, not `quiet=1`; `console` does not remove
 * `console=tty0`. Removals happen before additions.
 */
import type { Action } from '../../engine/actions.js';
import type { Problem, Step, StepContext, StepOutput } from '../../engine/step.js';
import { editedFile } from '../files/conffile.js';
import { piKernelArguments } from '../raspberry-pi/step.js';

const STEP = 'kernel-args';
const GRUB_VARS = new Set(['GRUB_CMDLINE_LINUX', 'GRUB_CMDLINE_LINUX_DEFAULT']);
const BLS_DIRS = ['/boot/loader/entries', '/efi/loader/entries', '/boot/efi/loader/entries'];

export const kernelArgsStep: Step = {
  name: STEP,
  sections: ['kernel_arguments'],
  plan(ctx: StepContext): StepOutput {
    const ka = ctx.config.kernel_arguments;
    const add = ka?.add ?? [];
    const remove = ka?.remove ?? [];
    const pi = piKernelArguments(ctx.config);
    if (add.length === 0 && remove.length === 0) return pi.add.length + pi.remove.length === 0 ? { actions: [], problems: [], warnings: [] } : piOnly(ctx, pi);
    const { root } = ctx;
    const actions: Action[] = [];
    const problems: Problem[] = [];
    const warnings: string[] = [];
    let found = false;
    const write = (path: string, before: string, after: string, why: string) => {
      if (after !== before) actions.push(editedFile(root, path, after, STEP, why));
    };

    const grubFiles = ['/etc/default/grub', ...root.list('/etc/default/grub.d').filter((n) => n.endsWith('.cfg')).map((n) => `/etc/default/grub.d/${n}`)];
    const grubTexts = grubFiles.map((p) => root.readText(p));
    if (grubTexts[0] !== undefined) {
      found = true;
      const files = grubFiles.filter((_p, i) => grubTexts[i] !== undefined);
      const texts = grubTexts.filter((t): t is string => t !== undefined);
      const edited = editGrub(texts, add, remove);
      if ('problem' in edited) problems.push({ path: ['kernel_arguments'], message: `${files[edited.file]}: ${edited.problem}`, hint: 'write the line as NAME="ARGS" on one line, or change the arguments with a script' });
      else {
        files.forEach((p, i) => write(p, texts[i]!, edited.texts[i]!, 'kernel arguments (GRUB)'));
        if (edited.texts.some((t, i) => t !== texts[i])) {
          warnings.push('kernel_arguments: /etc/default/grub changed; GRUB boots from grub.cfg, which only update-grub (grub-mkconfig) regenerates from it: run it in the target (e.g. in a post script) for the arguments to apply at the next boot');
        }
      }
    }

    const kcmd = root.readText('/etc/kernel/cmdline');
    if (kcmd !== undefined) {
      found = true;
      write('/etc/kernel/cmdline', kcmd, editCmdline(kcmd, add, remove), 'kernel arguments (kernel-install)');
    }

    for (const dir of BLS_DIRS) {
      for (const name of root.list(dir).filter((n) => n.endsWith('.conf'))) {
        const path = `${dir}/${name}`;
        if (root.entry(path).type !== 'file') continue;
        const text = root.readText(path) ?? '';
        found = true;
        write(path, text, editBlsEntry(text, add, remove), 'kernel arguments (boot loader entry)');
      }
    }

    const rpi = PI_CMDLINES.find((p) => root.entry(p).type === 'file');
    if (rpi !== undefined) {
      found = true;
      const text = root.readText(rpi) ?? '';
      write(rpi, text, editPiCmdline(text, [...add, ...pi.add], [...remove, ...pi.remove]), 'kernel arguments (Raspberry Pi)');
    }

    if (!found) {
      warnings.push('kernel_arguments were not applied: the target has no /etc/default/grub, /etc/kernel/cmdline, boot loader entries (/boot/loader/entries) or Raspberry Pi cmdline.txt');
    }
    return { actions, problems, warnings };
  },
};

const PI_CMDLINES = ['/boot/firmware/cmdline.txt', '/boot/cmdline.txt'];

/** Only raspberry_pi.serial_console asks for arguments: they go to cmdline.txt alone. */
function piOnly(ctx: StepContext, pi: { add: string[]; remove: string[] }): StepOutput {
  const rpi = PI_CMDLINES.find((p) => ctx.root.entry(p).type === 'file');
  if (rpi === undefined) return { actions: [], problems: [], warnings: ['raspberry_pi.serial_console was not applied: the target has no cmdline.txt in /boot/firmware or /boot'] };
  const text = ctx.root.readText(rpi) ?? '';
  const after = editPiCmdline(text, pi.add, pi.remove);
  return { actions: after === text ? [] : [editedFile(ctx.root, rpi, after, STEP, 'serial console (Raspberry Pi)')], problems: [], warnings: [] };
}

/** cmdline.txt: the firmware reads only its first line; the rest is kept as it is. */
function editPiCmdline(text: string, add: readonly string[], remove: readonly string[]): string {
  const nl = text.indexOf('\n');
  const first = nl < 0 ? text : text.slice(0, nl);
  return editCmdline(first, add, remove) + (nl < 0 ? '' : text.slice(nl));
}

/** A kernel command-line token: its text as written in the file, and as the kernel sees it. */
export interface Token {
  raw: string;
  text: string;
}

/**
 * Split a command line into tokens at blanks outside double quotes (the kernel keeps
 * `opt="a b"` together). With `shellEscapes` the text is the inside of a shell
 * double-quoted string: `\"` `\\` `\$` `` \` `` stand for the character, and the
 * kernel's quotes are written `\"`.
 */
export function tokenize(s: string, shellEscapes = false): Token[] {
  const out: Token[] = [];
  let raw = '';
  let text = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    let c = s[i]!;
    let r = c;
    if (shellEscapes && c === '\\' && i + 1 < s.length && '"\\$`'.includes(s[i + 1]!)) {
      c = s[++i]!;
      r = `\\${c}`;
    }
    if (!quoted && /\s/.test(c) && r === c) {
      if (raw !== '') out.push({ raw, text });
      raw = '';
      text = '';
      continue;
    }
    if (c === '"') quoted = !quoted;
    raw += r;
    text += c;
  }
  if (raw !== '') out.push({ raw, text });
  return out;
}

/**
 * The tokens after removing `remove` and appending each of `add` not present yet;
 * undefined when nothing changes (so the caller keeps the line byte for byte).
 */
function editTokens(tokens: Token[], add: readonly string[], remove: readonly string[], encode: (s: string) => string): Token[] | undefined {
  const drop = new Set(remove);
  const kept = tokens.filter((t) => !drop.has(t.text));
  const have = new Set(kept.map((t) => t.text));
  const added: Token[] = [];
  for (const a of add) {
    if (have.has(a)) continue;
    have.add(a);
    added.push({ raw: encode(a), text: a });
  }
  return kept.length === tokens.length && added.length === 0 ? undefined : [...kept, ...added];
}

/** A plain command line (/etc/kernel/cmdline, cmdline.txt); whitespace is kept when unchanged. */
export function editCmdline(line: string, add: readonly string[], remove: readonly string[]): string {
  const edited = editTokens(tokenize(line), add, remove, (s) => s);
  if (edited === undefined) return line;
  const trailing = /\s*$/.exec(line)![0].includes('\n') ? '\n' : '';
  return edited.map((t) => t.raw).join(' ') + trailing;
}

/** A BLS entry: `options` lines edited; additions go to the last one (or a new one). */
export function editBlsEntry(text: string, add: readonly string[], remove: readonly string[]): string {
  const lines = text.split('\n');
  const opt = /^(\s*options)(\s+)(.*)$/;
  const idx = lines.flatMap((l, i) => (opt.test(l) || /^\s*options\s*$/.test(l) ? [i] : []));
  const present = new Set(idx.flatMap((i) => tokenize(optionsValue(lines[i]!)).filter((t) => !remove.includes(t.text)).map((t) => t.text)));
  const toAdd = add.filter((a) => !present.has(a));
  idx.forEach((i, n) => {
    const line = lines[i]!;
    const m = opt.exec(line);
    const edited = editTokens(tokenize(optionsValue(line)), n === idx.length - 1 ? toAdd : [], remove, (s) => s);
    if (edited === undefined) return;
    const head = m?.[1] ?? line.trimEnd();
    lines[i] = edited.length === 0 ? head : `${head}${m?.[2] ?? ' '}${edited.map((t) => t.raw).join(' ')}`;
  });
  if (idx.length === 0 && toAdd.length > 0) {
    const end = lines.length > 0 && lines[lines.length - 1] === '' ? lines.length - 1 : lines.length;
    lines.splice(end, 0, `options ${toAdd.join(' ')}`);
  }
  return lines.join('\n');
}

function optionsValue(line: string): string {
  return line.replace(/^\s*options\s*/, '');
}

/** One GRUB_CMDLINE_* assignment, split into the parts that are kept and its value. */
interface GrubLine {
  file: number;
  line: number;
  name: string;
  prefix: string;
  quote: '"' | "'" | '';
  tokens: Token[];
  suffix: string;
}

const GRUB_LINE = /^(\s*(?:export\s+)?(GRUB_CMDLINE_LINUX(?:_DEFAULT)?)=)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"'\\$`#;]*)(\s*(?:#.*)?)$/;

/**
 * The GRUB defaults files (in the order grub-mkconfig sources them) with the arguments
 * applied, or the first line flint cannot edit safely (e.g. a value spread over lines).
 */
export function editGrub(texts: readonly string[], add: readonly string[], remove: readonly string[]): { texts: string[] } | { file: number; problem: string } {
  const files = texts.map((t) => t.split('\n'));
  const found: GrubLine[] = [];
  for (const [f, lines] of files.entries()) {
    for (const [i, l] of lines.entries()) {
      const name = /^\s*(?:export\s+)?([A-Z_]+)=/.exec(l)?.[1];
      if (name === undefined || !GRUB_VARS.has(name)) continue;
      const m = GRUB_LINE.exec(l);
      if (!m) return { file: f, problem: `line ${i + 1} (${name}) is not a single quoted or unquoted value that flint can edit safely` };
      const v = m[3]!;
      const quote = v.startsWith('"') ? '"' : v.startsWith("'") ? "'" : '';
      const inner = quote === '' ? v : v.slice(1, -1);
      found.push({ file: f, line: i, name: m[2]!, prefix: m[1]!, quote, tokens: tokenize(inner, quote === '"'), suffix: m[4]! });
    }
  }
  const defaults = found.filter((g) => g.name === 'GRUB_CMDLINE_LINUX_DEFAULT');
  const target = defaults[defaults.length - 1];
  const present = new Set(found.flatMap((g) => g.tokens.filter((t) => !remove.includes(t.text)).map((t) => t.text)));
  const toAdd = add.filter((a) => !present.has(a));
  for (const g of found) {
    if (g.quote === "'" && g === target && toAdd.some((a) => a.includes("'"))) return { file: g.file, problem: `line ${g.line + 1}: an argument with ' cannot be added to a value in single quotes` };
    const edited = editTokens(g.tokens, g === target ? toAdd : [], remove, g.quote === '"' ? escapeDq : (s) => s);
    if (edited === undefined) continue;
    const value = edited.map((t) => t.raw).join(' ');
    // An unquoted value that now has several words (or none) needs quotes to stay one.
    const quote = g.quote === '' && (edited.length !== 1 || /[^A-Za-z0-9_.,:=/+@%-]/.test(value)) ? '"' : g.quote;
    const raw = quote === '"' && g.quote === '' ? edited.map((t) => escapeDq(t.text)).join(' ') : value;
    files[g.file]![g.line] = `${g.prefix}${quote}${raw}${quote}${g.suffix}`;
  }
  if (target === undefined && toAdd.length > 0) {
    const lines = files[0]!;
    const end = lines.length > 0 && lines[lines.length - 1] === '' ? lines.length - 1 : lines.length;
    lines.splice(end, 0, `GRUB_CMDLINE_LINUX_DEFAULT="${toAdd.map(escapeDq).join(' ')}"`);
  }
  return { texts: files.map((l) => l.join('\n')) };
}

function escapeDq(s: string): string {
  return s.replace(/[\\"$`]/g, '\\$&');
}
