/**
 * What is mounted where (/proc/self/mountinfo), and unmounting the folders flint
 * mounted. A process left behind (a script's daemon, a shell in a chroot) can keep a
 * mount busy; flint must still finish, so a failed unmount is retried lazily (detached now, released when the last user goes) rather
 * than left under a target that is about to be booted or a loop device to be detached.
 */
import { readFileSync, realpathSync } from 'node:fs';
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

export interface Mount {
  /** The subvolume or folder of the filesystem that is mounted, e.g. /@/.snapshots/1/snapshot. */
  root: string;
  mountPoint: string;
  /** Per-mount options, e.g. rw,relatime. */
  options: string[];
  fstype: string;
  source: string;
  superOptions: string[];
}

/** /proc/self/mountinfo, parsed (octal escapes such as \040 decoded). */
export function parseMountinfo(text: string): Mount[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (dash < 0 || f.length < dash + 4) continue;
    out.push({
      root: unescape(f[3]!),
      mountPoint: unescape(f[4]!),
      options: f[5]!.split(','),
      fstype: f[dash + 1]!,
      source: unescape(f[dash + 2]!),
      superOptions: f[dash + 3]!.split(','),
    });
  }
  return out;
}

/** The mount whose mount point is DIR itself (the last one: it hides earlier ones), if any. */
export function mountAt(dir: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): Mount | undefined {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return undefined;
  }
  return parseMountinfo(mountinfo).filter((m) => m.mountPoint === real).at(-1);
}

/**
 * The mount that holds PATH (what `findmnt -T` answers, without starting it): the mount
 * whose mount point is the longest prefix of PATH's real path; the last of several on
 * one point, which hides the others. Undefined when /proc/self/mountinfo cannot be read.
 */
export function mountHolding(path: string, mountinfo?: string): Mount | undefined {
  let text: string;
  let real: string;
  try {
    text = mountinfo ?? readFileSync('/proc/self/mountinfo', 'utf8');
    real = realpathSync(path);
  } catch {
    return undefined;
  }
  // The last mount on a point hides the earlier ones: a map keeps the last.
  const byPoint = new Map(parseMountinfo(text).map((m) => [m.mountPoint, m]));
  for (let p = real; ; p = p.slice(0, Math.max(1, p.lastIndexOf('/')))) {
    const m = byPoint.get(p);
    if (m !== undefined) return m;
    if (p === '/') return undefined;
  }
}
