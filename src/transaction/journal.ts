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
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { entryAt, fsyncDir, parentOf } from '../target/root.js';
import type { TargetRoot } from '../target/root.js';

const JOURNAL = '/var/lib/flint/journal';

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

  /** Start a transaction. Fails when an unfinished journal exists: call recover() first. */
  static begin(root: TargetRoot): Journal {
    const created: string[] = [];
    for (const p of ['/var', '/var/lib', '/var/lib/flint', JOURNAL]) {
      if (root.entry(p).type === 'missing') created.push(p);
    }
    const dir = root.resolve(JOURNAL, true);
    if (existsSync(`${dir}/header.json`)) throw new Error('an unfinished journal exists in the target; recover it first');
    for (const p of created) {
      mkdirSync(root.resolve(p), { mode: p === JOURNAL ? 0o700 : 0o755 });
      fsyncDir(parentOf(root.resolve(p)));
    }
    mkdirSync(`${dir}/blobs`, { recursive: true, mode: 0o700 });
    const header: Header = { created };
    writeSynced(`${dir}/header.json`, JSON.stringify(header));
    writeSynced(`${dir}/entries`, '');
    fsyncDir(dir);
    return new Journal(root, dir, header);
  }

  /** Record the prior state of a target path, once per transaction. */
  record(path: string): void {
    if (this.recorded.has(path)) return;
    const host = this.root.resolve(path);
    const e = entryAt(host);
    let prior: Prior;
    switch (e.type) {
      case 'missing':
        prior = { path, type: 'missing' };
        break;
      case 'file': {
        const blob = this.blobs++;
        writeSynced(`${this.dir}/blobs/${blob}`, readFileSync(host));
        const st = lstatSync(host);
        prior = { path, type: 'file', mode: e.mode, uid: e.uid, gid: e.gid, atimeMs: st.atimeMs, mtimeMs: st.mtimeMs, blob };
        break;
      }
      case 'dir':
        prior = { path, type: 'dir', mode: e.mode, uid: e.uid, gid: e.gid };
        break;
      case 'symlink':
        prior = { path, type: 'symlink', target: e.target, uid: e.uid, gid: e.gid };
        break;
      default:
        throw new Error(`${path} is a device, socket or pipe in the target; flint does not replace those`);
    }
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
      // nothing was changed yet.
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
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
  switch (p.type) {
    case 'missing':
      if (now.type === 'dir') rmSync(root.resolve(p.path), { recursive: true, force: true });
      else if (now.type !== 'missing') root.remove(p.path);
      break;
    case 'file': {
      if (now.type === 'dir') rmSync(root.resolve(p.path), { recursive: true, force: true });
      root.writeFile(p.path, readFileSync(`${dir}/blobs/${p.blob}`), p.mode!, p.uid!, p.gid!);
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

function removeJournal(root: TargetRoot, dir: string, header: Header): void {
  rmSync(dir, { recursive: true, force: true });
  let top = parentOf(dir);
  for (const p of [...header.created].reverse()) {
    if (p === JOURNAL) continue;
    const host = root.resolve(p);
    try {
      // Only while empty: the apply may have put files there.
      rmdirSync(host);
      top = parentOf(host);
    } catch {
      break;
    }
  }
  fsyncDir(top);
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
