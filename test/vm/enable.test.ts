/**
 * Issue 15's proof: a stock image that has no node and no flint, made self-configuring
 * by `flint image enable`, boots in QEMU (TCG) and ends in the declared state, checked
 * over SSH. x86_64: a Debian 13 image with dracut (stock-image.ts), the config on a USB
 * stick made by `flint drive create`. The image's partitions are compared before and
 * after enabling: only flint's files and the rebuilt initramfs differ, and a second run
 * changes nothing. aarch64: a Debian 13 arm64 image laid out as a Raspberry Pi SD card
 * (FAT boot partition, initramfs-tools), booted on QEMU's virt board with UEFI firmware,
 * the config on its own boot partition (`flint image embed`); flint runs from the
 * first-boot unit.
 *
 * Issue 18's proof rides on the x86_64 image: it is enabled with `--trust CA.pem` and
 * booted with `flint.trust=required`. The stick signed by `drive create --sign`
 * configures it; a copy of the same stick with one byte of its config changed, booted
 * on a copy of the same enabled image (its own first boot), is refused on the console,
 * and the guest boots on unconfigured (flint.on_failure=continue) with nothing of the
 * config in its root.
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheBase, hasRootfsSupport } from '../integration/rootfs.js';
import { exists, SBIN_PATH, sh } from './host.js';
import { imageFiles, imageManifest, manifestDiff } from './image-tree.js';
import { LOGIN_RE, qemuBinary, qemuMissing, Vm } from './qemu.js';
import { aarch64Support } from '../helpers/host.js';
import { arm64Image, type Arm64Image } from './guest-arm64.js';
import { makeKey } from './scenarios.js';
import { extractBoot, stockImage, type StockImage } from './stock-image.js';
import { flintStick, readFromStick, type Stick } from './stick.js';
import { issue } from '../helpers/pki.js';

const BUNDLE = path.resolve('dist/flint.mjs');
const rootfs = hasRootfsSupport();
const skipReason =
  qemuBinary() === undefined
    ? 'qemu-system-x86_64 is not installed (apt-get install --no-install-recommends qemu-system-x86)'
    : !rootfs.ok
      ? `cannot build the guest: ${rootfs.reason}`
      : !(await exists('dist/flint-linux-x64'))
        ? 'dist/flint-linux-x64 is missing (npm run build:sea)'
        : undefined;
if (skipReason !== undefined) console.warn(`image enable VM tests skipped: ${skipReason}`);

const BOOT_MS = 8 * 60_000;

/** flint's share of a boot: from systemd's "Starting" to its "Finished" line for UNIT, in seconds. */
export function unitSpan(vm: Vm, unit: string): number | undefined {
  const esc = unit.replace(/[.]/g, '\\.');
  const start = vm.lines.find((l) => new RegExp(`Starting .*${esc}`).test(l.text))?.at;
  const end = vm.lines.find((l) => new RegExp(`Finished .*${esc}`).test(l.text))?.at;
  return start !== undefined && end !== undefined ? (end - start) / 1000 : undefined;
}

function config(pub: string, hostname: string): string {
  return `# image enable VM test (test/vm/enable.test.ts)
version: 1
hostname: ${hostname}
users:
  - name: ops
    groups: [sudo]
    sudo: nopasswd
    shell: /bin/bash
    ssh_authorized_keys:
      - ${pub}
files:
  - path: /etc/motd
    mode: "0644"
    contents: "configured by a flint that image enable added\\n"
`;
}

