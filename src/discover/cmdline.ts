/**
 * flint's options on the kernel command line. Splitting follows the kernel's rules:
 * whitespace separates parameters, double quotes group spaces into one and are
 * dropped, and `--` ends the kernel's parameters (what follows belongs to init).
 * When an option appears twice, the last one counts, as for the kernel's own.
 */
import { PLACEHOLDERS, placeholdersOf } from './url-template.js';
import { checkProxy } from '../system/proxy-agent.js';

/** A proxy URL for messages: its password never shown. */
function redactProxy(v: string): string {
  return v.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

export type ConfigRef =
  | { kind: 'url'; url: string }
  | { kind: 'label'; label: string; path: string };

export interface BootOptions {
  /** `flint.config=`. */
  config?: ConfigRef;
  /** `flint.config.sha512=`, lower-case hex. */
  sha512?: string;
  /** `ignition.config.url=`: an Ignition config (only https:// is fetched). */
  ignitionUrl?: string;
  /** `BOOTIF=` (PXELINUX, iPXE): the boot interface's MAC, for `{mac}` in flint.config=. */
  bootif?: string;
  /** `combustion.url=`: a Combustion script (only https:// is fetched). */
  combustionUrl?: string;
  /** The first-boot flags present (`flint.firstboot`, `ignition.firstboot`, `combustion.firstboot`). */
  firstbootFlags: string[];
  /** `flint.timeout=`, in seconds. */
  timeoutS?: number;
  /** `flint.config.deadline=SECONDS`: how long a config given by URL is asked for, retries included (default 300). */
  configDeadlineS?: number;
  /** `flint.proxy=http://HOST:PORT`: https downloads (the config, its signature, payloads) tunnel through it. */
  proxy?: string;
  /** `flint.require=1`: no config found is an error. */
  require: boolean;
  /** `flint.report=0` turns off writing RESULT.txt and result.json back to the config medium. */
  report: boolean;
  /** `flint.on_failure=continue`: a failed apply exits 0 so the boot goes on, unconfigured. Default stop. */
  onFailure: 'stop' | 'continue';
  /** `flint.trust=required|optional|off`: the signature policy (src/trust/policy.ts); absent: decided by the initramfs's trust anchors. */
  trust?: 'required' | 'optional' | 'off';
  /** `flint.trace=1`: a line for every program started and every phase, with times (system/trace.ts). */
  trace: boolean;
  /** Malformed flint options, one message each; the option is ignored. */
  problems: string[];
}

/** The parameters of a command line, quotes removed. */
export function splitCmdline(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inToken = false;
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') {
      quoted = !quoted;
      inToken = true;
    } else if (!quoted && /\s/.test(ch)) {
      if (inToken) out.push(cur);
      cur = '';
      inToken = false;
    } else {
      cur += ch;
      inToken = true;
    }
  }
  if (inToken) out.push(cur);
  const end = out.indexOf('--');
  return end < 0 ? out : out.slice(0, end);
}

const FIRSTBOOT = ['flint.firstboot', 'ignition.firstboot', 'combustion.firstboot'];

/** A flag given bare, or as =1/yes/true/on; =0/no/false/off turns it off. */
function flagValue(name: string, value: string | undefined, problems: string[]): boolean | undefined {
  if (value === undefined) return true;
  const v = value.toLowerCase();
  if (['1', 'yes', 'true', 'on', 'y'].includes(v)) return true;
  if (['0', 'no', 'false', 'off', 'n'].includes(v)) return false;
  problems.push(`${name}=${value}: expected 1 or 0; ignored`);
  return undefined;
}

export function parseCmdline(text: string): BootOptions {
  const opts: BootOptions = { firstbootFlags: [], require: false, report: true, trace: false, onFailure: 'stop', problems: [] };
  const firstboot = new Map<string, boolean>();
  for (const param of splitCmdline(text)) {
    const eq = param.indexOf('=');
    const name = eq < 0 ? param : param.slice(0, eq);
    const value = eq < 0 ? undefined : param.slice(eq + 1);
    if (FIRSTBOOT.includes(name)) {
      const on = flagValue(name, value, opts.problems);
      if (on !== undefined) firstboot.set(name, on);
      continue;
    }
    switch (name) {
      case 'flint.config': {
        const ref = value === undefined ? undefined : configRef(value);
        const unknown = ref?.kind === 'url' ? placeholdersOf(ref.url).unknown : [];
        if (ref === undefined || unknown.length > 0) {
          opts.problems.push(ref === undefined ? `flint.config=${value ?? ''}: expected an https:// URL or LABEL=NAME:/path; ignored` : `flint.config=: {${unknown[0]!}} is not a placeholder flint fills (${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}); ignored`);
          delete opts.config;
        } else opts.config = ref;
        break;
      }
      case 'BOOTIF':
        if (value !== undefined) opts.bootif = value;
        break;
      case 'flint.proxy': {
        const p = value === undefined ? 'expected http://HOST:PORT' : checkProxy(value);
        if (p === undefined && value !== undefined) opts.proxy = value;
        else opts.problems.push(`flint.proxy=${value === undefined ? '' : redactProxy(value)}: ${p ?? ''}; ignored`);
        break;
      }
      case 'flint.config.deadline':
        if (value !== undefined && /^\d+$/.test(value) && Number(value) > 0) opts.configDeadlineS = Number(value);
        else opts.problems.push(`flint.config.deadline=${value ?? ''}: expected a number of seconds; ignored`);
        break;
      case 'flint.config.sha512':
        if (value !== undefined && /^[0-9a-f]{128}$/i.test(value)) opts.sha512 = value.toLowerCase();
        else opts.problems.push(`flint.config.sha512=${value ?? ''}: expected 128 hexadecimal digits; ignored`);
        break;
      case 'ignition.config.url':
        if (value) opts.ignitionUrl = value;
        break;
      case 'combustion.url':
        if (value) opts.combustionUrl = value;
        break;
      case 'flint.timeout':
        if (value !== undefined && /^\d+(\.\d+)?$/.test(value)) opts.timeoutS = Number(value);
        else opts.problems.push(`flint.timeout=${value ?? ''}: expected a number of seconds; ignored`);
        break;
      case 'flint.require': {
        const on = flagValue(name, value, opts.problems);
        if (on !== undefined) opts.require = on;
        break;
      }
      case 'flint.trace': {
        const on = flagValue(name, value, opts.problems);
        if (on !== undefined) opts.trace = on;
        break;
      }
      case 'flint.report': {
        const on = flagValue(name, value, opts.problems);
        if (on !== undefined) opts.report = on;
        break;
      }
      case 'flint.trust':
        if (value === 'required' || value === 'optional' || value === 'off') opts.trust = value;
        else opts.problems.push(`flint.trust=${value ?? ''}: expected required, optional or off; ignored`);
        break;
      case 'flint.on_failure':
        if (value === 'stop' || value === 'continue') opts.onFailure = value;
        else opts.problems.push(`flint.on_failure=${value ?? ''}: expected stop or continue; ignored`);
        break;
    }
  }
  opts.firstbootFlags = FIRSTBOOT.filter((f) => firstboot.get(f) === true);
  return opts;
}

function configRef(value: string): ConfigRef | undefined {
  if (/^https:\/\/[^/\s]+/i.test(value)) return { kind: 'url', url: value };
  // The path is absolute on the medium; the label may contain anything but ':'.
  const m = /^LABEL=([^:]+):(\/.*)$/.exec(value);
  if (m === null) return undefined;
  const path = m[2]!;
  if (path.split('/').includes('..') || path.endsWith('/')) return undefined;
  return { kind: 'label', label: m[1]!, path };
}
