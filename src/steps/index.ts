/**
 * The steps, in the order they plan and apply: the one list of flint's domains. Each
 * step says which config sections it owns, which of their values are payloads, which
 * facts it needs and provides, and which units the first-boot runner starts; everything
 * that needs one of those lists derives it from here.
 *
 * The order: storage first (the other steps write into the filesystems it makes);
 * users before ssh and files (they need the accounts: homes, owners by name); ssh before
 * files, so a file under ~/.ssh meets the folder the ssh step made; ca_certificates
 * before the units that use them; scripts last (post scripts see everything applied).
 * The facts part of that order is checked (checkOrder, test/unit/steps.test.ts).
 */
import type { FlintConfig } from '../config/validate.js';
import type { SourceUse, Step } from '../engine/step.js';
import { storageStep } from './storage/step.js';
import { usersStep } from './users/step.js';
import { sshStep } from './ssh/step.js';
import { filesStep } from './files/step.js';
import { caCertificatesStep } from './ca-certificates/step.js';
import { systemStep } from './system/step.js';
import { ntpStep } from './time-sync/step.js';
import { systemdStep } from './systemd/step.js';
import { networkStep } from './network/step.js';
import { containersStep } from './containers/step.js';
import { swapFileStep } from './swap-file/step.js';
import { raspberryPiStep } from './raspberry-pi/step.js';
import { kernelArgsStep } from './kernel-args/step.js';
import { packagesStep } from './packages/step.js';
import { powerStateStep } from './power-state/step.js';
import { scriptsStep } from './scripts/step.js';

export const STEPS: readonly Step[] = [
  storageStep,
  usersStep,
  sshStep,
  filesStep,
  caCertificatesStep,
  systemStep,
  ntpStep,
  systemdStep,
  networkStep,
  containersStep,
  swapFileStep,
  raspberryPiStep,
  kernelArgsStep,
  packagesStep,
  powerStateStep,
  scriptsStep,
];

/** Keys of the format itself, owned by no step. */
export const FORMAT_KEYS: readonly string[] = ['$schema', 'version', 'hosts'];

/** Every section a step owns. */
export function sectionNames(steps: readonly Step[] = STEPS): string[] {
  return steps.flatMap((s) => s.sections);
}

/** The payloads of one section's worth of config (top level or a hosts entry), in step order. */
export function configSources(config: Record<string, unknown>, steps: readonly Step[] = STEPS): SourceUse[] {
  return steps.flatMap((s) => s.sources?.(config) ?? []);
}

/** The units `flint run --booted` starts after its apply, in step order (power_state last). */
export function bootUnits(config: FlintConfig, steps: readonly Step[] = STEPS): string[][] {
  return steps.flatMap((s) => s.bootUnits?.(config) ?? []);
}
