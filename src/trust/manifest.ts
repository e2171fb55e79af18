/**
 * Signed configs: a detached, signed manifest `CONFIG.sig` beside the config that lists
 * the SHA-256 of the config and of every payload it names (docs/signing.md has the
 * format). The signature is over the manifest's exact bytes, which the file carries as
 * a string, so no canonical JSON form is needed. node:crypto signs and verifies (RSA
 * and ECDSA alike; node-forge has no ECDSA).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import type { KeyObject, X509Certificate } from 'node:crypto';
import { validateAny } from '../convert/any.js';
import { sniffFormat } from '../config/format.js';
import { nodeCrypto } from '../system/lazy-builtins.js';
import { payloadPaths } from '../steps/payloads.js';
import { readMediumFile } from '../system/fetch.js';
import { parseCertificates, TrustError, verifyChain } from './chain.js';
import type { Signer } from './chain.js';

export const SIGNATURE_FORMAT = 1;
export const SIG_SUFFIX = '.sig';

/** What the signature covers, as signed. */
export interface Manifest {
  /** The config's SHA-256 (lower-case hex) and the name it was signed under (informative). */
  config: { name: string; sha256: string };
  /** Payload path relative to the config's folder -> SHA-256 (lower-case hex). */
  payloads: Record<string, string>;
  /** When it was signed (ISO 8601, the signer's clock; informative). */
  signed_at: string;
}

/** The file CONFIG.sig. */
export interface SignatureFile {
  flint_signature: 1;
  /** The manifest's JSON text: the exact bytes the signature is over. */
  manifest: string;
  /** Signature algorithm: SHA-256 with the certificate's key (RSA PKCS#1 v1.5 or ECDSA, DER). */
  algorithm: 'sha256';
  signature: string;
  /** The signer's certificate first, then intermediates, in PEM. */
  certificates: string[];
}

export interface Verified {
  signer: Signer;
  signedAt: string;
  /** The payloads checked, relative to the config's folder. */
  payloads: string[];
}

export function sigPath(configFile: string): string {
  return configFile + SIG_SUFFIX;
}

function sha256(data: Buffer | string): string {
  return nodeCrypto().createHash('sha256').update(data).digest('hex');
}

/** Files flint itself puts beside a config: never payloads. */
function isOwnFile(rel: string): boolean {
  return rel.endsWith(SIG_SUFFIX) || rel === 'RESULT.txt' || rel === 'result.json';
}

/**
 * The payloads CONFIGFILE names, relative to its folder: its `file:` sources, image
 * archives and script files (media/prepare.ts takes the same list onto a medium); for a
 * Combustion script every file in its folder, which is its working directory.
 */
export function referencedPayloads(configFile: string, text: string): string[] {
  const format = sniffFormat(configFile, text);
  if (format === 'combustion') {
    const dir = dirname(configFile);
    return readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile())
      .map((e) => relative(dir, join(e.parentPath ?? e.path, e.name)))
      .filter((rel) => rel !== basename(configFile) && !isOwnFile(rel))
      .sort();
  }
  const v = validateAny(configFile, text);
  return v.config === undefined ? [] : payloadPaths(v.config as unknown as Record<string, unknown>);
}

export interface SignInput {
  /** The config's name (recorded, informative) and bytes. */
  name: string;
  config: Buffer;
  payloads: ReadonlyArray<{ rel: string; data: Buffer }>;
  key: KeyObject;
  /** The signer's certificate, then the intermediates. */
  certificates: readonly X509Certificate[];
  now?: Date;
}

/** The text of CONFIG.sig for INPUT. */
export function signManifest(input: SignInput): string {
  const leaf = input.certificates[0];
  if (leaf === undefined) throw new TrustError('no signing certificate');
  if (!leaf.checkPrivateKey(input.key)) throw new TrustError(`the key does not belong to the certificate "${leaf.subject.replace(/\n/g, ', ')}"`);
  const payloads: Record<string, string> = {};
  for (const p of [...input.payloads].sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0))) payloads[p.rel] = sha256(p.data);
  const manifest: Manifest = { config: { name: input.name, sha256: sha256(input.config) }, payloads, signed_at: (input.now ?? new Date()).toISOString() };
  const text = JSON.stringify(manifest, null, 2);
  const signature = nodeCrypto().sign('sha256', Buffer.from(text, 'utf8'), input.key).toString('base64');
  const file: SignatureFile = { flint_signature: SIGNATURE_FORMAT, manifest: text, algorithm: 'sha256', signature, certificates: input.certificates.map((c) => c.toString()) };
  return JSON.stringify(file, null, 2) + '\n';
}

