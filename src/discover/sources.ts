/**
 * Finding the config at first boot, in the spec's order ("Where a config is found"):
 *   1. the kernel command line: `flint.config=` (an https URL, checked against
 *      `flint.config.sha512=`, or `LABEL=NAME:/path`), else `ignition.config.url=`,
 *      else `combustion.url=` (https only);
 *   2. QEMU fw_cfg: `opt/flint/config`, `opt/com.coreos/config` (Ignition),
 *      `opt/org.opensuse.combustion/script`;
 *   3. a filesystem labelled flint, combustion, ignition, cidata or install (in that
 *      order, labels compared case-insensitively) carrying, in this order,
 *      `flint/config.yaml|.yml|.json`, `ignition/config.ign`, `combustion/script`, or
 *      a NoCloud seed (`user-data`, `meta-data`, `network-config`);
 *   4. `flint.yaml` on the target's boot partition, where the target has it mounted
 *      (boot/firmware, boot, boot/efi under the sysroot), else on a FAT partition of
 *      the disk that holds the sysroot (with the payloads it names beside it).
 * Other tools' configs are found here and converted when applied (convert/any.ts).
 * Block devices are found through sysfs and `blkid -p`, never /dev/disk/by-*: machines
 * without udev (containers, an early initramfs) have no such links. A medium is
 * mounted read-only, the config's folder copied to the work folder (RAM) and the
 * medium unmounted again, so applying never depends on a removable device. A FAT or
 * ISO 9660 medium that the kernel cannot mount (no driver) is read with mtools or
 * xorriso instead.
 */
import { fillUrlTemplate, kernelHostname, placeholdersOf } from './url-template.js';
import { machineFacts } from './facts.js';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { chmod, cp, mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { exec } from '../system/exec.js';
import { parseBlkidDevices, parseBlkidExport } from '../system/blkid.js';
import type { BootOptions } from './cmdline.js';
import type { ConfigFormat } from '../config/format.js';
import { downloadHttps, redactUrl } from '../system/fetch.js';
import { nodeCrypto } from '../system/lazy-builtins.js';
import { parse as parseYaml } from 'yaml';

/** Medium labels flint looks for, in the order that decides between them. */
export const LABELS = ['flint', 'combustion', 'ignition', 'cidata', 'install'] as const;
const COMBUSTION_BESIDE = 'combustion/script';
const CONFIG_NAMES = ['flint/config.yaml', 'flint/config.yml', 'flint/config.json'];
/**
 * What a medium may carry, in the order the spec gives: flint's config, then the
 * configs of the tools flint reads (converted when applied, see convert/any.ts).
 */
const ON_MEDIUM: ReadonlyArray<{ file: string; format: ConfigFormat }> = [
  ...CONFIG_NAMES.map((file) => ({ file, format: 'flint' as const })),
  { file: 'ignition/config.ign', format: 'ignition' },
  { file: 'combustion/script', format: 'combustion' },
  { file: 'user-data', format: 'cloud-init' },
];
/** A NoCloud seed's files, all at the top of its medium. */
const SEED_FILES = ['user-data', 'meta-data', 'network-config'];
/** What to do instead of a URL flint does not fetch. */
const URL_ALTERNATIVE: Record<ConfigFormat, string> = {
  flint: ' (or LABEL=NAME:/path)',
  ignition: '; serve the config over https, or put it on a medium labelled ignition as ignition/config.ign',
  combustion: '; serve the script over https, or put it on a medium labelled combustion as combustion/script',
  'cloud-init': '',
};
const FW_CFG: ReadonlyArray<{ key: string; format: ConfigFormat }> = [
  { key: 'opt/flint/config', format: 'flint' },
  { key: 'opt/com.coreos/config', format: 'ignition' },
  { key: 'opt/org.opensuse.combustion/script', format: 'combustion' },
];
/** The top-level names on a medium that discovery reads. */
const MEDIUM_ENTRIES = [...new Set([...ON_MEDIUM.map((f) => f.file.split('/')[0]!), ...SEED_FILES])];
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
  /** The kernel's host name, for {hostname}. Default /proc/sys/kernel/hostname. */
  hostnameFile?: string;
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
  /** Its format: flint's own, or one flint converts. */
  format: ConfigFormat;
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
  return (await fromBootPartition(o)) ?? fromTargetDiskFat(o);
}

