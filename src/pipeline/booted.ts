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
import { bootUnits } from '../steps/index.js';

/**
 * The services to start, as the steps name them (steps/index.ts): units the config
 * enables, its containers' services, and the units flint writes for ca_certificates,
 * swap_file, packages and power_state (last: a reboot waits for the rest of the boot).
 */
export function unitsToStart(config: FlintConfig): string[][] {
  return bootUnits(config);
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
