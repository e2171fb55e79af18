import { describe, expect, it } from 'vitest';
import { editDistance, nearest, toSnakeCase } from '../../src/config/checks/suggest.js';
import { STANDARD_GROUPS } from '../../src/config/checks/groups.js';
import { isSecretKey, SECRET_KEYS } from '../../src/config/load.js';

describe('editDistance (optimal string alignment)', () => {
  it.each([
    ['', '', 0],
    ['abc', '', 3],
    ['', 'abc', 3],
    ['abc', 'abc', 0],
    ['kitten', 'sitting', 3],
    ['hostname', 'hsotname', 1], // adjacent transposition counts once
    ['ab', 'ba', 1],
    ['ca', 'abc', 3], // OSA, not unrestricted Damerau (which gives 2)
    ['flaw', 'lawn', 2],
    ['timezone', 'time_zone', 1],
    ['Users', 'users', 1],
  ])('%j vs %j = %i', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });
});

describe('toSnakeCase', () => {
  it.each([
    ['sshAuthorizedKeys', 'ssh_authorized_keys'],
    ['ssh-authorized-keys', 'ssh_authorized_keys'],
    ['SSH_AUTHORIZED_KEYS', 'ssh_authorized_keys'],
    ['passwordHash', 'password_hash'],
    ['PasswordHash', 'password_hash'],
    ['HTTPProxy', 'http_proxy'],
    ['ipv4', 'ipv4'],
    ['wifi country', 'wifi_country'],
    ['already_snake', 'already_snake'],
    ['mtu1500Value', 'mtu1500_value'],
  ])('%s -> %s', (input, output) => {
    expect(toSnakeCase(input)).toBe(output);
  });
});

const KEYS = ['version', 'hostname', 'timezone', 'locale', 'keymap', 'groups', 'users', 'ssh', 'network', 'storage', 'files',
  'directories', 'links', 'systemd', 'containers', 'kernel_arguments', 'scripts', 'hosts', 'ssh_authorized_keys',
  'password_hash', 'password', 'primary_group'];

describe('nearest', () => {
  it.each([
    ['hostnme', 'hostname'],
    ['hsotname', 'hostname'],
    ['timezon', 'timezone'],
    ['time_zone', 'timezone'],
    ['sshAuthorizedKeys', 'ssh_authorized_keys'],
    ['ssh-authorized-keys', 'ssh_authorized_keys'],
    ['SSH_AUTHORIZED_KEYS', 'ssh_authorized_keys'],
    ['passwordHash', 'password_hash'],
    ['password-hash', 'password_hash'],
    ['primaryGroup', 'primary_group'],
    ['kernelArguments', 'kernel_arguments'],
    ['Users', 'users'],
    ['user', 'users'],
    ['HOSTNAME', 'hostname'],
  ])('%s -> %s', (word, expected) => {
    expect(nearest(word, KEYS)).toBe(expected);
  });

  it.each(['banana', 'x', 'completely_unrelated', 'usr_', 'zz'])('finds nothing close to %j', (word) => {
    expect(nearest(word, KEYS)).toBeUndefined();
  });

  it('scales the threshold with the word: short words only match near misses', () => {
    expect(nearest('ab', ['ax'])).toBe('ax'); // 1 allowed at any length
    expect(nearest('ab', ['xy'])).toBeUndefined();
    expect(nearest('abcdef', ['abxyef'])).toBe('abxyef'); // floor(6/3) = 2
    expect(nearest('abcdef', ['axxxef'])).toBeUndefined();
  });

  it('takes an explicit maximum', () => {
    expect(nearest('abcdef', ['axxxef'], 3)).toBe('axxxef');
    expect(nearest('hostnme', ['hostname'], 0)).toBeUndefined();
  });

  it('prefers the closest candidate, then the first one', () => {
    expect(nearest('users', ['user', 'users'])).toBe('users');
    expect(nearest('abcd', ['abce', 'abcf'])).toBe('abce');
  });

  it('returns undefined for no candidates', () => {
    expect(nearest('users', [])).toBeUndefined();
  });
});

describe('STANDARD_GROUPS', () => {
  it.each(['root', 'wheel', 'sudo', 'adm', 'users', 'video', 'audio', 'render', 'input', 'plugdev', 'dialout', 'netdev', 'lp',
    'cdrom', 'floppy', 'tape', 'disk', 'kmem', 'tty', 'kvm', 'systemd-journal', 'gpio', 'i2c', 'spi', 'bluetooth', 'lpadmin',
    'staff', 'games', 'man', 'mail', 'utmp', 'uucp', 'operator', 'proxy', 'www-data', 'backup', 'list', 'irc', 'src', 'shadow',
    'voice', 'fax', 'sgx', 'nogroup', 'nobody'])('has %s', (g) => {
    expect(STANDARD_GROUPS.has(g)).toBe(true);
  });

  it.each(['wheeel', 'sudoers', 'docker', 'admin', 'Wheel', ''])('does not have %j', (g) => {
    expect(STANDARD_GROUPS.has(g)).toBe(false);
  });

  it('holds only valid group names', () => {
    for (const g of STANDARD_GROUPS) expect(g).toMatch(/^[a-z_][a-z0-9_-]*$/);
  });

  it('lets nearest() point a typo at the standard group', () => {
    expect(nearest('wheeel', [...STANDARD_GROUPS])).toBe('wheel');
    expect(nearest('dailout', [...STANDARD_GROUPS])).toBe('dialout');
  });
});

describe('isSecretKey: the shared-letter test before the edit distance', () => {
  // The reference is the rule without the shortcut; the shortcut must never change an answer.
  const reference = (key: string): boolean => {
    const k = key.toLowerCase();
    return (
      key !== 'password_authentication' &&
      (SECRET_KEYS.has(key) || /pass|assw|pwd|psk|secret|hash|token/i.test(key) || (k.length >= 4 && 'password'.includes(k)) || (Math.abs(key.length - 8) <= 3 && editDistance(k, 'password') <= 3))
    );
  };
  it('agrees with the plain rule on 20000 keys made by editing "password"', () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const letters = 'pasworddxyzqe_-';
    let secrets = 0;
    for (let t = 0; t < 20000; t++) {
      const chars = 'password'.split('');
      for (let e = rnd(7); e > 0; e--) {
        const i = rnd(chars.length + 1);
        const op = rnd(4);
        if (op === 0) chars.splice(i, 0, letters[rnd(letters.length)]!);
        else if (op === 1 && chars.length > 1) chars.splice(i, 1);
        else if (op === 2) chars[Math.min(i, chars.length - 1)] = letters[rnd(letters.length)]!;
        else if (i + 1 < chars.length) [chars[i], chars[i + 1]] = [chars[i + 1]!, chars[i]!];
      }
      const key = chars.join('');
      const want = reference(key);
      if (want) secrets++;
      expect(isSecretKey(key), key).toBe(want);
    }
    // Both answers must be common, or the test proves little.
    expect(secrets).toBeGreaterThan(2000);
    expect(secrets).toBeLessThan(18000);
  });
});
