/**
 * The network step: the config's connections as NetworkManager keyfiles or as
 * systemd-networkd files (see network-nm.ts, network-networkd.ts), the Wi-Fi
 * regulatory domain, and for networkd the service links `systemctl enable` would make.
 *
 * network.in_initrd (the initramfs side) is network-initrd.ts. Not done: removing files of
 * connections an earlier config had and this one no longer names.
 */
import type { PathSeg } from '../../config/diagnostics.js';
import type { Action } from '../../engine/actions.js';
import type { Problem, Step, StepContext, StepOutput } from '../../engine/step.js';
import type { TargetRoot } from '../../target/root.js';
import { renderNetworkd } from './networkd.js';
import { renderNmKeyfiles } from './nm.js';
import { installLinks } from '../systemd/install.js';

const STEP = 'network';

/**
 * The regulatory domain for cfg80211, read when the module loads. Unlike
 * wpa_supplicant's country= or NetworkManager (which has no setting for it), this
 * holds for every Wi-Fi driver and renderer, Raspberry Pi OS included.
 */
export const WIFI_COUNTRY_PATH = '/etc/modprobe.d/flint-wifi-country.conf';

/** Whether the target has NetworkManager, which `renderer: auto` then prefers. */
export function hasNetworkManager(root: TargetRoot): boolean {
  return ['/usr/sbin/NetworkManager', '/usr/bin/NetworkManager', '/usr/lib/systemd/system/NetworkManager.service', '/lib/systemd/system/NetworkManager.service'].some((p) => root.exists(p));
}

export const networkStep: Step = {
  name: STEP,
  sections: ['network'],
  /**
   * network.in_initrd, where flint runs in the initramfs: the config's connections are
   * brought up there before anything else (https payloads need them); the reason they
   * could not be is a problem of the plan, so nothing is written.
   */
  async prepare(ctx) {
    const bringUp = ctx.apply && ctx.config.network?.in_initrd === true ? ctx.env.initrdNetwork : undefined;
    const down = bringUp !== undefined ? await bringUp(ctx.config) : undefined;
    if (down === undefined) return undefined;
    return {
      plan: (c) => {
        const out = networkStep.plan(c);
        return { ...out, problems: [{ path: ['network', 'in_initrd'], ...down }, ...out.problems] };
      },
    };
  },
  plan(ctx: StepContext): StepOutput {
    if (ctx.config.network === undefined) return { actions: [], problems: [], warnings: [] };
    return planNetwork(ctx);
  },
};

function planNetwork(ctx: StepContext): StepOutput {
  const { root } = ctx;
  const net = ctx.config.network ?? {};
  const conns = net.connections ?? [];
  const actions: Action[] = [];
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const at = (i: number, ...rest: PathSeg[]): PathSeg[] => ['network', 'connections', i, ...rest];
  const file = (path: string, text: string, mode: number, secret: boolean, why: string): void => {
    actions.push({ kind: 'file', path, data: Buffer.from(text), mode, uid: 0, gid: 0, step: STEP, why, ...(secret ? { secret: true } : {}) });
  };
  const seen = new Map<string, number>();
  const claim = (path: string, origin: number): boolean => {
    const prev = seen.get(path);
    if (prev !== undefined) {
      problems.push({ path: at(origin, 'name'), message: `${path} would be written for both network.connections[${prev}] and network.connections[${origin}]`, hint: 'rename one of the connections' });
      return false;
    }
    seen.set(path, origin);
    return true;
  };

  if (net.wifi_country !== undefined) {
    file(WIFI_COUNTRY_PATH, `# Written by flint: network.wifi_country (the Wi-Fi regulatory domain).\noptions cfg80211 ieee80211_regdom=${net.wifi_country.toUpperCase()}\n`, 0o644, false, 'Wi-Fi regulatory domain');
  }

  const renderer = net.renderer ?? 'auto';
  const useNm = renderer === 'networkmanager' || (renderer === 'auto' && hasNetworkManager(root));
  if (useNm) {
    if (!hasNetworkManager(root)) warnings.push('network: NetworkManager is not installed in the target; its connection files are written for when it is');
    for (const k of renderNmKeyfiles(conns)) {
      // 0600 always: NetworkManager ignores a keyfile others can read, secret or not.
      if (claim(k.path, k.origin)) file(k.path, k.text, 0o600, k.secret, `NetworkManager connection ${k.id}`);
    }
    return { actions, problems, warnings, report: { network: { renderer: 'networkmanager', connections: conns.map((c) => c.name) } } };
  }

  const nd = renderNetworkd(conns, net.wifi_country);
  warnings.push(...nd.warnings);
  for (const p of nd.problems) problems.push({ path: at(p.origin, p.key), message: p.message, ...(p.hint !== undefined ? { hint: p.hint } : {}) });
  for (const f of nd.files) {
    if (claim(f.path, f.origin)) file(f.path, f.text, f.secret ? 0o600 : 0o644, f.secret, f.path.endsWith('.conf') ? 'wpa_supplicant configuration' : 'systemd-networkd configuration');
  }
  const units = [...(conns.length > 0 ? ['systemd-networkd.service'] : []), ...nd.wpaInterfaces.map((i) => `wpa_supplicant@${i}.service`)];
  const inst = installLinks(root, { step: STEP, enable: units });
  for (const unit of inst.missing) {
    if (unit === 'systemd-networkd.service') problems.push({ path: ['network', 'renderer'], message: 'systemd-networkd is not installed in the target', hint: 'install it in the image, or use renderer: networkmanager' });
    else {
      const origin = conns.findIndex((c) => c.type === 'wifi' && `wpa_supplicant@${c.interface ?? ''}.service` === unit);
      problems.push({ path: at(origin, 'wifi'), message: 'wpa_supplicant is not installed in the target', hint: 'install wpasupplicant in the image, or use renderer: networkmanager' });
    }
  }
  for (const p of inst.problems) problems.push({ path: ['network', 'renderer'], message: `${p.unit}: ${p.message}`, ...(p.hint !== undefined ? { hint: p.hint } : {}) });
  warnings.push(...inst.warnings.map((w) => `network: ${w}`));
  actions.push(...inst.actions);
  return { actions, problems, warnings, report: { network: { renderer: 'networkd', connections: conns.map((c) => c.name) } } };
}
