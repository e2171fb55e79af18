/**
 * Where a first-boot apply writes, and how it is kept or thrown away as a whole.
 *
 * btrfs root with snapper's layout (openSUSE MicroOS: the default subvolume is
 * @/.snapshots/N/snapshot, /etc/snapper/configs/root exists): the filesystem's top level
 * is mounted under the work folder, the current default is snapshotted (writable) as the
 * next number, and the apply goes into that snapshot. Success makes it the default and
 * writes snapper's info.xml so `snapper list` shows it; failure deletes it. Either way
 * the running default is never written to. Afterwards /sysroot is mounted again, so the
 * initramfs switches to the new default, as Combustion does.
 *
 * Any other root: the engine's journal, on the root itself (remounted read-write when
 * it is mounted read-only, as Combustion does).
 */
import type { Program } from '../system/programs.js';
import { mountAt, unmount, unmountNote } from '../system/mount.js';
import type { Mount } from '../system/mount.js';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exec } from '../system/exec.js';

const SNAPSHOT_RE = /^\/?@\/\.snapshots\/(\d+)\/snapshot$/;

/** The snapshot number of a snapper-layout subvolume path (@/.snapshots/N/snapshot). */
export function snapshotNumber(subvolPath: string): number | undefined {
  const m = SNAPSHOT_RE.exec(subvolPath.trim());
  return m === null ? undefined : Number(m[1]);
}

/** The subvolume path `btrfs subvolume get-default` prints. */
export function parseGetDefault(out: string): string | undefined {
  return / path (.+)$/.exec(out.trim())?.[1];
}

/** snapper's info.xml for a snapshot flint made. DATE is UTC, as snapper writes it. */
export function infoXml(num: number, date: Date): string {
  const d = date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
  return `<?xml version="1.0"?>\n<snapshot>\n  <type>single</type>\n  <num>${num}</num>\n  <date>${d}</date>\n  <description>flint first-boot configuration</description>\n  <userdata>\n    <key>important</key>\n    <value>yes</value>\n  </userdata>\n</snapshot>\n`;
}

/** Btrfs subvolumes of the target's fstab (not / and not /.snapshots), to mount into the snapshot. */
export function fstabSubvolumes(fstab: string): Array<{ spec: string; mountPoint: string; subvol: string }> {
  const out: Array<{ spec: string; mountPoint: string; subvol: string }> = [];
  for (const line of fstab.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[0]!.startsWith('#') || f[2] !== 'btrfs') continue;
    const subvol = f[3]!.split(',').find((o) => o.startsWith('subvol='))?.slice('subvol='.length);
    if (subvol === undefined || f[1] === '/' || f[1] === '/.snapshots' || !f[1]!.startsWith('/')) continue;
    out.push({ spec: f[0]!, mountPoint: f[1]!, subvol });
  }
  return out;
}

/** How one apply is contained. */
export interface Strategy {
  kind: 'snapshot' | 'journal';
  /** The folder provision() writes into. */
  root: string;
  /** For the console: "snapshot 2 of /dev/vda3", "journal in /sysroot". */
  describe: string;
  /** Keep the result: the new default, then /sysroot on it. Lines for the log. */
  commit(log: (line: string) => void): Promise<void>;
  /** Throw it away; the root is as before. */
  abort(log: (line: string) => void): Promise<void>;
}

export interface StrategyOptions {
  sysroot: string;
  /** RAM folder, for the top-level mount. */
  work: string;
  mountinfo?: string;
  /** The root is the running system (flint run --booted): a new snapshot would only take effect at the next boot, so never one. */
  inPlace?: boolean;
  log(line: string): void;
}

export class SnapshotError extends Error {}

/** The snapshot strategy where the layout is there, else the journal on the root itself. */
export async function chooseStrategy(o: StrategyOptions): Promise<Strategy> {
  const m = mountAt(o.sysroot, o.mountinfo);
  if (o.inPlace !== true && m !== undefined && m.fstype === 'btrfs' && existsSync(join(o.sysroot, 'etc/snapper/configs/root')) && snapshotNumber(m.root) !== undefined) {
    return snapshotStrategy(o, m);
  }
  if (m !== undefined && m.options.includes('ro')) {
    await run('mount', ['-o', 'remount,rw', o.sysroot], `remounting ${o.sysroot} read-write`);
    o.log(`${o.sysroot} was mounted read-only: remounted it read-write`);
  }
  return {
    kind: 'journal',
    root: o.sysroot,
    describe: `the journal in ${o.sysroot}`,
    commit: async () => undefined,
    abort: async () => undefined,
  };
}

