/** PEM certificates in a config (ca_certificates). */
import { nodeCrypto } from '../../system/lazy-builtins.js';

/** The single certificate in PEM text, normalised (one trailing newline), or a problem. */
export function parseCaPem(text: string): { pem: string; subject: string; ca: boolean } | { problem: string } {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length !== 1) return { problem: blocks.length === 0 ? 'no PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----) in it' : `${blocks.length} certificates in it; give each its own entry` };
  try {
    const cert = new (nodeCrypto().X509Certificate)(blocks[0]!);
    return { pem: `${blocks[0]!}\n`, subject: cert.subject.replace(/\n/g, ', '), ca: cert.ca };
  } catch (e) {
    return { problem: `its certificate cannot be read (${(e as Error).message})` };
  }
}
