/**
 * Which first-boot engine a stock disk image runs, read from the image file without
 * root or mounts: debugfs reads an ext2/3/4 root at its partition's offset (e2fsprogs'
 * `FILE?offset=N`). The dracut modules in the root say what its initramfs carries
 * (flint, Ignition, Combustion); /etc/cloud/cloud.cfg says cloud-init. Other root
 * filesystems (btrfs, xfs) cannot be read this way: the answer is then "unknown".
 */
import { exec } from '../system/exec.js';
import { isFatAt, readPartitions } from './disk-image.js';

export type Engine = 'flint' | 'ignition' | 'combustion' | 'cloud-init';

export interface Inspection {
  engine?: Engine;
  /** Why: what was found where, or why nothing could be read. */
  why: string;
}

/** The engine from a root's dracut module names and whether it has cloud-init's config. */
export function engineFrom(modules: readonly string[], hasCloudCfg: boolean): Engine | undefined {
  // flint first: an image made flint-capable keeps the engine it shipped with.
  if (modules.some((m) => /flint/.test(m))) return 'flint';
  if (modules.some((m) => /ignition/.test(m))) return 'ignition';
  if (modules.some((m) => /combustion/.test(m))) return 'combustion';
  return hasCloudCfg ? 'cloud-init' : undefined;
}

async function debugfs(img: string, offset: number, request: string): Promise<{ ok: boolean; out: string }> {
  const r = await exec('debugfs', ['-R', request, `${img}?offset=${offset}`], { timeoutMs: 30_000 });
  // debugfs exits 0 even for a missing path; it says so on standard error.
  return { ok: r.ok && !/not found|Bad magic|Can't read|Could not|Illegal/i.test(r.stderr), out: r.stdout };
}

export async function inspectImage(img: string): Promise<Inspection> {
  if (img.includes('?')) return { why: 'the image\'s file name has a "?", which debugfs reads as the start of options' };
  const parts = await readPartitions(img);
  for (const p of parts) {
    if (isFatAt(img, p.offset)) continue;
    const etc = await debugfs(img, p.offset, 'stat /etc/os-release');
    if (!etc.ok) continue;
    const mods = await debugfs(img, p.offset, 'ls -p /usr/lib/dracut/modules.d');
    // ls -p prints /inode/mode/uid/gid/name/size/ per entry.
    const modules = mods.ok ? mods.out.split('\n').map((l) => l.split('/')[5] ?? '').filter((n) => n !== '' && n !== '.' && n !== '..') : [];
    const where = `partition ${p.index}`;
    // flint image enable's stamp: flint runs from the initramfs or from its first-boot unit.
    if ((await debugfs(img, p.offset, 'stat /usr/lib/flint/enabled.json')).ok) return { engine: 'flint', why: `found /usr/lib/flint/enabled.json (flint image enable) in the root (${where})` };
    const cloud = (await debugfs(img, p.offset, 'stat /etc/cloud/cloud.cfg')).ok;
    const engine = engineFrom(modules, cloud);
    if (engine === undefined) return { why: `the root (${where}) has neither cloud-init nor a flint, Ignition or Combustion dracut module` };
    const what = engine === 'cloud-init' ? '/etc/cloud/cloud.cfg' : `the dracut module ${modules.find((m) => m.includes(engine === 'flint' ? 'flint' : engine))!}`;
    return { engine, why: `found ${what} in the root (${where})` };
  }
  return { why: 'no ext4 root with /etc/os-release found (a btrfs or xfs root, as on MicroOS or Fedora CoreOS, cannot be read without mounting it)' };
}
