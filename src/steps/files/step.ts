/**
 * The files step: `files`, `directories` and `links` of the config as desired-state
 * actions. Everything that can fail is found here, before anything is written: a
 * payload that does not match `verify`, gzip data that does not unpack, an unknown
 * owner, an existing file that `overwrite: false` protects, a hard link to nothing.
 *
 * Rules worth knowing:
 * - Data: `contents` (UTF-8), `contents_base64`, or `source` (`data:` decoded here;
 *   `file:` and `https:` read before planning by resolveSources into ctx.payloads).
 *   `compression: gzip` is undone first; `verify` checks the final bytes.
 * - No data at all: a missing file is created empty; an existing one keeps its
 *   contents and only gets mode and owner.
 * - `append`: the file becomes existing + data, unless the existing file already ends
 *   with the data. That is what makes a second apply change nothing; the price is that
 *   data which happens to end the file already (e.g. a single "\n") is not added again.
 * - Files whose mode gives others no read access are treated as secret: their contents
 *   never appear in a diff.
 * - Missing parent folders are root:root 0755 (the engine makes them), except between a
 *   config user's home and the path: those belong to the user (0755), as if the user
 *   had made them, so `~/.config/app/x` does not leave a root-owned `~/.config`.
 * - Order: directories (parents first), then files, then links, so a file can go into
 *   a declared folder and a hard link can point to a declared file.
 */
import { verifyMismatch } from './verify.js';
import { listSources } from '../../engine/step.js';
import { ACCOUNTS } from '../users/step.js';
import type { Accounts } from '../users/step.js';
import { createRequire } from 'node:module';
import type { Directory, File, Link, Owner } from '../../config/generated/model.js';
import type { PathSeg } from '../../config/diagnostics.js';
import { nearest } from '../../config/checks/suggest.js';
import { modeBits } from '../../config/semantic.js';
import type { Action } from '../../engine/actions.js';
import type { Problem, Step, StepContext, StepOutput } from '../../engine/step.js';
import { decodeDataUrl, formatBytes, MAX_PAYLOAD_BYTES, redactUrl } from '../../system/fetch.js';

const STEP = 'files';

let zlibModule: typeof import('node:zlib') | undefined;
function zlib(): typeof import('node:zlib') {
  zlibModule ??= createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib');
  return zlibModule;
}

export const filesStep: Step = {
  name: STEP,
  sections: ['files', 'directories', 'links'],
  needs: [ACCOUNTS],
  sources: (c) => listSources(c, ['files'], 'source'),
  plan(ctx: StepContext): StepOutput {
    const p = new FilesPlanner(ctx);
    const { config } = ctx;
    const dirs = (config.directories ?? []).map((d, i) => ({ d, i }));
    // Stable sort by depth: a folder comes before the folders declared inside it.
    dirs.sort((a, b) => depth(a.d.path) - depth(b.d.path));
    for (const { d, i } of dirs) p.directory(d, i);
    (config.files ?? []).forEach((f, i) => p.file(f, i));
    (config.links ?? []).forEach((l, i) => p.link(l, i));
    return { actions: p.actions, problems: p.problems, warnings: p.warnings };
  },
};

function depth(path: string): number {
  return path.split('/').filter((c) => c !== '').length;
}

class FilesPlanner {
  readonly actions: Action[] = [];
  readonly problems: Problem[] = [];
  readonly warnings: string[] = [];
  /** Paths this step creates, so parents are made once and hard links find their targets. */
  private readonly created = new Set<string>();
  private readonly accounts: Accounts;
  private readonly homes: Array<{ user: string; home: string; uid: number; gid: number }>;

  constructor(private readonly ctx: StepContext) {
    // Longest first: a home inside another home belongs to its own user.
    this.accounts = ctx.facts.get(ACCOUNTS);
    this.homes = [...this.accounts.homes].map(([user, h]) => ({ user, ...h })).filter((h) => h.home !== '/').sort((a, b) => b.home.length - a.home.length);
  }

