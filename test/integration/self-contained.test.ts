/**
 * The self-contained flint (dist/flint-linux-x64, dist/flint-linux-arm64, made by
 * scripts/build-sea.mjs) on Debian minbase roots that have no node: validate, apply to
 * the root it runs in (as a Combustion script does), and run at first boot against a
 * sysroot with the config on its boot partition folder. The arm64 executable runs in an
 * arm64 root under qemu-user (binfmt_misc). Needs root and debootstrap.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aarch64Support, BIN, hasTool, hostEnv } from '../helpers/host.js';
import type { Support } from '../helpers/host.js';
import { freshRoot, hasRootfsSupport, inChroot, RECIPE } from './rootfs.js';
import type { FreshRoot, RootRecipe } from './rootfs.js';

const rootfs = hasRootfsSupport();

/** arm64 roots carry only what these tests use: debootstrap under qemu-user is slow. */
const ARM64: RootRecipe = { version: 1, suite: 'bookworm', variant: 'minbase', arch: 'arm64', include: ['passwd', 'login'], locales: [] };

const CONFIG = `version: 1
hostname: sealed
users:
  - name: admin
    groups: [sudo]
    ssh_authorized_keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA2W4ylBpNwsCJJgCIJv6S+GBdb8LJg1OwHVwgsBw43P admin@laptop
files:
  - path: /etc/motd
    mode: "0644"
    contents: "configured by a flint with no node\\n"
`;

function binary(arch: 'x64' | 'arm64'): string {
  return new URL(`../../dist/flint-linux-${arch}`, import.meta.url).pathname;
}

function support(arch: 'x64' | 'arm64'): Support {
  if (!rootfs.ok) return rootfs;
  if (!existsSync(binary(arch))) return { ok: false, reason: `dist/flint-linux-${arch} not built (npm run build:sea)` };
  if (arch === 'arm64' && process.arch !== 'arm64') return aarch64Support();
  if (arch === 'x64' && process.arch !== 'x64') return { ok: false, reason: 'x64 binaries need an x86_64 machine' };
  return { ok: true };
}

