/**
 * Whether this boot is the first: the target's /etc/machine-id is missing, empty or
 * `uninitialized` (systemd's own first-boot rule), or the kernel command line says so.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BootOptions } from './cmdline.js';

export interface FirstBoot {
  firstBoot: boolean;
  /** Why, for the console. */
  reason: string;
}

/** The rule itself, on the machine-id file's content (undefined: missing). */
export function decideFirstBoot(machineId: string | undefined, boot: Pick<BootOptions, 'firstbootFlags'>): FirstBoot {
  if (boot.firstbootFlags.length > 0) return { firstBoot: true, reason: `${boot.firstbootFlags.join(', ')} on the kernel command line` };
  if (machineId === undefined) return { firstBoot: true, reason: '/etc/machine-id is missing' };
  const id = machineId.trim();
  if (id === '') return { firstBoot: true, reason: '/etc/machine-id is empty' };
  if (id === 'uninitialized') return { firstBoot: true, reason: '/etc/machine-id is "uninitialized"' };
  return { firstBoot: false, reason: '/etc/machine-id is set' };
}

export function detectFirstBoot(sysroot: string, boot: Pick<BootOptions, 'firstbootFlags'>): FirstBoot {
  let machineId: string | undefined;
  try {
    machineId = readFileSync(join(sysroot, 'etc/machine-id'), 'utf8');
  } catch (e) {
    // Anything but "not there" (a dangling link counts as not there) is not a reason to provision.
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return decideFirstBoot(machineId, boot);
}
