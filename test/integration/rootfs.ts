// A real Debian 12 root filesystem for integration tests.
//
// debianRoot() builds, once per recipe, a Debian bookworm root with debootstrap and keeps
// it in a cache OUTSIDE the repo (${FLINT_TEST_CACHE:-/var/cache/flint-test}). Tests never
// touch that root: freshRoot() hands each test a private copy, and inChroot() runs tools
// inside a copy (pwck, grpck, sshd -t, visudo -c, systemd-analyze verify, ...).
//
// Needs root and debootstrap (CI installs `debootstrap debian-archive-keyring`);
// hasRootfsSupport() says whether this machine qualifies, for describe.skipIf.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { execa } from 'execa';

/** Everything that decides what the cached root contains; the cache key hashes it. */
export interface RootRecipe {
  /** Bump when the build steps below change in a way the other fields don't show. */
  readonly version: number;
  readonly suite: string;
  readonly variant: string;
  readonly arch: string;
  /** Packages added with debootstrap --include= (their Depends come along, not Recommends). */
  readonly include: readonly string[];
  /** Locales compiled into the root with locale-gen (C.UTF-8 is always there). */
  readonly locales: readonly string[];
}

function debianArch(): string {
  switch (process.arch) {
    case 'x64':
      return 'amd64';
    case 'arm64':
      return 'arm64';
    case 'ia32':
      return 'i386';
    default:
      return process.arch;
  }
}

export const RECIPE: RootRecipe = {
  version: 1,
  suite: 'bookworm',
  variant: 'minbase',
  arch: debianArch(),
  // passwd: pwck, grpck, useradd; login: su, login.defs; openssh-server: sshd -t, ssh-keygen;
  // sudo: visudo; systemd: systemctl, systemd-analyze; tzdata: zoneinfo; locales: locale-gen.
  include: ['login', 'locales', 'openssh-server', 'passwd', 'sudo', 'systemd', 'tzdata'],
  locales: ['en_US.UTF-8 UTF-8'],
};

/** Short, stable hash of a recipe: changes whenever any input of the build changes. */
export function cacheKey(recipe: RootRecipe): string {
  const canonical = JSON.stringify({
    version: recipe.version,
    suite: recipe.suite,
    variant: recipe.variant,
    arch: recipe.arch,
    include: [...new Set(recipe.include)].sort(),
    locales: [...new Set(recipe.locales)].sort(),
  });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 12);
}

/** Folder name of a recipe's cached root, e.g. debian-bookworm-0123456789ab. */
export function cacheDirName(recipe: RootRecipe): string {
  return `debian-${recipe.suite}-${cacheKey(recipe)}`;
}

export function cacheBase(): string {
  const fromEnv = process.env.FLINT_TEST_CACHE;
  return fromEnv !== undefined && fromEnv !== '' ? path.resolve(fromEnv) : '/var/cache/flint-test';
}

/** The mirror apt uses on these machines; FLINT_DEBIAN_MIRROR overrides it. */
export function debianMirror(): string {
  const fromEnv = process.env.FLINT_DEBIAN_MIRROR;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : 'http://deb.debian.org/debian';
}

const SBIN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Absolute path of a program, looked up in PATH and then in the sbin folders. */
function findProgram(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...SBIN_PATH.split(':')];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function requireProgram(name: string): string {
  const found = findProgram(name);
  if (found === undefined) throw new Error(`${name} not found (looked in PATH and ${SBIN_PATH})`);
  return found;
}

/** Whether integration tests on a Debian root can run here; `reason` says why not. */
export function hasRootfsSupport(): { ok: boolean; reason?: string } {
  if (process.env.FLINT_TEST_ROOTFS === '0') return { ok: false, reason: 'FLINT_TEST_ROOTFS=0' };
  if (process.platform !== 'linux') return { ok: false, reason: `needs Linux, not ${process.platform}` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'needs root (chroot, debootstrap, mount)' };
  for (const tool of ['debootstrap', 'chroot', 'flock', 'mount', 'umount']) {
    if (findProgram(tool) === undefined) {
      const hint = tool === 'debootstrap' ? ': apt-get install debootstrap debian-archive-keyring' : '';
      return { ok: false, reason: `${tool} not installed${hint}` };
    }
  }
  return { ok: true };
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------------------
// Mount hygiene. debootstrap mounts /proc and /sys inside the target while it builds, and
// inChroot may mount /proc or /dev; a run killed at the wrong moment leaves them mounted.
// Never delete a tree that still has something mounted inside it.

function decodeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Mount points at or below dir, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const found: string[] = [];
  for (const line of info.split('\n')) {
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    const mountPoint = decodeMountPath(field);
    if (mountPoint === dir || mountPoint.startsWith(prefix)) found.push(mountPoint);
  }
  return found.sort((a, b) => b.length - a.length);
}

