/**
 * Signed configs (src/trust/): a good signature is accepted; every kind of tampering
 * and every bad certificate is refused with its own message. Certificates come from
 * test/helpers/pki.ts (RSA, any dates and usages) and openssl (ECDSA P-256).
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { issue } from '../helpers/pki.js';
import type { Issued } from '../helpers/pki.js';
import { verifyChain, TrustError } from '../../src/trust/chain.js';
import { loadSigningKey } from '../../src/trust/key.js';
import { readPayloads, sigPath, signManifest, UnsignedError, verifyConfig } from '../../src/trust/manifest.js';
import { effectivePolicy, loadAnchors } from '../../src/trust/policy.js';
import { parseCmdline } from '../../src/discover/cmdline.js';
import { runSign, runVerify } from '../../src/cli/sign.js';
import type { Output } from '../../src/cli/output.js';

const tmp = mkdtempSync(join(tmpdir(), 'flint-trust-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const DAY = 86_400_000;
const root = issue({ subject: 'flint test root CA', ca: true });
const inter = issue({ subject: 'flint test signing CA', ca: true, issuer: root });
const signer = issue({ subject: 'release signer', issuer: inter, extKeyUsage: ['codeSigning'] });
const anchors = [new X509Certificate(root.certPem)];

const CONFIG = `version: 1
hostname: signed-host
files:
  - path: /etc/motd
    source: file:payload/motd
scripts:
  - name: finish
    source: file:scripts/finish.sh
`;

let n = 0;
/** A fresh config folder: config.yaml, payload/motd, scripts/finish.sh. */
function folder(): string {
  const d = join(tmp, `c${n++}`);
  mkdirSync(join(d, 'payload'), { recursive: true });
  mkdirSync(join(d, 'scripts'));
  writeFileSync(join(d, 'config.yaml'), CONFIG);
  writeFileSync(join(d, 'payload/motd'), 'Welcome\n');
  writeFileSync(join(d, 'scripts/finish.sh'), '#!/bin/sh\necho done\n');
  return join(d, 'config.yaml');
}

function chainOf(...issued: Issued[]): X509Certificate[] {
  return issued.map((i) => new X509Certificate(i.certPem));
}

/** Signs CONFIGFILE with WHO's key and the certificates CHAIN (default: WHO, then the intermediate). */
async function signAs(configFile: string, who: Issued = signer, chain: X509Certificate[] = chainOf(who, inter)): Promise<void> {
  const text = readFileSync(configFile);
  const payloads = await readPayloads(configFile, text.toString());
  writeFileSync(sigPath(configFile), signManifest({ name: 'config.yaml', config: text, payloads, key: createPrivateKey(who.keyPem), certificates: chain }));
}

/** Changes one byte of file P. */
function flip(p: string): void {
  const b = readFileSync(p);
  b[3]! ^= 0x01;
  writeFileSync(p, b);
}

async function refusal(configFile: string, now?: Date): Promise<string> {
  try {
    await verifyConfig(configFile, { anchors, ...(now !== undefined ? { now } : {}) });
  } catch (e) {
    expect(e).toBeInstanceOf(TrustError);
    return (e as Error).message;
  }
  throw new Error('accepted');
}

