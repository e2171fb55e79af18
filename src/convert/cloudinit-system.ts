/**
 * cloud-init's system settings (set_hostname, timezone, locale, keyboard), disk growth
 * (growpart, resize_rootfs), mounts, and runcmd/bootcmd as flint's settings, storage and
 * scripts.
 */
import type { PathSeg } from '../config/diagnostics.js';
import type { Filesystem, Script, Storage } from '../config/generated/model.js';
import { isObj } from './cloudinit-source.js';
import type { SeedFile } from './cloudinit-source.js';

export interface SystemSettings {
  hostname?: string;
  timezone?: string;
  locale?: string;
  keymap?: string;
}

/**
 * The host name cloud-init's set_hostname writes to /etc/hostname: the short name,
 * from hostname, fqdn or meta-data's local-hostname (in that order), or the FQDN
 * with prefer_fqdn_over_hostname. Nothing with preserve_hostname.
 */
export function convertSystem(ud: SeedFile | undefined, md: SeedFile | undefined): SystemSettings {
  const out: SystemSettings = {};
  const host = hostnameOf(ud, md);
  if (host !== undefined) out.hostname = host;
  if (ud === undefined) return out;
  const tz = ud.str(['timezone']);
  if (tz !== undefined) out.timezone = tz;
  const locale = ud.at(['locale']);
  if (locale !== false) {
    const l = ud.str(['locale']);
    if (l !== undefined) out.locale = l;
  }
  if (ud.written(['locale_configfile'])) ud.unsupported(['locale_configfile'], 'flint writes the locale where the target keeps it');
  const kb = ud.map(['keyboard']);
  if (kb !== undefined) {
    const layout = ud.str(['keyboard', 'layout']);
    const variant = ud.str(['keyboard', 'variant']);
    if (layout === undefined) ud.error(['keyboard'], 'missing-key', 'keyboard needs a layout', 'add layout: us (or de, fr, …)', 'key');
    else out.keymap = variant !== undefined && variant !== '' ? `${layout}-${variant}` : layout;
    ud.rest(['keyboard'], new Set(['layout', 'variant']), { model: 'flint sets the console keymap; the X11 model comes from the target\'s keymap table', options: 'flint sets no XKB options' });
  }
  return out;
}

function hostnameOf(ud: SeedFile | undefined, md: SeedFile | undefined): string | undefined {
  if (ud?.bool(['preserve_hostname']) === true) return undefined;
  const preferFqdn = ud?.bool(['prefer_fqdn_over_hostname']) === true;
  const fqdn = ud?.str(['fqdn']);
  const name = ud?.str(['hostname']);
  if (fqdn !== undefined) return preferFqdn ? fqdn : (name ?? fqdn.split('.')[0]);
  if (name !== undefined) return preferFqdn || !name.includes('.') ? name : name.split('.')[0];
  const local = md?.str(['local-hostname']) ?? md?.str(['hostname']);
  if (local !== undefined) return preferFqdn || !local.includes('.') ? local : local.split('.')[0];
  return undefined;
}

/** growpart + resize_rootfs (cloud-init grows / by default; flint only when the seed says so) and mounts. */
export function convertStorage(ud: SeedFile): Storage | undefined {
  const storage: Storage = {};
  const grow = growRoot(ud);
  if (grow !== undefined) storage.grow_root = grow;
  const fss = mounts(ud);
  if (fss.length > 0) storage.filesystems = fss;
  return Object.keys(storage).length > 0 ? storage : undefined;
}

function growRoot(ud: SeedFile): boolean | undefined {
  const hasGrow = ud.written(['growpart']);
  const hasResize = ud.written(['resize_rootfs']);
  if (!hasGrow && !hasResize) return undefined;
  let part = true;
  if (hasGrow && ud.map(['growpart']) !== undefined) {
    const mode = ud.at(['growpart', 'mode']);
    if (mode === false || (typeof mode === 'string' && /^(off|false)$/i.test(mode))) part = false;
    else if (mode !== undefined && !(typeof mode === 'string' && /^(auto|growpart|gpart)$/.test(mode))) ud.error(['growpart', 'mode'], 'enum', 'growpart mode must be auto, growpart, gpart, off or false');
    const devices = ud.strList(['growpart', 'devices'], false) ?? ['/'];
    if (!devices.includes('/')) part = false;
    if (devices.some((d) => d !== '/')) ud.unsupported(['growpart', 'devices'], 'flint grows only the root partition (device /)');
    ud.rest(['growpart'], new Set(['mode', 'devices']), { ignore_growroot_disabled: 'flint does not read /etc/growroot-disabled' });
  }
  let fs = true;
  if (hasResize) {
    const v = ud.at(['resize_rootfs']);
    if (typeof v === 'string' && v === 'noblock') fs = true;
    else fs = ud.bool(['resize_rootfs']) ?? true;
  }
  if (part !== fs) ud.warn(hasResize ? ['resize_rootfs'] : ['growpart'], 'grow-root', 'flint grows the root partition and its filesystem together; with only one of them asked for, it grows neither', undefined, 'key');
  return part && fs;
}

