import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAuthorizedKey } from '../../src/config/checks/sshkey.js';

const hasSshKeygen = spawnSync('ssh-keygen', ['-?']).error === undefined;

// ---- helpers to build wire-format keys by hand (RFC 4251)

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  return Buffer.concat([u32(b.length), b]);
}
/** An mpint from an unsigned big-endian magnitude: a leading 0 when the sign bit would be set. */
function mpint(magnitude: Buffer): Buffer {
  let m = magnitude;
  while (m.length > 0 && m[0] === 0) m = m.subarray(1);
  return str((m[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), m]) : m);
}
function blob(...parts: Buffer[]): string {
  return Buffer.concat(parts).toString('base64');
}
/** An ssh-rsa line made with node:crypto, for sizes ssh-keygen refuses to generate. */
function nodeRsaLine(bits: number, comment: string): string {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const jwk = publicKey.export({ format: 'jwk' });
  const e = Buffer.from(jwk.e ?? '', 'base64url');
  const n = Buffer.from(jwk.n ?? '', 'base64url');
  return `ssh-rsa ${blob(str('ssh-rsa'), mpint(e), mpint(n))} ${comment}`;
}
function decode(line: string): Buffer {
  return Buffer.from(line.split(' ')[1] ?? '', 'base64');
}
function expectProblem(line: string): { message: string; hint?: string } {
  const r = parseAuthorizedKey(line);
  if (r.ok) throw new Error(`expected a problem for ${line.slice(0, 40)}…`);
  return r.problem;
}

if (!hasSshKeygen) console.warn('checks-sshkey: ssh-keygen is not installed, so keys are not compared with it; install openssh-client');

