/**
 * `network.in_initrd: true`: the config's connections brought up in the initramfs that
 * runs flint, so that `https:` file sources and `network: true` scripts can reach the
 * network before the root is touched. The files are the same ones the network step
 * writes to the target, put in the initramfs's runtime folders (which both
 * NetworkManager and systemd-networkd read besides /etc), and the initramfs's own
 * network service is started on them.
 *
 * The initramfs must carry one of the two (dracut's network-manager or systemd-networkd
 * module); without either flint says so and stops, since a config that asked for the
 * network and does not get it would fail later with a worse message. The config itself
 * cannot come over these connections: it is what names them.
 */
import type { Program } from '../../system/programs.js';
import type { FlintConfig } from '../../config/validate.js';
import type { ExecResult } from '../../system/exec.js';
import { renderNetworkd } from './networkd.js';
import { renderNmKeyfiles } from './nm.js';

export type InitrdStack = 'networkmanager' | 'networkd';

export interface RuntimeFile {
  path: string;
  text: string;
  mode: number;
  /** Holds a Wi-Fi key: never shown. */
  secret: boolean;
}

/** Where each stack reads runtime connection files (besides /etc and /usr/lib). */
const RUNTIME_DIR: Record<InitrdStack, string> = {
  networkmanager: '/run/NetworkManager/system-connections',
  networkd: '/run/systemd/network',
};

/** The files to write in the initramfs for STACK, or problems that stop it. */
export function initrdNetworkFiles(config: FlintConfig, stack: InitrdStack): { files: RuntimeFile[]; problems: string[] } {
  const conns = config.network?.connections ?? [];
  if (stack === 'networkmanager') {
    const files = renderNmKeyfiles(conns).map((k) => ({ path: `${RUNTIME_DIR.networkmanager}/${k.path.split('/').pop()!}`, text: k.text, mode: 0o600, secret: k.secret }));
    // nm-initrd.service (dracut) starts NetworkManager only when this marker exists.
    return { files: [...files, { path: '/run/NetworkManager/initrd/neednet', text: '', mode: 0o644, secret: false }], problems: [] };
  }
  const nd = renderNetworkd(conns, config.network?.wifi_country);
  const problems = nd.problems.map((p) => `network.connections[${p.origin}].${p.key}: ${p.message}`);
  // Wi-Fi needs wpa_supplicant running as well, which an initramfs rarely has.
  if (nd.wpaInterfaces.length > 0) problems.push(`network.in_initrd: Wi-Fi (${nd.wpaInterfaces.join(', ')}) in the initramfs needs NetworkManager there; systemd-networkd alone cannot join a Wi-Fi network`);
  const files = nd.files.filter((f) => f.path.startsWith('/etc/systemd/network/')).map((f) => ({ path: `${RUNTIME_DIR.networkd}/${f.path.split('/').pop()!}`, text: f.text, mode: f.secret ? 0o600 : 0o644, secret: f.secret }));
  return { files, problems };
}

/** What the initramfs at ROOT ('/' in a real one) can run, NetworkManager first. */
export function initrdStack(exists: (path: string) => boolean): InitrdStack | undefined {
  if (['/usr/sbin/NetworkManager', '/usr/bin/NetworkManager', '/sbin/NetworkManager'].some(exists)) return 'networkmanager';
  if (['/usr/lib/systemd/systemd-networkd', '/lib/systemd/systemd-networkd'].some(exists)) return 'networkd';
  return undefined;
}

export interface InitrdNetworkEdges {
  exists(path: string): boolean;
  write(file: RuntimeFile): Promise<void>;
  run(file: Program, args: readonly string[], timeoutMs: number): Promise<ExecResult>;
  log(line: string): void;
  /** Waits MS milliseconds (injected so tests need not). */
  sleep(ms: number): Promise<void>;
}

export type InitrdNetworkResult = { ok: true; stack: InitrdStack; connections: string[] } | { ok: false; message: string; hint: string };

/**
 * Brings the config's connections up in the running initramfs and waits (bounded) for
 * a usable route. Nothing secret reaches an argv or the log: keys stay in 0600 files.
 */
export async function bringUpInitrdNetwork(config: FlintConfig, edges: InitrdNetworkEdges, timeoutS = 30): Promise<InitrdNetworkResult> {
  const names = (config.network?.connections ?? []).map((c) => c.name);
  if (names.length === 0) return { ok: false, message: 'network.in_initrd is set but network.connections is empty', hint: 'add the connections the initramfs should bring up' };
  const stack = initrdStack(edges.exists);
  if (stack === undefined) {
    return {
      ok: false,
      message: 'network.in_initrd is set, but this initramfs has neither NetworkManager nor systemd-networkd',
      hint: 'rebuild the initramfs with dracut\'s network-manager module (add_dracutmodules+=" network-manager " in /etc/dracut.conf.d/), or drop in_initrd',
    };
  }
  const { files, problems } = initrdNetworkFiles(config, stack);
  if (problems.length > 0) return { ok: false, message: problems.join('; '), hint: 'use NetworkManager in the initramfs, or drop in_initrd' };
  for (const f of files) await edges.write(f);
  edges.log(`network in the initramfs: ${files.filter((f) => !f.path.endsWith('/neednet')).length} file(s) for ${names.join(', ')} written for ${stack === 'networkmanager' ? 'NetworkManager' : 'systemd-networkd'}`);
  const started = await startService(stack, edges);
  if (!started.ok) return { ok: false, message: `could not start the initramfs's network service: ${started.summary}`, hint: 'see the journal of the initramfs (journalctl -b) for why' };
  const deadline = timeoutS * 1000;
  for (let waited = 0; ; waited += 1000) {
    const v4 = await edges.run('ip', ['-j', '-4', 'route', 'show', 'default'], 5_000);
    const v6 = await edges.run('ip', ['-j', '-6', 'route', 'show', 'default'], 5_000);
    if ((v4.ok && hasRoute(v4.stdout)) || (v6.ok && hasRoute(v6.stdout))) {
      edges.log(`network in the initramfs: up after ${Math.round(waited / 1000)} s`);
      return { ok: true, stack, connections: names };
    }
    if (waited >= deadline) return { ok: false, message: `no default route within ${timeoutS} s after bringing up ${names.join(', ')}`, hint: 'check the cable, the Wi-Fi settings and the addresses of these connections' };
    await edges.sleep(1000);
  }
}

async function startService(stack: InitrdStack, edges: InitrdNetworkEdges): Promise<ExecResult> {
  if (stack === 'networkd') return edges.run('systemctl', ['restart', 'systemd-networkd.service'], 30_000);
  // dracut's unit is nm-initrd.service (NetworkManager in configure-and-quit mode); older
  // dracut runs NetworkManager.service itself. A running one is told to re-read the files.
  const initrd = await edges.run('systemctl', ['restart', 'nm-initrd.service'], 30_000);
  if (initrd.ok) return initrd;
  const plain = await edges.run('systemctl', ['restart', 'NetworkManager.service'], 30_000);
  return plain.ok ? edges.run('nmcli', ['connection', 'reload'], 30_000).then((r) => (r.ok ? plain : r)) : plain;
}

function hasRoute(json: string): boolean {
  try {
    const routes = JSON.parse(json) as unknown;
    return Array.isArray(routes) && routes.length > 0;
  } catch {
    return false;
  }
}
