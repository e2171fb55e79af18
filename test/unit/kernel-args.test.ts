/**
 * Kernel arguments in GRUB defaults, /etc/kernel/cmdline, BLS entries and Raspberry Pi
 * cmdline.txt: exact tokens, quoting and every other line kept, nothing to do twice.
 */
import { makeTargetRoot, stepContext } from '../helpers/step-context.js';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FlintConfig } from '../../src/config/validate.js';
import { applyPlanned } from '../../src/engine/apply.js';
import { planSteps } from '../../src/engine/plan.js';
import type { Plan } from '../../src/engine/plan.js';
import type { StepContext } from '../../src/engine/step.js';
import { editBlsEntry, editCmdline, editGrub, kernelArgsStep, tokenize } from '../../src/steps/kernel-args/step.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const makeRoot = (files: Record<string, string | Buffer>): string => makeTargetRoot(files, dirs, 'flint-kargs-');

function context(root: string, ka: NonNullable<FlintConfig['kernel_arguments']>): StepContext {
  return stepContext(root, { version: 1, kernel_arguments: ka });
}

function applyTwice(ctx: StepContext): Plan {
  const first = planSteps(ctx, [kernelArgsStep]);
  expect(first.problems).toEqual([]);
  applyPlanned(ctx.root, first.planned);
  const second = planSteps(ctx, [kernelArgsStep]);
  expect(second.planned.map((p) => p.action.path)).toEqual([]);
  return first;
}

const text = (root: string, p: string) => readFileSync(join(root, p), 'utf8');
const KA = { add: ['console=ttyS0,115200', 'systemd.log_level=debug'], remove: ['quiet'] };

const DEBIAN_GRUB = `# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.

GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=\`lsb_release -i -s 2> /dev/null || echo Debian\`
GRUB_CMDLINE_LINUX_DEFAULT="quiet console=tty0"
GRUB_CMDLINE_LINUX=""

# Uncomment to disable graphical terminal (grub-pc only)
#GRUB_TERMINAL=console
`;

describe('tokenize', () => {
  it('keeps double-quoted values together, and reads shell escapes when asked', () => {
    expect(tokenize('a  b="c d" e').map((t) => t.text)).toEqual(['a', 'b="c d"', 'e']);
    const t = tokenize('dyndbg=\\"file x +p\\" $GRUB_CMDLINE_LINUX_DEFAULT', true);
    expect(t.map((x) => x.text)).toEqual(['dyndbg="file x +p"', '$GRUB_CMDLINE_LINUX_DEFAULT']);
    expect(t.map((x) => x.raw)).toEqual(['dyndbg=\\"file x +p\\"', '$GRUB_CMDLINE_LINUX_DEFAULT']);
  });
});

describe('GRUB defaults', () => {
  it('edits GRUB_CMDLINE_LINUX_DEFAULT in place, keeps every other line, and warns about update-grub', () => {
    const root = makeRoot({ 'etc/default/grub': DEBIAN_GRUB });
    const p = applyTwice(context(root, KA));
    expect(text(root, 'etc/default/grub')).toBe(DEBIAN_GRUB.replace('"quiet console=tty0"', '"console=tty0 console=ttyS0,115200 systemd.log_level=debug"'));
    expect(p.warnings.join('\n')).toMatch(/update-grub/);
  });
  it('keeps single quotes and bare values, and quotes a bare value that grows', () => {
    const r = editGrub(["GRUB_CMDLINE_LINUX_DEFAULT='quiet splash'\nexport GRUB_CMDLINE_LINUX=quiet # old\n"], ['rd.break'], ['quiet']);
    expect(r).toEqual({ texts: ["GRUB_CMDLINE_LINUX_DEFAULT='splash rd.break'\nexport GRUB_CMDLINE_LINUX=\"\" # old\n"] });
    expect(editGrub(['GRUB_CMDLINE_LINUX_DEFAULT=quiet\n'], ['a="b c"'], [])).toEqual({ texts: ['GRUB_CMDLINE_LINUX_DEFAULT="quiet a=\\"b c\\""\n'] });
  });
  it('adds to the assignment that wins (the last grub.d file), and removes everywhere', () => {
    const root = makeRoot({
      'etc/default/grub': DEBIAN_GRUB,
      'etc/default/grub.d/50-cloudimg-settings.cfg': 'GRUB_CMDLINE_LINUX_DEFAULT="console=tty1 quiet"\n',
    });
    applyTwice(context(root, KA));
    expect(text(root, 'etc/default/grub')).toContain('GRUB_CMDLINE_LINUX_DEFAULT="console=tty0"\n');
    expect(text(root, 'etc/default/grub.d/50-cloudimg-settings.cfg')).toBe('GRUB_CMDLINE_LINUX_DEFAULT="console=tty1 console=ttyS0,115200 systemd.log_level=debug"\n');
  });
  it('appends a line when the file has no GRUB_CMDLINE_LINUX_DEFAULT', () => {
    expect(editGrub(['GRUB_TIMEOUT=5\n'], ['a$b'], [])).toEqual({ texts: ['GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT="a\\$b"\n'] });
  });
  it('does not add what GRUB_CMDLINE_LINUX already has', () => {
    expect(editGrub(['GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=ttyS0,115200"\n'], ['console=ttyS0,115200'], [])).toEqual({ texts: ['GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=ttyS0,115200"\n'] });
  });
  it('refuses a value it cannot edit safely, as a problem', () => {
    const root = makeRoot({ 'etc/default/grub': 'GRUB_CMDLINE_LINUX_DEFAULT="quiet\n  splash"\n' });
    const p = planSteps(context(root, KA), [kernelArgsStep]);
    expect(p.problems).toEqual([expect.objectContaining({ path: ['kernel_arguments'], message: '/etc/default/grub: line 1 (GRUB_CMDLINE_LINUX_DEFAULT) is not a single quoted or unquoted value that flint can edit safely' })]);
  });
});

