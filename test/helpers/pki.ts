/**
 * A throw-away PKI for https tests: a CA and a server certificate for localhost and
 * 127.0.0.1, made with node-forge (keys come from node's own generator, which is fast).
 */
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

export interface Pki {
  caPem: string;
  keyPem: string;
  certPem: string;
}

/** An RSA key made by node (fast), in node-forge's form. */
function rsaKey(): { forgeKey: forge.pki.rsa.PrivateKey; pem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  return { forgeKey: forge.pki.privateKeyFromPem(pem), pem };
}

/** A certificate for KEY, valid from a day ago to a day ahead, signed by SIGNER. */
function certificate(key: forge.pki.rsa.PrivateKey, serial: string, subject: string, issuer: string, extensions: object[], signer: forge.pki.rsa.PrivateKey): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = serial;
  cert.validity.notBefore = new Date(Date.now() - 86_400_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: 'commonName', value: subject }]);
  cert.setIssuer([{ name: 'commonName', value: issuer }]);
  cert.setExtensions(extensions);
  cert.sign(signer, forge.md.sha256.create());
  return cert;
}

export function makePki(): Pki {
  const ca = rsaKey();
  const caCert = certificate(ca.forgeKey, '01', 'flint test CA', 'flint test CA', [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ], ca.forgeKey);
  const server = rsaKey();
  const cert = certificate(server.forgeKey, '02', 'localhost', 'flint test CA', [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ], ca.forgeKey);
  return { caPem: forge.pki.certificateToPem(caCert), keyPem: server.pem, certPem: forge.pki.certificateToPem(cert) };
}

/** A key and its certificate, in PEM, for signing tests. */
export interface Issued {
  keyPem: string;
  certPem: string;
  forgeKey: forge.pki.rsa.PrivateKey;
  cert: forge.pki.Certificate;
}

export interface IssueOptions {
  subject: string;
  /** The issuing CA; absent: self-signed. */
  issuer?: Issued;
  ca?: boolean;
  /** keyUsage bits (default: CAs keyCertSign+cRLSign, others digitalSignature). */
  keyUsage?: Record<string, boolean>;
  /** extendedKeyUsage names (forge's, e.g. codeSigning, serverAuth); absent: none. */
  extKeyUsage?: string[];
  notBefore?: Date;
  notAfter?: Date;
  serial?: string;
}

let serialCounter = 0x10;

/** An RSA key and a certificate as OPTS say, for the trust tests (expired, wrong usage, chains). */
export function issue(opts: IssueOptions): Issued {
  const key = rsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.forgeKey.n, key.forgeKey.e);
  cert.serialNumber = opts.serial ?? (serialCounter++).toString(16).padStart(2, '0');
  cert.validity.notBefore = opts.notBefore ?? new Date(Date.now() - 86_400_000);
  cert.validity.notAfter = opts.notAfter ?? new Date(Date.now() + 365 * 86_400_000);
  cert.setSubject([{ name: 'commonName', value: opts.subject }]);
  cert.setIssuer([{ name: 'commonName', value: opts.issuer?.cert.subject.getField('CN').value ?? opts.subject }]);
  const ext: object[] = [{ name: 'basicConstraints', cA: opts.ca === true, critical: true }];
  ext.push({ name: 'keyUsage', critical: true, ...(opts.keyUsage ?? (opts.ca === true ? { keyCertSign: true, cRLSign: true } : { digitalSignature: true })) });
  if (opts.extKeyUsage !== undefined) ext.push({ name: 'extKeyUsage', ...Object.fromEntries(opts.extKeyUsage.map((n) => [n, true])) });
  cert.setExtensions(ext);
  cert.sign(opts.issuer?.forgeKey ?? key.forgeKey, forge.md.sha256.create());
  return { keyPem: key.pem, certPem: forge.pki.certificateToPem(cert), forgeKey: key.forgeKey, cert };
}
