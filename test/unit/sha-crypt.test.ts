import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  PASSWORD_MAX_BYTES,
  ROUNDS_MAX,
  hashPassword,
  normaliseRounds,
  randomSalt,
  shaCrypt,
  shaCryptSetting,
  verifyPassword,
  type ShaCryptAlgorithm,
} from '../../src/crypt/sha-crypt.js';

const ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function findOpenssl(): string | null {
  for (const bin of ['openssl', '/usr/bin/openssl']) {
    try {
      execFileSync(bin, ['version'], { stdio: ['ignore', 'pipe', 'ignore'] });
      return bin;
    } catch {
      // try the next candidate
    }
  }
  return null;
}
const OPENSSL = findOpenssl();
if (OPENSSL === null) console.warn('sha-crypt: openssl not found, so the comparison with openssl passwd is skipped');

// The test vectors of Drepper's SHA-crypt spec, each also checked against
// `openssl passwd` when this file was written. [setting, password, expected]
const SPEC_VECTORS: readonly (readonly [ShaCryptAlgorithm, string, string, string])[] = [
  ['sha256', 'saltstring', 'Hello world!', '$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5'],
  ['sha256', 'rounds=10000$saltstringsaltstring', 'Hello world!', '$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA'],
  ['sha256', 'rounds=5000$toolongsaltstring', 'This is just a test', '$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5'],
  ['sha256', 'rounds=1400$anotherlongsaltstring', 'a very much longer text to encrypt.  This one even stretches over morethan one line.', '$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1'],
  ['sha256', 'rounds=77777$short', 'we have a short salt string but not a short password', '$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/'],
  ['sha256', 'rounds=123456$asaltof16chars..', 'a short string', '$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD'],
  ['sha256', 'rounds=10$roundstoolow', 'the minimum number is still observed', '$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC'],
  ['sha512', 'saltstring', 'Hello world!', '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1'],
  ['sha512', 'rounds=10000$saltstringsaltstring', 'Hello world!', '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.'],
  ['sha512', 'rounds=5000$toolongsaltstring', 'This is just a test', '$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0'],
  ['sha512', 'rounds=1400$anotherlongsaltstring', 'a very much longer text to encrypt.  This one even stretches over morethan one line.', '$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1'],
  ['sha512', 'rounds=77777$short', 'we have a short salt string but not a short password', '$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0'],
  ['sha512', 'rounds=123456$asaltof16chars..', 'a short string', '$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1'],
  ['sha512', 'rounds=10$roundstoolow', 'the minimum number is still observed', '$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.'],
];

