import { nodeCrypto } from '../system/lazy-builtins.js';

// SHA-crypt ($5$ and $6$) as specified by Ulrich Drepper ("Unix crypt using
// SHA-256 and SHA-512") and implemented by glibc and libxcrypt crypt(3). It is
// written here rather than taken from npm because the initramfs ships node and
// one bundled file, so native addons are out, and the pure-JS packages checked
// got real inputs wrong (unixcrypt 3.0.4: passwords whose length is a multiple
// of the digest size; sha512crypt-node 1.0.2: non-ASCII passwords and rounds=).
// The tests compare this one with openssl on hundreds of inputs.

export type ShaCryptAlgorithm = 'sha256' | 'sha512';

export interface ShaCryptOptions {
  algorithm: ShaCryptAlgorithm;
  /** Up to 16 characters of [./0-9A-Za-z]; longer salts are cut to 16 as crypt(3) does. Random when absent. */
  salt?: string;
  /**
   * Clamped to 1000..999999999. When given, even as 5000, the output carries
   * `rounds=N$`, because crypt(3) re-emits what the setting said and compares strings.
   */
  rounds?: number;
}

export const ROUNDS_DEFAULT = 5000;
export const ROUNDS_MIN = 1000;
export const ROUNDS_MAX = 999_999_999;
export const SALT_MAX_LENGTH = 16;
/**
 * libxcrypt (the crypt(3) of current Debian, Ubuntu, Fedora, Arch...) refuses
 * longer passphrases outright, and PAM caps replies at 512 bytes too, so a
 * longer password would hash fine here and then never log in.
 */
export const PASSWORD_MAX_BYTES = 511;

const ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SALT_CHARS = /^[./0-9A-Za-z]*$/;

const PREFIX: Record<ShaCryptAlgorithm, string> = { sha256: '$5$', sha512: '$6$' };
const DIGEST_LENGTH: Record<ShaCryptAlgorithm, number> = { sha256: 32, sha512: 64 };

// The spec permutes digest bytes before encoding; these are its triples, each
// encoded as 4 characters (the last, short group as fewer).
const ORDER_SHA256: readonly (readonly [number, number, number])[] = [
  [0, 10, 20], [21, 1, 11], [12, 22, 2], [3, 13, 23], [24, 4, 14],
  [15, 25, 5], [6, 16, 26], [27, 7, 17], [18, 28, 8], [9, 19, 29],
];
const ORDER_SHA512: readonly (readonly [number, number, number])[] = [
  [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4],
  [47, 5, 26], [6, 27, 48], [28, 49, 7], [50, 8, 29], [9, 30, 51],
  [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13], [56, 14, 35],
  [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19],
  [62, 20, 41],
];

/**
 * One digest of one buffer. crypto.hash (node 20.12+) skips building a Hash
 * object and is about a quarter faster over 5000 rounds; older node 20 lacks it
 * (or its 'buffer' output), hence the probe.
 */
type Digest = (algorithm: ShaCryptAlgorithm, data: Buffer) => Buffer;
let digestImpl: Digest | undefined;
// Chosen on first use, not at load: loading node:crypto slows every flint start.
function digestOnce(algorithm: ShaCryptAlgorithm, data: Buffer): Buffer {
  digestImpl ??= pickDigest();
  return digestImpl(algorithm, data);
}

function pickDigest(): Digest {
  const crypto = nodeCrypto();
  const fallback = (algorithm: ShaCryptAlgorithm, data: Buffer): Buffer => crypto.createHash(algorithm).update(data).digest();
  const oneShot = (crypto as Partial<typeof crypto>).hash;
  if (typeof oneShot !== 'function') return fallback;
  try {
    const probe: unknown = oneShot('sha256', Buffer.alloc(0), 'buffer');
    if (!Buffer.isBuffer(probe) || !probe.equals(fallback('sha256', Buffer.alloc(0)))) return fallback;
  } catch {
    return fallback;
  }
  return (algorithm, data) => oneShot(algorithm, data, 'buffer');
}

/**
 * Clamps rounds the way crypt(3) does, so callers (and tests) can learn the
 * effective count without paying for the hash.
 */
export function normaliseRounds(rounds: number): number {
  if (!Number.isInteger(rounds)) throw new RangeError('rounds must be an integer');
  return Math.min(ROUNDS_MAX, Math.max(ROUNDS_MIN, rounds));
}

/** The `$5$...$` / `$6$...$` setting part of a crypt string, without the hash. */
export function shaCryptSetting(algorithm: ShaCryptAlgorithm, salt: string, rounds?: number): string {
  const s = checkSalt(salt);
  const r = rounds === undefined ? '' : `rounds=${normaliseRounds(rounds)}$`;
  return `${PREFIX[algorithm]}${r}${s}`;
}

export function shaCrypt(password: string | Buffer, opts: ShaCryptOptions): string {
  const { algorithm } = opts;
  if (algorithm !== 'sha256' && algorithm !== 'sha512') throw new RangeError('algorithm must be sha256 or sha512');
  const salt = checkSalt(opts.salt ?? randomSalt());
  const rounds = opts.rounds === undefined ? ROUNDS_DEFAULT : normaliseRounds(opts.rounds);
  const key = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  // crypt(3) takes a C string, so a NUL would cut the password short at login
  // and the stored hash would never match what PAM computes.
  if (key.includes(0)) throw new RangeError('password must not contain a NUL character');
  const digest = shaCryptDigest(algorithm, key, Buffer.from(salt, 'latin1'), rounds);
  return `${shaCryptSetting(algorithm, salt, opts.rounds)}$${encode(algorithm, digest)}`;
}

/**
 * A salt for crypt(3). The alphabet has 64 characters, so the low 6 bits of a
 * random byte pick one without modulo bias.
 */
