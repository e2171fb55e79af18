// Content builders for the SSH part of provisioning: authorized_keys, the sshd
// drop-in and host keys. Pure: they compute file contents, the caller writes them.
import { parseAuthorizedKey } from '../../config/checks/sshkey.js';
import { opensshPrivateKey, opensshPublicKey } from '../../crypt/openssh-key.js';
import { nodeCrypto } from '../../system/lazy-builtins.js';

/**
 * New authorized_keys text: existing lines kept byte for byte (comments,
 * options, order), each config key added once at the end unless the same key
 * (same type and key data, whatever its comment or options) is already there.
 * An existing line with options keeps its restrictions (from=, command=,
 * restrict...): adding an unrestricted copy would lift them, since sshd tries
 * every line that holds the key. A `cert-authority` line is the exception: it
 * trusts certificates signed by the key, not the key itself, so it does not
 * count as the key being present. Returns the same string when nothing is
 * added; throws when a config key is not a valid authorized key line (the
 * config check refuses those first).
 */
export function mergeAuthorizedKeys(existing: string | undefined, keys: readonly string[]): { text: string; added: number } {
  const text = existing ?? '';
  const present = new Set<string>();
  for (const raw of text.split('\n')) {
    const id = keyIdentity(raw.endsWith('\r') ? raw.slice(0, -1) : raw);
    if (id !== undefined) present.add(id);
  }
  const additions: string[] = [];
  for (const [index, key] of keys.entries()) {
    const line = key.trim();
    const id = keyIdentity(line);
    if (id === undefined) {
      const r = parseAuthorizedKey(line);
      throw new Error(`ssh_authorized_keys[${index}] is not a valid key${r.ok ? '' : `: ${r.problem.message}`}`);
    }
    if (present.has(id)) continue;
    present.add(id);
    additions.push(line);
  }
  if (additions.length === 0) return { text, added: 0 };
  const separator = text === '' || text.endsWith('\n') ? '' : '\n';
  return { text: `${text}${separator}${additions.join('\n')}\n`, added: additions.length };
}

/** What makes two authorized_keys lines the same key; undefined for lines sshd would not read as a key. */
function keyIdentity(line: string): string | undefined {
  const r = parseAuthorizedKey(line);
  if (!r.ok) return undefined;
  const ca = hasCertAuthorityOption(line.trim(), r.type);
  return `${ca ? 'cert-authority ' : ''}${r.type} ${r.blob.toString('base64')}`;
}

/** Whether the options before the key type include cert-authority (sshd compares option names case-insensitively). */
function hasCertAuthorityOption(line: string, type: string): boolean {
  if (line.startsWith(`${type} `) || line.startsWith(`${type}\t`)) return false;
  // The options field runs to the first blank outside double quotes; \" escapes a quote inside.
  const options: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] ?? '';
    if (quoted && c === '\\' && line[i + 1] === '"') {
      current += '\\"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
      current += c;
    } else if (!quoted && c === ',') {
      options.push(current);
      current = '';
    } else if (!quoted && (c === ' ' || c === '\t')) {
      break;
    } else {
      current += c;
    }
  }
  options.push(current);
  return options.some((o) => o.toLowerCase() === 'cert-authority');
}

/**
 * Where the sshd drop-in goes. sshd keeps the FIRST value it reads for each
 * keyword, and Debian's (and Ubuntu's, Fedora's, openSUSE's) sshd_config has
 * `Include /etc/ssh/sshd_config.d/*.conf` at its top, so the drop-ins beat the
 * main file, and among them the one that sorts first wins. Distributions and
 * cloud-init use 50-cloud-init.conf, 50-redhat.conf, 60-cloudimg-settings.conf;
 * 10- sorts before all of them, so what the flint config says is what sshd
 * does, and still leaves 00-09 for an administrator's own overrides later.
 * (A distribution whose sshd_config has no such Include ignores the drop-in.)
 */
export const SSHD_DROPIN_PATH = '/etc/ssh/sshd_config.d/10-flint.conf';
export const SSHD_DROPIN_MODE = 0o644;

const PERMIT_ROOT_LOGIN = new Set(['yes', 'no', 'prohibit-password', 'forced-commands-only']);

