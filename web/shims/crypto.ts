/**
 * The parts of node:crypto flint's validator, sha-crypt and renderers call, for the page:
 * digests from node-forge (pure JavaScript, synchronous as sha-crypt needs), random bytes
 * from WebCrypto, and the two key checks done without OpenSSL.
 */
import forge from 'node-forge';
import { Buffer } from './buffer.js';

type Data = string | Uint8Array;

function binary(data: Data, enc?: string): string {
  const b = typeof data === 'string' ? Buffer.from(data, (enc ?? 'utf8') as BufferEncoding) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return b.toString('latin1');
}

const DIGESTS: Record<string, () => forge.md.MessageDigest> = {
  sha1: () => forge.md.sha1.create(),
  sha256: () => forge.md.sha256.create(),
  sha384: () => forge.md.sha384.create(),
  sha512: () => forge.md.sha512.create(),
  md5: () => forge.md.md5.create(),
};

class Hash {
  private readonly md: forge.md.MessageDigest;
  constructor(algorithm: string) {
    const make = DIGESTS[algorithm.toLowerCase()];
    if (make === undefined) throw new Error(`digest ${algorithm} is not available in the page`);
    this.md = make();
  }
  update(data: Data, enc?: string): this {
    this.md.update(binary(data, enc), 'raw');
    return this;
  }
  digest(enc?: string): Buffer | string {
    const out = Buffer.from(this.md.digest().getBytes(), 'latin1');
    return enc === undefined || enc === 'buffer' ? out : out.toString(enc as BufferEncoding);
  }
}

export function createHash(algorithm: string): Hash {
  return new Hash(algorithm);
}

export function randomBytes(n: number): Buffer {
  const out = new Uint8Array(n);
  globalThis.crypto.getRandomValues(out);
  return Buffer.from(out);
}

export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) throw new RangeError('input buffers must have the same length');
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** The NIST curves SSH keys use: y² = x³ - 3x + b (mod p). */
const CURVES: Record<string, { p: bigint; b: bigint }> = {
  'P-256': { p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n, b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn },
  'P-384': { p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n, b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn },
  'P-521': { p: 2n ** 521n - 1n, b: 0x051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n },
};

const big = (b64url: string): bigint => BigInt('0x' + (Buffer.from(b64url, 'base64url').toString('hex') || '0'));
const mod = (a: bigint, p: bigint): bigint => ((a % p) + p) % p;

/**
 * Only the use sshkey.ts makes: an EC public key as JWK, refused when the point is not on
 * its curve (what OpenSSL checks when node imports it).
 */
export function createPublicKey(o: { key: { kty: string; crv: string; x: string; y: string }; format: 'jwk' }): object {
  const curve = CURVES[o.key.crv];
  if (o.key.kty !== 'EC' || curve === undefined) throw new Error('unsupported key');
  const { p, b } = curve;
  const x = big(o.key.x);
  const y = big(o.key.y);
  if (x >= p || y >= p) throw new Error('point not on curve');
  if (mod(y * y, p) !== mod(x * x * x - 3n * x + b, p)) throw new Error('point not on curve');
  return { type: 'public', asymmetricKeyType: 'ec' };
}

/**
 * What pem.ts reads of a CA certificate: its subject and whether it is a CA. node-forge
 * reads RSA certificates only; others are taken as given (the CLI examines them).
 */
export class X509Certificate {
  readonly subject: string;
  readonly ca: boolean;
  constructor(pem: string) {
    let cert: forge.pki.Certificate;
    try {
      cert = forge.pki.certificateFromPem(pem);
    } catch (e) {
      if (/RSA/i.test((e as Error).message)) {
        this.subject = '(not read in the page: not an RSA certificate)';
        this.ca = true;
        return;
      }
      throw e;
    }
    this.subject = cert.subject.attributes.map((a) => `${a.shortName ?? a.name ?? a.type}=${String(a.value)}`).join('\n');
    const bc = cert.getExtension('basicConstraints') as { cA?: boolean } | null;
    this.ca = bc?.cA === true;
  }
}

/** WPA's PSK from a passphrase (network-nm.ts): PBKDF2, node-forge's synchronous form. */
export function pbkdf2Sync(password: Data, salt: Data, iterations: number, keylen: number, digest: string): Buffer {
  const md = DIGESTS[digest.toLowerCase()];
  if (md === undefined) throw new Error(`digest ${digest} is not available in the page`);
  return Buffer.from(forge.pkcs5.pbkdf2(binary(password), binary(salt), iterations, keylen, md()), 'latin1');
}

export function hash(algorithm: string, data: Data, enc?: string): Buffer | string {
  return createHash(algorithm).update(data).digest(enc);
}

export default { createHash, pbkdf2Sync, randomBytes, timingSafeEqual, createPublicKey, X509Certificate, hash };
