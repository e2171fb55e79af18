import { describe, expect, it } from 'vitest';
import { isIPv4 as netIsIPv4, isIPv6 as netIsIPv6 } from 'node:net';
import { checkMac, checkRouteTarget, formatAddress, inSubnet, isIPv4, isIPv6, parseAddress, parseCidr } from '../../src/config/checks/net.js';
import { isProblem } from '../../src/config/checks/problem.js';

describe('parseAddress', () => {
  it.each([
    ['0.0.0.0', 4, 0n],
    ['192.168.1.20', 4, 0xc0a80114n],
    ['255.255.255.255', 4, 0xffffffffn],
    ['::', 6, 0n],
    ['::1', 6, 1n],
    ['2001:db8::20', 6, 0x20010db8000000000000000000000020n],
    ['2001:DB8::20', 6, 0x20010db8000000000000000000000020n],
    ['fe80::', 6, 0xfe800000000000000000000000000000n],
    ['1:2:3:4:5:6:7:8', 6, 0x00010002000300040005000600070008n],
    ['1::8', 6, 0x00010000000000000000000000000008n],
    ['1:2:3:4:5:6:7::', 6, 0x00010002000300040005000600070000n],
    ['::ffff:192.168.1.1', 6, 0xffffc0a80101n],
    ['64:ff9b::1.2.3.4', 6, 0x0064ff9b000000000000000001020304n],
    ['1:2:3:4:5:6:1.2.3.4', 6, 0x00010002000300040005000601020304n],
  ])('%s', (s, family, value) => {
    expect(parseAddress(s)).toEqual({ family, value });
  });

  it.each([
    '', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-1', ' 1.2.3.4', '1.2.3.4/24', 'localhost',
    ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'fe80::1%eth0', 'g::1', '::ffff:1.2.3', 'default',
  ])('refuses %j', (s) => {
    expect(parseAddress(s)).toBeNull();
  });
});

describe('formatAddress', () => {
  it.each(['192.168.1.20', '0.0.0.0', '::', '::1', '2001:db8::20', 'fe80::', '1:0:0:2::3', '1:2:3:4:5:6:7:8', '1::2:0:0:3', '2001:db8:0:1:1:1:1:1'])('round-trips %s', (s) => {
    const a = parseAddress(s);
    expect(a && formatAddress(a)).toBe(s);
  });

  it('compresses the longest zero run, the first one on ties, and not a single zero group', () => {
    expect(formatAddress({ family: 6, value: 0x00010000000000020000000000000003n })).toBe('1:0:0:2::3');
    expect(formatAddress({ family: 6, value: 0x00010000000000020000000000030004n })).toBe('1::2:0:0:3:4');
    expect(formatAddress({ family: 6, value: 0x00010000000200030004000500060007n })).toBe('1:0:2:3:4:5:6:7');
  });
});

describe('parseCidr', () => {
  it.each([
    ['192.168.1.20/24', { family: 4, address: 0xc0a80114n, prefix: 24 }],
    ['0.0.0.0/0', { family: 4, address: 0n, prefix: 0 }],
    ['10.0.0.1/32', { family: 4, address: 0x0a000001n, prefix: 32 }],
    ['2001:db8::20/64', { family: 6, address: 0x20010db8000000000000000000000020n, prefix: 64 }],
    ['::/0', { family: 6, address: 0n, prefix: 0 }],
    ['::1/128', { family: 6, address: 1n, prefix: 128 }],
  ])('%s', (s, expected) => {
    expect(parseCidr(s)).toEqual(expected);
  });

  it('asks for a prefix length, suggesting /24 for IPv4 and /64 for IPv6', () => {
    const v4 = parseCidr('192.168.1.20');
    expect(isProblem(v4) && v4.message).toContain('no prefix length');
    expect(isProblem(v4) && v4.hint).toContain('192.168.1.20/24');
    const v6 = parseCidr('2001:db8::20');
    expect(isProblem(v6) && v6.hint).toContain('2001:db8::20/64');
    const junk = parseCidr('router');
    expect(isProblem(junk) && junk.hint).toContain('192.168.1.20/24');
  });

  it.each([
    ['192.168.1.256/24', 'not a valid IPv4 or IPv6 address'],
    ['/24', 'not a valid'],
    ['host/24', 'not a valid'],
    ['192.168.1.20/33', 'from 0 to 32'],
    ['192.168.1.20/', 'from 0 to 32'],
    ['192.168.1.20/024', 'from 0 to 32'],
    ['192.168.1.20/-1', 'from 0 to 32'],
    ['192.168.1.20/2 4', 'from 0 to 32'],
    ['192.168.1.20/24/8', 'from 0 to 32'],
    ['192.168.1.20/255.255.255.0', 'from 0 to 32'],
    ['2001:db8::/129', 'from 0 to 128'],
    ['fe80::1%eth0/64', 'not a valid'],
  ])('refuses %s', (s, inMessage) => {
    const r = parseCidr(s);
    expect(isProblem(r)).toBe(true);
    expect(isProblem(r) && r.message).toContain(inMessage);
  });
});

