/**
 * `flint image enable`: make a stock raw image run flint itself at its first boot, by
 * adding the self-contained flint (dist/flint-linux-ARCH) and the pieces that start it.
 *
 * Two ways, chosen from what the image has:
 * - dracut: the image builds its initramfs with dracut and boots systemd. flint's dracut
 *   module goes into the image and the image's own dracut, run in a chroot (qemu-user
 *   for a foreign architecture), rebuilds each kernel's initramfs with it. flint then runs
 *   in the initramfs, before the root is used: storage, snapshots, everything.
 * - first-boot unit: the image boots systemd but has no dracut (initramfs-tools, as on
 *   Debian and Raspberry Pi OS, or no initramfs at all). flint-firstboot.service runs
 *   flint in the booted root, once (flint's own markers), after the local filesystems
 *   and before the network and sshd.
 * Anything else (no systemd) is refused. A stamp (/usr/lib/flint/enabled.json) records
 * what was added and each initramfs's digest, so a second run finds nothing to do.
 */
import { unmount } from '../system/mount.js';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statfsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { exec } from '../system/exec.js';
import { AttachedImage, ImageError } from './disk-image.js';
import { INITRD_FILES } from './generated/initrd-files.js';
import { elfArch, findExecutable } from './executable.js';
import type { Arch } from './executable.js';

export type { Arch } from './executable.js';

export type EnableWay = 'dracut' | 'firstboot-unit';

export const FLINT_PATH = '/usr/lib/flint/flint';
export const STAMP_PATH = '/usr/lib/flint/enabled.json';
const MODULE_DIR = '/usr/lib/dracut/modules.d/95flint';
const UNIT = 'flint-firstboot.service';
const UNIT_DIR = '/usr/lib/systemd/system';

/** The image's architecture, from a program every systemd or busybox root has as a regular file. */
export function rootArch(root: string): Arch | undefined {
  for (const rel of ['usr/lib/systemd/systemd', 'lib/systemd/systemd', 'usr/bin/bash', 'bin/bash', 'usr/bin/busybox', 'bin/busybox']) {
    const p = join(root, rel);
    if (existsSync(p) && lstatSync(p).isFile()) return elfArch(p);
  }
  return undefined;
}

export interface Kernel {
  version: string;
  /** The initramfs path in the root, as the distribution names it. */
  initrd: string;
}

/** Debian/Ubuntu, Fedora, openSUSE names of a kernel's initramfs. */
const INITRD_NAMES = (v: string) => [`boot/initrd.img-${v}`, `boot/initramfs-${v}.img`, `boot/initrd-${v}`, `usr/lib/modules/${v}/initrd`];

/** Kernels with modules in the root and the initramfs each boots with (undefined: none found). */
export function kernelsOf(root: string): Array<{ version: string; initrd?: string }> {
  const out: Array<{ version: string; initrd?: string }> = [];
  for (const dir of ['usr/lib/modules', 'lib/modules']) {
    let versions: string[];
    try {
      versions = readdirSync(join(root, dir)).sort();
    } catch {
      continue;
    }
    for (const version of versions) {
      if (out.some((k) => k.version === version) || !existsSync(join(root, dir, version, 'modules.dep'))) continue;
      const initrd = INITRD_NAMES(version).find((rel) => existsSync(join(root, rel)) && lstatSync(join(root, rel)).isFile());
      out.push({ version, ...(initrd !== undefined ? { initrd: `/${initrd}` } : {}) });
    }
  }
  return out;
}

export type WayChoice = { way: 'dracut'; why: string; kernels: Kernel[] } | { way: 'firstboot-unit'; why: string };

