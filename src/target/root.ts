/**
 * The target root: a folder that is somebody else's `/` (a mounted image, /sysroot in the
 * initramfs). Every path is resolved component by component inside it; a symlink in the
 * target is followed relative to the root, as it would be after a chroot, so no path
 * can lead out of it. Writes are atomic: temp file in the same folder, fsync, rename,
 * fsync of the folder.
 */
import { closeSync, fchmodSync, fchownSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, lchownSync, chmodSync, chownSync, writeSync, linkSync, unlinkSync, rmdirSync, utimesSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { nodeCrypto } from '../system/lazy-builtins.js';

/** Symlink hops allowed while resolving one path, as the kernel's MAXSYMLINKS. */
const MAX_HOPS = 40;

export class TargetError extends Error {
  constructor(message: string, readonly path: string) {
    super(message);
  }
}

/** What is at a path, without following a final symlink. */
export type Entry =
  | { type: 'missing' }
  | { type: 'file'; mode: number; uid: number; gid: number; size: number; mtimeMs: number }
  | { type: 'dir'; mode: number; uid: number; gid: number }
  | { type: 'symlink'; target: string; uid: number; gid: number }
  | { type: 'other'; mode: number; uid: number; gid: number };

export class TargetRoot {
  readonly root: string;
  /**
   * Host paths that were real folders (not links) when resolve() met them. Resolving
   * every path component by component costs one lstat per component, and planning a
   * fleet of users resolves /home/NAME/... many times. Only a removal can turn a folder
   * into something else through this class (a file, link or hard link is never put
   * where a folder is: writeFile, symlink and hardlink refuse), so remove() forgets
   * them all; so does forget(), for changes made behind this object's back (the
   * journal's restore, programs run in the target).
   */
  private readonly knownDirs = new Set<string>();
  /**
   * Host paths that were missing when resolve() met them on the way to a deeper path
   * (the new homes while planning). Anything this class creates may fill one, so every
   * write forgets them all.
   */
  private readonly knownMissing = new Set<string>();

  constructor(root: string) {
    const st = lstatSync(root, { throwIfNoEntry: false });
    if (!st || !st.isDirectory()) throw new TargetError(`the target root ${root} is not a folder`, root);
    this.root = root.replace(/\/+$/, '') || '/';
  }

  /**
   * The host path for `path` (absolute, in the target's terms). Intermediate symlinks
   * are followed inside the root; the last component is followed only with
   * `followLast`. A `..` stops at the root, as it does after chroot.
   */
  resolve(path: string, followLast = false): string {
    if (!path.startsWith('/')) throw new TargetError(`not an absolute path: ${path}`, path);
    const todo = path.split('/').filter((c) => c !== '' && c !== '.');
    const cur: string[] = [];
    let hops = 0;
    while (todo.length > 0) {
      const comp = todo.shift()!;
      if (comp === '..') {
        cur.pop();
        continue;
      }
      const isLast = todo.length === 0;
      const host = this.hostOf([...cur, comp]);
      // The last component is looked at only when it is to be followed; a folder met on
      // the way is remembered (see knownDirs).
      if ((isLast && !followLast) || this.knownDirs.has(host) || (!isLast && this.knownMissing.has(host))) {
        cur.push(comp);
        continue;
      }
      const st = lstatSync(host, { throwIfNoEntry: false });
      if (st?.isDirectory() && !isLast) this.knownDirs.add(host);
      if (st === undefined && !isLast) this.knownMissing.add(host);
      if (st?.isSymbolicLink() && (!isLast || followLast)) {
        if (++hops > MAX_HOPS) throw new TargetError(`too many symbolic links resolving ${path}`, path);
        const link = readlinkSync(host);
        const parts = link.split('/').filter((c) => c !== '' && c !== '.');
        if (link.startsWith('/')) cur.length = 0;
        todo.unshift(...parts);
        continue;
      }
      cur.push(comp);
    }
    return this.hostOf(cur);
  }

  /** Forget what resolve() learnt about folders (see knownDirs). */
  forget(): void {
    this.knownDirs.clear();
    this.knownMissing.clear();
  }

  /** The target path a host path inside the root stands for. */
  targetPathOf(host: string): string {
    if (this.root === '/') return host;
    return host === this.root ? '/' : host.slice(this.root.length);
  }

  private hostOf(components: readonly string[]): string {
    const rel = components.join('/');
    return this.root === '/' ? `/${rel}` : rel === '' ? this.root : `${this.root}/${rel}`;
  }

  /** What is at `path` (the last component not followed). */
  entry(path: string): Entry {
    return entryAt(this.resolve(path));
  }

  /** Contents of a regular file, or undefined when there is none (a final symlink is followed inside the root). */
  readFile(path: string): Buffer | undefined {
    const host = this.resolve(path, true);
    const st = lstatSync(host, { throwIfNoEntry: false });
    if (!st || !st.isFile()) return undefined;
    return readFileSync(host);
  }

  readText(path: string): string | undefined {
    return this.readFile(path)?.toString('utf8');
  }

  /** Whether something exists at `path` after following symlinks inside the root. */
  exists(path: string): boolean {
    return lstatSync(this.resolve(path, true), { throwIfNoEntry: false }) !== undefined;
  }

  /** Names in a folder (sorted), or [] when it is missing. */
  list(path: string): string[] {
    const host = this.resolve(path, true);
    const st = lstatSync(host, { throwIfNoEntry: false });
    if (!st?.isDirectory()) return [];
    return readdirSync(host).sort();
  }

  /** Write a regular file atomically, replacing whatever is at the path (a symlink there is replaced, not followed). */
  writeFile(path: string, data: Buffer, mode: number, uid: number, gid: number): void {
    this.knownMissing.clear();
    const host = this.resolve(path);
    const dir = host.slice(0, host.lastIndexOf('/')) || '/';
    const tmp = tempBeside(host);
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off);
      fchownSync(fd, uid, gid);
      // After chown: chown clears setuid/setgid bits.
      fchmodSync(fd, mode);
      fsyncSync(fd);
    } catch (e) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw e;
    }
    closeSync(fd);
    const existing = lstatSync(host, { throwIfNoEntry: false });
    if (existing?.isDirectory()) {
      rmSync(tmp, { force: true });
      throw new TargetError(`${path} is a folder in the target; refusing to replace it with a file`, path);
    }
    renameSync(tmp, host);
    fsyncDir(dir);
  }

  /** Create a folder, or set mode and owner of an existing one. */
  mkdir(path: string, mode: number, uid: number, gid: number, sync = true, fresh = false): void {
    this.knownMissing.clear();
    const host = this.resolve(path);
    // fresh: the caller made the folder above in this run, so nothing should be here:
    // mkdir is tried without a look first (the journal's own folders, /var/lib/flint,
    // are the exception: EEXIST, then as usual).
    let made = false;
    if (fresh) {
      try {
        mkdirSync(host, { mode: 0o700 });
        made = true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    if (!made) {
      const st = lstatSync(host, { throwIfNoEntry: false });
      if (st && !st.isDirectory()) throw new TargetError(`${path} exists in the target and is not a folder`, path);
      if (!st) {
        mkdirSync(host, { mode: 0o700 });
        made = true;
      }
    }
    if (made) {
      this.knownDirs.add(host);
      if (sync) fsyncDir(parentOf(host));
    }
    chownSync(host, uid, gid);
    chmodSync(host, mode);
  }

  /** Replace whatever is at `path` with a symlink. */
  symlink(path: string, target: string, uid: number, gid: number): void {
    this.knownMissing.clear();
    const host = this.resolve(path);
    const st = lstatSync(host, { throwIfNoEntry: false });
    if (st?.isDirectory()) throw new TargetError(`${path} is a folder in the target; refusing to replace it with a link`, path);
    const tmp = tempBeside(host);
    symlinkSync(target, tmp);
    lchownSync(tmp, uid, gid);
    renameSync(tmp, host);
    fsyncDir(parentOf(host));
  }

  /** A hard link at `path` to the existing file `target` (both inside the root). */
  hardlink(path: string, target: string, sync = true): void {
    this.knownMissing.clear();
    const host = this.resolve(path);
    const to = this.resolve(target);
    const st = lstatSync(to, { throwIfNoEntry: false });
    if (!st || st.isDirectory()) throw new TargetError(`the hard link target ${target} does not exist in the target or is a folder`, target);
    const tmp = tempBeside(host);
    linkSync(to, tmp);
    renameSync(tmp, host);
    if (sync) fsyncDir(parentOf(host));
  }

  /** Remove a file, symlink or empty folder; nothing when missing. */
  remove(path: string, sync = true): void {
    const host = this.resolve(path);
    const st = lstatSync(host, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) {
      rmdirSync(host);
      this.knownDirs.clear();
    } else unlinkSync(host);
    if (sync) fsyncDir(parentOf(host));
  }

  /**
   * The first half of writeFile: the content in a temp file beside `path`, owner and
   * mode set, not synced and not yet in place. The caller makes it durable (one sync
   * for many, see engine/apply.ts) and then calls commitStaged.
   *
   * fresh: the folder was made in this run (it is journaled as missing, so a rollback
   * removes it whole): the file goes straight to its path, with no temp file and no
   * rename; `tmp` is then the path itself. Nothing was there, and what is written
   * below a folder that did not exist is never a half-replaced old version.
   */
  stageFile(path: string, data: Buffer, mode: number, uid: number, gid: number, fresh = false): Staged {
    this.knownMissing.clear();
    const host = this.resolve(path);
    if (!fresh && lstatSync(host, { throwIfNoEntry: false })?.isDirectory()) throw new TargetError(`${path} is a folder in the target; refusing to replace it with a file`, path);
    const tmp = fresh ? host : tempBeside(host);
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off);
      fchownSync(fd, uid, gid);
      // After chown: chown clears setuid/setgid bits.
      fchmodSync(fd, mode);
    } catch (e) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw e;
    }
    closeSync(fd);
    return { path, host, tmp, fresh };
  }

  /** The first half of symlink: a temp link beside `path` (see stageFile). */
  stageSymlink(path: string, target: string, uid: number, gid: number, fresh = false): Staged {
    this.knownMissing.clear();
    const host = this.resolve(path);
    if (!fresh && lstatSync(host, { throwIfNoEntry: false })?.isDirectory()) throw new TargetError(`${path} is a folder in the target; refusing to replace it with a link`, path);
    const tmp = fresh ? host : tempBeside(host);
    symlinkSync(target, tmp);
    lchownSync(tmp, uid, gid);
    return { path, host, tmp, fresh };
  }

  /**
   * The second half: the temp file renamed over `path`, not synced. False (and the temp
   * file removed) when `path` no longer resolves to where it was staged, because an
   * action between the two halves replaced a link on its way: the caller then writes
   * it again where it now leads.
   */
  commitStaged(s: Staged): boolean {
    this.knownMissing.clear();
    if (s.tmp === s.host) return true; // written in place (fresh)
    if (this.resolve(s.path) !== s.host) {
      rmSync(s.tmp, { force: true });
      return false;
    }
    const existing = s.fresh ? undefined : lstatSync(s.host, { throwIfNoEntry: false });
    if (existing?.isDirectory()) {
      rmSync(s.tmp, { force: true });
      throw new TargetError(`${s.path} is a folder in the target; refusing to replace it`, s.path);
    }
    renameSync(s.tmp, s.host);
    return true;
  }

  /** Device and inode of a path (final symlink not followed), to tell hard links apart. */
  statIno(path: string): string | undefined {
    const st = lstatSync(this.resolve(path), { throwIfNoEntry: false });
    return st ? `${st.dev}:${st.ino}` : undefined;
  }

  /** Restore times of a file (used by the journal to put a file back exactly). */
  setTimes(path: string, atimeMs: number, mtimeMs: number): void {
    utimesSync(this.resolve(path), atimeMs / 1000, mtimeMs / 1000);
  }
}

