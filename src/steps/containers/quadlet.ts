/**
 * Pure renderers for the containers step: Quadlet .container files, the Podman 4.3-style
 * service (the form `podman generate systemd --new` writes) for Podman without Quadlet,
 * the oneshot unit that loads an image archive, systemd's command-line quoting, and a
 * small tar reader that tells an OCI archive from a docker-archive.
 */
import type { Container } from '../../config/generated/model.js';

/** Where image archives go in the target; the load unit reads them from there. */
export const IMAGE_DIR = '/var/lib/flint/images';
export const QUADLET_DIR = '/etc/containers/systemd';

export function archivePath(name: string): string {
  return `${IMAGE_DIR}/${name}.tar`;
}

export function loadUnitName(name: string): string {
  return `flint-load-${name}.service`;
}

/** The unit a container runs as: Quadlet makes NAME.service from NAME.container. */
export function serviceName(name: string, quadlet: boolean): string {
  return quadlet ? `${name}.service` : `container-${name}.service`;
}

// ---------------------------------------------------------------- quoting

/** Characters that need no quotes in a systemd command line (after % and $ are doubled). */
const PLAIN_WORD = /^[A-Za-z0-9_@%$+=:,./-]+$/;

/**
 * One argument for ExecStart= (and Quadlet's Exec=, which follows the same rules).
 * systemd expands specifiers over the whole line first (so % becomes %%), then splits
 * it into words with C escapes inside quotes, then substitutes $VAR when the command
 * runs (so $ becomes $$). Anything but plain characters goes in double quotes with
 * backslash, quote and control characters escaped; other characters, non-ASCII
 * included, stand as they are.
 */
export function quoteExecArg(arg: string): string {
  const doubled = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (PLAIN_WORD.test(doubled)) return doubled;
  return `"${cEscape(doubled)}"`;
}

/** Escapes for inside "…": the ones cunescape() reads back. */
function cEscape(s: string): string {
  let out = '';
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out;
}

/** A whole command line, one quoted word per argument. */
export function execLine(argv: readonly string[]): string {
  return argv.map(quoteExecArg).join(' ');
}

/**
 * A value of Quadlet's Environment=: the whole NAME=VALUE as one word. Quadlet unquotes
 * it and passes it on as `--env` in the ExecStart= it generates, where systemd expands
 * specifiers and $VAR, so it is quoted as a command-line word.
 */
export function quoteEnvAssignment(name: string, value: string): string {
  return quoteExecArg(`${name}=${value}`);
}

/**
 * A plain single-valued setting (Description=, ConditionPathExists=): systemd takes it
 * verbatim apart from specifiers, so % is doubled. Line breaks could start a new
 * setting; the config never has them in these values, but they are refused here
 * rather than written.
 */
export function plainValue(v: string): string {
  if (/[\n\r\0]/.test(v)) throw new Error(`a line break or NUL cannot be written into a unit setting: ${JSON.stringify(v)}`);
  return v.replace(/%/g, '%%');
}

/**
 * A Quadlet setting that becomes one podman argument (Image=, ContainerName=,
 * PublishPort=, Volume=): Quadlet copies the value into the generated ExecStart=, where
 * systemd also substitutes $VAR, so $ is doubled as well.
 */
export function podmanValue(v: string): string {
  return plainValue(v).replace(/\$/g, '$$$$');
}

// ---------------------------------------------------------------- units

export interface RenderOptions {
  /** The podman binary in the target, for the fallback and the load unit. */
  podman: string;
}