describe('other boot configurations', () => {
  it('edits /etc/kernel/cmdline, BLS options lines and the Raspberry Pi cmdline.txt', () => {
    const root = makeRoot({
      'etc/kernel/cmdline': 'root=UUID=1234 ro quiet\n',
      'boot/loader/entries/fedora-6.8.conf': 'title Fedora\nversion 6.8\nlinux /vmlinuz-6.8\noptions root=UUID=1234 ro rhgb quiet\ninitrd /initramfs-6.8.img\n',
      'boot/firmware/cmdline.txt': 'console=serial0,115200 console=tty1 root=PARTUUID=abcd-02 rootfstype=ext4 fsck.repair=yes rootwait quiet\n',
      'boot/cmdline.txt': 'DO NOT EDIT: moved to /boot/firmware/cmdline.txt\n',
    });
    const p = applyTwice(context(root, KA));
    expect(text(root, 'etc/kernel/cmdline')).toBe('root=UUID=1234 ro console=ttyS0,115200 systemd.log_level=debug\n');
    expect(text(root, 'boot/loader/entries/fedora-6.8.conf')).toBe('title Fedora\nversion 6.8\nlinux /vmlinuz-6.8\noptions root=UUID=1234 ro rhgb console=ttyS0,115200 systemd.log_level=debug\ninitrd /initramfs-6.8.img\n');
    expect(text(root, 'boot/firmware/cmdline.txt')).toBe('console=serial0,115200 console=tty1 root=PARTUUID=abcd-02 rootfstype=ext4 fsck.repair=yes rootwait console=ttyS0,115200 systemd.log_level=debug\n');
    expect(text(root, 'boot/cmdline.txt')).toBe('DO NOT EDIT: moved to /boot/firmware/cmdline.txt\n');
    expect(p.warnings).toEqual([]);
  });
  it('uses /boot/cmdline.txt on older Raspberry Pi OS', () => {
    const root = makeRoot({ 'boot/cmdline.txt': 'console=tty1 root=/dev/mmcblk0p2 rootwait' });
    applyTwice(context(root, { add: ['quiet'] }));
    expect(text(root, 'boot/cmdline.txt')).toBe('console=tty1 root=/dev/mmcblk0p2 rootwait quiet');
  });
  it('removes only exact tokens, keeps several consoles, and adds options to an entry without any', () => {
    expect(editCmdline('quiet quiet=1 console=tty0 loglevel=3', ['console=ttyS0', 'loglevel=7'], ['quiet', 'console'])).toBe('quiet=1 console=tty0 loglevel=3 console=ttyS0 loglevel=7');
    expect(editCmdline('a  b\n', ['a'], [])).toBe('a  b\n');
    expect(editBlsEntry('title X\noptions a\noptions b\n', ['c'], ['a'])).toBe('title X\noptions\noptions b c\n');
    expect(editBlsEntry('title X\nlinux /v\n', ['c'], [])).toBe('title X\nlinux /v\noptions c\n');
  });
  it('warns when the target has no boot configuration it knows', () => {
    const root = makeRoot({ 'etc/os-release': '' });
    const p = planSteps(context(root, KA), [kernelArgsStep]);
    expect(p.planned).toEqual([]);
    expect(p.problems).toEqual([]);
    expect(p.warnings).toEqual([expect.stringMatching(/^kernel_arguments were not applied/)]);
  });
});