async function fromKernelCmdline(o: DiscoverOptions): Promise<Found | undefined> {
  const { boot } = o;
  const ref = boot.config;
  if (ref === undefined) {
    o.log('kernel command line: no flint.config=');
    if (boot.ignitionUrl !== undefined) return fromUrl(o, boot.ignitionUrl, 'ignition.config.url', 'ignition');
    if (boot.combustionUrl !== undefined) return fromUrl(o, boot.combustionUrl, 'combustion.url', 'combustion');
    return undefined;
  }
  for (const [url, key] of [[boot.ignitionUrl, 'ignition.config.url'], [boot.combustionUrl, 'combustion.url']] as const) {
    if (url !== undefined) o.log(`kernel command line: ${key}=${redactUrl(url)}: passed over, flint.config= comes first`);
  }
  if (ref.kind === 'url') return fromUrl(o, templated(o, ref.url), 'flint.config', 'flint');
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
    return copyConfig(o, dirname(file), basename(file), `${ref.path} on ${describe(dev)}`, 'flint', { device: dev, folder: dirname(rel) });
  });
  if (found === undefined) throw new DiscoveryError(`flint.config=LABEL=${ref.label}:${ref.path}: ${describe(dev)} has no file ${ref.path}`);
  return found;
}

/** flint.config='s URL with this machine's {mac}, {serial}, {uuid}, {hostname} filled in (docs/fleet.md). */
function templated(o: DiscoverOptions, url: string): string {
  if (placeholdersOf(url).used.length === 0) return url;
  const filled = fillUrlTemplate(url, { ...machineFacts(o.sys), ...(o.boot.bootif !== undefined ? { bootif: o.boot.bootif } : {}), ...hostnameFact(o.hostnameFile) });
  if ('problem' in filled) throw new DiscoveryError(`flint.config=${redactUrl(url)}: ${filled.problem}`);
  o.log(`flint.config: ${redactUrl(url).replace(/%7B/gi, '{').replace(/%7D/gi, '}')} is ${redactUrl(filled.url)} for this machine`);
  return filled.url;
}

function hostnameFact(file: string | undefined): { hostname?: string } {
  const h = kernelHostname(file);
  return h !== undefined ? { hostname: h } : {};
}

async function fromFwCfg(o: DiscoverOptions): Promise<Found | undefined> {
  // The kernel's tree puts the names under by_name/; a test or a copy may give that folder itself.
  const base = existsSync(join(o.fwCfg, 'by_name')) ? join(o.fwCfg, 'by_name') : o.fwCfg;
  if (!existsSync(base)) {
    o.log(`fw_cfg: ${o.fwCfg} does not exist (not a QEMU machine, or the qemu_fw_cfg module is not loaded)`);
    return undefined;
  }
  const entry = FW_CFG.find((e) => isFile(join(base, e.key, 'raw')));
  if (entry === undefined) {
    o.log(`fw_cfg: none of ${FW_CFG.map((e) => e.key).join(', ')}`);
    return undefined;
  }
  for (const other of FW_CFG.filter((e) => e !== entry && isFile(join(base, e.key, 'raw')))) o.log(`fw_cfg: ${other.key}: passed over, ${entry.key} comes first`);
  const text = readFileSync(join(base, entry.key, 'raw'));
  const dest = await freshConfigDir(o);
  const file = await placeConfig(dest, entry.format, text);
  o.log(`fw_cfg: using ${entry.key} (${text.length} bytes)`);
  return { configFile: file, source: `QEMU fw_cfg ${entry.key}`, format: entry.format };
}

/**
 * Writes a config that arrived as bytes (fw_cfg, a URL) under DEST with the name its
 * format is read by: fw_cfg and URLs carry no name.
 */
