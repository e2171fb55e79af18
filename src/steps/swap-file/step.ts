/**
 * The swap file step: `swap_file` becomes two units, written now and acting at the
 * first boot of the configured system, not in the initramfs, so the first boot does not
 * wait for gigabytes of zeros on an SD card:
 * - flint-swap-file.service makes the file once (ConditionPathExists=!PATH): under a
 *   temporary name, mode 0600, with the no-copy-on-write attribute on btrfs (which
 *   refuses swap files without it), space allocated with fallocate (dd where the
 *   filesystem cannot), mkswap, then renamed into place, so a power cut never leaves a
 *   half-made file that the condition would take for done;
 * - PATH's .swap unit enables it, after the service, on every boot. It is wanted by
 *   multi-user.target without the default ordering before swap.target, so the boot does
 *   not wait for the file to be made.
 * A .swap unit rather than an fstab line: /etc/fstab belongs to the storage step.
 */
import type { Step, StepContext, StepOutput } from '../../engine/step.js';
import { parseSize } from '../../config/checks/names.js';
import { enabledUnit, escapeUnitPath, execWord } from '../systemd/unit-file.js';

const STEP = 'swap-file';
export const SWAP_FILE_SERVICE = 'flint-swap-file.service';
export const DEFAULT_SWAP_FILE = '/swapfile';

export function swapUnitName(path: string): string {
  return `${escapeUnitPath(path)}.swap`;
}

/** The shell script the service runs (PATH and BYTES already checked: an absolute path, a whole number). */
export function makeSwapScript(path: string, bytes: bigint): string {
  const mib = (bytes + 1048575n) / 1048576n;
  return [
    'set -eu',
    `f=${shQuote(path)}`,
    't="$f.flint-new"',
    'rm -f "$t"',
    'install -m 0600 /dev/null "$t"',
    'if [ "$(stat -f -c %T "$(dirname "$f")")" = btrfs ]; then chattr +C "$t"; fi',
    `fallocate -l ${bytes} "$t" 2>/dev/null || dd if=/dev/zero of="$t" bs=1M count=${mib} status=none`,
    'mkswap "$t" >/dev/null',
    'mv "$t" "$f"',
  ].join('; ');
}

function shQuote(s: string): string {
  return /^[A-Za-z0-9_./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function swapFileUnits(path: string, bytes: bigint): { service: string; swap: string } {
  const swap = swapUnitName(path);
  const service = [
    '# Written by flint (swap_file: in the config): makes the swap file once.',
    '[Unit]',
    `Description=flint: make the swap file ${path}`,
    'DefaultDependencies=no',
    `RequiresMountsFor=${execWord(path)}`,
    'After=local-fs.target',
    `Before=${swap} shutdown.target`,
    'Conflicts=shutdown.target',
    `ConditionPathExists=!${path}`,
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=sh -c ${execWord(makeSwapScript(path, bytes))}`,
    '',
  ].join('\n');
  const unit = [
    '# Written by flint (swap_file: in the config).',
    '[Unit]',
    `Description=flint: swap file ${path}`,
    // Not before swap.target (the default): the boot does not wait for the file.
    'DefaultDependencies=no',
    `Requires=${SWAP_FILE_SERVICE}`,
    `After=${SWAP_FILE_SERVICE}`,
    'Conflicts=umount.target',
    'Before=umount.target',
    '',
    '[Swap]',
    `What=${path}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
  return { service, swap: unit };
}

export const swapFileStep: Step = {
  name: STEP,
  sections: ['swap_file'],
  bootUnits: (c) => (c.swap_file !== undefined ? [[swapUnitName(c.swap_file.path ?? DEFAULT_SWAP_FILE)]] : []),
  plan(ctx: StepContext): StepOutput {
    const sf = ctx.config.swap_file;
    if (sf === undefined) return { actions: [], problems: [], warnings: [] };
    const path = sf.path ?? DEFAULT_SWAP_FILE;
    const size = parseSize(sf.size);
    // The semantic checks refuse a bad size or a percentage before planning.
    if (!('bytes' in size)) return { actions: [], problems: [{ path: ['swap_file', 'size'], message: 'a swap file needs a size in bytes', hint: 'write a size such as 2GiB' }], warnings: [] };
    const units = swapFileUnits(path, size.bytes);
    const actions = [
      { kind: 'file' as const, path: `/etc/systemd/system/${SWAP_FILE_SERVICE}`, data: Buffer.from(units.service), mode: 0o644, uid: 0, gid: 0, step: STEP, why: `makes the swap file ${path} at the first boot` },
      ...enabledUnit(swapUnitName(path), units.swap, 'multi-user.target', STEP, `swap file ${path}`),
    ];
    const warnings = ctx.root.entry(path).type !== 'missing' ? [`swap_file: ${path} already exists in the target; it is used as it is (the unit makes the file only where there is none)`] : [];
    return { actions, problems: [], warnings, report: { swap_file: { path, bytes: Number(size.bytes) } } };
  },
};
