import { Buffer } from 'node:buffer';
import { nodeCrypto } from '../../system/lazy-builtins.js';
import type { Verdict } from './problem.js';

export type AuthorizedKey =
  | { ok: true; type: string; bits: number; comment: string; fingerprint: string; blob: Buffer }
  | { ok: false; problem: Verdict };

/** OpenSSH refuses RSA moduli above this (OPENSSL_RSA_MAX_MODULUS_BITS). */
const RSA_MAX_BITS = 16384;
const RSA_MIN_BITS = 2048;

interface Curve { name: string; jwk: string; bits: number; coordinateBytes: number }
const CURVES: Readonly<Record<string, Curve>> = {
  nistp256: { name: 'nistp256', jwk: 'P-256', bits: 256, coordinateBytes: 32 },
  nistp384: { name: 'nistp384', jwk: 'P-384', bits: 384, coordinateBytes: 48 },
  nistp521: { name: 'nistp521', jwk: 'P-521', bits: 521, coordinateBytes: 66 },
};

type Algorithm = 'ed25519' | 'rsa' | 'ecdsa' | 'sk-ed25519' | 'sk-ecdsa';
/** Plain key types, by how their public key is encoded after the type string. */
const PLAIN_TYPES: ReadonlyMap<string, { algorithm: Algorithm; curve?: Curve }> = new Map([
  ['ssh-ed25519', { algorithm: 'ed25519' }],
  ['ssh-rsa', { algorithm: 'rsa' }],
  ['ecdsa-sha2-nistp256', { algorithm: 'ecdsa', curve: CURVES.nistp256 }],
  ['ecdsa-sha2-nistp384', { algorithm: 'ecdsa', curve: CURVES.nistp384 }],
  ['ecdsa-sha2-nistp521', { algorithm: 'ecdsa', curve: CURVES.nistp521 }],
  ['sk-ssh-ed25519@openssh.com', { algorithm: 'sk-ed25519' }],
  ['sk-ecdsa-sha2-nistp256@openssh.com', { algorithm: 'sk-ecdsa', curve: CURVES.nistp256 }],
]);
const CERT_SUFFIX = '-cert-v01@openssh.com';
const DSA_TYPES = new Set(['ssh-dss', `ssh-dss${CERT_SUFFIX}`]);

/** The plain type a declared type stands for (`x-cert-v01@openssh.com` -> `x`), or undefined. */
function plainTypeOf(type: string): { plain: string; cert: boolean } | undefined {
  if (PLAIN_TYPES.has(type)) return { plain: type, cert: false };
  if (!type.endsWith(CERT_SUFFIX)) return undefined;
  // Certificate names put the suffix before "@openssh.com" of sk- types: sk-ssh-ed25519-cert-v01@openssh.com.
  const stem = type.slice(0, -CERT_SUFFIX.length);
  const plain = PLAIN_TYPES.has(stem) ? stem : `${stem}@openssh.com`;
  return PLAIN_TYPES.has(plain) ? { plain, cert: true } : undefined;
}

function isKnownType(type: string): boolean {
  return plainTypeOf(type) !== undefined || DSA_TYPES.has(type);
}

const fail = (message: string, hint?: string): AuthorizedKey => ({ ok: false, problem: hint === undefined ? { message } : { message, hint } });

const FROM_PUB = 'copy the whole line from the .pub file again (e.g. `cat ~/.ssh/id_ed25519.pub`); it is one line, with no breaks or spaces inside the key data';
const NEW_KEY = 'create an Ed25519 key with `ssh-keygen -t ed25519` and use its .pub file';

