/**
 * Finding the config at first boot, in the spec's order ("Where a config is found"):
 *   1. the kernel command line (`flint.config=LABEL=NAME:/path`; https URLs are not
 *      fetched yet and are an error rather than a silent skip),
 *   2. QEMU fw_cfg: `opt/flint/config`,
 *   3. a filesystem labelled flint, combustion, ignition, cidata or install (in that
 *      order, labels compared case-insensitively) carrying `flint/config.yaml|.yml|.json`,
 *   4. `flint.yaml` on the target's boot partition, where the target has it mounted
 *      (boot/firmware, boot, boot/efi under the sysroot).
 * Block devices are found through sysfs and `blkid -p`, never /dev/disk/by-*: machines
 * without udev (containers, an early initramfs) have no such links. A medium is
 * mounted read-only, the config's folder copied to the work folder (RAM) and the
 * medium unmounted again, so applying never depends on a removable device. A FAT or
 * ISO 9660 medium that the kernel cannot mount (no driver) is read with mtools or
 * xorriso instead.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { exec } from '../exec.js';
import type { BootOptions } from './cmdline.js';
import { downloadHttps, redactUrl } from '../steps/sources.js';
import { nodeCrypto } from '../lazy-builtins.js';

/** Medium labels flint looks for, in the order that decides between them. */
export const LABELS = ['flint', 'combustion', 'ignition', 'cidata', 'install'] as const;
const CONFIG_NAMES = ['flint/config.yaml', 'flint/config.yml', 'flint/config.json'];
/** Files of other provisioners that a medium may carry: recognised, not read yet. */
const FOREIGN = [
  { file: 'ignition/config.ign', what: 'Ignition configs are not read yet' },
  { file: 'combustion/script', what: 'Combustion scripts are not run yet' },
  { file: 'user-data', what: 'cloud-init user-data is not read yet' },
];
/** The top-level names on a medium that discovery reads. */
const MEDIUM_ENTRIES = [...new Set([...CONFIG_NAMES, ...FOREIGN.map((f) => f.file)].map((f) => f.split('/')[0]!))];
const BOOT_FILES = ['boot/firmware/flint.yaml', 'boot/flint.yaml', 'boot/efi/flint.yaml'];

export class DiscoveryError extends Error {}

export interface DiscoverOptions {
  boot: BootOptions;
  sysroot: string;
  /** The fw_cfg folder: /sys/firmware/qemu_fw_cfg (its by_name/ is used) or a by_name-style tree. */
  fwCfg: string;
  /** sysfs, for /class/block. */
  sys: string;
  /** Where device nodes are. Default /dev. */
  dev?: string;
  /** Where the config is copied to (RAM in the initramfs). */
  work: string;
  timeoutMs: number;
  pollMs?: number;
  /** Every candidate looked at, and why it was passed over. */
  log(line: string): void;
  /** Called about once a second while waiting for devices, with whole seconds left. */
  countdown?(secondsLeft: number): void;
}

export interface Found {
  /** The copied config, under the work folder. */
  configFile: string;
  /** Where it came from, for the console. */
  source: string;
  /** The block device it was read from, for writing the result back; absent for fw_cfg, URLs and the target's own boot folder. */
  medium?: Medium;
}

export interface Medium {
  device: Device;
  /** The config's folder on the medium, relative to its top (`flint`, or `.`). */
  folder: string;
}

/** Default wait for devices: boards with slow SD and USB readers are mostly aarch64. */
export function defaultTimeoutMs(arch: string = process.arch): number {
  return arch === 'arm64' ? 30_000 : 10_000;
}

export async function discover(o: DiscoverOptions): Promise<Found | undefined> {
  const fromCmdline = await fromKernelCmdline(o);
  if (fromCmdline !== undefined) return fromCmdline;
  const fromFw = await fromFwCfg(o);
  if (fromFw !== undefined) return fromFw;
  const fromMedia = await fromLabelledMedia(o);
  if (fromMedia !== undefined) return fromMedia;
  return fromBootPartition(o);
}

