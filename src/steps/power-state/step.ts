/**
 * The power state step: `power_state` becomes flint-power-state.service, wanted by
 * multi-user.target and ordered after it and graphical.target, so it acts once the
 * first configured boot has come up. It runs once: its first command leaves
 * /var/lib/flint/power-state-done, and the unit's condition skips it on later boots.
 * The action is queued (`systemctl --no-block`) so the service itself finishes.
 */
import type { Step, StepContext, StepOutput } from '../../engine/step.js';
import type { FlintConfig } from '../../config/validate.js';
import { enabledUnit, execWord } from '../systemd/unit-file.js';

const STEP = 'power-state';
export const POWER_STATE_SERVICE = 'flint-power-state.service';
export const POWER_STATE_DONE = '/var/lib/flint/power-state-done';

export function powerStateUnit(ps: NonNullable<FlintConfig['power_state']>): string {
  const delay = ps.delay_seconds ?? 0;
  return [
    '# Written by flint (power_state: in the config): acts once, after the first configured boot.',
    '[Unit]',
    `Description=flint: ${ps.mode} after the first boot`,
    // After the packages too: a reboot must not cut their install short.
    'After=multi-user.target graphical.target flint-packages.service',
    `ConditionPathExists=!${POWER_STATE_DONE}`,
    '',
    '[Service]',
    'Type=oneshot',
    'ExecStart=mkdir -p /var/lib/flint',
    `ExecStart=touch ${POWER_STATE_DONE}`,
    ...(ps.message !== undefined ? [`ExecStart=echo ${execWord(ps.message)}`] : []),
    ...(delay > 0 ? [`ExecStart=sleep ${delay}`] : []),
    `ExecStart=systemctl --no-block ${ps.mode}`,
    'StandardOutput=journal+console',
    // The delay may be long; the default start timeout (90 s) is not.
    'TimeoutStartSec=infinity',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

export const powerStateStep: Step = {
  name: STEP,
  sections: ['power_state'],
  // Last: a reboot waits for the rest of the boot.
  bootUnits: (c) => (c.power_state !== undefined ? [[POWER_STATE_SERVICE]] : []),
  plan(ctx: StepContext): StepOutput {
    const ps = ctx.config.power_state;
    if (ps === undefined) return { actions: [], problems: [], warnings: [] };
    return { actions: enabledUnit(POWER_STATE_SERVICE, powerStateUnit(ps), 'multi-user.target', STEP, `${ps.mode} after the first boot`), problems: [], warnings: [], report: { power_state: { mode: ps.mode, delay_seconds: ps.delay_seconds ?? 0 } } };
  },
};
