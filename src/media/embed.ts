/**
 * Putting a config on a disk image's own FAT boot partition (the one-SD-card
 * Raspberry Pi flow): flint.yaml at the partition's top, payloads beside it at the
 * paths the config names, written with mtools at the partition's byte offset in the
 * image file, so no root, loop device or mount is needed.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec } from '../system/exec.js';
import { ImageError, isFatAt, readPartitions } from './disk-image.js';
import type { PartitionEntry } from './disk-image.js';
import type { PreparedConfig } from './prepare.js';
import { stageFiles } from './medium.js';
import type { MediumFile } from './medium.js';

/** The name `flint run` looks for on the target disk's boot partition. */
export const EMBED_NAME = 'flint.yaml';

/** GPT ESP and Microsoft basic data, and the MBR FAT types. */
const FAT_TYPES = new Set(['C12A7328-F81F-11D2-BA4B-00A0C93EC93B', 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7', '1', '4', '6', 'B', 'C', 'E', 'EF']);

/** The FAT partition to write to: a FAT boot sector at its start; a FAT type and a boot-like name first. */
export function chooseFatPartition(img: string, parts: readonly PartitionEntry[], isFat: (img: string, offset: number) => boolean = isFatAt): PartitionEntry | undefined {
  const fat = parts.filter((p) => isFat(img, p.offset));
  const score = (p: PartitionEntry) => (FAT_TYPES.has(p.type) ? 2 : 0) + (/boot|firmware|efi|esp/i.test(p.name ?? '') ? 1 : 0);
  return [...fat].sort((a, b) => score(b) - score(a) || a.index - b.index)[0];
}

export async function embedConfig(img: string, prepared: PreparedConfig): Promise<PartitionEntry> {
  return embedFiles(img, [{ rel: EMBED_NAME, data: prepared.text }, ...prepared.payloads], EMBED_NAME);
}

/** A change to a file already on the partition (cmdline.txt), made only where the file exists. */
export interface FatEdit {
  rel: string;
  change: (text: string) => string;
}

/**
 * A Raspberry Pi cmdline.txt (one line) with `ds=nocloud;i=ID` in place of any earlier
 * ds= word, as Raspberry Pi Imager writes it: cloud-init then checks its cache against
 * this instance-id instead of treating every boot as a new instance (/run is tmpfs).
 */
export function withNoCloudDs(cmdline: string, instanceId: string, extra: readonly string[] = []): string {
  const words = cmdline.replace(/\r?\n$/, '').split(/\s+/).filter((w) => w !== '' && !w.startsWith('ds=') && !extra.some((e) => w.startsWith(`${e.split('=')[0]!}=`)));
  return `${[...words, ...extra, `ds=nocloud;i=${instanceId}`].join(' ')}\n`;
}

/** FILES (relative paths) onto the image's FAT boot partition, and EDITS to files there; WHAT names them in messages. */
export async function embedFiles(img: string, files: readonly MediumFile[], what: string, edits: readonly FatEdit[] = []): Promise<PartitionEntry & { edited: string[] }> {
  const parts = await readPartitions(img);
  if (parts.length === 0) throw new ImageError(`${img} has no partition table`, 'is it a raw disk image? A config stick is made with: flint drive create CONFIG -o stick.img');
  const part = chooseFatPartition(img, parts);
  if (part === undefined) {
    throw new ImageError(
      `${img} has no FAT partition (its partitions: ${parts.map((p) => `${p.index} type ${p.type}`).join(', ')}), so there is no boot partition to put ${what} on`,
      'apply the config to the image now instead (flint image apply IMAGE CONFIG, as root), or put it on a separate stick (flint drive create CONFIG -o stick.img)',
    );
  }
  const stage = await mkdtemp(join(tmpdir(), 'flint-embed-'));
  try {
    const edited: MediumFile[] = [];
    for (const e of edits) {
      const r = await exec('mtype', ['-i', `${img}@@${part.offset}`, `::/${e.rel}`], { timeoutMs: 60_000 });
      // Not there (not a Raspberry Pi image): nothing to change.
      if (r.ok) edited.push({ rel: e.rel, data: e.change(r.stdout) });
    }
    await stageFiles([...files, ...edited], stage);
    const entries = (await readdir(stage)).map((e) => join(stage, e));
    const r = await exec('mcopy', ['-s', '-Q', '-o', '-i', `${img}@@${part.offset}`, ...entries, '::/'], { timeoutMs: 300_000 });
    if (!r.ok) throw new ImageError(/ENOENT/.test(r.summary) ? 'mcopy is not installed' : `cannot write to the FAT partition ${part.index} of ${img}: ${r.summary}`, /ENOENT/.test(r.summary) ? 'apt-get install mtools' : undefined);
    return { ...part, edited: edited.map((e) => e.rel) };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}
