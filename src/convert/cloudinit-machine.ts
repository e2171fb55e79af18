/**
 * cloud-init's machine-wide modules as flint's settings: update_etc_hosts
 * (manage_etc_hosts), ntp, ca_certs, mounts' swap file (swap), power_state,
 * raspberry_pi (rpi) and package_update_upgrade_install (packages). Each returns the flint value and the seed path it came from.
 */
import type { PathSeg } from '../config/diagnostics.js';
import type { FlintConfig } from '../config/validate.js';
import { isObj } from './cloudinit-source.js';
import type { SeedFile } from './cloudinit-source.js';

export interface Converted<T> {
  value: T;
  from: PathSeg[];
}

export interface MachineSettings {
  etc_hosts?: Converted<NonNullable<FlintConfig['etc_hosts']>>;
  ntp?: Converted<NonNullable<FlintConfig['ntp']>>;
  ca_certificates?: Converted<NonNullable<FlintConfig['ca_certificates']>>;
  swap_file?: Converted<NonNullable<FlintConfig['swap_file']>>;
  power_state?: Converted<NonNullable<FlintConfig['power_state']>>;
  raspberry_pi?: Converted<NonNullable<FlintConfig['raspberry_pi']>>;
  packages?: Converted<NonNullable<FlintConfig['packages']>>;
}

/** FQDN is the machine's full name (or its short one), as update_etc_hosts puts it on 127.0.1.1. */
export function convertMachine(ud: SeedFile, fqdn: string | undefined): MachineSettings {
  const out: MachineSettings = {};
  const hosts = etcHosts(ud, fqdn);
  if (hosts !== undefined) out.etc_hosts = { value: hosts, from: ['manage_etc_hosts'] };
  const ntp = ntpOf(ud);
  if (ntp !== undefined) out.ntp = { value: ntp, from: ['ntp'] };
  const ca = caCerts(ud);
  if (ca !== undefined) out.ca_certificates = ca;
  const swap = swapOf(ud);
  if (swap !== undefined) out.swap_file = { value: swap, from: ['swap'] };
  const power = powerState(ud);
  if (power !== undefined) out.power_state = { value: power, from: ['power_state'] };
  const pi = rpi(ud);
  if (pi !== undefined) out.raspberry_pi = { value: pi, from: ['rpi'] };
  const pk = packagesOf(ud);
  if (pk !== undefined) out.packages = pk;
  return out;
}

function etcHosts(ud: SeedFile, fqdn: string | undefined): NonNullable<FlintConfig['etc_hosts']> | undefined {
  const v = ud.at(['manage_etc_hosts']);
  if (v === undefined || v === null || v === false || (typeof v === 'string' && /^(false|no|off)$/i.test(v))) return undefined;
  const mode = v === true || (typeof v === 'string' && /^(true|yes|on|template)$/i.test(v)) ? 'template' : v === 'localhost' ? 'localhost' : undefined;
  if (mode === undefined) {
    ud.error(['manage_etc_hosts'], 'type', `manage_etc_hosts must be true, false, template or localhost, not ${JSON.stringify(v)}`);
    return undefined;
  }
  if (fqdn === undefined) {
    ud.unsupported(['manage_etc_hosts'], 'the seed names no host name, so there is nothing to put on 127.0.1.1');
    return undefined;
  }
  if (mode === 'template') {
    ud.warn(['manage_etc_hosts'], 'etc-hosts-template', 'flint puts the host name on the 127.0.1.1 line of the image\'s /etc/hosts once; cloud-init would render the whole file from its template on every boot', undefined, 'key');
  }
  const short = fqdn.split('.')[0]!;
  return [{ address: '127.0.1.1', names: short !== fqdn ? [fqdn, short] : [fqdn] }];
}

