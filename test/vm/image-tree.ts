/**
 * What a disk image holds, partition by partition, to show that a command changed
 * exactly what it says: every file of each Linux filesystem (mounted read-only, ext4
 * without replaying its journal) by type, mode, owner and content digest; any other
 * partition (FAT, none) by the digest of its bytes, which nothing may change at all.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { attachPartition, sh } from './host.js';

async function walk(dir: string, rel: string, out: Map<string, string>, prefix: string): Promise<void> {
  for (const name of (await fs.readdir(path.join(dir, rel))).sort()) {
    const r = path.posix.join(rel, name);
    const p = path.join(dir, r);
    const st = await fs.lstat(p);
    const meta = `${(st.mode & 0o170000).toString(8)} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    if (st.isSymbolicLink()) out.set(`${prefix}/${r}`, `${meta} -> ${await fs.readlink(p)}`);
    else if (st.isFile()) out.set(`${prefix}/${r}`, `${meta} ${createHash('sha256').update(await fs.readFile(p)).digest('hex')}`);
    else if (st.isDirectory()) {
      out.set(`${prefix}/${r}/`, meta);
      await walk(dir, r, out, prefix);
    } else out.set(`${prefix}/${r}`, `${meta} rdev ${st.rdev}`);
  }
}

async function bytesDigest(file: string, start: number, end: number): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { start, end: end - 1 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** "pN:/path" -> description, for every partition of DISK. */
export async function imageManifest(disk: string): Promise<Map<string, string>> {
  const table = JSON.parse(await sh('sfdisk', ['--json', disk])) as { partitiontable: { sectorsize?: number; partitions: { start: number; size: number }[] } };
  const sector = table.partitiontable.sectorsize ?? 512;
  const out = new Map<string, string>();
  for (const [i, part] of table.partitiontable.partitions.entries()) {
    const n = i + 1;
    const loop = await attachPartition(disk, n);
    try {
      const type = (await sh('blkid', ['-p', '-s', 'TYPE', '-o', 'value', loop.dev]).catch(() => '')).trim();
      if (!['ext4', 'btrfs', 'xfs'].includes(type)) {
        out.set(`p${n}`, `${type || 'raw'} ${await bytesDigest(disk, part.start * sector, (part.start + part.size) * sector)}`);
        continue;
      }
      const mnt = await fs.mkdtemp(path.join(os.tmpdir(), 'flint-tree-'));
      await sh('mount', ['-t', type, '-o', type === 'ext4' ? 'ro,noload' : type === 'xfs' ? 'ro,norecovery' : 'ro', loop.dev, mnt]);
      try {
        await walk(mnt, '', out, `p${n}:`);
      } finally {
        await sh('umount', [mnt]);
        await fs.rmdir(mnt);
      }
    } finally {
      await loop.detach();
    }
  }
  return out;
}

/** Paths added, removed and changed from BEFORE to AFTER. */
export function manifestDiff(before: Map<string, string>, after: Map<string, string>): { added: string[]; removed: string[]; changed: string[] } {
  const added = [...after.keys()].filter((k) => !before.has(k)).sort();
  const removed = [...before.keys()].filter((k) => !after.has(k)).sort();
  const changed = [...after.keys()].filter((k) => before.has(k) && before.get(k) !== after.get(k)).sort();
  return { added, removed, changed };
}

/**
 * The contents of FILES (absolute paths) in partition PART of DISK, undefined where one
 * is missing. Mounted read-only with the journal replayed: a guest that was killed, not
 * shut down, has its last writes there.
 */
export async function imageFiles(disk: string, part: number, files: readonly string[]): Promise<Record<string, string | undefined>> {
  const loop = await attachPartition(disk, part);
  const mnt = await fs.mkdtemp(path.join(os.tmpdir(), 'flint-files-'));
  try {
    await sh('mount', ['-o', 'ro', loop.dev, mnt]);
    try {
      const out: Record<string, string | undefined> = {};
      for (const f of files) out[f] = await fs.readFile(path.join(mnt, f), 'utf8').catch(() => undefined);
      return out;
    } finally {
      await sh('umount', [mnt]);
    }
  } finally {
    await fs.rmdir(mnt).catch(() => undefined);
    await loop.detach();
  }
}
