import type { Verdict } from './problem.js';

export interface Address { family: 4 | 6; value: bigint }
export interface Cidr { family: 4 | 6; address: bigint; prefix: number }

const BITS = { 4: 32, 6: 128 } as const;

// Written here rather than taken from node:net: loading that module costs more start-up
// time than validating a whole config. Same rules as node:net: dotted quads without
// leading zeros; IPv6 with at most one "::" and an optional dotted-quad tail.
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4_RE = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

export function isIPv4(s: string): boolean {
  return IPV4_RE.test(s);
}

export function isIPv6(s: string): boolean {
  const zone = s.indexOf('%');
  const addr = zone >= 0 ? s.slice(0, zone) : s;
  if (zone >= 0 && !/^[0-9A-Za-z.:-]+$/.test(s.slice(zone + 1))) return false;
  const halves = addr.split('::');
  if (halves.length > 2) return false;
  const groups = (side: string): string[] | null => (side === '' ? [] : side.split(':'));
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  if (left === null || right === null) return false;
  const all = [...left, ...right];
  let count = 0;
  for (let i = 0; i < all.length; i++) {
    const g = all[i]!;
    if (HEX_GROUP.test(g)) count += 1;
    else if (i === all.length - 1 && !addr.endsWith(':') && isIPv4(g)) count += 2;
    else return false;
  }
  return halves.length === 2 ? count <= 7 : count === 8;
}

function parseIPv4(s: string): bigint {
  return s.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

/** Groups of one side of "::"; an IPv4 tail ("::ffff:1.2.3.4") counts as two groups. */
function ipv6Groups(side: string): bigint[] {
  if (side === '') return [];
  return side.split(':').flatMap((group) => {
    if (!group.includes('.')) return [BigInt(parseInt(group, 16))];
    const v4 = parseIPv4(group);
    return [v4 >> 16n, v4 & 0xffffn];
  });
}

function parseIPv6(s: string): bigint {
  const [head = '', tail] = s.split('::');
  const left = ipv6Groups(head);
  const right = tail === undefined ? [] : ipv6Groups(tail);
  const zeros = Array<bigint>(8 - left.length - right.length).fill(0n);
  return [...left, ...zeros, ...right].reduce((acc, g) => (acc << 16n) | g, 0n);
}

/**
 * An IP address as a number, or null. Zone ids ("fe80::1%eth0") are refused:
 * they name an interface of the machine running the check, not of the target.
 */
export function parseAddress(s: string): Address | null {
  if (isIPv4(s)) return { family: 4, value: parseIPv4(s) };
  if (isIPv6(s) && !s.includes('%')) return { family: 6, value: parseIPv6(s) };
  return null;
}

/** An address with its prefix length, as a static address or a route destination is written. */
export function parseCidr(s: string): Cidr | Verdict {
  const slash = s.indexOf('/');
  if (slash < 0) {
    const family = parseAddress(s)?.family;
    const example = family === 6 ? `${s}/64` : family === 4 ? `${s}/24` : '192.168.1.20/24';
    return { message: `"${s}" has no prefix length; the network size must be given after a slash`, hint: `write it with the prefix length, e.g. ${example}` };
  }
  const addressPart = s.slice(0, slash);
  const prefixPart = s.slice(slash + 1);
  const address = parseAddress(addressPart);
  if (address === null) {
    return { message: `"${addressPart}" is not a valid IPv4 or IPv6 address`, hint: 'write an address such as 192.168.1.20/24 or 2001:db8::20/64' };
  }
  const max = BITS[address.family];
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixPart) || Number(prefixPart) > max) {
    return { message: `the prefix length "/${prefixPart}" is not a whole number from 0 to ${max}, as an IPv${address.family} prefix must be`, hint: address.family === 4 ? `e.g. ${addressPart}/24` : `e.g. ${addressPart}/64` };
  }
  return { family: address.family, address: address.value, prefix: Number(prefixPart) };
}

function hostMask(family: 4 | 6, prefix: number): bigint {
  return (1n << BigInt(BITS[family] - prefix)) - 1n;
}

function toAddress(a: Address | string): Address | null {
  return typeof a === 'string' ? parseAddress(a) : a;
}

function toCidr(c: Cidr | string): Cidr | null {
  if (typeof c !== 'string') return c;
  const parsed = parseCidr(c);
  return 'message' in parsed ? null : parsed;
}

/** Whether the address lies in the network; false for mixed families or invalid strings. */
export function inSubnet(addr: Address | string, cidr: Cidr | string): boolean {
  const a = toAddress(addr);
  const c = toCidr(cidr);
  if (a === null || c === null || a.family !== c.family) return false;
  const mask = hostMask(c.family, c.prefix);
  return (a.value & ~mask) === (c.address & ~mask);
}

/** The text form of an address: dotted quad, or RFC 5952 compressed IPv6. */
export function formatAddress(a: Address): string {
  if (a.family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((a.value >> shift) & 0xffn)).join('.');
  }
  const groups = Array.from({ length: 8 }, (_, i) => Number((a.value >> BigInt(112 - 16 * i)) & 0xffffn));
  // RFC 5952: compress the longest run of two or more zero groups, the first one on ties.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;

/** A hardware address as Linux tools print and match it: six hex octets with colons. */
export function checkMac(s: string): Verdict | null {
  if (!MAC.test(s)) {
    const digits = /^[0-9a-f]{2}(?:[-.:]?[0-9a-f]{2}){5}$/i.test(s) || /^(?:[0-9a-f]{4}\.){2}[0-9a-f]{4}$/i.test(s)
      ? s.replace(/[-.:]/g, '')
      : undefined;
    const hint = digits === undefined
      ? 'write six two-digit hex octets separated by colons, e.g. dc:a6:32:01:02:03'
      : `write it with colons: ${(digits.match(/../g) ?? []).join(':').toLowerCase()}`;
    return { message: `"${s}" is not a MAC address in the form six two-digit hex octets separated by colons`, hint };
  }
  const first = parseInt(s.slice(0, 2), 16);
  if ((first & 1) === 1) {
    return { message: `"${s}" is a multicast address (the lowest bit of its first octet is set); no network interface has one`, hint: 'check the address: copy it from `ip link` on the machine' };
  }
  if (/^0{2}(?::0{2}){5}$/.test(s)) {
    return { message: `"${s}" is all zeros, which no network interface has`, hint: 'copy the address from `ip link` on the machine' };
  }
  return null;
}

/** A route destination: `default`, or a network in CIDR form. */
export function checkRouteTarget(s: string): Verdict | null {
  if (s === 'default') return null;
  if (s.toLowerCase() === 'default') return { message: `"${s}" is not a route destination; the keyword is lowercase`, hint: 'write default' };
  if (!s.includes('/')) {
    const address = parseAddress(s);
    if (address !== null) {
      const host = `${s}/${BITS[address.family]}`;
      return { message: `"${s}" has no prefix length; a route destination is a network`, hint: `write ${host} for a route to this one host, or the network with its prefix length` };
    }
  }
  const cidr = parseCidr(s);
  if ('message' in cidr) return cidr;
  const mask = hostMask(cidr.family, cidr.prefix);
  if ((cidr.address & mask) !== 0n) {
    const network = `${formatAddress({ family: cidr.family, value: cidr.address & ~mask })}/${cidr.prefix}`;
    return { message: `"${s}" has bits set after its /${cidr.prefix} prefix; a route destination is the network's first address`, hint: `write ${network}`, severity: 'warning' };
  }
  return null;
}