async function unmountAllUnder(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const mounts = await mountsUnder(dir);
    if (mounts.length === 0) return;
    for (const mountPoint of mounts) {
      const plain = await execa('umount', [mountPoint], { reject: false, env: { PATH: SBIN_PATH } });
      if (plain.exitCode !== 0) {
        await execa('umount', ['--lazy', mountPoint], { reject: false, env: { PATH: SBIN_PATH } });
      }
    }
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new Error(`still mounted under ${dir}: ${left.join(', ')}`);
}

/** rm -rf that first unmounts whatever is mounted inside the tree, and refuses otherwise. */
async function removeTree(dir: string): Promise<void> {
  if (!(await exists(dir))) return;
  const real = await fs.realpath(dir);
  if (real === '/' || real.split('/').length < 3) throw new Error(`refusing to remove ${real}`);
  await unmountAllUnder(real);
  await fs.rm(real, { recursive: true, force: true, maxRetries: 3 });
}

// ---------------------------------------------------------------------------------------
// Locking: flock(1) on an fd this process opened. The child takes the lock on the shared
// open file description and exits; the lock stays with our fd until we close it, and the
// kernel drops it if this process dies, so there is no stale lock to clean up.

async function withLock<T>(lockPath: string, waitSeconds: number, fn: () => Promise<T>): Promise<T> {
  const handle = await fs.open(lockPath, 'a');
  try {
    // node:child_process rather than execa: execa's types accept only fds 3-9 as extra stdio.
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn('flock', ['--exclusive', '--timeout', String(waitSeconds), '3'], {
        stdio: ['ignore', 'ignore', 'pipe', handle.fd],
        env: { PATH: SBIN_PATH },
      });
      let err = '';
      child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.on('error', reject);
      child.on('close', (exitCode) => resolve({ code: exitCode, stderr: err }));
    });
    if (code !== 0) {
      throw new Error(`could not lock ${lockPath} within ${waitSeconds}s: ${stderr || `exit ${String(code)}`}`);
    }
    return await fn();
  } finally {
    await handle.close(); // releases the flock
  }
}

// ---------------------------------------------------------------------------------------
// The build.

const DEBIAN_HOSTS = `127.0.0.1\tlocalhost
::1\t\tlocalhost ip6-localhost ip6-loopback
ff02::1\t\tip6-allnodes
ff02::2\t\tip6-allrouters
`;

