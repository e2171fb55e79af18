/**
 * Storage on real loop devices: a 2 GiB raw image (GPT: ESP vfat + root) attached as a
 * 16 GiB disk (sparse; the backup GPT header sits mid-disk), grown root, a new /var with
 * the old /var's data, swap, fstab, a second apply that changes nothing; and configs
 * refused before any write. Needs root, loop devices and the mkfs tools.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { provision } from '../../src/pipeline/provision.js';
import { ApplyError } from '../../src/engine/apply.js';
import { applyStorage, planStorage, recoverStorage } from '../../src/steps/storage/step.js';
import { TargetRoot } from '../../src/target/root.js';
import { Journal } from '../../src/transaction/journal.js';

const BIN = new URL('../../dist/flint.mjs', import.meta.url).pathname;
const SBIN = '/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin';
process.env.PATH = `${SBIN}:${process.env.PATH ?? ''}`;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

function support(): { ok: boolean; reason?: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'needs Linux' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'needs root (losetup, mount, mkfs)' };
  const tools: Array<[string, string]> = [['losetup', 'mount'], ['sfdisk', 'fdisk'], ['partx', 'util-linux'], ['mkfs.btrfs', 'btrfs-progs'], ['mkfs.xfs', 'xfsprogs'], ['xfs_growfs', 'xfsprogs'], ['mkfs.ext4', 'e2fsprogs'], ['mkfs.vfat', 'dosfstools'], ['setfattr', 'attr'], ['setfacl', 'acl']];
  for (const [tool, pkg] of tools) if (!hasTool(tool)) return { ok: false, reason: `${tool} not installed (apt-get install ${pkg})` };
  const probe = spawnSync('losetup', ['-f'], { encoding: 'utf8' });
  if (probe.status !== 0) return { ok: false, reason: `no free loop device: ${probe.stderr.trim()}` };
  const fs = readFileSync('/proc/filesystems', 'utf8');
  for (const t of ['btrfs', 'xfs', 'ext4']) if (!fs.includes(`\t${t}`)) return { ok: false, reason: `this kernel cannot mount ${t}` };
  return { ok: true };
}

const can = support();
const tmp = mkdtempSync(join(tmpdir(), 'flint-storage-'));
const cleanups: Array<() => void> = [];
// Each test's mounts and loop devices go when it ends: a partition label left attached
// would (rightly) make the next test's labels ambiguous.
afterEach(() => {
  for (const c of cleanups.reverse()) c();
  cleanups.length = 0;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function sh(file: string, args: string[], input?: string): string {
  return execFileSync(file, args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}), stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Attach IMG with its partitions visible (no udev here: partx adds them), detached after the tests. */
function attach(img: string): string {
  const dev = sh('losetup', ['-f', '--show', '-P', img]).trim();
  cleanups.push(() => void spawnSync('losetup', ['-d', dev]));
  spawnSync('partx', ['-a', dev]);
  return dev;
}

function waitFor(node: string): void {
  const end = Date.now() + 10_000;
  while (!existsSync(node)) {
    if (Date.now() > end) throw new Error(`${node} did not appear`);
    spawnSync('sleep', ['0.1']);
  }
}

function mount(args: string[], dir: string): void {
  mkdirSync(dir, { recursive: true });
  sh('mount', [...args, dir]);
  cleanups.push(() => void spawnSync('umount', ['-l', dir]));
}

interface Image {
  img: string;
  dev: string;
  root: string;
  work: string;
}

/**
 * The 2 GiB image: GPT with a 256 MiB ESP (vfat) and a root filesystem holding /var
 * (a btrfs subvolume for btrfs, as on MicroOS), then made 16 GiB by truncate.
 */
