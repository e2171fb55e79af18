/**
 * Durability at one point for many files. Instead of an fsync per file and per folder
 * (the disk waits for a journal commit each time: 8,000 of them for 500 users), the
 * caller writes everything of one phase, then calls syncWritten once: one syncfs(2)
 * per filesystem involved, through `sync -f` (coreutils and BusyBox both have it; Node
 * has no binding for syncfs). When that program cannot run or fails, every file and
 * folder is fsynced one by one, which gives the same guarantee, slowly. The apply is
 * synchronous, so this is the one program flint starts without system/exec.ts (spawnSync);
 * `sync` is in the program table (system/programs.ts) all the same.
 */
import { accessSync, closeSync, constants, fsyncSync, openSync, readFileSync, statSync } from 'node:fs';
import { nodeChildProcess } from '../system/lazy-builtins.js';
import { parseMountinfo } from '../system/mount.js';
import { trace } from '../system/trace.js';

/** Up to this many paths are cheaper to fsync than to start a program for. */
const DIRECT_LIMIT = 4;

export interface Written {
  /** Regular files (and the journal's blobs) whose content and metadata must be durable. */
  files: Iterable<string>;
  /** Folders whose entries (new names, renames, removals) must be durable. */
  dirs: Iterable<string>;
}

/**
 * After it returns, everything written to these files and folders before the call is on
 * the disk (or it throws). Which mechanism: FLINT_SYNC=fsync forces the one-by-one way
 * (the tests run both).
 */
export function syncWritten(w: Written): void {
  const files = [...new Set(w.files)];
  const dirs = [...new Set(w.dirs)];
  if (files.length + dirs.length === 0) return;
  if (files.length + dirs.length > DIRECT_LIMIT && process.env.FLINT_SYNC !== 'fsync' && syncfs(dirs.length > 0 ? dirs : files)) return;
  for (const f of files) fsyncPath(f);
  for (const d of dirs) fsyncPath(d);
}

/**
 * syncfs(2) of every filesystem holding one of `paths` (folders: the filesystem their
 * entries are on; a file is on its folder's). False when `sync -f` could not do it.
 */
function syncfs(paths: readonly string[]): boolean {
  const targets = filesystemsOf(paths);
  if (targets.length === 0) return false;
  syncProgram ??= findSync();
  if (syncProgram === '') return false;
  const t0 = performance.now();
  const r = nodeChildProcess().spawnSync(syncProgram, ['-f', '--', ...targets], { stdio: 'ignore' });
  trace(`sync -f ${targets.join(' ')}`, t0);
  return r.error === undefined && r.status === 0;
}

/** Where `sync` is ('' when nowhere): looked up once, not by a PATH search per call. */
let syncProgram: string | undefined;

function findSync(): string {
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d.startsWith('/')), '/usr/bin', '/bin'];
  for (const d of dirs) {
    const p = `${d}/sync`;
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return '';
}

/**
 * One path on each filesystem that holds one of `paths` (host paths with no link in
 * them): the mount point each is under, by the longest prefix among the mount points in
 * /proc/self/mountinfo, which is a string match instead of a stat of 10,000 folders.
 * Without /proc, a stat of each.
 */
function filesystemsOf(paths: readonly string[]): string[] {
  let mounts: string[];
  try {
    mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'))
      .map((m) => m.mountPoint)
      .filter((m) => m.startsWith('/'));
  } catch {
    const byDev = new Map<number, string>();
    for (const p of paths) {
      const st = statSync(p, { throwIfNoEntry: false });
      if (st !== undefined && !byDev.has(st.dev)) byDev.set(st.dev, p);
    }
    return [...byDev.values()];
  }
  const set = new Set(mounts);
  const out = new Set<string>();
  for (const p of paths) {
    let m = p;
    while (m !== '/' && !set.has(m)) {
      const i = m.lastIndexOf('/');
      m = i <= 0 ? '/' : m.slice(0, i);
    }
    out.add(m);
  }
  return [...out];
}

function fsyncPath(p: string): void {
  const fd = openSync(p, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