async function placeConfig(dest: string, format: ConfigFormat, data: Buffer): Promise<string> {
  let file: string;
  if (format === 'ignition') file = join(dest, 'config.ign');
  else if (format === 'combustion') {
    // A Combustion script runs from its own folder, named as on a Combustion medium.
    await mkdir(join(dest, 'combustion'), { mode: 0o700 });
    file = join(dest, 'combustion', 'script');
  } else file = join(dest, /^\s*\{/.test(data.subarray(0, 64).toString('utf8')) ? 'config.json' : 'config.yaml');
  await writeFile(file, data, { mode: format === 'combustion' ? 0o700 : 0o600 });
  return file;
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
      const hit = ON_MEDIUM.find((f) => isFile(join(mnt, f.file)));
      if (hit === undefined) {
        o.log(`${describe(dev)}: passed over, none of ${ON_MEDIUM.map((f) => f.file).join(', ')} on it`);
        return undefined;
      }
      const source = `${hit.file} on ${describe(dev)}`;
      if (hit.format === 'cloud-init') {
        // A seed is files at the top of the medium, not a folder of its own.
        const dest = await freshConfigDir(o);
        for (const f of SEED_FILES) if (isFile(join(mnt, f))) await cp(join(mnt, f), join(dest, f));
        o.log(`using ${source}; copied ${SEED_FILES.filter((f) => isFile(join(mnt, f))).join(', ')} to ${dest}`);
        return { configFile: join(dest, 'user-data'), source, format: hit.format, medium: { device: dev, folder: '.' } };
      }
      const folder = dirname(hit.file);
      // A Combustion script keeps its folder's name: it is how its format is known.
      const found = await copyConfig(o, join(mnt, folder), basename(hit.file), source, hit.format, { device: dev, folder }, hit.format === 'combustion' ? folder : undefined);
      if (hit.format === 'ignition' && isFile(join(mnt, COMBUSTION_BESIDE))) await copyCombustionBeside(o, mnt, dirname(found.configFile), describe(dev));
      return found;
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
    // Only the file and its signature: the boot partition also holds the kernel and firmware, not config payloads.
    await cp(file, join(dest, 'flint.yaml'));
    if (isFile(`${file}.sig`)) await cp(`${file}.sig`, join(dest, 'flint.yaml.sig'));
    o.log(`target: using /${rel}`);
    return { configFile: join(dest, 'flint.yaml'), source: `/${rel} in the target`, format: 'flint' };
  }
  o.log(`target: no ${BOOT_FILES.map((f) => '/' + f).join(', ')} in ${o.sysroot}`);
  return undefined;
}

/**
 * `flint.yaml` on a FAT partition of the disk that holds the target's root, not
 * mounted in the target (the initramfs mounts only the root): the image's own boot
 * partition, as `flint image embed` writes it. Its `file:` payloads are beside it.
 */
async function fromTargetDiskFat(o: DiscoverOptions): Promise<Found | undefined> {
  const parts = targetDiskPartitions(o);
  for (const name of parts) {
    const node = join(o.dev ?? '/dev', name);
    const r = await exec('blkid', ['-o', 'export', '-p', node], { timeoutMs: 10_000 });
    const tags = parseBlkidExport(r.stdout);
    if (!r.ok || tags.get('TYPE') !== 'vfat') continue;
    const dev: Device = { node, label: tags.get('LABEL') ?? '', type: 'vfat' };
    const text = await withMounted(o, dev, ['flint.yaml'], async (mnt) => (isFile(join(mnt, 'flint.yaml')) ? readFileSync(join(mnt, 'flint.yaml'), 'utf8') : undefined));
    if (text === undefined) {
      o.log(`target disk: ${describe(dev)}: no flint.yaml on it`);
      continue;
    }
    const entries = ['flint.yaml', 'flint.yaml.sig', ...new Set(filePayloads(text).map((p) => p.split('/')[0]!))];
    return withMounted(o, dev, entries, async (mnt) => {
      const dest = await freshConfigDir(o);
      for (const e of entries) if (existsSync(join(mnt, e))) await cp(join(mnt, e), join(dest, e), { recursive: true, verbatimSymlinks: true });
      o.log(`target disk: using flint.yaml on ${describe(dev)}`);
      return { configFile: join(dest, 'flint.yaml'), source: `flint.yaml on ${describe(dev)}, the target disk's boot partition`, format: 'flint' };
    });
  }
  if (parts.length === 0) o.log(`target disk: no boot partition looked at: ${o.sysroot} is not mounted from a partition of a disk`);
  return undefined;
}

