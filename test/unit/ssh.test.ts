import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAuthorizedKey } from '../../src/config/checks/sshkey.js';
import { opensshPublicKey } from '../../src/crypt/openssh-key.js';
import { generateHostKeys, mergeAuthorizedKeys, SSHD_DROPIN_PATH, sshdDropin, type HostKey } from '../../src/steps/ssh/sshd.js';

const SSHD = '/usr/sbin/sshd';
const hasSshKeygen = spawnSync('ssh-keygen', ['-?']).error === undefined;

/**
 * As root, `sshd -t` insists on the privilege separation directory /run/sshd,
 * which only sshd's service creates; run as any other user it does not, so a
 * root test run drops to "nobody" for sshd rather than touch /run.
 */
function sshdUser(): { uid: number; gid: number } | undefined {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === 'nobody' && uid !== undefined && gid !== undefined) return { uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}
const isRoot = process.getuid?.() === 0;
const runAs = isRoot ? sshdUser() : undefined;
const sshdSkip = !existsSync(SSHD)
  ? 'no /usr/sbin/sshd; install openssh-server'
  : isRoot && runAs === undefined
    ? 'running as root and there is no "nobody" user to run sshd -t as'
    : undefined;
if (!hasSshKeygen) console.warn('ssh: ssh-keygen is not installed, so host keys are not checked with it; install openssh-client');
if (sshdSkip !== undefined) console.warn(`ssh: sshd checks skipped: ${sshdSkip}`);
const skipped = (why: string | undefined): string => (why === undefined ? '' : ` (SKIPPED: ${why})`);