  directory(d: Directory, i: number): void {
    const at: PathSeg[] = ['directories', i];
    const e = this.ctx.root.entry(d.path);
    if (e.type !== 'missing' && e.type !== 'dir') {
      this.problem([...at, 'path'], `${d.path} exists in the target and is ${describe(e.type)}, not a folder`, 'remove it from the image, or choose another path');
      return;
    }
    const owner = this.owners(d, at, e.type === 'dir' ? e : undefined);
    if (owner === undefined) return;
    this.push({ kind: 'dir', path: d.path, mode: modeOf(d.mode, e.type === 'dir' ? e.mode & 0o7777 : 0o755), ...owner, step: STEP, why: `directories[${i}]` });
  }

  file(f: File, i: number): void {
    const at: PathSeg[] = ['files', i];
    const { root } = this.ctx;
    const e = root.entry(f.path);
    if (e.type === 'dir' || e.type === 'other') {
      this.problem([...at, 'path'], `${f.path} exists in the target and is ${describe(e.type)}, not a file`, 'remove it from the image, or choose another path');
      return;
    }
    const given = this.dataOf(f, at);
    const owner = this.owners(f, at, e.type === 'file' ? e : undefined);
    if (given === undefined || owner === undefined) return;
    const existing = e.type === 'file' ? (root.readFile(f.path) ?? Buffer.alloc(0)) : undefined;
    let data: Buffer;
    if (f.append === true) {
      if (e.type === 'symlink') {
        this.problem([...at, 'append'], `${f.path} is a symbolic link in the target; flint does not append through it`, 'append to the file the link points to');
        return;
      }
      const base = existing ?? Buffer.alloc(0);
      const add = given ?? Buffer.alloc(0);
      data = add.length === 0 || endsWith(base, add) ? base : Buffer.concat([base, add]);
    } else if (given === null) {
      if (e.type === 'symlink') {
        this.problem([...at, 'path'], `${f.path} is a symbolic link in the target; a file without contents would replace it with an empty file`, 'give contents, or remove the entry');
        return;
      }
      data = existing ?? Buffer.alloc(0);
    } else data = given;
    if (f.overwrite === false) {
      if (e.type === 'symlink') {
        this.problem([...at, 'overwrite'], `${f.path} is a symbolic link in the target, and overwrite: false keeps it`, 'remove overwrite: false to replace the link with the file');
        return;
      }
      if (existing !== undefined && !existing.equals(data)) {
        this.problem([...at, 'overwrite'], `${f.path} already exists in the target with different contents, and overwrite: false keeps it`, 'remove overwrite: false to replace it, or remove the entry');
        return;
      }
    }
    // Left out, mode and owner stay what an existing file has: /etc/shadow rewritten or
    // /etc/sudoers appended to must not become world-readable 0644 root:root.
    const mode = modeOf(f.mode, e.type === 'file' ? e.mode & 0o7777 : 0o644);
    const secret = (mode & 0o004) === 0 ? { secret: true } : {};
    this.push({ kind: 'file', path: f.path, data, mode, ...owner, ...secret, step: STEP, why: `files[${i}]` });
  }

