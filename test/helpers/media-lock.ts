/**
 * One lock for every test that attaches a labelled medium or runs discovery. Discovery
 * scans all block devices of the machine, so two test files that each attach a stick
 * labelled FLINT at the same time (vitest runs files in parallel) would each see two
 * candidates. A directory made with mkdir is the lock: atomic, and it works across
 * vitest's worker processes. A lock left by a dead process is taken over.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

const LOCK = '/run/flint-test-media.lock';
let depth = 0;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function tryTake(): boolean {
  try {
    mkdirSync(LOCK);
    writeFileSync(join(LOCK, 'pid'), String(process.pid));
    return true;
  } catch {
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(LOCK, 'pid'), 'utf8'));
    } catch {
      // The owner made the folder and has not written its pid yet: not stale.
      return false;
    }
    if (Number.isInteger(owner) && !alive(owner)) rmSync(LOCK, { recursive: true, force: true });
    return false;
  }
}

async function acquire(timeoutMs: number): Promise<void> {
  if (depth > 0) return;
  const start = Date.now();
  while (!tryTake()) {
    if (Date.now() - start > timeoutMs) throw new Error(`media lock ${LOCK} still held after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs FN while holding the media lock; re-entrant within one process. */
export async function withMediaLock<T>(fn: () => Promise<T> | T, timeoutMs = 600_000): Promise<T> {
  await acquire(timeoutMs);
  depth++;
  try {
    return await fn();
  } finally {
    depth--;
    if (depth === 0) rmSync(LOCK, { recursive: true, force: true });
  }
}

/**
 * Takes the media lock for a whole test file (beforeAll) and gives the function that
 * releases it (afterAll): for files whose every test attaches media or runs discovery.
 */
export async function holdMediaLock(timeoutMs = 900_000): Promise<() => void> {
  await acquire(timeoutMs);
  depth++;
  return () => {
    depth--;
    if (depth === 0) rmSync(LOCK, { recursive: true, force: true });
  };
}

/** For a file whose every test attaches media or runs discovery: holds the lock from its first test to its last. */
export function lockMediaForThisFile(): void {
  let release: (() => void) | undefined;
  beforeAll(async () => {
    release = await holdMediaLock();
  }, 900_000);
  afterAll(() => release?.());
}
