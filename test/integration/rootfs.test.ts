// Smoke test of the Debian root used by the integration tests: the cached root builds,
// copies are private, and the checking tools flint's tests rely on work inside a copy.
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RECIPE,
  cacheDirName,
  cacheKey,
  debianRoot,
  freshRoot,
  hasRootfsSupport,
  inChroot,
  type FreshRoot,
} from './rootfs.js';

const support = hasRootfsSupport();
const BUILD_TIMEOUT = 15 * 60_000;

function ms(start: number): string {
  return `${Math.round(performance.now() - start)} ms`;
}

describe('cacheKey', () => {
  it('is a short hex hash, stable for the same recipe', () => {
    expect(cacheKey(RECIPE)).toMatch(/^[0-9a-f]{12}$/);
    expect(cacheKey({ ...RECIPE })).toBe(cacheKey(RECIPE));
    expect(cacheDirName(RECIPE)).toBe(`debian-bookworm-${cacheKey(RECIPE)}`);
  });

  it('ignores the order and repetition of packages', () => {
    const shuffled = { ...RECIPE, include: [...RECIPE.include].reverse().concat(RECIPE.include) };
    expect(cacheKey(shuffled)).toBe(cacheKey(RECIPE));
  });

  it('changes whenever an input of the build changes', () => {
    const variants = [
      { ...RECIPE, version: RECIPE.version + 1 },
      { ...RECIPE, suite: 'trixie' },
      { ...RECIPE, variant: 'buildd' },
      { ...RECIPE, arch: 'arm64' === RECIPE.arch ? 'amd64' : 'arm64' },
      { ...RECIPE, include: [...RECIPE.include, 'curl'] },
      { ...RECIPE, include: RECIPE.include.filter((p) => p !== 'sudo') },
      { ...RECIPE, locales: [...RECIPE.locales, 'de_DE.UTF-8 UTF-8'] },
    ];
    const keys = new Set([cacheKey(RECIPE), ...variants.map(cacheKey)]);
    expect(keys.size).toBe(variants.length + 1);
  });
});

