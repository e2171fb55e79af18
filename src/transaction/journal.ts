/**
 * The journal strategy of all-or-nothing: before an action touches a path, the path's
 * prior state (existence, type, content, mode, owner, times, link target) is written
 * under the target and synced. A failure restores every recorded path in reverse
 * order, byte for byte; after a crash, the next run finds the journal and does the
 * same before anything else.
 *
 * Layout, in the target: var/lib/flint/journal/
 *   header.json    the folders flint created to hold the journal (removed at the end)
 *   entries        one JSON line per recorded path, appended and fsynced
 *   blobs/N        the prior content of regular files
 * The folder is 0700 and its files 0600: a prior /etc/shadow is kept there until the
 * transaction ends, and it is removed when it does.
 *
 * Folders flint makes to hold the journal (/var/lib/flint on a root without it) are
 * first named in .flint-journal-parents.json in the deepest folder that exists: a
 * crash before the header is written, or after the journal is removed but before
 * those folders are, would otherwise leave them behind with nothing that says whose
 * they are.
 *
 * Two ways to record: record() writes and syncs one path's prior state at a time;
 * recordAll() writes all of them and syncs once (engine/apply.ts says why that is as
 * safe). A restore puts back only what differs from the prior state, so a path that
 * was recorded but never touched is left as it is (its inode, its hard links).
 */
