/**
 * issue 16's cloud-init oracle: a Debian 13 guest with Debian's cloud-init and no flint
 * (stock-image.ts, variant cloud-init), booted in QEMU (TCG) with a `flint drive create
 * --for cloud-init` stick (a NoCloud seed on a FAT stick labelled CIDATA), ends in the
 * declared state: users, keys, host name, static address, files, units, checked over SSH.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheBase, hasRootfsSupport } from '../integration/rootfs.js';
import { SBIN_PATH, sh } from './host.js';
import { GUEST_MAC, LOGIN_RE, qemuMissing, Vm } from './qemu.js';
import { GATEWAY, makeKey, STATIC_ADDRESS } from './scenarios.js';
import { extractBoot, stockImage, type StockImage } from './stock-image.js';

const BUNDLE = path.resolve('dist/flint.mjs');
const rootfs = hasRootfsSupport();
const skipReason = qemuMissing('x86_64') ?? (!rootfs.ok ? `cannot build the guest: ${rootfs.reason}` : undefined);
if (skipReason !== undefined) console.warn(`cloud-init seed VM test skipped: ${skipReason}`);
const BOOT_MS = 10 * 60_000;

function config(pub: string): string {
  return `# cloud-init seed VM test (test/vm/cloudinit-seed.test.ts)
version: 1
hostname: seeded
users:
  - name: ops
    groups: [sudo]
    sudo: nopasswd
    shell: /bin/bash
    ssh_authorized_keys:
      - ${pub}
network:
  connections:
    - name: lan
      type: ethernet
      mac: "${GUEST_MAC}"
      ipv4:
        method: static
        addresses: [${STATIC_ADDRESS}]
        gateway: ${GATEWAY}
        dns: [10.0.2.3]
files:
  - path: /etc/motd
    mode: "0644"
    contents: "configured by cloud-init from a flint config\\n"
systemd:
  units:
    - name: seeded-hello.service
      contents: |
        [Unit]
        Description=Says hello once per boot

        [Service]
        Type=oneshot
        RemainAfterExit=yes
        ExecStart=/usr/bin/touch /run/seeded-hello

        [Install]
        WantedBy=multi-user.target
      enabled: true
`;
}

describe.skipIf(skipReason !== undefined).sequential('a --for cloud-init stick on a stock Debian 13 image with cloud-init and no flint', () => {
  let stock: StockImage;
  let work = '';
  let key = '';
  let pub = '';

  beforeAll(async () => {
    stock = await stockImage((l) => console.log(`vm: ${l}`), 'cloud-init');
    const runs = path.join(cacheBase(), 'vm-runs');
    await fs.mkdir(runs, { recursive: true });
    work = await fs.mkdtemp(path.join(runs, `cloudinit-${process.pid}-`));
    ({ key, pub } = await makeKey(work));
  }, 40 * 60_000);

  afterAll(async () => {
    if (work !== '' && process.env.FLINT_VM_KEEP !== '1') {
      for (const f of await fs.readdir(work)) if (/\.(raw|img)$|^vmlinuz|^initrd/.test(f)) await fs.rm(path.join(work, f), { force: true });
    }
  });

  it('cloud-init applies the rendered seed: user, key, sudo, host name, static address, file, unit', async () => {
    const cfg = path.join(work, 'site.yaml');
    await fs.writeFile(cfg, config(pub));
    const stick = path.join(work, 'seed.img');
    const made = await execa(process.execPath, [BUNDLE, 'drive', 'create', cfg, '--for', 'cloud-init', '--strict', '-o', stick], { reject: false, env: { PATH: SBIN_PATH } });
    expect(made.exitCode, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/labelled CIDATA/);
    const disk = path.join(work, 'cloud.raw');
    await sh('cp', ['--sparse=always', stock.disk, disk], 5 * 60_000);
    const boot = await extractBoot(disk, 1, stock.kernelVersion, work);
    const vm = await Vm.boot({ image: { dir: work, disk, ...boot, rootUuid: stock.rootUuid, kernelVersion: stock.kernelVersion }, disk, stick, consoleLog: path.join(work, 'cloudinit.console.log') });
    try {
      await vm.waitFor(LOGIN_RE, BOOT_MS);
      await vm.waitForSsh('ops', key, 6 * 60_000);
      const run = async (cmd: string) => {
        const r = await vm.ssh('ops', key, cmd);
        expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
        return r.stdout.trim();
      };
      // cloud-init's later stages may still run when SSH first answers.
      await run('cloud-init status --wait >/dev/null 2>&1 || true');
      expect(await run('test -e /usr/lib/flint/flint || echo none')).toBe('none');
      expect(await run('hostname')).toBe('seeded');
      expect(await run('id')).toMatch(/\(sudo\)/);
      expect(await run('sudo -n id -un')).toBe('root');
      expect(await run('cat /etc/motd')).toBe('configured by cloud-init from a flint config');
      expect(await run('ip -4 -o addr show')).toContain(`inet ${STATIC_ADDRESS}`);
      expect(await run('ip -4 route show default')).toMatch(new RegExp(`^default via ${GATEWAY.replace(/\./g, '\\.')}`));
      expect(await run('systemctl is-enabled seeded-hello.service')).toBe('enabled');
      expect(await run('test -e /run/seeded-hello && echo yes')).toBe('yes');
      const result = JSON.parse(await run('cat /run/cloud-init/result.json')) as { v1: { datasource: string; errors: string[] } };
      expect(result.v1.datasource).toMatch(/^DataSourceNoCloud/);
      expect(result.v1.errors).toEqual([]);
    } finally {
      await vm.stop({ user: 'ops', key });
    }
  }, 2 * BOOT_MS);
});
