/** `flint run`: find the config at first boot and apply it to the target root. */
import { existsSync, readFileSync } from 'node:fs';
import { parseCmdline } from '../discover/cmdline.js';
import { detectFirstBoot } from '../discover/firstboot.js';
import { machineFacts } from '../discover/facts.js';
import { defaultTimeoutMs, discover, DiscoveryError } from '../discover/sources.js';
import { runPlanOrApply } from './apply.js';
import { parseArgs, UsageError } from './args.js';
import { runHelp } from './run-help.js';
import type { Output } from './output.js';

export async function runRun(argv: readonly string[], io: Output): Promise<number> {
  const args = parseArgs(argv, { booleans: ['json'], values: ['sysroot', 'cmdline', 'fw-cfg', 'sys', 'work'] });
  if (args.flags.has('help')) {
    io.out(runHelp);
    return 0;
  }
  if (args.positionals.length > 0) throw new UsageError(`flint run takes no arguments, only options (got "${args.positionals[0]}")`);
  const value = (name: string, dflt: string) => {
    const v = args.flags.get(name);
    return typeof v === 'string' ? v : dflt;
  };
  const sysroot = value('sysroot', '/sysroot');
  const cmdlineFile = value('cmdline', '/proc/cmdline');
  const fwCfg = value('fw-cfg', '/sys/firmware/qemu_fw_cfg');
  const sys = value('sys', '/sys');
  const work = value('work', '/run/flint');
  if (!existsSync(sysroot)) throw new UsageError(`the target root ${sysroot} does not exist`);
  let cmdline: string;
  try {
    cmdline = readFileSync(cmdlineFile, 'utf8');
  } catch {
    throw new UsageError(`--cmdline ${cmdlineFile}: cannot read it`);
  }
  const boot = parseCmdline(cmdline);
  for (const p of boot.problems) io.err(`flint: warning: kernel command line: ${p}`);

  const first = detectFirstBoot(sysroot, boot);
  if (!first.firstBoot) {
    io.out(`flint: not the first boot (${first.reason} in ${sysroot}); nothing to do`);
    return 0;
  }
  io.err(`flint: first boot (${first.reason}); looking for a config`);

  let found: Awaited<ReturnType<typeof discover>>;
  try {
    found = await discover({
      boot,
      sysroot,
      fwCfg,
      sys,
      work,
      timeoutMs: boot.timeoutS !== undefined ? boot.timeoutS * 1000 : defaultTimeoutMs(),
      log: (line) => io.err(`flint: ${line}`),
      countdown: (left) => io.err(`waiting for a config medium: ${left} s left`),
    });
  } catch (e) {
    if (e instanceof DiscoveryError) {
      io.err(`flint: ${e.message}`);
      io.out('flint: no config applied');
      return 1;
    }
    throw e;
  }
  if (found === undefined) {
    if (boot.require) {
      io.out('flint: no flint config found, and flint.require=1 is set: stopping');
      return 1;
    }
    io.out('no flint config found; booting unconfigured');
    return 0;
  }
  io.err(`flint: applying the config from ${found.source}`);
  const facts = machineFacts(sys);
  // The same validate, plan, apply and summary as `flint apply`, facts passed as its flags.
  const applyArgv = ['--root', sysroot];
  if (facts.macs !== undefined) applyArgv.push('--mac', facts.macs.join(','));
  if (facts.serial !== undefined) applyArgv.push('--serial', facts.serial);
  if (facts.machineUuid !== undefined) applyArgv.push('--machine-uuid', facts.machineUuid);
  if (args.flags.has('json')) applyArgv.push('--json');
  applyArgv.push('--', found.configFile);
  return runPlanOrApply(applyArgv, io, true);
}
