/**
 * Config sticks for the VM: `flint drive create` (FAT32 labelled FLINT) when the bundle
 * has that command, else an ext4 filesystem labelled flint made with mkfs.ext4 -d (no
 * mount needed; this host's kernel has no vfat, the guest's has). Combustion sticks are
 * ext4 labelled combustion with combustion/script only.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { execa } from 'execa';
import { SBIN_PATH, sh } from './host.js';

const BUNDLE = path.resolve('dist/flint.mjs');

/** Whether this bundle has `flint drive create`. */
export async function hasDriveCreate(): Promise<boolean> {
  const r = await execa(process.execPath, [BUNDLE, 'drive', '--help'], { reject: false });
  return r.exitCode === 0 && /flint drive create/.test(r.stdout + r.stderr);
}

/** Writes files (path relative to the folder -> content) into a new folder. */
async function writeTree(dir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, data] of Object.entries(files)) {
    const p = path.join(dir, rel);
    await fs.mkdir(path.dirname(p), { recursive: true });
    await fs.writeFile(p, data, { mode: rel.endsWith('script') ? 0o755 : 0o644 });
  }
}

async function ext4Stick(out: string, label: string, tree: string): Promise<void> {
  await sh('mkfs.ext4', ['-q', '-F', '-L', label, '-d', tree, out, '64M'], 120_000);
}

export interface Stick {
  image: string;
  /** "fat" when made by flint drive create, else "ext4". */
  kind: 'fat' | 'ext4';
}

/**
 * A flint stick from a config folder's files: `flint/config.yaml` plus payloads
 * (e.g. `flint/images/busybox.tar`), keyed by their path on the stick. DRIVEARGS go to
 * `flint drive create` (e.g. `--sign --key K --cert C`).
 */
export async function flintStick(work: string, name: string, files: Record<string, string | Buffer>, useDrive: boolean, driveArgs: readonly string[] = []): Promise<Stick> {
  const tree = path.join(work, `${name}-tree`);
  await fs.rm(tree, { recursive: true, force: true });
  await writeTree(tree, files);
  const image = path.join(work, `${name}.stick.img`);
  await fs.rm(image, { force: true });
  if (useDrive) {
    const r = await execa(process.execPath, [BUNDLE, 'drive', 'create', path.join(tree, 'flint/config.yaml'), '-o', image, ...driveArgs], {
      reject: false,
      all: true,
      env: { PATH: SBIN_PATH },
    });
    if (r.exitCode !== 0) throw new Error(`flint drive create failed (exit ${String(r.exitCode)}):\n${r.all ?? ''}`);
    return { image, kind: 'fat' };
  }
  await ext4Stick(image, 'flint', tree);
  return { image, kind: 'ext4' };
}

/** A Combustion stick: label combustion, combustion/script only. */
export async function combustionStick(work: string, script: string): Promise<string> {
  const tree = path.join(work, 'combustion-tree');
  await fs.rm(tree, { recursive: true, force: true });
  await writeTree(tree, { 'combustion/script': script });
  const image = path.join(work, 'combustion.img');
  await fs.rm(image, { force: true });
  await ext4Stick(image, 'combustion', tree);
  return image;
}

/** A file from a stick image (FAT via mtools, ext4 via debugfs), or undefined. */
export async function readFromStick(stick: Stick, rel: string): Promise<string | undefined> {
  const r =
    stick.kind === 'fat'
      ? await execa('mtype', ['-i', stick.image, `::/${rel}`], { reject: false, env: { PATH: SBIN_PATH } })
      : await execa('debugfs', ['-R', `cat /${rel}`, stick.image], { reject: false, env: { PATH: SBIN_PATH } });
  return r.exitCode === 0 && r.stdout !== '' ? r.stdout : undefined;
}
