/**
 * The table of invalid configs: each names the exact line, column and path of its
 * error, worked out by hand from the text (line and column are 1-based).
 */
import { describe, expect, it } from 'vitest';
import { validateText } from '../../src/config/validate.js';

interface Case {
  name: string;
  yaml: string;
  line: number;
  column: number;
  path: string;
  code?: string;
  hint?: RegExp;
  file?: string;
}

const RSA1024 =
  'AAAAB3NzaC1yc2EAAAADAQABAAAAgQCsvfj8zTYE4bVO6f4JkCD1XD6xbJYlzNrpJzcIHmpsurFSGgQkgXMXQ+8spQr0OWbtY91qTkl08k6pwOqLcHb8Yfg2gA7dnTGWJdseSAQMKrhN/kewAH2Fggp0R6AIVwRLRK8PYFNqEAfKyskcEsJqSRH6b6fHKN7Ts7iDxFPzgQ==';
const ED = 'AAAAC3NzaC1lZDI1NTE5AAAAIA2W4ylBpNwsCJJgCIJv6S+GBdb8LJg1OwHVwgsBw43P';

const cases: Case[] = [
  { name: 'unknown top-level key', yaml: 'version: 1\nhostnme: pi\n', line: 2, column: 1, path: 'hostnme', code: 'unknown-key', hint: /"hostname"/ },
  {
    name: 'camelCase key from Ignition',
    yaml: 'version: 1\nusers:\n  - name: admin\n    sshAuthorizedKeys: []\n',
    line: 4, column: 5, path: 'users[0].sshAuthorizedKeys', code: 'unknown-key', hint: /"ssh_authorized_keys"/,
  },
  { name: 'unknown key in a nested map', yaml: 'version: 1\nssh:\n  pasword_authentication: false\n', line: 3, column: 3, path: 'ssh.pasword_authentication', code: 'unknown-key', hint: /"password_authentication"/ },
  { name: 'decimal mode 644', yaml: 'version: 1\nfiles:\n  - path: /etc/motd\n    mode: 644\n', line: 4, column: 11, path: 'files[0].mode', code: 'mode-decimal', hint: /0644/ },
  { name: 'decimal mode 420 as Ignition writes it', yaml: 'version: 1\nfiles:\n  - path: /etc/motd\n    mode: 420\n', line: 4, column: 11, path: 'files[0].mode', code: 'mode-decimal', hint: /0644/ },
  { name: 'mode that is no number', yaml: 'version: 1\ndirectories:\n  - {path: /srv, mode: rwx}\n', line: 3, column: 24, path: 'directories[0].mode', code: 'mode' },
  { name: 'missing version', yaml: 'hostname: pi\n', line: 1, column: 1, path: '', code: 'missing-key', hint: /version: 1/ },
  { name: 'wrong version', yaml: 'version: 2\n', line: 1, column: 10, path: 'version', code: 'version' },
  { name: 'duplicate key', yaml: 'version: 1\nhostname: a\nhostname: b\n', line: 3, column: 1, path: '', code: 'duplicate-key' },
  { name: 'broken YAML: unclosed flow list', yaml: 'version: 1\nusers:\n  - name: a\n    groups: [wheel, media\n', line: 5, column: 1, path: '', code: 'syntax' },
  { name: 'broken JSON: missing comma', yaml: '{\n  "version": 1\n  "hostname": "a"\n}\n', line: 3, column: 3, path: '', code: 'syntax', file: 'c.json' },
  { name: 'broken JSON: trailing comma', yaml: '{"version": 1,\n "hostname": "a",\n}\n', line: 3, column: 1, path: '', code: 'syntax', file: 'c.json' },
  { name: 'JSON type error', yaml: '{\n  "version": 1,\n  "users": {"name": "a"}\n}\n', line: 3, column: 12, path: 'users', code: 'type', file: 'c.json' },
  { name: 'hostname with underscore', yaml: 'version: 1\nhostname: pi_kitchen\n', line: 2, column: 11, path: 'hostname', code: 'hostname' },
  { name: 'misspelt timezone', yaml: 'version: 1\ntimezone: Europe/Berln\n', line: 2, column: 11, path: 'timezone', code: 'timezone', hint: /Europe\/Berlin/ },
  { name: 'duplicate user', yaml: 'version: 1\nusers:\n  - name: a\n  - name: a\n', line: 4, column: 11, path: 'users[1].name', code: 'duplicate-user' },
  { name: 'duplicate uid', yaml: 'version: 1\nusers:\n  - {name: a, uid: 1000}\n  - {name: b, uid: 1000}\n', line: 4, column: 20, path: 'users[1].uid', code: 'duplicate-uid' },
  { name: 'duplicate group', yaml: 'version: 1\ngroups:\n  - name: media\n  - name: media\n', line: 4, column: 11, path: 'groups[1].name', code: 'duplicate-group' },
  { name: 'a deleted user with settings', yaml: 'version: 1\nusers:\n  - {name: pi, state: absent, shell: /bin/sh}\n', line: 3, column: 38, path: 'users[0].shell', code: 'absent-with-settings', hint: /remove shell/ },
  { name: 'deleting root', yaml: 'version: 1\nusers:\n  - {name: root, state: absent}\n', line: 3, column: 25, path: 'users[0].state', code: 'absent-root' },
  { name: 'a deleted group a user is put in', yaml: 'version: 1\ngroups:\n  - {name: games, state: absent}\nusers:\n  - {name: a, groups: [games]}\n', line: 5, column: 24, path: 'users[0].groups[0]', code: 'absent-group-used' },
  { name: 'duplicate gid', yaml: 'version: 1\ngroups:\n  - {name: a, gid: 2000}\n  - {name: b, gid: 2000}\n', line: 4, column: 20, path: 'groups[1].gid', code: 'duplicate-gid' },
  { name: 'sudo value not in the list', yaml: 'version: 1\nusers:\n  - name: a\n    sudo: nopassword\n', line: 4, column: 11, path: 'users[0].sudo', code: 'enum', hint: /"nopasswd"/ },
  { name: 'DSA key', yaml: `version: 1\nusers:\n  - name: a\n    ssh_authorized_keys:\n      - ssh-dss AAAAB3NzaC1kc3MAAACBAP a@b\n`, line: 5, column: 9, path: 'users[0].ssh_authorized_keys[0]', code: 'ssh-key' },
  { name: 'key type does not match its blob', yaml: `version: 1\nusers:\n  - name: a\n    ssh_authorized_keys: ["ssh-rsa ${ED} a@b"]\n`, line: 4, column: 27, path: 'users[0].ssh_authorized_keys[0]', code: 'ssh-key' },
  { name: 'RSA key of 1024 bits', yaml: `version: 1\nusers:\n  - name: a\n    ssh_authorized_keys:\n      - ssh-rsa ${RSA1024} old@box\n`, line: 5, column: 9, path: 'users[0].ssh_authorized_keys[0]', code: 'ssh-key' },
  { name: 'truncated key', yaml: `version: 1\nusers:\n  - name: a\n    ssh_authorized_keys:\n      - ssh-ed25519 ${ED.slice(0, 40)} a@b\n`, line: 5, column: 9, path: 'users[0].ssh_authorized_keys[0]', code: 'ssh-key' },
  { name: 'private key pasted', yaml: 'version: 1\nusers:\n  - name: a\n    ssh_authorized_keys:\n      - "-----BEGIN OPENSSH PRIVATE KEY-----"\n', line: 5, column: 9, path: 'users[0].ssh_authorized_keys[0]', code: 'ssh-key' },
  { name: 'MD5 password hash', yaml: 'version: 1\nusers:\n  - name: a\n    password_hash: "$1$abcdefgh$0123456789abcdefghijkl"\n', line: 4, column: 20, path: 'users[0].password_hash', code: 'password-hash' },
  { name: 'DES password hash', yaml: 'version: 1\nusers:\n  - name: a\n    password_hash: "abJnggxhB/yWI"\n', line: 4, column: 20, path: 'users[0].password_hash', code: 'password-hash' },
  { name: 'password and password_hash', yaml: 'version: 1\nusers:\n  - name: a\n    password_hash: "!"\n    password: secret\n', line: 5, column: 5, path: 'users[0].password', code: 'password-and-hash' },
  { name: 'address without prefix', yaml: 'version: 1\nnetwork:\n  connections:\n    - name: lan\n      ipv4: {method: static, addresses: [192.168.1.20]}\n', line: 5, column: 42, path: 'network.connections[0].ipv4.addresses[0]', code: 'address' },
  {
    name: 'gateway outside the subnet',
    yaml: 'version: 1\nnetwork:\n  connections:\n    - name: lan\n      ipv4:\n        method: static\n        addresses: [192.168.1.20/24]\n        gateway: 192.168.2.1\n',
    line: 8, column: 18, path: 'network.connections[0].ipv4.gateway', code: 'gateway-unreachable',
  },
  { name: 'IPv6 address under ipv4', yaml: 'version: 1\nnetwork:\n  connections:\n    - name: lan\n      ipv4:\n        method: static\n        addresses: ["2001:db8::1/64"]\n', line: 7, column: 21, path: 'network.connections[0].ipv4.addresses[0]', code: 'address-family' },
  { name: 'static without addresses', yaml: 'version: 1\nnetwork:\n  connections:\n    - name: lan\n      ipv4:\n        method: static\n', line: 6, column: 9, path: 'network.connections[0].ipv4', code: 'static-needs-address' },
  {
    name: 'Wi-Fi passphrase too short',
    yaml: 'version: 1\nnetwork:\n  wifi_country: DE\n  connections:\n    - name: w\n      type: wifi\n      wifi: {ssid: Home, password: short}\n',
    line: 7, column: 36, path: 'network.connections[0].wifi.password', code: 'wifi-password',
  },
  { name: 'bad MAC', yaml: 'version: 1\nnetwork:\n  connections:\n    - name: lan\n      mac: "dc:a6:32:01:02"\n', line: 5, column: 12, path: 'network.connections[0].mac', code: 'mac' },
  { name: 'interface and mac', yaml: 'version: 1\nnetwork:\n  connections:\n    - name: lan\n      interface: eth0\n      mac: "dc:a6:32:01:02:03"\n', line: 6, column: 7, path: 'network.connections[0].mac', code: 'interface-and-mac' },
  { name: 'wifi block on an ethernet connection', yaml: 'version: 1\nnetwork:\n  connections:\n    - name: lan\n      wifi: {ssid: x}\n', line: 5, column: 7, path: 'network.connections[0].wifi', code: 'type-block' },
  { name: 'path with ..', yaml: 'version: 1\nfiles:\n  - path: /etc/../root/x\n', line: 3, column: 11, path: 'files[0].path', code: 'path' },
  { name: 'relative path', yaml: 'version: 1\ndirectories:\n  - path: srv/web\n', line: 3, column: 11, path: 'directories[0].path', code: 'path' },
  { name: 'same path twice', yaml: 'version: 1\nfiles:\n  - path: /etc/motd\ndirectories:\n  - path: /etc/motd\n', line: 5, column: 11, path: 'directories[0].path', code: 'duplicate-path' },
  { name: 'https without verify', yaml: 'version: 1\nfiles:\n  - path: /etc/x\n    source: https://example.org/x\n', line: 4, column: 13, path: 'files[0].source', code: 'source-verify' },
  { name: 'verify in the wrong form', yaml: 'version: 1\nfiles:\n  - path: /etc/x\n    source: https://example.org/x\n    verify: sha256:abc\n', line: 5, column: 13, path: 'files[0].verify', code: 'verify' },
  { name: 'contents and source', yaml: 'version: 1\nfiles:\n  - path: /etc/x\n    contents: a\n    source: "data:,a"\n', line: 5, column: 5, path: 'files[0].source', code: 'file-contents' },
  { name: 'unit without a suffix', yaml: 'version: 1\nsystemd:\n  units:\n    - name: backup\n', line: 4, column: 13, path: 'systemd.units[0].name', code: 'unit-name' },
  {
    name: 'enabled unit without [Install]',
    yaml: 'version: 1\nsystemd:\n  units:\n    - name: a.service\n      contents: "[Service]\\nExecStart=/bin/true\\n"\n      enabled: true\n',
    line: 6, column: 16, path: 'systemd.units[0].enabled', code: 'no-install',
  },
  { name: 'enabled and masked', yaml: 'version: 1\nsystemd:\n  units:\n    - name: a.service\n      enabled: true\n      masked: true\n', line: 6, column: 7, path: 'systemd.units[0].masked', code: 'enabled-masked' },
  { name: 'upper-case image name', yaml: 'version: 1\ncontainers:\n  - name: web\n    image: docker.io/library/Nginx:1.27\n', line: 4, column: 12, path: 'containers[0].image', code: 'image' },
  { name: 'bad port mapping', yaml: 'version: 1\ncontainers:\n  - name: web\n    image: docker.io/library/nginx:1\n    ports: ["80:80:80:80"]\n', line: 5, column: 13, path: 'containers[0].ports[0]', code: 'port' },
  {
    name: 'decimal size unit',
    yaml: 'version: 1\nstorage:\n  disks:\n    - device: root\n      partitions:\n        - label: var\n          size: 40GB\n',
    line: 7, column: 17, path: 'storage.disks[0].partitions[0].size', code: 'size', hint: /40GiB/,
  },
  {
    name: 'partition label used twice',
    yaml: 'version: 1\nstorage:\n  disks:\n    - device: root\n      partitions:\n        - {label: var, size: 1GiB}\n        - {label: var}\n',
    line: 7, column: 19, path: 'storage.disks[0].partitions[1].label', code: 'duplicate-partlabel',
  },
  { name: 'filesystem with device and partlabel', yaml: 'version: 1\nstorage:\n  filesystems:\n    - device: /dev/sdb1\n      partlabel: var\n      format: ext4\n', line: 5, column: 7, path: 'storage.filesystems[0].partlabel', code: 'filesystem-device' },
  { name: 'hosts match with a bad MAC', yaml: 'version: 1\nhosts:\n  - match: {mac: "dc:a6:32"}\n    hostname: a\n', line: 3, column: 18, path: 'hosts[0].match.mac', code: 'mac' },
  { name: 'hosts match with nothing to match', yaml: 'version: 1\nhosts:\n  - match: {}\n    hostname: a\n', line: 3, column: 12, path: 'hosts[0].match', code: 'host-match' },
  { name: 'hosts entry without match', yaml: 'version: 1\nhosts:\n  - hostname: a\n', line: 3, column: 5, path: 'hosts[0]', code: 'missing-key' },
  { name: 'bad hostname inside hosts', yaml: 'version: 1\nhosts:\n  - match: {serial: "1"}\n    hostname: -bad-\n', line: 4, column: 15, path: 'hosts[0].hostname', code: 'hostname' },
  {
    name: 'host override makes the gateway unreachable',
    yaml: 'version: 1\nnetwork:\n  connections:\n    - name: lan\n      ipv4: {method: static, addresses: [10.0.0.2/24], gateway: 10.0.0.1}\nhosts:\n  - match: {serial: "7"}\n    network:\n      connections:\n        - {name: lan, ipv4: {addresses: [10.1.0.2/24]}}\n',
    line: 5, column: 65, path: 'network.connections[0].ipv4.gateway', code: 'gateway-unreachable',
  },
  { name: 'kernel argument with a space', yaml: 'version: 1\nkernel_arguments:\n  add: ["quiet splash"]\n', line: 3, column: 9, path: 'kernel_arguments.add[0]', code: 'kernel-argument' },
  { name: 'comma in an unquoted flow list', yaml: 'version: 1\nkernel_arguments:\n  add: [console=ttyS0,115200]\n', line: 3, column: 23, path: 'kernel_arguments.add[1]', code: 'type', hint: /quote/ },
  { name: 'users as a map', yaml: 'version: 1\nusers:\n  name: a\n', line: 3, column: 3, path: 'users', code: 'type' },
  { name: 'yes is not a boolean in YAML 1.2', yaml: 'version: 1\nssh:\n  password_authentication: yes\n', line: 3, column: 28, path: 'ssh.password_authentication', code: 'type', hint: /true/ },
  { name: 'quoted number', yaml: 'version: 1\nusers:\n  - name: a\n    uid: "1000"\n', line: 4, column: 10, path: 'users[0].uid', code: 'type', hint: /quotes/ },
  { name: 'uid out of range', yaml: 'version: 1\nusers:\n  - name: a\n    uid: -1\n', line: 4, column: 10, path: 'users[0].uid', code: 'range' },
  { name: 'script without contents', yaml: 'version: 1\nscripts:\n  - name: finish\n', line: 3, column: 5, path: 'scripts[0]', code: 'script-contents' },
  { name: 'Ignition config given', yaml: '{"ignition": {"version": "3.3.0"}}', line: 1, column: 1, path: '', code: 'foreign-format', file: 'c.ign' },
  { name: 'cloud-config given', yaml: '#cloud-config\nusers: []\n', line: 1, column: 1, path: '', code: 'foreign-format' },
  { name: 'empty file', yaml: '', line: 1, column: 1, path: '', code: 'not-a-map' },
];