function rawImage(rootFs: 'btrfs' | 'ext4' | 'xfs'): Image {
  const work = mkdtempSync(join(tmp, `${rootFs}-`));
  const img = join(work, 'disk.img');
  writeFileSync(img, '');
  sh('truncate', ['-s', '2G', img]);
  sh('sfdisk', ['-q', img], 'label: gpt\nsize=256MiB, type=uefi, name=esp\ntype=linux, name=root\n');
  const dev = attach(img);
  waitFor(`${dev}p2`);
  sh('mkfs.vfat', ['-n', 'ESP', `${dev}p1`]);
  sh(`mkfs.${rootFs}`, [rootFs === 'ext4' ? '-F' : '-f', '-q', '-L', 'root', `${dev}p2`]);
  const root = join(work, 'root');
  const rootUuid = sh('blkid', ['-c', '/dev/null', '-s', 'UUID', '-o', 'value', `${dev}p2`]).trim();
  let fstab = `UUID=${rootUuid} / ${rootFs} defaults 0 ${rootFs === 'ext4' ? 1 : 0}\n`;
  if (rootFs === 'btrfs') {
    // MicroOS's layout: the root is snapshot @/.snapshots/1/snapshot, /var the subvolume @/var.
    const top = join(work, 'top');
    mkdirSync(top);
    sh('mount', [`${dev}p2`, top]);
    for (const sub of ['@', '@/var', '@/.snapshots']) sh('btrfs', ['-q', 'subvolume', 'create', join(top, sub)]);
    mkdirSync(join(top, '@/.snapshots/1'));
    sh('btrfs', ['-q', 'subvolume', 'create', join(top, '@/.snapshots/1/snapshot')]);
    mkdirSync(join(top, '@/.snapshots/1/snapshot/var'));
    populateVar(join(top, '@/var'));
    sh('umount', [top]);
    mount(['-o', 'subvol=@/.snapshots/1/snapshot', `${dev}p2`], root);
    fstab += `UUID=${rootUuid} /var btrfs subvol=/@/var,x-initrd.mount 0 0\n`;
  } else {
    mount([`${dev}p2`], root);
    mkdirSync(join(root, 'var'));
    populateVar(join(root, 'var'));
  }
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/fstab'), `# static file system information\n${fstab}`);
  // A raw image written to a bigger disk: the disk grows, the GPT's backup header stays at 2 GiB.
  sh('truncate', ['-s', '16G', img]);
  sh('losetup', ['-c', dev]);
  return { img, dev, root, work };
}

function populateVar(v: string): void {
  mkdirSync(join(v, 'lib/app'), { recursive: true });
  sh('chown', ['1234:5678', join(v, 'lib/app')]);
  sh('chmod', ['0750', join(v, 'lib/app')]);
  writeFileSync(join(v, 'lib/app/data'), 'payload\n');
  sh('chown', ['1234:5678', join(v, 'lib/app/data')]);
  sh('chmod', ['0640', join(v, 'lib/app/data')]);
  sh('ln', [join(v, 'lib/app/data'), join(v, 'lib/app/data-link')]);
  sh('setfattr', ['-n', 'user.flint', '-v', 'kept', join(v, 'lib/app/data')]);
  sh('setfacl', ['-m', 'u:4321:r', join(v, 'lib/app/data')]);
  // 64 MiB with two bytes of data: must stay sparse.
  const fd = openSync(join(v, 'lib/app/sparse'), 'w');
  writeSync(fd, 'a', 0);
  writeSync(fd, 'z', 64 * MiB - 1);
  ftruncateSync(fd, 64 * MiB);
  closeSync(fd);
  mkdirSync(join(v, 'tmp'), { mode: 0o1777 });
  sh('chmod', ['1777', join(v, 'tmp')]);
  sh('ln', ['-s', '../run', join(v, 'run')]);
}

function table(dev: string): { lastlba: number; partitions: Array<{ node: string; start: number; size: number; type: string; name: string; uuid: string }> } {
  return JSON.parse(sh('sfdisk', ['--json', dev])).partitiontable;
}

function writeConfig(work: string, name: string, text: string): string {
  const file = join(work, name);
  writeFileSync(file, text);
  return file;
}

function varConfig(format: string, grow = true): string {
  return `version: 1
storage:
  grow_root: ${grow}
  disks:
    - device: root
      partitions:
        - {label: var, size: 6GiB, type: var}
        - {label: swap, size: 1GiB, type: swap}
  filesystems:
    - {partlabel: var, format: ${format}, label: var, mount: /var, mount_options: [noatime], copy_existing: true}
    - {partlabel: swap, format: swap, label: swap}
`;
}

function fsSize(dir: string): number {
  return Number(sh('df', ['-B1', '--output=size', dir]).split('\n')[1]!.trim());
}

/**
 * The kernel grows a mounted ext4 only for a process with CAP_SYS_RESOURCE; some
 * containers withhold it (resize2fs then says "Permission denied to resize filesystem").
 */
function hasCapSysResource(): boolean {
  const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  return (BigInt(`0x${eff}`) >> 24n) & 1n ? true : false;
}
const capResource = can.ok && hasCapSysResource();

function problemsOf(r: Awaited<ReturnType<typeof provision>>): string {
  return JSON.stringify(r.ok ? [] : r.stage === 'plan' ? r.plan.problems : r.diagnostics);
}