/** Reads SSH wire-format fields (RFC 4251) and returns undefined when the data ends early. */
class Reader {
  private pos = 0;
  constructor(readonly data: Buffer) {}
  get offset(): number { return this.pos; }
  get atEnd(): boolean { return this.pos === this.data.length; }
  uint32(): number | undefined {
    if (this.pos + 4 > this.data.length) return undefined;
    const v = this.data.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  uint64(): boolean {
    return this.skip(8);
  }
  bytes(): Buffer | undefined {
    const length = this.uint32();
    if (length === undefined || this.pos + length > this.data.length) return undefined;
    const v = this.data.subarray(this.pos, this.pos + length);
    this.pos += length;
    return v;
  }
  string(): string | undefined {
    return this.bytes()?.toString('latin1');
  }
  private skip(n: number): boolean {
    if (this.pos + n > this.data.length) return false;
    this.pos += n;
    return true;
  }
}

/**
 * One authorized_keys line: [options] type base64-key [comment]. The result
 * gives what `ssh-keygen -lf` prints for the key, or a problem that never
 * quotes private key material.
 */
export function parseAuthorizedKey(line: string): AuthorizedKey {
  const text = line.trim();
  const pasted = checkPastedFormat(text);
  if (pasted) return pasted;
  if (/[\r\n]/.test(text)) return fail('the key is split over several lines; an authorized key is a single line', FROM_PUB);
  const fields = splitLine(text);
  if ('ok' in fields) return fields;
  const { type, blob, comment } = fields;
  const typeProblem = checkType(type);
  if (typeProblem) return typeProblem;
  if (blob === '') return fail(`the ${type} key has no key data after its type`, FROM_PUB);
  const data = decodeBase64(blob);
  if (!Buffer.isBuffer(data)) return data;
  const parsed = parseBlob(type, data);
  if ('ok' in parsed) return parsed;
  const plain = parsed.plainBlob;
  return {
    ok: true,
    type,
    bits: parsed.bits,
    comment,
    blob: plain,
    // Computed on demand: validation compares blobs and need not load node:crypto.
    get fingerprint() {
      return `SHA256:${nodeCrypto().createHash('sha256').update(plain).digest('base64').replace(/=+$/, '')}`;
    },
  };
}

/** Whole files in other formats that people paste instead of a .pub line. */
function checkPastedFormat(text: string): AuthorizedKey | undefined {
  if (text === '') return fail('the key is empty', 'paste the contents of your public key file, e.g. ~/.ssh/id_ed25519.pub');
  if (/^-+ ?BEGIN SSH2 PUBLIC KEY ?-+/.test(text)) {
    return fail('this is a public key in RFC 4716 (SSH2) format; authorized_keys needs the one-line OpenSSH format', 'convert it with `ssh-keygen -i -f KEYFILE` and paste the line it prints');
  }
  if (/^-----BEGIN (RSA |EC )?PUBLIC KEY-----/.test(text)) {
    return fail('this is a PEM public key; authorized_keys needs the one-line OpenSSH format', 'convert it with `ssh-keygen -i -m PKCS8 -f KEYFILE` (or -m PEM for "BEGIN RSA PUBLIC KEY") and paste the line it prints');
  }
  // Anything else in PEM armour is, or may be, a private key: say so without quoting any of it.
  if (text.includes('-----BEGIN') || text.startsWith('PuTTY-User-Key-File-')) {
    return fail('this looks like a private key; never put a private key in a config. Only the public key goes in authorized_keys', 'use the contents of the matching .pub file (e.g. ~/.ssh/id_ed25519.pub), or print it with `ssh-keygen -y -f PRIVATE_KEY_FILE`; treat the pasted private key as exposed and replace it');
  }
  if (text.startsWith('#')) return fail('this is a comment line, not a key', 'remove it, or paste the key line from the .pub file');
  return undefined;
}

type Fields = { type: string; blob: string; comment: string };

/**
 * Splits off the options field, which sshd recognises as "whatever comes
 * before a known key type": it is a comma list whose quoted values may hold
 * spaces and \" escapes.
 */
function splitLine(text: string): Fields | AuthorizedKey {
  const firstWord = /^\S+/.exec(text)?.[0] ?? '';
  if (isKnownType(firstWord)) return splitKey(text);
  if (/^AAAA[A-Za-z0-9+/]/.test(firstWord)) {
    return fail('the key type is missing before the key data', 'copy the whole line from the .pub file, starting with the type, e.g. ssh-ed25519 AAAA…');
  }
  const end = endOfOptions(text);
  if (end === undefined) return fail('the options before the key have an unterminated quote', 'close the quoted option value with "');
  const rest = text.slice(end).trimStart();
  const next = /^\S+/.exec(rest)?.[0] ?? '';
  if (rest === '' || !isKnownType(next)) {
    // "opts TYPE AAAA…": the options are fine, the type after them is not.
    const keyFollows = /^\S+\s+AAAA/.test(rest);
    return unknownType(keyFollows ? next : firstWord);
  }
  return splitKey(rest);
}

function endOfOptions(text: string): number | undefined {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '\\' && text[i + 1] === '"') i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && (c === ' ' || c === '\t')) return i;
  }
  return quoted ? undefined : text.length;
}