/** Partition names of the disk whose partition is mounted at the sysroot. */
function targetDiskPartitions(o: DiscoverOptions): string[] {
  let real: string;
  try {
    real = realpathSync(o.sysroot);
  } catch {
    return [];
  }
  const line = (readSmall('/proc/self/mountinfo') ?? '').split('\n').filter((l) => l.split(' ')[4] === real).pop();
  if (line === undefined) return [];
  // btrfs shows an anonymous 0:N device number: then the mount source names the device.
  const source = line.split(' - ')[1]?.split(' ')[1] ?? '';
  const candidates = [join(o.sys, 'dev/block', line.split(' ')[2] ?? ''), join(o.sys, 'class/block', basename(source))];
  for (const c of candidates) {
    try {
      const part = realpathSync(c);
      if (!existsSync(join(part, 'partition'))) continue;
      const disk = dirname(part);
      return readdirSync(disk).filter((e) => existsSync(join(disk, e, 'partition'))).sort();
    } catch {
      // not this one
    }
  }
  return [];
}

/** The `file:` paths a config names (`source:` and `image_archive:` anywhere), without validating it. */
function filePayloads(text: string): string[] {
  const out: string[] = [];
  const walk = (v: unknown, key?: string): void => {
    if (Array.isArray(v)) v.forEach((x) => walk(x));
    else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) walk(x, k);
    else if (typeof v === 'string' && key === 'source' && v.startsWith('file:')) out.push(v.slice(5));
    else if (typeof v === 'string' && key === 'image_archive') out.push(v);
  };
  try {
    walk(parseYaml(text));
  } catch {
    return [];
  }
  return out.filter((p) => p !== '' && !p.startsWith('/') && !p.split('/').includes('..'));
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

/**
 * Every labelled filesystem on the block devices sysfs lists right now. One `blkid` reads
 * them all (with no cache file, so from the devices themselves): a process per device
 * cost a quarter of a second each on an emulated machine.
 */