import { appendFileSync, closeSync, copyFileSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { syncWritten } from '../target/sync.js';
import { entryAt, fsyncDir, parentOf } from '../target/root.js';
import type { TargetRoot } from '../target/root.js';

const JOURNAL = '/var/lib/flint/journal';
const PARENTS_NOTE = '.flint-journal-parents.json';
/** Where the note can be: the folders that may exist when the ones below them do not. */
const NOTE_PLACES = ['/', '/var', '/var/lib'];

interface Prior {
  path: string;
  type: 'missing' | 'file' | 'dir' | 'symlink';
  mode?: number;
  uid?: number;
  gid?: number;
  atimeMs?: number;
  mtimeMs?: number;
  target?: string;
  blob?: number;
  /** Bytes of the blob (recordAll): a blob cut short by a crash is never restored from. */
  size?: number;
}

interface Header {
  /** Target folders that did not exist before the journal was created, outermost first. */
  created: string[];
}

export class Journal {
  private readonly recorded = new Set<string>();
  private blobs = 0;

  private constructor(
    private readonly root: TargetRoot,
    private readonly dir: string,
    private readonly header: Header,
  ) {}

  /**
   * Start a transaction. Fails when an unfinished journal exists: call recover() first.
   * `batched`: the header and the folders are synced by recordAll(), not here (the
   * note naming folders made for the journal still is: it must be on the disk before
   * they are).
   */
  static begin(root: TargetRoot, batched = false): Journal {
    const created: string[] = [];
    for (const p of ['/var', '/var/lib', '/var/lib/flint', JOURNAL]) {
      if (root.entry(p).type === 'missing') created.push(p);
    }
    const dir = root.resolve(JOURNAL, true);
    if (existsSync(`${dir}/header.json`)) throw new Error('an unfinished journal exists in the target; recover it first');
    const parents = created.filter((p) => p !== JOURNAL);
    if (parents.length > 0) {
      const place = parentOf(parents[0]!);
      writeSynced(root.resolve(notePath(place)), JSON.stringify(parents));
      fsyncDir(root.resolve(place, true));
    }
    for (const p of created) {
      mkdirSync(root.resolve(p), { mode: p === JOURNAL ? 0o700 : 0o755 });
      if (!batched) fsyncDir(parentOf(root.resolve(p)));
    }
    mkdirSync(`${dir}/blobs`, { recursive: true, mode: 0o700 });
    const header: Header = { created };
    const journal = new Journal(root, dir, header);
    if (batched) {
      writeFileSync(`${dir}/header.json`, JSON.stringify(header), { mode: 0o600 });
      writeFileSync(`${dir}/entries`, '', { mode: 0o600 });
      journal.unsynced = created.map((p) => parentOf(root.resolve(p)));
      return journal;
    }
    writeSynced(`${dir}/header.json`, JSON.stringify(header));
    writeSynced(`${dir}/entries`, '');
    fsyncDir(dir);
    return journal;
  }

  /** Folders of a batched begin() whose new entries recordAll() must sync. */
  private unsynced: string[] = [];

  /**
   * Record the prior state of every path (those recorded already are skipped), then
   * make the journal durable at one sync point. Nothing of the target may change
   * before this returns.
   */
  recordAll(paths: readonly string[]): void {
    const lines: string[] = [];
    const blobs: string[] = [];
    // Below a path recorded as missing nothing exists either (nothing has changed yet).
    const missing = new Set<string>();
    for (const path of paths) {
      if (this.recorded.has(path)) continue;
      this.recorded.add(path);
      if (missing.has(parentOf(path))) {
        missing.add(path);
        lines.push(JSON.stringify({ path, type: 'missing' } satisfies Prior) + '\n');
        continue;
      }
      const host = this.root.resolve(path);
      const prior = this.priorOf(path, host, (blob) => {
        const file = `${this.dir}/blobs/${blob}`;
        // The kernel copies (or clones) it; the content is not read into memory again.
        copyFileSync(host, file);
        blobs.push(file);
        return lstatSync(file).size;
      });
      if (prior.type === 'missing') missing.add(path);
      lines.push(JSON.stringify(prior) + '\n');
    }
    const entries = `${this.dir}/entries`;
    if (lines.length > 0) appendFileSync(entries, lines.join(''));
    syncWritten({
      files: [...blobs, entries, `${this.dir}/header.json`],
      dirs: [...this.unsynced, this.dir, `${this.dir}/blobs`],
    });
    this.unsynced = [];
  }

  private priorOf(path: string, host: string, saveBlob: (blob: number) => number | undefined): Prior {
    const e = entryAt(host);
    switch (e.type) {
      case 'missing':
        return { path, type: 'missing' };
      case 'file': {
        const blob = this.blobs++;
        const size = saveBlob(blob);
        const st = lstatSync(host);
        return { path, type: 'file', mode: e.mode, uid: e.uid, gid: e.gid, atimeMs: st.atimeMs, mtimeMs: st.mtimeMs, blob, ...(size !== undefined ? { size } : {}) };
      }
      case 'dir':
        return { path, type: 'dir', mode: e.mode, uid: e.uid, gid: e.gid };
      case 'symlink':
        return { path, type: 'symlink', target: e.target, uid: e.uid, gid: e.gid };
      default:
        throw new Error(`${path} is a device, socket or pipe in the target; flint does not replace those`);
    }
  }

  /** Record the prior state of a target path, once per transaction. */
  record(path: string): void {
    if (this.recorded.has(path)) return;
    const host = this.root.resolve(path);
    const prior = this.priorOf(path, host, (blob) => {
      writeSynced(`${this.dir}/blobs/${blob}`, readFileSync(host));
      return undefined;
    });
    const fd = openSync(`${this.dir}/entries`, 'a');
    try {
      appendFileSync(fd, JSON.stringify(prior) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.recorded.add(path);
  }

  /** Success: forget the prior states. */
  commit(): void {
    removeJournal(this.root, this.dir, this.header);
  }

  /** Failure: put every recorded path back as it was. */
  rollback(): void {
    restore(this.root, this.dir);
    removeJournal(this.root, this.dir, this.header);
  }

  /**
   * An unfinished journal from an earlier run (a crash, a power cut) is rolled back.
   * Returns the number of paths restored, or undefined when there was no journal.
   */
  static recover(root: TargetRoot): number | undefined {
    const dir = root.resolve(JOURNAL, true);
    const headerFile = `${dir}/header.json`;
    if (!existsSync(headerFile)) {
      // A crash while the journal was being created leaves a folder without a header:
      // nothing was changed yet. One while it was being removed may leave the folders
      // made to hold it.
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
      removeParents(root);
      return undefined;
    }
    let header: Header;
    try {
      header = JSON.parse(readFileSync(headerFile, 'utf8')) as Header;
    } catch {
      header = { created: [] };
    }
    const n = restore(root, dir);
    removeJournal(root, dir, header);
    return n;
  }
}

function restore(root: TargetRoot, dir: string): number {
  // What was learnt about folders may be wrong now (an apply, or a crash, was between).
  root.forget();
  const text = existsSync(`${dir}/entries`) ? readFileSync(`${dir}/entries`, 'utf8') : '';
  // A line cut short by a crash was never followed by its action: skip it.
  const priors: Prior[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      priors.push(JSON.parse(line) as Prior);
    } catch {
      break;
    }
  }
  for (const p of priors.reverse()) restoreOne(root, dir, p);
  // A crash between creating a temp file and renaming it leaves the temp file behind.
  for (const parent of new Set(priors.map((p) => parentOf(p.path)))) {
    for (const name of root.list(parent)) {
      if (/^\.flint-[0-9a-f]{12}\.tmp$/.test(name)) root.remove(`${parent === '/' ? '' : parent}/${name}`);
    }
  }
  return priors.length;
}

function restoreOne(root: TargetRoot, dir: string, p: Prior): void {
  const now = root.entry(p.path);
  if (unchanged(root, dir, p, now)) return;
  switch (p.type) {
    case 'missing':
      if (now.type === 'dir') rmSync(root.resolve(p.path), { recursive: true, force: true });
      else if (now.type !== 'missing') root.remove(p.path);
      break;
    case 'file': {
      const blob = readFileSync(`${dir}/blobs/${p.blob}`);
      // Only possible if the journal was not durable when the path was changed, which
      // the order of apply rules out; refuse rather than put back a truncated file.
      if (p.size !== undefined && blob.length !== p.size) throw new Error(`the journal's copy of ${p.path} is incomplete (${blob.length} of ${p.size} bytes); not restoring it`);
      if (now.type === 'dir') rmSync(root.resolve(p.path), { recursive: true, force: true });
      root.writeFile(p.path, blob, p.mode!, p.uid!, p.gid!);
      root.setTimes(p.path, p.atimeMs!, p.mtimeMs!);
      break;
    }
    case 'dir':
      if (now.type !== 'dir' && now.type !== 'missing') root.remove(p.path);
      root.mkdir(p.path, p.mode!, p.uid!, p.gid!);
      break;
    case 'symlink':
      if (now.type === 'dir') rmSync(root.resolve(p.path), { recursive: true, force: true });
      root.symlink(p.path, p.target!, p.uid!, p.gid!);
      break;
  }
}

/**
 * Whether the path is still as recorded (a path recorded by recordAll whose action never
 * ran): same type, owner and mode, and for a file the same size, mtime and content.
 */
function unchanged(root: TargetRoot, dir: string, p: Prior, now: ReturnType<TargetRoot['entry']>): boolean {
  switch (p.type) {
    case 'missing':
      return now.type === 'missing';
    case 'dir':
      return now.type === 'dir' && now.mode === p.mode && now.uid === p.uid && now.gid === p.gid;
    case 'symlink':
      return now.type === 'symlink' && now.target === p.target && now.uid === p.uid && now.gid === p.gid;
    case 'file': {
      if (now.type !== 'file' || now.mode !== p.mode || now.uid !== p.uid || now.gid !== p.gid || now.mtimeMs !== p.mtimeMs) return false;
      const blobFile = `${dir}/blobs/${p.blob}`;
      const blobSize = lstatSync(blobFile, { throwIfNoEntry: false })?.size;
      if (now.size !== blobSize) return now.size === p.size && blobSize !== p.size; // a cut-short blob of an untouched file
      return readFileSync(root.resolve(p.path)).equals(readFileSync(blobFile));
    }
  }
}

function removeJournal(root: TargetRoot, dir: string, header: Header): void {
  rmSync(dir, { recursive: true, force: true });
  fsyncDir(parentOf(dir));
  removeParents(root, header.created.filter((p) => p !== JOURNAL));
}

/**
 * Removes the folders flint made to hold the journal, innermost first and only while
 * empty (the apply may have put files there), then the note that named them. Without
 * CREATED (no header left), the note says which.
 */
function removeParents(root: TargetRoot, created?: readonly string[]): void {
  const notes = NOTE_PLACES.filter((place) => existsSync(root.resolve(notePath(place))));
  const listed = created ?? notes.flatMap((place) => readList(root.resolve(notePath(place))));
  // Only the folders flint itself would make, whatever a note says.
  const dirs = [...new Set(listed)].filter((p) => p === '/var' || p === '/var/lib' || p === '/var/lib/flint').sort((a, b) => b.length - a.length);
  for (const p of dirs) {
    const host = root.resolve(p);
    if (!existsSync(host)) continue;
    try {
      rmdirSync(host);
      fsyncDir(parentOf(host));
    } catch {
      break;
    }
  }
  for (const place of notes) {
    rmSync(root.resolve(notePath(place)), { force: true });
    fsyncDir(root.resolve(place, true));
  }
}

function readList(file: string): string[] {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function notePath(place: string): string {
  return `${place === '/' ? '' : place}/${PARENTS_NOTE}`;
}

function writeSynced(file: string, data: string | Buffer): void {
  writeFileSync(file, data, { mode: 0o600 });
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