async function fromKernelCmdline(o: DiscoverOptions): Promise<Found | undefined> {
  const { boot } = o;
  if (boot.ignitionUrl !== undefined) o.log(`kernel command line: ignition.config.url=${boot.ignitionUrl}: passed over, Ignition configs are not read yet`);
  if (boot.combustionUrl !== undefined) o.log(`kernel command line: combustion.url=${boot.combustionUrl}: passed over, Combustion scripts are not run yet`);
  const ref = boot.config;
  if (ref === undefined) {
    o.log('kernel command line: no flint.config=');
    return undefined;
  }
  if (ref.kind === 'url') return fromUrl(o, ref.url);
  const wanted = ref.label.toLowerCase();
  const devices = await waitForDevices(o, (ds) => ds.some((d) => d.label.toLowerCase() === wanted), `a medium labelled ${ref.label}`);
  const matching = devices.filter((d) => d.label.toLowerCase() === wanted);
  if (matching.length === 0) throw new DiscoveryError(`flint.config=LABEL=${ref.label}:${ref.path}: no filesystem labelled ${ref.label} appeared within ${Math.round(o.timeoutMs / 1000)} s`);
  if (matching.length > 1) throw new DiscoveryError(`flint.config=LABEL=${ref.label}:${ref.path}: ${matching.length} filesystems have that label (${matching.map(describe).join(', ')}); remove all but one`);
  const dev = matching[0]!;
  const rel = ref.path.replace(/^\/+/, '');
  const entry = rel.split('/')[0] ?? rel;
  const found = await withMounted(o, dev, [entry], async (mnt) => {
    const file = join(mnt, rel);
    if (!isFile(file)) return undefined;
    return copyConfig(o, dirname(file), basename(file), `${ref.path} on ${describe(dev)}`, { device: dev, folder: dirname(rel) });
  });
  if (found === undefined) throw new DiscoveryError(`flint.config=LABEL=${ref.label}:${ref.path}: ${describe(dev)} has no file ${ref.path}`);
  return found;
}

