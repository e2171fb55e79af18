/**
 * Whether a signer's certificate chain reaches a trusted certificate, with node:crypto's
 * X509Certificate (RSA and ECDSA alike). The rules (docs/signing.md):
 * - each certificate is issued by the next one (names match and its signature verifies),
 *   the last one by a trust anchor, or the signer's certificate is itself an anchor;
 * - every certificate on the path, the anchor included, is valid at NOW;
 * - the signer's certificate has keyUsage with digitalSignature, and, when it has an
 *   extendedKeyUsage, that contains codeSigning (1.3.6.1.5.5.7.3.3);
 * - every issuing certificate has basicConstraints CA:true and, when it has keyUsage,
 *   keyCertSign.
 */
import type { X509Certificate } from 'node:crypto';
import { nodeCrypto } from '../system/lazy-builtins.js';
import { KEY_USAGE_BITS, keyUsageBits } from './x509.js';

export const CODE_SIGNING_OID = '1.3.6.1.5.5.7.3.3';

export class TrustError extends Error {}

export interface Signer {
  /** The signer certificate's subject CN (or the whole subject when it has none). */
  name: string;
  subject: string;
  /** SHA-256 fingerprint of the signer's certificate, colon-separated hex as openssl shows it. */
  fingerprint: string;
  /** The trust anchor the chain reached: its CN and fingerprint. */
  anchor: string;
}

/** Every certificate in PEM TEXT (several may follow one another). */
export function parseCertificates(text: string, what: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new TrustError(`${what}: no PEM certificate in it`);
  return blocks.map((b, i) => {
    try {
      return new (nodeCrypto().X509Certificate)(b);
    } catch {
      throw new TrustError(`${what}: certificate ${i + 1} cannot be parsed`);
    }
  });
}

export function commonName(c: X509Certificate): string {
  const m = /(?:^|\n)CN=([^\n]*)/.exec(c.subject);
  return m !== null ? m[1]! : c.subject.replace(/\n/g, ', ');
}

function describe(c: X509Certificate): string {
  return `"${commonName(c)}" (SHA256 ${c.fingerprint256})`;
}

function checkDates(c: X509Certificate, now: Date, role: string): void {
  const from = new Date(c.validFrom);
  const to = new Date(c.validTo);
  if (now < from) throw new TrustError(`the ${role} certificate ${describe(c)} is not valid yet: valid from ${from.toISOString()}, and it is ${now.toISOString()} here`);
  if (now > to) throw new TrustError(`the ${role} certificate ${describe(c)} expired on ${to.toISOString()} (it is ${now.toISOString()} here)`);
}

function checkSignerUsage(c: X509Certificate): void {
  const bits = keyUsageBits(Buffer.from(c.raw));
  if (bits === undefined || !bits.has(KEY_USAGE_BITS.digitalSignature)) {
    throw new TrustError(`the signer's certificate ${describe(c)} is not for signing: its keyUsage lacks digitalSignature`);
  }
  const eku = c.keyUsage;
  if (eku !== undefined && eku.length > 0 && !eku.includes(CODE_SIGNING_OID)) {
    throw new TrustError(`the signer's certificate ${describe(c)} is not for signing: its extendedKeyUsage lacks codeSigning (${CODE_SIGNING_OID})`);
  }
}

function checkIssuer(c: X509Certificate): void {
  if (!c.ca) throw new TrustError(`the certificate ${describe(c)} issued another but is no CA (basicConstraints CA:true missing)`);
  const bits = keyUsageBits(Buffer.from(c.raw));
  if (bits !== undefined && !bits.has(KEY_USAGE_BITS.keyCertSign)) throw new TrustError(`the CA certificate ${describe(c)} may not issue certificates (keyUsage lacks keyCertSign)`);
}

function issues(issuer: X509Certificate, c: X509Certificate): boolean {
  return c.checkIssued(issuer) && c.verify(issuer.publicKey);
}

/**
 * Checks CHAIN (the signer's certificate first, then the intermediates it carries)
 * against ANCHORS at NOW; returns the signer or throws a TrustError saying why not.
 */
export function verifyChain(chain: readonly X509Certificate[], anchors: readonly X509Certificate[], now: Date): Signer {
  const leaf = chain[0];
  if (leaf === undefined) throw new TrustError('the signature carries no certificate');
  if (anchors.length === 0) throw new TrustError('no trusted certificate to check the signature against');
  checkSignerUsage(leaf);
  const pool = chain.slice(1);
  let cur = leaf;
  checkDates(cur, now, "signer's");
  for (let depth = 0; depth <= chain.length; depth++) {
    const same = anchors.find((a) => a.fingerprint256 === cur.fingerprint256);
    if (same !== undefined) return signerOf(leaf, same);
    const anchor = anchors.find((a) => issues(a, cur));
    if (anchor !== undefined) {
      checkIssuer(anchor);
      checkDates(anchor, now, 'trusted');
      return signerOf(leaf, anchor);
    }
    if (issues(cur, cur)) throw new TrustError(`the chain ends at ${describe(cur)}, which is not a trusted certificate`);
    const next = pool.find((p) => p !== cur && issues(p, cur));
    if (next === undefined) {
      const named = pool.find((p) => p !== cur && cur.checkIssued(p)) ?? anchors.find((a) => cur.checkIssued(a));
      if (named !== undefined) throw new TrustError(`the certificate ${describe(cur)} names "${cur.issuer.replace(/\n/g, ', ')}" as issuer, but that certificate's key did not sign it`);
      throw new TrustError(`the chain stops short: the issuer of ${describe(cur)} ("${cur.issuer.replace(/\n/g, ', ')}") is neither in the signature nor a trusted certificate`);
    }
    checkIssuer(next);
    checkDates(next, now, 'intermediate');
    cur = next;
  }
  throw new TrustError('the certificate chain loops');
}

function signerOf(leaf: X509Certificate, anchor: X509Certificate): Signer {
  return { name: commonName(leaf), subject: leaf.subject.replace(/\n/g, ', '), fingerprint: leaf.fingerprint256, anchor: `${commonName(anchor)} (SHA256 ${anchor.fingerprint256})` };
}
