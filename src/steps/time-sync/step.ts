/**
 * The NTP step: `ntp.servers` and `ntp.pools` for the client the target runs.
 * - chrony (/usr/sbin/chronyd): the sources go into its main file (/etc/chrony/chrony.conf
 *   on Debian, /etc/chrony.conf elsewhere) as `server NAME iburst` and `pool NAME iburst`,
 *   where its first source line was; every other `server`, `pool` and `peer` line, there
 *   and in the folders it includes (/etc/chrony.d, /etc/chrony/conf.d,
 *   /etc/chrony/sources.d), is commented out, so the config's servers replace the
 *   image's (as cloud-init's ntp module does by writing the whole file).
 * - systemd-timesyncd: a drop-in /etc/systemd/timesyncd.conf.d/50-flint.conf with
 *   `NTP=` listing them (pools too: timesyncd has no pools); with NTP= set, timesyncd
 *   does not use its FallbackNTP servers.
 * chrony wins when the target has both (Debian's chrony package replaces timesyncd).
 */
import type { Action } from '../../engine/actions.js';
import type { Step, StepContext, StepOutput } from '../../engine/step.js';
import type { FlintConfig } from '../../config/validate.js';
import type { TargetRoot } from '../../target/root.js';
import { editedFile } from '../files/conffile.js';

const STEP = 'ntp';
const TIMESYNCD = ['/usr/lib/systemd/systemd-timesyncd', '/lib/systemd/systemd-timesyncd'];
const TIMESYNCD_DROPIN = '/etc/systemd/timesyncd.conf.d/50-flint.conf';
const CHRONY_MAIN = ['/etc/chrony/chrony.conf', '/etc/chrony.conf'];
const CHRONY_INCLUDES: ReadonlyArray<readonly [string, string]> = [['/etc/chrony.d', '.conf'], ['/etc/chrony/conf.d', '.conf'], ['/etc/chrony/sources.d', '.sources']];
const SOURCE_LINE = /^\s*(server|pool|peer)\s/;

type Ntp = NonNullable<FlintConfig['ntp']>;

export function chronyLines(ntp: Ntp): string[] {
  return [...(ntp.servers ?? []).map((s) => `server ${s} iburst`), ...(ntp.pools ?? []).map((p) => `pool ${p} iburst`)];
}

const MARKER = '# The NTP servers of the flint config (ntp:):';

/**
 * TEXT with its source lines commented out, and OURS (when given) where flint's block
 * was before (a second apply), else where the first source line was, else at the end.
 */
export function replaceChronySources(text: string, ours?: readonly string[]): string {
  const lines = text.replace(/\n$/, '').split('\n');
  // An earlier apply's block comes out first, remembering its place.
  let at = lines.indexOf(MARKER);
  if (at >= 0) {
    let end = at + 1;
    while (end < lines.length && SOURCE_LINE.test(lines[end]!)) end++;
    lines.splice(at, end - at);
  }
  const out: string[] = [];
  for (const l of lines) {
    if (SOURCE_LINE.test(l)) {
      if (at < 0) at = out.length;
      out.push(`#${l}`);
    } else out.push(l);
  }
  if (ours !== undefined) {
    if (at < 0) out.push('', MARKER, ...ours);
    else out.splice(at, 0, MARKER, ...ours);
  }
  return `${out.join('\n')}\n`;
}

export function timesyncdDropin(ntp: Ntp): string {
  return `# Written by flint (ntp: in the config)\n[Time]\nNTP=${[...(ntp.servers ?? []), ...(ntp.pools ?? [])].join(' ')}\n`;
}

function hasFile(root: TargetRoot, paths: readonly string[]): string | undefined {
  return paths.find((p) => root.entry(p).type === 'file');
}

function chronyActions(root: TargetRoot, main: string, ntp: Ntp): Action[] {
  const actions: Action[] = [];
  const text = root.readText(main) ?? '';
  const edited = replaceChronySources(text, chronyLines(ntp));
  if (edited !== text) actions.push(editedFile(root, main, edited, STEP, 'NTP servers (chrony)'));
  for (const [dir, ext] of CHRONY_INCLUDES) {
    for (const name of root.list(dir).filter((n) => n.endsWith(ext))) {
      const p = `${dir}/${name}`;
      const t = root.readText(p);
      if (t === undefined || !t.split('\n').some((l) => SOURCE_LINE.test(l))) continue;
      actions.push(editedFile(root, p, replaceChronySources(t), STEP, 'the image\'s NTP servers, replaced by the config\'s (chrony)'));
    }
  }
  return actions;
}

export const ntpStep: Step = {
  name: STEP,
  sections: ['ntp'],
  plan(ctx: StepContext): StepOutput {
    const ntp = ctx.config.ntp;
    if (ntp === undefined) return { actions: [], problems: [], warnings: [] };
    const { root } = ctx;
    const chrony = root.entry('/usr/sbin/chronyd').type === 'file' ? hasFile(root, CHRONY_MAIN) : undefined;
    if (chrony !== undefined) return { actions: chronyActions(root, chrony, ntp), problems: [], warnings: [], report: { ntp: { client: 'chrony', file: chrony } } };
    if (hasFile(root, TIMESYNCD) !== undefined) {
      return { actions: [editedFile(root, TIMESYNCD_DROPIN, timesyncdDropin(ntp), STEP, 'NTP servers (systemd-timesyncd)')], problems: [], warnings: [], report: { ntp: { client: 'systemd-timesyncd', file: TIMESYNCD_DROPIN } } };
    }
    return {
      actions: [],
      problems: [{ path: ['ntp'], message: 'the target has no NTP client: neither chrony (/usr/sbin/chronyd with its chrony.conf) nor systemd-timesyncd', hint: 'install chrony or systemd-timesyncd in the image, or drop ntp:' }],
      warnings: [],
    };
  },
};