/** Which way the image can run flint at first boot, and why; throws ImageError where none can. */
export function chooseWay(root: string): WayChoice {
  const has = (...rels: string[]) => rels.some((r) => existsSync(join(root, r)));
  if (!has('usr/lib/systemd/systemd', 'lib/systemd/systemd')) {
    throw new ImageError(
      'the image does not boot systemd (no /usr/lib/systemd/systemd), so neither flint\'s dracut module nor its first-boot unit can run in it',
      'apply the config offline instead (flint image apply IMAGE CONFIG), or, where the image runs cloud-init, give it a seed (flint image embed IMAGE CONFIG --for cloud-init)',
    );
  }
  const kernels = kernelsOf(root);
  if (has('usr/bin/dracut', 'usr/sbin/dracut', 'sbin/dracut')) {
    const withInitrd = kernels.filter((k): k is Kernel => k.initrd !== undefined);
    if (withInitrd.length > 0) return { way: 'dracut', why: `the image builds its initramfs with dracut (${withInitrd.map((k) => k.initrd).join(', ')}): flint joins it and runs before the root is used`, kernels: withInitrd };
    return { way: 'firstboot-unit', why: `the image has dracut but no initramfs for ${kernels.length > 0 ? `kernel ${kernels.map((k) => k.version).join(', ')}` : 'any kernel in /usr/lib/modules'}: flint runs from the booted root instead` };
  }
  const tool = has('usr/sbin/update-initramfs', 'sbin/update-initramfs') ? 'initramfs-tools, whose busybox initramfs has no systemd to start flint' : kernels.some((k) => k.initrd !== undefined) ? 'an initramfs flint cannot rebuild (no dracut)' : 'no initramfs';
  return { way: 'firstboot-unit', why: `the image boots with ${tool}: flint runs early in the booted root, before the network and sshd` };
}

/** A file flint adds to the image. */
interface Addition {
  path: string;
  data?: Buffer;
  /** A symbolic link's target, instead of data. */
  link?: string;
  mode: number;
}

export interface EnableOptions {
  image: string;
  arch?: Arch;
  /** The self-contained flint to install; default: dist/flint-linux-ARCH beside this program. */
  flint?: string;
  /** Trusted certificates (PEM) for signed configs, installed in /etc/flint/trust. */
  trust: ReadonlyArray<{ name: string; pem: string }>;
  log(line: string): void;
}

export interface EnableResult {
  way: EnableWay;
  why: string;
  arch: Arch;
  /** False when the image already was enabled with this flint and these files. */
  changed: boolean;
  /** Bytes added to the root (files), and each initramfs's size before and after. */
  addedBytes: number;
  initrds: Array<{ path: string; before: number; after: number }>;
  flint: string;
}

