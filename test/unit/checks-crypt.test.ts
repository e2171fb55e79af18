import { describe, expect, it } from 'vitest';
import { checkPasswordHash, isLockedHash } from '../../src/config/checks/crypt.js';

// Real hashes of "hunter2", made with openssl passwd and libxcrypt's crypt(3).
const SHA512 = '$6$saltsalt$8iYtNHxjWRl.NF6oNZ5tF.iKFlQREaXBLlSmZKP6dy9l5z3vsooWNW0/GZ6Nej73/TFug6pIPSqbJoCT6dfnj.';
const SHA512_ONE_CHAR_SALT = '$6$r$UhCZ8BsJ6GkIu3rGWxIbXMUYrvksDUeg0d48t4xPY0x22DuVwKo4v95x6QDBrmEH4iZD.4KduGKfycSrgexd91';
const SHA512_ROUNDS = '$6$rounds=5000$abc$DgQcmr5KFqu3fq81mYtIJay1T2LBpa.rQ2RhGMZh1rrZZTaVbmnQH3Ulo10Skn5W2CNkPoN8xS.9uYEnniHHC0';
const SHA512_SALT16 = '$6$abcdefghijklmnop$EC.xeLW9zNWcX0r23FSpQaV7PG.Ibd4QnLe3w6UC47i3/vkPQouEDwvUpGtqFiad5mzQG96cD/LywQiXv9WfH/';
const SHA256 = '$5$abc$aw8kcfRnzkuA1XFRzd1AgTNuyzM2RdMYKc3X22kKYc0';
const SHA256_ROUNDS = '$5$rounds=1000$abcdefghijklmnop$44XgXOZE79utKgfBZUZvnkcZfwLqoBTRIOPvX2rPNP8';
const YESCRYPT = '$y$j9T$F5Jx5fExrKuPp53xLKQ..1$PmNgGTLMFjJn.URBv11CpTEm5RwlKtPjRtztKe6.b33';
const GOST_YESCRYPT = '$gy$j9T$F5Jx5fExrKuPp53xLKQ..1$pqxNhMZNzEpH0BE7/ZudIY41.ZuRdHUEOOaWBy5Vls9';
const BCRYPT_2B = '$2b$10$abcdefghijklmnopqrstuu7gIUFBKrYXdzQy8HrouzMJyZ4cijAb2';
const BCRYPT_2Y = '$2y$04$abcdefghijklmnopqrstuuV3duMsC0HpUex6N9qapiuOHHWkwRXVm';
const MD5 = '$1$abc$9dV135Rc3U8Xbm2DxadgF0';
const DES = 'ab0ozUNIgzCZ.';

describe('checkPasswordHash: accepted', () => {
  it.each([
    ['locked "!"', '!'],
    ['locked "*"', '*'],
    ['never set "!!"', '!!'],
    ['SHA-512', SHA512],
    ['SHA-512, one-character salt', SHA512_ONE_CHAR_SALT],
    ['SHA-512 with rounds', SHA512_ROUNDS],
    ['SHA-512, 16-character salt', SHA512_SALT16],
    ['SHA-512 rounds at the maximum', SHA512_ROUNDS.replace('rounds=5000', 'rounds=999999999')],
    ['SHA-256', SHA256],
    ['SHA-256 with minimum rounds', SHA256_ROUNDS],
    ['yescrypt', YESCRYPT],
    ['gost-yescrypt', GOST_YESCRYPT],
    ['bcrypt $2b$', BCRYPT_2B],
    ['bcrypt $2y$', BCRYPT_2Y],
    ['bcrypt $2a$', BCRYPT_2B.replace('$2b$', '$2a$')],
    ['bcrypt cost 31', BCRYPT_2B.replace('$10$', '$31$')],
    ['locked SHA-512 "!"', `!${SHA512}`],
    ['locked SHA-512 "!!"', `!!${SHA512}`],
    ['locked yescrypt', `!${YESCRYPT}`],
  ])('%s', (_name, value) => {
    expect(checkPasswordHash(value)).toBeNull();
  });
});