async function snapshotStrategy(o: StrategyOptions, m: Mount): Promise<Strategy> {
  const dev = m.source;
  const top = join(o.work, 'btrfs-top');
  mkdirSync(top, { recursive: true, mode: 0o700 });
  await run('mount', ['-t', 'btrfs', '-o', 'subvolid=5', dev, top], `mounting the top level of ${dev}`);
  const extra: string[] = [];
  const unmountAll = async (log: (l: string) => void) => {
    for (const p of [...extra.splice(0)].reverse()) await unmountOwn(p, log, false);
  };
  try {
    const def = parseGetDefault((await run('btrfs', ['subvolume', 'get-default', top], 'reading the default subvolume')).stdout);
    const current = def === undefined ? undefined : snapshotNumber(def);
    if (def === undefined || current === undefined) throw new SnapshotError(`the default subvolume of ${dev} is ${def ?? 'unknown'}, not @/.snapshots/N/snapshot`);
    const snapshots = join(top, '@/.snapshots');
    const num = Math.max(0, ...readdirSync(snapshots).filter((n) => /^\d+$/.test(n)).map(Number)) + 1;
    const folder = join(snapshots, String(num));
    const snap = join(folder, 'snapshot');
    mkdirSync(folder, { mode: 0o755 });
    const source = join(snapshots, String(current), 'snapshot');
    const made = await exec('btrfs', ['subvolume', 'snapshot', source, snap], { timeoutMs: 120_000 });
    if (!made.ok) {
      rmdirSync(folder);
      throw new SnapshotError(`cannot snapshot ${def}: ${made.summary}`);
    }
    // Subvolumes the target mounts itself (/var, /home, /root on MicroOS): written where they live, covered by the journal.
    const uuid = btrfsUuidFromSysfs(dev) ?? (await exec('blkid', ['-o', 'value', '-s', 'UUID', dev])).stdout.trim();
    const fstab = existsSync(join(snap, 'etc/fstab')) ? readFileSync(join(snap, 'etc/fstab'), 'utf8') : '';
    for (const sv of fstabSubvolumes(fstab)) {
      if (sv.spec !== dev && !(uuid !== '' && sv.spec === `UUID=${uuid}`)) continue;
      const at = join(snap, sv.mountPoint);
      if (!isDir(at)) continue;
      const r = await exec('mount', ['-t', 'btrfs', '-o', `subvol=${sv.subvol}`, dev, at]);
      if (r.ok) extra.push(at);
      else o.log(`btrfs: could not mount subvolume ${sv.subvol} on ${sv.mountPoint} in the snapshot: ${r.summary}`);
    }
    const readOnly = (await exec('btrfs', ['property', 'get', '-ts', source, 'ro'])).stdout.trim() === 'ro=true';
    // Once it is the default, it is the system: a later failure (the remount) must not delete it.
    let isDefault = false;
    const finish = async (log: (l: string) => void) => {
      await unmountAll(log);
      await unmountOwn(top, log, true);
    };
    return {
      kind: 'snapshot',
      root: snap,
      describe: `a new btrfs snapshot ${num} (from snapshot ${current}) on ${dev}`,
      async commit(log) {
        try {
          await unmountAll(log);
          // The same layout as before: MicroOS keeps its snapshots read-only.
          if (readOnly) await run('btrfs', ['property', 'set', '-ts', snap, 'ro', 'true'], 'making the snapshot read-only');
          writeFileSync(join(folder, 'info.xml'), infoXml(num, new Date()), { mode: 0o640 });
          await run('btrfs', ['subvolume', 'set-default', snap], `making snapshot ${num} the default`);
          isDefault = true;
          log(`btrfs: snapshot ${num} is the new default subvolume (snapper lists it as "flint first-boot configuration")`);
        } finally {
          await finish(log);
        }
        await remountSysroot(o.sysroot, m, log);
      },
      async abort(log) {
        if (isDefault) {
          log(`btrfs: snapshot ${num} is already the default subvolume, so it is kept; the next boot uses it`);
          return;
        }
        try {
          await unmountAll(log);
          // --commit-after: without it the deletion waits for btrfs's next commit (up to
          // 30 s), and a power cut before that brings the half-made snapshot back.
          const del = await exec('btrfs', ['subvolume', 'delete', '--commit-after', snap], { timeoutMs: 120_000 });
          if (del.ok) {
            rmSync(folder, { recursive: true, force: true });
            await exec('btrfs', ['filesystem', 'sync', top], { timeoutMs: 120_000 });
            log(`btrfs: snapshot ${num} deleted; the default is still snapshot ${current}`);
          } else log(`btrfs: could not delete snapshot ${num} (${del.summary}); it is not the default, so the next boot is as before`);
        } finally {
          await finish(log);
        }
      },
    };
  } catch (e) {
    await unmountAll(o.log);
    await unmountOwn(top, o.log, true);
    throw e;
  }
}