describe('inSubnet', () => {
  it.each([
    ['192.168.1.1', '192.168.1.20/24', true],
    ['192.168.1.255', '192.168.1.0/24', true],
    ['192.168.2.1', '192.168.1.20/24', false],
    ['10.200.3.4', '10.0.0.0/8', true],
    ['11.0.0.0', '10.0.0.0/8', false],
    ['1.2.3.4', '0.0.0.0/0', true],
    ['10.0.0.1', '10.0.0.1/32', true],
    ['10.0.0.2', '10.0.0.1/32', false],
    ['192.168.1.1', '192.168.1.0/31', true],
    ['192.168.1.2', '192.168.1.0/31', false],
    ['2001:db8::1', '2001:db8::20/64', true],
    ['2001:db8:0:1::1', '2001:db8::20/64', false],
    ['::ffff:192.168.1.1', '192.168.1.0/24', false],
    ['192.168.1.1', '::/0', false],
    ['not an ip', '192.168.1.0/24', false],
    ['192.168.1.1', '192.168.1.0', false],
  ])('%s in %s: %s', (addr, cidr, expected) => {
    expect(inSubnet(addr, cidr)).toBe(expected);
  });

  it('takes parsed values too', () => {
    const a = parseAddress('192.168.1.1');
    const c = parseCidr('192.168.1.20/24');
    expect(a !== null && !isProblem(c) && inSubnet(a, c)).toBe(true);
  });
});

describe('checkMac', () => {
  it.each(['dc:a6:32:01:02:03', 'DC:A6:32:01:02:03', 'Dc:a6:32:aB:02:03', '02:00:00:00:00:01'])('accepts %s', (s) => {
    expect(checkMac(s)).toBeNull();
  });

  it.each([
    ['dc-a6-32-01-02-03', 'write it with colons: dc:a6:32:01:02:03'],
    ['DC-A6-32-01-02-03', 'write it with colons: dc:a6:32:01:02:03'],
    ['dca632010203', 'write it with colons: dc:a6:32:01:02:03'],
    ['dca6.3201.0203', 'write it with colons: dc:a6:32:01:02:03'],
  ])('suggests colons for %s', (s, hint) => {
    expect(checkMac(s)).toMatchObject({ hint });
  });

  it.each([
    ['', 'not a MAC address'],
    ['dc:a6:32:01:02', 'not a MAC address'],
    ['dc:a6:32:01:02:03:04', 'not a MAC address'],
    ['dc:a6:32:01:02:0g', 'not a MAC address'],
    ['d:a6:32:01:02:03', 'not a MAC address'],
    ['dc:a6:32:01:02:03 ', 'not a MAC address'],
    ['01:00:5e:00:00:01', 'multicast'],
    ['ff:ff:ff:ff:ff:ff', 'multicast'],
    ['00:00:00:00:00:00', 'all zeros'],
  ])('refuses %j', (s, inMessage) => {
    expect(checkMac(s)?.message).toContain(inMessage);
  });

  it('gives a generic example for a value that is not a MAC at all', () => {
    expect(checkMac('eth0')?.hint).toContain('dc:a6:32:01:02:03');
  });
});

describe('checkRouteTarget', () => {
  it.each(['default', '10.0.0.0/8', '0.0.0.0/0', '192.168.1.0/24', '10.1.2.3/32', '2001:db8::/32', '::/0'])('accepts %s', (s) => {
    expect(checkRouteTarget(s)).toBeNull();
  });

  it('wants lowercase "default"', () => {
    expect(checkRouteTarget('Default')).toMatchObject({ hint: 'write default' });
  });

  it('suggests a host route for a bare address', () => {
    expect(checkRouteTarget('10.1.2.3')?.hint).toContain('10.1.2.3/32');
    expect(checkRouteTarget('2001:db8::1')?.hint).toContain('2001:db8::1/128');
  });

  it('warns when bits are set after the prefix, naming the network', () => {
    expect(checkRouteTarget('10.1.0.0/8')).toMatchObject({ severity: 'warning', hint: 'write 10.0.0.0/8' });
    expect(checkRouteTarget('192.168.1.20/24')).toMatchObject({ severity: 'warning', hint: 'write 192.168.1.0/24' });
    expect(checkRouteTarget('2001:db8::1/64')).toMatchObject({ severity: 'warning', hint: 'write 2001:db8::/64' });
  });

  it.each(['', 'gateway', '10.0.0.0/33', '300.0.0.0/8', 'default via 1.2.3.4'])('refuses %j as an error', (s) => {
    const p = checkRouteTarget(s);
    expect(p).not.toBeNull();
    expect(p?.severity).toBeUndefined();
  });
});

describe('isIPv4 / isIPv6 agree with node:net (the oracle; flint avoids loading it at start-up)', () => {
  const fixed = [
    '1.2.3.4', '01.2.3.4', '256.1.1.1', '0.0.0.0', '1.2.3', '1.2.3.4.', '::', '::1', '1::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::',
    '1:2:3:4:5:6:7:8:9', '::ffff:1.2.3.4', '1::2::3', 'fe80::1%eth0', ':1', '1:', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4',
    '::1.2.3.4', 'g::1', '12345::', '::1.2.3', '1.2.3.4::', ':::', '', '1:2:3:4:5:6:7::8', 'fe80::%', '::ffff:01.2.3.4',
  ];
  // Seeded mutations of valid addresses: the grammar's corners show up quickly.
  let seed = 42;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const alphabet = '0123456789abcdef:.%';
  const random: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const base = fixed[rand(fixed.length)]!.split('');
    for (let k = rand(3); k >= 0; k--) {
      const at = rand(base.length + 1);
      const op = rand(3);
      if (op === 0) base.splice(at, 1);
      else if (op === 1) base.splice(at, 0, alphabet[rand(alphabet.length)]!);
      else base[at] = alphabet[rand(alphabet.length)]!;
    }
    random.push(base.join(''));
  }
  it('on fixed and random inputs', () => {
    for (const s of [...fixed, ...random]) {
      expect([s, isIPv4(s), isIPv6(s)]).toEqual([s, netIsIPv4(s), netIsIPv6(s)]);
    }
  });
});
