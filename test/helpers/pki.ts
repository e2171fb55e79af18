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

export function makePki(): Pki {
  const ca = rsaKey();
  const caCert = forge.pki.createCertificate();
  caCert.publicKey = forge.pki.setRsaPublicKey(ca.forgeKey.n, ca.forgeKey.e);
  caCert.serialNumber = '01';
  caCert.validity.notBefore = new Date(Date.now() - 86_400_000);
  caCert.validity.notAfter = new Date(Date.now() + 86_400_000);
  const caName = [{ name: 'commonName', value: 'flint test CA' }];
  caCert.setSubject(caName);
  caCert.setIssuer(caName);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  caCert.sign(ca.forgeKey, forge.md.sha256.create());

  const server = rsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(server.forgeKey.n, server.forgeKey.e);
  cert.serialNumber = '02';
  cert.validity.notBefore = new Date(Date.now() - 86_400_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: 'commonName', value: 'localhost' }]);
  cert.setIssuer(caName);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(ca.forgeKey, forge.md.sha256.create());
  return { caPem: forge.pki.certificateToPem(caCert), keyPem: server.pem, certPem: forge.pki.certificateToPem(cert) };
}
