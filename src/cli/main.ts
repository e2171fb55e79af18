/** flint's command line: one entry point, one file per command. */
import { readFileSync } from 'node:fs';
import { UsageError } from './args.js';
import { processOutput } from './output.js';
import type { Output } from './output.js';
import { runValidate, validateHelp } from './validate.js';
import { applyHelp, planHelp } from './apply-help.js';
import { runHelp } from './run-help.js';
import { driveHelp, imageHelp, initHelp } from './media-help.js';
import { convertHelp } from './convert-help.js';
import { signHelp, verifyHelp } from './trust-help.js';
import { fleetHelp } from './fleet-help.js';
import { nearest } from '../config/checks/suggest.js';

declare const FLINT_VERSION: string | undefined;
export const version = typeof FLINT_VERSION === 'string' ? FLINT_VERSION : '0.0.0-dev';

const mainHelp = `flint ${version}: first-boot provisioner

Usage: flint COMMAND [OPTIONS]

Commands:
  validate FILE...         check configs (YAML or JSON) and show every problem with its line
  plan --root DIR CONFIG   show what applying CONFIG to a target root would change
  apply --root DIR CONFIG  apply CONFIG to a target root, all or nothing
  run                      at first boot: find the config (command line, fw_cfg, media) and apply it
  init                     write a new config, asking a few questions (or from options)
  drive create|write       make a config stick (for flint, or --for ignition|cloud-init): an image file, or straight onto a USB stick
  image apply|embed        apply a config to a raw disk image, or put it on the image's boot partition
  convert FILE             print the flint config for an Ignition, cloud-init or Combustion config,
                           or (--to ignition|cloud-init) a flint config as that engine's config
  sign CONFIG --key --cert sign a config and every payload it names (writes CONFIG.sig)
  verify CONFIG            show who signed a config, when, and whether the signer is trusted
  fleet build CONFIG -o DIR
                           one config per machine of CONFIG's hosts:, for a static web server

Run "flint help COMMAND" or "flint COMMAND --help" for a command's options.
Options: --help, --version`;

interface Command {
  help: string;
  /** validate is synchronous (start-up time); commands that fetch or write may be async. */
  run(argv: readonly string[], io: Output): number | Promise<number>;
}

const commands: Record<string, Command> = {
  validate: { help: validateHelp, run: (argv, io) => runValidate(argv, io, () => readFileSync(0, 'utf8')) },
  // Loaded on demand: the engine and its steps cost start-up time that validate never needs.
  plan: { help: planHelp, run: async (argv, io) => (await import('./apply.js')).runPlanOrApply(argv, io, false) },
  apply: { help: applyHelp, run: async (argv, io) => (await import('./apply.js')).runPlanOrApply(argv, io, true) },
  run: { help: runHelp, run: async (argv, io) => (await import('./run.js')).runRun(argv, io) },
  init: { help: initHelp, run: async (argv, io) => (await import('./init.js')).runInit(argv, io) },
  drive: { help: driveHelp, run: async (argv, io) => (await import('./drive.js')).runDrive(argv, io) },
  image: { help: imageHelp, run: async (argv, io) => (await import('./image.js')).runImage(argv, io) },
  convert: { help: convertHelp, run: async (argv, io) => (await import('./convert.js')).runConvert(argv, io) },
  sign: { help: signHelp, run: async (argv, io) => (await import('./sign.js')).runSign(argv, io) },
  verify: { help: verifyHelp, run: async (argv, io) => (await import('./sign.js')).runVerify(argv, io) },
  fleet: { help: fleetHelp, run: async (argv, io) => (await import('./fleet.js')).runFleet(argv, io) },
};

export function main(argv: readonly string[], io: Output): number | Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h') {
    io.out(mainHelp);
    return first === undefined ? 2 : 0;
  }
  if (first === '--version' || first === '-V') {
    io.out(version);
    return 0;
  }
  try {
    if (first === 'help') {
      const topic = rest[0];
      if (topic === undefined) {
        io.out(mainHelp);
        return 0;
      }
      const cmd = commands[topic];
      if (!cmd) throw new UsageError(unknownCommand(topic));
      io.out(cmd.help);
      return 0;
    }
    const cmd = commands[first];
    if (!cmd) throw new UsageError(unknownCommand(first));
    const r = cmd.run(rest, io);
    return typeof r === 'number' ? r : r.catch((e: unknown) => failure(e, io));
  } catch (e) {
    return failure(e, io);
  }
}

function failure(e: unknown, io: Output): number {
  if (e instanceof UsageError) {
    io.err(`flint: ${e.message}\nRun "flint --help" for usage.`);
    return 2;
  }
  // A bug, not bad input: say so plainly; the stack only with FLINT_DEBUG=1.
  io.err(`flint: internal error: ${(e as Error).message}\nThis is a bug in flint; please report it${process.env.FLINT_DEBUG ? '' : ' (FLINT_DEBUG=1 shows the stack)'}.`);
  if (process.env.FLINT_DEBUG) io.err(String((e as Error).stack));
  return 3;
}

function unknownCommand(name: string): string {
  const near = nearest(name, Object.keys(commands));
  return `unknown command "${name}"${near !== undefined ? ` (did you mean "${near}"?)` : ''}`;
}

export { processOutput };