export function randomSalt(length = SALT_MAX_LENGTH): string {
  if (!Number.isInteger(length) || length < 0 || length > SALT_MAX_LENGTH) {
    throw new RangeError(`salt length must be an integer from 0 to ${SALT_MAX_LENGTH}`);
  }
  let out = '';
  for (const b of nodeCrypto().randomBytes(length)) out += ALPHABET[b & 0x3f];
  return out;
}

/** The form flint writes to /etc/shadow: SHA-512 crypt with a random 16-character salt. */
export function hashPassword(plain: string, rounds?: number): string {
  if (Buffer.byteLength(plain, 'utf8') > PASSWORD_MAX_BYTES) {
    throw new RangeError(`password must be at most ${PASSWORD_MAX_BYTES} bytes in UTF-8; longer ones cannot log in on libxcrypt systems`);
  }
  return shaCrypt(plain, rounds === undefined ? { algorithm: 'sha512' } : { algorithm: 'sha512', rounds });
}

/**
 * Checks a password against a $5$ or $6$ hash as crypt(3) does: the setting is
 * re-emitted in canonical form and the whole string compared, so a hash whose
 * rounds or salt crypt(3) would rewrite (rounds=10, a 20-character salt) never
 * matches, exactly as it would not at login. Such a setting is refused before
 * hashing, so a non-canonical huge rounds costs nothing; a canonical
 * rounds=999999999 costs what it costs crypt(3), tens of minutes.
 */
export function verifyPassword(plain: string, hash: string): boolean {
  const m = /^\$([56])\$(?:rounds=([0-9]{1,12})\$)?([^$]*)\$[./0-9A-Za-z]*$/.exec(hash);
  if (m === null) return false;
  const algorithm: ShaCryptAlgorithm = m[1] === '5' ? 'sha256' : 'sha512';
  const rounds = m[2] === undefined ? undefined : Number(m[2]);
  const salt = m[3] ?? '';
  if (salt.length > SALT_MAX_LENGTH || !SALT_CHARS.test(salt)) return false;
  const setting = shaCryptSetting(algorithm, salt, rounds);
  if (!hash.startsWith(`${setting}$`)) return false;
  const key = Buffer.from(plain, 'utf8');
  if (key.includes(0)) return false;
  const computed = Buffer.from(shaCrypt(key, rounds === undefined ? { algorithm, salt } : { algorithm, salt, rounds }), 'latin1');
  const stored = Buffer.from(hash, 'latin1');
  // Lengths are public (they follow from the scheme); only the contents need a constant-time compare.
  return computed.length === stored.length && nodeCrypto().timingSafeEqual(computed, stored);
}

function checkSalt(salt: string): string {
  if (!SALT_CHARS.test(salt)) throw new RangeError('salt must use only the characters ./0-9A-Za-z');
  return salt.slice(0, SALT_MAX_LENGTH);
}

/** Steps 1-21 of the spec: the raw digest before the custom base64. */
function shaCryptDigest(algorithm: ShaCryptAlgorithm, p: Buffer, s: Buffer, rounds: number): Buffer {
  const n = DIGEST_LENGTH[algorithm];
  const pl = p.length;

  const b = nodeCrypto().createHash(algorithm).update(p).update(s).update(p).digest();

  const ctxA = nodeCrypto().createHash(algorithm).update(p).update(s);
  for (let left = pl; left > 0; left -= n) ctxA.update(left >= n ? b : b.subarray(0, left));
  for (let bits = pl; bits > 0; bits >>>= 1) ctxA.update(bits & 1 ? b : p);
  let c: Buffer = ctxA.digest();

  const ctxDp = nodeCrypto().createHash(algorithm);
  for (let i = 0; i < pl; i++) ctxDp.update(p);
  const pSeq = repeatTo(ctxDp.digest(), pl);

  const ctxDs = nodeCrypto().createHash(algorithm);
  // A digest always has a first byte; the fallback only satisfies the index type.
  const dsCount = 16 + (c[0] ?? 0);
  for (let i = 0; i < dsCount; i++) ctxDs.update(s);
  const sSeq = repeatTo(ctxDs.digest(), s.length);

  // Each round hashes at most P + S + P + C; laying them out in one reused
  // buffer costs a small memcpy and allows the one-shot digest below.
  const buf = Buffer.allocUnsafe(2 * pl + sSeq.length + n);
  for (let i = 0; i < rounds; i++) {
    let len = 0;
    if (i & 1) len += pSeq.copy(buf, len);
    else len += c.copy(buf, len);
    if (i % 3 !== 0) len += sSeq.copy(buf, len);
    if (i % 7 !== 0) len += pSeq.copy(buf, len);
    if (i & 1) len += c.copy(buf, len);
    else len += pSeq.copy(buf, len);
    c = digestOnce(algorithm, buf.subarray(0, len));
  }
  return c;
}

/** The spec's P and S sequences: a digest repeated, then cut, to a given length. */
function repeatTo(digest: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let off = 0; off < length; off += digest.length) digest.copy(out, off, 0, Math.min(digest.length, length - off));
  return out;
}

function encode(algorithm: ShaCryptAlgorithm, d: Buffer): string {
  const byte = (i: number): number => d[i] ?? 0;
  let out = '';
  const put = (w: number, chars: number): void => {
    for (let k = 0; k < chars; k++, w >>>= 6) out += ALPHABET[w & 0x3f];
  };
  const order = algorithm === 'sha256' ? ORDER_SHA256 : ORDER_SHA512;
  for (const [x, y, z] of order) put((byte(x) << 16) | (byte(y) << 8) | byte(z), 4);
  if (algorithm === 'sha256') put((byte(31) << 8) | byte(30), 3);
  else put(byte(63), 2);
  return out;
}
