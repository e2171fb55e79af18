/** Host-side helpers of the VM tests: running tools, locks, loop devices, cleanup. */
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { execa } from 'execa';

export const SBIN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function findProgram(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...SBIN_PATH.split(':')]) {
    if (dir === '') continue;
    try {
      accessSync(path.join(dir, name), fsConstants.X_OK);
      return path.join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Runs a tool; a failure or a timeout throws with the tail of its output. */
export async function sh(file: string, args: readonly string[], timeoutMs = 120_000, input?: string): Promise<string> {
  const r = await execa(file, args, {
    all: true,
    reject: false,
    timeout: timeoutMs,
    env: { PATH: SBIN_PATH, LC_ALL: 'C' },
    ...(input !== undefined ? { input } : { stdin: 'ignore' as const }),
  });
  if (r.exitCode !== 0 || r.timedOut) {
    const why = r.timedOut ? `timed out after ${timeoutMs} ms` : `exit ${String(r.exitCode)}`;
    throw new Error(`${file} ${args.join(' ')} failed (${why}):\n${(r.all ?? '').split('\n').slice(-30).join('\n')}`);
  }
  return r.stdout;
}

function decodeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

async function mountsUnder(dir: string): Promise<string[]> {
  const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((f): f is string => f !== undefined)
    .map(decodeMountPath)
    .filter((m) => m === dir || m.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

/** rm -rf that unmounts whatever is mounted inside the tree first. */
export async function removeTree(dir: string): Promise<void> {
  if (!(await exists(dir))) return;
  const real = await fs.realpath(dir);
  if (real.split('/').length < 3) throw new Error(`refusing to remove ${real}`);
  for (const m of await mountsUnder(real)) {
    const r = await execa('umount', [m], { reject: false, env: { PATH: SBIN_PATH } });
    if (r.exitCode !== 0) await execa('umount', ['--lazy', m], { reject: false, env: { PATH: SBIN_PATH } });
  }
  await fs.rm(real, { recursive: true, force: true, maxRetries: 3 });
}

/** flock(1) on an fd of this process: the kernel drops the lock if the process dies. */
export async function withLock<T>(lockPath: string, waitSeconds: number, fn: () => Promise<T>): Promise<T> {
  await fs.mkdir(path.dirname(lockPath), { recursive: true });
  const handle = await fs.open(lockPath, 'a');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('flock', ['--exclusive', '--timeout', String(waitSeconds), '3'], {
        stdio: ['ignore', 'ignore', 'ignore', handle.fd],
        env: { PATH: SBIN_PATH },
      });
      child.on('error', reject);
      child.on('close', resolve);
    });
    if (code !== 0) throw new Error(`could not lock ${lockPath} within ${waitSeconds} s`);
    return await fn();
  } finally {
    await handle.close();
  }
}

/**
 * A loop device over partition N of a disk image, detached by the returned function. By
 * offset, not --partscan: loop devices here do not expose partitions (max_part=0, no udev).
 */
export async function attachPartition(image: string, n: number): Promise<{ dev: string; detach: () => Promise<void> }> {
  const table = JSON.parse(await sh('sfdisk', ['--json', image])) as { partitiontable: { sectorsize?: number; partitions: { start: number; size: number }[] } };
  const part = table.partitiontable.partitions[n - 1];
  if (part === undefined) throw new Error(`${image} has no partition ${n}`);
  const sector = table.partitiontable.sectorsize ?? 512;
  const dev = (await sh('losetup', ['--find', '--show', '--offset', String(part.start * sector), '--sizelimit', String(part.size * sector), image])).trim();
  return {
    dev,
    detach: async () => {
      await execa('losetup', ['-d', dev], { reject: false, env: { PATH: SBIN_PATH } });
    },
  };
}

/**
 * A cache folder that is built once: when FINALDIR is missing, BUILD fills
 * .build-NAME beside it under a lock (other test files and processes wait for that one
 * build), which is then renamed into place, so FINALDIR only ever holds a finished
 * build. The build folder does not exist yet when BUILD starts. Returns whether it was
 * built by this call.
 */
export async function cachedBuild(finalDir: string, waitSeconds: number, build: (buildDir: string) => Promise<void>): Promise<boolean> {
  if (await exists(finalDir)) return false;
  const buildDir = path.join(path.dirname(finalDir), `.build-${path.basename(finalDir)}`);
  return withLock(`${finalDir}.lock`, waitSeconds, async () => {
    if (await exists(finalDir)) return false;
    await removeTree(buildDir);
    try {
      await build(buildDir);
      await fs.rename(buildDir, finalDir);
    } catch (err) {
      await removeTree(buildDir).catch(() => undefined);
      throw err;
    }
    return true;
  });
}