function splitKey(text: string): Fields {
  const [type = '', blob = '', ...comment] = text.split(/[ \t]+/);
  return { type, blob, comment: comment.join(' ') };
}

function unknownType(word: string): AuthorizedKey {
  const lower = word.toLowerCase();
  if (word !== lower && isKnownType(lower)) return fail(`the key type "${word}" must be lowercase`, `write ${lower}`);
  return fail(`"${word}" is not an SSH key type that flint accepts (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com, or their certificates)`, FROM_PUB);
}

function checkType(type: string): AuthorizedKey | undefined {
  if (DSA_TYPES.has(type)) {
    return fail('this is a DSA (ssh-dss) key; OpenSSH has disabled DSA since version 7.0 and removed it in 9.8, so it could not log in', NEW_KEY);
  }
  return undefined;
}

function decodeBase64(blob: string): Buffer | AuthorizedKey {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(blob)) {
    return fail('the key data is not valid base64: it has characters other than A-Z, a-z, 0-9, +, / and = padding at the end', FROM_PUB);
  }
  if (blob.length % 4 !== 0) {
    return fail(`the key data is cut short or broken: its length (${blob.length} characters) is not a multiple of 4, as base64 always is`, FROM_PUB);
  }
  return Buffer.from(blob, 'base64');
}

interface ParsedBlob { bits: number; plainBlob: Buffer }

const truncated = (): AuthorizedKey => fail('the key data ends early: the key is cut short', FROM_PUB);

/** Checks the wire-format key and returns the plain key's blob, which is what ssh-keygen fingerprints. */
function parseBlob(type: string, data: Buffer): ParsedBlob | AuthorizedKey {
  const r = new Reader(data);
  const inner = r.string();
  if (inner === undefined) return truncated();
  if (inner !== type) {
    return fail(`the line says the key type is ${type}, but the key data holds a ${printable(inner)} key`, FROM_PUB);
  }
  const kind = plainTypeOf(type);
  if (kind === undefined) return unknownType(type);
  if (kind.cert && r.bytes() === undefined) return truncated(); // nonce
  const keyStart = r.offset;
  const key = parsePublicKey(r, kind.plain);
  if ('ok' in key) return key;
  const keyEnd = r.offset;
  if (kind.cert && !skipCertificateFields(r)) return truncated();
  if (!r.atEnd) return fail('the key data has extra bytes after the key; it is damaged', FROM_PUB);
  const plainBlob = kind.cert ? Buffer.concat([sshString(kind.plain), data.subarray(keyStart, keyEnd)]) : data;
  return { bits: key.bits, plainBlob };
}

function printable(s: string): string {
  return /^[\x21-\x7e]{1,64}$/.test(s) ? `"${s}"` : 'different (unreadable)';
}

function sshString(s: string): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(s.length);
  return Buffer.concat([length, Buffer.from(s, 'latin1')]);
}