// Inputs openssl passwd cannot take (it refuses empty passwords and salts, reads
// one line per password and cuts passwords at 256 bytes), hashed by libxcrypt's
// crypt(3) 4.4.33. [algorithm, salt, rounds, password, expected]
const CRYPT3_VECTORS: readonly (readonly [ShaCryptAlgorithm, string, number | undefined, string, string])[] = [
  ['sha512', 'abc', undefined, '', '$6$abc$mJP3a6FyA8uCnzRtlnNypPwjnvpi5TP9qOrInzrfDmwxUQG38PkpCPdqfTb8JQfAngapMxeim4AZ..hSdRRzD.'],
  ['sha256', 'abc', undefined, '', '$5$abc$bBHLwRRW2Li0XKaX13kz/g2fkDil4Jx46aNvd.48MS8'],
  ['sha512', '', 1000, '', '$6$rounds=1000$$NPMepfN3/Cv.LPoa7suAzCVH3BhfhhB2wHuwY51WjZgqg.e601K6RWCJ7AHYXHZcp4ilHQ0xlpG1yRxSYX3TP/'],
  ['sha512', '', undefined, 'x', '$6$$KvRrc0bxRLyTUhO8OJOmRczh7oCol5BACiR8rmdfVzvuGgm8JmLDumsL/ah.jFtT.DswxoP9Nv3ByfU4j5hm/0'],
  ['sha256', '', undefined, 'x', '$5$$0Uor7kq6CTPY0DtjOiw.I2DuJSUfiZxCqkrafMVjNc8'],
  ['sha512', '', 5000, 'x', '$6$rounds=5000$$KvRrc0bxRLyTUhO8OJOmRczh7oCol5BACiR8rmdfVzvuGgm8JmLDumsL/ah.jFtT.DswxoP9Nv3ByfU4j5hm/0'],
  ['sha512', 'nl', undefined, 'a\nb', '$6$nl$6/Q68B/CC8ydojCVUWC.yPygN/ESg5Ssp52dD/eVS6qaowsvbdnr7nwlWvYh4NPZqGNQlDV5CXcidDn/kgfm80'],
  ['sha256', 'nl', undefined, 'a\nb', '$5$nl$ybudXDDS.t1Qj2HFueDYvMOZ8VLqcWqi4aIzdVNZBN5'],
  ['sha512', 'nl', undefined, '\n', '$6$nl$l6iXvD4CLa/UL7eeEmRCgQoWVU5eX.r8Y1XFvIU1mTHB1aSFT3AH4M/7WmlVe2U3Oydw/MbWnFkjvZVJrJcLt0'],
  ['sha256', 'crlf', 1000, 'line1\r\nline2\n', '$5$rounds=1000$crlf$hpMyXCuJPiXRm60faEgCf3zzlQhQNTtcAnnGR6JnTz/'],
  ['sha512', 'utf8nl', undefined, 'été\n🔑', '$6$utf8nl$Dvxk.PRsrqlu3UUB41QlzP6PQo1OH5xUShRZFH2x23L5AH7HZufFXhfGHxBgsosAkUK2bxZVOke1GYVORQFsj/'],
  ['sha512', 'longpassword', undefined, 'p'.repeat(256), '$6$longpassword$WVP4/gKYugcJCCqt/iSZusmGGcbiDHEGhrmux7JSVoo0rEaZKGCQ.Bu.pgZEplN8a3BTcxro1CZYm9ipQ3aU11'],
  ['sha512', 'longpassword', undefined, 'p'.repeat(300), '$6$longpassword$gU6CI30pzrtQrveDH9TsyYJRg.gZYaCVGTbF04wB6tsopBxOLTm6Zs4TdxkVzLar6P0wJSIhUzJeKhGdRFHEv1'],
  ['sha512', 'longpassword', undefined, 'p'.repeat(511), '$6$longpassword$iCEWtGYfMnmo1fDJVT7Gi1wgIDjCPhD4tgHem8rBLnDC6QWwc5sQPtFkmX4ZZtWCj1vcwSnTdK4m0xhllTwgE1'],
  ['sha256', 'longpassword', undefined, 'p'.repeat(511), '$5$longpassword$0fVdB1qYk1mHsP8/gs2Rv0GBVfWTciOOEUp9SC6hcO7'],
];

describe('shaCrypt: spec test vectors', () => {
  it.each(SPEC_VECTORS)('%s %s', (algorithm, setting, password, expected) => {
    const m = /^(?:rounds=(\d+)\$)?(.*)$/.exec(setting);
    const rounds = m?.[1] === undefined ? undefined : Number(m[1]);
    const salt = m?.[2] ?? '';
    expect(shaCrypt(password, rounds === undefined ? { algorithm, salt } : { algorithm, salt, rounds })).toBe(expected);
  });
});

describe('shaCrypt: crypt(3) vectors for inputs openssl cannot take', () => {
  it.each(CRYPT3_VECTORS)('%s salt "%s" rounds %s', (algorithm, salt, rounds, password, expected) => {
    expect(shaCrypt(password, rounds === undefined ? { algorithm, salt } : { algorithm, salt, rounds })).toBe(expected);
    expect(verifyPassword(password, expected)).toBe(true);
  });
});