async function run(file: string, args: string[], timeoutMs: number, what: string): Promise<void> {
  const result = await execa(file, args, {
    all: true,
    reject: false,
    timeout: timeoutMs,
    env: { PATH: SBIN_PATH, LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.exitCode !== 0 || result.timedOut) {
    const tail = (result.all ?? '').split('\n').slice(-40).join('\n');
    const why = result.timedOut ? `timed out after ${timeoutMs} ms` : `exit ${String(result.exitCode)}`;
    throw new Error(`${what} failed (${why}):\n${tail}`);
  }
}

/** Home directories named in /etc/passwd that don't exist (pwck -r fails on each). */
async function createMissingHomes(root: string): Promise<void> {
  const passwd = await fs.readFile(path.join(root, 'etc/passwd'), 'utf8');
  for (const line of passwd.split('\n')) {
    const home = line.split(':')[5];
    if (home === undefined || !home.startsWith('/') || home === '/nonexistent') continue;
    const target = path.join(root, home);
    if (!(await exists(target))) await fs.mkdir(target, { recursive: true, mode: 0o755 });
  }
}

/** Strip what is big, host-specific or per-machine from a freshly bootstrapped root. */
async function scrub(root: string): Promise<void> {
  const p = (rel: string) => path.join(root, rel);
  // Package caches and lists: ~100 MB that no test reads, copied dozens of times otherwise.
  for (const dir of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
    for (const entry of await fs.readdir(p(dir))) {
      if (entry === 'partial' || entry === 'lock') continue;
      await fs.rm(path.join(p(dir), entry), { recursive: true, force: true });
    }
  }
  for (const entry of await fs.readdir(p('var/cache/apt'))) {
    if (entry.endsWith('.bin')) await fs.rm(path.join(p('var/cache/apt'), entry), { force: true });
  }
  // An image's machine-id is empty: systemd makes one at first boot.
  await fs.rm(p('etc/machine-id'), { force: true });
  await fs.writeFile(p('etc/machine-id'), '', { mode: 0o444 });
  await fs.rm(p('var/lib/dbus/machine-id'), { force: true });
  // openssh-server's postinst made host keys at build time; every copy would share them.
  // A root without openssh-server (the small arm64 one) has no etc/ssh.
  for (const entry of await fs.readdir(p('etc/ssh')).catch(() => [] as string[])) {
    if (entry.startsWith('ssh_host_')) await fs.rm(path.join(p('etc/ssh'), entry), { force: true });
  }
  // debootstrap copies the build host's hostname and resolv.conf, and writes no hosts file.
  await fs.writeFile(p('etc/hostname'), 'localhost\n', { mode: 0o644 });
  await fs.chmod(p('etc/hostname'), 0o644);
  await fs.writeFile(p('etc/hosts'), DEBIAN_HOSTS, { mode: 0o644 });
  await fs.rm(p('etc/resolv.conf'), { force: true });
  await fs.writeFile(p('etc/resolv.conf'), '', { mode: 0o644 });
  // System users whose homes only exist on a booted system (/run/sshd) or with packages we
  // don't install (/var/www, /var/cache/man): create them so pwck -r passes on the pristine
  // root, and sshd -t finds its privilege separation directory.
  await createMissingHomes(root);
  await fs.rm(p('var/log/bootstrap.log'), { force: true });
}

async function build(recipe: RootRecipe, buildDir: string): Promise<void> {
  await run(
    requireProgram('debootstrap'),
    [
      `--variant=${recipe.variant}`,
      `--arch=${recipe.arch}`,
      `--include=${[...recipe.include].sort().join(',')}`,
      recipe.suite,
      buildDir,
      debianMirror(),
    ],
    15 * 60_000,
    'debootstrap',
  );
  if (recipe.locales.length > 0) {
    await fs.writeFile(path.join(buildDir, 'etc/locale.gen'), `${recipe.locales.join('\n')}\n`);
    await run(requireProgram('chroot'), [buildDir, 'locale-gen'], 5 * 60_000, 'locale-gen');
  }
  await scrub(buildDir);
  await unmountAllUnder(buildDir); // debootstrap unmounts /proc and /sys itself; make sure
}

/** Leftover build folders of runs that were interrupted (only called under the lock). */
async function sweepBuilds(base: string, name: string): Promise<void> {
  for (const entry of await fs.readdir(base)) {
    if (entry.startsWith(`.build-${name}-`)) await removeTree(path.join(base, entry));
  }
}

const built = new Map<string, Promise<string>>();

/**
 * Path of the cached, pristine Debian root for `recipe` (default: RECIPE), building it
 * first if needed. Read-only by convention: copy it with freshRoot() before changing
 * anything. Concurrent callers (other test files, other processes) wait for one build.
 */
export function debianRoot(recipe: RootRecipe = RECIPE): Promise<string> {
  const base = cacheBase();
  const name = cacheDirName(recipe);
  const finalDir = path.join(base, name);
  let pending = built.get(finalDir);
  if (pending === undefined) {
    pending = ensureRoot(recipe, base, name, finalDir);
    built.set(finalDir, pending);
    pending.catch(() => built.delete(finalDir));
  }
  return pending;
}

async function ensureRoot(recipe: RootRecipe, base: string, name: string, finalDir: string): Promise<string> {
  // The rename below is the only way a folder gets this name, so it is always complete.
  if (await exists(finalDir)) return finalDir;
  await fs.mkdir(base, { recursive: true, mode: 0o755 });
  return withLock(path.join(base, `${name}.lock`), 20 * 60, async () => {
    if (await exists(finalDir)) return finalDir; // built while we waited
    await sweepBuilds(base, name);
    const buildDir = await fs.mkdtemp(path.join(base, `.build-${name}-`));
    try {
      await build(recipe, buildDir);
      await fs.chmod(buildDir, 0o755);
      await fs.rename(buildDir, finalDir);
    } catch (err) {
      await removeTree(buildDir).catch(() => undefined);
      throw err;
    }
    return finalDir;
  });
}

// ---------------------------------------------------------------------------------------
// Copies.

export interface FreshRoot {
  /** The copy's root folder, to pass to inChroot, systemctl --root=, flint's target. */
  dir: string;
  /** Unmounts anything left mounted inside the copy and deletes it. */
  cleanup(): Promise<void>;
}

/**
 * Where copies go: FLINT_TEST_COPIES, else next to the cache. A tmpfs mounted without
 * nodev/noexec (the root has device nodes and binaries) makes copies several times faster.
 */
export function copiesBase(): string {
  const fromEnv = process.env.FLINT_TEST_COPIES;
  return fromEnv !== undefined && fromEnv !== '' ? path.resolve(fromEnv) : path.join(cacheBase(), 'copies');
}

let sweptCopies = false;

/** Copies of processes that died without cleaning up (pid in the folder name). */
async function sweepCopies(copiesDir: string): Promise<void> {
  if (sweptCopies) return;
  sweptCopies = true;
  for (const entry of await fs.readdir(copiesDir)) {
    const pid = /^fresh-(\d+)-/.exec(entry)?.[1];
    if (pid !== undefined && !pidAlive(Number(pid))) {
      await removeTree(path.join(copiesDir, entry)).catch(() => undefined);
    }
  }
}

/**
 * A private, writable copy of the cached root for one test, by default on the cache's
 * filesystem (so cp --reflink can share blocks on btrfs/xfs). Call cleanup() when done.
 */
export async function freshRoot(recipe: RootRecipe = RECIPE): Promise<FreshRoot> {
  const source = await debianRoot(recipe);
  const copiesDir = copiesBase();
  await fs.mkdir(copiesDir, { recursive: true, mode: 0o700 });
  await sweepCopies(copiesDir);
  const parent = await fs.mkdtemp(path.join(copiesDir, `fresh-${process.pid}-`));
  const dir = path.join(parent, 'root');
  try {
    await run('cp', ['-a', '--reflink=auto', '--', source, dir], 5 * 60_000, `copy of ${source}`);
  } catch (err) {
    await removeTree(parent).catch(() => undefined);
    throw err;
  }
  let cleaned = false;
  return {
    dir,
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      await removeTree(parent);
    },
  };
}

// ---------------------------------------------------------------------------------------
// Running tools inside a root.

export type ChrootMount = 'proc' | 'dev';

export interface InChrootOptions {
  /** Milliseconds before the command is killed and inChroot throws. Default 60 s. */
  timeoutMs?: number;
  /** Written to the command's stdin (e.g. for chpasswd). */
  input?: string;
  /** Extra environment; the base is PATH (sbin included), HOME=/root, LC_ALL=C. */
  env?: Record<string, string>;
  /**
   * Filesystems to mount for this call only, unmounted afterwards even on failure. None of
   * pwck, grpck, id, sshd -t, visudo -c, systemctl, systemd-analyze verify, locale-gen or
   * useradd need them (the root has static /dev nodes). 'proc' mounts a new procfs on
   * ROOT/proc; 'dev' bind-mounts the host's /dev read-only on ROOT/dev.
   */
  mounts?: readonly ChrootMount[];
}

export interface ChrootResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function mountFor(root: string, kind: ChrootMount): Promise<string> {
  const target = path.join(root, kind);
  await fs.mkdir(target, { recursive: true });
  const env = { PATH: SBIN_PATH };
  if (kind === 'proc') {
    await execa('mount', ['-t', 'proc', '-o', 'nosuid,nodev,noexec', 'proc', target], { env });
  } else {
    await execa('mount', ['--bind', '/dev', target], { env });
    // Read-only, so that deleting the copy can never delete the host's device nodes.
    await execa('mount', ['-o', 'remount,bind,ro', target], { env });
  }
  return target;
}

/** Runs argv inside `chroot root`; a non-zero exit is returned, a timeout throws. */
export async function inChroot(root: string, argv: readonly string[], opts: InChrootOptions = {}): Promise<ChrootResult> {
  if (argv.length === 0) throw new Error('inChroot: empty argv');
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const realRoot = await fs.realpath(root);
  const mounted: string[] = [];
  try {
    for (const kind of new Set(opts.mounts ?? [])) {
      if ((await mountsUnder(path.join(realRoot, kind))).length === 0) {
        mounted.push(await mountFor(realRoot, kind));
      }
    }
    const result = await execa(requireProgram('chroot'), [realRoot, ...argv], {
      reject: false,
      timeout: timeoutMs,
      input: opts.input ?? '',
      extendEnv: false,
      env: { PATH: SBIN_PATH, HOME: '/root', LC_ALL: 'C', ...opts.env },
      stripFinalNewline: false,
    });
    if (result.timedOut) {
      throw new Error(`inChroot ${argv.join(' ')}: timed out after ${timeoutMs} ms\n${result.stderr}`);
    }
    if (result.exitCode === undefined) {
      throw new Error(`inChroot ${argv.join(' ')}: ${result.message}`);
    }
    return { code: result.exitCode, stdout: result.stdout, stderr: result.stderr };
  } finally {
    for (const target of mounted.reverse()) {
      const plain = await execa('umount', [target], { reject: false, env: { PATH: SBIN_PATH } });
      if (plain.exitCode !== 0) await execa('umount', ['--lazy', target], { reject: false, env: { PATH: SBIN_PATH } });
    }
  }
}