async function varOnPartition(rootFs: 'btrfs' | 'ext4' | 'xfs', grow: boolean): Promise<void> {
  const { dev, root, work } = rawImage(rootFs);
  const before = table(dev);
  expect(before.lastlba).toBeLessThan((2 * GiB) / 512);
  const rootSizeBefore = fsSize(root);
  const cfg = writeConfig(work, 'c.yaml', varConfig(rootFs, grow));

  const planned = await provision({ root, configFile: cfg, apply: false });
  expect(planned.ok, problemsOf(planned)).toBe(true);
  if (!planned.ok) return;
  const summary = (planned.plan.report.storage as string[]).join('\n');
  expect(summary).toMatch(/before:[\s\S]*esp[\s\S]*root[\s\S]*after:/);
  expect(summary).toMatch(/var +new/);
  if (grow) expect(summary).toMatch(/grown from 1\.75 GiB/);
  expect(table(dev)).toEqual(before);

  const r = await provision({ root, configFile: cfg, apply: true });
  expect(r.ok, problemsOf(r)).toBe(true);

  const after = table(dev);
  const sectors = (16 * GiB) / 512;
  expect(after.lastlba).toBe(sectors - 34);
  const [esp, rootPart, varPart, swapPart] = after.partitions;
  expect(esp).toMatchObject({ start: before.partitions[0]!.start, size: before.partitions[0]!.size, name: 'esp' });
  expect(rootPart!.start).toBe(before.partitions[1]!.start);
  expect(varPart).toMatchObject({ name: 'var', size: (6 * GiB) / 512, type: '4D21B016-B534-45C2-A9FB-5C16E091FD2D' });
  expect(swapPart).toMatchObject({ name: 'swap', size: GiB / 512, type: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F' });
  expect(varPart!.start + varPart!.size).toBe(swapPart!.start);
  expect(varPart!.start % 2048).toBe(0);
  if (grow) {
    // Root grown up to the new partitions, which fill the disk's end.
    expect(rootPart!.start + rootPart!.size).toBe(varPart!.start);
    expect(sectors - 34 - (swapPart!.start + swapPart!.size - 1)).toBeLessThan(2048);
    expect(fsSize(root)).toBeGreaterThan(rootSizeBefore + 6 * GiB);
  } else {
    expect(rootPart!.size).toBe(before.partitions[1]!.size);
    // New partitions go right after the last one, at the next MiB.
    expect(varPart!.start).toBe(Math.ceil((rootPart!.start + rootPart!.size) / 2048) * 2048);
  }
  // Nothing stays mounted in the target.
  expect(sh('findmnt', ['-n', '-o', 'TARGET', '-T', join(root, 'var')]).trim()).toBe(root);

  const blk = (tag: string, node: string) => sh('blkid', ['-c', '/dev/null', '-p', '-s', tag, '-o', 'value', node]).trim();
  const varUuid = blk('UUID', `${dev}p3`);
  const swapUuid = blk('UUID', `${dev}p4`);
  expect(blk('TYPE', `${dev}p3`)).toBe(rootFs);
  expect(blk('TYPE', `${dev}p4`)).toBe('swap');
  expect(blk('LABEL', `${dev}p4`)).toBe('swap');
  const fstab = readFileSync(join(root, 'etc/fstab'), 'utf8');
  expect(fstab).toContain(`UUID=${varUuid} /var ${rootFs} noatime 0 ${rootFs === 'ext4' ? 2 : 0}\n`);
  expect(fstab).toContain(`UUID=${swapUuid} none swap defaults 0 0\n`);
  // MicroOS: the /var subvolume's line is replaced, not joined by a second /var line.
  expect(fstab.match(/ \/var /g)).toHaveLength(1);
  expect(fstab).toMatch(/^# static file system information\nUUID=\S+ \/ /);

  // Mounting per fstab works, and /var's content is there with owners, modes, links, xattrs, ACLs, holes.
  sh('mount', ['--fstab', join(root, 'etc/fstab'), '--target-prefix', root, '/var']);
  try {
    const v = join(root, 'var');
    expect(sh('findmnt', ['-n', '-o', 'SOURCE', v]).trim()).toBe(`${dev}p3`);
    const app = statSync(join(v, 'lib/app'));
    expect([app.uid, app.gid, app.mode & 0o7777]).toEqual([1234, 5678, 0o750]);
    const data = statSync(join(v, 'lib/app/data'));
    expect([data.uid, data.gid, data.mode & 0o7777]).toEqual([1234, 5678, 0o640]);
    expect(readFileSync(join(v, 'lib/app/data'), 'utf8')).toBe('payload\n');
    expect(statSync(join(v, 'lib/app/data-link')).ino).toBe(data.ino);
    expect(sh('getfattr', ['--only-values', '-n', 'user.flint', join(v, 'lib/app/data')])).toBe('kept');
    expect(sh('getfacl', ['-p', join(v, 'lib/app/data')])).toContain('user:4321:r--');
    const sparse = statSync(join(v, 'lib/app/sparse'));
    expect(sparse.size).toBe(64 * MiB);
    expect(sparse.blocks * 512).toBeLessThan(MiB);
    expect(statSync(join(v, 'tmp')).mode & 0o7777).toBe(0o1777);
    expect(lstatSync(join(v, 'run')).isSymbolicLink()).toBe(true);
  } finally {
    sh('umount', [join(root, 'var')]);
  }

  // A second apply changes nothing: same table, same fstab, nothing planned.
  const again = await provision({ root, configFile: cfg, apply: true });
  expect(again.ok, problemsOf(again)).toBe(true);
  if (!again.ok) return;
  expect(again.plan.planned).toEqual([]);
  expect(again.report).toBeUndefined();
  expect(table(dev)).toEqual(after);
  expect(readFileSync(join(root, 'etc/fstab'), 'utf8')).toBe(fstab);
  expect(existsSync(join(root, '.flint-storage-undo.json'))).toBe(false);
}

describe.skipIf(!can.ok)(`storage on loop devices${can.ok ? '' : ` (SKIPPED: ${can.reason})`}`, () => {
  const noCap = ' (SKIPPED: no CAP_SYS_RESOURCE here, so the kernel refuses to grow a mounted ext4)';
  for (const rootFs of ['btrfs', 'ext4', 'xfs'] as const) {
    const skip = rootFs === 'ext4' && !capResource;
    it.skipIf(skip)(`${rootFs} root: grow_root + 6 GiB /var + 1 GiB swap, data moved, fstab right, second apply changes nothing${skip ? noCap : ''}`, () => varOnPartition(rootFs, true), 240_000);
  }

  it('ext4 root: 6 GiB /var + 1 GiB swap without grow_root, data moved, second apply changes nothing', () => varOnPartition('ext4', false), 240_000);

  it.skipIf(!existsSync(BIN))(`flint plan and apply (the CLI) show the tables before and after, and apply twice${existsSync(BIN) ? '' : ' (SKIPPED: dist/flint.mjs not built)'}`, () => {
    const { dev, root, work } = rawImage('btrfs');
    const cfg = writeConfig(work, 'c.yaml', varConfig('btrfs'));
    const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args, '--root', root, cfg], { encoding: 'utf8' });
    const plan = cli('plan');
    expect(plan.status, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(new RegExp(`disk ${dev} \\(16 GiB, holds the root filesystem\\): changes\n  move the backup GPT header to the end of the disk\n  before:\n    #  start   end      size      type   name\n    1  2048    526335   256 MiB   esp    esp\n    2  526336  4192255  1\\.75 GiB  linux  root\n  after:\n`));
    expect(plan.stdout).toMatch(/ 3 +\d+ +\d+ +6 GiB +var +var +new\n +4 +\d+ +\d+ +1 GiB +swap +swap +new\n/);
    expect(plan.stdout).toContain('make btrfs labelled var on');
    expect(plan.stdout).toMatch(/~ change {2}\/etc\/fstab/);
    const planJson = cli('plan', '--json');
    expect(planJson.status, planJson.stderr).toBe(0);
    const lines = (JSON.parse(planJson.stdout) as { storage?: string[] }).storage ?? [];
    expect(lines.join('\n')).toMatch(/ 3 +\d+ +\d+ +6 GiB +var +var +new\n/);
    expect(lines).toContain(plan.stdout.split('\n')[0]);
    const apply = cli('apply');
    expect(apply.status, apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(/applied 1 change/);
    const again = cli('apply');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/: unchanged\n/);
    expect(again.stdout).toMatch(/nothing to do/);
  }, 120_000);

  it('a root partition grown without its filesystem (a grow cut short): grow_root grows the filesystem, once', async () => {
    const { dev, root, work } = rawImage('xfs');
    sh('sfdisk', ['-q', '--relocate', 'gpt-bak-std', dev]);
    sh('sfdisk', ['-q', '--no-reread', '-N', '2', dev], ', +\n');
    sh('partx', ['-u', '--nr', '2', dev]);
    const small = fsSize(root);
    const cfg = writeConfig(work, 'c.yaml', 'version: 1\nstorage:\n  grow_root: true\n');
    const r = await provision({ root, configFile: cfg, apply: true });
    expect(r.ok, problemsOf(r)).toBe(true);
    if (!r.ok) return;
    expect((r.plan.report.storage as string[]).join('\n')).toMatch(/: unchanged\ngrow the root xfs filesystem/);
    expect(fsSize(root)).toBeGreaterThan(small + 12 * GiB);
    const again = await provision({ root, configFile: cfg, apply: true });
    expect(again.ok && again.report === undefined && !(again.plan.report.storage as string[]).join('\n').includes('grow')).toBe(true);
  }, 120_000);

  it('a later step fails: the tables are put back (the root stays grown), fstab is unchanged, nothing stays mounted', async () => {
    const { dev, root, work } = rawImage('btrfs');
    const before = table(dev);
    const fstab = readFileSync(join(root, 'etc/fstab'), 'utf8');
    const cfg = writeConfig(work, 'c.yaml', varConfig('btrfs'));
    process.env.FLINT_TEST_FAIL_AT = '1';
    try {
      await expect(provision({ root, configFile: cfg, apply: true })).rejects.toThrow(ApplyError);
    } finally {
      delete process.env.FLINT_TEST_FAIL_AT;
    }
    const t = table(dev);
    expect(t.partitions.map((p) => p.name)).toEqual(['esp', 'root']);
    expect(t.partitions[0]).toEqual(before.partitions[0]);
    // The grown filesystem cannot shrink back, so its partition keeps the new size.
    expect(t.partitions[1]!.size).toBeGreaterThan(before.partitions[1]!.size);
    expect(t.partitions[1]!.uuid).toBe(before.partitions[1]!.uuid);
    // The kernel forgot the partitions too.
    expect(existsSync(`/sys/class/block/${dev.slice(5)}/${dev.slice(5)}p3`)).toBe(false);
    expect(readFileSync(join(root, 'etc/fstab'), 'utf8')).toBe(fstab);
    expect(existsSync(join(root, '.flint-storage-undo.json'))).toBe(false);
    expect(sh('findmnt', ['-n', '-o', 'TARGET', '-T', join(root, 'var')]).trim()).toBe(root);
    // The old /var (MicroOS: the @/var subvolume) is untouched and still what fstab mounts.
    sh('mount', ['--fstab', join(root, 'etc/fstab'), '--target-prefix', root, '/var']);
    try {
      expect(readFileSync(join(root, 'var/lib/app/data'), 'utf8')).toBe('payload\n');
    } finally {
      sh('umount', [join(root, 'var')]);
    }
  }, 120_000);

  it('a power cut mid-apply: the next run restores the file journal inside the new /var, then the tables', async () => {
    const { dev, root } = rawImage('xfs');
    const before = table(dev);
    const fstab = readFileSync(join(root, 'etc/fstab'), 'utf8');
    const target = new TargetRoot(root);
    const plan = await planStorage(target, { disks: [{ device: 'root', partitions: [{ label: 'var', size: '1GiB' }] }], filesystems: [{ partlabel: 'var', format: 'xfs', mount: '/var', copy_existing: true }] });
    expect(plan.problems).toEqual([]);
    await applyStorage(target, plan);
    // The engine's journal, as far as it got: inside the new /var.
    const journal = Journal.begin(target);
    journal.record('/etc/fstab');
    target.writeFile('/etc/fstab', Buffer.from('half-written\n'), 0o644, 0, 0);
    expect(existsSync(join(root, 'var/lib/flint/journal/header.json'))).toBe(true);
    // The power goes: the mounts are gone, nothing was finished.
    sh('umount', [join(root, 'var')]);
    expect(table(dev).partitions.map((p) => p.name)).toEqual(['esp', 'root', 'var']);
    const restored = await recoverStorage(target);
    expect(restored).toBe(1);
    expect(readFileSync(join(root, 'etc/fstab'), 'utf8')).toBe(fstab);
    expect(table(dev).partitions).toEqual(before.partitions);
    expect(existsSync(`/sys/class/block/${dev.slice(5)}/${dev.slice(5)}p3`)).toBe(false);
    expect(existsSync(join(root, '.flint-storage-undo.json'))).toBe(false);
    expect(sh('findmnt', ['-n', '-o', 'TARGET', '-T', join(root, 'var')]).trim()).toBe(root);
    expect(await recoverStorage(target)).toBeUndefined();
  }, 120_000);

  it.runIf(!capResource)('ext4 root where the kernel refuses the online grow: the apply fails clearly and the table and fstab are put back', async () => {
    const { dev, root, work } = rawImage('ext4');
    const fstab = readFileSync(join(root, 'etc/fstab'), 'utf8');
    const cfg = writeConfig(work, 'c.yaml', varConfig('ext4'));
    await expect(provision({ root, configFile: cfg, apply: true })).rejects.toThrow(/resize2fs .*Permission denied to resize filesystem .*CAP_SYS_RESOURCE.*put back/);
    const t = table(dev);
    expect(t.partitions.map((p) => p.name)).toEqual(['esp', 'root']);
    expect(readFileSync(join(root, 'etc/fstab'), 'utf8')).toBe(fstab);
    expect(existsSync(join(root, '.flint-storage-undo.json'))).toBe(false);
    expect(sh('findmnt', ['-n', '-o', 'TARGET', '-T', join(root, 'var')]).trim()).toBe(root);
  }, 120_000);
});

/** A small data disk (no root filesystem on it) for the refusals: its bytes are compared before and after. */
function dataDisk(name: string, script: string): { img: string; dev: string; work: string } {
  const work = mkdtempSync(join(tmp, `${name}-`));
  const img = join(work, 'data.img');
  writeFileSync(img, '');
  sh('truncate', ['-s', '256M', img]);
  sh('sfdisk', ['-q', img], script);
  const dev = attach(img);
  return { img, dev, work };
}

function digest(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

describe.skipIf(!can.ok)(`storage refusals${can.ok ? '' : ` (SKIPPED: ${can.reason})`}`, () => {
  function targetRoot(): string {
    const d = mkdtempSync(join(tmp, 'target-'));
    mkdirSync(join(d, 'etc'));
    return d;
  }

  it('refuses to shrink or replace a partition without replace: true, and writes nothing', async () => {
    const { img, dev, work } = dataDisk('shrink', 'label: gpt\nsize=64MiB, type=linux, name=data\n');
    waitFor(`${dev}p1`);
    sh('mkfs.ext4', ['-q', '-F', '-L', 'data', `${dev}p1`]);
    spawnSync('sync');
    const sum = digest(img);
    const cfg = writeConfig(work, 'c.yaml', `version: 1\nstorage:\n  disks:\n    - device: ${dev}\n      partitions:\n        - {label: data, size: 32MiB}\n`);
    const r = await provision({ root: targetRoot(), configFile: cfg, apply: true });
    expect(r.ok).toBe(false);
    if (r.ok || r.stage !== 'plan') throw new Error('expected a plan problem');
    const p = r.plan.problems.find((x) => x.step === 'storage')!;
    expect(p.message).toMatch(/partition "data" exists on .* as 64 MiB linux; the config asks for 32MiB linux/);
    expect(p.hint).toMatch(/replace: true/);
    expect(p.path).toEqual(['storage', 'disks', 0, 'partitions', 0]);
    expect(digest(img)).toBe(sum);
  });

  it('refuses to format over a filesystem without wipe: true, and writes nothing', async () => {
    const { img, dev, work } = dataDisk('wipe', 'label: gpt\nsize=64MiB, type=linux, name=data\n');
    waitFor(`${dev}p1`);
    sh('mkfs.ext4', ['-q', '-F', '-L', 'data', `${dev}p1`]);
    spawnSync('sync');
    const sum = digest(img);
    const cfg = writeConfig(work, 'c.yaml', `version: 1\nstorage:\n  disks:\n    - device: ${dev}\n      partitions:\n        - {label: data, size: 64MiB}\n  filesystems:\n    - {device: ${dev}p1, format: xfs}\n`);
    const r = await provision({ root: targetRoot(), configFile: cfg, apply: true });
    if (r.ok || r.stage !== 'plan') throw new Error('expected a plan problem');
    expect(r.plan.problems.map((x) => x.message).join('\n')).toMatch(/holds a ext4 \(label data\); the config asks for xfs/);
    expect(digest(img)).toBe(sum);
  });

  it('refuses a config bigger than the disk in the plan, with the sizes', async () => {
    const { img, dev, work } = dataDisk('big', 'label: gpt\nsize=64MiB, type=linux, name=data\n');
    const sum = digest(img);
    const cfg = writeConfig(work, 'c.yaml', `version: 1\nstorage:\n  disks:\n    - device: ${dev}\n      partitions:\n        - {label: data, size: 64MiB}\n        - {label: big, size: 10GiB}\n`);
    const r = await provision({ root: targetRoot(), configFile: cfg, apply: false });
    if (r.ok || r.stage !== 'plan') throw new Error('expected a plan problem');
    const p = r.plan.problems.find((x) => x.step === 'storage')!;
    expect(p.message).toMatch(/the new partitions need 10 GiB, but \/dev\/loop\d+ \(256 MiB\) has only 19\d MiB free/);
    expect(p.path).toEqual(['storage', 'disks', 0, 'partitions']);
    expect(digest(img)).toBe(sum);
  });

  it('adds a partition and a filesystem on a data disk found by a by-partlabel path without udev', async () => {
    const { dev, work } = dataDisk('add', 'label: gpt\nsize=64MiB, type=linux, name=data\n');
    const root = targetRoot();
    writeFileSync(join(root, 'etc/fstab'), '');
    const cfg = writeConfig(work, 'c.yaml', `version: 1\nstorage:\n  disks:\n    - device: ${dev}\n      partitions:\n        - {label: data, size: 64MiB}\n        - {label: flint-t-logs}\n  filesystems:\n    - {device: /dev/disk/by-partlabel/flint-t-logs, format: ext4, label: logs, mount: /srv/logs}\n`);
    const r = await provision({ root, configFile: cfg, apply: true });
    expect(r.ok, JSON.stringify(r.ok ? [] : r.stage === 'plan' ? r.plan.problems : r.diagnostics)).toBe(true);
    const t = table(dev);
    expect(t.partitions.map((p) => p.name)).toEqual(['data', 'flint-t-logs']);
    expect(t.partitions[1]!.start % 2048).toBe(0);
    const uuid = sh('blkid', ['-c', '/dev/null', '-p', '-s', 'UUID', '-o', 'value', `${dev}p2`]).trim();
    expect(readFileSync(join(root, 'etc/fstab'), 'utf8')).toBe(`UUID=${uuid} /srv/logs ext4 defaults 0 2\n`);
    expect(statSync(join(root, 'srv/logs')).isDirectory()).toBe(true);
    const again = await provision({ root, configFile: cfg, apply: true });
    expect(again.ok && again.plan.planned.length === 0 && again.report === undefined).toBe(true);
  });

  it('replace: true deletes and recreates a partition, and the plan says what is destroyed', async () => {
    const { dev, work } = dataDisk('replace', 'label: gpt\nsize=64MiB, type=linux, name=data\n');
    waitFor(`${dev}p1`);
    sh('mkfs.ext4', ['-q', '-F', '-L', 'data', `${dev}p1`]);
    const root = targetRoot();
    const cfg = writeConfig(work, 'c.yaml', `version: 1\nstorage:\n  disks:\n    - device: ${dev}\n      partitions:\n        - {label: data, size: 32MiB, replace: true}\n  filesystems:\n    - {partlabel: data, format: vfat, label: DATA}\n`);
    const planned = await provision({ root, configFile: cfg, apply: false });
    expect(planned.ok, problemsOf(planned)).toBe(true);
    if (!planned.ok) return;
    expect((planned.plan.report.storage as string[]).join('\n')).toMatch(/DESTROY partition 1 \(data, 64 MiB, ext4 filesystem\)/);
    const r = await provision({ root, configFile: cfg, apply: true });
    expect(r.ok, problemsOf(r)).toBe(true);
    expect(table(dev).partitions).toMatchObject([{ name: 'data', start: 2048, size: 65536 }]);
    expect(sh('blkid', ['-c', '/dev/null', '-p', '-o', 'export', `${dev}p1`])).toMatch(/^TYPE=vfat$/m);
    expect(sh('blkid', ['-c', '/dev/null', '-p', '-o', 'export', `${dev}p1`])).toMatch(/^LABEL=DATA$/m);
    const again = await provision({ root, configFile: cfg, apply: true });
    expect(again.ok && again.report === undefined).toBe(true);
  });

  it('never touches the config medium, given in excludeDevices', async () => {
    const { img, dev, work } = dataDisk('medium', 'label: gpt\nsize=64MiB, type=linux, name=data\n');
    const sum = digest(img);
    const cfg = writeConfig(work, 'c.yaml', `version: 1\nstorage:\n  disks:\n    - device: ${dev}\n      partitions:\n        - {label: more}\n`);
    const r = await provision({ root: targetRoot(), configFile: cfg, apply: true, excludeDevices: [dev] });
    if (r.ok || r.stage !== 'plan') throw new Error('expected a plan problem');
    expect(r.plan.problems[0]!.message).toMatch(/holds the config flint is reading; flint never writes to it/);
    expect(digest(img)).toBe(sum);
  });

  const tmpOnRoot = can.ok && sh('findmnt', ['-n', '-o', 'TARGET', '-T', tmp]).trim() === '/';
  it.runIf(tmpOnRoot)('refuses device: root for a folder of the running system, so the host disk is never the target', async () => {
    const root = targetRoot();
    const cfg = writeConfig(root, 'c.yaml', 'version: 1\nstorage:\n  grow_root: true\n');
    const r = await provision({ root, configFile: cfg, apply: true });
    if (r.ok || r.stage !== 'plan') throw new Error('expected a plan problem');
    expect(r.plan.problems[0]).toMatchObject({ path: ['storage'], message: expect.stringMatching(/is a folder of this system's own root filesystem/) });
  });

  it('an existing filesystem is mounted before the other steps plan: files under it go into it, and a second apply changes nothing', async () => {
    const { dev, work } = dataDisk('existing', 'label: gpt\nsize=64MiB, type=linux, name=data\n');
    waitFor(`${dev}p1`);
    sh('mkfs.ext4', ['-q', '-F', '-L', 'data', `${dev}p1`]);
    const root = targetRoot();
    mkdirSync(join(root, 'srv/data'), { recursive: true });
    const cfg = writeConfig(work, 'c.yaml', `version: 1\nstorage:\n  filesystems:\n    - {device: ${dev}p1, format: ext4, mount: /srv/data}\nfiles:\n  - {path: /srv/data/hello.txt, contents: "hi\\n"}\n`);
    const planned = await provision({ root, configFile: cfg, apply: false });
    expect(planned.ok, problemsOf(planned)).toBe(true);
    expect(sh('findmnt', ['-n', '-o', 'TARGET', '-T', join(root, 'srv/data')]).trim()).not.toBe(join(root, 'srv/data'));
    const r = await provision({ root, configFile: cfg, apply: true });
    expect(r.ok, problemsOf(r)).toBe(true);
    // Written into the filesystem, not into the folder under it.
    expect(existsSync(join(root, 'srv/data/hello.txt'))).toBe(false);
    const m = join(work, 'm');
    mount([`${dev}p1`], m);
    expect(readFileSync(join(m, 'hello.txt'), 'utf8')).toBe('hi\n');
    sh('umount', [m]);
    const again = await provision({ root, configFile: cfg, apply: true });
    expect(again.ok, problemsOf(again)).toBe(true);
    if (!again.ok) return;
    expect(again.plan.planned).toEqual([]);
    expect(again.plan.unchanged.map((a) => a.path)).toContain('/srv/data/hello.txt');
  });

  it('wipe_table: true replaces a table that differs from the config, once', async () => {
    const { dev, work } = dataDisk('wipetable', 'label: gpt\nsize=32MiB, type=linux, name=old1\nsize=32MiB, type=linux, name=old2\n');
    const root = targetRoot();
    const cfg = writeConfig(work, 'c.yaml', `version: 1\nstorage:\n  disks:\n    - device: ${dev}\n      wipe_table: true\n      partitions:\n        - {label: fresh, size: 100MiB, type: home}\n`);
    const planned = await provision({ root, configFile: cfg, apply: false });
    if (!planned.ok) throw new Error(problemsOf(planned));
    expect((planned.plan.report.storage as string[]).join('\n')).toMatch(/replace the whole partition table[\s\S]*DESTROY partition 1 \(old1, 32 MiB\)\n {2}DESTROY partition 2 \(old2, 32 MiB\)/);
    const r = await provision({ root, configFile: cfg, apply: true });
    expect(r.ok, problemsOf(r)).toBe(true);
    expect(table(dev).partitions).toMatchObject([{ name: 'fresh', start: 2048, size: 204800, type: '933AC7E1-2EB4-4F13-B844-0E14E2AEF915' }]);
    expect(existsSync(`${dev}p2`) && existsSync(`/sys/class/block/${dev.slice(5)}/${dev.slice(5)}p2`)).toBe(false);
    const again = await provision({ root, configFile: cfg, apply: true });
    expect(again.ok && again.report === undefined).toBe(true);
  });
});
