// `npm run demo`: flint's first-boot path on real block devices, without a VM.
//
// Builds a small raw GPT disk image (a FAT boot partition and an ext4 root holding a
// minimal /etc with an empty machine-id, so it is a first boot) and a config stick
// from examples/usb-minimal.yaml with `flint drive create`, attaches both as loop devices,
// mounts the root and runs `flint run --sysroot ROOT --cmdline FILE`: discovery finds
// the stick by its label, the engine applies the config. Then it shows the report and
// the result (users, keys, files, partitions), and always cleans up.
import { spawnSync } from 'node:child_process';
import { accessSync, appendFileSync, chmodSync, constants, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const repo = new URL('..', import.meta.url).pathname;
const BIN = join(repo, 'dist/flint.mjs');
const CONFIG = join(repo, 'examples/usb-minimal.yaml');
const SBIN = '/usr/local/sbin:/usr/sbin:/sbin';
const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:${SBIN}` };
const TOOLS = [
  ['losetup', 'mount'],
  ['mount', 'mount'],
  ['umount', 'mount'],
  ['blkid', 'util-linux'],
  ['partx', 'util-linux'],
  ['lsblk', 'util-linux'],
  ['sfdisk', 'fdisk'],
  ['mkfs.ext4', 'e2fsprogs'],
  ['mkfs.fat', 'dosfstools'],
  ['mcopy', 'mtools'],
];

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s = '') => process.stdout.write(s + '\n');
const step = (s) => say(`\n${bold(`== ${s}`)}`);

function which(tool) {
  for (const d of env.PATH.split(':')) {
    try {
      accessSync(join(d, tool), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** What is missing on this machine, each with how to get it. */
function missing() {
  const out = [];
  if (process.platform !== 'linux') out.push(`Linux (this is ${process.platform})`);
  if (process.getuid?.() !== 0) out.push('root: loop devices and mounts need it (run: sudo npm run demo)');
  const pkgs = new Set();
  for (const [tool, pkg] of TOOLS) if (!which(tool)) pkgs.add(pkg);
  if (pkgs.size > 0) out.push(`programs: apt-get install -y --no-install-recommends ${[...pkgs].join(' ')}`);
  if (!existsSync(BIN)) out.push('the flint build, dist/flint.mjs (run: npm ci, or npm run build)');
  if (spawnSync('losetup', ['-f'], { env }).status !== 0 && process.getuid?.() === 0) out.push('a free loop device (modprobe loop, or a container with /dev/loop*)');
  return out;
}

/**
 * As root on a Debian-family machine, the programs the demo needs are installed with
 * apt-get (said first, shown as it runs); anywhere else missing() says what to install.
 */
function installMissingPackages() {
  if (process.getuid?.() !== 0 || !which('apt-get')) return;
  const pkgs = [...new Set(TOOLS.filter(([tool]) => !which(tool)).map(([, pkg]) => pkg))];
  if (pkgs.length === 0) return;
  say(`npm run demo: installing ${pkgs.join(', ')} with apt-get (the demo makes disk images with them)`);
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { env: { ...env, DEBIAN_FRONTEND: 'noninteractive' }, stdio: 'inherit' });
  if (r.status !== 0) say('npm run demo: apt-get failed; see above');
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', ...opts });
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})${r.stderr ? `:\n${r.stderr.trim()}` : ''}`);
  }
  return r;
}

/** The minimal root: accounts files as Debian ships them, a shell, an empty machine-id. */
function buildRootTree(dir) {
  cpSync(join(repo, 'test/fixtures/accounts/debian12/etc'), join(dir, 'etc'), { recursive: true });
  for (const d of ['bin', 'home', 'root', 'tmp', 'var/log', 'etc/ssh/sshd_config.d', 'etc/sudoers.d', 'boot']) mkdirSync(join(dir, d), { recursive: true });
  // usb-minimal.yaml puts its admin in wheel, as openSUSE and Fedora have it; Debian has none.
  appendFileSync(join(dir, 'etc/group'), 'wheel:x:998:\n');
  appendFileSync(join(dir, 'etc/gshadow'), 'wheel:!::\n');
  chmodSync(join(dir, 'tmp'), 0o1777);
  chmodSync(join(dir, 'root'), 0o700);
  // The users step checks that a login shell exists; it never runs it.
  for (const sh of ['bin/sh', 'bin/bash']) writeFileSync(join(dir, sh), '#!/bin/false\n', { mode: 0o755 });
  writeFileSync(join(dir, 'etc/ssh/sshd_config'), 'Include /etc/ssh/sshd_config.d/*.conf\n');
  writeFileSync(join(dir, 'etc/sudoers'), '@includedir /etc/sudoers.d\n', { mode: 0o440 });
  writeFileSync(join(dir, 'etc/hostname'), 'localhost\n');
  writeFileSync(join(dir, 'etc/fstab'), 'PARTLABEL=root / ext4 defaults 0 1\n');
  // Empty: the image has never booted, so this is its first boot.
  writeFileSync(join(dir, 'etc/machine-id'), '');
}

