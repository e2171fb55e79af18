/**
 * `flint run --booted` applies to a system that is already running: systemd set the
 * host name and loaded the unit files before flint wrote them. This catches the running
 * system up, as an initramfs run never needs to: the host name, a daemon-reload (so
 * Quadlet's generator sees the new .container files), and a start, queued behind the
 * boot's own jobs, for each unit and container the config enables.
 */
import { writeFileSync } from 'node:fs';
import type { FlintConfig } from '../config/validate.js';
import { exec } from '../system/exec.js';
import { CA_SERVICE } from '../steps/ca-certificates/step.js';
import { POWER_STATE_SERVICE } from '../steps/power-state/step.js';
import { PACKAGES_SERVICE } from '../steps/packages/step.js';
import { DEFAULT_SWAP_FILE, swapUnitName } from '../steps/swap-file/step.js';

/**
 * The services to start: units the config enables, its containers' services (Quadlet's
 * NAME.service, else podman's container-NAME.service), and the units flint writes for
 * ca_certificates, swap_file, packages and power_state (last: a reboot waits for the rest of the boot).
 */
export function unitsToStart(config: FlintConfig): string[][] {
  const units = (config.systemd?.units ?? []).filter((u) => u.enabled === true && !/@\.|\.(target|device|mount|swap|slice|scope)$/.test(u.name)).map((u) => [u.name]);
  const containers = (config.containers ?? []).filter((c) => c.enabled !== false).map((c) => [`${c.name}.service`, `container-${c.name}.service`]);
  const ca = (config.ca_certificates ?? []).length > 0 ? [[CA_SERVICE]] : [];
  const swap = config.swap_file !== undefined ? [[swapUnitName(config.swap_file.path ?? DEFAULT_SWAP_FILE)]] : [];
  const packages = config.packages !== undefined ? [[PACKAGES_SERVICE]] : [];
  const power = config.power_state !== undefined ? [[POWER_STATE_SERVICE]] : [];
  return [...ca, ...units, ...containers, ...swap, ...packages, ...power];
}

export async function catchUpBootedSystem(config: FlintConfig, log: (line: string) => void): Promise<void> {
  if (config.hostname !== undefined) {
    try {
      writeFileSync('/proc/sys/kernel/hostname', config.hostname);
    } catch (e) {
      log(`could not set the running host name (${(e as Error).message}); it takes effect at the next boot`);
    }
  }
  const reload = await exec('systemctl', ['daemon-reload'], { timeoutMs: 180_000 });
  if (!reload.ok) {
    log(`systemctl daemon-reload failed (${reload.summary}): units flint wrote start at the next boot`);
    return;
  }
  for (const names of unitsToStart(config)) {
    let started = false;
    for (const name of names) {
      if ((await exec('systemctl', ['start', '--no-block', name], { timeoutMs: 60_000 })).ok) {
        started = true;
        break;
      }
    }
    if (!started) log(`could not queue ${names.join(' or ')} to start on this boot; it starts at the next boot`);
  }
}
