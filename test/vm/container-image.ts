/**
 * A tiny container image as a docker-archive, made without any registry: a rootfs of
 * Debian's static busybox, `podman import`ed and `podman save`d by the guest root's own
 * Podman, run in a chroot over a throw-away overlay (the cached root stays untouched).
 * Cached beside the guest root.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { execa } from 'execa';
import { cacheBase } from '../integration/rootfs.js';
import { guestKey, guestRoot } from './guest-root.js';
import { exists, removeTree, SBIN_PATH, sh, withLock } from './host.js';

export const TEST_IMAGE = 'localhost/flint-test/busybox:1';

async function busyboxRootfs(work: string): Promise<string> {
  const debs = path.join(work, 'debs');
  await fs.mkdir(debs);
  // apt-get download writes to the current folder; _apt cannot read /tmp folders of root.
  const r = await execa('apt-get', ['download', '-q', 'busybox-static'], { cwd: debs, reject: false, env: { PATH: SBIN_PATH } });
  if (r.exitCode !== 0) throw new Error(`apt-get download busybox-static failed: ${r.stderr}`);
  const deb = (await fs.readdir(debs)).find((f) => f.endsWith('.deb'));
  if (deb === undefined) throw new Error('apt-get download busybox-static left no .deb');
  await sh('dpkg-deb', ['-x', path.join(debs, deb), path.join(work, 'x')]);
  const rootfs = path.join(work, 'rootfs');
  await fs.mkdir(path.join(rootfs, 'bin'), { recursive: true });
  await fs.copyFile(path.join(work, 'x/bin/busybox'), path.join(rootfs, 'bin/busybox'));
  await fs.chmod(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const applet of ['sh', 'sleep', 'echo', 'cat', 'httpd']) await fs.symlink('busybox', path.join(rootfs, 'bin', applet));
  const tarball = path.join(work, 'rootfs.tar');
  await sh('tar', ['-C', rootfs, '-cf', tarball, '.']);
  return tarball;
}

async function build(out: string, work: string): Promise<void> {
  const tarball = await busyboxRootfs(work);
  const ov = (p: string) => path.join(work, 'ov', p);
  for (const d of ['upper', 'work', 'root']) await fs.mkdir(ov(d), { recursive: true });
  const root = ov('root');
  await sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${await guestRoot()},upperdir=${ov('upper')},workdir=${ov('work')}`, root]);
  try {
    await sh('mount', ['-t', 'proc', 'proc', `${root}/proc`]);
    await sh('mount', ['-t', 'sysfs', 'sys', `${root}/sys`]);
    await sh('mount', ['--bind', '/dev', `${root}/dev`]);
    await sh('mount', ['-t', 'tmpfs', 'tmpfs', `${root}/run`]);
    await fs.copyFile(tarball, `${root}/tmp/rootfs.tar`);
    const podman = ['podman', '--storage-driver', 'vfs', '--root', '/tmp/store', '--runroot', '/tmp/run'];
    await sh('chroot', [root, ...podman, 'import', '--change', 'CMD ["/bin/sleep","infinity"]', '/tmp/rootfs.tar', TEST_IMAGE], 300_000);
    await sh('chroot', [root, ...podman, 'save', '--format', 'docker-archive', '-o', '/tmp/image.tar', TEST_IMAGE], 300_000);
    await fs.copyFile(`${root}/tmp/image.tar`, out);
  } finally {
    await removeTree(root); // unmounts proc, sys, dev, run and the overlay itself
  }
}

/** Path of the cached docker-archive holding TEST_IMAGE (busybox; CMD sleep infinity). */
export async function testImageArchive(): Promise<string> {
  const cache = cacheBase();
  const out = path.join(cache, `vm-busybox-image-${guestKey()}.tar`);
  if (await exists(out)) return out;
  return withLock(`${out}.lock`, 600, async () => {
    if (await exists(out)) return out;
    const work = await fs.mkdtemp(path.join(cache, '.build-busybox-'));
    try {
      await build(`${out}.part`, work);
      await fs.rename(`${out}.part`, out);
    } finally {
      await removeTree(work);
    }
    return out;
  });
}
