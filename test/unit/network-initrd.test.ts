import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { provision } from '../../src/pipeline/provision.js';
import type { FlintConfig } from '../../src/config/validate.js';
import type { ExecResult } from '../../src/system/exec.js';
import { bringUpInitrdNetwork, initrdNetworkFiles } from '../../src/steps/network/initrd.js';
import type { InitrdNetworkEdges, RuntimeFile } from '../../src/steps/network/initrd.js';

const PASS = 'initrd wifi secret';
const config: FlintConfig = {
  version: 1,
  network: {
    in_initrd: true,
    connections: [
      { name: 'lan', interface: 'eth0', ipv4: { method: 'static', addresses: ['10.0.2.15/24'], gateway: '10.0.2.2' } },
      { name: 'home', type: 'wifi', interface: 'wlan0', wifi: { ssid: 'Home', password: PASS } },
    ],
  },
};
const wired: FlintConfig = { version: 1, network: { in_initrd: true, connections: [config.network!.connections![0]!] } };

function result(ok: boolean, stdout = ''): ExecResult {
  return { ok, stdout, stderr: '', timedOut: false, summary: ok ? 'ok' : 'exit status 5', ...(ok ? { exitCode: 0 } : { exitCode: 5 }) };
}

interface Fake extends InitrdNetworkEdges {
  files: RuntimeFile[];
  calls: string[][];
  lines: string[];
  slept: number;
}

function fake(have: string[], opts: { routeAfter?: number; failing?: string[] } = {}): Fake {
  let routeChecks = 0;
  const f: Fake = {
    files: [],
    calls: [],
    lines: [],
    slept: 0,
    exists: (p) => have.includes(p),
    write: async (file) => {
      f.files.push(file);
    },
    run: async (file, args) => {
      f.calls.push([file, ...args]);
      if (opts.failing?.includes(args[1] ?? '')) return result(false);
      if (file === 'ip') {
        // Each check asks for IPv4 and IPv6: count pairs.
        if (args.includes('-4')) routeChecks++;
        const up = opts.routeAfter !== undefined && routeChecks > opts.routeAfter && args.includes('-4');
        return result(true, up ? '[{"dst":"default","gateway":"10.0.2.2","dev":"eth0"}]' : '[]');
      }
      return result(true);
    },
    log: (l) => f.lines.push(l),
    sleep: async (ms) => {
      f.slept += ms;
    },
  };
  return f;
}