  link(l: Link, i: number): void {
    const at: PathSeg[] = ['links', i];
    const { root } = this.ctx;
    const e = root.entry(l.path);
    if (l.hard === true) {
      const t = root.entry(l.target);
      const declared = this.created.has(l.target);
      if (!declared && t.type !== 'file') {
        const why = t.type === 'missing' ? 'does not exist in the target and is not declared under files' : `is ${describe(t.type)}; a hard link needs a regular file`;
        this.problem([...at, 'target'], `the hard link target ${l.target} ${why}`);
        return;
      }
      // A file already there is this link from an earlier apply (same inode), or a copy
      // with the same bytes, which loses nothing when replaced; anything else is data.
      if (e.type === 'file' && root.statIno(l.path) !== root.statIno(l.target) && !sameBytes(root.readFile(l.path), root.readFile(l.target))) {
        this.problem([...at, 'path'], `${l.path} exists in the target as a different file; flint replaces only links`, 'remove the file from the image, or choose another path');
        return;
      }
      if (e.type === 'dir' || e.type === 'other') {
        this.problem([...at, 'path'], `${l.path} exists in the target and is ${describe(e.type)}; flint replaces only links`);
        return;
      }
      if (l.owner !== undefined || l.group !== undefined) this.warnings.push(`links[${i}] (${l.path}): a hard link has the owner and group of its target; owner and group are ignored`);
      this.push({ kind: 'hardlink', path: l.path, target: l.target, step: STEP, why: `links[${i}]` });
      return;
    }
    if (e.type !== 'missing' && e.type !== 'symlink' && !(e.type === 'file' && l.overwrite === true)) {
      this.problem([...at, 'path'], `${l.path} exists in the target and is ${describe(e.type)}; flint replaces ${e.type === 'file' ? 'a file by a link only with overwrite: true' : 'only links and, with overwrite: true, files'}`, e.type === 'file' ? 'add overwrite: true to replace the file, or choose another path' : 'remove it from the image, or choose another path');
      return;
    }
    const owner = this.owners(l, at);
    if (owner === undefined) return;
    // The target is stored as written: resolving it on this machine would point into
    // the installer's file system, not the target's.
    this.push({ kind: 'symlink', path: l.path, target: l.target, ...owner, step: STEP, why: `links[${i}]` });
  }