// --- generated inputs, compared with openssl ---------------------------------

/** Small seeded PRNG so failures reproduce. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(0x5eed);
const pick = <T>(xs: readonly T[]): T => {
  const x = xs[Math.floor(rand() * xs.length)];
  if (x === undefined) throw new Error('pick from empty list');
  return x;
};

// openssl passwd -stdin hashes each line, drops the newline (keeps \r) and cuts
// lines at 256 bytes, so generated passwords are 1..255 bytes without \n or NUL.
const OPENSSL_MAX_BYTES = 255;
const PIECES: readonly string[] = [
  ...'abcxyzABCXYZ0189 !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~\t\r',
  'é', 'ü', 'ß', 'ø', 'Ω', 'Ж', 'ñ', '\u00a0',
  '漢', '字', 'か', 'カ', '한', '中文',
  '😀', '🔑', '👨‍👩‍👧', '🇩🇪', 'e\u0301', '\u200d', '\ufeff', 'مرحبا', '\u{10ffff}',
];

function randomPassword(maxBytes: number): string {
  let out = '';
  for (;;) {
    const next = out + pick(PIECES);
    if (Buffer.byteLength(next, 'utf8') > maxBytes) return out === '' ? 'a' : out;
    out = next;
  }
}

const FIXED_PASSWORDS: readonly (string | Buffer)[] = [
  'a', 'password', 'correct horse battery staple', 'pa$$word:with:colons', 'back\\slash',
  'tab\tinside', 'carriage\rreturn', ' leading and trailing spaces ',
  'ünïcödé', '漢字かなカナ한국어', '😀🔑👨‍👩‍👧🇩🇪', 'e\u0301 combining', '\ufeffBOM', 'مرحبا بالعالم',
  '🔑'.repeat(63), // 252 bytes of 4-byte characters
  '漢'.repeat(85), // 255 bytes of 3-byte characters
  // Lengths around the digest sizes exercise the block loops of steps 9-11.
  ...[1, 2, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 200, 231, 254, 255].map((n) => 'x'.repeat(n)),
  // Not UTF-8: crypt(3) hashes bytes, so a Buffer password must pass through untouched.
  Buffer.from([0xff, 0xfe, 0x80, 0x81, 0xc0, 0x20, 0x7f]),
  Buffer.from(Array.from({ length: 254 }, (_, i) => (i % 254) + 1).filter((b) => b !== 0x0a)),
];

const GENERATED_PASSWORDS: readonly string[] = Array.from({ length: 120 }, (_, i) => {
  const budget = i % 3 === 0 ? 16 : i % 3 === 1 ? 64 : OPENSSL_MAX_BYTES;
  return randomPassword(1 + Math.floor(rand() * budget));
});

const PASSWORD_POOL: readonly (string | Buffer)[] = [...FIXED_PASSWORDS, ...GENERATED_PASSWORDS];
let poolCursor = 0;
function nextPasswords(n: number): (string | Buffer)[] {
  return Array.from({ length: n }, () => {
    const p = PASSWORD_POOL[poolCursor++ % PASSWORD_POOL.length];
    if (p === undefined) throw new Error('empty pool');
    return p;
  });
}

let saltCursor = 0;
/** Walks the alphabet so that across the salts every character turns up many times. */
function nextSalt(length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHABET[(saltCursor++ * 7) % ALPHABET.length];
  return s;
}

interface Group {
  algorithm: ShaCryptAlgorithm;
  salt: string;
  rounds: number | undefined;
  passwords: (string | Buffer)[];
}