/** Reads the payloads CONFIGFILE names, for signing; a missing one is an error. */
export async function readPayloads(configFile: string, text: string): Promise<Array<{ rel: string; data: Buffer }>> {
  const dir = dirname(configFile);
  const out: Array<{ rel: string; data: Buffer }> = [];
  for (const rel of referencedPayloads(configFile, text)) {
    try {
      out.push({ rel, data: await readMediumFile(dir, rel) });
    } catch (e) {
      throw new TrustError(`the payload file:${rel} ${(e as Error).message}`);
    }
  }
  return out;
}

/** The signature file parsed and checked for shape; TrustError for a truncated or garbage file. */
export function parseSignatureFile(text: string, where: string): { file: SignatureFile; manifest: Manifest } {
  let file: Partial<SignatureFile>;
  try {
    file = JSON.parse(text) as Partial<SignatureFile>;
  } catch {
    throw new TrustError(`${where} is not a flint signature: it is not JSON (truncated or garbage?)`);
  }
  if (typeof file !== 'object' || file === null || file.flint_signature !== SIGNATURE_FORMAT) throw new TrustError(`${where} is not a flint signature (format ${SIGNATURE_FORMAT} expected)`);
  if (file.algorithm !== 'sha256' || typeof file.manifest !== 'string' || typeof file.signature !== 'string' || !Array.isArray(file.certificates) || file.certificates.some((c) => typeof c !== 'string')) {
    throw new TrustError(`${where} is incomplete: it needs algorithm "sha256", manifest, signature and certificates`);
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(file.manifest) as Manifest;
  } catch {
    throw new TrustError(`${where}: its manifest is not JSON`);
  }
  if (typeof manifest.config?.sha256 !== 'string' || typeof manifest.payloads !== 'object' || manifest.payloads === null || typeof manifest.signed_at !== 'string') {
    throw new TrustError(`${where}: its manifest lacks config.sha256, payloads or signed_at`);
  }
  return { file: file as SignatureFile, manifest };
}

export interface VerifyOptions {
  anchors: readonly X509Certificate[];
  /** The clock certificates are checked against. */
  now?: Date;
}

/**
 * Verifies CONFIGFILE against CONFIGFILE.sig: the signature over the manifest, the
 * chain to ANCHORS, the config's hash and every payload's. Throws TrustError with the
 * reason (naming the signer once the signature is known to be theirs).
 */
export async function verifyConfig(configFile: string, opts: VerifyOptions): Promise<Verified> {
  const where = basename(sigPath(configFile));
  if (!existsSync(sigPath(configFile))) throw new UnsignedError(`the config is not signed (no ${where} beside it)`);
  const { file, manifest } = parseSignatureFile(readFileSync(sigPath(configFile), 'utf8'), where);
  const certs = parseCertificates(file.certificates.join('\n'), `${where}: certificates`);
  const sig = Buffer.from(file.signature, 'base64');
  let good: boolean;
  try {
    good = nodeCrypto().verify('sha256', Buffer.from(file.manifest, 'utf8'), certs[0]!.publicKey, sig);
  } catch {
    good = false;
  }
  if (!good) throw new TrustError(`${where}: the signature does not match its manifest and certificate (made with another key, or the manifest was altered)`);
  const signer = verifyChain(certs, opts.anchors, opts.now ?? new Date());
  const by = `signed by "${signer.name}" (SHA256 ${signer.fingerprint})`;
  try {
    const checked = await checkContent(configFile, manifest);
    return { signer, signedAt: manifest.signed_at, payloads: checked };
  } catch (e) {
    if (e instanceof TrustError) throw new TrustError(`${e.message}; ${by}`);
    throw e;
  }
}

/** Thrown when there is no signature at all (a policy may allow that). */
export class UnsignedError extends TrustError {}

async function checkContent(configFile: string, manifest: Manifest): Promise<string[]> {
  const data = readFileSync(configFile);
  const dir = dirname(configFile);
  const listed = new Map(Object.entries(manifest.payloads));
  // Before the config's own hash: a config edited to name a new payload is best told by that payload.
  const named = referencedPayloads(configFile, data.toString('utf8'));
  for (const rel of named) if (!listed.has(rel)) throw new TrustError(`the payload ${rel} is named by the config but not covered by the signature (added after signing?)`);
  if (sha256(data) !== manifest.config.sha256) throw new TrustError(`the config ${basename(configFile)} was changed after it was signed (its SHA-256 differs)`);
  for (const [rel, hash] of listed) {
    let bytes: Buffer;
    try {
      bytes = await readMediumFile(dir, rel);
    } catch (e) {
      throw new TrustError(`the signed payload ${rel} ${(e as Error).message.startsWith('not found') ? 'is missing' : (e as Error).message}`);
    }
    if (sha256(bytes) !== hash) throw new TrustError(`the payload ${rel} was changed after it was signed (its SHA-256 differs)`);
  }
  return [...listed.keys()];
}