function ntpOf(ud: SeedFile): NonNullable<FlintConfig['ntp']> | undefined {
  if (ud.map(['ntp']) === undefined) return undefined;
  if (ud.bool(['ntp', 'enabled']) === false) return undefined;
  const client = ud.str(['ntp', 'ntp_client']);
  if (client !== undefined && client !== 'auto') ud.warn(['ntp', 'ntp_client'], 'ntp-client', `flint configures the NTP client the target has (chrony, else systemd-timesyncd), not necessarily ${client}`);
  ud.rest(['ntp'], new Set(['enabled', 'ntp_client', 'servers', 'pools']), { peers: 'flint sets servers and pools only', allow: 'flint sets servers and pools only (the machine serves no time)', config: 'flint writes the client\'s own files; a custom template is not used' });
  const servers = ud.strList(['ntp', 'servers'], false) ?? [];
  const pools = ud.strList(['ntp', 'pools'], false) ?? [];
  if (servers.length + pools.length === 0) {
    ud.unsupported(['ntp'], 'no servers or pools: cloud-init would use the distribution\'s default pool, which the image has already');
    return undefined;
  }
  return { ...(servers.length > 0 ? { servers } : {}), ...(pools.length > 0 ? { pools } : {}) };
}

function caCerts(ud: SeedFile): Converted<NonNullable<FlintConfig['ca_certificates']>> | undefined {
  const key = ud.written(['ca_certs']) ? 'ca_certs' : ud.written(['ca-certs']) ? 'ca-certs' : undefined;
  if (key === undefined || ud.map([key]) === undefined) return undefined;
  if (ud.bool([key, 'remove_defaults']) === true) ud.unsupported([key, 'remove_defaults'], 'flint adds authorities and never removes the distribution\'s');
  ud.rest([key], new Set(['trusted', 'remove_defaults']));
  const trusted = ud.strList([key, 'trusted'], false) ?? [];
  if (trusted.length === 0) return undefined;
  // cloud-init's own file names: /usr/local/share/ca-certificates/cloud-init-ca-cert-N.crt.
  return { value: trusted.map((pem, i) => ({ name: `cloud-init-ca-cert-${i + 1}`, contents: pem })), from: [key, 'trusted'] };
}

const HUMAN = /^(\d+(?:\.\d+)?)\s*([BKMGT]?)i?B?$/i;

/** cloud-init's human2bytes ("2G", "512M", a number of bytes) as a flint size. */
export function swapSize(v: string): string | undefined {
  const m = HUMAN.exec(v.trim());
  if (m === null) return undefined;
  const unit = m[2]!.toUpperCase();
  const bytes = BigInt(Math.round(Number(m[1]) * 1024 ** ' KMGT'.indexOf(unit === '' || unit === 'B' ? ' ' : unit)));
  for (const [u, n] of [['TiB', 1024n ** 4n], ['GiB', 1024n ** 3n], ['MiB', 1024n ** 2n], ['KiB', 1024n]] as const) if (bytes % n === 0n && bytes >= n) return `${bytes / n}${u}`;
  return `${bytes}B`;
}

function swapOf(ud: SeedFile): NonNullable<FlintConfig['swap_file']> | undefined {
  if (ud.map(['swap']) === undefined) return undefined;
  ud.rest(['swap'], new Set(['filename', 'size', 'maxsize']));
  const size = ud.str(['swap', 'size']);
  if (size === undefined || size === '0') return undefined;
  if (size === 'auto') {
    ud.unsupported(['swap', 'size'], 'size: auto (cloud-init picks it from the memory size); flint needs the size written, e.g. 2G');
    return undefined;
  }
  const flintSize = swapSize(size);
  if (flintSize === undefined) {
    ud.error(['swap', 'size'], 'swap-size', `swap.size "${size}" is not a size`, 'write a number of bytes, or one with K, M, G or T, e.g. 2G');
    return undefined;
  }
  if (ud.written(['swap', 'maxsize'])) ud.unsupported(['swap', 'maxsize'], 'only used with size: auto');
  // cloud-init's default file name.
  return { path: ud.str(['swap', 'filename']) ?? '/swap.img', size: flintSize };
}