describe('checkPasswordHash: refused', () => {
  it.each([
    ['empty', '', 'empty', '"!"'],
    ['MD5-crypt', MD5, 'MD5-crypt', 'openssl passwd -6'],
    ['locked MD5-crypt', `!${MD5}`, 'MD5-crypt', 'mkpasswd -m sha-512'],
    ['traditional DES', DES, 'DES', 'mkpasswd -m sha-512'],
    ['plain text', 'hunter2', 'plain-text password', 'password:'],
    ['plain text with spaces', 'correct horse battery staple', 'plain-text password', 'password:'],
    ['plain text after "!"', '!hunter2', 'after the "!"', 'password:'],
    ['"!!!"', '!!!', 'after the "!"', undefined],
    ['"*" before a hash', `*${SHA512}`, 'plain-text', undefined],
    ['trailing newline', `${SHA512}\n`, 'line breaks', 'remove the whitespace'],
    ['leading space', ` ${SHA512}`, 'spaces', 'remove the whitespace'],
    ['SHA-512 hash one character short', SHA512.slice(0, -1), 'SHA-512 crypt hash is malformed', undefined],
    ['SHA-512 hash one character long', `${SHA512}x`, 'hash of 86 characters', undefined],
    ['SHA-512 salt of 17 characters', SHA512_SALT16.replace('abcdefghijklmnop', 'abcdefghijklmnopq'), '1 to 16', undefined],
    ['SHA-512 empty salt', SHA512.replace('saltsalt', ''), 'malformed', undefined],
    ['SHA-512 salt with a bad character', SHA512.replace('saltsalt', 'salt-alt'), 'malformed', undefined],
    ['SHA-512 rounds below 1000', SHA512_ROUNDS.replace('rounds=5000', 'rounds=999'), 'between 1000 and 999999999', undefined],
    ['SHA-512 rounds above the maximum', SHA512_ROUNDS.replace('rounds=5000', 'rounds=1000000000'), 'between 1000 and 999999999', undefined],
    ['SHA-512 rounds with a leading zero', SHA512_ROUNDS.replace('rounds=5000', 'rounds=05000'), 'malformed', undefined],
    ['SHA-256 with a SHA-512-length hash', SHA512.replace('$6$', '$5$'), 'SHA-256 crypt hash is malformed', undefined],
    ['yescrypt hash too short', YESCRYPT.slice(0, -1), 'yescrypt hash is malformed', undefined],
    ['yescrypt without params', '$y$F5Jx5fExrKuPp53xLKQ..1$PmNgGTLMFjJn.URBv11CpTEm5RwlKtPjRtztKe6.b33', 'yescrypt hash is malformed', undefined],
    ['gost-yescrypt bad character', GOST_YESCRYPT.replace('pqx', 'p-x'), 'gost-yescrypt hash is malformed', undefined],
    ['bcrypt cost 03', BCRYPT_2B.replace('$10$', '$03$'), 'between 04 and 31', undefined],
    ['bcrypt cost 32', BCRYPT_2B.replace('$10$', '$32$'), 'between 04 and 31', undefined],
    ['bcrypt one-digit cost', BCRYPT_2B.replace('$10$', '$9$'), 'bcrypt hash is malformed', undefined],
    ['bcrypt too short', BCRYPT_2B.slice(0, -1), 'bcrypt hash is malformed', undefined],
    ['bcrypt $2x$', BCRYPT_2B.replace('$2b$', '$2x$'), 'legacy', undefined],
    ['scrypt', '$7$CU..../....abcdefgh$Xy0123456789abcdefghijklmnopqrstuvwxyzABCDE', 'scrypt', undefined],
    ['SHA-1 crypt', '$sha1$40000$abcdefgh$0123456789abcdefghijklmn0123', 'SHA-1 crypt', undefined],
    ['Argon2', '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA', 'Argon2', undefined],
    ['original bcrypt', BCRYPT_2B.replace('$2b$', '$2$'), 'original bcrypt', undefined],
    ['scrypt is not verifiable everywhere', '$7$CU..../....abcdefgh$Xy0123456789abcdefghijklmnopqrstuvwxyzABCDE', 'not every target', undefined],
    ['Argon2 is not verifiable by crypt(3)', '$argon2i$v=19$m=4096,t=3,p=1$c2FsdA$aGFzaA', 'cannot verify it', undefined],
    ['unknown scheme', '$9$abcdefgh$ijklmnop', 'does not know', undefined],
    ['BSDi extended DES', '_J9..CCCCXBrJUJV154M', 'BSDi', undefined],
    ['a lone "$"', '$', 'does not know', undefined],
  ])('%s', (_name, value, inMessage, inHint) => {
    const p = checkPasswordHash(value);
    expect(p).not.toBeNull();
    expect(p?.message).toContain(inMessage);
    if (inHint !== undefined) expect(p?.hint).toContain(inHint);
  });

  // A hash is crackable offline, and a "hash" may really be a password: findings
  // are printed and logged, so none may quote any of it.
  it.each([
    MD5, DES, 'hunter2', 'correct horse battery staple', '!hunter2', `${SHA512}\n`, SHA512.slice(0, -1),
    SHA512_ROUNDS.replace('rounds=5000', 'rounds=999'), BCRYPT_2B.replace('$10$', '$03$'), YESCRYPT.slice(0, -1),
    '$7$CU..../....abcdefgh$Xy0123456789abcdefghijklmnopqrstuvwxyzABCDE', '$9$abcdefgh$ijklmnop', 'Tr0ub4dor&3', 'P@ss',
  ])('never quotes the value %#', (value) => {
    const p = checkPasswordHash(value);
    const text = `${p?.message ?? ''}\n${p?.hint ?? ''}`;
    expect(p).not.toBeNull();
    // The scheme id and "rounds=N" are structure, not secret: only the rest must not appear.
    const secret = value.trim().replace(/^!*\$[^$]*\$(rounds=[0-9]+\$)?/, '');
    const window = Math.min(secret.length, 5);
    for (let i = 0; i + window <= secret.length; i++) {
      const piece = secret.slice(i, i + window);
      expect(text, `message quotes "${piece}"`).not.toContain(piece);
    }
  });
});

describe('isLockedHash', () => {
  it.each([
    ['!', true],
    ['!!', true],
    ['*', true],
    [`!${SHA512}`, true],
    [`!!${YESCRYPT}`, true],
    [SHA512, false],
    [YESCRYPT, false],
    ['', false],
    ['hunter2', false],
  ])('%j -> %s', (value, locked) => {
    expect(isLockedHash(value)).toBe(locked);
  });
});
