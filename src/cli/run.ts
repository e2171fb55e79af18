/**
 * `flint run`: the first boot (pipeline/first-boot.ts) from the options and the kernel
 * command line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { firstBoot } from '../pipeline/first-boot.js';
import type { Paths } from '../pipeline/first-boot.js';
import { TRUST_DIR } from '../trust/policy.js';
import { parseArgs, UsageError } from './args.js';
import { runHelp } from './run-help.js';
import type { Output } from './output.js';

export async function runRun(argv: readonly string[], io: Output): Promise<number> {
  const args = parseArgs(argv, { booleans: ['json', 'booted'], values: ['sysroot', 'cmdline', 'fw-cfg', 'sys', 'work', 'trust-dir'] });
  if (args.flags.has('help')) {
    io.out(runHelp);
    return 0;
  }
  if (args.positionals.length > 0) throw new UsageError(`flint run takes no arguments, only options (got "${args.positionals[0]}")`);
  const value = (name: string, dflt: string) => {
    const v = args.flags.get(name);
    return typeof v === 'string' ? v : dflt;
  };
  // --booted: started by flint-firstboot.service in the booted root (flint image enable),
  // not in an initramfs: the root is /, systemd has decided that this is the first boot.
  const booted = args.flags.has('booted');
  const paths: Paths = { sysroot: value('sysroot', booted ? '/' : '/sysroot'), fwCfg: value('fw-cfg', '/sys/firmware/qemu_fw_cfg'), sys: value('sys', '/sys'), work: value('work', '/run/flint'), trustDir: value('trust-dir', TRUST_DIR) };
  const cmdlineFile = value('cmdline', '/proc/cmdline');
  if (!existsSync(paths.sysroot)) throw new UsageError(`the target root ${paths.sysroot} does not exist`);
  let cmdline: string;
  try {
    cmdline = readFileSync(cmdlineFile, 'utf8');
  } catch {
    throw new UsageError(`--cmdline ${cmdlineFile}: cannot read it`);
  }
  return firstBoot({ paths, cmdline, booted, json: args.flags.has('json') }, io);
}