  /** The bytes to write, null when the entry gives none, undefined after a problem. */
  private dataOf(f: File, at: PathSeg[]): Buffer | null | undefined {
    let data: Buffer;
    let what: string;
    if (f.contents !== undefined) {
      data = Buffer.from(f.contents, 'utf8');
      what = 'contents';
    } else if (f.contents_base64 !== undefined) {
      data = Buffer.from(f.contents_base64.replace(/\s+/g, ''), 'base64');
      what = 'contents_base64';
    } else if (f.source !== undefined) {
      const got = this.sourceData(f.source, [...at, 'source']);
      if (got === undefined) return undefined;
      data = got;
      what = f.source.startsWith('data:') ? 'the data: URL' : f.source.startsWith('file:') ? f.source : redactUrl(f.source);
    } else {
      if (f.verify !== undefined) this.problem([...at, 'verify'], 'verify needs contents, contents_base64 or source to check');
      return null;
    }
    if (f.compression === 'gzip') {
      try {
        data = zlib().gunzipSync(data, { maxOutputLength: MAX_PAYLOAD_BYTES });
      } catch (e) {
        const big = (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
        this.problem([...at, 'compression'], big ? `${what} unpacks to more than ${formatBytes(MAX_PAYLOAD_BYTES)}` : `${what} is not valid gzip data`, big ? undefined : 'remove compression: if the data is not compressed');
        return undefined;
      }
    }
    const wrong = f.verify !== undefined ? verifyMismatch(data, f.verify, `the data of ${what}${f.compression === 'gzip' ? ', unpacked,' : ''}`) : undefined;
    if (wrong !== undefined) {
      this.problem([...at, 'verify'], wrong.message, wrong.hint);
      return undefined;
    }
    return data;
  }

  private sourceData(source: string, at: PathSeg[]): Buffer | undefined {
    if (source.startsWith('data:')) {
      const d = decodeDataUrl(source);
      if (d === undefined) this.problem(at, 'this data: URL cannot be decoded (a comma is needed; ;base64 data must be valid base64)');
      return d;
    }
    if (!source.startsWith('file:') && !/^https:/i.test(source)) {
      this.problem(at, 'a source is a data:, file: or https: URL');
      return undefined;
    }
    const got = this.ctx.payloads.get(source);
    // resolveSources reports why a payload could not be read; this is the case where
    // planning ran without it.
    if (got === undefined) this.problem(at, `${source.startsWith('file:') ? source : redactUrl(source)} was not read before planning`);
    return got;
  }

  /** uid and gid for an entry, undefined after a problem. */
  /** Owner and group by id; one left out is EXISTING's (the entry already there), else root. */
  private owners(o: { owner?: Owner; group?: Owner }, at: PathSeg[], existing?: { uid: number; gid: number }): { uid: number; gid: number } | undefined {
    const uid = o.owner === undefined && existing !== undefined ? existing.uid : this.id(o.owner, this.accounts.users, 'user', [...at, 'owner']);
    const gid = o.group === undefined && existing !== undefined ? existing.gid : this.id(o.group, this.accounts.groups, 'group', [...at, 'group']);
    return uid === undefined || gid === undefined ? undefined : { uid, gid };
  }

  private id(value: Owner | undefined, ids: ReadonlyMap<string, number>, kind: 'user' | 'group', at: PathSeg[]): number | undefined {
    if (value === undefined) return 0;
    if (typeof value === 'number') return value;
    const id = ids.get(value);
    if (id !== undefined) return id;
    // root is 0 everywhere; a target without /etc/passwd entries for it is still served.
    if (value === 'root') return 0;
    if (/^\d+$/.test(value)) return Number(value);
    const near = nearest(value, [...ids.keys()]);
    this.problem(at, `${kind} "${value}" does not exist in the target and is not declared in the config`, near !== undefined ? `did you mean "${near}"?` : `declare it under ${kind}s:, or give a numeric id`);
    return undefined;
  }

  /** Claim `a`, after the folders the user owns between a home and it. */
  private push(a: Action): void {
    for (const dir of this.userParents(a.path)) {
      this.actions.push({ kind: 'dir', path: dir.path, mode: 0o755, uid: dir.uid, gid: dir.gid, step: STEP, why: `folder for ${a.path} in the home of ${dir.user}` });
      this.created.add(dir.path);
    }
    this.actions.push(a);
    this.created.add(a.path);
  }

  /** Missing folders strictly between a config user's home and `path`, outermost first. */
  private userParents(path: string): Array<{ path: string; uid: number; gid: number; user: string }> {
    const h = this.homes.find((x) => path.startsWith(`${x.home}/`));
    if (h === undefined) return [];
    const parts = path.slice(h.home.length + 1).split('/');
    parts.pop();
    const out: Array<{ path: string; uid: number; gid: number; user: string }> = [];
    let cur = h.home;
    for (const c of parts) {
      cur = `${cur}/${c}`;
      if (this.created.has(cur) || this.madeByEarlierStep(h, cur)) continue;
      if (this.ctx.root.entry(cur).type !== 'missing') continue;
      out.push({ path: cur, uid: h.uid, gid: h.gid, user: h.user });
    }
    return out;
  }

  /**
   * Folders in a home that the users or ssh step already plan: claiming them again
   * would be a conflict. The users step copies /etc/skel into a home it creates; the
   * ssh step makes ~/.ssh for a user with keys.
   */
  private madeByEarlierStep(h: { user: string; home: string }, path: string): boolean {
    const u = (this.ctx.config.users ?? []).find((x) => x.name === h.user);
    if (u === undefined) return false;
    const rel = path.slice(h.home.length);
    if (rel === '/.ssh' && (u.ssh_authorized_keys ?? []).length > 0) return true;
    const newHome = (u.system !== true || u.home !== undefined) && this.ctx.root.entry(h.home).type === 'missing';
    return newHome && this.ctx.root.entry(`/etc/skel${rel}`).type === 'dir';
  }

  private problem(path: PathSeg[], message: string, hint?: string): void {
    this.problems.push(hint !== undefined ? { path, message, hint } : { path, message });
  }
}

function modeOf(mode: string | number | undefined, fallback: number): number {
  if (typeof mode === 'number') return mode;
  return mode === undefined ? fallback : modeBits(mode) ?? fallback;
}

function describe(type: string): string {
  switch (type) {
    case 'dir': return 'a folder';
    case 'file': return 'a regular file';
    case 'symlink': return 'a symbolic link';
    default: return 'a device, FIFO or socket';
  }
}

function endsWith(data: Buffer, tail: Buffer): boolean {
  return data.length >= tail.length && data.subarray(data.length - tail.length).equals(tail);
}

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a !== undefined && b !== undefined && a.equals(b);
}