describe.skipIf(!support.ok)(`Debian root${support.ok ? '' : ` (skipped: ${support.reason})`}`, () => {
  let pristine = '';
  let copy: FreshRoot;

  beforeAll(async () => {
    let t = performance.now();
    pristine = await debianRoot();
    console.log(`[rootfs] debianRoot() ${ms(t)}: ${pristine}`);
    t = performance.now();
    copy = await freshRoot();
    console.log(`[rootfs] freshRoot() ${ms(t)}: ${copy.dir}`);
  }, BUILD_TIMEOUT);

  afterAll(async () => {
    await copy?.cleanup();
  });

  it('is pristine: scrubbed of caches, host identity and build-time secrets', async () => {
    expect(await fs.readFile(path.join(pristine, 'etc/machine-id'), 'utf8')).toBe('');
    expect(await fs.readFile(path.join(pristine, 'etc/hostname'), 'utf8')).toBe('localhost\n');
    expect(await fs.readFile(path.join(pristine, 'etc/os-release'), 'utf8')).toMatch(/VERSION_CODENAME=bookworm/);
    const archives = await fs.readdir(path.join(pristine, 'var/cache/apt/archives'));
    expect(archives.filter((f) => f.endsWith('.deb'))).toEqual([]);
    const lists = await fs.readdir(path.join(pristine, 'var/lib/apt/lists'));
    expect(lists.filter((f) => f !== 'partial' && f !== 'lock')).toEqual([]);
    const ssh = await fs.readdir(path.join(pristine, 'etc/ssh'));
    expect(ssh.filter((f) => f.startsWith('ssh_host_'))).toEqual([]);
    for (const kept of ['etc/skel/.bashrc', 'etc/login.defs', 'etc/default/useradd', 'usr/share/zoneinfo/Europe/Berlin']) {
      expect(existsSync(path.join(pristine, kept)), kept).toBe(true);
    }
  });

  it('passes pwck -r and grpck -r', async () => {
    const pwck = await inChroot(copy.dir, ['pwck', '-r']);
    expect(pwck.stderr + pwck.stdout).not.toMatch(/does not exist|invalid/);
    expect(pwck.code).toBe(0);
    const grpck = await inChroot(copy.dir, ['grpck', '-r']);
    expect(grpck.code).toBe(0);
  });

  it('resolves users with id and getent', async () => {
    const id = await inChroot(copy.dir, ['id', 'root']);
    expect(id).toMatchObject({ code: 0, stdout: 'uid=0(root) gid=0(root) groups=0(root)\n' });
    const getent = await inChroot(copy.dir, ['getent', 'passwd', 'sshd']);
    expect(getent.code).toBe(0);
    expect(getent.stdout).toMatch(/^sshd:x:\d+:65534:/);
  });

  it('has en_US.UTF-8 compiled, and C.UTF-8', async () => {
    const locales = await inChroot(copy.dir, ['locale', '-a']);
    expect(locales.code).toBe(0);
    expect(locales.stdout.split('\n')).toEqual(expect.arrayContaining(['C.utf8', 'en_US.utf8']));
  });

  it('runs sshd -t once host keys exist, without touching the pristine root', async () => {
    const before = await inChroot(copy.dir, ['/usr/sbin/sshd', '-t']);
    expect(before.code).not.toBe(0);
    expect(before.stderr).toMatch(/no hostkeys available/);
    const keygen = await inChroot(copy.dir, ['ssh-keygen', '-A']);
    expect(keygen.code).toBe(0);
    const sshd = await inChroot(copy.dir, ['/usr/sbin/sshd', '-t']);
    expect(sshd).toMatchObject({ code: 0, stderr: '' });
    await fs.appendFile(path.join(copy.dir, 'etc/ssh/sshd_config'), '\nNoSuchOption yes\n');
    const broken = await inChroot(copy.dir, ['/usr/sbin/sshd', '-t']);
    expect(broken.code).not.toBe(0);
    expect(broken.stderr).toMatch(/Bad configuration option: NoSuchOption/);
    const pristineSsh = await fs.readdir(path.join(pristine, 'etc/ssh'));
    expect(pristineSsh.filter((f) => f.startsWith('ssh_host_'))).toEqual([]);
  });

  it('checks sudoers with visudo -c', async () => {
    const ok = await inChroot(copy.dir, ['visudo', '-c']);
    expect(ok.code).toBe(0);
    await fs.writeFile(path.join(copy.dir, 'etc/sudoers.d/broken'), 'alice ALL=(ALL NOPASSWD: ALL\n', { mode: 0o440 });
    const bad = await inChroot(copy.dir, ['visudo', '-c']);
    expect(bad.code).not.toBe(0);
    await fs.rm(path.join(copy.dir, 'etc/sudoers.d/broken'));
  });

  it('enables units with systemctl --root from the host (or the chroot)', async () => {
    const hostSystemctl = existsSync('/usr/bin/systemctl') || existsSync('/bin/systemctl');
    const systemctl = async (...args: string[]) =>
      hostSystemctl
        ? execa('systemctl', [`--root=${copy.dir}`, ...args], { reject: false })
        : inChroot(copy.dir, ['systemctl', ...args]).then((r) => ({ exitCode: r.code, ...r }));
    const wants = path.join(copy.dir, 'etc/systemd/system/multi-user.target.wants/ssh.service');
    // openssh-server's postinst enabled it at build time.
    expect((await systemctl('is-enabled', 'ssh.service')).stdout.trim()).toBe('enabled');
    expect((await systemctl('disable', 'ssh.service')).exitCode).toBe(0);
    expect(existsSync(wants)).toBe(false);
    expect((await systemctl('is-enabled', 'ssh.service')).stdout.trim()).toBe('disabled');
    expect((await systemctl('enable', 'ssh.service')).exitCode).toBe(0);
    expect(await fs.readlink(wants)).toBe('/lib/systemd/system/ssh.service');
    expect((await systemctl('is-enabled', 'ssh.service')).stdout.trim()).toBe('enabled');
  });

  it('verifies units with systemd-analyze verify', async () => {
    const unitDir = path.join(copy.dir, 'etc/systemd/system');
    await fs.writeFile(path.join(unitDir, 'flint-good.service'), '[Service]\nExecStart=/bin/true\n');
    await fs.writeFile(path.join(unitDir, 'flint-bad.service'), '[Service]\nExecStart=relative/true\n');
    const good = await inChroot(copy.dir, ['systemd-analyze', 'verify', '--man=no', 'flint-good.service']);
    expect(good).toMatchObject({ code: 0, stderr: '' });
    const bad = await inChroot(copy.dir, ['systemd-analyze', 'verify', '--man=no', 'flint-bad.service']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/Neither a valid executable name nor an absolute path/);
  });

  it('mounts /proc and /dev only for the call that asks, and unmounts them', async () => {
    const without = await inChroot(copy.dir, ['test', '-e', '/proc/self/status']);
    expect(without.code).toBe(1);
    const withProc = await inChroot(copy.dir, ['cat', '/proc/self/comm'], { mounts: ['proc', 'dev'] });
    expect(withProc).toMatchObject({ code: 0, stdout: 'cat\n' });
    const failing = await inChroot(copy.dir, ['false'], { mounts: ['proc', 'dev'] });
    expect(failing.code).toBe(1);
    const mountinfo = await fs.readFile('/proc/self/mountinfo', 'utf8');
    expect(mountinfo).not.toContain(copy.dir);
    expect(await fs.readdir(path.join(copy.dir, 'proc'))).toEqual([]);
  });

  it('kills a command that runs past its timeout', async () => {
    await expect(inChroot(copy.dir, ['sleep', '30'], { timeoutMs: 300 })).rejects.toThrow(/timed out/);
  });

  it('feeds stdin and passes the environment', async () => {
    const r = await inChroot(copy.dir, ['sh', '-c', 'read x; echo "$x $FLINT_X"'], { input: 'in\n', env: { FLINT_X: 'env' } });
    expect(r).toMatchObject({ code: 0, stdout: 'in env\n' });
  });

  it('makes private copies quickly, and cleans them up', async () => {
    const t = performance.now();
    const copies = await Promise.all([freshRoot(), freshRoot(), freshRoot()]);
    console.log(`[rootfs] 3 parallel freshRoot() ${ms(t)}`);
    const [a, b] = copies;
    if (a === undefined || b === undefined) throw new Error('unreachable');
    await fs.writeFile(path.join(a.dir, 'etc/hostname'), 'changed\n');
    expect(await fs.readFile(path.join(b.dir, 'etc/hostname'), 'utf8')).toBe('localhost\n');
    expect(await fs.readFile(path.join(pristine, 'etc/hostname'), 'utf8')).toBe('localhost\n');
    await inChroot(a.dir, ['true'], { mounts: ['proc'] });
    await Promise.all(copies.map((c) => c.cleanup()));
    for (const c of copies) expect(existsSync(path.dirname(c.dir))).toBe(false);
  });

  it('returns the same cached root again at once', async () => {
    const t = performance.now();
    expect(await debianRoot()).toBe(pristine);
    console.log(`[rootfs] debianRoot() again ${ms(t)}`);
  });
});
