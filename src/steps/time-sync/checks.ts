/**
 * Checks of ntp: at least one server or pool, each a host name or an address.
 * Run with the other semantic checks (src/config/semantic.ts): config-layer code kept
 * beside the step, so it imports nothing above src/config.
 */
import { checkHostname } from '../../config/checks/names.js';
import { isIPv4, isIPv6 } from '../../config/checks/net.js';
import { isObj, strs } from '../../config/checks/read.js';
import type { Obj, Sink } from '../../config/checks/read.js';

export function check(cfg: Obj, r: Sink): void {
  if (isObj(cfg.ntp)) checkNtp(cfg.ntp, r);
}

function checkNtp(ntp: Obj, r: Sink): void {
  const servers = strs(ntp.servers);
  const pools = strs(ntp.pools);
  if (servers.length + pools.length === 0) r.error(['ntp'], 'ntp-empty', 'ntp: needs at least one server or pool', 'add servers: [ntp.example.org] or pools: [2.debian.pool.ntp.org], or remove ntp:', 'key');
  for (const [key, items] of [['servers', servers], ['pools', pools]] as const) {
    for (const [s, j] of items) {
      if (isIPv4(s) || isIPv6(s)) continue;
      const p = checkHostname(s);
      if (p !== null) r.error(['ntp', key, j], 'ntp-server', `"${s}" is neither a host name nor an IP address: ${p.message}`, 'write a name such as ntp.example.org or an address such as 192.168.1.1');
    }
  }
}
