import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { opensshKeyType, opensshPrivateKey, opensshPublicBlob, opensshPublicKey } from '../../src/crypt/openssh-key.js';

const hasSshKeygen = spawnSync('ssh-keygen', ['-?']).error === undefined;
if (!hasSshKeygen) console.warn('openssh-key: ssh-keygen is not installed, so keys are not checked with it; install openssh-client');

// ---- a reader for the openssh-key-v1 format (PROTOCOL.key), written from the spec

class Reader {
  pos = 0;
  constructor(readonly data: Buffer) {}
  uint32(): number {
    const v = this.data.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  bytes(): Buffer {
    const n = this.uint32();
    if (this.pos + n > this.data.length) throw new Error('string runs past the end');
    const v = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  string(): string {
    return this.bytes().toString('utf8');
  }
}

interface PrivateFile {
  body: Buffer;
  /** Offset in body of the two check integers. */
  checkOffset: number;
  cipher: string;
  kdf: string;
  kdfOptions: Buffer;
  nkeys: number;
  publicBlob: Buffer;
  check1: number;
  check2: number;
  type: string;
  /** The key-type specific private fields, as raw strings/mpints. */
  fields: Buffer[];
  comment: string;
  padding: Buffer;
  lineLengths: number[];
}

function parsePrivateFile(text: string): PrivateFile {
  const lines = text.split('\n');
  expect(lines[0]).toBe('-----BEGIN OPENSSH PRIVATE KEY-----');
  expect(lines.at(-2)).toBe('-----END OPENSSH PRIVATE KEY-----');
  expect(lines.at(-1)).toBe('');
  const b64Lines = lines.slice(1, -2);
  const body = Buffer.from(b64Lines.join(''), 'base64');
  expect(body.subarray(0, 15).toString('latin1')).toBe('openssh-key-v1\0');
  const r = new Reader(body);
  r.pos = 15;
  const cipher = r.string();
  const kdf = r.string();
  const kdfOptions = r.bytes();
  const nkeys = r.uint32();
  const publicBlob = r.bytes();
  const sectionLength = r.uint32();
  const checkOffset = r.pos;
  expect(checkOffset + sectionLength).toBe(body.length);
  const check1 = r.uint32();
  const check2 = r.uint32();
  const type = r.string();
  const count = type === 'ssh-ed25519' ? 2 : type === 'ssh-rsa' ? 6 : 0;
  const fields: Buffer[] = [];
  for (let i = 0; i < count; i++) fields.push(r.bytes());
  const comment = r.string();
  const padding = body.subarray(r.pos);
  return { body, checkOffset, cipher, kdf, kdfOptions, nkeys, publicBlob, check1, check2, type, fields, comment, padding, lineLengths: b64Lines.map((l) => l.length) };
}

function unsigned(mpint: Buffer): Buffer {
  return mpint[0] === 0 ? mpint.subarray(1) : mpint;
}
function toBig(b: Buffer): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`);
}
function fromBig(n: bigint): Buffer {
  const hex = n.toString(16);
  return Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex');
}

/** A node KeyObject holding the same key as an OpenSSH private key file. */
function keyObjectFrom(file: PrivateFile): KeyObject {
  if (file.type === 'ssh-ed25519') {
    const [pk, sk] = file.fields as [Buffer, Buffer];
    return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: pk.toString('base64url'), d: sk.subarray(0, 32).toString('base64url') }, format: 'jwk' });
  }
  const [n, e, d, iqmp, p, q] = file.fields.map(unsigned) as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
  const dBig = toBig(d);
  const jwk = {
    kty: 'RSA',
    n: n.toString('base64url'),
    e: e.toString('base64url'),
    d: d.toString('base64url'),
    p: p.toString('base64url'),
    q: q.toString('base64url'),
    dp: fromBig(dBig % (toBig(p) - 1n)).toString('base64url'),
    dq: fromBig(dBig % (toBig(q) - 1n)).toString('base64url'),
    qi: iqmp.toString('base64url'),
  };
  return createPrivateKey({ key: jwk, format: 'jwk' });
}

function isCanonicalMpint(m: Buffer): boolean {
  if (m.length === 0) return true;
  if (m[0] === 0) return m.length > 1 && ((m[1] ?? 0) & 0x80) !== 0;
  return ((m[0] ?? 0) & 0x80) === 0;
}

function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

// ---- keys shared by the tests (RSA generation takes a moment)

const ed = generateKeyPairSync('ed25519');
const rsa = generateKeyPairSync('rsa', { modulusLength: 3072 });
const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 });

describe('opensshPrivateKey: structure (no external tools)', () => {
  it.each([
    ['ed25519', ed.privateKey],
    ['rsa3072', rsa.privateKey],
    ['rsa2048', rsa2048.privateKey],
  ])('%s: openssh-key-v1, cipher and kdf none, one key, equal checkints, padding 1,2,3…', (_name, key) => {
    for (const comment of ['', 'a', 'root@pi-kitchen', 'üñí cödé']) {
      const text = opensshPrivateKey(key, comment);
      const f = parsePrivateFile(text);
      expect(f.cipher).toBe('none');
      expect(f.kdf).toBe('none');
      expect(f.kdfOptions.length).toBe(0);
      expect(f.nkeys).toBe(1);
      expect(f.check1).toBe(f.check2);
      expect(f.comment).toBe(comment);
      expect(f.publicBlob).toEqual(opensshPublicBlob(key));
      expect(f.type).toBe(opensshKeyType(key));
      // padding makes the private section a multiple of 8 and is 1, 2, 3…
      expect((f.body.length - f.checkOffset) % 8).toBe(0);
      expect(f.padding.length).toBeLessThan(8);
      expect([...f.padding]).toEqual(Array.from({ length: f.padding.length }, (_, i) => i + 1));
      // 70 columns, every line but the last full
      expect(f.lineLengths.slice(0, -1).every((n) => n === 70)).toBe(true);
      expect(f.lineLengths.at(-1)).toBeGreaterThan(0);
      expect(f.lineLengths.at(-1)).toBeLessThanOrEqual(70);
    }
  });

  it('ed25519: pub is 32 bytes, priv is seed||pub (64 bytes), matching the JWK', () => {
    const jwk = ed.privateKey.export({ format: 'jwk' });
    const f = parsePrivateFile(opensshPrivateKey(ed.privateKey, 'c'));
    const [pk, sk] = f.fields as [Buffer, Buffer];
    expect(pk.toString('base64url')).toBe(jwk.x);
    expect(sk.length).toBe(64);
    expect(sk.subarray(0, 32).toString('base64url')).toBe(jwk.d);
    expect(sk.subarray(32)).toEqual(pk);
  });

  it('rsa: n, e, d, iqmp, p, q as canonical mpints (leading 0x00 only when the high bit is set)', () => {
    const jwk = rsa.privateKey.export({ format: 'jwk' });
    const f = parsePrivateFile(opensshPrivateKey(rsa.privateKey, 'c'));
    expect(f.fields.every(isCanonicalMpint)).toBe(true);
    const names = ['n', 'e', 'd', 'qi', 'p', 'q'] as const;
    names.forEach((name, i) => expect(unsigned(f.fields[i] ?? Buffer.alloc(0)).toString('base64url')).toBe(jwk[name]));
    // A 3072-bit modulus has its top bit set, so its mpint starts with 0x00; e = 65537 does not.
    expect(f.fields[0]?.[0]).toBe(0);
    expect(f.fields[0]?.length).toBe(385);
    expect(f.fields[1]).toEqual(Buffer.from([1, 0, 1]));
  });

  it('the check integers are random', () => {
    const a = parsePrivateFile(opensshPrivateKey(ed.privateKey, ''));
    const b = parsePrivateFile(opensshPrivateKey(ed.privateKey, ''));
    const c = parsePrivateFile(opensshPrivateKey(ed.privateKey, ''));
    expect(new Set([a.check1, b.check1, c.check1]).size).toBeGreaterThan(1);
  });

  it('refuses public keys, other key types and comments with line breaks', () => {
    expect(() => opensshPrivateKey(ed.publicKey, '')).toThrow(/private key/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => opensshPrivateKey(ec.privateKey, '')).toThrow(/only ed25519 and rsa/);
    expect(() => opensshPublicKey(ec.publicKey, '')).toThrow(/only ed25519 and rsa/);
    expect(() => opensshPrivateKey(ed.privateKey, 'a\nb')).toThrow(/line breaks/);
    expect(() => opensshPublicKey(ed.privateKey, 'a\rb')).toThrow(/line breaks/);
  });
});

describe('opensshPublicKey', () => {
  it('gives the same line for the private and the public KeyObject', () => {
    expect(opensshPublicKey(ed.privateKey, 'x')).toBe(opensshPublicKey(ed.publicKey, 'x'));
    expect(opensshPublicKey(rsa.privateKey, 'x')).toBe(opensshPublicKey(rsa.publicKey, 'x'));
  });

  it('is "TYPE BASE64 COMMENT", without a trailing blank when the comment is empty', () => {
    const line = opensshPublicKey(ed.publicKey, 'root@pi kitchen');
    expect(line).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43} root@pi kitchen$/);
    expect(opensshPublicKey(ed.publicKey, '')).toMatch(/^ssh-ed25519 \S+$/);
    expect(opensshPublicKey(rsa.publicKey, 'c')).toMatch(/^ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQ[A-Za-z0-9+/]+=* c$/);
  });
});

describe.skipIf(!hasSshKeygen)(`openssh keys against ssh-keygen${hasSshKeygen ? '' : ' (SKIPPED: no ssh-keygen; install openssh-client)'}`, () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flint-openssh-key-'));
  });
  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  function writeKey(name: string, text: string): string {
    const file = join(dir, name);
    writeFileSync(file, text, { mode: 0o600 });
    return file;
  }

  it.each([
    ['ed25519', ed.privateKey, 256, 'ED25519'],
    ['rsa3072', rsa.privateKey, 3072, 'RSA'],
    ['rsa2048', rsa2048.privateKey, 2048, 'RSA'],
  ])('%s: ssh-keygen -y loads our private key and prints our public key', (name, key, bits, kind) => {
    const comment = `root@${name}-host`;
    const file = writeKey(name, opensshPrivateKey(key, comment));
    const printed = execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim();
    const ours = opensshPublicKey(key, comment);
    // ssh-keygen -y appends the comment it found in the private key file.
    expect(printed.split(' ').slice(0, 2)).toEqual(ours.split(' ').slice(0, 2));
    expect(printed).toBe(ours);
    // ssh-keygen -l on the private key file: bits, fingerprint, comment, type.
    const listed = execFileSync('ssh-keygen', ['-l', '-f', file], { encoding: 'utf8' }).trim();
    expect(listed).toBe(`${bits} ${fingerprint(opensshPublicBlob(key))} ${comment} (${kind})`);
  });

  it('ssh-keygen -i -m PKCS8 converts node\'s SPKI RSA public key to our line', () => {
    const pem = writeKey('rsa.pem', rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const converted = execFileSync('ssh-keygen', ['-i', '-m', 'PKCS8', '-f', pem], { encoding: 'utf8' }).trim();
    expect(converted).toBe(opensshPublicKey(rsa.publicKey, ''));
  });

  /** A key made by ssh-keygen, the same key re-serialised by us: identical bytes except for the random checkints. */
  function compareWithKeygen(name: string, args: string[], comment: string): void {
    const file = join(dir, name);
    execFileSync('ssh-keygen', ['-q', '-N', '', '-C', comment, '-f', file, ...args]);
    const theirsText = readFileSync(file, 'utf8');
    const theirs = parsePrivateFile(theirsText);
    const key = keyObjectFrom(theirs);
    const oursText = opensshPrivateKey(key, comment);
    const ours = parsePrivateFile(oursText);
    expect(ours.lineLengths).toEqual(theirs.lineLengths);
    expect(ours.body.length).toBe(theirs.body.length);
    expect(ours.checkOffset).toBe(theirs.checkOffset);
    const patched = Buffer.from(ours.body);
    theirs.body.copy(patched, ours.checkOffset, theirs.checkOffset, theirs.checkOffset + 8);
    expect(patched.equals(theirs.body)).toBe(true);
    expect(opensshPublicKey(key, comment)).toBe(readFileSync(`${file}.pub`, 'utf8').trim());
  }

  it('ed25519: byte for byte what ssh-keygen writes, for every padding length', () => {
    // Comment lengths 0..8 give every remainder modulo the block size.
    for (let length = 0; length <= 8; length++) compareWithKeygen(`kg-ed-${length}`, ['-t', 'ed25519'], 'c'.repeat(length));
    compareWithKeygen('kg-ed-utf8', ['-t', 'ed25519'], 'jörg@küche');
  });

  it('rsa: byte for byte what ssh-keygen writes', () => {
    compareWithKeygen('kg-rsa3072', ['-t', 'rsa', '-b', '3072'], 'root@rsa');
    compareWithKeygen('kg-rsa2048', ['-t', 'rsa', '-b', '2048'], 'x');
  });
});