describe.skipIf(!hasSshKeygen)(`parseAuthorizedKey against ssh-keygen${hasSshKeygen ? '' : ' (SKIPPED: no ssh-keygen; install openssh-client)'}`, () => {
  let dir = '';
  /** name -> public key line */
  const keys = new Map<string, string>();
  const privateKeys = new Map<string, string>();

  function keygen(name: string, args: string[]): void {
    const file = join(dir, name);
    execFileSync('ssh-keygen', ['-q', '-N', '', '-C', `${name}@test host`, '-f', file, ...args]);
    keys.set(name, readFileSync(`${file}.pub`, 'utf8').trim());
    privateKeys.set(name, readFileSync(file, 'utf8'));
  }
  function addPub(name: string, line: string): void {
    writeFileSync(join(dir, `${name}.pub`), `${line}\n`);
    keys.set(name, line);
  }
  function certify(name: string): void {
    execFileSync('ssh-keygen', ['-q', '-s', join(dir, 'ca'), '-I', `${name}-id`, '-n', 'admin', join(dir, `${name}.pub`)]);
    keys.set(`${name}-cert`, readFileSync(join(dir, `${name}-cert.pub`), 'utf8').trim());
  }
  /** What `ssh-keygen -lf` prints: bits, fingerprint, and the type in parentheses. */
  function keygenList(name: string): { bits: number; fingerprint: string } {
    const out = execFileSync('ssh-keygen', ['-lf', join(dir, `${name}.pub`)], { encoding: 'utf8' });
    const m = /^(\d+) (SHA256:\S+) /.exec(out);
    if (!m) throw new Error(`unexpected ssh-keygen output: ${out}`);
    return { bits: Number(m[1]), fingerprint: m[2] ?? '' };
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flint-sshkey-'));
    keygen('ed25519', ['-t', 'ed25519']);
    keygen('rsa2048', ['-t', 'rsa', '-b', '2048']);
    keygen('ecdsa256', ['-t', 'ecdsa', '-b', '256']);
    keygen('ecdsa384', ['-t', 'ecdsa', '-b', '384']);
    keygen('ecdsa521', ['-t', 'ecdsa', '-b', '521']);
    keygen('ca', ['-t', 'ed25519']);
    try {
      keygen('rsa1024', ['-t', 'rsa', '-b', '1024']);
    } catch {
      addPub('rsa1024', nodeRsaLine(1024, 'rsa1024@node'));
    }
    addPub('rsa3072node', nodeRsaLine(3072, 'made by node'));
    // Security-key types need hardware to generate; their public form is plain data.
    const ed = decode(keys.get('ed25519') ?? '');
    const edPk = ed.subarray(ed.length - 32);
    addPub('sk-ed25519', `sk-ssh-ed25519@openssh.com ${blob(str('sk-ssh-ed25519@openssh.com'), str(edPk), str('ssh:'))} yubi`);
    const ec = decode(keys.get('ecdsa256') ?? '');
    const point = ec.subarray(ec.length - 65);
    addPub('sk-ecdsa', `sk-ecdsa-sha2-nistp256@openssh.com ${blob(str('sk-ecdsa-sha2-nistp256@openssh.com'), str('nistp256'), str(point), str('ssh:'))} yubi`);
    for (const name of ['ed25519', 'rsa2048', 'ecdsa384', 'sk-ed25519', 'sk-ecdsa']) certify(name);
  });

  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  const cases: Array<[string, string, number]> = [
    ['ed25519', 'ssh-ed25519', 256],
    ['rsa2048', 'ssh-rsa', 2048],
    ['rsa3072node', 'ssh-rsa', 3072],
    ['ecdsa256', 'ecdsa-sha2-nistp256', 256],
    ['ecdsa384', 'ecdsa-sha2-nistp384', 384],
    ['ecdsa521', 'ecdsa-sha2-nistp521', 521],
    ['sk-ed25519', 'sk-ssh-ed25519@openssh.com', 256],
    ['sk-ecdsa', 'sk-ecdsa-sha2-nistp256@openssh.com', 256],
    ['ed25519-cert', 'ssh-ed25519-cert-v01@openssh.com', 256],
    ['rsa2048-cert', 'ssh-rsa-cert-v01@openssh.com', 2048],
    ['ecdsa384-cert', 'ecdsa-sha2-nistp384-cert-v01@openssh.com', 384],
    ['sk-ed25519-cert', 'sk-ssh-ed25519-cert-v01@openssh.com', 256],
    ['sk-ecdsa-cert', 'sk-ecdsa-sha2-nistp256-cert-v01@openssh.com', 256],
  ];

  it.each(cases)('%s: type, bits and fingerprint match ssh-keygen -lf', (name, type, bits) => {
    const line = keys.get(name) ?? '';
    const r = parseAuthorizedKey(line);
    expect(r).toMatchObject({ ok: true, type, bits });
    expect(r.ok && r.fingerprint).toBe(keygenList(name).fingerprint);
    expect(keygenList(name).bits).toBe(bits);
  });

  it('a certificate has the fingerprint of the key it certifies, as ssh-keygen prints', () => {
    const plain = parseAuthorizedKey(keys.get('ed25519') ?? '');
    const cert = parseAuthorizedKey(keys.get('ed25519-cert') ?? '');
    expect(plain.ok && cert.ok && plain.fingerprint === cert.fingerprint).toBe(true);
  });

  it('returns the comment, spaces included', () => {
    const r = parseAuthorizedKey(keys.get('ed25519') ?? '');
    expect(r.ok && r.comment).toBe('ed25519@test host');
  });

  it('refuses a 1024-bit RSA key and names the bit count', () => {
    const p = expectProblem(keys.get('rsa1024') ?? '');
    expect(p.message).toContain('1024 bits');
    expect(p.message).toContain('2048');
    expect(p.hint).toContain('ed25519');
  });

  it('accepts options before the key, with quoted spaces and escaped quotes', () => {
    const key = keys.get('ed25519') ?? '';
    const line = `command="echo \\"hello world\\"; exit",no-pty,from="10.0.0.0/8,192.168.1.*" ${key}`;
    const r = parseAuthorizedKey(line);
    expect(r).toMatchObject({ ok: true, type: 'ssh-ed25519', comment: 'ed25519@test host' });
    expect(r.ok && r.fingerprint).toBe(keygenList('ed25519').fingerprint);
  });

  it('accepts a cert-authority line', () => {
    expect(parseAuthorizedKey(`cert-authority,principals="admin" ${keys.get('ca') ?? ''}`).ok).toBe(true);
  });

  it.each(['ed25519', 'rsa2048', 'ecdsa256'])('refuses the private key of %s without echoing any of it', (name) => {
    const pem = privateKeys.get(name) ?? '';
    expect(pem).toContain('-----BEGIN OPENSSH PRIVATE KEY-----');
    const p = expectProblem(pem);
    expect(p.message).toContain('private key');
    expect(p.hint).toContain('.pub');
    const text = `${p.message} ${p.hint ?? ''}`;
    for (const l of pem.split('\n').filter((x) => x.length > 0 && !x.startsWith('-----'))) {
      expect(text).not.toContain(l.slice(0, 12));
    }
  });

  it('refuses a PEM private key (BEGIN RSA/EC PRIVATE KEY, PKCS#8) as private', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (const type of ['sec1', 'pkcs8'] as const) {
      const pem = privateKey.export({ format: 'pem', type }).toString();
      const p = expectProblem(pem);
      expect(p.message).toContain('private key');
      expect(`${p.message}${p.hint ?? ''}`).not.toContain(pem.split('\n')[1]?.slice(0, 12) ?? '-');
    }
    expect(expectProblem('-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----').message).toContain('private key');
    expect(expectProblem('PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none').message).toContain('private key');
  });

  it('refuses an RFC 4716 public key and tells how to convert it', () => {
    const rfc = execFileSync('ssh-keygen', ['-e', '-f', join(dir, 'ed25519.pub')], { encoding: 'utf8' });
    const p = expectProblem(rfc);
    expect(p.message).toContain('RFC 4716');
    expect(p.hint).toContain('ssh-keygen -i -f');
  });

  it('refuses a PKCS#8 PEM public key and tells how to convert it', () => {
    const pem = execFileSync('ssh-keygen', ['-e', '-m', 'PKCS8', '-f', join(dir, 'rsa2048.pub')], { encoding: 'utf8' });
    const p = expectProblem(pem);
    expect(p.message).toContain('PEM public key');
    expect(p.hint).toContain('ssh-keygen -i -m PKCS8');
  });

  it('detects a key cut short (length not a multiple of 4)', () => {
    const [type = '', data = ''] = (keys.get('ed25519') ?? '').split(' ');
    const p = expectProblem(`${type} ${data.slice(0, -2)} me`);
    expect(p.message).toContain('cut short');
    expect(p.message).toContain('multiple of 4');
  });

  it('detects a key cut short on a 4-character boundary (decodes, ends early)', () => {
    const [type = '', data = ''] = (keys.get('rsa2048') ?? '').split(' ');
    const p = expectProblem(`${type} ${data.slice(0, -8)}`);
    expect(p.message).toContain('ends early');
  });

  it('detects a key broken across lines, by a newline or by a space', () => {
    const [type = '', data = ''] = (keys.get('ed25519') ?? '').split(' ');
    expect(expectProblem(`${type} ${data.slice(0, 30)}\n${data.slice(30)} me`).message).toContain('several lines');
    expect(expectProblem(`${type} ${data.slice(0, 30)} ${data.slice(30)} me`).hint).toContain('one line');
  });

  it('names both types when the declared type differs from the key data', () => {
    const [, data = ''] = (keys.get('ed25519') ?? '').split(' ');
    const p = expectProblem(`ssh-rsa ${data} me`);
    expect(p.message).toContain('ssh-rsa');
    expect(p.message).toContain('ssh-ed25519');
  });

  it('refuses a cert type whose data holds the plain key', () => {
    const [, data = ''] = (keys.get('ed25519') ?? '').split(' ');
    const p = expectProblem(`ssh-ed25519-cert-v01@openssh.com ${data}`);
    expect(p.message).toContain('ssh-ed25519-cert-v01@openssh.com');
  });

  it('refuses an ECDSA key whose curve name differs from its type', () => {
    const ec = decode(keys.get('ecdsa256') ?? '');
    const point = ec.subarray(ec.length - 65);
    const p = expectProblem(`ecdsa-sha2-nistp256 ${blob(str('ecdsa-sha2-nistp256'), str('nistp384'), str(point))}`);
    expect(p.message).toContain('nistp256');
    expect(p.message).toContain('nistp384');
  });

  it('refuses an ECDSA point that is not on the curve', () => {
    const ec = Buffer.from(decode(keys.get('ecdsa256') ?? ''));
    ec[ec.length - 1] = (ec[ec.length - 1] ?? 0) ^ 1;
    expect(expectProblem(`ecdsa-sha2-nistp256 ${ec.toString('base64')}`).message).toContain('not a point on the nistp256 curve');
  });

  it('refuses key data with bytes after the key', () => {
    const data = Buffer.concat([decode(keys.get('ed25519') ?? ''), Buffer.from([0, 0, 0, 0])]);
    expect(expectProblem(`ssh-ed25519 ${data.toString('base64')}`).message).toContain('extra bytes');
  });

  it('refuses a certificate cut short inside its certificate fields', () => {
    const cert = decode(keys.get('ed25519-cert') ?? '');
    const cut = cert.subarray(0, cert.length - 12);
    expect(expectProblem(`ssh-ed25519-cert-v01@openssh.com ${cut.toString('base64')}`).message).toContain('ends early');
  });
});