/** A file or link written beside its path and not yet renamed into place (TargetRoot.stageFile). */
export interface Staged {
  path: string;
  host: string;
  tmp: string;
  /** Its folder was made in this run: nothing else can be at the path. */
  fresh: boolean;
}

/** A temp name in the folder of `host`; the journal's restore removes leftovers of this pattern. */
function tempBeside(host: string): string {
  // A random prefix per process and a counter: unique without a random draw per file
  // (open 'wx' would refuse a name that exists anyway).
  tempPrefix ??= nodeCrypto().randomBytes(3).toString('hex');
  return `${parentOf(host)}/.flint-${tempPrefix}${(tempCounter++ & 0xffffff).toString(16).padStart(6, '0')}.tmp`;
}
let tempPrefix: string | undefined;
let tempCounter = 0;

export function entryAt(host: string): Entry {
  const st = lstatSync(host, { throwIfNoEntry: false });
  return st ? entryOf(st, host) : { type: 'missing' };
}

function entryOf(st: Stats, host: string): Entry {
  const perm = st.mode & 0o7777;
  if (st.isSymbolicLink()) return { type: 'symlink', target: readlinkSync(host), uid: st.uid, gid: st.gid };
  if (st.isFile()) return { type: 'file', mode: perm, uid: st.uid, gid: st.gid, size: st.size, mtimeMs: st.mtimeMs };
  if (st.isDirectory()) return { type: 'dir', mode: perm, uid: st.uid, gid: st.gid };
  return { type: 'other', mode: perm, uid: st.uid, gid: st.gid };
}

export function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
