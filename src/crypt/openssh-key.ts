import { Buffer } from 'node:buffer';
import type { KeyObject } from 'node:crypto';
import { nodeCrypto } from '../system/lazy-builtins.js';

// OpenSSH key serialisation, as ssh-keygen writes keys: the one-line public key
// ("TYPE BASE64 COMMENT", RFC 4253 6.6 wire format inside) and the unencrypted
// "openssh-key-v1" private key file (OpenSSH's PROTOCOL.key). Only the key types
// flint generates are handled: Ed25519 and RSA.

const AUTH_MAGIC = 'openssh-key-v1\0';
/** Cipher "none" pads the private section to this block size. */
const BLOCK_SIZE_NONE = 8;
/** ssh-keygen wraps the base64 body of the private key file at 70 columns. */
const LINE_WIDTH = 70;
const BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const END = '-----END OPENSSH PRIVATE KEY-----';

type Fields =
  | { type: 'ssh-ed25519'; pub: Buffer; seed?: Buffer }
  | { type: 'ssh-rsa'; n: Buffer; e: Buffer; priv?: { d: Buffer; p: Buffer; q: Buffer; iqmp: Buffer } };

/** The SSH key type name a key is written as: ssh-ed25519 or ssh-rsa. */
export function opensshKeyType(key: KeyObject): 'ssh-ed25519' | 'ssh-rsa' {
  return keyFields(key).type;
}

/** The public key line "TYPE BASE64 COMMENT" for a node KeyObject (ed25519 or rsa, public or private). */
export function opensshPublicKey(key: KeyObject, comment: string): string {
  checkComment(comment);
  const fields = keyFields(key);
  const line = `${fields.type} ${publicBlob(fields).toString('base64')}`;
  return comment === '' ? line : `${line} ${comment}`;
}

/** The public key blob (wire format) of an ed25519 or rsa KeyObject: what SHA256 fingerprints hash. */
export function opensshPublicBlob(key: KeyObject): Buffer {
  return publicBlob(keyFields(key));
}

/**
 * "openssh-key-v1" unencrypted private key file, byte for byte as ssh-keygen
 * writes one (except for the random check integers): PEM-style armour around
 * base64 in 70-column lines, cipher and kdf "none", one key, two equal random
 * check integers, the key type's private fields, the comment, and padding
 * 1, 2, 3... to the cipher block size (8). The caller writes it with mode 0600.
 */
export function opensshPrivateKey(key: KeyObject, comment: string): string {
  checkComment(comment);
  if (key.type !== 'private') throw new Error('opensshPrivateKey needs a private key');
  const fields = keyFields(key);
  const check = nodeCrypto().randomBytes(4);
  const section: Buffer[] = [check, check, sshString(fields.type)];
  if (fields.type === 'ssh-ed25519') {
    if (fields.seed === undefined) throw new Error('the Ed25519 key has no private part');
    // OpenSSH's Ed25519 secret key is the 32-byte seed followed by the 32-byte public key.
    section.push(sshString(fields.pub), sshString(Buffer.concat([fields.seed, fields.pub])));
  } else {
    if (fields.priv === undefined) throw new Error('the RSA key has no private part');
    const { d, p, q, iqmp } = fields.priv;
    section.push(mpint(fields.n), mpint(fields.e), mpint(d), mpint(iqmp), mpint(p), mpint(q));
  }
  section.push(sshString(comment));
  let length = section.reduce((sum, b) => sum + b.length, 0);
  const padding: number[] = [];
  while (length % BLOCK_SIZE_NONE !== 0) {
    padding.push((padding.length + 1) & 0xff);
    length++;
  }
  section.push(Buffer.from(padding));

  const body = Buffer.concat([
    Buffer.from(AUTH_MAGIC, 'latin1'),
    sshString('none'), // cipher
    sshString('none'), // kdf
    sshString(''), // kdf options
    uint32(1), // number of keys
    sshString(publicBlob(fields)),
    sshString(Buffer.concat(section)),
  ]);
  const b64 = body.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += LINE_WIDTH) lines.push(b64.slice(i, i + LINE_WIDTH));
  return `${BEGIN}\n${lines.join('\n')}\n${END}\n`;
}

function checkComment(comment: string): void {
  // A line break would end the public key line early and start a bogus one.
  if (/[\r\n\0]/.test(comment)) throw new Error('an SSH key comment cannot contain line breaks or NUL');
}

function keyFields(key: KeyObject): Fields {
  const kind = key.asymmetricKeyType;
  if (kind === 'ed25519') {
    const jwk = key.export({ format: 'jwk' });
    const pub = b64url(jwk.x, 'x');
    if (pub.length !== 32) throw new Error(`the Ed25519 public key is ${pub.length} bytes, not 32`);
    if (key.type !== 'private') return { type: 'ssh-ed25519', pub };
    const seed = b64url(jwk.d, 'd');
    if (seed.length !== 32) throw new Error(`the Ed25519 private key is ${seed.length} bytes, not 32`);
    return { type: 'ssh-ed25519', pub, seed };
  }
  if (kind === 'rsa') {
    const jwk = key.export({ format: 'jwk' });
    const n = b64url(jwk.n, 'n');
    const e = b64url(jwk.e, 'e');
    if (key.type !== 'private') return { type: 'ssh-rsa', n, e };
    // JWK's qi is q^-1 mod p, which is OpenSSH's iqmp.
    return { type: 'ssh-rsa', n, e, priv: { d: b64url(jwk.d, 'd'), p: b64url(jwk.p, 'p'), q: b64url(jwk.q, 'q'), iqmp: b64url(jwk.qi, 'qi') } };
  }
  throw new Error(`cannot write a ${kind ?? 'symmetric'} key in OpenSSH format; only ed25519 and rsa keys are supported`);
}

function b64url(value: string | undefined, name: string): Buffer {
  if (value === undefined) throw new Error(`the key's JWK export has no "${name}"`);
  return Buffer.from(value, 'base64url');
}

function publicBlob(fields: Fields): Buffer {
  return fields.type === 'ssh-ed25519'
    ? Buffer.concat([sshString(fields.type), sshString(fields.pub)])
    : Buffer.concat([sshString(fields.type), mpint(fields.e), mpint(fields.n)]);
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** An RFC 4251 string: uint32 length, then the bytes (text as UTF-8). */
function sshString(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([uint32(bytes.length), bytes]);
}

/** An RFC 4251 mpint of a non-negative big-endian magnitude: no leading zeros, but a 0x00 when the high bit is set. */
function mpint(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length && magnitude[start] === 0) start++;
  const m = magnitude.subarray(start);
  return sshString(((m[0] ?? 0) & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), m]) : m);
}