interface Stamp {
  flint_sha256: string;
  way: EnableWay;
  arch: Arch;
  files: string[];
  initrds: Array<{ path: string; sha256: string }>;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function additions(choice: WayChoice, binary: Buffer, trust: EnableOptions['trust']): Addition[] {
  const text = (rel: string) => Buffer.from(INITRD_FILES[rel] ?? '');
  const out: Addition[] = [{ path: FLINT_PATH, data: binary, mode: 0o755 }];
  if (choice.way === 'dracut') {
    for (const rel of Object.keys(INITRD_FILES).filter((r) => r.startsWith('dracut/95flint/'))) {
      out.push({ path: `${MODULE_DIR}/${basename(rel)}`, data: text(rel), mode: rel.endsWith('.sh') ? 0o755 : 0o644 });
    }
  } else {
    out.push({ path: `${UNIT_DIR}/${UNIT}`, data: text(`firstboot/${UNIT}`), mode: 0o644 });
    // Enabled where the vendor's units are, not in /etc: the image's /etc stays as it was.
    out.push({ path: `${UNIT_DIR}/sysinit.target.wants/${UNIT}`, link: `../${UNIT}`, mode: 0o777 });
  }
  for (const t of trust) out.push({ path: `/etc/flint/trust/${t.name}`, data: Buffer.from(t.pem), mode: 0o644 });
  return out;
}

/** Whether PATH in ROOT already is exactly A. */
function inPlace(root: string, a: Addition): boolean {
  const p = join(root, a.path);
  try {
    const st = lstatSync(p);
    if (a.link !== undefined) return st.isSymbolicLink() && readlinkSync(p) === a.link;
    return st.isFile() && (st.mode & 0o7777) === a.mode && readFileSync(p).equals(a.data!);
  } catch {
    return false;
  }
}

function readStamp(root: string): Stamp | undefined {
  try {
    return JSON.parse(readFileSync(join(root, STAMP_PATH), 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
}

/** Everything already there: the files, and each initramfs as flint last built it. */
function alreadyEnabled(root: string, choice: WayChoice, adds: readonly Addition[], stamp: Stamp | undefined): boolean {
  if (stamp === undefined || stamp.way !== choice.way || !adds.every((a) => inPlace(root, a))) return false;
  if (choice.way !== 'dracut') return true;
  return choice.kernels.every((k) => stamp.initrds.some((i) => i.path === k.initrd && i.sha256 === sha256(readFileSync(join(root, k.initrd)))));
}

/** Writes ADDS into ROOT, handing ONUNDO what puts each path back as it was (also when a later write fails). */
async function install(root: string, adds: readonly Addition[], push: (u: () => Promise<void>) => void): Promise<void> {
  for (const a of adds) {
    if (inPlace(root, a)) continue;
    const p = join(root, a.path);
    const before = existsSync(p) || isLink(p) ? await readFile(p).catch(() => undefined) : undefined;
    const created = await mkdir(dirname(p), { recursive: true });
    push(async () => {
      await rm(p, { force: true });
      if (before !== undefined) await writeFile(p, before);
      if (created !== undefined) await rm(created, { recursive: true, force: true });
    });
    await rm(p, { force: true });
    if (a.link !== undefined) await symlink(a.link, p);
    else {
      await writeFile(p, a.data!, { mode: a.mode });
      await chmod(p, a.mode);
    }
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Free bytes on the filesystem of ROOT/path. */
function freeBytes(root: string, rel: string): number {
  let p = join(root, rel);
  while (!existsSync(p)) p = dirname(p);
  const s = statfsSync(p);
  return s.bavail * s.bsize;
}

/** For a foreign architecture the chroot needs qemu-user registered with binfmt_misc (Debian's qemu-user-static does it). */
function checkChrootable(arch: Arch): void {
  const host = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch;
  if (host === arch) return;
  const entry = `/proc/sys/fs/binfmt_misc/qemu-${arch}`;
  let on = false;
  try {
    on = readFileSync(entry, 'utf8').startsWith('enabled');
  } catch {
    on = false;
  }
  if (!on) throw new ImageError(`the image is ${arch} and this machine ${host}: its dracut can run here only through qemu-user, which is not registered (${entry})`, 'apt-get install qemu-user-static binfmt-support (or mount binfmt_misc and run update-binfmts --enable)');
}

/** The path a kernel's new initramfs is built at, beside the one it replaces once every build has succeeded. */
const newInitrd = (k: Kernel) => `${k.initrd}.flint-new`;

/** Runs the image's own dracut in a chroot for KERNEL, writing newInitrd(KERNEL). */
async function buildInitrd(root: string, kernel: Kernel, log: (l: string) => void): Promise<void> {
  const tmp = newInitrd(kernel);
  const binds: string[] = [];
  try {
    for (const [what, args] of [['proc', ['-t', 'proc', 'proc']], ['sys', ['-t', 'sysfs', 'sysfs']], ['dev', ['--bind', '/dev']]] as const) {
      const at = join(root, what);
      await mkdir(at, { recursive: true });
      const m = await exec('mount', [...args, at]);
      if (!m.ok) throw new ImageError(`cannot mount ${what} in the image for its dracut: ${m.summary}`);
      binds.push(at);
    }
    const started = Date.now();
    log(`building the initramfs of kernel ${kernel.version} with the image's own dracut (in a chroot; a minute or two, longer under qemu-user)`);
    // Not host-only: the image boots on machines this one is not, as it did before.
    const r = await exec('chroot', [root, 'dracut', '--force', '--quiet', '--no-hostonly', '--add', 'flint', '--kver', kernel.version, tmp], { timeoutMs: 45 * 60_000 });
    if (!r.ok) throw new ImageError(`the image's dracut failed for kernel ${kernel.version}: ${r.summary}${r.stderr.trim() !== '' ? `\n${r.stderr.trim().split('\n').slice(-15).join('\n')}` : ''}`, 'the image is unchanged; dracut\'s own messages are above');
    log(`  built in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    for (const at of binds.reverse()) await unmount(at);
  }
}

/** Enables IMAGE (attached, mounted, changed, released); throws ImageError with a reason where it cannot. */
export async function enableImage(o: EnableOptions, programUrl: string, execPath: string): Promise<EnableResult> {
  const attached = await AttachedImage.attach(o.image);
  try {
    const root = await attached.mountRoot();
    for (const n of attached.notes) o.log(n);
    return await enableRoot(root, o, programUrl, execPath);
  } finally {
    for (const p of await attached.release()) o.log(p);
  }
}

export async function enableRoot(root: string, o: EnableOptions, programUrl: string, execPath: string): Promise<EnableResult> {
  const arch = rootArch(root);
  if (arch === undefined) throw new ImageError('cannot tell the image\'s architecture (no x86_64 or aarch64 systemd, bash or busybox in its root)');
  if (o.arch !== undefined && o.arch !== arch) throw new ImageError(`--arch ${o.arch}, but the image is ${arch}`, `leave out --arch, or give --arch ${arch}`);
  const choice = chooseWay(root);
  const exe = findExecutable(arch, o.flint, programUrl, execPath);
  const binary = await readFile(exe);
  const adds = additions(choice, binary, o.trust);
  const stamp = readStamp(root);
  const kernels = choice.way === 'dracut' ? choice.kernels : [];
  const sizeOf = (k: Kernel) => lstatSync(join(root, k.initrd)).size;
  const initrds: EnableResult['initrds'] = kernels.map((k) => ({ path: k.initrd, before: sizeOf(k), after: sizeOf(k) }));
  const result = (changed: boolean): EnableResult => ({ way: choice.way, why: choice.why, arch, changed, addedBytes: adds.reduce((n, a) => n + (a.data?.length ?? 0), 0), initrds, flint: exe });
  if (alreadyEnabled(root, choice, adds, stamp)) return result(false);

  const need = binary.length + 16 * 1024 * 1024 + (kernels.length > 0 ? Math.max(...initrds.map((i) => i.before)) + 64 * 1024 * 1024 : 0);
  const free = freeBytes(root, FLINT_PATH);
  if (free < need) throw new ImageError(`the image's root has ${Math.floor(free / 1048576)} MiB free; enabling flint needs about ${Math.ceil(need / 1048576)} MiB`, 'grow the image and its root partition first (truncate, growpart, resize2fs/btrfs filesystem resize)');
  if (kernels.length > 0) checkChrootable(arch);

  const undo: Array<() => Promise<void>> = [];
  try {
    await install(root, adds, (u) => undo.push(u));
  } catch (e) {
    for (const u of undo.reverse()) await u();
    const err = e as NodeJS.ErrnoException;
    // Any file system refusal (read-only, full, a file where a folder must go): said plainly.
    if (typeof err.code === 'string') {
      throw new ImageError(`cannot write ${err.path ?? 'into the image'}: ${err.code}${err.code === 'EROFS' ? ' (a read-only root, such as a read-only btrfs snapshot of MicroOS)' : ''}`, err.code === 'EROFS' ? 'for a stock MicroOS make a Combustion stick instead, which needs no change to the image: flint drive create CONFIG --for combustion -o stick.img' : undefined);
    }
    throw e;
  }
  try {
    for (const k of kernels) await buildInitrd(root, k, o.log);
    for (const k of kernels) await rename(join(root, newInitrd(k)), join(root, k.initrd));
    const newStamp: Stamp = {
      flint_sha256: sha256(binary),
      way: choice.way,
      arch,
      files: adds.map((a) => a.path),
      initrds: kernels.map((k) => ({ path: k.initrd, sha256: sha256(readFileSync(join(root, k.initrd))) })),
    };
    await writeFile(join(root, STAMP_PATH), JSON.stringify(newStamp, null, 2) + '\n', { mode: 0o644 });
  } catch (e) {
    // An initramfs is replaced only after every build finished: the new files are all there is to undo.
    for (const k of kernels) await rm(join(root, newInitrd(k)), { force: true });
    for (const u of undo.reverse()) await u();
    throw e;
  }
  for (const [i, k] of kernels.entries()) initrds[i]!.after = sizeOf(k);
  return result(true);
}
