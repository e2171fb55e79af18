/**
 * URL templates in `flint.config=`, so that one kernel command line (one PXE or iPXE
 * menu entry) serves a fleet from a plain web server: each machine fills in its own
 * identity and fetches its own file.
 *
 * - `{mac}`: the MAC address of the interface the machine booted from (`BOOTIF=` as
 *   PXELINUX and iPXE pass it), else of its first network interface by name; lower
 *   case with hyphens, `52-54-00-12-34-56`, as iPXE's `${net0/mac:hexhyp}` and
 *   matchbox's `mac=` write it (a colon would need quoting in a URL path);
 * - `{serial}`: the board or DMI serial number (`/sys/firmware/devicetree/base/serial-number`,
 *   `/sys/class/dmi/id/product_serial`), as `hosts: match: serial:` sees it;
 * - `{uuid}`: the DMI product UUID, lower case;
 * - `{hostname}`: the kernel's host name (set by `ip=` or DHCP in the initramfs).
 *
 * Values are percent-encoded. A placeholder the machine has no value for is an error
 * that names it: fetching someone else's config, or a shared default, by accident is
 * worse than stopping.
 */
import { readFileSync } from 'node:fs';
import type { MachineFacts } from '../config/merge.js';

export const PLACEHOLDERS = ['mac', 'serial', 'uuid', 'hostname'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

export interface TemplateFacts extends MachineFacts {
  /** `BOOTIF=` of the kernel command line: `01-52-54-00-12-34-56` (01 is the ARP type of Ethernet). */
  bootif?: string;
  hostname?: string;
}

/** The placeholders in URL, and any `{...}` that is not one. */
export function placeholdersOf(url: string): { used: Placeholder[]; unknown: string[] } {
  const used: Placeholder[] = [];
  const unknown: string[] = [];
  for (const m of url.matchAll(/\{([^{}]*)\}/g)) {
    const name = m[1]!;
    if ((PLACEHOLDERS as readonly string[]).includes(name)) used.push(name as Placeholder);
    else unknown.push(name);
  }
  return { used, unknown };
}

/** MAC as the template writes it: lower case, hyphens. */
export function hyphenMac(mac: string): string {
  return mac.toLowerCase().replace(/[:.]/g, '-');
}

function valueOf(name: Placeholder, f: TemplateFacts): string | undefined {
  switch (name) {
    case 'mac': {
      const boot = /^01-((?:[0-9a-f]{2}-){5}[0-9a-f]{2})$/i.exec(f.bootif ?? '')?.[1];
      if (boot !== undefined) return boot.toLowerCase();
      const first = f.macs?.[0];
      return first === undefined ? undefined : hyphenMac(first);
    }
    case 'serial':
      return f.serial;
    case 'uuid':
      return f.machineUuid;
    case 'hostname':
      return f.hostname === undefined || f.hostname === '' || f.hostname === '(none)' || f.hostname === 'localhost' ? undefined : f.hostname;
  }
}

const WHERE: Readonly<Record<Placeholder, string>> = {
  mac: 'no network interface with a MAC address (and no BOOTIF= on the kernel command line)',
  serial: 'no serial number in /sys/firmware/devicetree/base/serial-number or /sys/class/dmi/id/product_serial',
  uuid: 'no DMI product UUID in /sys/class/dmi/id/product_uuid',
  hostname: 'no host name yet (give it with ip=...:HOSTNAME:... or by DHCP)',
};

/** URL with its placeholders filled, or the reason one cannot be. */
export function fillUrlTemplate(url: string, facts: TemplateFacts): { url: string } | { problem: string } {
  const { unknown } = placeholdersOf(url);
  if (unknown.length > 0) return { problem: `{${unknown[0]!}} is not a placeholder flint fills (it knows ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')})` };
  let problem: string | undefined;
  const filled = url.replace(/\{(mac|serial|uuid|hostname)\}/g, (_m, name: Placeholder) => {
    const v = valueOf(name, facts);
    if (v === undefined) {
      problem ??= `{${name}}: this machine has ${WHERE[name]}`;
      return '';
    }
    return encodeURIComponent(v);
  });
  return problem !== undefined ? { problem } : { url: filled };
}

/** The kernel's host name, or undefined. */
export function kernelHostname(proc = '/proc/sys/kernel/hostname'): string | undefined {
  try {
    return readFileSync(proc, 'utf8').trim();
  } catch {
    return undefined;
  }
}