/** A scratch directory sshd can read when it runs as "nobody". */
function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}
function writeFile(path: string, text: string, mode = 0o644): string {
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
  // sshd refuses a host key that is not owned by the user it runs as.
  if (runAs !== undefined) chownSync(path, runAs.uid, runAs.gid);
  return path;
}
function sshd(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(SSHD, args, { encoding: 'utf8', ...(runAs ?? {}) });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function edLine(comment: string): string {
  return opensshPublicKey(generateKeyPairSync('ed25519').publicKey, comment);
}
function keyData(line: string): string {
  const r = parseAuthorizedKey(line);
  if (!r.ok) throw new Error(r.problem.message);
  return r.blob.toString('base64');
}

// ---- authorized_keys

describe('mergeAuthorizedKeys', () => {
  const a = edLine('admin@laptop');
  const b = edLine('admin@phone');
  const rsa = opensshPublicKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey, 'old rsa key');

  it('creates the file text from nothing, one key per line, newline-terminated', () => {
    expect(mergeAuthorizedKeys(undefined, [a, b])).toEqual({ text: `${a}\n${b}\n`, added: 2 });
    expect(mergeAuthorizedKeys('', [a])).toEqual({ text: `${a}\n`, added: 1 });
  });

  it('returns the same string, added 0, when there is nothing to add', () => {
    expect(mergeAuthorizedKeys(undefined, [])).toEqual({ text: '', added: 0 });
    const existing = `# keys\n${a}`; // no final newline: left alone
    const r = mergeAuthorizedKeys(existing, [a]);
    expect(r.added).toBe(0);
    expect(r.text).toBe(existing);
  });

  it('keeps existing lines byte for byte (comments, blank lines, options, order, CRLF) and appends after them', () => {
    const existing = [
      '# managed by hand',
      '',
      `from="10.0.0.0/8",command="/usr/bin/backup --dest \\"x y\\"",no-pty ${rsa}`,
      '   ',
      `restrict ${b.replace('admin@phone', 'phone, with a comment')}\r`,
      '#ssh-ed25519 AAAAcommented-out',
      'not a key at all',
    ].join('\n');
    const r = mergeAuthorizedKeys(existing, [a]);
    expect(r.added).toBe(1);
    expect(r.text).toBe(`${existing}\n${a}\n`);
    expect(r.text.startsWith(existing)).toBe(true);
  });

  it('does not add a key that is already there with another comment or with options', () => {
    const [type, data] = a.split(' ');
    for (const existing of [
      `${type} ${data}\n`,
      `${type} ${data} someone else\n`,
      `no-agent-forwarding,from="192.168.1.0/24" ${type} ${data} restricted\n`,
      `command="echo cert-authority, x" ${type} ${data}\n`,
      `  ${type}\t${data}\tindented\n`,
    ]) {
      expect(mergeAuthorizedKeys(existing, [a])).toEqual({ text: existing, added: 0 });
    }
  });

  it('adds a key once even when the config lists it twice (with different comments)', () => {
    const [type, data] = a.split(' ');
    expect(mergeAuthorizedKeys(undefined, [a, `${type} ${data} again`, b, a])).toEqual({ text: `${a}\n${b}\n`, added: 2 });
  });

  it('tells keys apart by key data, not by comment', () => {
    const sameComment = edLine('admin@laptop');
    expect(mergeAuthorizedKeys(`${a}\n`, [sameComment]).added).toBe(1);
  });

  it('a commented-out key or a cert-authority line does not count as the key being present', () => {
    const ca = `cert-authority,principals="admin" ${a}\n`;
    expect(mergeAuthorizedKeys(ca, [a])).toEqual({ text: `${ca}${a}\n`, added: 1 });
    const commented = `# ${a}\n`;
    expect(mergeAuthorizedKeys(commented, [a])).toEqual({ text: `${commented}${a}\n`, added: 1 });
  });

  it('is idempotent', () => {
    const first = mergeAuthorizedKeys(`# hi\n${rsa}`, [a, b, rsa]);
    expect(first.added).toBe(2);
    const second = mergeAuthorizedKeys(first.text, [a, b, rsa]);
    expect(second).toEqual({ text: first.text, added: 0 });
    expect(second.text).toBe(first.text);
  });

  it('adds a config key as given, options included, trimmed', () => {
    const withOptions = `restrict,command="uptime" ${b}`;
    expect(mergeAuthorizedKeys(undefined, [`  ${withOptions} \n`]).text).toBe(`${withOptions}\n`);
  });

  it('throws for a config key that is not a key line', () => {
    expect(() => mergeAuthorizedKeys(undefined, [a, 'ssh-ed25519 AAAAnot-base64!'])).toThrow(/ssh_authorized_keys\[1\]/);
    expect(() => mergeAuthorizedKeys(undefined, [`${a}\n${b}`])).toThrow(/several lines/);
  });

  it.skipIf(!hasSshKeygen)(`ssh-keygen -l reads every key of the merged file${skipped(hasSshKeygen ? undefined : 'no ssh-keygen; install openssh-client')}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'flint-authkeys-'));
    try {
      const existing = `# comment\nfrom="10.0.0.1" ${rsa}\n\n`;
      const { text } = mergeAuthorizedKeys(existing, [a, `no-pty ${b}`, rsa]);
      const file = join(dir, 'authorized_keys');
      writeFileSync(file, text);
      const listed = execFileSync('ssh-keygen', ['-l', '-f', file], { encoding: 'utf8' });
      const fingerprints = listed.trim().split('\n').map((l) => l.split(' ')[1]);
      const expected = [rsa, a, b].map((k) => {
        const r = parseAuthorizedKey(k);
        return r.ok ? r.fingerprint : '';
      });
      expect(fingerprints).toEqual(expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- sshd drop-in

describe('sshdDropin', () => {
  it('is undefined when the ssh: section sets no sshd option', () => {
    expect(sshdDropin({})).toBeUndefined();
    expect(sshdDropin({ password_authentication: null, permit_root_login: null })).toBeUndefined();
    const onlyHostKeys: { host_keys: string; password_authentication?: boolean } = { host_keys: 'generate' };
    expect(sshdDropin(onlyHostKeys)).toBeUndefined();
  });

  it('writes a flint comment, then the options', () => {
    expect(sshdDropin({ password_authentication: false, permit_root_login: 'prohibit-password' })).toBe(
      [
        '# Written by flint, the first-boot provisioner, from the ssh: section of its config.',
        '# sshd uses the first value it reads for each option, and this file is read before the',
        '# other sshd_config.d files and the rest of sshd_config, so these settings win.',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'ChallengeResponseAuthentication no',
        'PermitRootLogin prohibit-password',
        '',
      ].join('\n'),
    );
    const on = sshdDropin({ password_authentication: true }) ?? '';
    expect(on.split('\n').filter((l) => !l.startsWith('#'))).toEqual(['PasswordAuthentication yes', '']);
    expect(sshdDropin({ permit_root_login: 'no' })).toMatch(/\nPermitRootLogin no\n$/);
  });

  it('refuses a permit_root_login sshd does not know (and so anything that would inject a line)', () => {
    expect(() => sshdDropin({ permit_root_login: 'maybe' })).toThrow(/permit_root_login/);
    expect(() => sshdDropin({ permit_root_login: 'yes\nPermitEmptyPasswords yes' })).toThrow(/permit_root_login/);
  });

  it('is a .conf file in sshd_config.d that sorts before the drop-ins distributions and cloud-init ship', () => {
    expect(SSHD_DROPIN_PATH).toMatch(/^\/etc\/ssh\/sshd_config\.d\/[^/]+\.conf$/);
    const name = basename(SSHD_DROPIN_PATH);
    for (const other of ['50-cloud-init.conf', '50-redhat.conf', '60-cloudimg-settings.conf', '20-systemd-userdb.conf']) {
      expect([name, other].sort()[0]).toBe(name);
    }
  });

  describe.skipIf(sshdSkip !== undefined)(`with sshd -T${skipped(sshdSkip)}`, () => {
    let dir = '';
    let hostKey = '';
    beforeAll(() => {
      dir = scratchDir('flint-sshd-dropin-');
      mkdirSync(join(dir, 'sshd_config.d'), { mode: 0o755 });
      chmodSync(join(dir, 'sshd_config.d'), 0o755);
      const [ed] = generateHostKeys('root@test');
      hostKey = writeFile(join(dir, 'host_key'), ed?.privateKey ?? '', 0o600);
    });
    afterAll(() => {
      if (dir !== '') rmSync(dir, { recursive: true, force: true });
    });

    /**
     * An sshd_config laid out like Debian's: the Include first, then settings
     * that disagree with the drop-in, plus a cloud-init drop-in that disagrees
     * too. Returns what sshd -T says the effective settings are.
     */
    function effective(dropin: string, opposite: { password: 'yes' | 'no'; root: string }): Map<string, string> {
      writeFile(join(dir, 'sshd_config.d', basename(SSHD_DROPIN_PATH)), dropin);
      writeFile(join(dir, 'sshd_config.d', '50-cloud-init.conf'), `PasswordAuthentication ${opposite.password}\nPermitRootLogin ${opposite.root}\n`);
      const config = writeFile(
        join(dir, 'sshd_config'),
        [
          `Include ${dir}/sshd_config.d/*.conf`,
          `HostKey ${hostKey}`,
          'KbdInteractiveAuthentication yes',
          `PasswordAuthentication ${opposite.password}`,
          `PermitRootLogin ${opposite.root}`,
          'UsePAM yes',
          '',
        ].join('\n'),
      );
      const check = sshd(['-t', '-f', config]);
      expect(check.stderr).toBe(''); // no deprecation or unsupported-option warnings
      expect(check.status).toBe(0);
      const r = sshd(['-T', '-f', config]);
      expect(r.status).toBe(0);
      const settings = new Map<string, string>();
      for (const line of r.stdout.split('\n')) {
        const space = line.indexOf(' ');
        if (space > 0 && !settings.has(line.slice(0, space))) settings.set(line.slice(0, space), line.slice(space + 1));
      }
      return settings;
    }
    // OpenSSH 9.2 prints prohibit-password under its old name.
    const rootLogin = (v: string | undefined): string | undefined => (v === 'without-password' ? 'prohibit-password' : v);

    it('passwords off and root by key only win over sshd_config and 50-cloud-init.conf', () => {
      const s = effective(sshdDropin({ password_authentication: false, permit_root_login: 'prohibit-password' }) ?? '', { password: 'yes', root: 'yes' });
      expect(s.get('passwordauthentication')).toBe('no');
      expect(s.get('kbdinteractiveauthentication')).toBe('no');
      expect(rootLogin(s.get('permitrootlogin'))).toBe('prohibit-password');
    });

    it('passwords on and root login off win too', () => {
      const s = effective(sshdDropin({ password_authentication: true, permit_root_login: 'no' }) ?? '', { password: 'no', root: 'yes' });
      expect(s.get('passwordauthentication')).toBe('yes');
      expect(s.get('permitrootlogin')).toBe('no');
    });

    it.each(['yes', 'no', 'prohibit-password', 'forced-commands-only'])('permit_root_login: %s is what sshd reports', (value) => {
      const s = effective(sshdDropin({ permit_root_login: value }) ?? '', { password: 'yes', root: value === 'yes' ? 'no' : 'yes' });
      expect(rootLogin(s.get('permitrootlogin'))).toBe(value);
    });
  });
});

// ---- host keys

describe('generateHostKeys', () => {
  let keys: HostKey[] = [];
  beforeAll(() => {
    keys = generateHostKeys('root@pi-kitchen');
  });

  it('makes an ed25519 and a 3072-bit RSA key at the usual paths', () => {
    expect(keys.map((k) => [k.type, k.bits, k.privatePath, k.publicPath])).toEqual([
      ['ed25519', 256, '/etc/ssh/ssh_host_ed25519_key', '/etc/ssh/ssh_host_ed25519_key.pub'],
      ['rsa', 3072, '/etc/ssh/ssh_host_rsa_key', '/etc/ssh/ssh_host_rsa_key.pub'],
    ]);
  });

  it('gives OpenSSH private key files, .pub lines with the comment, and SHA256 fingerprints', () => {
    for (const k of keys) {
      expect(k.privateKey).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n([A-Za-z0-9+/=]{1,70}\n)+-----END OPENSSH PRIVATE KEY-----\n$/);
      expect(k.publicKey).toMatch(new RegExp(`^${k.type === 'rsa' ? 'ssh-rsa' : 'ssh-ed25519'} AAAA[A-Za-z0-9+/]+=* root@pi-kitchen\\n$`));
      expect(k.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
      const parsed = parseAuthorizedKey(k.publicKey);
      expect(parsed.ok && parsed.fingerprint).toBe(k.fingerprint);
    }
  });

  it('makes new keys every time', () => {
    const again = generateHostKeys('x');
    expect(again.map((k) => k.fingerprint)).not.toEqual(keys.map((k) => k.fingerprint));
    expect(keyData(again[0]?.publicKey ?? '')).not.toBe(keyData(keys[0]?.publicKey ?? ''));
  });

  describe.skipIf(!hasSshKeygen)(`against ssh-keygen${skipped(hasSshKeygen ? undefined : 'no ssh-keygen; install openssh-client')}`, () => {
    let dir = '';
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'flint-hostkeys-'));
    });
    afterAll(() => {
      if (dir !== '') rmSync(dir, { recursive: true, force: true });
    });

    it('ssh-keygen -y loads each private key and prints its public key', () => {
      for (const k of keys) {
        const file = join(dir, basename(k.privatePath));
        writeFileSync(file, k.privateKey, { mode: 0o600 });
        const printed = execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim();
        expect(printed.split(' ').slice(0, 2)).toEqual(k.publicKey.split(' ').slice(0, 2));
      }
    });

    it('ssh-keygen -l prints the same bits and fingerprint, for the .pub and the private file', () => {
      for (const k of keys) {
        const priv = join(dir, basename(k.privatePath));
        writeFileSync(priv, k.privateKey, { mode: 0o600 });
        const pub = join(dir, basename(k.publicPath));
        writeFileSync(pub, k.publicKey);
        const expected = `${k.bits} ${k.fingerprint} root@pi-kitchen (${k.type.toUpperCase()})`;
        expect(execFileSync('ssh-keygen', ['-lf', pub], { encoding: 'utf8' }).trim()).toBe(expected);
        expect(execFileSync('ssh-keygen', ['-l', '-f', priv], { encoding: 'utf8' }).trim()).toBe(expected);
      }
    });
  });

  describe.skipIf(sshdSkip !== undefined)(`sshd accepts them${skipped(sshdSkip)}`, () => {
    let dir = '';
    let config = '';
    beforeAll(() => {
      dir = scratchDir('flint-hostkeys-sshd-');
      config = writeFile(join(dir, 'sshd_config'), '# minimal config: defaults only\n');
    });
    afterAll(() => {
      if (dir !== '') rmSync(dir, { recursive: true, force: true });
    });

    it('sshd -t -h KEY loads each key, with the fingerprint we report', () => {
      for (const k of keys) {
        const file = writeFile(join(dir, basename(k.privatePath)), k.privateKey, 0o600);
        writeFile(join(dir, basename(k.publicPath)), k.publicKey);
        const r = sshd(['-t', '-d', '-f', config, '-h', file]);
        expect(r.status, r.stderr).toBe(0);
        // debug1: private host key #0: ssh-ed25519 SHA256:...
        expect(r.stderr).toMatch(new RegExp(`private host key #0: \\S+ ${k.fingerprint.replace(/[+/]/g, '\\$&')}`));
      }
    });

    it('sshd -t takes both keys together', () => {
      const args = ['-t', '-f', config];
      for (const k of keys) args.push('-h', writeFile(join(dir, basename(k.privatePath)), k.privateKey, 0o600));
      const r = sshd(args);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    });
  });
});
