/**
 * What the integration tests need of this machine: root, tools (with the Debian package
 * that has each), a free loop device, the bundled executable. A test that lacks one
 * skips with the reason in its title.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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
