import type { Verdict } from './problem.js';

// Every message here describes the value without quoting it: a password hash is
// a secret (it can be cracked offline), and a "hash" that is really a plain-text
// password even more so. Messages may name the scheme, never the characters.

const B64 = '[./0-9A-Za-z]';
const MAKE_HASH = 'generate one with `mkpasswd -m sha-512` or `openssl passwd -6`';

/**
 * Shapes that crypt(3) (glibc or libxcrypt) produces. A value that differs
 * from them never verifies, so the account would be unusable without any
 * error: crypt re-emits the setting in canonical form and compares strings.
 */
const SHA_CRYPT = (id: '5' | '6', hashLength: number): RegExp =>
  new RegExp(`^\\$${id}\\$(?:rounds=([1-9][0-9]*)\\$)?(${B64}{1,16})\\$(${B64}{${hashLength}})$`);
const SHA512 = SHA_CRYPT('6', 86);
const SHA256 = SHA_CRYPT('5', 43);
const YESCRYPT = new RegExp(`^\\$g?y\\$${B64}+\\$${B64}+\\$${B64}{43}$`);
const BCRYPT = new RegExp(`^\\$2[aby]\\$([0-9]{2})\\$${B64}{53}$`);
const DES = new RegExp(`^${B64}{13}$`);

// sha-crypt clamps rounds to this range, so stored rounds outside it re-emit differently.
const MIN_ROUNDS = 1000;
const MAX_ROUNDS = 999_999_999;

const LEGACY = 'it is a legacy scheme that current systems treat as weak or no longer verify';
const NOT_EVERYWHERE = 'not every target\'s crypt(3) can verify it (glibc without libxcrypt cannot)';

/** Schemes flint refuses, by their id, so messages can name them without quoting the value. */
const REFUSED_SCHEMES: ReadonlyMap<string, { name: string; reason: string }> = new Map([
  ['2', { name: 'original bcrypt', reason: LEGACY }],
  ['2x', { name: 'the bcrypt variant for hashes made with a long-fixed bug', reason: LEGACY }],
  ['3', { name: 'NT hash', reason: LEGACY }],
  ['md5', { name: 'Sun MD5', reason: LEGACY }],
  ['sha1', { name: 'SHA-1 crypt', reason: LEGACY }],
  ['7', { name: 'scrypt', reason: NOT_EVERYWHERE }],
  ['argon2', { name: 'Argon2', reason: 'Linux\'s crypt(3) (glibc and libxcrypt) cannot verify it' }],
]);

/** A locked account: `!`/`*` alone, `!!` (shadow-utils' "never set"), or `!` before a hash. */
export function isLockedHash(value: string): boolean {
  return value.startsWith('!') || value.startsWith('*');
}

/**
 * Checks a crypt(3) hash for /etc/shadow: one of the schemes current systems
 * verify and consider strong, or a lock mark.
 */
export function checkPasswordHash(value: string): Verdict | null {
  if (value === '') {
    return { message: 'the password hash is empty, which would let anyone log in without a password where empty passwords are allowed', hint: 'write "!" to lock the account, or set a hash (' + MAKE_HASH + ')' };
  }
  if (value !== value.trim()) {
    return { message: 'the password hash has spaces or line breaks around it, so it would never match', hint: 'remove the whitespace around the hash' };
  }
  if (value === '!' || value === '!!' || value === '*') return null;
  if (value.startsWith('!')) {
    const rest = value.slice(value.startsWith('!!') ? 2 : 1);
    const problem = checkHash(rest);
    return problem && { ...problem, message: `after the "!" that locks the account, ${problem.message}` };
  }
  return checkHash(value);
}

function checkHash(value: string): Verdict | null {
  if (value.startsWith('$')) return checkModularHash(value);
  if (value.startsWith('_')) {
    return weak('BSDi extended DES crypt', 'it is not supported by Linux crypt(3) and is weak');
  }
  if (DES.test(value)) {
    return {
      message: 'the value is either a traditional DES crypt hash, which is weak (only the first 8 characters of a password count, and a GPU tests billions of guesses per second), or a plain-text password',
      hint: MAKE_HASH + '; or put a plain-text password in `password:` instead, and flint hashes it',
    };
  }
  return {
    message: 'the value does not look like a crypt(3) hash; it may be a plain-text password, which must not go in `password_hash`',
    hint: 'put a plain-text password in `password:` instead, and flint hashes it; or ' + MAKE_HASH,
  };
}

function checkModularHash(value: string): Verdict | null {
  const id = /^\$([^$]*)\$/.exec(value)?.[1];
  if (id === '6') return checkShaCrypt(value, SHA512, 'SHA-512 crypt', 86);
  if (id === '5') return checkShaCrypt(value, SHA256, 'SHA-256 crypt', 43);
  if (id === 'y' || id === 'gy') return YESCRYPT.test(value) ? null : malformed(id === 'y' ? 'yescrypt' : 'gost-yescrypt', 'expected the scheme id, parameters, a salt and a 43-character hash, separated by "$" and using only ./0-9A-Za-z');
  if (id === '2a' || id === '2b' || id === '2y') return checkBcrypt(value);
  if (id === '1') return weak('MD5-crypt', 'it is weak: a single GPU tests tens of millions of guesses per second');
  const refused = id === undefined ? undefined : REFUSED_SCHEMES.get(id.startsWith('argon2') ? 'argon2' : id);
  if (refused !== undefined) {
    return { message: `the hash uses ${refused.name}, which flint does not accept: ${refused.reason}`, hint: MAKE_HASH };
  }
  return { message: 'the hash names a crypt(3) scheme that flint does not know; supported are SHA-512 ($6$), SHA-256 ($5$), yescrypt ($y$), gost-yescrypt ($gy$) and bcrypt ($2b$, $2y$, $2a$)', hint: MAKE_HASH };
}

function checkShaCrypt(value: string, shape: RegExp, name: string, hashLength: number): Verdict | null {
  const m = shape.exec(value);
  if (m === null) {
    return malformed(name, `expected the scheme id, optionally "rounds=N", a salt of 1 to 16 characters and a hash of ${hashLength} characters, separated by "$" and using only ./0-9A-Za-z`);
  }
  const rounds = m[1] === undefined ? undefined : Number(m[1]);
  if (rounds !== undefined && (rounds < MIN_ROUNDS || rounds > MAX_ROUNDS)) {
    return malformed(name, `its rounds must be between ${MIN_ROUNDS} and ${MAX_ROUNDS}; other values are clamped when the password is checked, so it never matches`);
  }
  return null;
}

function checkBcrypt(value: string): Verdict | null {
  const m = BCRYPT.exec(value);
  if (m === null) {
    return malformed('bcrypt', 'expected the scheme id, a two-digit cost and 53 characters of salt and hash, separated by "$" and using only ./0-9A-Za-z');
  }
  const cost = Number(m[1]);
  if (cost < 4 || cost > 31) return malformed('bcrypt', 'its cost must be between 04 and 31');
  return null;
}

function malformed(name: string, why: string): Verdict {
  return { message: `the ${name} hash is malformed: ${why}`, hint: 'copy the whole hash again, or ' + MAKE_HASH };
}

function weak(name: string, why: string): Verdict {
  return { message: `the hash uses ${name}; ${why}`, hint: MAKE_HASH };
}
