/**
 * Whether this boot is the first: the target's /etc/machine-id is missing, empty or
 * `uninitialized` (systemd's own first-boot rule), or the kernel command line says so.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BootOptions } from './cmdline.js';

export interface FirstBoot {
  firstBoot: boolean;
  /** Why, for the console. */
  reason: string;
}

/**
 * Written by `flint run` into the root it configured. flint leaves /etc/machine-id alone
 * (systemd's first-boot work, presets and systemd-machine-id-commit, still needs to see a
 * first boot); until systemd has committed the id, this file says flint is done. It is in
 * /etc, not /var: the initramfs sees only the root filesystem.
 */
export const DONE_MARKER = '/etc/.flint-result.json';

/** The rule itself, on the machine-id file's content (undefined: missing) and whether flint's marker is there. */
export function decideFirstBoot(machineId: string | undefined, boot: Pick<BootOptions, 'firstbootFlags'>, done = false): FirstBoot {
  if (boot.firstbootFlags.length > 0) return { firstBoot: true, reason: `${boot.firstbootFlags.join(', ')} on the kernel command line` };
  const id = machineId?.trim();
  let reason: string;
  if (id === undefined) reason = '/etc/machine-id is missing';
  else if (id === '') reason = '/etc/machine-id is empty';
  else if (id === 'uninitialized') reason = '/etc/machine-id is "uninitialized"';
  else return { firstBoot: false, reason: '/etc/machine-id is set' };
  if (done) return { firstBoot: false, reason: `${reason}, but ${DONE_MARKER} says flint already configured it (flint.firstboot runs it again)` };
  return { firstBoot: true, reason };
}

export function detectFirstBoot(sysroot: string, boot: Pick<BootOptions, 'firstbootFlags'>): FirstBoot {
  let machineId: string | undefined;
  try {
    machineId = readFileSync(join(sysroot, 'etc/machine-id'), 'utf8');
  } catch (e) {
    // Anything but "not there" (a dangling link counts as not there) is not a reason to provision.
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return decideFirstBoot(machineId, boot, existsSync(join(sysroot, DONE_MARKER.slice(1))));
}

/**
 * Left by `flint run --booted` when the first boot found no config: that boot was the
 * first, and the next one is not (as the machine-id rule says for the initramfs).
 */
export const NO_CONFIG_MARKER = '/var/lib/flint/first-boot-without-config';

/**
 * In the booted root (flint run --booted) /etc/machine-id cannot tell: systemd has
 * written a new ID into it before any unit ran. flint's own markers decide instead:
 * configured (DONE_MARKER), or a first boot that found no config (NO_CONFIG_MARKER).
 */
export function bootedFirstBoot(root: string): FirstBoot {
  if (existsSync(join(root, DONE_MARKER.slice(1)))) return { firstBoot: false, reason: `${DONE_MARKER} says flint already configured it` };
  if (existsSync(join(root, NO_CONFIG_MARKER.slice(1)))) return { firstBoot: false, reason: `${NO_CONFIG_MARKER} says the first boot found no config` };
  return { firstBoot: true, reason: `neither ${DONE_MARKER} nor ${NO_CONFIG_MARKER} is there (flint-firstboot.service)` };
}
