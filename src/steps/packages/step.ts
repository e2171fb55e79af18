/**
 * The packages step: `packages` is installed by the target's own package manager on the
 * first boot of the configured system, from flint-packages.service, as cloud-init's
 * package module does late in its first boot. Not in the initramfs: there the network
 * is usually not up, and a package manager's changes (maintainer scripts, triggers,
 * its database) are not something flint's journal could roll back file by file. What
 * flint writes now is plain files, planned and rolled back like the rest: the unit, its
 * enable link, and the medium's package files under /var/lib/flint/packages/.
 *
 * The unit runs once: its last command leaves /var/lib/flint/packages-done, so a failed
 * install (a mirror down) is tried again at the next boot, and a finished one never.
 * It waits for network-online.target only when it needs the network (names to install,
 * update or upgrade). Package managers, by the program the target has:
 * - transactional-update (MicroOS, SLE Micro): `pkg install` into a new snapshot, active
 *   from the next boot (the report and the console say so);
 * - apt-get (Debian family): `update`, `upgrade`, `install` with the config files the
 *   image has kept (--force-confold), DEBIAN_FRONTEND=noninteractive;
 * - dnf (Fedora family): `makecache`, `upgrade`, `install`;
 * - zypper (openSUSE): `refresh`, `update`, `install`.
 */
import { listSources } from '../../engine/step.js';
import { basename } from 'node:path';
import type { Action } from '../../engine/actions.js';
import type { Problem, Step, StepContext, StepOutput } from '../../engine/step.js';
import type { FlintConfig } from '../../config/validate.js';
import type { TargetRoot } from '../../target/root.js';
import { enabledUnit, execWord } from '../systemd/unit-file.js';

const STEP = 'packages';
export const PACKAGES_SERVICE = 'flint-packages.service';
export const PACKAGES_DIR = '/var/lib/flint/packages';
const PACKAGES_DONE = '/var/lib/flint/packages-done';

type Packages = NonNullable<FlintConfig['packages']>;

export type Manager = 'transactional-update' | 'apt' | 'dnf' | 'zypper';

const PROGRAMS: ReadonlyArray<readonly [Manager, string]> = [
  ['transactional-update', 'transactional-update'],
  ['apt', 'apt-get'],
  ['dnf', 'dnf'],
  ['zypper', 'zypper'],
];

export function packageManager(root: TargetRoot): Manager | undefined {
  for (const [m, prog] of PROGRAMS) if (['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => root.entry(`${d}/${prog}`).type === 'file')) return m;
  return undefined;
}

/** The commands the unit runs, in order; FILES are the package files' paths in the target. */
export function packageCommands(m: Manager, p: Packages, files: readonly string[]): string[][] {
  const names = p.install ?? [];
  const all = [...names, ...files];
  const update = p.update ?? names.length > 0;
  switch (m) {
    case 'apt': {
      const apt = ['apt-get', '-y', '-q', '-o', 'Dpkg::Options::=--force-confold'];
      return [...(update ? [['apt-get', '-q', 'update']] : []), ...(p.upgrade === true ? [[...apt, 'upgrade']] : []), ...(all.length > 0 ? [[...apt, 'install', ...all]] : [])];
    }
    case 'dnf':
      return [...(update ? [['dnf', '-y', '-q', 'makecache']] : []), ...(p.upgrade === true ? [['dnf', '-y', '-q', 'upgrade']] : []), ...(all.length > 0 ? [['dnf', '-y', '-q', 'install', ...all]] : [])];
    case 'zypper':
      return [...(update ? [['zypper', '--non-interactive', 'refresh']] : []), ...(p.upgrade === true ? [['zypper', '--non-interactive', 'update']] : []), ...(all.length > 0 ? [['zypper', '--non-interactive', 'install', ...all]] : [])];
    case 'transactional-update': {
      // One snapshot for everything: transactional-update's commands each make their own.
      const tu = ['transactional-update', '--non-interactive', '--continue'];
      return [...(p.upgrade === true ? [[...tu, 'up']] : []), ...(all.length > 0 ? [[...tu, 'pkg', 'install', ...all]] : [])];
    }
  }
}

function needsNetwork(p: Packages): boolean {
  return (p.install ?? []).length > 0 || p.update === true || p.upgrade === true;
}

export function packagesUnit(m: Manager, p: Packages, files: readonly string[]): string {
  const net = needsNetwork(p);
  return [
    '# Written by flint (packages: in the config): installs them once, at the first boot of the configured system.',
    '[Unit]',
    'Description=flint: install the config\'s packages',
    ...(net ? ['Wants=network-online.target', 'After=network-online.target'] : []),
    `ConditionPathExists=!${PACKAGES_DONE}`,
    '',
    '[Service]',
    'Type=oneshot',
    ...(m === 'apt' ? ['Environment=DEBIAN_FRONTEND=noninteractive'] : []),
    ...packageCommands(m, p, files).map((argv) => `ExecStart=${argv.map(execWord).join(' ')}`),
    `ExecStart=touch ${PACKAGES_DONE}`,
    'StandardOutput=journal+console',
    // A slow mirror on a small board takes long; systemd's 90 s would cut it off.
    'TimeoutStartSec=2h',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

export const packagesStep: Step = {
  name: STEP,
  sections: ['packages'],
  sources: (c) => listSources(c, ['packages', 'files']),
  bootUnits: (c) => (c.packages !== undefined ? [[PACKAGES_SERVICE]] : []),
  plan(ctx: StepContext): StepOutput {
    const p = ctx.config.packages;
    if (p === undefined || ((p.install ?? []).length === 0 && (p.files ?? []).length === 0 && p.update !== true && p.upgrade !== true)) return { actions: [], problems: [], warnings: [] };
    const m = packageManager(ctx.root);
    if (m === undefined) {
      return { actions: [], problems: [{ path: ['packages'], message: 'the target has no package manager flint knows (transactional-update, apt-get, dnf or zypper)', hint: 'build the packages into the image, or install them from a post script' }], warnings: [] };
    }
    const actions: Action[] = [];
    const problems: Problem[] = [];
    const files: string[] = [];
    (p.files ?? []).forEach((src, i) => {
      const data = ctx.payloads.get(src);
      if (data === undefined) {
        problems.push({ path: ['packages', 'files', i], message: `${src}: no data` });
        return;
      }
      const path = `${PACKAGES_DIR}/${basename(src)}`;
      files.push(path);
      actions.push({ kind: 'file', path, data, mode: 0o644, uid: 0, gid: 0, step: STEP, why: `package file ${basename(src)}` });
    });
    actions.push(...enabledUnit(PACKAGES_SERVICE, packagesUnit(m, p, files), 'multi-user.target', STEP, 'installs the packages at the first boot'));
    const warnings = m === 'transactional-update' ? ['packages: transactional-update installs them into a new snapshot at the first boot; they are there from the boot after it'] : [];
    return { actions, problems, warnings, report: { packages: { manager: m, install: p.install ?? [], files: files.map((f) => basename(f)) } } };
  },
};