const FORMATS = new Set(['btrfs', 'ext4', 'xfs', 'vfat', 'swap']);

/** mounts: [spec, mount point, type, options, freq, passno] entries that flint can express. */
function mounts(ud: SeedFile): Filesystem[] {
  const list = ud.list(['mounts']);
  const out: Filesystem[] = [];
  const defaults = ud.strList(['mount_default_fields'], false);
  list?.forEach((_, i) => {
    const path: PathSeg[] = ['mounts', i];
    const f = ud.strList(path, false);
    if (f === undefined) return;
    const spec = f[0];
    const dir = f[1] ?? defaults?.[1];
    const type = f[2] ?? defaults?.[2] ?? 'auto';
    const opts = f[3] ?? defaults?.[3] ?? 'defaults,nofail,x-systemd.requires=cloud-init.service';
    if (spec === undefined || dir === undefined || dir === null || dir === '' || dir.toLowerCase() === 'none' && type !== 'swap') {
      ud.unsupported(path, 'an entry without a mount point removes a line from fstab in cloud-init; flint does not remove fstab lines');
      return;
    }
    const device = deviceOf(spec);
    if (device === undefined || !FORMATS.has(type)) {
      ud.unsupported(path, device === undefined ? `device ${spec} is cloud-specific; flint needs a device path, LABEL= or UUID=` : `filesystem type ${type}: flint mounts btrfs, ext4, xfs, vfat and swap, and needs the type written`);
      return;
    }
    const fs: Filesystem = { device, format: type as Filesystem['format'] };
    if (type !== 'swap') fs.mount = dir;
    const options = opts.split(',').filter((o) => o !== '' && o !== 'x-systemd.requires=cloud-init.service');
    if (options.length > 0) fs.mount_options = options;
    out.push(fs);
  });
  return out;
}

function deviceOf(spec: string): string | undefined {
  if (/^(ephemeral\d*|swap)$/.test(spec)) return undefined;
  if (spec.startsWith('/dev/')) return spec;
  const label = /^LABEL=(.+)$/.exec(spec);
  if (label) return `/dev/disk/by-label/${label[1]}`;
  const uuid = /^UUID=(.+)$/.exec(spec);
  if (uuid) return `/dev/disk/by-uuid/${uuid[1]}`;
  if (/^[a-z][a-z0-9]*$/.test(spec)) return `/dev/${spec}`;
  return undefined;
}

/**
 * runcmd and bootcmd as one script each, written as cloud-init's shellify writes them:
 * a string is a shell line, a list is argv, each word single-quoted.
 */
export function convertScripts(ud: SeedFile): Script[] {
  const out: Script[] = [];
  const boot = shellify(ud, ['bootcmd']);
  if (boot !== undefined) {
    out.push({ name: 'bootcmd', stage: 'pre', contents: boot });
    ud.warn(['bootcmd'], 'bootcmd', 'cloud-init runs bootcmd early on every boot, in the booted system; flint runs it once, as a pre script in the initramfs before the root is mounted', 'commands that change the installed system belong in runcmd', 'key');
  }
  const run = shellify(ud, ['runcmd']);
  if (run !== undefined) out.push({ name: 'runcmd', stage: 'post', contents: run });
  return out;
}

function shellify(ud: SeedFile, path: PathSeg[]): string | undefined {
  const list = ud.list(path);
  if (list === undefined || list.length === 0) return undefined;
  let text = '#!/bin/sh\n';
  list.forEach((item, i) => {
    if (typeof item === 'string') text += `${item}\n`;
    else if (Array.isArray(item)) text += `${item.map((w) => `'${String(isObj(w) ? JSON.stringify(w) : w).replace(/'/g, "'\\''")}'`).join(' ')}\n`;
    else ud.typeError([...path, i], 'a shell line or a list of words', item);
  });
  return text;
}