export async function scanDevices(sys: string, dev = '/dev'): Promise<Device[]> {
  let names: string[];
  try {
    names = readdirSync(join(sys, 'class/block')).sort();
  } catch {
    return [];
  }
  const nodes: string[] = [];
  for (const name of names) {
    // An unattached loop device or an empty card reader has size 0: nothing to probe.
    const size = readSmall(join(sys, 'class/block', name, 'size'));
    if (size === undefined || size.trim() === '0') continue;
    const node = join(dev, name);
    if (existsSync(node)) nodes.push(node);
  }
  if (nodes.length === 0) return [];
  // Exit status 2 is "nothing found"; the output is read whatever the status.
  const r = await exec('blkid', ['-c', '/dev/null', '-o', 'export'], { timeoutMs: 30_000 });
  // blkid names a device as /dev/NAME, or /dev/mapper/NAME for device-mapper: compared by the node they resolve to.
  const byNode = new Map(parseBlkidDevices(r.stdout).map((d) => [resolved(d.node), d.tags]));
  const out: Device[] = [];
  const seen = new Set<string>();
  for (const node of nodes) {
    const tags = byNode.get(resolved(node));
    const label = tags?.get('LABEL');
    const type = tags?.get('TYPE');
    if (tags === undefined || label === undefined || type === undefined) continue;
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

function resolved(node: string): string {
  try {
    return realpathSync(node);
  } catch {
    return node;
  }
}

/**
 * Scans until `enough` says so or the time is up; returns the last scan. Late devices
 * (USB, SD readers) are why this waits at all.
 */
async function waitForDevices(o: DiscoverOptions, enough: (ds: Device[]) => boolean, what: string): Promise<Device[]> {
  // The wait is counted from the end of the first scan: on a slow machine (an emulated
  // one, a board with many partitions) probing what is there must not eat the time
  // given to devices that are still to come.
  let start: number | undefined;
  const poll = o.pollMs ?? 250;
  let lastShown: number | undefined;
  for (;;) {
    const devices = await scanDevices(o.sys, o.dev);
    if (enough(devices)) return devices;
    start ??= Date.now();
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

/**
 * The detached signature of a config served by URL, at the same URL with `.sig` added
 * to its path (docs/signing.md), saved beside the config for the trust check. Missing is
 * not an error here: the trust policy decides what an unsigned config means.
 */
async function fetchSignature(o: DiscoverOptions, url: string, file: string): Promise<void> {
  const u = new URL(url);
  u.pathname += '.sig';
  try {
    await writeFile(file + '.sig', await downloadHttps(u.toString(), o.boot.proxy !== undefined ? { proxy: o.boot.proxy } : {}), { mode: 0o600 });
    o.log(`fetched its signature ${redactUrl(u.toString())}`);
  } catch (e) {
    o.log(`no signature at ${redactUrl(u.toString())} (${(e as Error).message})`);
  }
}

/** A new, empty `config` folder under the work folder. */
/**
 * A config named by URL on the kernel command line. Asked for explicitly, so a failure
 * stops the run: going on would boot a machine its owner meant to configure.
 */
/** How long flint keeps asking for a config given by URL (flint.config.deadline=). */
export const DEFAULT_CONFIG_DEADLINE_S = 300;

async function fromUrl(o: DiscoverOptions, url: string, key: string, format: ConfigFormat): Promise<Found> {
  const shown = redactUrl(url);
  if (!/^https:\/\//i.test(url)) throw new DiscoveryError(`${key}=${shown}: only https:// URLs are fetched${URL_ALTERNATIVE[format]}`);
  let data: Buffer;
  const deadlineMs = (o.boot.configDeadlineS ?? DEFAULT_CONFIG_DEADLINE_S) * 1000;
  try {
    data = await downloadHttps(url, {
      deadlineMs,
      ...(o.boot.proxy !== undefined ? { proxy: o.boot.proxy } : {}),
      onRetry: (r) => o.log(`${key}=${shown}: ${r.error} (attempt ${r.attempt}); trying again in ${(r.waitMs / 1000).toFixed(1)} s, ${Math.max(0, Math.round((r.leftMs ?? 0) / 1000))} s of ${deadlineMs / 1000} s left`),
    });
  } catch (e) {
    throw new DiscoveryError(`${key}=${shown}: ${(e as Error).message}`);
  }
  const want = format === 'flint' ? o.boot.sha512 : undefined;
  if (want !== undefined) {
    const got = nodeCrypto().createHash('sha512').update(data).digest('hex');
    if (got !== want) throw new DiscoveryError(`${key}=${shown}: the download's SHA-512 is ${got}, not the ${want} that flint.config.sha512= asks for; nothing applied`);
  } else o.log(`${key}=${shown}: ${format === 'flint' ? 'no flint.config.sha512= given, so' : 'the command line carries no checksum for it, so'} the download is trusted on its TLS certificate alone`);
  const dest = await freshConfigDir(o);
  const file = format === 'flint' ? join(dest, /\.json(?:$|[?#])/i.test(new URL(url).pathname) ? 'config.json' : 'config.yaml') : await placeConfig(dest, format, data);
  if (format === 'flint') {
    await writeFile(file, data, { mode: 0o600 });
    await fetchSignature(o, url, file);
  }
  o.log(`using ${shown} (${data.length} bytes); saved to ${file}`);
  return { configFile: file, source: shown, format };
}

async function freshConfigDir(o: DiscoverOptions): Promise<string> {
  const dest = join(o.work, 'config');
  await rm(dest, { recursive: true, force: true });
  await mkdir(dest, { recursive: true, mode: 0o700 });
  return dest;
}

/**
 * One medium with both ignition/config.ign and combustion/script (as SLE Micro's docs
 * and fuel-ignition make them): the script's folder goes beside the copied Ignition
 * config, where the Ignition reader finds it and runs it after the config, in the order
 * of combustion.service's After=ignition-complete.target (src/convert/any.ts).
 */
async function copyCombustionBeside(o: DiscoverOptions, mnt: string, dest: string, where: string): Promise<void> {
  const to = join(dest, 'combustion');
  await cp(join(mnt, 'combustion'), to, { recursive: true, verbatimSymlinks: true, force: true });
  await chmod(join(to, 'script'), 0o700);
  o.log(`${where} also holds ${COMBUSTION_BESIDE}: it runs after the Ignition config, as Combustion runs after Ignition`);
}

async function copyConfig(o: DiscoverOptions, folder: string, name: string, source: string, format: ConfigFormat, medium?: Medium, subfolder?: string): Promise<Found> {
  const top = await freshConfigDir(o);
  const dest = subfolder !== undefined ? join(top, subfolder) : top;
  // Links are copied as links: the payload reader refuses any that lead out of the folder.
  await cp(folder, dest, { recursive: true, verbatimSymlinks: true, force: true });
  // Exec bits do not survive FAT or ISO media; Combustion sets them too.
  if (format === 'combustion') await chmod(join(dest, name), 0o700);
  o.log(`using ${source}; copied its folder to ${dest}`);
  return { configFile: join(dest, name), source, format, ...(medium !== undefined ? { medium } : {}) };
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
