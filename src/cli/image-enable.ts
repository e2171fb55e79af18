/** `flint image enable IMAGE`: a stock raw image made to run flint at its first boot (media/enable.ts). */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { ImageError, checkRawImage } from '../media/disk-image.js';
import { enableImage } from '../media/enable.js';
import type { Arch, EnableResult } from '../media/enable.js';
import { loadAnchorFile } from '../trust/policy.js';
import { UsageError } from './args.js';
import type { ParsedArgs } from './args.js';
import type { Output } from './output.js';

const ARCHES: Readonly<Record<string, Arch>> = { x86_64: 'x86_64', amd64: 'x86_64', x64: 'x86_64', aarch64: 'aarch64', arm64: 'aarch64' };

const str = (args: ParsedArgs, name: string) => {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
};

/** --trust A.pem,B.pem: each checked to hold certificates before anything is written. */
function trustFiles(list: string | undefined): Array<{ name: string; pem: string }> {
  if (list === undefined) return [];
  return list.split(',').filter((f) => f !== '').map((file) => {
    if (!existsSync(file)) throw new UsageError(`--trust ${file}: no such file`);
    loadAnchorFile(file);
    const name = basename(file).endsWith('.pem') ? basename(file) : `${basename(file)}.pem`;
    return { name, pem: readFileSync(file, 'utf8') };
  });
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

export async function runEnable(rest: readonly string[], args: ParsedArgs, io: Output): Promise<number> {
  if (rest.length !== 1) throw new UsageError('flint image enable needs one DISK.img');
  const img = rest[0]!;
  for (const f of ['for', 'strict', 'host', 'ignition-version', 'scripts', 'mac', 'serial', 'machine-uuid']) if (args.flags.has(f)) throw new UsageError(`--${f} is not an option of flint image enable`);
  const archFlag = str(args, 'arch');
  const arch = archFlag !== undefined ? ARCHES[archFlag] : undefined;
  if (archFlag !== undefined && arch === undefined) throw new UsageError(`--arch ${archFlag}: give x86_64 or aarch64`);
  if (!existsSync(img) || !statSync(img).isFile()) throw new UsageError(`${img}: no such image file`);
  const trust = trustFiles(str(args, 'trust'));
  if (process.getuid?.() !== 0) {
    io.err('flint: image enable needs root (losetup, mount, and chroot for dracut); run it with sudo');
    return 1;
  }
  const json = args.flags.has('json');
  const flint = str(args, 'flint');
  let r: EnableResult;
  try {
    checkRawImage(img);
    r = await enableImage({ image: img, ...(arch !== undefined ? { arch } : {}), ...(flint !== undefined ? { flint } : {}), trust, log: (l) => io.err(`flint: ${l}`) }, import.meta.url, process.execPath);
  } catch (e) {
    if (!(e instanceof ImageError)) throw e;
    if (json) io.out(JSON.stringify({ ok: false, image: img, error: e.message, ...(e.hint !== undefined ? { hint: e.hint } : {}) }, null, 2));
    else io.err(`flint: ${e.message}${e.hint !== undefined ? `\n  hint: ${e.hint}` : ''}\nflint: nothing in ${img} was changed`);
    return 1;
  }
  if (json) {
    io.out(JSON.stringify({ ok: true, image: img, ...r }, null, 2));
    return 0;
  }
  const how = r.way === 'dracut' ? 'in its initramfs (rebuilt by the image\'s own dracut)' : 'from a first-boot unit in its root (flint-firstboot.service)';
  if (!r.changed) {
    io.out(`${img}: flint is already enabled ${how}; nothing changed`);
    return 0;
  }
  io.out(`${img}: flint (${r.arch}) now runs at first boot ${how}`);
  io.out(`  why: ${r.why}`);
  io.out(`  added ${mb(r.addedBytes)} to the root: /usr/lib/flint/flint (from ${r.flint})${r.way === 'dracut' ? ' and the dracut module' : ' and the unit'}${trust.length > 0 ? `, ${trust.length} trusted certificate${trust.length === 1 ? '' : 's'} in /etc/flint/trust` : ''}`);
  for (const i of r.initrds) io.out(`  ${i.path}: ${mb(i.before)} -> ${mb(i.after)}`);
  io.out('  at first boot it reads a config from a stick (flint drive create), the boot partition (flint image embed), QEMU fw_cfg or flint.config=');
  return 0;
}
