/**
 * The Raspberry Pi step: `raspberry_pi:` interfaces switched on or off in config.txt on
 * the boot partition, line for line as raspi-config's Interface Options write them:
 * - i2c: `dtparam=i2c_arm=on|off`, and /etc/modules-load.d/flint-raspberry-pi.conf
 *   with i2c-dev when on (raspi-config puts i2c-dev into /etc/modules; systemd reads
 *   both), so /dev/i2c-1 is there without a manual modprobe;
 * - spi: `dtparam=spi=on|off`;
 * - onewire: `dtoverlay=w1-gpio`, commented out when off;
 * - serial_hardware: `enable_uart=1|0`;
 * - serial_console: `console=serial0,115200` in cmdline.txt, through the kernel
 *   arguments step (which owns that file): see piKernelArguments.
 *
 * An existing line for the setting, commented out or not (Raspberry Pi OS ships
 * `#dtparam=i2c_arm=on`), is rewritten in place; otherwise the line is appended. When
 * the file ends inside a conditional section such as `[cm4]`, an `[all]` line goes
 * before the appended ones, so they hold for every board.
 */
import type { Action } from '../../engine/actions.js';
import type { Step, StepContext, StepOutput } from '../../engine/step.js';
import type { FlintConfig } from '../../config/validate.js';
import type { TargetRoot } from '../../target/root.js';
import { editedFile } from '../files/conffile.js';

const STEP = 'raspberry-pi';
export const PI_CONFIG_FILES = ['/boot/firmware/config.txt', '/boot/config.txt'];
const MODULES_FILE = '/etc/modules-load.d/flint-raspberry-pi.conf';
const SERIAL_CONSOLE = 'console=serial0,115200';

/** One config.txt setting: the key that finds its line, and the line itself. */
interface Setting {
  /** `dtparam=i2c_arm`, `enable_uart`, `dtoverlay=w1-gpio`. */
  key: string;
  /** The whole line, or undefined: comment the line out (an overlay that is switched off). */
  line: string | undefined;
}

export function piSettings(pi: NonNullable<FlintConfig['raspberry_pi']>): Setting[] {
  const out: Setting[] = [];
  if (pi.i2c !== undefined) out.push({ key: 'dtparam=i2c_arm', line: `dtparam=i2c_arm=${pi.i2c ? 'on' : 'off'}` });
  if (pi.spi !== undefined) out.push({ key: 'dtparam=spi', line: `dtparam=spi=${pi.spi ? 'on' : 'off'}` });
  if (pi.onewire !== undefined) out.push({ key: 'dtoverlay=w1-gpio', line: pi.onewire ? 'dtoverlay=w1-gpio' : undefined });
  if (pi.serial_hardware !== undefined) out.push({ key: 'enable_uart', line: `enable_uart=${pi.serial_hardware ? 1 : 0}` });
  return out;
}

/** What a config.txt line sets, without a leading `#`: `dtparam=spi=on` -> "dtparam=spi". */
function keyOf(line: string): string | undefined {
  const t = line.trim().replace(/^#\s*/, '');
  const m = /^(dtparam|dtoverlay)=([A-Za-z0-9_-]+)/.exec(t) ?? /^([A-Za-z0-9_]+)=/.exec(t);
  if (m === null) return undefined;
  return m[1] === 'dtparam' || m[1] === 'dtoverlay' ? `${m[1]}=${m[2]!}` : m[1];
}

/** config.txt with SETTINGS applied; the same text when nothing changes. */
export function editConfigTxt(text: string, settings: readonly Setting[]): string {
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const append: string[] = [];
  for (const s of settings) {
    const at = lines.findIndex((l) => keyOf(l) === s.key);
    const active = at >= 0 && !lines[at]!.trim().startsWith('#');
    if (s.line === undefined) {
      if (active) lines[at] = `#${lines[at]!.trim()}`;
    } else if (at >= 0) {
      if (lines[at]!.trim() !== s.line) lines[at] = s.line;
    } else append.push(s.line);
  }
  if (append.length > 0) {
    const lastSection = [...lines].reverse().find((l) => /^\s*\[[^\]]*\]/.test(l));
    if (lastSection !== undefined && lastSection.trim() !== '[all]') append.unshift('[all]');
    lines.push(...append);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** The cmdline.txt arguments raspberry_pi asks for, for the kernel arguments step. */
export function piKernelArguments(config: FlintConfig): { add: string[]; remove: string[] } {
  const c = config.raspberry_pi?.serial_console;
  if (c === undefined) return { add: [], remove: [] };
  return c ? { add: [SERIAL_CONSOLE], remove: [] } : { add: [], remove: [SERIAL_CONSOLE, 'console=ttyAMA0,115200', 'console=ttyS0,115200'] };
}

function configTxt(root: TargetRoot): string | undefined {
  return PI_CONFIG_FILES.find((p) => root.entry(p).type === 'file');
}

export const raspberryPiStep: Step = {
  name: STEP,
  sections: ['raspberry_pi'],
  plan(ctx: StepContext): StepOutput {
    const pi = ctx.config.raspberry_pi;
    if (pi === undefined) return { actions: [], problems: [], warnings: [] };
    const { root } = ctx;
    const settings = piSettings(pi);
    const actions: Action[] = [];
    const file = configTxt(root);
    if (file === undefined) {
      if (settings.length === 0) return { actions, problems: [], warnings: [] };
      return {
        actions,
        problems: [{ path: ['raspberry_pi'], message: 'the target has no Raspberry Pi boot partition (no config.txt in /boot/firmware or /boot)', hint: 'apply it where the boot partition is mounted: flint image apply mounts an image\'s, and on Raspberry Pi OS the first-boot unit of flint image enable runs with /boot/firmware mounted; or drop raspberry_pi:' }],
        warnings: [],
      };
    }
    const text = root.readText(file) ?? '';
    const edited = editConfigTxt(text, settings);
    if (edited !== text) actions.push(editedFile(root, file, edited, STEP, 'Raspberry Pi interfaces'));
    if (pi.i2c === true) actions.push(editedFile(root, MODULES_FILE, 'i2c-dev\n', STEP, 'I2C device files at boot'));
    else if (pi.i2c === false && root.entry(MODULES_FILE).type !== 'missing') actions.push({ kind: 'absent', path: MODULES_FILE, step: STEP, why: 'I2C off' });
    return { actions, problems: [], warnings: [], report: { raspberry_pi: { config_txt: file } } };
  },
};