/**
 * /sysroot unmounted and mounted again, so it is the new default subvolume, as Combustion
 * does. Under systemd (the initramfs) sysroot.mount does the mounting, with a drop-in when
 * its options pin the old subvolume; elsewhere the same device is mounted directly.
 */
async function remountSysroot(sysroot: string, m: Mount, log: (l: string) => void): Promise<void> {
  const underSystemd = existsSync('/run/systemd/system') && realpathSync(sysroot) === '/sysroot';
  const keep = m.options.filter((opt) => opt === 'ro' || opt === 'rw');
  if (underSystemd) {
    // The options the unit was given (its file and drop-ins), not `systemctl show -P
    // Options`: that is the live mount's, and the kernel lists subvol= for every btrfs
    // mount, which made this reload systemd (2 s under emulation) on every first boot.
    const opts = configuredMountOptions((await exec('systemctl', ['cat', 'sysroot.mount'])).stdout);
    if (/(^|,)subvol(id)?=/.test(opts)) {
      const def = parseGetDefault((await run('btrfs', ['subvolume', 'get-default', sysroot], 'reading the default subvolume')).stdout) ?? '';
      const rest = opts.split(',').filter((o) => !/^subvol(id)?=/.test(o));
      mkdirSync('/run/systemd/system/sysroot.mount.d', { recursive: true });
      writeFileSync('/run/systemd/system/sysroot.mount.d/flint-newsubvol.conf', `[Mount]\nOptions=${[...rest, `subvol=/${def.replace(/^\//, '')}`].join(',')}\n`);
      await run('systemctl', ['daemon-reload'], 'reloading systemd');
    }
    await run('umount', ['-R', sysroot], `unmounting ${sysroot}`);
    await run('systemctl', ['start', 'sysroot.mount'], `mounting ${sysroot} again`);
  } else {
    await run('umount', ['-R', sysroot], `unmounting ${sysroot}`);
    await run('mount', ['-t', 'btrfs', ...(keep.length > 0 ? ['-o', keep.join(',')] : []), m.source, sysroot], `mounting ${sysroot} again`);
  }
  log(`${sysroot} is mounted again, on the new default subvolume`);
}

/**
 * Options= of a mount unit as `systemctl cat` prints it (the unit file, then its
 * drop-ins): the last assignment in a [Mount] section wins, an empty one resets.
 */
export function configuredMountOptions(catText: string): string {
  let section = '';
  let options = '';
  for (const raw of catText.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) section = line;
    else if (section === '[Mount]' && line.startsWith('Options=')) options = line.slice('Options='.length).trim();
  }
  return options;
}

async function run(file: Program, args: string[], what: string): Promise<{ stdout: string }> {
  const r = await exec(file, args, { timeoutMs: 120_000 });
  if (!r.ok) throw new SnapshotError(`${what}: ${r.summary}`);
  return r;
}

/** REMOVE: the mount point is flint's own (not a folder of the target), so it goes too. */
async function unmountOwn(p: string, log: (l: string) => void, remove: boolean): Promise<void> {
  const u = await unmount(p);
  if (u.ok && remove) rmdirSync(p);
  const note = unmountNote(p, u);
  if (note !== undefined) log(note);
}

/**
 * The filesystem UUID of a mounted btrfs, from /sys/fs/btrfs/UUID/devices/NAME (the
 * kernel's own list), without starting blkid. Undefined where sysfs does not say.
 */
export function btrfsUuidFromSysfs(dev: string, sys = '/sys'): string | undefined {
  let name: string;
  let fsids: string[];
  try {
    name = realpathSync(dev).split('/').pop() ?? '';
    fsids = readdirSync(join(sys, 'fs/btrfs')).filter((n) => /^[0-9a-f-]{36}$/.test(n));
  } catch {
    return undefined;
  }
  return fsids.find((id) => existsSync(join(sys, 'fs/btrfs', id, 'devices', name)));
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
