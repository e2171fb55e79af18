/**
 * What the integration tests need of this machine: root, tools (with the Debian package
 * that has each), a free loop device, the bundled executable. A test that lacks one
 * skips with the reason in its title.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

export const BIN = new URL('../../dist/flint.mjs', import.meta.url).pathname;
export const SBIN = '/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin';
/** The environment for tools: sbin folders first, as root's PATH has them. */
export const hostEnv = { ...process.env, PATH: `${SBIN}:${process.env.PATH ?? ''}` };

export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `PATH=${SBIN} command -v ${name}`]).status === 0;
}

export interface Support {
  ok: boolean;
  reason?: string;
}

/** Linux, root, every TOOL ([program, Debian package]), a free loop device and, unless bin is false, dist/flint.mjs. */
export function loopSupport(tools: ReadonlyArray<readonly [string, string]>, opts: { bin?: boolean } = {}): Support {
  if (process.platform !== 'linux') return { ok: false, reason: 'needs Linux' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'needs root (losetup, mount)' };
  for (const [tool, pkg] of [['losetup', 'mount'] as const, ...tools]) {
    if (!hasTool(tool)) return { ok: false, reason: `${tool} not installed (apt-get install ${pkg})` };
  }
  if (opts.bin !== false && !existsSync(BIN)) return { ok: false, reason: 'dist/flint.mjs not built (npm run build)' };
  // A container may have the tools but no loop devices.
  const probe = spawnSync('losetup', ['-f'], { encoding: 'utf8', env: hostEnv });
  if (probe.status !== 0) return { ok: false, reason: `no free loop device: ${probe.stderr.trim()}` };
  return { ok: true };
}

/**
 * A scratch folder for one test file, removed after it (registered with afterAll), and
 * `dir(name)` for a new numbered folder in it.
 */
export function scratch(prefix: string): { tmp: string; dir: (name: string) => string } {
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  let n = 0;
  return {
    tmp,
    dir: (name) => {
      const d = join(tmp, `${name}-${++n}`);
      mkdirSync(d, { recursive: true });
      return d;
    },
  };
}

/** The binfmt_misc entry Debian's qemu-user-static ships for aarch64 (F: opened now, so it works in a chroot). */
const QEMU_AARCH64_CONF = '/usr/lib/binfmt.d/qemu-aarch64.conf';
const BINFMT = '/proc/sys/fs/binfmt_misc';

/**
 * Whether this x86_64 machine runs aarch64 programs (qemu-user through binfmt_misc). As
 * root it registers Debian's entry itself, as systemd-binfmt would at boot: a CI machine
 * that just installed qemu-user-static has no running systemd-binfmt to do it.
 */
export function aarch64Support(): Support {
  if (process.arch === 'arm64') return { ok: true };
  if (existsSync(`${BINFMT}/qemu-aarch64`)) return { ok: true };
  if (!existsSync(QEMU_AARCH64_CONF)) return { ok: false, reason: 'qemu-user-static not installed (apt-get install qemu-user-static)' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'needs root to register qemu-aarch64 with binfmt_misc' };
  if (!existsSync(`${BINFMT}/register`)) {
    const m = spawnSync('mount', ['-t', 'binfmt_misc', 'binfmt_misc', BINFMT], { encoding: 'utf8', env: hostEnv });
    if (m.status !== 0) return { ok: false, reason: `binfmt_misc cannot be mounted here: ${m.stderr.trim()}` };
  }
  const line = readFileSync(QEMU_AARCH64_CONF, 'utf8').split('\n').find((l) => l.startsWith(':'));
  try {
    if (line !== undefined) writeFileSync(`${BINFMT}/register`, line);
  } catch (e) {
    return { ok: false, reason: `qemu-aarch64 could not be registered with binfmt_misc: ${(e as Error).message}` };
  }
  return existsSync(`${BINFMT}/qemu-aarch64`) ? { ok: true } : { ok: false, reason: 'qemu-aarch64 did not appear in binfmt_misc' };
}
