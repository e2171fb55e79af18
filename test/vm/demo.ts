/**
 * `npm run demo:vm`: boots the VM test's full-config scenario in QEMU (TCG) with the
 * serial console shown live, then logs in over SSH with the key the config gave and
 * shows the machine. Installs the Debian packages it needs (as root), or names them.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { execa } from 'execa';
import { cacheBase } from '../integration/rootfs.js';
import { testImageArchive } from './container-image.js';
import { findProgram, SBIN_PATH } from './host.js';
import { copyDisk, guestImage } from './image.js';
import { LOGIN_RE, Vm } from './qemu.js';
import { fullConfig, makeKey } from './scenarios.js';
import { flintStick, hasDriveCreate } from './stick.js';

const NEEDED: Record<string, string> = {
  'qemu-system-x86_64': 'qemu-system-x86',
  debootstrap: 'debootstrap',
  btrfs: 'btrfs-progs',
  'mkfs.ext4': 'e2fsprogs',
  mcopy: 'mtools',
  'mkfs.fat': 'dosfstools',
  sfdisk: 'fdisk',
  ssh: 'openssh-client',
  flock: 'util-linux',
};

async function ensurePackages(): Promise<boolean> {
  const missing = [...new Set(Object.entries(NEEDED).filter(([tool]) => findProgram(tool) === undefined).map(([, pkg]) => pkg))];
  if (missing.length === 0) return true;
  const cmd = ['apt-get', 'install', '-y', '--no-install-recommends', ...missing];
  if (process.getuid?.() !== 0 || findProgram('apt-get') === undefined) {
    console.error(`demo:vm needs these Debian packages: ${missing.join(' ')}\n  run as root: ${cmd.join(' ')}`);
    return false;
  }
  console.log(`installing ${missing.join(' ')} ...`);
  const r = await execa(cmd[0]!, cmd.slice(1), { stdio: 'inherit', reject: false, env: { PATH: SBIN_PATH, DEBIAN_FRONTEND: 'noninteractive' } });
  return r.exitCode === 0;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('demo:vm needs root: it builds the guest disk with loop devices, mount and chroot');
    return 1;
  }
  if (!(await ensurePackages())) return 1;
  const t0 = Date.now();
  console.log('building (or finding) the cached Debian 13 guest: minutes the first time');
  const image = await guestImage((l) => console.log(l));
  const archive = await testImageArchive();
  const work = await fs.mkdtemp(path.join(cacheBase(), 'vm-demo-'));
  const { key, pub } = await makeKey(work);
  const config = fullConfig(pub);
  const stick = await flintStick(work, 'demo', { 'flint/config.yaml': config, 'flint/images/busybox.tar': await fs.readFile(archive) }, await hasDriveCreate());
  const disk = await copyDisk(image, path.join(work, 'disk.raw'));
  console.log(`ready in ${Math.round((Date.now() - t0) / 1000)} s. The config on the stick (${stick.kind}):\n\n${config}`);
  console.log('booting with qemu-system-x86_64 -accel tcg (about a minute to login, plus flint); the serial console follows:\n');
  const vm = await Vm.boot({ image, disk, stick: stick.image, consoleLog: path.join(work, 'console.log'), live: true });
  try {
    await vm.waitFor(LOGIN_RE, 8 * 60_000);
    await vm.waitForSsh('ops', key, 3 * 60_000);
    console.log(`\n--- logged in over SSH as ops with the provisioned key (127.0.0.1:${vm.sshPort}) ---`);
    for (const cmd of ['id', 'hostname', 'sudo -n true && echo "sudo -n: ok"', 'ip -4 -br addr', 'lsblk -o NAME,PARTLABEL,SIZE,FSTYPE,MOUNTPOINTS /dev/vda', 'sudo -n podman ps', 'sudo -n cat /var/log/flint/result.json | head -20']) {
      const r = await vm.ssh('ops', key, cmd);
      console.log(`$ ${cmd}\n${r.stdout}${r.stderr}`);
    }
  } finally {
    await vm.stop({ user: 'ops', key });
  }
  // The disk copy and the stick are ~1 GB; the console log stays for reading.
  await fs.rm(disk, { force: true });
  await fs.rm(stick.image, { force: true });
  console.log(`console log: ${path.join(work, 'console.log')}; total ${Math.round((Date.now() - t0) / 1000)} s`);
  return 0;
}

process.exitCode = await main().catch((e: unknown) => {
  console.error(`demo:vm: ${e instanceof Error ? e.message : String(e)}`);
  return 1;
});