for (const arch of ['x64', 'arm64'] as const) {
  const can = support(arch);
  const recipe = arch === 'arm64' ? ARM64 : RECIPE;
  describe.skipIf(!can.ok)(`self-contained flint, ${arch}${can.ok ? '' : ` (SKIPPED: ${can.reason})`}`, () => {
    let root: FreshRoot;
    beforeAll(async () => {
      root = await freshRoot(recipe);
      mkdirSync(join(root.dir, 'usr/local/bin'), { recursive: true });
      copyFileSync(binary(arch), join(root.dir, 'usr/local/bin/flint'));
      writeFileSync(join(root.dir, 'root/config.yaml'), CONFIG);
    }, 20 * 60_000);
    afterAll(async () => root?.cleanup());

    const flint = (args: string[]) => inChroot(root.dir, ['/usr/local/bin/flint', ...args], { timeoutMs: 180_000, mounts: ['proc'] });

    it('runs in a root that has no node', async () => {
      const which = await inChroot(root.dir, ['sh', '-c', 'command -v node nodejs; ls /usr/bin/node* /usr/local/bin/node* /usr/lib/node_modules 2>/dev/null']);
      expect(which.stdout).toBe('');
      expect((await inChroot(root.dir, ['uname', '-m'])).stdout.trim()).toBe(arch === 'x64' ? 'x86_64' : 'aarch64');
      const v = await flint(['--version']);
      expect(v.code, v.stderr).toBe(0);
      expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    });

    it('validates, and reports a bad config with its line', async () => {
      const ok = await flint(['validate', '/root/config.yaml']);
      expect(ok.code, ok.stderr).toBe(0);
      writeFileSync(join(root.dir, 'root/bad.yaml'), CONFIG.replace('"0644"', '644'));
      const bad = await flint(['validate', '/root/bad.yaml']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('/root/bad.yaml:10:11: error: mode 644 has no leading 0');
    });

    it('applies a config to the root it runs in', async () => {
      const r = await flint(['apply', '--root', '/', '/root/config.yaml']);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(readFileSync(join(root.dir, 'etc/motd'), 'utf8')).toBe('configured by a flint with no node\n');
      expect(readFileSync(join(root.dir, 'etc/hostname'), 'utf8')).toBe('sealed\n');
      expect(readFileSync(join(root.dir, 'home/admin/.ssh/authorized_keys'), 'utf8')).toContain('admin@laptop');
      const id = await inChroot(root.dir, ['id', '-nG', 'admin']);
      expect(id.stdout.trim().split(' ')).toContain('sudo');
      const again = await flint(['plan', '--root', '/', '/root/config.yaml']);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/^0 to create, 0 to change/m);
    });

    it('runs at first boot against a sysroot, with the config in its boot partition folder', async () => {
      const sysroot = join(root.dir, 'sysroot');
      mkdirSync(join(sysroot, 'etc'), { recursive: true });
      writeFileSync(join(sysroot, 'etc/machine-id'), '');
      mkdirSync(join(sysroot, 'boot/firmware'), { recursive: true });
      writeFileSync(join(sysroot, 'boot/firmware/flint.yaml'), 'version: 1\nfiles:\n  - path: /etc/motd\n    mode: "0644"\n    contents: "first boot\\n"\n');
      writeFileSync(join(root.dir, 'root/cmdline'), 'flint.timeout=0\n');
      mkdirSync(join(root.dir, 'root/fwcfg'), { recursive: true });
      mkdirSync(join(root.dir, 'root/work'), { recursive: true });
      const r = await flint(['run', '--sysroot', '/sysroot', '--cmdline', '/root/cmdline', '--fw-cfg', '/root/fwcfg', '--work', '/root/work']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain('target: using /boot/firmware/flint.yaml');
      expect(readFileSync(join(sysroot, 'etc/motd'), 'utf8')).toBe('first boot\n');
      expect(JSON.parse(readFileSync(join(sysroot, 'var/log/flint/result.json'), 'utf8'))).toMatchObject({ config: { file: '/root/work/config/flint.yaml' }, warnings: [] });
    });
  });
}

/**
 * issue 16: a `flint drive create --for combustion` stick, its combustion/ folder copied
 * and run as Combustion runs it (cp -R to /dev/shm/combustion/config, chmod a+x script,
 * `chroot /sysroot sh -e -c "cd <config>; ./script"`), configures a root without node.
 */
const comb = support('x64');
const hasFatTools = hasTool('mkfs.fat') && hasTool('mcopy');
describe.skipIf(!comb.ok || !hasFatTools)(`a Combustion stick that runs flint${comb.ok ? (hasFatTools ? '' : ' (SKIPPED: needs mkfs.fat and mcopy: apt-get install dosfstools mtools)') : ` (SKIPPED: ${comb.reason})`}`, () => {
  let root: FreshRoot;
  const work = mkdtempSync(join(tmpdir(), 'flint-comb-stick-'));
  beforeAll(async () => {
    root = await freshRoot(RECIPE);
  }, 20 * 60_000);
  afterAll(async () => {
    await root?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('applies the config through the stick\'s own flint, and a failing config fails the script', async () => {
    writeFileSync(join(work, 'config.yaml'), CONFIG.replace('hostname: sealed', 'hostname: combusted'));
    const stick = join(work, 'stick.img');
    const made = spawnSync(process.execPath, [BIN, 'drive', 'create', join(work, 'config.yaml'), '--for', 'combustion', '--arch', 'x86_64', '-o', stick], { encoding: 'utf8', env: hostEnv });
    expect(made.status, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/FAT32 image labelled COMBUSTION, .* with combustion\/script, combustion\/flint-linux-x64 \(\d+ MiB\), combustion\/flint\/config\.yaml/);
    // Combustion's copy of the folder, in the initramfs's /dev/shm, which the chroot sees.
    const copy = join(root.dir, 'dev/shm/combustion/config');
    mkdirSync(join(copy, '..'), { recursive: true });
    const copied = spawnSync('mcopy', ['-s', '-n', '-i', stick, '::/combustion', join(copy, '..')], { encoding: 'utf8', env: hostEnv });
    expect(copied.status, copied.stderr).toBe(0);
    renameSync(join(copy, '..', 'combustion'), copy);
    chmodSync(join(copy, 'script'), 0o755);
    const script = readFileSync(join(copy, 'script'), 'utf8');
    expect(script).not.toMatch(/# combustion: network/);
    const run = () => inChroot(root.dir, ['sh', '-e', '-c', 'cd /dev/shm/combustion/config; ./script'], { timeoutMs: 180_000, mounts: ['proc'] });
    expect((await inChroot(root.dir, ['sh', '-c', 'command -v node nodejs; true'])).stdout).toBe('');
    const r = await run();
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(readFileSync(join(root.dir, 'etc/hostname'), 'utf8')).toBe('combusted\n');
    expect(readFileSync(join(root.dir, 'home/admin/.ssh/authorized_keys'), 'utf8')).toContain('admin@laptop');
    expect(JSON.parse(readFileSync(join(root.dir, 'var/log/flint/result.json'), 'utf8'))).toMatchObject({ config: { file: 'flint/config.yaml' } });
    // A config that does not fit the root: the script exits non-zero (Combustion rolls back) and nothing is written.
    writeFileSync(join(copy, 'flint/config.yaml'), 'version: 1\nhostname: other\nusers:\n  - name: admin\n    uid: 0\n');
    const bad = await run();
    expect(bad.code).not.toBe(0);
    expect(readFileSync(join(root.dir, 'etc/hostname'), 'utf8')).toBe('combusted\n');
  });
});