/** GPT: 32 MiB FAT boot partition, 64 MiB ext4 root made from ROOTDIR; no loop device needed. */
function buildDisk(img, rootDir) {
  run('truncate', ['-s', '100M', img]);
  const table = 'label: gpt\nsize=34MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=boot\nsize=64MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=root\n';
  run('sfdisk', ['-q', img], { input: table });
  const parts = JSON.parse(run('sfdisk', ['--json', img]).stdout).partitiontable.partitions;
  run('mkfs.fat', ['--offset', String(parts[0].start), '-F', '32', '-n', 'BOOT', img, String((parts[0].size * 512) / 1024)]);
  run('mkfs.ext4', ['-q', '-F', '-L', 'root', '-d', rootDir, '-E', `offset=${parts[1].start * 512}`, img, `${(parts[1].size * 512) / 1024}k`]);
}

function attach(img, partitions) {
  const dev = run('losetup', ['-f', '--show', ...(partitions ? ['-P'] : []), img]).stdout.trim();
  // Some kernels read no partition table on loop devices: partx adds them.
  if (partitions && !existsSync(`${dev}p2`)) run('partx', ['--add', dev], { allowFail: true });
  return dev;
}

function showResult(root, disk, stick) {
  step('Report (/var/log/flint/result.json in the target)');
  const report = JSON.parse(readFileSync(join(root, 'var/log/flint/result.json'), 'utf8'));
  say(`config ${report.config?.file ?? ''} (sha256 ${String(report.config?.sha256 ?? '').slice(0, 16)}...)`);
  for (const c of report.changes ?? []) say(`  ${c.change === 'create' ? '+' : '~'} ${c.path}  (${c.step}${c.what ? `: ${c.what}` : ''})`);
  if (report.timings_ms) say(`timings (ms): ${Object.entries(report.timings_ms).map(([k, v]) => `${k} ${v}`).join(', ')}`);

  step('Users (/etc/passwd, uid >= 1000) and their password hashes (/etc/shadow)');
  const shadow = new Map(readFileSync(join(root, 'etc/shadow'), 'utf8').split('\n').map((l) => [l.split(':')[0], l.split(':')[1] ?? '']));
  for (const line of readFileSync(join(root, 'etc/passwd'), 'utf8').split('\n')) {
    const f = line.split(':');
    if (Number(f[2]) >= 1000 && Number(f[2]) < 65534) {
      const hash = shadow.get(f[0]) ?? '';
      say(`  ${line}`);
      say(`    shadow: ${hash.startsWith('$') ? `${hash.split('$').slice(0, 2).join('$')}$... (a crypt hash)` : `${hash} (password login locked: key only)`}`);
      const keys = join(root, f[5] ?? '', '.ssh/authorized_keys');
      if (existsSync(keys)) for (const k of readFileSync(keys, 'utf8').trim().split('\n')) say(`    key: ${k.slice(0, 40)}... ${k.split(' ').pop()}`);
    }
  }

  step('Files flint created');
  for (const c of report.changes ?? []) {
    const p = join(root, c.path);
    if (c.change !== 'create' || !statSync(p).isFile()) continue;
    say(`  ${run('ls', ['-ln', p]).stdout.trim().replace(root, '')}`);
    for (const l of readFileSync(p, 'utf8').trimEnd().split('\n').slice(0, 6)) say(`    | ${l.length > 90 ? `${l.slice(0, 87)}...` : l}`);
  }

  step('Partitions (the disk image and the stick)');
  // blkid -p reads the devices themselves: lsblk's labels come from udev, which may not run here.
  const rows = [['DEVICE', 'SIZE', 'TYPE', 'LABEL', 'PARTLABEL']];
  for (const dev of [disk, `${disk}p1`, `${disk}p2`, stick]) {
    const tags = new Map(run('blkid', ['-p', '-o', 'export', dev], { allowFail: true }).stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    const size = run('lsblk', ['-dnbo', 'SIZE', dev], { allowFail: true }).stdout.trim();
    const type = tags.get('TYPE') ?? (tags.get('PTTYPE') ? `${tags.get('PTTYPE')} partition table` : '-');
    rows.push([dev, size ? `${Math.round(Number(size) / 1048576)} MiB` : '-', type, tags.get('LABEL') ?? '-', tags.get('PART_ENTRY_NAME') ?? '-']);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) say(`  ${r.map((c, i) => c.padEnd(widths[i])).join('  ')}`);
}

async function main() {
  installMissingPackages();
  const problems = missing();
  if (problems.length > 0) {
    console.error('npm run demo cannot run here; missing:');
    for (const p of problems) console.error(`  - ${p}`);
    return 1;
  }
  const work = mkdtempSync(join(tmpdir(), 'flint-demo-'));
  const cleanups = [];
  const cleanup = () => {
    while (cleanups.length > 0) {
      try {
        cleanups.pop()();
      } catch (e) {
        console.error(`cleanup: ${e.message}`);
      }
    }
    rmSync(work, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    const t0 = Date.now();
    step('Building a raw disk image: GPT, FAT boot partition, ext4 root with an empty machine-id');
    const tree = join(work, 'tree');
    buildRootTree(tree);
    const disk = join(work, 'disk.img');
    buildDisk(disk, tree);
    say(run('sfdisk', ['-l', disk]).stdout.split('\n').filter((l) => /^(Device|.*disk\.img\d)/.test(l)).map((l) => `  ${l}`).join('\n'));

    step(`Making the config stick: flint drive create ${CONFIG.replace(repo, '')} -o stick.img`);
    const stick = join(work, 'stick.img');
    const made = run(process.execPath, [BIN, 'drive', 'create', CONFIG, '-o', stick], { allowFail: true });
    process.stdout.write(made.stdout);
    process.stderr.write(made.stderr);
    if (made.status !== 0) return 1;

    step('Attaching both as loop devices and mounting the image\'s root');
    const diskDev = attach(disk, true);
    cleanups.push(() => run('losetup', ['-d', diskDev], { allowFail: true }));
    const stickDev = attach(stick, false);
    cleanups.push(() => run('losetup', ['-d', stickDev], { allowFail: true }));
    const root = join(work, 'sysroot');
    mkdirSync(root);
    run('mount', [`${diskDev}p2`, root]);
    cleanups.push(() => run('umount', [root], { allowFail: true }));
    say(`  disk ${diskDev} (root ${diskDev}p2 on ${root}), stick ${stickDev}`);

    step('First boot: flint run --sysroot ROOT --cmdline FILE');
    const cmdline = join(work, 'cmdline');
    writeFileSync(cmdline, 'quiet flint.timeout=10\n');
    const fw = join(work, 'no-fw-cfg');
    mkdirSync(fw);
    const r = spawnSync(process.execPath, [BIN, 'run', '--sysroot', root, '--cmdline', cmdline, '--fw-cfg', fw, '--work', join(work, 'run')], { env, stdio: 'inherit' });
    if (r.status !== 0) {
      console.error(`flint run exited with ${r.status}`);
      return 1;
    }
    showResult(root, diskDev, stickDev);

    step('Second boot: the machine-id is set now, so flint does nothing');
    writeFileSync(join(root, 'etc/machine-id'), '0123456789abcdef0123456789abcdef\n');
    spawnSync(process.execPath, [BIN, 'run', '--sysroot', root, '--cmdline', cmdline, '--fw-cfg', fw, '--work', join(work, 'run2')], { env, stdio: 'inherit' });
    say(`\n${bold(`Done in ${((Date.now() - t0) / 1000).toFixed(1)} s`)}; everything attached and mounted is released now.`);
    return 0;
  } catch (e) {
    console.error(`demo failed: ${e.message}`);
    return 1;
  } finally {
    cleanup();
  }
}

process.exitCode = await main();
