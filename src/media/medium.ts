/**
 * Building a config medium as an image file, without root, loop devices or mounts:
 * FAT32 with mkfs.fat -C and mtools, or ISO 9660 with xorriso. The medium holds
 * flint/config.yaml (or .json) and the payloads beside it, at the paths relative to
 * the config that the config itself uses, which is where `flint run` looks
 * (a filesystem labelled FLINT, COMBUSTION, IGNITION, ...: flint/config.yaml).
 */
import { installHint } from '../system/programs.js';
import type { Program } from '../system/programs.js';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { exec } from '../system/exec.js';
import type { ExecResult } from '../system/exec.js';
import type { PreparedConfig } from './prepare.js';

export const MIB = 1024 * 1024;
/** FAT32 needs at least 65 525 clusters: with 512-byte clusters that is just over 32 MiB. */
export const MIN_FAT32_BYTES = 40 * MIB;

export class MediumError extends Error {}

export interface MediumOptions {
  label: string;
  /** Image size in bytes; default: sized to fit. FAT only. */
  size?: number;
  iso?: boolean;
}

/** What a FAT label may hold: 11 bytes, no characters that FAT forbids in names. */
export function checkLabel(label: string, iso: boolean): string | undefined {
  if (label === '') return 'the label is empty';
  if (iso) return /^[A-Za-z0-9_-]{1,32}$/.test(label) ? undefined : `the ISO volume label "${label}" must be 1 to 32 letters, digits, _ or -`;
  return /^[A-Za-z0-9_-]{1,11}$/.test(label) ? undefined : `the FAT label "${label}" must be 1 to 11 letters, digits, _ or -`;
}

/** Bytes a FAT32 image needs for these files: clusters rounded up, tables and slack. */
export function fatSizeFor(fileSizes: readonly number[]): number {
  const cluster = 4096;
  const data = fileSizes.reduce((sum, s) => sum + Math.ceil(Math.max(s, 1) / cluster) * cluster + cluster, 0);
  const wanted = Math.ceil((data * 1.03 + 8 * MIB) / MIB) * MIB;
  return Math.max(MIN_FAT32_BYTES, wanted);
}

/** One file of a medium, relative to its root. */
export interface MediumFile {
  rel: string;
  data: string | Buffer;
}

/** Writes the prepared config and its payloads (and EXTRA files, such as its signature) to a new image file OUT, under flint/. */
export async function buildMedium(prepared: PreparedConfig, out: string, opts: MediumOptions, extra: readonly MediumFile[] = []): Promise<{ bytes: number }> {
  const files: MediumFile[] = [{ rel: join('flint', prepared.name), data: prepared.text }, ...prepared.payloads.map((p) => ({ rel: join('flint', p.rel), data: p.data })), ...extra.map((f) => ({ rel: join('flint', f.rel), data: f.data }))];
  return buildFilesMedium(files, out, opts);
}

/** Writes FILES (e.g. a NoCloud seed at the top, or ignition/config.ign) to a new image file OUT. */
export async function buildFilesMedium(files: readonly MediumFile[], out: string, opts: MediumOptions): Promise<{ bytes: number }> {
  const problem = checkLabel(opts.label, opts.iso === true);
  if (problem !== undefined) throw new MediumError(problem);
  const stage = await mkdtemp(join(tmpdir(), 'flint-medium-'));
  try {
    await stageFiles(files, stage);
    if (opts.iso === true) await buildIso(stage, out, opts.label);
    else await buildFat(files, stage, out, opts);
    return { bytes: (await stat(out)).size };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** The files under STAGE, private to this user while they exist. */
export async function stageFiles(files: readonly MediumFile[], stage: string): Promise<void> {
  for (const f of files) {
    const dest = join(stage, f.rel);
    await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
    await writeFile(dest, f.data, { mode: 0o600 });
  }
}

async function buildFat(files: readonly MediumFile[], stage: string, out: string, opts: MediumOptions): Promise<void> {
  const needed = fatSizeFor(files.map((f) => f.data.length));
  const size = opts.size ?? needed;
  if (size < MIN_FAT32_BYTES) throw new MediumError(`--size ${size} bytes is too small for FAT32; give at least ${MIN_FAT32_BYTES / MIB}MiB`);
  if (size < needed) throw new MediumError(`--size ${Math.floor(size / MIB)}MiB is too small for the config and its payloads; they need about ${needed / MIB}MiB`);
  await rm(out, { force: true });
  // -C creates the file itself: no root and no loop device needed, as with mtools below.
  await run('mkfs.fat', ['-C', '-F', '32', '-n', opts.label, out, String(Math.floor(size / 1024))]);
  for (const top of await readdir(stage)) await copyIntoFat(`${out}`, join(stage, top), '::/');
}

/** Copies the folder SRC recursively into the FAT image IMG (`img` or `img@@OFFSET`) under DEST. */
export async function copyIntoFat(img: string, src: string, dest: string): Promise<void> {
  // -s: recursive, -Q: stop at the first error, -o: overwrite an existing name silently.
  await run('mcopy', ['-s', '-Q', '-o', '-i', img, src, dest]);
}

async function buildIso(stage: string, out: string, label: string): Promise<void> {
  await rm(out, { force: true });
  // Rock Ridge and Joliet keep the names exactly; the label is the volume id flint matches.
  await run('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-V', label, '-o', out, stage], 300_000);
}

async function run(tool: Program, args: string[], timeoutMs = 120_000): Promise<ExecResult> {
  const r = await exec(tool, args, { timeoutMs });
  if (r.exitCode === undefined && !r.timedOut && /ENOENT/.test(r.summary)) throw new MediumError(`${tool} is not installed: ${installHint(tool)}`);
  if (!r.ok) throw new MediumError(r.summary);
  return r;
}