const GROUPS: Group[] = [];
for (const algorithm of ['sha256', 'sha512'] as const) {
  // Every salt length openssl accepts, plus one that gets truncated.
  for (const len of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20]) {
    GROUPS.push({ algorithm, salt: nextSalt(len), rounds: 1000, passwords: nextPasswords(8) });
  }
  for (const len of [2, 8, 16]) GROUPS.push({ algorithm, salt: nextSalt(len), rounds: undefined, passwords: nextPasswords(8) });
  for (const rounds of [10, 1001, 5000, 10000]) GROUPS.push({ algorithm, salt: nextSalt(12), rounds, passwords: nextPasswords(4) });
}
const CASE_COUNT = GROUPS.reduce((n, g) => n + g.passwords.length, 0);

function opensslHashes(bin: string, g: Group): string[] {
  const saltArg = g.rounds === undefined ? g.salt : `rounds=${g.rounds}$${g.salt}`;
  const input = Buffer.concat(g.passwords.flatMap((p) => [typeof p === 'string' ? Buffer.from(p, 'utf8') : p, Buffer.from('\n')]));
  const flag = g.algorithm === 'sha256' ? '-5' : '-6';
  const out = execFileSync(bin, ['passwd', flag, '-salt', saltArg, '-stdin'], { input, stdio: ['pipe', 'pipe', 'pipe'] });
  return out.toString('latin1').split('\n').filter((l) => l !== '');
}

const describeOpenssl = describe.skipIf(OPENSSL === null);
describeOpenssl(`shaCrypt matches openssl passwd on ${CASE_COUNT} generated inputs${OPENSSL === null ? ' (SKIPPED: openssl not found)' : ''}`, () => {
  it('covers every salt character, salt lengths 1..16 and 20, and the required rounds', () => {
    const used = new Set(GROUPS.flatMap((g) => [...g.salt]));
    expect([...ALPHABET].filter((c) => !used.has(c))).toEqual([]);
    expect(CASE_COUNT).toBeGreaterThanOrEqual(300);
    for (const p of PASSWORD_POOL) {
      const bytes = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
      expect(bytes.length).toBeGreaterThan(0);
      expect(bytes.length).toBeLessThanOrEqual(OPENSSL_MAX_BYTES);
      expect(bytes.includes(0x0a) || bytes.includes(0)).toBe(false);
    }
  });

  it.each(GROUPS.map((g) => [g.algorithm, g.salt.length, g.rounds ?? 'default', g] as const))(
    '%s, salt of %d, rounds %s',
    (_alg, _len, _rounds, g) => {
      const expected = opensslHashes(OPENSSL ?? 'openssl', g);
      expect(expected).toHaveLength(g.passwords.length);
      g.passwords.forEach((p, i) => {
        const got = shaCrypt(p, g.rounds === undefined ? { algorithm: g.algorithm, salt: g.salt } : { algorithm: g.algorithm, salt: g.salt, rounds: g.rounds });
        expect(got, `password #${i} of the group`).toBe(expected[i]);
      });
      // openssl's output verifies too (one per group keeps the run short).
      const first = g.passwords[0];
      if (typeof first === 'string' && expected[0] !== undefined) expect(verifyPassword(first, expected[0])).toBe(true);
    },
  );
});

