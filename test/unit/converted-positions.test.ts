/**
 * Diagnostics of converted configs point at the user's own file and line: each row is an
 * Ignition config or a cloud-init seed (one to three files), and the file:line:col and a
 * fragment of the message of one diagnostic, worked out by hand from the text. Rows
 * with a target run `flint plan` against a temporary root, so target checks are
 * covered too; every other row is `flint validate`'s path (validateAny).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatDiagnostic, pointer } from '../../src/config/diagnostics.js';
import { makeDiagnostic } from '../../src/config/load.js';
import { spanOf } from '../../src/config/validate.js';
import { validateAny } from '../../src/convert/any.js';
import { runPlanOrApply } from '../../src/cli/apply.js';

interface Case {
  name: string;
  /** File name to text; the first is the one given to flint unless `input` says otherwise. */
  files: Record<string, string>;
  /** What flint is given: a file name, or "." for the folder (a NoCloud seed). */
  input?: string;
  /** `file:line:col` of the diagnostic, the file relative to the case's folder. */
  at: string;
  message: RegExp;
  /** The path the diagnostic names, in the user's terms. */
  path?: string;
  /** Run `flint plan` against an empty target root instead of validating. */
  target?: boolean;
  /** Text that must not appear anywhere in the output (a secret). */
  secret?: string;
}

const ED = 'AAAAC3NzaC1lZDI1NTE5AAAAIA2W4ylBpNwsCJJgCIJv6S+GBdb8LJg1OwHVwgsBw43P';
const RSA1024 =
  'AAAAB3NzaC1yc2EAAAADAQABAAAAgQCsvfj8zTYE4bVO6f4JkCD1XD6xbJYlzNrpJzcIHmpsurFSGgQkgXMXQ+8spQr0OWbtY91qTkl08k6pwOqLcHb8Yfg2gA7dnTGWJdseSAQMKrhN/kewAH2Fggp0R6AIVwRLRK8PYFNqEAfKyskcEsJqSRH6b6fHKN7Ts7iDxFPzgQ==';
const MD5 = '$1$abcdefgh$0123456789abcdefghijkl';

/** An Ignition 3.3.0 config: line 1 is `{`, line 2 the version, LINES from line 3 on. */
const ign = (...lines: string[]): string => ['{', '  "ignition": {"version": "3.3.0"},', ...lines, '}', ''].join('\n');