async function fromFwCfg(o: DiscoverOptions): Promise<Found | undefined> {
  // The kernel's tree puts the names under by_name/; a test or a copy may give that folder itself.
  const base = existsSync(join(o.fwCfg, 'by_name')) ? join(o.fwCfg, 'by_name') : o.fwCfg;
  if (!existsSync(base)) {
    o.log(`fw_cfg: ${o.fwCfg} does not exist (not a QEMU machine, or the qemu_fw_cfg module is not loaded)`);
    return undefined;
  }
  if (isFile(join(base, 'opt/com.coreos/config/raw'))) o.log('fw_cfg: opt/com.coreos/config: passed over, Ignition configs are not read yet');
  if (isFile(join(base, 'opt/org.opensuse.combustion/script/raw'))) o.log('fw_cfg: opt/org.opensuse.combustion/script: passed over, Combustion scripts are not run yet');
  const raw = join(base, 'opt/flint/config/raw');
  if (!isFile(raw)) {
    o.log('fw_cfg: no opt/flint/config');
    return undefined;
  }
  const text = readFileSync(raw);
  // fw_cfg carries bytes, not a name: JSON if it looks like it, else YAML.
  const name = /^\s*\{/.test(text.subarray(0, 64).toString('utf8')) ? 'config.json' : 'config.yaml';
  const dest = await freshConfigDir(o);
  await writeFile(join(dest, name), text, { mode: 0o600 });
  o.log(`fw_cfg: using opt/flint/config (${text.length} bytes)`);
  return { configFile: join(dest, name), source: 'QEMU fw_cfg opt/flint/config' };
}

async function fromLabelledMedia(o: DiscoverOptions): Promise<Found | undefined> {
  const isCandidate = (d: Device) => (LABELS as readonly string[]).includes(d.label.toLowerCase());
  const devices = await waitForDevices(o, (ds) => ds.some(isCandidate), 'a config medium');
  const candidates = devices.filter(isCandidate);
  if (candidates.length === 0) {
    o.log(`block devices: none labelled ${LABELS.join(', ')} (case-insensitive) within ${Math.round(o.timeoutMs / 1000)} s`);
    return undefined;
  }
  for (const label of LABELS) {
    const same = candidates.filter((d) => d.label.toLowerCase() === label);
    if (same.length > 1) throw new DiscoveryError(`${same.length} filesystems are labelled ${label} (${same.map(describe).join(', ')}); flint cannot tell which config is meant: remove all but one`);
    const dev = same[0];
    if (dev === undefined) continue;
    const found = await withMounted(o, dev, MEDIUM_ENTRIES, async (mnt) => {
      const name = CONFIG_NAMES.find((n) => isFile(join(mnt, n)));
      if (name !== undefined) return copyConfig(o, join(mnt, 'flint'), basename(name), `${name} on ${describe(dev)}`, { device: dev, folder: 'flint' });
      const foreign = FOREIGN.filter((f) => isFile(join(mnt, f.file)));
      if (foreign.length > 0) for (const f of foreign) o.log(`${describe(dev)}: ${f.file}: passed over, ${f.what}`);
      else o.log(`${describe(dev)}: passed over, no ${CONFIG_NAMES.join(', ')} on it`);
      return undefined;
    });
    if (found !== undefined) return found;
  }
  return undefined;
}

async function fromBootPartition(o: DiscoverOptions): Promise<Found | undefined> {
  for (const rel of BOOT_FILES) {
    const file = join(o.sysroot, rel);
    if (!isFile(file)) continue;
    const dest = await freshConfigDir(o);
    // Only the file: the boot partition also holds the kernel and firmware, not config payloads.
    await cp(file, join(dest, 'flint.yaml'));
    o.log(`target: using /${rel}`);
    return { configFile: join(dest, 'flint.yaml'), source: `/${rel} in the target` };
  }
  o.log(`target: no ${BOOT_FILES.map((f) => '/' + f).join(', ')} in ${o.sysroot}`);
  return undefined;
}

export interface Device {
  /** Device node, e.g. /dev/sdb1. */
  node: string;
  label: string;
  type: string;
  uuid?: string;
}

function describe(d: Device): string {
  return `${d.node} (label ${d.label}, ${d.type})`;
}

/** `blkid -o export` output as a map. */
export function parseBlkidExport(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}

/** Every labelled filesystem on the block devices sysfs lists right now. */
export async function scanDevices(sys: string, dev = '/dev'): Promise<Device[]> {
  let names: string[];
  try {
    names = readdirSync(join(sys, 'class/block')).sort();
  } catch {
    return [];
  }
  const out: Device[] = [];
  const seen = new Set<string>();
  for (const name of names) {
    // An unattached loop device or an empty card reader has size 0: nothing to probe.
    const size = readSmall(join(sys, 'class/block', name, 'size'));
    if (size === undefined || size.trim() === '0') continue;
    const node = join(dev, name);
    if (!existsSync(node)) continue;
    // -p reads the device itself, bypassing a cache that udev would otherwise keep up to date.
    const r = await exec('blkid', ['-o', 'export', '-p', node], { timeoutMs: 10_000 });
    if (!r.ok) continue;
    const tags = parseBlkidExport(r.stdout);
    const label = tags.get('LABEL');
    const type = tags.get('TYPE');
    if (label === undefined || type === undefined) continue;
    const uuid = tags.get('UUID');
    // A hybrid ISO shows the same filesystem on the disk and on its partition: count it once.
    if (uuid !== undefined) {
      const key = `${type}:${uuid}:${label}`;
      if (seen.has(key)) continue;
      seen.add(key);
    }
    out.push({ node, label, type, ...(uuid !== undefined ? { uuid } : {}) });
  }
  return out;
}

/**
 * Scans until `enough` says so or the time is up; returns the last scan. Late devices
 * (USB, SD readers) are why this waits at all.
 */
async function waitForDevices(o: DiscoverOptions, enough: (ds: Device[]) => boolean, what: string): Promise<Device[]> {
  const start = Date.now();
  const poll = o.pollMs ?? 250;
  let lastShown: number | undefined;
  for (;;) {
    const devices = await scanDevices(o.sys, o.dev);
    if (enough(devices)) return devices;
    const left = o.timeoutMs - (Date.now() - start);
    if (left <= 0) {
      for (const d of devices) o.log(`block devices: ${describe(d)}: passed over, not a label flint looks for`);
      return devices;
    }
    const secs = Math.ceil(left / 1000);
    if (lastShown === undefined) o.log(`waiting up to ${secs} s for ${what}`);
    if (secs !== lastShown) {
      lastShown = secs;
      o.countdown?.(secs);
    }
    await new Promise((r) => setTimeout(r, Math.min(poll, left)));
  }
}

/**
 * Runs FN on a folder that shows the medium's ENTRIES (top-level names such as `flint`):
 * the read-only mount point, or, where this kernel cannot mount the medium's
 * filesystem (no vfat or iso9660 driver: a minimal initramfs, a container's host), a
 * copy of just those entries read in user space with mtools or xorriso. Always cleans up.
 */
async function withMounted<T>(o: DiscoverOptions, dev: Device, entries: readonly string[], fn: (mnt: string) => Promise<T>): Promise<T> {
  const mnt = join(o.work, 'mnt');
  await mkdir(mnt, { recursive: true, mode: 0o700 });
  const m = await exec('mount', ['-o', 'ro,nodev,nosuid,noexec', '-t', dev.type, dev.node, mnt], { timeoutMs: 30_000 });
  if (!m.ok) {
    await rmdir(mnt).catch(() => undefined);
    const reader = USERSPACE_READERS[dev.type];
    if (reader !== undefined && !kernelHasFilesystem(dev.type)) return withExtracted(o, dev, reader, entries, fn);
    throw new DiscoveryError(`${describe(dev)}: cannot mount it read-only: ${m.summary}`);
  }
  try {
    return await fn(mnt);
  } finally {
    const u = await exec('umount', [mnt], { timeoutMs: 30_000 });
    if (!u.ok) o.log(`${describe(dev)}: could not unmount it: ${u.summary}`);
    else await rmdir(mnt).catch(() => undefined);
  }
}

/** Reads ENTRY of the medium DEV into DEST/ENTRY; false when the medium has no such entry. */
type UserspaceReader = (dev: string, entry: string, dest: string) => Promise<boolean>;

const USERSPACE_READERS: Record<string, UserspaceReader> = {
  // mtools matches FAT names case-insensitively, as the FAT driver does.
  vfat: async (dev, entry, dest) => (await exec('mcopy', ['-s', '-n', '-m', '-i', dev, `::/${entry}`, dest], { timeoutMs: 60_000 })).ok,
  iso9660: async (dev, entry, dest) => (await exec('xorriso', ['-osirrox', 'on', '-indev', `stdio:${dev}`, '-extract', `/${entry}`, join(dest, entry)], { timeoutMs: 120_000 })).ok,
};

function kernelHasFilesystem(type: string): boolean {
  const listed = readSmall('/proc/filesystems') ?? '';
  return listed.split('\n').some((l) => l.trim().split(/\s+/).pop() === type);
}

async function withExtracted<T>(o: DiscoverOptions, dev: Device, read: UserspaceReader, entries: readonly string[], fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = join(o.work, 'medium');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  o.log(`${describe(dev)}: this kernel cannot mount ${dev.type}; reading it with ${dev.type === 'vfat' ? 'mtools' : 'xorriso'} instead`);
  try {
    for (const entry of entries) await read(dev.node, entry, dir);
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A new, empty `config` folder under the work folder. */
/**
 * A config named by URL on the kernel command line. Asked for explicitly, so a failure
 * stops the run: going on would boot a machine its owner meant to configure.
 */
async function fromUrl(o: DiscoverOptions, url: string): Promise<Found> {
  const shown = redactUrl(url);
  if (!/^https:\/\//i.test(url)) throw new DiscoveryError(`flint.config=${shown}: only https:// URLs are fetched (or LABEL=NAME:/path)`);
  let data: Buffer;
  try {
    data = await downloadHttps(url);
  } catch (e) {
    throw new DiscoveryError(`flint.config=${shown}: ${(e as Error).message}`);
  }
  const want = o.boot.sha512;
  if (want !== undefined) {
    const got = nodeCrypto().createHash('sha512').update(data).digest('hex');
    if (got !== want) throw new DiscoveryError(`flint.config=${shown}: the download's SHA-512 is ${got}, not the ${want} that flint.config.sha512= asks for; nothing applied`);
  } else o.log(`flint.config=${shown}: no flint.config.sha512= given, so the download is trusted on its TLS certificate alone`);
  const dest = await freshConfigDir(o);
  const name = /\.json(?:$|[?#])/i.test(new URL(url).pathname) ? 'config.json' : 'config.yaml';
  await writeFile(join(dest, name), data, { mode: 0o600 });
  o.log(`using ${shown} (${data.length} bytes); saved to ${join(dest, name)}`);
  return { configFile: join(dest, name), source: shown };
}

async function freshConfigDir(o: DiscoverOptions): Promise<string> {
  const dest = join(o.work, 'config');
  await rm(dest, { recursive: true, force: true });
  await mkdir(dest, { recursive: true, mode: 0o700 });
  return dest;
}

async function copyConfig(o: DiscoverOptions, folder: string, name: string, source: string, medium?: Medium): Promise<Found> {
  const dest = await freshConfigDir(o);
  // Links are copied as links: the payload reader refuses any that lead out of the folder.
  await cp(folder, dest, { recursive: true, verbatimSymlinks: true, force: true });
  o.log(`using ${source}; copied its folder to ${dest}`);
  return { configFile: join(dest, name), source, ...(medium !== undefined ? { medium } : {}) };
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function readSmall(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}
