/**
 * The network step: the config's connections as NetworkManager keyfiles or as
 * systemd-networkd files (see network-nm.ts, network-networkd.ts), the Wi-Fi
 * regulatory domain, and for networkd the service links `systemctl enable` would make.
 *
 * network.in_initrd (the initramfs side) is network-initrd.ts. Not done: removing files of
 * connections an earlier config had and this one no longer names.
 */
import type { PathSeg } from '../config/diagnostics.js';
import type { Action } from '../engine/actions.js';
import type { Problem, Step, StepContext, StepOutput } from '../engine/plan.js';
import type { TargetRoot } from '../target/root.js';
import { renderNetworkd } from './network-networkd.js';
import { renderNmKeyfiles } from './network-nm.js';
import { CONFIG_DIR, systemdVersion, unitSearchPath } from './systemd.js';
import { applyInstall, emptyInstall, expandSpecifiers, parseInstall, parseOsRelease, templateOf } from './systemd-units.js';

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
  const enabler = new Enabler(root);
  if (conns.length > 0) {
    if (!enabler.enable('systemd-networkd.service')) problems.push({ path: ['network', 'renderer'], message: 'systemd-networkd is not installed in the target', hint: 'install it in the image, or use renderer: networkmanager' });
  }
  for (const iface of nd.wpaInterfaces) {
    if (!enabler.enable(`wpa_supplicant@${iface}.service`)) {
      const origin = conns.findIndex((c) => c.type === 'wifi' && c.interface === iface);
      problems.push({ path: at(origin, 'wifi'), message: 'wpa_supplicant is not installed in the target', hint: 'install wpasupplicant in the image, or use renderer: networkmanager' });
    }
  }
  warnings.push(...enabler.warnings.map((w) => `network: ${w}`));
  for (const [path, target] of enabler.links) actions.push({ kind: 'symlink', path, target, uid: 0, gid: 0, step: STEP, why: 'enable systemd-networkd' });
  return { actions, problems, warnings, report: { network: { renderer: 'networkd', connections: conns.map((c) => c.name) } } };
}

/**
 * The links `systemctl enable` makes for vendor units: WantedBy=/RequiredBy=/UpheldBy=
 * links, Alias= links and Also= units, from the [Install] section of the unit file the
 * target's search path finds first. Drop-ins' [Install] and masks are not considered:
 * the units enabled here are the distribution's own.
 */
class Enabler {
  readonly links = new Map<string, string>();
  readonly warnings: string[] = [];
  private readonly done = new Set<string>();
  private readonly search: string[];
  private readonly upheldBy: boolean;
  private readonly osRelease: ReadonlyMap<string, string>;

  constructor(private readonly root: TargetRoot) {
    this.search = unitSearchPath(root);
    const v = systemdVersion(root);
    this.upheldBy = v === undefined || v >= 254;
    this.osRelease = parseOsRelease(root.readText('/etc/os-release') ?? root.readText('/usr/lib/os-release') ?? '');
  }

  private find(name: string): string | undefined {
    for (const n of [name, templateOf(name)]) {
      if (n === undefined) continue;
      for (const d of this.search) if (this.root.exists(`${d}/${n}`)) return `${d}/${n}`;
    }
    return undefined;
  }

  /** False when the unit does not exist in the target. */
  enable(name: string): boolean {
    if (this.done.has(name)) return true;
    this.done.add(name);
    const file = this.find(name);
    if (file === undefined) return false;
    const parsed = parseInstall(this.root.readText(file) ?? '');
    const data = emptyInstall();
    const warn = (m: string): void => {
      this.warnings.push(m);
    };
    for (const w of parsed.warnings) warn(`${file}: ${w}`);
    const err = parsed.error ?? applyInstall(data, name, file, parsed.assignments, { upheldBy: this.upheldBy, osRelease: this.osRelease }, warn);
    if (err !== undefined) {
      warn(`${name} is not enabled: ${err}`);
      return true;
    }
    const expand = (s: string): string | undefined => {
      const r = expandSpecifiers(s, { name, defaultInstance: data.defaultInstance, osRelease: this.osRelease });
      if ('error' in r) {
        warn(`${file}: ${s}: ${r.error}; ignored`);
        return undefined;
      }
      return r.value;
    };
    const dirs: Array<[string[], string]> = [[data.wantedBy, 'wants'], [data.requiredBy, 'requires'], [data.upheldBy, 'upholds']];
    for (const [targets, suffix] of dirs) {
      for (const t of targets) {
        const target = expand(t);
        if (target !== undefined) this.links.set(`${CONFIG_DIR}/${target}.${suffix}/${name}`, file);
      }
    }
    for (const a of data.aliases) {
      const alias = expand(a);
      if (alias !== undefined && alias !== name) this.links.set(`${CONFIG_DIR}/${alias}`, file);
    }
    for (const also of data.also) this.enable(also);
    return true;
  }
}