async function flint(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await execa(process.execPath, [BUNDLE, ...args], { reject: false, env: { PATH: SBIN_PATH }, timeout: 40 * 60_000 });
  return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(skipReason !== undefined).sequential('flint image enable on a stock x86_64 Debian 13 image without node', () => {
  let stock: StockImage;
  let work = '';
  let key = '';
  let pub = '';
  let disk = '';
  let stick: Stick | undefined;
  const pki = { ca: '', key: '', cert: '' };

  beforeAll(async () => {
    stock = await stockImage((l) => console.log(`vm: ${l}`));
    const runs = path.join(cacheBase(), 'vm-runs');
    await fs.mkdir(runs, { recursive: true });
    work = await fs.mkdtemp(path.join(runs, `enable-${process.pid}-`));
    ({ key, pub } = await makeKey(work));
    disk = path.join(work, 'stock.raw');
    await sh('cp', ['--sparse=always', stock.disk, disk], 5 * 60_000);
    const ca = issue({ subject: 'fleet owner CA', ca: true });
    const signer = issue({ subject: 'fleet owner laptop', issuer: ca, extKeyUsage: ['codeSigning'] });
    pki.ca = path.join(work, 'owner-ca.pem');
    pki.key = path.join(work, 'signer.key');
    pki.cert = path.join(work, 'signer.pem');
    await fs.writeFile(pki.ca, ca.certPem);
    await fs.writeFile(pki.key, signer.keyPem, { mode: 0o600 });
    await fs.writeFile(pki.cert, signer.certPem);
  }, 40 * 60_000);

  afterAll(async () => {
    if (work !== '' && process.env.FLINT_VM_KEEP !== '1') {
      for (const f of await fs.readdir(work)) if (/\.(raw|img)$|^vmlinuz|^initrd/.test(f)) await fs.rm(path.join(work, f), { force: true });
    }
  });

  it('adds flint through the image\'s own dracut, changes nothing else, and a second run changes nothing', async () => {
    const before = await imageManifest(disk);
    expect([...before.keys()].some((k) => /\/bin\/node(js)?$/.test(k)), 'the stock image has no node').toBe(false);
    const first = await flint(['image', 'enable', disk, '--trust', pki.ca]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/now runs at first boot in its initramfs \(rebuilt by the image's own dracut\)/);
    expect(first.stdout).toMatch(/why: the image builds its initramfs with dracut/);
    const after = await imageManifest(disk);
    const diff = manifestDiff(before, after);
    expect(diff.removed).toEqual([]);
    expect(diff.changed).toEqual([`p1:/boot/initrd.img-${stock.kernelVersion}`]);
    expect(diff.added).toEqual(
      [
        'p1:/etc/flint/',
        'p1:/etc/flint/trust/',
        'p1:/etc/flint/trust/owner-ca.pem',
        'p1:/usr/lib/dracut/modules.d/95flint/',
        'p1:/usr/lib/dracut/modules.d/95flint/flint-self-contained.conf',
        'p1:/usr/lib/dracut/modules.d/95flint/flint.service',
        'p1:/usr/lib/dracut/modules.d/95flint/initrd-parse-etc-conflicts.conf',
        'p1:/usr/lib/dracut/modules.d/95flint/module-setup.sh',
        'p1:/usr/lib/flint/',
        'p1:/usr/lib/flint/enabled.json',
        'p1:/usr/lib/flint/flint',
      ].sort(),
    );
    const second = await flint(['image', 'enable', disk]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/already enabled .*; nothing changed/);
    expect(manifestDiff(after, await imageManifest(disk))).toEqual({ added: [], removed: [], changed: [] });
    // The tampered boot below gets its own copy of the enabled image: a booted root is no
    // longer at its first boot.
    await sh('cp', ['--sparse=always', disk, path.join(work, 'tampered.raw')], 5 * 60_000);
  }, 40 * 60_000);

  it('boots with a signed flint stick under flint.trust=required and ends in the declared state, with no node in the guest', async () => {
    expect(await exists(disk)).toBe(true);
    stick = await flintStick(work, 'enabled', { 'flint/config.yaml': config(pub, 'enabled-x86') }, true, ['--sign', '--key', pki.key, '--cert', pki.cert]);
    const boot = await extractBoot(disk, 1, stock.kernelVersion, work);
    const vm = await Vm.boot({ image: { dir: work, disk, ...boot, rootUuid: stock.rootUuid, kernelVersion: stock.kernelVersion }, disk, stick: stick.image, append: ['flint.trust=required'], consoleLog: path.join(work, 'enabled-x86.console.log') });
    try {
      await vm.waitFor(/Finished .*flint\.service/, BOOT_MS);
      expect(vm.console).toMatch(/config signed by "fleet owner laptop" \(SHA256 [0-9A-F:]+\) at \S+; the chain reaches fleet owner CA/);
      await vm.waitFor(LOGIN_RE, BOOT_MS);
      await vm.waitForSsh('ops', key, 4 * 60_000);
      const run = async (cmd: string) => {
        const r = await vm.ssh('ops', key, cmd);
        expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
        return r.stdout.trim();
      };
      expect(await run('hostname')).toBe('enabled-x86');
      expect(await run('id')).toMatch(/\(sudo\)/);
      expect(await run('sudo -n id -un')).toBe('root');
      expect(await run('cat /etc/motd')).toBe('configured by a flint that image enable added');
      expect(await run('command -v node nodejs; ls -d /usr/share/nodejs /usr/lib/node_modules 2>/dev/null; true')).toBe('');
      expect(await run('test -x /usr/lib/flint/flint && echo yes')).toBe('yes');
      expect(await run('sudo -n cat /etc/.flint-result.json')).toMatch(/"config_sha256"/);
      // The initramfs ran the self-contained flint, not node.
      expect(vm.console).toMatch(/flint\[\d+\]: flint: first boot/);
      const span = unitSpan(vm, 'flint.service');
      console.log(`vm: x86_64 enabled image: flint.service took ${span ?? '?'} s of the boot (console)`);
      await fs.writeFile(path.join(cacheBase(), 'vm-runs', 'enable-x86-timeline.json'), JSON.stringify({ flint_service_s: span, login_ms: vm.lines.find((l) => LOGIN_RE.test(l.text))?.at }, null, 2));
    } finally {
      await vm.stop({ user: 'ops', key });
    }
    const result = await readFromStick(stick, 'flint/RESULT.txt');
    expect(result).toMatch(/configured this machine/);
    expect(result).toMatch(/signed by "fleet owner laptop"/);
  }, 2 * BOOT_MS);

  it('refuses a tampered copy of the same stick on the console; the guest boots on unconfigured, nothing of the config in its root', async () => {
    expect(stick, 'the signed stick of the test before').toBeDefined();
    if (stick === undefined) return;
    const tamperedDisk = path.join(work, 'tampered.raw');
    const tampered: Stick = { image: path.join(work, 'tampered.stick.img'), kind: stick.kind };
    // The stick as the signed boot left it, RESULT.txt aside: one byte of the config changed.
    await sh('cp', ['--sparse=always', stick.image, tampered.image]);
    await execa('mdel', ['-i', tampered.image, '::/flint/RESULT.txt', '::/flint/result.json'], { reject: false, env: { PATH: SBIN_PATH } });
    const original = await readFromStick(tampered, 'flint/config.yaml');
    expect(original).toContain('hostname: enabled-x86');
    const changed = path.join(work, 'tampered-config.yaml');
    await fs.writeFile(changed, `${original ?? ''}\n`.replace('hostname: enabled-x86', 'hostname: enabled-x87'));
    await sh('mcopy', ['-o', '-i', tampered.image, changed, '::/flint/config.yaml']);
    const boot = await extractBoot(tamperedDisk, 1, stock.kernelVersion, work);
    const vm = await Vm.boot({
      image: { dir: work, disk: tamperedDisk, ...boot, rootUuid: stock.rootUuid, kernelVersion: stock.kernelVersion },
      disk: tamperedDisk,
      stick: tampered.image,
      append: ['flint.trust=required', 'flint.on_failure=continue'],
      consoleLog: path.join(work, 'tampered-x86.console.log'),
    });
    try {
      await vm.waitFor(/flint: REFUSED the config from /, BOOT_MS);
      await vm.waitFor(LOGIN_RE, BOOT_MS);
    } finally {
      await vm.stop();
    }
    expect(vm.console).toMatch(/flint: REFUSED the config from .*: the config config\.yaml was changed after it was signed \(its SHA-256 differs\); signed by "fleet owner laptop"/);
    expect(vm.console).toMatch(/flint\.on_failure=continue: the boot goes on, unconfigured/);
    expect(vm.console).not.toMatch(/flint: applying the config/);
    const refusal = await readFromStick(tampered, 'flint/RESULT.txt');
    expect(refusal).toMatch(/REFUSED this config .*flint\.trust=required/);
    expect(refusal).toMatch(/nothing was written to the machine/);
    // The guest's root, read offline after it booted: nothing the config declares is there.
    const root = await imageFiles(tamperedDisk, 1, ['/etc/passwd', '/etc/hostname', '/etc/motd', '/etc/.flint-result.json']);
    expect(root['/etc/passwd']).not.toMatch(/^ops:/m);
    expect(root['/etc/hostname']).not.toMatch(/enabled-x8/);
    expect(root['/etc/motd'] ?? '').not.toMatch(/configured by a flint/);
    expect(root['/etc/.flint-result.json']).toBeUndefined();
  }, 2 * BOOT_MS);
});

const arm = (() => {
  if (!rootfs.ok) return `cannot build the guest: ${rootfs.reason}`;
  const q = qemuMissing('aarch64');
  if (q !== undefined) return q;
  if (!existsSync('dist/flint-linux-arm64')) return 'dist/flint-linux-arm64 is missing (npm run build:sea)';
  const a = aarch64Support();
  return a.ok ? undefined : a.reason;
})();
if (arm !== undefined) console.warn(`image enable aarch64 VM test skipped: ${arm}`);

/** Under TCG an aarch64 boot is several times slower than x86_64's. */
const ARM_BOOT_MS = 15 * 60_000;

describe.skipIf(arm !== undefined).sequential('flint image enable on a stock aarch64 Debian 13 image (SD card layout, initramfs-tools)', () => {
  let image: Arm64Image;
  let work = '';
  let key = '';
  let pub = '';
  let disk = '';

  beforeAll(async () => {
    image = await arm64Image((l) => console.log(`vm: ${l}`));
    const runs = path.join(cacheBase(), 'vm-runs');
    await fs.mkdir(runs, { recursive: true });
    work = await fs.mkdtemp(path.join(runs, `enable-arm64-${process.pid}-`));
    ({ key, pub } = await makeKey(work));
    disk = path.join(work, 'sdcard.raw');
    await sh('cp', ['--sparse=always', image.disk, disk], 5 * 60_000);
  }, 60 * 60_000);

  afterAll(async () => {
    if (work !== '' && process.env.FLINT_VM_KEEP !== '1') {
      for (const f of await fs.readdir(work)) if (/\.(raw|img|efivars)$|^vmlinuz|^initrd/.test(f)) await fs.rm(path.join(work, f), { force: true });
    }
  });

  it('adds flint and its first-boot unit to the root, saying why, and nothing else; a second run changes nothing', async () => {
    const before = await imageManifest(disk);
    expect([...before.keys()].some((k) => /\/bin\/node(js)?$/.test(k)), 'the stock image has no node').toBe(false);
    const first = await flint(['image', 'enable', disk, '--arch', 'aarch64']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/flint \(aarch64\) now runs at first boot from a first-boot unit in its root/);
    expect(first.stdout).toMatch(/why: the image boots with initramfs-tools/);
    const after = await imageManifest(disk);
    const diff = manifestDiff(before, after);
    expect(diff.removed).toEqual([]);
    expect(diff.changed).toEqual([]);
    const wants = before.has('p2:/usr/lib/systemd/system/sysinit.target.wants/') ? [] : ['p2:/usr/lib/systemd/system/sysinit.target.wants/'];
    expect(diff.added).toEqual(
      [...wants, 'p2:/usr/lib/flint/', 'p2:/usr/lib/flint/enabled.json', 'p2:/usr/lib/flint/flint', 'p2:/usr/lib/systemd/system/flint-firstboot.service', 'p2:/usr/lib/systemd/system/sysinit.target.wants/flint-firstboot.service'].sort(),
    );
    const second = await flint(['image', 'enable', disk]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/already enabled .*; nothing changed/);
    expect(manifestDiff(after, await imageManifest(disk))).toEqual({ added: [], removed: [], changed: [] });
  }, 20 * 60_000);

  it('boots with the config on its own FAT boot partition and ends in the declared state, with no node', async () => {
    const cfg = path.join(work, 'sdcard.yaml');
    await fs.writeFile(cfg, config(pub, 'enabled-arm64'));
    const embed = await flint(['image', 'embed', disk, cfg]);
    expect(embed.code, embed.stderr).toBe(0);
    expect(embed.stderr).toMatch(/runs flint \(found \/usr\/lib\/flint\/enabled\.json/);
    expect(embed.stdout).toMatch(/wrote flint\.yaml to FAT partition 1 \(boot\)/);
    const boot = await extractBoot(disk, image.rootPart, image.kernelVersion, work);
    const vm = await Vm.boot({ arch: 'aarch64', image: { dir: work, disk, ...boot, rootUuid: image.rootUuid, kernelVersion: image.kernelVersion }, disk, consoleLog: path.join(work, 'enabled-arm64.console.log') });
    try {
      await vm.waitFor(/Finished .*flint-firstboot\.service/, ARM_BOOT_MS);
      await vm.waitFor(LOGIN_RE, ARM_BOOT_MS);
      await vm.waitForSsh('ops', key, 8 * 60_000);
      const run = async (cmd: string) => {
        const r = await vm.ssh('ops', key, cmd, 120_000);
        expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
        return r.stdout.trim();
      };
      expect(await run('uname -m')).toBe('aarch64');
      expect(await run('hostname')).toBe('enabled-arm64');
      expect(await run('id')).toMatch(/\(sudo\)/);
      expect(await run('sudo -n id -un')).toBe('root');
      expect(await run('cat /etc/motd')).toBe('configured by a flint that image enable added');
      expect(await run('command -v node nodejs; ls -d /usr/share/nodejs /usr/lib/node_modules 2>/dev/null; true')).toBe('');
      expect(await run('sudo -n cat /etc/.flint-result.json')).toMatch(/"config_sha256"/);
      expect(await run('systemctl show -P ActiveState flint-firstboot.service')).toBe('active');
      expect(vm.console).toMatch(/flint: first boot \(neither \/etc\/\.flint-result\.json nor/);
      const span = unitSpan(vm, 'flint-firstboot.service');
      console.log(`vm: aarch64 enabled image: flint-firstboot.service took ${span ?? '?'} s of the boot (console)`);
      await fs.writeFile(path.join(cacheBase(), 'vm-runs', 'enable-arm64-timeline.json'), JSON.stringify({ flint_service_s: span, login_ms: vm.lines.find((l) => LOGIN_RE.test(l.text))?.at }, null, 2));
    } finally {
      await vm.stop({ user: 'ops', key }, 120_000);
    }
  }, 3 * ARM_BOOT_MS);
});