describe('rounds', () => {
  it('clamps like crypt(3)', () => {
    expect(normaliseRounds(10)).toBe(1000);
    expect(normaliseRounds(0)).toBe(1000);
    expect(normaliseRounds(-5)).toBe(1000);
    expect(normaliseRounds(999)).toBe(1000);
    expect(normaliseRounds(1000)).toBe(1000);
    expect(normaliseRounds(1001)).toBe(1001);
    expect(normaliseRounds(5000)).toBe(5000);
    expect(normaliseRounds(999_999_999)).toBe(999_999_999);
    expect(normaliseRounds(999_999_999_999)).toBe(ROUNDS_MAX);
  });

  it('rejects a count that is not an integer', () => {
    for (const r of [1.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => normaliseRounds(r)).toThrow(RangeError);
    expect(() => shaCrypt('x', { algorithm: 'sha512', salt: 'ab', rounds: 1000.5 })).toThrow(RangeError);
  });

  it('prints the clamped count in the setting, without hashing 999999999 rounds', () => {
    // openssl computes all the rounds before printing anything, so the huge case is checked on the string alone.
    expect(shaCryptSetting('sha512', 'salt', 999_999_999_999)).toBe('$6$rounds=999999999$salt');
    expect(shaCryptSetting('sha256', 'salt', 10)).toBe('$5$rounds=1000$salt');
    expect(shaCryptSetting('sha512', 'salt', 5000)).toBe('$6$rounds=5000$salt');
    expect(shaCryptSetting('sha512', 'salt')).toBe('$6$salt');
    expect(shaCryptSetting('sha512', 'abcdefghijklmnopqrst')).toBe('$6$abcdefghijklmnop');
  });

  it('prints rounds=5000 only when it was asked for, as crypt(3) and openssl do', () => {
    const implicit = shaCrypt('Hello world!', { algorithm: 'sha256', salt: 'saltstring' });
    const explicit = shaCrypt('Hello world!', { algorithm: 'sha256', salt: 'saltstring', rounds: 5000 });
    expect(implicit).toBe('$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5');
    expect(explicit).toBe('$5$rounds=5000$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5');
  });
});

describe('shaCrypt input handling', () => {
  it('hashes a string as its UTF-8 bytes', () => {
    const pw = '漢字😀é';
    expect(shaCrypt(pw, { algorithm: 'sha512', salt: 'utf8' })).toBe(shaCrypt(Buffer.from(pw, 'utf8'), { algorithm: 'sha512', salt: 'utf8' }));
  });

  it('cuts the salt to 16 characters', () => {
    const long = shaCrypt('x', { algorithm: 'sha512', salt: 'abcdefghijklmnopqrst' });
    expect(long).toBe(shaCrypt('x', { algorithm: 'sha512', salt: 'abcdefghijklmnop' }));
    expect(long).toBe('$6$abcdefghijklmnop$4MjOne1jVRKP4IuHRPFedC4vlQHNjvcBfQJVlfB8ciQ5YUzW2g81Pyw4sptw4femJ071/eApI0WDsBAOOCmTl0');
  });

  it('refuses salt characters outside ./0-9A-Za-z, which would corrupt /etc/shadow or the setting', () => {
    for (const salt of ['a$b', 'a:b', 'a\nb', 'rounds=5000$ab', 'ab ', 'é']) {
      expect(() => shaCrypt('x', { algorithm: 'sha512', salt })).toThrow(RangeError);
    }
  });

  it('refuses a NUL in the password, which crypt(3) would never see', () => {
    expect(() => shaCrypt('a\0b', { algorithm: 'sha512', salt: 'ab' })).toThrow(RangeError);
    expect(() => shaCrypt(Buffer.from([0x61, 0]), { algorithm: 'sha256', salt: 'ab' })).toThrow(RangeError);
  });

  it('uses a random 16-character salt when none is given', () => {
    const h = shaCrypt('x', { algorithm: 'sha256' });
    expect(h).toMatch(/^\$5\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{43}$/);
  });
});

describe('randomSalt', () => {
  it('defaults to 16 characters of the crypt alphabet', () => {
    expect(randomSalt()).toMatch(/^[./0-9A-Za-z]{16}$/);
    for (let n = 0; n <= 16; n++) expect(randomSalt(n)).toMatch(new RegExp(`^[./0-9A-Za-z]{${n}}$`));
  });

  it('refuses lengths crypt(3) would not use', () => {
    for (const n of [-1, 17, 1.5]) expect(() => randomSalt(n)).toThrow(RangeError);
  });

  it('spreads over the whole alphabet evenly', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 1280; i++) for (const c of randomSalt(16)) counts.set(c, (counts.get(c) ?? 0) + 1);
    // 20480 draws: 320 expected per character, standard deviation about 18.
    expect(counts.size).toBe(64);
    for (const n of counts.values()) {
      expect(n).toBeGreaterThan(200);
      expect(n).toBeLessThan(440);
    }
  });
});

