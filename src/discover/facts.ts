/** What hosts: entries match on, read from the running machine's sysfs. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MachineFacts } from '../config/merge.js';

function read(p: string): string | undefined {
  try {
    // Device-tree strings end in NUL; DMI files in a newline.
    const v = readFileSync(p, 'utf8').replace(/\0/g, '').trim();
    return v === '' ? undefined : v;
  } catch {
    return undefined;
  }
}

export function machineFacts(sys: string): MachineFacts {
  const facts: MachineFacts = {};
  const macs: string[] = [];
  let ifaces: string[] = [];
  try {
    ifaces = readdirSync(join(sys, 'class/net')).sort();
  } catch {
    ifaces = [];
  }
  for (const name of ifaces) {
    if (name === 'lo') continue;
    const mac = read(join(sys, 'class/net', name, 'address'));
    // Tunnels and some virtual links report an all-zero address: it identifies nothing.
    if (mac !== undefined && !/^(00:)*00$/.test(mac)) macs.push(mac.toLowerCase());
  }
  if (macs.length > 0) facts.macs = macs;
  const serial = read(join(sys, 'firmware/devicetree/base/serial-number')) ?? read(join(sys, 'class/dmi/id/product_serial'));
  if (serial !== undefined) facts.serial = serial;
  const uuid = read(join(sys, 'class/dmi/id/product_uuid'));
  if (uuid !== undefined) facts.machineUuid = uuid.toLowerCase();
  return facts;
}
