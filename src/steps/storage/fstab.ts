/**
 * /etc/fstab entries for the config's filesystems, by UUID. An existing line for the same
 * mount point (for swap: the same device) is replaced in place, so moving /var from a
 * btrfs subvolume (MicroOS) to a partition leaves one /var line; other lines, comments
 * and spacing are kept byte for byte.
 */

export interface FstabEntry {
  /** UUID=... */
  spec: string;
  /** Mount point, or "none" for swap. */
  file: string;
  vfstype: string;
  options: string[];
  pass: number;
}

export function entryLine(e: FstabEntry): string {
  const opts = e.options.length > 0 ? e.options.join(',') : 'defaults';
  return `${e.spec} ${escapeField(e.file)} ${e.vfstype} ${opts} 0 ${e.pass}`;
}

/** fstab escapes spaces and tabs as octal. */
function escapeField(s: string): string {
  return s.replace(/\\/g, '\\134').replace(/ /g, '\\040').replace(/\t/g, '\\011');
}

function unescapeField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** fsck order: 0 for filesystems that check themselves at mount (btrfs, xfs) and swap. */
export function passFor(format: string): number {
  return format === 'ext4' || format === 'vfat' ? 2 : 0;
}

/** The fstab text with `entries` in it. */
export function editFstab(text: string | undefined, entries: readonly FstabEntry[]): string {
  const lines = text === undefined || text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const done = new Set<FstabEntry>();
  const out: string[] = [];
  for (const line of lines) {
    const f = line.trim().startsWith('#') ? [] : line.trim().split(/\s+/);
    const match = f.length >= 3 ? entries.find((e) => (e.vfstype === 'swap' ? f[2] === 'swap' && f[0] === e.spec : unescapeField(f[1]!) === e.file)) : undefined;
    if (match === undefined) {
      out.push(line);
    } else if (!done.has(match)) {
      out.push(entryLine(match));
      done.add(match);
    }
    // A second line for a mount point flint now owns would mount over it: dropped.
  }
  for (const e of entries) if (!done.has(e)) out.push(entryLine(e));
  return out.join('\n') + '\n';
}

/** The first entry for a mount point in an fstab text, if any. */
export function findEntry(text: string | undefined, file: string): { spec: string; vfstype: string; options: string[] } | undefined {
  for (const line of (text ?? '').split('\n')) {
    if (line.trim().startsWith('#')) continue;
    const f = line.trim().split(/\s+/);
    if (f.length >= 3 && unescapeField(f[1]!) === file) return { spec: f[0]!, vfstype: f[2]!, options: (f[3] ?? 'defaults').split(',') };
  }
  return undefined;
}