describe('invalid configs: exact line, column and path', () => {
  it('has at least 40 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });
  for (const c of cases) {
    it(c.name, () => {
      const { diagnostics, config } = validateText(c.file ?? 'c.yaml', c.yaml);
      expect(config).toBeUndefined();
      const errors = diagnostics.filter((d) => d.severity === 'error');
      expect(errors.length, JSON.stringify(diagnostics, null, 1)).toBeGreaterThan(0);
      const first = errors[0]!;
      expect({ line: first.line, column: first.column, path: first.path }, JSON.stringify(errors, null, 1)).toEqual({ line: c.line, column: c.column, path: c.path });
      if (c.code !== undefined) expect(first.code).toBe(c.code);
      if (c.hint !== undefined) expect(first.hint ?? '').toMatch(c.hint);
      // Every diagnostic carries a position, a message and the source line.
      for (const d of diagnostics) {
        expect(d.line).toBeGreaterThanOrEqual(1);
        expect(d.column).toBeGreaterThanOrEqual(1);
        expect(d.message.length).toBeGreaterThan(0);
        expect(typeof d.source).toBe('string');
      }
    });
  }
});

describe('secrets in the source lines of diagnostics', () => {
  const sourceOf = (yaml: string): string => validateText('c.yaml', yaml).diagnostics.map((d) => d.source).join('\n');

  it('masks the value of a secret key cut short ("word:", "passw:")', () => {
    for (const key of ['word', 'passw', 'sswor']) {
      const src = sourceOf(`version: 1\nnetwork:\n  connections:\n    - name: w\n      type: wifi\n      wifi:\n        ssid: x\n        ${key}: hunter2-secret\n`);
      expect(src, key).toContain(`${key}: `);
      expect(src, key).not.toContain('hunter2-secret');
    }
  });

  it('shows ssh.password_authentication, which holds no secret', () => {
    expect(sourceOf('version: 1\nssh:\n  password_authentication: yes\n')).toContain('password_authentication: yes');
  });
});

describe('secrets in messages of documents that do not parse', () => {
  const all = (yaml: string): string => JSON.stringify(validateText('c.yaml', yaml).diagnostics);

  it('a parser message never quotes the source', () => {
    const out = all('version: 1\nusers:\n  - name: a\n    password: | Hunter2-Secret\n');
    expect(out).toContain('YAML syntax');
    expect(out).not.toContain('Hunter2-Secret');
  });

  it('masks a value after a secret-like word that lost its colon', () => {
    const out = all('version: 1\nusers:\n  - name: a\n    plain_text_passw Hunter2-secret\n    shell: [\n');
    expect(out).not.toContain('Hunter2-secret');
  });
});
