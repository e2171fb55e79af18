/**
 * Unmounting the folders flint mounted. A process left behind (a script's daemon, a
 * shell in a chroot) can keep a mount busy; flint must still finish, so a failed
 * unmount is retried lazily (detached now, released when the last user goes) rather
 * than left under a target that is about to be booted or a loop device to be detached.
 */
import { exec } from './exec.js';

export interface Unmounted {
  /** Unmounted at once. */
  ok: boolean;
  /** Not at once, but detached lazily. */
  lazy: boolean;
  /** What the first attempt said, for messages. */
  summary: string;
}

export async function unmount(path: string, o: { recursive?: boolean; timeoutMs?: number } = {}): Promise<Unmounted> {
  const rec = o.recursive === true ? ['-R'] : [];
  const timeoutMs = o.timeoutMs ?? 60_000;
  const r = await exec('umount', [...rec, path], { timeoutMs });
  if (r.ok) return { ok: true, lazy: false, summary: r.summary };
  const lazy = await exec('umount', [...rec, '--lazy', path], { timeoutMs: 30_000 });
  return { ok: false, lazy: lazy.ok, summary: r.summary };
}

/** "could not unmount P (why); detached it lazily" for a log, or undefined when it went. */
export function unmountNote(path: string, u: Unmounted): string | undefined {
  return u.ok ? undefined : `could not unmount ${path} (${u.summary})${u.lazy ? '; detached it lazily' : ''}`;
}