describe('signed configs', () => {
  it('accepts a good signature and names the signer', async () => {
    const f = folder();
    await signAs(f);
    const v = await verifyConfig(f, { anchors });
    expect(v.signer.name).toBe('release signer');
    expect(v.signer.fingerprint).toBe(new X509Certificate(signer.certPem).fingerprint256);
    expect(v.signer.anchor).toContain('flint test root CA');
    expect(v.payloads.sort()).toEqual(['payload/motd', 'scripts/finish.sh']);
  });

  it('an extra file nobody names is harmless', async () => {
    const f = folder();
    await signAs(f);
    writeFileSync(join(f, '..', 'payload/unrelated'), 'x');
    await expect(verifyConfig(f, { anchors })).resolves.toBeDefined();
  });

  const tamper: Array<[string, (f: string) => void | Promise<void>, RegExp]> = [
    ['one byte changed in the config', (f) => flip(f), /the config config\.yaml was changed after it was signed/],
    ['one byte changed in a payload', (f) => flip(join(f, '..', 'payload/motd')), /the payload payload\/motd was changed after it was signed/],
    ['one byte changed in a script', (f) => flip(join(f, '..', 'scripts/finish.sh')), /the payload scripts\/finish\.sh was changed after it was signed/],
    ['a payload added to the config', (f) => {
      writeFileSync(join(f, '..', 'payload/extra'), 'evil\n');
      writeFileSync(f, CONFIG + '  - name: extra\n    source: file:payload/extra\n');
    }, /the payload payload\/extra is named by the config but not covered by the signature/],
    ['a signed payload removed', (f) => unlinkSync(join(f, '..', 'payload/motd')), /the signed payload payload\/motd is missing/],
    ['a signature by another key', (f) => {
      const s = JSON.parse(readFileSync(sigPath(f), 'utf8')) as { manifest: string; signature: string };
      const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      s.signature = sign('sha256', Buffer.from(s.manifest), other).toString('base64');
      writeFileSync(sigPath(f), JSON.stringify(s));
    }, /the signature does not match its manifest and certificate \(made with another key/],
    ['a manifest edited to match a changed config', (f) => {
      const s = JSON.parse(readFileSync(sigPath(f), 'utf8')) as { manifest: string };
      s.manifest = s.manifest.replace(/"sha256": "[0-9a-f]+"/, '"sha256": "' + '0'.repeat(64) + '"');
      writeFileSync(sigPath(f), JSON.stringify(s));
    }, /the signature does not match its manifest/],
    ['a truncated signature file', (f) => writeFileSync(sigPath(f), readFileSync(sigPath(f)).subarray(0, 200)), /config\.yaml\.sig is not a flint signature: it is not JSON \(truncated or garbage\?\)/],
    ['a garbage signature file', (f) => writeFileSync(sigPath(f), Buffer.from([0x00, 0xff, 0x13, 0x37])), /is not a flint signature: it is not JSON/],
    ['a signature that is not base64 of a signature', (f) => {
      const s = JSON.parse(readFileSync(sigPath(f), 'utf8')) as { signature: string };
      s.signature = 'AAAA' + s.signature.slice(4);
      writeFileSync(sigPath(f), JSON.stringify(s));
    }, /the signature does not match/],
    ['no signature at all', (f) => unlinkSync(sigPath(f)), /the config is not signed \(no config\.yaml\.sig beside it\)/],
  ];
  for (const [name, change, message] of tamper) {
    it(`refuses ${name}`, async () => {
      const f = folder();
      await signAs(f);
      await change(f);
      expect(await refusal(f)).toMatch(message);
    });
  }

  it('names the signer when content was changed', async () => {
    const f = folder();
    await signAs(f);
    flip(f);
    expect(await refusal(f)).toMatch(/signed by "release signer" \(SHA256 [0-9A-F:]+\)/);
  });

  it('a missing signature is an UnsignedError (the optional policy allows it)', async () => {
    const f = folder();
    await expect(verifyConfig(f, { anchors })).rejects.toBeInstanceOf(UnsignedError);
  });

  const certCases: Array<[string, () => { who: Issued; chain: X509Certificate[] }, RegExp]> = [
    ['an expired certificate', () => {
      const who = issue({ subject: 'old signer', issuer: inter, notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) });
      return { who, chain: chainOf(who, inter) };
    }, /the signer's certificate "old signer" \(SHA256 [0-9A-F:]+\) expired on/],
    ['a certificate not valid yet', () => {
      const who = issue({ subject: 'future signer', issuer: inter, notBefore: new Date(Date.now() + DAY) });
      return { who, chain: chainOf(who, inter) };
    }, /"future signer" .* is not valid yet/],
    ['an expired intermediate', () => {
      const old = issue({ subject: 'old CA', ca: true, issuer: root, notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) });
      const who = issue({ subject: 'signer of old CA', issuer: old });
      return { who, chain: chainOf(who, old) };
    }, /the intermediate certificate "old CA" .* expired/],
    ['a certificate without digitalSignature', () => {
      const who = issue({ subject: 'encipher only', issuer: inter, keyUsage: { keyEncipherment: true } });
      return { who, chain: chainOf(who, inter) };
    }, /"encipher only" .* is not for signing: its keyUsage lacks digitalSignature/],
    ['a TLS server certificate (extendedKeyUsage without codeSigning)', () => {
      const who = issue({ subject: 'web server', issuer: inter, keyUsage: { digitalSignature: true, keyEncipherment: true }, extKeyUsage: ['serverAuth'] });
      return { who, chain: chainOf(who, inter) };
    }, /"web server" .* its extendedKeyUsage lacks codeSigning \(1\.3\.6\.1\.5\.5\.7\.3\.3\)/],
    ['a chain that stops short (intermediate left out)', () => ({ who: signer, chain: chainOf(signer) }), /the chain stops short: the issuer of "release signer" .*\("CN=flint test signing CA"\) is neither in the signature nor a trusted certificate/],
    ['a signer from another CA', () => {
      const otherRoot = issue({ subject: 'someone else CA', ca: true });
      const who = issue({ subject: 'stranger', issuer: otherRoot });
      return { who, chain: chainOf(who, otherRoot) };
    }, /the chain ends at "someone else CA" .*, which is not a trusted certificate/],
    ['an issuer that is no CA', () => {
      const notCa = issue({ subject: 'not a CA', issuer: root, keyUsage: { digitalSignature: true, keyCertSign: true } });
      const who = issue({ subject: 'signed by a leaf', issuer: notCa });
      return { who, chain: chainOf(who, notCa) };
    }, /"not a CA" .* is no CA \(basicConstraints CA:true missing\)/],
    ['a forged intermediate with the right name but another key', () => {
      const fake = issue({ subject: 'flint test signing CA', ca: true });
      const who = issue({ subject: 'forger', issuer: fake });
      return { who, chain: chainOf(who, fake) };
    }, /the chain ends at "flint test signing CA" .*, which is not a trusted certificate/],
  ];
  for (const [name, make, message] of certCases) {
    it(`refuses ${name}`, async () => {
      const f = folder();
      const { who, chain } = make();
      await signAs(f, who, chain);
      expect(await refusal(f)).toMatch(message);
    });
  }

  it('checks dates against the injected clock', async () => {
    const f = folder();
    await signAs(f);
    expect(await refusal(f, new Date(Date.now() + 400 * DAY))).toMatch(/"release signer" .* expired on/);
    expect(await refusal(f, new Date(Date.now() - 2 * DAY))).toMatch(/not valid yet/);
  });

  it('a self-signed signing certificate that is itself trusted is accepted', () => {
    const self = issue({ subject: 'lone signer' });
    const s = verifyChain(chainOf(self), chainOf(self), new Date());
    expect(s.name).toBe('lone signer');
  });

  it('accepts ECDSA P-256 keys and certificates (made with openssl)', async () => {
    const d = join(tmp, 'ec');
    mkdirSync(d);
    writeFileSync(join(d, 'inter.pem'), inter.certPem);
    writeFileSync(join(d, 'inter.key'), inter.keyPem);
    writeFileSync(join(d, 'ext.cnf'), 'keyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nbasicConstraints=CA:FALSE\n');
    const run = (args: string[]) => execFileSync('openssl', args, { cwd: d, stdio: ['ignore', 'pipe', 'pipe'] });
    run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ec.key']);
    run(['req', '-new', '-key', 'ec.key', '-subj', '/CN=ec signer', '-out', 'ec.csr']);
    run(['x509', '-req', '-in', 'ec.csr', '-CA', 'inter.pem', '-CAkey', 'inter.key', '-CAcreateserial', '-days', '30', '-sha256', '-extfile', 'ext.cnf', '-out', 'ec.pem']);
    const f = folder();
    const key = loadSigningKey(readFileSync(join(d, 'ec.key'), 'utf8'), 'ec.key');
    const text = readFileSync(f);
    writeFileSync(sigPath(f), signManifest({ name: 'config.yaml', config: text, payloads: await readPayloads(f, text.toString()), key, certificates: [new X509Certificate(readFileSync(join(d, 'ec.pem'))), ...chainOf(inter)] }));
    const v = await verifyConfig(f, { anchors });
    expect(v.signer.name).toBe('ec signer');
    flip(join(f, '..', 'payload/motd'));
    expect(await refusal(f)).toMatch(/payload\/motd was changed/);
  });

  it('refuses a key that does not belong to the certificate', async () => {
    const f = folder();
    const other = issue({ subject: 'other', issuer: inter });
    const text = readFileSync(f);
    expect(() => signManifest({ name: 'config.yaml', config: text, payloads: [], key: createPrivateKey(other.keyPem), certificates: chainOf(signer) })).toThrow(/the key does not belong to the certificate "CN=release signer"/);
  });
});