describe('hashPassword', () => {
  it('makes $6$ with a fresh 16-character salt each time', () => {
    const a = hashPassword('hunter2');
    const b = hashPassword('hunter2');
    expect(a).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    expect(a).not.toBe(b);
    expect(verifyPassword('hunter2', a)).toBe(true);
    expect(verifyPassword('hunter2', b)).toBe(true);
  });

  it('carries explicit rounds', () => {
    const h = hashPassword('hunter2', 1000);
    expect(h).toMatch(/^\$6\$rounds=1000\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    expect(verifyPassword('hunter2', h)).toBe(true);
  });

  it('refuses passwords libxcrypt cannot check', () => {
    expect(() => hashPassword('p'.repeat(PASSWORD_MAX_BYTES))).not.toThrow();
    expect(() => hashPassword('p'.repeat(PASSWORD_MAX_BYTES + 1))).toThrow(RangeError);
    expect(() => hashPassword('é'.repeat(256))).toThrow(RangeError); // 512 bytes
  });
});

describe('verifyPassword', () => {
  const H6 = '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1';
  const H5 = '$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA';

  it('accepts the right password', () => {
    expect(verifyPassword('Hello world!', H6)).toBe(true);
    expect(verifyPassword('Hello world!', H5)).toBe(true);
    const utf8 = shaCrypt('пароль 🔑', { algorithm: 'sha256', salt: 'u' });
    expect(verifyPassword('пароль 🔑', utf8)).toBe(true);
  });

  it('refuses a wrong password', () => {
    for (const pw of ['hello world!', 'Hello world', 'Hello world!!', '', 'Hello world!\n']) {
      expect(verifyPassword(pw, H6)).toBe(false);
      expect(verifyPassword(pw, H5)).toBe(false);
    }
  });

  it('refuses a tampered or malformed hash', () => {
    const flipped = H6.slice(0, -1) + (H6.endsWith('1') ? '2' : '1');
    const bad = [
      flipped,
      H6.slice(0, -1),
      `${H6}x`,
      H6.replace('$6$', '$5$'),
      H6.replace('$6$', '$1$'),
      H6.replace('saltstring', 'saltstrinG'),
      H6.replace('$svn8', '$svn8$'),
      '', '$6$', '$6$saltstring', '$6$saltstring$', '!', '*', `!${H6}`,
      '$y$j9T$F5Jx5fExrKuPp53xLKQ..1$PmNgGTLMFjJn.URBv11CpTEm5RwlKtPjRtztKe6.b33',
    ];
    for (const h of bad) expect(verifyPassword('Hello world!', h), h).toBe(false);
  });

  it('refuses settings crypt(3) would rewrite, as the stored string then never matches at login', () => {
    const body = H6.slice('$6$saltstring'.length);
    // Each of these re-emits as rounds=1000, rounds=5000 or a 16-character salt.
    expect(verifyPassword('Hello world!', `$6$rounds=10$saltstring${body}`)).toBe(false);
    expect(verifyPassword('Hello world!', `$6$rounds=05000$saltstring${body}`)).toBe(false);
    expect(verifyPassword('Hello world!', `$6$saltstringsaltstringxx${body}`)).toBe(false);
    // Clamped to 999999999; refused from the setting alone, so this returns at once.
    expect(verifyPassword('Hello world!', `$6$rounds=1000000000$saltstring${body}`)).toBe(false);
    // An explicit rounds=5000 is a different string from the implicit default.
    expect(verifyPassword('Hello world!', `$6$rounds=5000$saltstring${body}`)).toBe(true);
  });

  it('refuses a password with NUL instead of throwing', () => {
    expect(verifyPassword('Hello world!\0', H6)).toBe(false);
  });
});