function powerState(ud: SeedFile): NonNullable<FlintConfig['power_state']> | undefined {
  if (ud.map(['power_state']) === undefined) return undefined;
  ud.rest(['power_state'], new Set(['mode', 'delay', 'message']), { timeout: 'flint waits for the boot to come up, not for cloud-init\'s processes', condition: 'flint acts unconditionally' });
  const mode = ud.str(['power_state', 'mode']);
  if (mode !== 'reboot' && mode !== 'poweroff' && mode !== 'halt') {
    ud.error(['power_state', 'mode'], 'power-mode', `power_state.mode must be poweroff, reboot or halt${mode === undefined ? '' : `, not "${mode}"`}`, undefined, mode === undefined ? 'key' : 'value');
    return undefined;
  }
  const out: NonNullable<FlintConfig['power_state']> = { mode };
  const delay = ud.str(['power_state', 'delay']);
  if (delay !== undefined && delay !== 'now') {
    const m = /^\+?(\d+)$/.exec(delay.trim());
    if (m === null) ud.error(['power_state', 'delay'], 'power-delay', `power_state.delay must be now or a number of minutes, not "${delay}"`);
    else if (Number(m[1]) > 0) out.delay_seconds = Number(m[1]) * 60;
  }
  const message = ud.str(['power_state', 'message']);
  if (message !== undefined) out.message = message;
  return out;
}

function rpi(ud: SeedFile): NonNullable<FlintConfig['raspberry_pi']> | undefined {
  if (ud.map(['rpi']) === undefined) return undefined;
  ud.rest(['rpi'], new Set(['interfaces']), { enable_usb_gadget: 'flint does not set up the USB gadget mode' });
  if (ud.map(['rpi', 'interfaces']) === undefined) return undefined;
  ud.rest(['rpi', 'interfaces'], new Set(['i2c', 'spi', 'onewire', 'serial']), { remote_gpio: 'flint does not set up the remote GPIO daemon' });
  const out: NonNullable<FlintConfig['raspberry_pi']> = {};
  for (const k of ['i2c', 'spi', 'onewire'] as const) {
    const b = ud.bool(['rpi', 'interfaces', k]);
    if (b !== undefined) out[k] = b;
  }
  const serial = ud.at(['rpi', 'interfaces', 'serial']);
  if (serial !== undefined && serial !== null) {
    if (typeof serial === 'object') {
      ud.rest(['rpi', 'interfaces', 'serial'], new Set(['console', 'hardware']));
      const console = ud.bool(['rpi', 'interfaces', 'serial', 'console']);
      const hardware = ud.bool(['rpi', 'interfaces', 'serial', 'hardware']);
      if (hardware !== undefined) out.serial_hardware = hardware;
      if (console !== undefined) out.serial_console = console;
    } else {
      const b = ud.bool(['rpi', 'interfaces', 'serial']);
      if (b !== undefined) {
        out.serial_hardware = b;
        out.serial_console = b;
      }
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * package_update_upgrade_install: `packages` (names; [name, version] pairs become
 * apt's NAME=VERSION), `package_update`, `package_upgrade`. cloud-init updates the lists
 * whenever it installs or upgrades; so does flint (update defaults to true with names).
 */
function packagesOf(ud: SeedFile): Converted<NonNullable<FlintConfig['packages']>> | undefined {
  const list = ud.list(['packages']);
  const install: string[] = [];
  list?.forEach((_, i) => {
    const v = ud.at(['packages', i]);
    if (Array.isArray(v)) {
      const pair = ud.strList(['packages', i], false);
      if (pair?.length === 2) install.push(`${pair[0]!}=${pair[1]!}`);
      else ud.error(['packages', i], 'type', 'a package with a version is a list of its name and the version, e.g. [nginx, 1.22.1-9]');
    } else if (isObj(v)) ud.unsupported(['packages', i], 'packages for another package manager (apt:, snap:) are not installed');
    else {
      const s = ud.str(['packages', i]);
      if (s !== undefined) install.push(s);
    }
  });
  const update = ud.bool(['package_update']);
  const upgrade = ud.bool(['package_upgrade']);
  if (ud.written(['package_reboot_if_required']) && ud.bool(['package_reboot_if_required']) === true) ud.unsupported(['package_reboot_if_required'], 'flint does not reboot on the package manager\'s word; add power_state: {mode: reboot}');
  if (install.length === 0 && update !== true && upgrade !== true) return undefined;
  const value: NonNullable<FlintConfig['packages']> = { ...(install.length > 0 ? { install } : {}), ...(update !== undefined ? { update } : {}), ...(upgrade === true ? { upgrade } : {}) };
  return { value, from: [install.length > 0 ? 'packages' : update !== undefined ? 'package_update' : 'package_upgrade'] };
}