describe('signing keys', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const encrypted = rsa.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'correct horse' }).toString();

  it('decrypts an encrypted PKCS#8 key with its passphrase; a wrong one is named, the key never shown', () => {
    expect(loadSigningKey(encrypted, 'k.pem', 'correct horse').asymmetricKeyType).toBe('rsa');
    let msg = '';
    try {
      loadSigningKey(encrypted, 'k.pem', 'wrong');
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toBe('k.pem: cannot decrypt the key (wrong passphrase?)');
  });

  it('decrypts a traditional encrypted RSA key (openssl -traditional)', () => {
    const trad = rsa.export({ type: 'pkcs1', format: 'pem', cipher: 'aes-128-cbc', passphrase: 'pw' }).toString();
    expect(trad).toMatch(/Proc-Type: 4,ENCRYPTED/);
    expect(loadSigningKey(trad, 'k.pem', 'pw').asymmetricKeyType).toBe('rsa');
  });

  it('refuses weak RSA, other curves and Ed25519', () => {
    const pem = (k: ReturnType<typeof generateKeyPairSync>['privateKey']) => k.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => loadSigningKey(pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey), 'k')).toThrow(/1024 bits is too weak/);
    expect(() => loadSigningKey(pem(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey), 'k')).toThrow(/secp256k1 is not supported/);
    expect(() => loadSigningKey(pem(generateKeyPairSync('ed25519').privateKey), 'k')).toThrow(/ed25519 key is not supported/);
    expect(() => loadSigningKey('garbage', 'k')).toThrow(/k: not a PEM private key/);
  });

  it('flint sign reads the passphrase from stdin, never argv, and flint verify checks the result', async () => {
    const f = folder();
    const d = join(f, '..');
    writeFileSync(join(d, '..', `enc${n}.key`), createPrivateKey(signer.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 's3cret' }));
    writeFileSync(join(d, '..', `cert${n}.pem`), signer.certPem);
    writeFileSync(join(d, '..', `chain${n}.pem`), inter.certPem);
    writeFileSync(join(d, '..', `root${n}.pem`), root.certPem);
    const lines: string[] = [];
    const io: Output = { out: (s) => lines.push(s), err: (s) => lines.push(s), color: false };
    const sio = { readStdin: () => 's3cret\n', askPassphrase: async () => undefined };
    const base = join(d, '..');
    const code = await runSign([f, '--key', join(base, `enc${n}.key`), '--cert', join(base, `cert${n}.pem`), '--chain', join(base, `chain${n}.pem`), '--passphrase-stdin'], io, sio);
    expect(lines.join('\n')).not.toContain('s3cret');
    expect(code).toBe(0);
    expect(await runVerify([f, '--trust', join(base, `root${n}.pem`)], io)).toBe(0);
    expect(lines.join('\n')).toMatch(/good signature by "release signer"/);
    flip(f);
    expect(await runVerify([f, '--trust', join(base, `root${n}.pem`)], io)).toBe(1);
    unlinkSync(sigPath(f));
    expect(await runVerify([f, '--trust', join(base, `root${n}.pem`)], io)).toBe(4);
    // Encrypted, no terminal, no --passphrase-stdin: a clear usage error.
    await expect(runSign([f, '--key', join(base, `enc${n}.key`), '--cert', join(base, `cert${n}.pem`)], io, sio)).rejects.toThrow(/encrypted and there is no terminal/);
  });
});

describe('trust policy', () => {
  it('reads flint.trust= from the kernel command line', () => {
    expect(parseCmdline('flint.trust=required').trust).toBe('required');
    expect(parseCmdline('flint.trust=optional').trust).toBe('optional');
    expect(parseCmdline('flint.trust=off').trust).toBe('off');
    const bad = parseCmdline('flint.trust=maybe');
    expect(bad.trust).toBeUndefined();
    expect(bad.problems).toEqual(['flint.trust=maybe: expected required, optional or off; ignored']);
  });

  it('defaults to required when the initramfs has trust anchors, else off', () => {
    const d = join(tmp, 'trustdir');
    mkdirSync(d);
    expect(effectivePolicy(undefined, loadAnchors(d))).toBe('off');
    cpSync(join(tmp, 'ec', 'inter.pem'), join(d, 'ca.pem'));
    expect(loadAnchors(d)).toHaveLength(1);
    expect(effectivePolicy(undefined, loadAnchors(d))).toBe('required');
    expect(effectivePolicy('optional', loadAnchors(d))).toBe('optional');
    expect(effectivePolicy(undefined, loadAnchors(join(tmp, 'nonexistent')))).toBe('off');
  });
});
