/**
 * Loading a signing key: PEM (PKCS#8, traditional RSA/EC, encrypted or not), RSA of
 * 2048 bits or more, or ECDSA on P-256 or P-384. The passphrase comes from the caller
 * (terminal or stdin), never argv; no message here ever contains key material.
 */
import type { KeyObject } from 'node:crypto';
import { nodeCrypto } from '../system/lazy-builtins.js';
import { TrustError } from './chain.js';

const CURVES = ['prime256v1', 'secp384r1'];

export function isEncryptedKey(pem: string): boolean {
  return /-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(pem) || /^Proc-Type:\s*4,ENCRYPTED/m.test(pem);
}

/** The private key in PEM, decrypted with PASSPHRASE when it is encrypted. */
export function loadSigningKey(pem: string, where: string, passphrase?: string): KeyObject {
  let key: KeyObject;
  try {
    key = nodeCrypto().createPrivateKey(passphrase !== undefined ? { key: pem, format: 'pem', passphrase } : { key: pem, format: 'pem' });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (isEncryptedKey(pem)) throw new TrustError(`${where}: cannot decrypt the key (wrong passphrase?)`);
    throw new TrustError(`${where}: not a PEM private key${code !== undefined ? ` (${code})` : ''}`);
  }
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    if ((d.modulusLength ?? 0) < 2048) throw new TrustError(`${where}: an RSA key of ${d.modulusLength ?? '?'} bits is too weak; use 2048 bits or more`);
  } else if (key.asymmetricKeyType === 'ec') {
    if (!CURVES.includes(d.namedCurve ?? '')) throw new TrustError(`${where}: ECDSA on ${d.namedCurve ?? 'an unknown curve'} is not supported; use P-256 (prime256v1) or P-384`);
  } else {
    throw new TrustError(`${where}: a ${key.asymmetricKeyType ?? 'unknown'} key is not supported; use RSA (2048 bits or more) or ECDSA P-256`);
  }
  return key;
}