/**
 * sshd_config.d drop-in text for the ssh: section, or undefined when the
 * section sets no sshd option. Turning passwords off also turns off
 * keyboard-interactive authentication, through which PAM would still ask for
 * the password. It is written under both its names: KbdInteractiveAuthentication
 * (OpenSSH 8.7 and later, where ChallengeResponseAuthentication is a silent
 * alias of it: 9.2 accepts both without a warning), and
 * ChallengeResponseAuthentication, which OpenSSH before 8.7 needs switched off
 * because it turned keyboard-interactive on by itself.
 */
export function sshdDropin(ssh: { password_authentication?: boolean | null; permit_root_login?: string | null }): string | undefined {
  const lines: string[] = [];
  const password = ssh.password_authentication;
  if (password === true) lines.push('PasswordAuthentication yes');
  if (password === false) lines.push('PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'ChallengeResponseAuthentication no');
  const root = ssh.permit_root_login;
  if (root !== undefined && root !== null) {
    if (!PERMIT_ROOT_LOGIN.has(root)) {
      throw new Error(`ssh.permit_root_login must be one of ${[...PERMIT_ROOT_LOGIN].join(', ')}, not ${JSON.stringify(root)}`);
    }
    lines.push(`PermitRootLogin ${root}`);
  }
  if (lines.length === 0) return undefined;
  return [
    '# Written by flint, the first-boot provisioner, from the ssh: section of its config.',
    '# sshd uses the first value it reads for each option, and this file is read before the',
    '# other sshd_config.d files and the rest of sshd_config, so these settings win.',
    ...lines,
    '',
  ].join('\n');
}

export interface HostKey {
  type: 'ed25519' | 'rsa';
  privatePath: string;
  publicPath: string;
  /** Contents of the private key file (OpenSSH format); write it with mode 0600. */
  privateKey: string;
  /** Contents of the .pub file: the public key line and a newline; mode 0644. */
  publicKey: string;
  /** SHA256:..., as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  bits: number;
}

export const HOST_KEY_PRIVATE_MODE = 0o600;
export const HOST_KEY_PUBLIC_MODE = 0o644;
const RSA_HOST_KEY_BITS = 3072; // ssh-keygen's default for RSA keys

/**
 * New ed25519 and RSA (3072-bit) host keys, as `ssh-keygen -A` would make
 * them, at /etc/ssh/ssh_host_{ed25519,rsa}_key(.pub). The comment is usually
 * root@HOSTNAME.
 */
export function generateHostKeys(comment: string): HostKey[] {
  const crypto = nodeCrypto();
  return hostKeysOf(comment, [
    { type: 'ed25519' as const, key: crypto.generateKeyPairSync('ed25519').privateKey },
    { type: 'rsa' as const, key: crypto.generateKeyPairSync('rsa', { modulusLength: RSA_HOST_KEY_BITS }).privateKey },
  ]);
}

/**
 * The same keys, made in Node's thread pool, both types at once: the RSA key takes
 * seconds on a slow machine (8 s under QEMU's TCG), and the rest of the apply goes on
 * meanwhile. The private keys never leave this process.
 */
export async function generateHostKeysAsync(comment: string): Promise<HostKey[]> {
  const crypto = nodeCrypto();
  const make = (type: 'ed25519' | 'rsa') =>
    new Promise<{ type: 'ed25519' | 'rsa'; key: import('node:crypto').KeyObject }>((resolve, reject) => {
      const done = (err: Error | null, _pub: import('node:crypto').KeyObject, key: import('node:crypto').KeyObject) => (err ? reject(err) : resolve({ type, key }));
      if (type === 'rsa') crypto.generateKeyPair('rsa', { modulusLength: RSA_HOST_KEY_BITS }, done);
      else crypto.generateKeyPair('ed25519', {}, done);
    });
  return hostKeysOf(comment, await Promise.all([make('ed25519'), make('rsa')]));
}

function hostKeysOf(comment: string, pairs: ReadonlyArray<{ type: 'ed25519' | 'rsa'; key: import('node:crypto').KeyObject }>): HostKey[] {
  return pairs.map(({ type, key }) => {
    const line = opensshPublicKey(key, comment);
    const parsed = parseAuthorizedKey(line);
    if (!parsed.ok) throw new Error(`generated ${type} host key does not parse: ${parsed.problem.message}`);
    const privatePath = `/etc/ssh/ssh_host_${type}_key`;
    return {
      type,
      privatePath,
      publicPath: `${privatePath}.pub`,
      privateKey: opensshPrivateKey(key, comment),
      publicKey: `${line}\n`,
      fingerprint: parsed.fingerprint,
      bits: parsed.bits,
    };
  });
}