function sortedEnv(c: Container): Array<[string, string]> {
  // Sorted, so the same config always gives the same bytes whatever the key order.
  return Object.entries(c.environment ?? {})
    .filter((e): e is [string, string] => e[1] !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

const HEADER = '# Written by flint from its config; changes here are overwritten by the next run.\n';

/** NAME.container for Podman's Quadlet generator. */
export function renderQuadlet(c: Container): string {
  const unit: string[] = [`Description=${plainValue(`Container ${c.name} (${c.image})`)}`];
  if (c.image_archive !== undefined) {
    const load = loadUnitName(c.name);
    unit.push(`Requires=${load}`, `After=${load}`);
  }
  const container: string[] = [`Image=${podmanValue(c.image)}`, `ContainerName=${podmanValue(c.name)}`];
  for (const p of c.ports ?? []) container.push(`PublishPort=${podmanValue(p)}`);
  for (const v of c.volumes ?? []) container.push(`Volume=${podmanValue(v)}`);
  for (const [k, v] of sortedEnv(c)) container.push(`Environment=${quoteEnvAssignment(k, v)}`);
  // AutoUpdate= sets the io.containers.autoupdate label itself.
  if (c.auto_update === 'registry' || c.auto_update === 'local') container.push(`AutoUpdate=${c.auto_update}`);
  if (c.command !== undefined && c.command.length > 0) container.push(`Exec=${execLine(c.command)}`);
  const sections = [`[Unit]\n${unit.join('\n')}\n`, `[Container]\n${container.join('\n')}\n`, `[Service]\nRestart=${c.restart ?? 'on-failure'}\n`];
  // Quadlet turns [Install] into the generator's wants links at boot: nothing to enable.
  if (c.enabled !== false) sections.push('[Install]\nWantedBy=multi-user.target default.target\n');
  return HEADER + sections.join('\n');
}

/** The podman run arguments the config decides, for the fallback service, one group per option. */
export function runArgs(c: Container): string[][] {
  const groups: string[][] = [['--name', c.name]];
  for (const p of c.ports ?? []) groups.push(['--publish', p]);
  for (const v of c.volumes ?? []) groups.push(['--volume', v]);
  for (const [k, v] of sortedEnv(c)) groups.push(['--env', `${k}=${v}`]);
  if (c.auto_update === 'registry' || c.auto_update === 'local') groups.push(['--label', `io.containers.autoupdate=${c.auto_update}`]);
  groups.push([c.image, ...(c.command ?? [])]);
  return groups;
}

/**
 * Fixed options of `podman generate systemd --new` (Podman 4.3), written as they are:
 * the %t/%n in them are meant as specifiers.
 */
const RUN_FIXED = ['--cidfile=%t/%n.ctr-id', '--cgroups=no-conmon', '--rm', '--sdnotify=conmon', '-d', '--replace'];

/**
 * container-NAME.service as `podman generate systemd --new` of Podman 4.3 writes it: the
 * container is made at start and removed at stop, conmon tells systemd when it runs.
 */
export function renderFallbackService(c: Container, opts: RenderOptions): string {
  const podman = quoteExecArg(opts.podman);
  const run = [...RUN_FIXED, ...runArgs(c).map((g) => execLine(g))].join(' \\\n\t');
  const unit = [`Description=${plainValue(`Container ${c.name} (${c.image})`)}`, 'Documentation=man:podman-generate-systemd(1)', 'Wants=network-online.target', 'After=network-online.target', 'RequiresMountsFor=%t/containers'];
  if (c.image_archive !== undefined) {
    const load = loadUnitName(c.name);
    unit.push(`Requires=${load}`, `After=${load}`);
  }
  const service = [
    'Environment=PODMAN_SYSTEMD_UNIT=%n',
    `Restart=${c.restart ?? 'on-failure'}`,
    'TimeoutStopSec=70',
    `ExecStart=${podman} run \\\n\t${run}`,
    `ExecStop=${podman} stop \\\n\t--ignore -t 10 \\\n\t--cidfile=%t/%n.ctr-id`,
    `ExecStopPost=${podman} rm \\\n\t-f \\\n\t--ignore -t 10 \\\n\t--cidfile=%t/%n.ctr-id`,
    'Type=notify',
    'NotifyAccess=all',
  ];
  return `${HEADER}[Unit]\n${unit.join('\n')}\n\n[Service]\n${service.join('\n')}\n\n[Install]\nWantedBy=multi-user.target\n`;
}

/** flint-load-NAME.service: loads the archive into the image store before the container starts. */
export function renderLoadUnit(c: Container, containerService: string, opts: RenderOptions): string {
  const tar = archivePath(c.name);
  return (
    `${HEADER}[Unit]\n` +
    `Description=${plainValue(`Load the image of container ${c.name}`)}\n` +
    `ConditionPathExists=${tar}\n` +
    `Before=${containerService}\n` +
    'RequiresMountsFor=/var/lib/containers\n\n' +
    '[Service]\nType=oneshot\nRemainAfterExit=yes\n' +
    `ExecStart=${execLine([opts.podman, 'load', '-i', tar])}\n`
  );
}

// ---------------------------------------------------------------- image archives

export type ArchiveKind = 'oci' | 'docker';

/**
 * Names of the entries of a ustar/pax/GNU tar (leading "./" dropped), or an error text.
 * Only headers are read: checksums are checked, data is skipped by size.
 */
export function tarEntries(data: Buffer): { names: string[] } | { error: string } {
  const names: string[] = [];
  let off = 0;
  let longName: string | undefined;
  while (off + 512 <= data.length) {
    const h = data.subarray(off, off + 512);
    if (h.every((b) => b === 0)) return names.length > 0 ? { names } : { error: 'the tar archive is empty' };
    const stored = parseOctal(h.subarray(148, 156));
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
    if (stored === undefined || stored !== sum) return { error: `not a tar archive (bad header checksum at byte ${off})` };
    const size = parseSize(h.subarray(124, 136));
    if (size === undefined) return { error: `not a tar archive (bad size field at byte ${off})` };
    const type = String.fromCharCode(h[156] ?? 0);
    const body = off + 512;
    const next = body + Math.ceil(size / 512) * 512;
    if (body + size > data.length) return { error: 'the tar archive is truncated' };
    if (type === 'L') {
      longName = cString(data.subarray(body, body + size));
    } else if (type === 'x') {
      const p = paxPath(data.subarray(body, body + size).toString('utf8'));
      if (p !== undefined) longName = p;
    } else if (type !== 'g' && type !== 'K') {
      const ustar = h.subarray(257, 262).toString('latin1') === 'ustar';
      const prefix = ustar ? cString(h.subarray(345, 500)) : '';
      const short = cString(h.subarray(0, 100));
      const name = longName ?? (prefix !== '' ? `${prefix}/${short}` : short);
      names.push(name.replace(/^(\.\/)+/, ''));
      longName = undefined;
    }
    off = next;
  }
  return names.length > 0 ? { names } : { error: 'not a tar archive' };
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
}

function parseOctal(b: Buffer): number | undefined {
  const s = cString(b).trim();
  return /^[0-7]+$/.test(s) ? parseInt(s, 8) : undefined;
}

/** Octal, or GNU's base-256 for sizes of 8 GiB and more. */
function parseSize(b: Buffer): number | undefined {
  if (((b[0] ?? 0) & 0x80) !== 0) {
    let n = 0;
    for (let i = 1; i < b.length; i++) n = n * 256 + (b[i] ?? 0);
    return n;
  }
  return parseOctal(b);
}

/** The path= record of a pax extended header. */
function paxPath(text: string): string | undefined {
  let found: string | undefined;
  let rest = text;
  while (rest.length > 0) {
    const m = /^(\d+) /.exec(rest);
    if (!m) break;
    const len = Number(m[1]);
    const rec = Buffer.from(rest, 'utf8').subarray(0, len).toString('utf8');
    const kv = rec.slice(m[0].length, -1);
    if (kv.startsWith('path=')) found = kv.slice('path='.length);
    rest = Buffer.from(rest, 'utf8').subarray(len).toString('utf8');
    if (len === 0) break;
  }
  return found;
}

/** What kind of image archive `data` is, or why it is none. */
export function archiveKind(data: Buffer): { kind: ArchiveKind } | { error: string } {
  const r = tarEntries(data);
  if ('error' in r) return r;
  const top = new Set(r.names.map((n) => n.replace(/\/+$/, '')));
  if (top.has('index.json') && top.has('oci-layout')) return { kind: 'oci' };
  if (top.has('manifest.json')) return { kind: 'docker' };
  return { error: 'a tar archive, but neither an OCI archive (index.json and oci-layout) nor a docker-archive (manifest.json)' };
}
