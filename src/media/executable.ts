/**
 * The self-contained flint executables (dist/flint-linux-x64, dist/flint-linux-arm64,
 * made by scripts/build-sea.mjs): which architecture an ELF file is for, and where the
 * one for an architecture is, for the commands that put flint on an image or a stick.
 */
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ImageError } from './disk-image.js';

import type { Arch } from './executable-names.js';
import { EXECUTABLE_NAME } from './executable-names.js';

export type { Arch };
export { EXECUTABLE_NAME };

/** ELF e_machine values. */
const MACHINES: Readonly<Record<number, Arch>> = { 0x3e: 'x86_64', 0xb7: 'aarch64' };

/** The architecture an ELF file is for, or undefined when it is not an ELF file flint knows. */
export function elfArch(file: string): Arch | undefined {
  const head = Buffer.alloc(20);
  let n = 0;
  try {
    const fd = openSync(file, 'r');
    try {
      n = readSync(fd, head, 0, 20, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  if (n < 20 || head.toString('latin1', 0, 4) !== '\x7fELF') return undefined;
  return MACHINES[head.readUInt16LE(18)];
}

/** The executable for ARCH: --flint, else beside the running program (dist/, or the self-contained flint itself). */
export function findExecutable(arch: Arch, given: string | undefined, programUrl: string, execPath: string): string {
  if (given !== undefined) {
    if (!existsSync(given)) throw new ImageError(`--flint ${given}: no such file`);
    const a = elfArch(given);
    if (a !== arch) throw new ImageError(`--flint ${given} is ${a !== undefined ? `for ${a}` : 'not a Linux executable'}, and the image is ${arch}`, `give the ${EXECUTABLE_NAME[arch]} that npm run build:sea makes`);
    return given;
  }
  const candidates = [join(dirname(new URL(programUrl).pathname), EXECUTABLE_NAME[arch]), join(dirname(execPath), EXECUTABLE_NAME[arch])];
  // Run as the self-contained flint of the image's own architecture: itself.
  if (basename(execPath).startsWith('flint') && elfArch(execPath) === arch) candidates.push(execPath);
  const found = candidates.find((c) => existsSync(c) && elfArch(c) === arch);
  if (found === undefined) throw new ImageError(`no self-contained flint for ${arch} (looked for ${[...new Set(candidates)].join(', ')})`, `build it with npm run build:sea, or give one with --flint FILE`);
  return found;
}