const ignitionCases: Case[] = [
  // Ignition's own checks (positions of the JSON as read).
  { name: 'Ignition: a mode as text', files: { 'c.ign': ign('  "storage": {"files": [', '    {"path": "/etc/motd", "mode": "0644"}', '  ]}') }, at: 'c.ign:4:35', message: /mode must be a whole number/, path: 'storage.files[0].mode' },
  { name: 'Ignition: a path twice', files: { 'c.ign': ign('  "storage": {', '    "files": [{"path": "/etc/x"}],', '    "directories": [{"path": "/etc/x"}]', '  }') }, at: 'c.ign:4:15', message: /duplicate entry defined: \/etc\/x is also storage\.directories\[0\]/, path: 'storage.files[0]' },
  // flint's schema, on the converted config.
  { name: 'Ignition: a negative uid (flint schema)', files: { 'c.ign': ign('  "passwd": {"users": [', '    {"name": "a",', '     "uid": -5}', '  ]}') }, at: 'c.ign:5:13', message: /uid must be at least 0 \(flint's users\[0\]\.uid\)/, path: 'passwd.users[0].uid' },
  // flint's semantic checks.
  { name: 'Ignition: a user name with a space', files: { 'c.ign': ign('  "passwd": {', '    "users": [', '      {"name": "Bad User"}', '    ]', '  }') }, at: 'c.ign:5:16', message: /a user name is up to 32 lower-case letters.*\(flint's users\[0\]\.name\)/, path: 'passwd.users[0].name' },
  { name: 'Ignition: a uid used twice', files: { 'c.ign': ign('  "passwd": {"users": [', '    {"name": "a", "uid": 1000},', '    {"name": "b", "uid": 1000}', '  ]}') }, at: 'c.ign:5:26', message: /uid 1000 is already used by users\[0\]/, path: 'passwd.users[1].uid' },
  { name: 'Ignition: an RSA key of 1024 bits', files: { 'c.ign': ign('  "passwd": {"users": [{', '    "name": "a",', '    "sshAuthorizedKeys": [', `      "ssh-ed25519 ${ED} ok@box",`, `      "ssh-rsa ${RSA1024} old@box"`, '    ]', '  }]}') }, at: 'c.ign:7:7', message: /RSA key has only 1024 bits.*\(flint's users\[0\]\.ssh_authorized_keys\[1\]\)/, path: 'passwd.users[0].sshAuthorizedKeys[1]' },
  { name: 'Ignition: a truncated key', files: { 'c.ign': ign('  "passwd": {"users": [{"name": "a",', `    "sshAuthorizedKeys": ["ssh-ed25519 ${ED.slice(0, 40)} a@b"]`, '  }]}') }, at: 'c.ign:4:27', message: /flint's users\[0\]\.ssh_authorized_keys\[0\]/, path: 'passwd.users[0].sshAuthorizedKeys[0]' },
  { name: 'Ignition: an MD5 password hash, not echoed', files: { 'c.ign': ign('  "passwd": {"users": [{', '    "name": "a",', `    "passwordHash": "${MD5}"`, '  }]}') }, at: 'c.ign:5:21', message: /MD5-crypt.*\(flint's users\[0\]\.password_hash\)/, path: 'passwd.users[0].passwordHash', secret: MD5 },
  { name: 'Ignition: a unit name with a space', files: { 'c.ign': ign('  "systemd": {"units": [', '    {"name": "x y.service", "contents": "[Unit]\\n"}', '  ]}') }, at: 'c.ign:4:14', message: /unit names may only contain.*\(flint's systemd\.units\[0\]\.name\)/, path: 'systemd.units[0].name' },
  { name: 'Ignition: a kernel argument with a space', files: { 'c.ign': ign('  "kernelArguments": {', '    "shouldExist": ["quiet splash"]', '  }') }, at: 'c.ign:4:21', message: /one kernel argument per list item.*\(flint's kernel_arguments\.add\[0\]\)/, path: 'kernelArguments.shouldExist[0]' },
  { name: 'Ignition: an ext4 label too long', files: { 'c.ign': ign('  "storage": {"filesystems": [{', '    "device": "/dev/sdb1", "format": "ext4",', '    "label": "a-label-far-too-long-for-ext4"', '  }]}') }, at: 'c.ign:5:14', message: /label holds at most 16 bytes/, path: 'storage.filesystems[0].label' },
  { name: 'Ignition: a partition type flint does not know (a renamed key)', files: { 'c.ign': ign('  "storage": {"disks": [{"device": "/dev/sdb", "partitions": [', '    {"label": "data", "typeGuid": "nope"}', '  ]}]}') }, at: 'c.ign:4:35', message: /unknown partition type "nope"/, path: 'storage.disks[0].partitions[0].typeGuid' },
  { name: 'Ignition: an owner flint cannot find (below a renamed key)', files: { 'c.ign': ign('  "storage": {"files": [{', '    "path": "/etc/x",', '    "user": {"name": "nobodyx"}', '  }]}') }, at: 'c.ign:5:22', message: /user "nobodyx" is not declared.*\(flint's files\[0\]\.owner\)/, path: 'storage.files[0].user.name' },
  {
    name: 'Ignition: a merged child points at ignition.config',
    files: { 'c.ign': ['{', '  "ignition": {', '    "version": "3.3.0",', `    "config": {"merge": [{"source": "data:,${encodeURIComponent(JSON.stringify({ ignition: { version: '3.3.0' }, passwd: { users: [{ name: 'Bad User' }] } }))}"}]}`, '  }', '}', ''].join('\n') },
    at: 'c.ign:4:5', message: /a user name is up to.*\(flint's users\[0\]\.name; in the config merged from ignition\.config\)/, path: 'ignition.config',
  },
  // Target checks.
  { name: 'Ignition: a shell the target lacks (target)', files: { 'c.ign': ign('  "passwd": {"users": [', '    {"name": "a", "shell": "/bin/zsh"}', '  ]}') }, at: 'c.ign:4:28', message: /the shell \/bin\/zsh does not exist in the target \(flint's users\[0\]\.shell\)/, path: 'passwd.users[0].shell', target: true },
];

const cloudInitCases: Case[] = [
  // The converter's own checks.
  { name: 'cloud-init: permissions that are no mode', files: { 'user-data': '#cloud-config\nwrite_files:\n  - path: /etc/x\n    permissions: rwx\n' }, at: 'user-data:4:18', message: /permissions must be an octal mode/, path: 'write_files[0].permissions' },
  // flint's semantic checks, per seed file.
  { name: 'cloud-init: a misspelt timezone', files: { 'user-data': '#cloud-config\nhostname: pi\ntimezone: Europe/Berln\n' }, at: 'user-data:3:11', message: /\(flint's timezone\)/, path: 'timezone' },
  { name: 'cloud-init: a user name with a space', files: { 'user-data': '#cloud-config\nusers:\n  - name: Bad User\n    shell: /bin/sh\n' }, at: 'user-data:3:11', message: /a user name is up to.*\(flint's users\[0\]\.name\)/, path: 'users[0].name' },
  { name: 'cloud-init: the same file twice', files: { 'user-data': '#cloud-config\nwrite_files:\n  - path: /etc/x\n    content: a\n  - path: /etc/x\n    content: b\n' }, at: 'user-data:5:11', message: /\(flint's files\[1\]\.path\)/, path: 'write_files[1].path' },
  { name: 'cloud-init: a user\'s own RSA key of 1024 bits', files: { 'user-data': `#cloud-config\nusers:\n  - name: a\n    ssh_authorized_keys:\n      - ssh-ed25519 ${ED} ok@box\n      - ssh-rsa ${RSA1024} old@box\n` }, at: 'user-data:6:9', message: /RSA key has only 1024 bits/, path: 'users[0].ssh_authorized_keys[1]' },
  {
    name: 'cloud-init: the default user\'s keys, merged from the top level',
    files: { 'user-data': `#cloud-config\nusers:\n  - default\nssh_authorized_keys:\n  - ssh-ed25519 ${ED} ok@box\n  - ssh-rsa ${RSA1024} old@box\n` },
    at: 'user-data:6:5', message: /RSA key has only 1024 bits.*\(flint's users\[0\]\.ssh_authorized_keys\[1\]\)/, path: 'ssh_authorized_keys[1]',
  },
  {
    name: 'cloud-init: a key from meta-data points into meta-data',
    files: { 'user-data': `#cloud-config\nssh_authorized_keys:\n  - ssh-ed25519 ${ED} ok@box\n`, 'meta-data': `instance-id: i-1\npublic-keys:\n  - ssh-rsa ${RSA1024} old@box\n` },
    input: '.', at: 'meta-data:3:5', message: /RSA key has only 1024 bits.*\(flint's users\[0\]\.ssh_authorized_keys\[1\]\)/, path: 'public-keys[0]',
  },
  { name: 'cloud-init: a hostname from meta-data', files: { 'user-data': '#cloud-config\ntimezone: UTC\n', 'meta-data': 'instance-id: i-1\nlocal-hostname: pi_kitchen\n' }, input: '.', at: 'meta-data:2:17', message: /\(flint's hostname\)/, path: 'local-hostname' },
  { name: 'cloud-init: an MD5 password hash, not echoed', files: { 'user-data': `#cloud-config\nusers:\n  - name: a\n    lock_passwd: false\n    hashed_passwd: "${MD5}"\n` }, at: 'user-data:5:20', message: /MD5-crypt.*\(flint's users\[0\]\.password_hash\)/, path: 'users[0].hashed_passwd', secret: MD5 },
  {
    name: 'cloud-init: an address without a prefix, in network-config',
    files: { 'user-data': '#cloud-config\ntimezone: UTC\n', 'network-config': 'version: 2\nethernets:\n  eth0:\n    addresses:\n      - 192.168.1.300/24\n' },
    input: '.', at: 'network-config:5:9', message: /flint's network\.connections\[0\]\.ipv4\.addresses\[0\]/, path: 'ethernets.eth0.addresses[0]',
  },
  {
    name: 'cloud-init: a gateway outside the subnet, in network-config',
    files: { 'user-data': '#cloud-config\ntimezone: UTC\n', 'network-config': 'network:\n  version: 2\n  ethernets:\n    eth0:\n      addresses: [192.168.1.20/24]\n      gateway4: 192.168.2.1\n' },
    input: '.', at: 'network-config:6:17', message: /flint's network\.connections\[0\]\.ipv4\.gateway/, path: 'network.ethernets.eth0.gateway4',
  },
  {
    name: 'cloud-init: a Wi-Fi password too short, not echoed',
    files: { 'user-data': '#cloud-config\ntimezone: UTC\n', 'network-config': 'version: 2\nwifis:\n  wlan0:\n    regulatory-domain: DE\n    dhcp4: true\n    access-points:\n      Home:\n        password: "Sh0rtPw"\n' },
    input: '.', at: 'network-config:8:19', message: /flint's network\.connections\[0\]\.wifi\.password/, secret: 'Sh0rtPw',
  },
  // Target checks.
  { name: 'cloud-init: a shell the target lacks (target)', files: { 'user-data': '#cloud-config\nusers:\n  - name: a\n    shell: /bin/zsh\n' }, at: 'user-data:4:12', message: /the shell \/bin\/zsh does not exist in the target \(flint's users\[0\]\.shell\)/, path: 'users[0].shell', target: true },
];

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Every diagnostic flint prints for the case, file names relative to its folder. */
async function output(c: Case): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'flint-positions-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(c.files)) writeFileSync(join(dir, name), text);
  const input = c.input === '.' ? dir : join(dir, c.input ?? Object.keys(c.files)[0]!);
  let text: string;
  if (c.target === true) {
    const root = join(dir, 'root');
    mkdirSync(join(root, 'etc'), { recursive: true });
    const lines: string[] = [];
    await runPlanOrApply(['--root', root, input], { out: () => {}, err: (s) => lines.push(s), color: false }, false);
    text = lines.join('\n');
  } else {
    text = validateAny(input).diagnostics.map((d) => formatDiagnostic(d, { color: false })).join('\n\n');
  }
  return text.split(`${dir}/`).join('');
}

describe('diagnostics of converted configs point at the user\'s file and line', () => {
  it('has many rows for each format', () => {
    expect(ignitionCases.length).toBeGreaterThanOrEqual(12);
    expect(cloudInitCases.length).toBeGreaterThanOrEqual(12);
  });
  for (const c of [...ignitionCases, ...cloudInitCases]) {
    it(c.name, async () => {
      const out = await output(c);
      const blocks = out.split(/\n(?=\S)/);
      const block = blocks.find((b) => b.startsWith(`${c.at}: `) && c.message.test(b.split('\n')[0]!));
      expect(block, out).toBeDefined();
      const lines = block!.split('\n');
      // As for a flint config: the line itself, a caret under the column, the path.
      const [, line, column] = c.at.split(':').map(Number);
      expect(lines[1], block).toMatch(new RegExp(`^  ${line} \\| `));
      expect(lines[2]!.indexOf('^') - lines[2]!.indexOf('|') - 1, block).toBe(column);
      if (c.path !== undefined) expect(block).toContain(`\n  path: ${c.path}\n`.trimEnd());
      expect(out).not.toContain('(converted)');
      expect(out).not.toContain('in the converted flint config');
      if (c.secret !== undefined) expect(out).not.toContain(c.secret);
    });
  }
});

describe('Combustion', () => {
  it('a diagnostic at any path of its config points at the script\'s first line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flint-positions-'));
    dirs.push(dir);
    const file = join(dir, 'script');
    writeFileSync(file, '#!/bin/sh\n# combustion: network\necho hi\n');
    const v = validateAny(file);
    expect(v.diagnostics).toEqual([]);
    const loaded = v.loaded!;
    const path = ['scripts', 0, 'source'];
    expect(loaded.nodes.has(pointer(path))).toBe(true);
    const d = makeDiagnostic(loaded, { severity: 'error', code: 'target-sources', message: 'cannot read it', span: spanOf(loaded, path, 'value'), path });
    expect([d.file, d.line, d.column, d.source]).toEqual([file, 1, 1, '#!/bin/sh']);
    expect(d.message).toBe("cannot read it (flint's scripts[0].source)");
  });
});

describe('cloud-init user-data that is a script', () => {
  it('its scripts entry points at the script\'s first line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flint-positions-'));
    dirs.push(dir);
    const file = join(dir, 'user-data');
    writeFileSync(file, '#!/bin/sh\necho hi\n');
    const v = validateAny(file);
    expect(v.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const loaded = v.loaded!;
    const path = ['scripts', 0, 'contents'];
    const d = makeDiagnostic(loaded, { severity: 'error', code: 'target-scripts', message: 'no /bin/sh in the target', span: spanOf(loaded, path, 'value'), path });
    expect([d.file, d.line, d.column, d.source]).toEqual([file, 1, 1, '#!/bin/sh']);
  });
});
