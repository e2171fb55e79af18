/**
 * Checks of etc_hosts: addresses, each once, and host names. (hostname, timezone, locale and keymap are checked in semantic.ts.)
 * Run with the other semantic checks (src/config/semantic.ts): config-layer code kept
 * beside the step, so it imports nothing above src/config.
 */
import { checkHostname } from '../../config/checks/names.js';
import { isIPv4, isIPv6 } from '../../config/checks/net.js';
import { objs, strs } from '../../config/checks/read.js';
import type { Obj, Sink } from '../../config/checks/read.js';

export function check(cfg: Obj, r: Sink): void {
  checkEtcHosts(cfg.etc_hosts, r);
}

function checkEtcHosts(list: unknown, r: Sink): void {
  const seen = new Map<string, number>();
  for (const [e, i] of objs(list)) {
    const address = typeof e.address === 'string' ? e.address : undefined;
    if (address !== undefined) {
      if (!isIPv4(address) && !isIPv6(address)) r.error(['etc_hosts', i, 'address'], 'hosts-address', `"${address}" is not an IPv4 or IPv6 address`, 'write the address only, e.g. 192.168.1.10 or fd00::10, without a prefix length');
      const prev = seen.get(address);
      if (prev !== undefined) r.error(['etc_hosts', i, 'address'], 'duplicate-hosts-address', `${address} is already given at etc_hosts[${prev}]`, 'list all its names in one entry');
      else seen.set(address, i);
    }
    for (const [n, j] of strs(e.names)) r.problem(['etc_hosts', i, 'names', j], 'hostname', checkHostname(n));
  }
}