function parsePublicKey(r: Reader, plain: string): { bits: number } | AuthorizedKey {
  const spec = PLAIN_TYPES.get(plain);
  if (spec === undefined) return unknownType(plain);
  const key = spec.algorithm === 'rsa' ? rsaKey(r) : spec.curve !== undefined ? ecdsaKey(r, spec.curve) : ed25519Key(r);
  if ('ok' in key || !spec.algorithm.startsWith('sk-')) return key;
  // Security-key types end with the FIDO application string (usually "ssh:").
  return r.string() === undefined ? truncated() : key;
}

function ed25519Key(r: Reader): { bits: number } | AuthorizedKey {
  const pk = r.bytes();
  if (pk === undefined) return truncated();
  if (pk.length !== 32) return fail(`the Ed25519 public key is ${pk.length} bytes long instead of 32; the key is damaged`, FROM_PUB);
  return { bits: 256 };
}

function rsaKey(r: Reader): { bits: number } | AuthorizedKey {
  const e = r.bytes();
  const n = r.bytes();
  if (e === undefined || n === undefined) return truncated();
  if (!isPositiveMpint(e) || !isPositiveMpint(n)) return fail('the RSA key has a zero or negative number in it; the key is damaged', FROM_PUB);
  const bits = bitLength(n);
  if (bits < RSA_MIN_BITS) {
    return fail(`the RSA key has only ${bits} bits; at least ${RSA_MIN_BITS} are needed to be safe, and current OpenSSH refuses keys under 1024`, NEW_KEY);
  }
  if (bits > RSA_MAX_BITS) return fail(`the RSA key has ${bits} bits; OpenSSH accepts at most ${RSA_MAX_BITS}`, NEW_KEY);
  return { bits };
}

/** An mpint (RFC 4251) greater than zero: non-empty, sign bit clear. */
function isPositiveMpint(b: Buffer): boolean {
  return b.length > 0 && ((b[0] ?? 0) & 0x80) === 0 && b.some((x) => x !== 0);
}

function bitLength(b: Buffer): number {
  const first = b.findIndex((x) => x !== 0);
  const top = b[first] ?? 0;
  return (b.length - first - 1) * 8 + (32 - Math.clz32(top));
}

function ecdsaKey(r: Reader, curve: Curve): { bits: number } | AuthorizedKey {
  const name = r.string();
  const point = r.bytes();
  if (name === undefined || point === undefined) return truncated();
  if (name !== curve.name) {
    return fail(`the key type names the curve ${curve.name}, but the key data holds a key on ${printable(name)}`, FROM_PUB);
  }
  const size = curve.coordinateBytes;
  if (point.length !== 1 + 2 * size || point[0] !== 0x04) {
    return fail(`the ECDSA public key is not an uncompressed ${curve.name} point (${1 + 2 * size} bytes starting with 04); the key is damaged`, FROM_PUB);
  }
  if (!isOnCurve(curve, point)) return fail(`the ECDSA public key is not a point on the ${curve.name} curve; the key is damaged`, FROM_PUB);
  return { bits: curve.bits };
}

function isOnCurve(curve: Curve, point: Buffer): boolean {
  const size = curve.coordinateBytes;
  const x = point.subarray(1, 1 + size).toString('base64url');
  const y = point.subarray(1 + size).toString('base64url');
  try {
    nodeCrypto().createPublicKey({ key: { kty: 'EC', crv: curve.jwk, x, y }, format: 'jwk' });
    return true;
  } catch {
    return false;
  }
}

/** The fields that follow the public key in an OpenSSH certificate (PROTOCOL.certkeys). */
function skipCertificateFields(r: Reader): boolean {
  if (!r.uint64()) return false; // serial
  if (r.uint32() === undefined) return false; // type
  const strings = [r.bytes(), r.bytes()]; // key id, principals
  if (!r.uint64() || !r.uint64()) return false; // valid after, valid before
  // critical options, extensions, reserved, signature key, signature
  for (let i = 0; i < 5; i++) strings.push(r.bytes());
  return strings.every((s) => s !== undefined);
}
