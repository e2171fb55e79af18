/**
 * Checks of ca_certificates: names, contents or source, one PEM CA certificate.
 * Run with the other semantic checks (src/config/semantic.ts): config-layer code kept
 * beside the step, so it imports nothing above src/config.
 */
import type { PathSeg } from '../../config/diagnostics.js';
import { checkSource, checkVerify } from '../../config/checks/source.js';
import { parseCaPem } from '../../config/checks/pem.js';
import { objs } from '../../config/checks/read.js';
import type { Obj, Sink } from '../../config/checks/read.js';

export function check(cfg: Obj, r: Sink): void {
  checkCaCertificates(cfg.ca_certificates, r);
}

function checkCaCertificates(list: unknown, r: Sink): void {
  const names = new Map<string, number>();
  for (const [c, i] of objs(list)) {
    const at: PathSeg[] = ['ca_certificates', i];
    const name = typeof c.name === 'string' ? c.name : undefined;
    if (name !== undefined) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name) || /\.(crt|pem)$/.test(name)) r.error([...at, 'name'], 'ca-name', 'a certificate name is a file name without extension: letters, digits, ".", "_" and "-"', 'e.g. home-lab-ca');
      const prev = names.get(name);
      if (prev !== undefined) r.error([...at, 'name'], 'duplicate-ca', `the name ${name} is already used by ca_certificates[${prev}]`, 'give each certificate its own name');
      else names.set(name, i);
    }
    const given = (['contents', 'source'] as const).filter((k) => c[k] !== undefined);
    if (given.length === 0) r.error(at, 'ca-contents', 'a certificate needs contents (the PEM text) or source', 'paste the PEM under contents: |', 'key');
    if (given.length > 1) r.error([...at, 'source'], 'ca-contents', 'give contents or source, not both', undefined, 'key');
    if (typeof c.source === 'string') checkSource([...at, 'source'], c.source, c.verify !== undefined, r);
    checkVerify([...at, 'verify'], c.verify, r);
    if (typeof c.contents === 'string') {
      const parsed = parseCaPem(c.contents);
      if ('problem' in parsed) r.error([...at, 'contents'], 'ca-pem', `this is not one PEM certificate: ${parsed.problem}`, 'paste the whole certificate, -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----');
      else if (!parsed.ca) r.warn([...at, 'contents'], 'ca-not-ca', `the certificate of ${parsed.subject} is not a CA certificate (no basicConstraints CA:TRUE): OpenSSL and most TLS clients use it only to trust that exact server`, 'give the certificate of the authority that signed it');
    }
  }
}