describe('network.in_initrd', () => {
  it('NetworkManager: keyfiles in /run, 0600, the neednet marker, nm-initrd restarted, then a route is awaited', async () => {
    const f = fake(['/usr/sbin/NetworkManager'], { routeAfter: 2 });
    const r = await bringUpInitrdNetwork(config, f);
    expect(r).toEqual({ ok: true, stack: 'networkmanager', connections: ['lan', 'home'] });
    expect(f.files.map((x) => [x.path, x.mode])).toEqual([
      ['/run/NetworkManager/system-connections/lan.nmconnection', 0o600],
      ['/run/NetworkManager/system-connections/home.nmconnection', 0o600],
      ['/run/NetworkManager/initrd/neednet', 0o644],
    ]);
    expect(f.files[1]!.secret).toBe(true);
    expect(f.calls[0]).toEqual(['systemctl', 'restart', 'nm-initrd.service']);
    expect(f.slept).toBe(2000);
    // The key is in a file, and nowhere else.
    expect(JSON.stringify([f.calls, f.lines])).not.toContain(PASS);
    expect(f.files[1]!.text).not.toContain(PASS);
  });

  it('falls back to NetworkManager.service and a reload when dracut has no nm-initrd unit', async () => {
    const f = fake(['/usr/sbin/NetworkManager'], { routeAfter: 0, failing: ['nm-initrd.service'] });
    const r = await bringUpInitrdNetwork(wired, f);
    expect(r.ok).toBe(true);
    expect(f.calls.slice(0, 3)).toEqual([['systemctl', 'restart', 'nm-initrd.service'], ['systemctl', 'restart', 'NetworkManager.service'], ['nmcli', 'connection', 'reload']]);
  });

  it('systemd-networkd: .network files in /run/systemd/network, networkd restarted', async () => {
    const f = fake(['/usr/lib/systemd/systemd-networkd'], { routeAfter: 0 });
    const r = await bringUpInitrdNetwork(wired, f);
    expect(r).toEqual({ ok: true, stack: 'networkd', connections: ['lan'] });
    expect(f.files.map((x) => x.path)).toEqual(['/run/systemd/network/10-flint-lan.network']);
    expect(f.files[0]!.text).toContain('Address=10.0.2.15/24');
    expect(f.calls[0]).toEqual(['systemctl', 'restart', 'systemd-networkd.service']);
  });

  it('systemd-networkd cannot join Wi-Fi in an initramfs: refused before anything is written', async () => {
    const f = fake(['/usr/lib/systemd/systemd-networkd']);
    const r = await bringUpInitrdNetwork(config, f);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.message).toContain('Wi-Fi (wlan0) in the initramfs needs NetworkManager');
    expect(f.files).toEqual([]);
  });

  it('an initramfs with no network stack: a clear message that says how to add one', async () => {
    const f = fake([]);
    const r = await bringUpInitrdNetwork(wired, f);
    expect(r).toMatchObject({ ok: false, message: expect.stringContaining('neither NetworkManager nor systemd-networkd') });
    expect(r.ok ? '' : r.hint).toContain('network-manager');
    expect(f.calls).toEqual([]);
  });

  it('gives up after the timeout when no route appears', async () => {
    const f = fake(['/usr/sbin/NetworkManager']);
    const r = await bringUpInitrdNetwork(wired, f, 5);
    expect(r).toMatchObject({ ok: false, message: 'no default route within 5 s after bringing up lan' });
    expect(f.slept).toBe(5000);
  });

  it('the files are the ones the target gets, moved to /run', () => {
    const nm = initrdNetworkFiles(wired, 'networkmanager');
    expect(nm.problems).toEqual([]);
    expect(nm.files[0]!.text).toMatch(/^\[connection\]\nid=lan\n/);
  });
});

describe('network.in_initrd in the pipeline', () => {
  const setup = (inInitrd: boolean) => {
    const dir = mkdtempSync(join(tmpdir(), 'flint-initrd-net-'));
    const root = join(dir, 'root');
    mkdirSync(join(root, 'etc'), { recursive: true });
    const file = join(dir, 'c.yaml');
    writeFileSync(file, `version: 1\nnetwork:\n  renderer: networkmanager\n  in_initrd: ${inInitrd}\n  connections:\n    - name: lan\n      interface: eth0\n`);
    return { root, file };
  };

  it('a network that cannot come up stops the apply before anything is written', async () => {
    const { root, file } = setup(true);
    let asked = 0;
    const r = await provision({ root, configFile: file, apply: true, initrdNetwork: async () => (asked++, { message: 'no route', hint: 'check the cable' }) });
    expect(asked).toBe(1);
    expect(r.ok).toBe(false);
    expect(r.ok === false && r.stage === 'plan' ? r.plan.problems[0] : undefined).toMatchObject({ step: 'network', path: ['network', 'in_initrd'], message: 'no route' });
    expect(readdirSync(join(root, 'etc'))).toEqual([]);
  });

  it('is asked only when in_initrd is set, and then the apply goes on', async () => {
    for (const on of [false, true]) {
      const { root, file } = setup(on);
      let asked = 0;
      const r = await provision({ root, configFile: file, apply: true, initrdNetwork: async () => (asked++, undefined) });
      expect([on, asked, r.ok]).toEqual([on, on ? 1 : 0, true]);
    }
  });
});