describe('parseAuthorizedKey with crafted keys (no ssh-keygen needed)', () => {
  const ed = blob(str('ssh-ed25519'), str(Buffer.alloc(32, 7)));

  it('accepts a well-formed Ed25519 key and computes its SHA256 fingerprint', () => {
    const r = parseAuthorizedKey(`ssh-ed25519 ${ed}`);
    expect(r).toMatchObject({ ok: true, type: 'ssh-ed25519', bits: 256, comment: '' });
    const expected = `SHA256:${createHash('sha256').update(Buffer.from(ed, 'base64')).digest('base64').replace(/=+$/, '')}`;
    expect(r.ok && r.fingerprint).toBe(expected);
    expect(r.ok && r.fingerprint.endsWith('=')).toBe(false);
  });

  it('ignores surrounding whitespace and splits on tabs', () => {
    expect(parseAuthorizedKey(`  ssh-ed25519\t${ed}\tme@host  \n`)).toMatchObject({ ok: true, comment: 'me@host' });
  });

  it.each([
    ['', 'empty'],
    ['   ', 'empty'],
    ['# my laptop', 'comment line'],
    [ed, 'type is missing'],
    ['ssh-ed25519', 'no key data'],
    ['ssh-foo AAAAB3NzaC1yc2E', '"ssh-foo" is not an SSH key type'],
    ['no-pty ssh-foo AAAAB3NzaC1yc2E', '"ssh-foo" is not an SSH key type'],
    ['hello world', '"hello" is not an SSH key type'],
    [`command="unterminated ssh-ed25519 ${ed}`, 'unterminated quote'],
    [`ssh-ed25519 ${ed.slice(0, 8)}*${ed.slice(9)}`, 'not valid base64'],
    [`ssh-ed25519 ${blob(str('ssh-ed25519'), str(Buffer.alloc(31)))}`, '31 bytes long instead of 32'],
    [`ssh-ed25519 ${blob(str('ssh-ed25519'))}`, 'ends early'],
    [`ssh-ed25519 ${blob(u32(1000))}`, 'ends early'],
    [`ssh-rsa ${blob(str('ssh-rsa'), mpint(Buffer.from([1, 0, 1])), str(Buffer.from([0x80, 1])))}`, 'zero or negative'],
    [`ssh-rsa ${blob(str('ssh-rsa'), mpint(Buffer.from([1, 0, 1])), str(Buffer.alloc(0)))}`, 'zero or negative'],
    [`ecdsa-sha2-nistp256 ${blob(str('ecdsa-sha2-nistp256'), str('nistp256'), str(Buffer.alloc(33, 2)))}`, 'not an uncompressed nistp256 point'],
    [`sk-ssh-ed25519@openssh.com ${blob(str('sk-ssh-ed25519@openssh.com'), str(Buffer.alloc(32, 1)))}`, 'ends early'],
  ])('refuses %j (%s)', (line, expected) => {
    expect(expectProblem(line).message).toContain(expected);
  });

  it('gives the lowercase type as a hint for an uppercase one', () => {
    expect(expectProblem(`SSH-ED25519 ${ed}`).hint).toBe('write ssh-ed25519');
  });

  it('refuses DSA keys with a hint to use Ed25519', () => {
    const dss = blob(str('ssh-dss'), mpint(Buffer.alloc(128, 0x55)), mpint(Buffer.alloc(20, 1)), mpint(Buffer.alloc(128, 2)), mpint(Buffer.alloc(128, 3)));
    for (const line of [`ssh-dss ${dss} old`, `no-pty ssh-dss ${dss}`]) {
      const p = expectProblem(line);
      expect(p.message).toContain('DSA');
      expect(p.message).toContain('7.0');
      expect(p.hint).toContain('ssh-keygen -t ed25519');
    }
  });

  it('measures RSA modulus bits from the mpint, ignoring its leading zero byte', () => {
    const n = Buffer.alloc(256, 0xff); // 2048 bits, needs a leading 0 in the mpint
    const r = parseAuthorizedKey(`ssh-rsa ${blob(str('ssh-rsa'), mpint(Buffer.from([1, 0, 1])), mpint(n))}`);
    expect(r).toMatchObject({ ok: true, bits: 2048 });
    const short = Buffer.concat([Buffer.from([0x7f]), Buffer.alloc(255, 0xff)]); // 2047 bits
    expect(expectProblem(`ssh-rsa ${blob(str('ssh-rsa'), mpint(Buffer.from([1, 0, 1])), mpint(short))}`).message).toContain('2047 bits');
  });

  it('refuses an RSA key above 16384 bits', () => {
    const n = Buffer.alloc(2049, 0x11);
    expect(expectProblem(`ssh-rsa ${blob(str('ssh-rsa'), mpint(Buffer.from([3])), mpint(n))}`).message).toContain('at most 16384');
  });
});
