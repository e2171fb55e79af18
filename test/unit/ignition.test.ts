/**
 * Reading Ignition configs: per-version validation with positions, and translation of
 * each feature into the native flint config (which must itself validate).
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { fromIgnition, looksLikeIgnition } from '../../src/convert/ignition.js';
import { mergeConfigs } from '../../src/convert/ignition-merge.js';
import { validateText } from '../../src/config/validate.js';
import type { Diagnostic } from '../../src/config/diagnostics.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA2W4ylBpNwsCJJgCIJv6S+GBdb8LJg1OwHVwgsBw43P admin@laptop';
const HASH = '$6$OracleSalt1$Czqcp6Yi60Rjk7IfBxjelcb5QX0W/ipCQjtQM0WgOpgY0G259JsHVT2rmdyjJzh3D0uVpNb42y5s6e26wy7ae/';

function ign(version: string, rest: Record<string, unknown> = {}): string {
  return JSON.stringify({ ignition: { version }, ...rest }, null, 2);
}

function convert(version: string, rest: Record<string, unknown> = {}) {
  return fromIgnition('c.ign', ign(version, rest));
}

/** The config, after checking that there is no error and that flint's validator accepts it. */
function ok(version: string, rest: Record<string, unknown> = {}): Record<string, unknown> {
  const r = convert(version, rest);
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  expect(r.config).toBeDefined();
  const v = validateText('out.json', JSON.stringify(r.config));
  expect(v.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.config!;
}

function errors(r: { diagnostics: Diagnostic[] }): Diagnostic[] {
  return r.diagnostics.filter((d) => d.severity === 'error');
}

function warnings(r: { diagnostics: Diagnostic[] }): Diagnostic[] {
  return r.diagnostics.filter((d) => d.severity === 'warning');
}

const data = (s: string) => `data:,${encodeURIComponent(s)}`;
const b64 = (b: Buffer | string) => `data:;base64,${Buffer.from(b).toString('base64')}`;

describe('looksLikeIgnition', () => {
  it('knows an Ignition config from a flint one and from other JSON', () => {
    expect(looksLikeIgnition('{"ignition": {"version": "3.3.0"}}')).toBe(true);
    expect(looksLikeIgnition('  {\n  "ignition": {\n    "version": "3.0.0"\n  },\n  "storage": {,}\n')).toBe(true);
    expect(looksLikeIgnition('version: 1\nhostname: a\n')).toBe(false);
    expect(looksLikeIgnition('{"version": 1, "hostname": "a"}')).toBe(false);
    expect(looksLikeIgnition('#cloud-config\nusers: []\n')).toBe(false);
  });
});

describe('versions', () => {
  it.each(['3.0.0', '3.1.0', '3.2.0', '3.3.0', '3.4.0', '3.5.0', '3.6.0'])('reads spec %s', (v) => {
    expect(ok(v)).toEqual({ version: 1 });
  });

  it.each([
    ['2.3.0', /spec 2\.x/],
    ['3.4.0-experimental', /stable/],
    ['3.7.0', /3\.0\.0, 3\.1\.0/],
    ['4.0.0', /3\.6\.0/],
  ])('refuses %s with the supported versions', (v, hint) => {
    const r = convert(v);
    expect(r.config).toBeUndefined();
    expect(errors(r)).toHaveLength(1);
    expect(errors(r)[0]).toMatchObject({ path: 'ignition.version', line: 3, column: 16, code: 'ignition-version' });
    expect(errors(r)[0]!.hint).toMatch(hint);
  });

  it('refuses a config without ignition.version', () => {
    const r = fromIgnition('c.ign', '{"ignition": {}}');
    expect(errors(r)[0]).toMatchObject({ path: 'ignition.version', line: 1, column: 2, code: 'ignition-version' });
  });

  it.each([
    ['3.0.0', { kernelArguments: { shouldExist: ['quiet'] } }, 'kernelArguments', '3.3.0'],
    ['3.0.0', { storage: { filesystems: [{ device: '/dev/vdb', format: 'ext4', mountOptions: ['noatime'] }] } }, 'storage.filesystems[0].mountOptions', '3.1.0'],
    ['3.1.0', { storage: { luks: [] } }, 'storage.luks', '3.2.0'],
    ['3.1.0', { passwd: { users: [{ name: 'a', shouldExist: true }] } }, 'passwd.users[0].shouldExist', '3.2.0'],
    ['3.0.0', { storage: { files: [{ path: '/a', contents: { source: data('x'), compression: 'gzip' } }] } }, 'storage.files[0].contents.compression', '3.1.0'],
    ['3.0.0', { ignition: { version: '3.0.0', proxy: { httpsProxy: 'http://p' } } }, 'ignition.proxy', '3.1.0'],
    ['3.3.0', { storage: { luks: [{ name: 'x', device: '/dev/vdb', discard: true }] } }, 'storage.luks[0].discard', '3.4.0'],
    ['3.4.0', { storage: { luks: [{ name: 'x', device: '/dev/vdb', cex: { enabled: true } }] } }, 'storage.luks[0].cex', '3.5.0'],
  ])('a key from a newer spec in %s is an error naming the version (%s)', (v, rest, path, since) => {
    const r = fromIgnition('c.ign', ign(v, rest as Record<string, unknown>));
    const e = errors(r).find((d) => d.code === 'ignition-newer-key');
    expect(e).toMatchObject({ path });
    expect(e!.message).toContain(`added in spec ${since}`);
    expect(e!.hint).toContain(`"${since}"`);
  });

  it('sha256 verification needs 3.1.0', () => {
    const h = `sha256-${createHash('sha256').update('x').digest('hex')}`;
    const rest = { storage: { files: [{ path: '/a', contents: { source: data('x'), verification: { hash: h } } }] } };
    expect(errors(convert('3.0.0', rest))[0]!.message).toMatch(/added in spec 3\.1\.0/);
    expect(ok('3.1.0', rest).files).toEqual([{ path: '/a', contents: 'x', overwrite: false }]);
  });

  it('filesystem format none exists from 3.3.0', () => {
    const rest = { storage: { filesystems: [{ device: '/dev/vdb', format: 'none' }] } };
    expect(errors(convert('3.2.0', rest))[0]).toMatchObject({ path: 'storage.filesystems[0].format' });
    const r = convert('3.3.0', rest);
    expect(errors(r)).toEqual([]);
    expect(warnings(r).map((d) => d.path)).toContain('storage.filesystems[0].format');
  });
});

describe('positions', () => {
  it('broken JSON: the first bad character, by JSON rules, even without .ign in the name', () => {
    const text = '{\n  "ignition": {"version": "3.3.0"},\n  "storage": {"files": [],}\n}\n';
    for (const file of ['c.ign', 'config', 'user-data.json']) {
      const r = fromIgnition(file, text);
      expect(r.config).toBeUndefined();
      expect(errors(r)).toHaveLength(1);
      // The "}" after the trailing comma: line 3, column 27.
      expect(errors(r)[0]).toMatchObject({ file, line: 3, column: 27, code: 'syntax' });
      // The line is shown with its values masked: a broken file may hide a secret anywhere.
      expect(errors(r)[0]!.source).toMatch(/^ {2}"\*+": \{"\*+": \[\],\}$/);
    }
  });

  it('a missing comma', () => {
    const r = fromIgnition('c.ign', '{\n  "ignition": {"version": "3.3.0"}\n  "passwd": {}\n}\n');
    expect(errors(r)[0]).toMatchObject({ line: 3, column: 3, code: 'syntax' });
  });

  it('wrong types: the value, with its path', () => {
    const text = [
      '{',
      '  "ignition": {"version": "3.3.0"},',
      '  "storage": {',
      '    "files": [{"path": "/etc/a", "mode": "0644"}],',
      '    "directories": {"path": "/srv"}',
      '  },',
      '  "passwd": {"users": [{"name": "a", "uid": "1000", "groups": "sudo", "system": "yes"}]}',
      '}',
    ].join('\n');
    const r = fromIgnition('c.ign', text);
    const got = errors(r).map((d) => [d.path, d.line, d.column]);
    expect(got).toEqual([
      ['storage.files[0].mode', 4, 42],
      ['storage.directories', 5, 20],
      ['passwd.users[0].uid', 7, 45],
      ['passwd.users[0].groups', 7, 63],
      ['passwd.users[0].system', 7, 81],
    ]);
    expect(errors(r)[0]!.message).toBe('storage.files[0].mode must be a whole number, not text');
    expect(errors(r)[0]!.hint).toBe('Ignition modes are decimal numbers: write 420 for 0644');
    expect(errors(r)[2]!.hint).toBe('remove the quotes');
  });

  it('unknown keys are warnings at the key, with a suggestion, and the config still converts', () => {
    const text = '{\n  "ignition": {"version": "3.3.0"},\n  "passwd": {"users": [{"name": "a", "sshAuthorizedKey": []}]}\n}\n';
    const r = fromIgnition('c.ign', text);
    expect(errors(r)).toEqual([]);
    expect(warnings(r)[0]).toMatchObject({ path: 'passwd.users[0].sshAuthorizedKey', line: 3, column: 38, code: 'unused-key', hint: 'did you mean "sshAuthorizedKeys"?' });
    expect(r.config).toEqual({ version: 1, users: [{ name: 'a' }] });
  });

  it('semantic errors carry Ignition\'s message and a position', () => {
    const text = [
      '{"ignition": {"version": "3.2.0"},',
      ' "storage": {"files": [',
      '   {"path": "etc/a"},',
      '   {"path": "/etc/../b", "overwrite": true},',
      '   {"path": "/c", "mode": 99999, "user": {"id": 1, "name": "x"}},',
      '   {"path": "/d", "contents": {"source": "ftp://h/x", "verification": {"hash": "md5-00"}}},',
      '   {"path": "/c"}',
      ' ]},',
      ' "systemd": {"units": [{"name": "foo", "contents": "[Service\\n"}, {"name": "a.service", "dropins": [{"name": "x.txt"}]}]}',
      '}',
    ].join('\n');
    const got = errors(fromIgnition('c.ign', text)).map((d) => `${d.line}:${d.column} ${d.path}: ${d.message}`);
    expect(got).toEqual([
      '3:13 storage.files[0].path: path not absolute: etc/a',
      '4:13 storage.files[1].path: path is not fully simplified: /etc/../b',
      '4:39 storage.files[1].overwrite: overwrite must be false if source is unspecified',
      '5:27 storage.files[2].mode: illegal file mode 99999 (octal 303237)',
      '5:42 storage.files[2].user: cannot set both id and name',
      '6:42 storage.files[3].contents.source: invalid url scheme "ftp" in storage.files[3].contents.source',
      '6:80 storage.files[3].contents.verification.hash: unrecognized hash function in storage.files[3].contents.verification.hash',
      '7:4 storage.files[4]: duplicate entry defined: /c is also storage.files[2]',
      '9:33 systemd.units[0].name: invalid systemd unit extension: foo',
      '9:52 systemd.units[0].contents: invalid unit content: unable to find end of section',
      '9:110 systemd.units[1].dropins[0].name: invalid systemd drop-in extension: x.txt',
    ]);
  });

  it('a key written twice in one object is an error at the second one', () => {
    const r = fromIgnition('c.ign', '{"ignition": {"version": "3.3.0"},\n "ignition": {"version": "3.0.0"}}');
    expect(errors(r)[0]).toMatchObject({ line: 2, column: 2, code: 'duplicate-key' });
  });

  it('an empty file is not a config', () => {
    expect(errors(fromIgnition('c.ign', ''))[0]!.message).toMatch(/empty/);
    expect(errors(fromIgnition('c.ign', '[]'))[0]!.message).toMatch(/JSON object/);
  });

  it('masks a password hash in the source line of a finding', () => {
    const text = `{"ignition": {"version": "3.3.0"}, "passwd": {"users": [{"name": "a", "passwordHash": "${HASH}", "uid": "x"}]}}`;
    const r = fromIgnition('c.ign', text);
    expect(errors(r)).toHaveLength(1);
    expect(errors(r)[0]!.source).not.toContain('OracleSalt1');
  });
});

describe('files', () => {
  it('data: contents, Ignition\'s default overwrite false, decimal modes, owners by id and name', () => {
    const cfg = ok('3.0.0', {
      storage: {
        files: [
          { path: '/etc/a', contents: { source: data('hello\n') }, mode: 420, user: { id: 1000 }, group: { name: 'adm' } },
          { path: '/etc/b', overwrite: true, contents: { source: b64('#!/bin/sh\n') }, mode: 493 },
          { path: '/etc/c' },
          { path: '/etc/bin', contents: { source: b64(Buffer.from([0, 1, 2, 255])) } },
        ],
      },
    });
    expect(cfg.files).toEqual([
      { path: '/etc/a', contents: 'hello\n', overwrite: false, mode: '0644', owner: 1000, group: 'adm' },
      { path: '/etc/b', contents: '#!/bin/sh\n', overwrite: true, mode: '0755' },
      { path: '/etc/c' },
      { path: '/etc/bin', contents_base64: 'AAEC/w==', overwrite: false },
    ]);
  });

  it('gzip data is unpacked and the hash checked on the unpacked data', () => {
    const payload = 'compressed payload\n';
    const hash = `sha512-${createHash('sha512').update(payload).digest('hex')}`;
    const file = { path: '/etc/z', contents: { source: b64(gzipSync(payload)), compression: 'gzip', verification: { hash } } };
    expect(ok('3.1.0', { storage: { files: [file] } }).files).toEqual([{ path: '/etc/z', contents: payload, overwrite: false }]);
    const wrong = { ...file, contents: { ...file.contents, verification: { hash: `sha512-${'0'.repeat(128)}` } } };
    const r = convert('3.1.0', { storage: { files: [wrong] } });
    expect(errors(r)[0]).toMatchObject({ path: 'storage.files[0].contents.verification.hash' });
    expect(errors(r)[0]!.message).toMatch(/does not match/);
    const notGzip = { ...file, contents: { source: data('plain'), compression: 'gzip' } };
    expect(errors(convert('3.1.0', { storage: { files: [notGzip] } }))[0]!.message).toMatch(/not valid gzip/);
  });

  it('xz and other compressions are refused with a clear error', () => {
    const r = convert('3.1.0', { storage: { files: [{ path: '/a', contents: { source: data('x'), compression: 'xz' } }] } });
    expect(errors(r)[0]).toMatchObject({ path: 'storage.files[0].contents.compression' });
    expect(errors(r)[0]!.hint).toMatch(/gzip/);
  });

  it('https needs a hash; http, tftp, s3 and headers are refused', () => {
    const hash = `sha512-${'a'.repeat(128)}`;
    expect(ok('3.1.0', { storage: { files: [{ path: '/a', contents: { source: 'https://example.org/a.gz', compression: 'gzip', verification: { hash } } }] } }).files).toEqual([
      { path: '/a', source: 'https://example.org/a.gz', verify: hash, compression: 'gzip', overwrite: false },
    ]);
    const noHash = convert('3.1.0', { storage: { files: [{ path: '/a', contents: { source: 'https://example.org/a' } }] } });
    expect(errors(noHash)[0]).toMatchObject({ path: 'storage.files[0].contents.source' });
    expect(errors(noHash)[0]!.hint).toMatch(/verification\.hash/);
    for (const source of ['http://example.org/a', 'tftp://h/a', 's3://b/a']) {
      const r = convert('3.1.0', { storage: { files: [{ path: '/a', contents: { source, verification: { hash } } }] } });
      expect(errors(r)[0]!.message, source).toMatch(/not supported by flint/);
    }
    const headers = convert('3.1.0', { storage: { files: [{ path: '/a', contents: { source: 'https://h/a', verification: { hash }, httpHeaders: [{ name: 'A', value: 'b' }] } }] } });
    expect(errors(headers)[0]).toMatchObject({ path: 'storage.files[0].contents.httpHeaders' });
  });

  it('append: alone it appends (all entries in order), after contents it is one file', () => {
    const cfg = ok('3.2.0', {
      storage: {
        files: [
          { path: '/etc/motd', append: [{ source: data('one\n') }, { source: b64('two\n') }] },
          { path: '/etc/x', contents: { source: data('first\n') }, append: [{ source: data('second\n') }], mode: 384 },
        ],
      },
    });
    expect(cfg.files).toEqual([
      { path: '/etc/motd', contents: 'one\ntwo\n', append: true },
      { path: '/etc/x', contents: 'first\nsecond\n', overwrite: false, mode: '0600' },
    ]);
    const remote = convert('3.2.0', { storage: { files: [{ path: '/a', append: [{ source: 'https://h/a', verification: { hash: `sha512-${'a'.repeat(128)}` } }] }] } });
    expect(errors(remote)[0]).toMatchObject({ path: 'storage.files[0].append[0].source' });
  });

  it('special mode bits: dropped with a warning before 3.6.0, kept from 3.6.0', () => {
    const rest = { storage: { files: [{ path: '/a', mode: 2541 }], directories: [{ path: '/d', mode: 1023 }] } };
    const old = convert('3.5.0', rest);
    expect(warnings(old).map((d) => d.path)).toEqual(['storage.files[0].mode', 'storage.directories[0].mode']);
    expect(old.config).toMatchObject({ files: [{ path: '/a', mode: '0755' }], directories: [{ path: '/d', mode: '0777' }] });
    const now = convert('3.6.0', rest);
    expect(warnings(now)).toEqual([]);
    expect(now.config).toMatchObject({ files: [{ path: '/a', mode: '04755' }], directories: [{ path: '/d', mode: '01777' }] });
  });

  it('directories and links', () => {
    const cfg = ok('3.0.0', {
      storage: {
        directories: [{ path: '/srv', mode: 488, user: { name: 'daemon' }, group: { id: 4 } }, { path: '/opt/x' }],
        links: [
          { path: '/etc/localtime', target: '../usr/share/zoneinfo/UTC', overwrite: true, user: { id: 0 } },
          { path: '/etc/h', target: '/etc/hostname', hard: true },
        ],
      },
    });
    expect(cfg.directories).toEqual([{ path: '/srv', mode: '0750', owner: 'daemon', group: 4 }, { path: '/opt/x' }]);
    expect(cfg.links).toEqual([
      { path: '/etc/localtime', target: '../usr/share/zoneinfo/UTC', owner: 0, overwrite: true },
      { path: '/etc/h', target: '/etc/hostname', hard: true },
    ]);
  });

  it('what flint does not honour is a warning naming the key', () => {
    const r = convert('3.0.0', {
      storage: {
        directories: [{ path: '/srv', overwrite: true }],
        links: [{ path: '/a', target: '/b', hard: true, user: { id: 1 } }, { path: '/c', target: '/d', overwrite: false }],
      },
    });
    expect(warnings(r).map((d) => d.path)).toEqual(['storage.directories[0].overwrite', 'storage.links[0].user', 'storage.links[1].overwrite']);
  });
});

describe('passwd', () => {
  it('users and groups with every field flint has', () => {
    const cfg = ok('3.2.0', {
      passwd: {
        groups: [{ name: 'devs', gid: 1500 }, { name: 'sys', system: true }],
        users: [
          { name: 'core', uid: 1100, gecos: 'CoreOS Admin', passwordHash: HASH, sshAuthorizedKeys: [KEY], groups: ['sudo', 'devs'], shell: '/bin/bash', primaryGroup: 'devs', homeDir: '/var/home/core' },
          { name: 'svc', system: true },
          { name: 'nohome', system: true, noCreateHome: true },
          { name: 'locked', passwordHash: '' },
        ],
      },
    });
    expect(cfg.groups).toEqual([{ name: 'devs', gid: 1500 }, { name: 'sys', system: true }]);
    expect(cfg.users).toEqual([
      { name: 'core', uid: 1100, gecos: 'CoreOS Admin', shell: '/bin/bash', primary_group: 'devs', groups: ['sudo', 'devs'], home: '/var/home/core', password_hash: HASH, ssh_authorized_keys: [KEY] },
      { name: 'svc', system: true, home: '/home/svc' },
      { name: 'nohome', system: true },
      { name: 'locked', password_hash: '*' },
    ]);
  });

  it('keys go to authorized_keys, and the deviation says so', () => {
    const r = convert('3.0.0', { passwd: { users: [{ name: 'root', sshAuthorizedKeys: [KEY] }] } });
    expect(r.deviations.join('\n')).toMatch(/~\/\.ssh\/authorized_keys .*authorized_keys\.d\/ignition/);
  });

  it('deleting users and groups is state: absent; noCreateHome, noUserGroup and group passwords are warnings', () => {
    const r = convert('3.2.0', {
      passwd: {
        users: [{ name: 'gone', shouldExist: false }, { name: 'a', noCreateHome: true, noUserGroup: true }],
        groups: [{ name: 'old', shouldExist: false }, { name: 'g', passwordHash: HASH }],
      },
    });
    expect(errors(r)).toEqual([]);
    expect(r.config).toMatchObject({ users: [{ name: 'gone', state: 'absent' }, { name: 'a' }], groups: [{ name: 'old', state: 'absent' }, { name: 'g' }] });
    expect(warnings(r).map((d) => d.path)).toEqual(['passwd.users[1].noCreateHome', 'passwd.users[1].noUserGroup', 'passwd.groups[1].passwordHash']);
  });

  it('a deleted user\'s other fields are ignored with a warning, as Ignition ignores them', () => {
    const r = convert('3.2.0', { passwd: { users: [{ name: 'gone', shouldExist: false, uid: 1500, shell: '/bin/sh' }] } });
    expect(errors(r)).toEqual([]);
    expect(r.config).toEqual({ version: 1, users: [{ name: 'gone', state: 'absent' }] });
    expect(warnings(r)[0]!.message).toMatch(/gone is deleted \(shouldExist: false\), so uid, shell are ignored/);
  });

  it('an RSA key under 2048 bits is reported through flint\'s own checks', () => {
    const rsa1024 =
      'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCsvfj8zTYE4bVO6f4JkCD1XD6xbJYlzNrpJzcIHmpsurFSGgQkgXMXQ+8spQr0OWbtY91qTkl08k6pwOqLcHb8Yfg2gA7dnTGWJdseSAQMKrhN/kewAH2Fggp0R6AIVwRLRK8PYFNqEAfKyskcEsJqSRH6b6fHKN7Ts7iDxFPzgQ== x';
    const r = convert('3.0.0', { passwd: { users: [{ name: 'a', sshAuthorizedKeys: [rsa1024] }] } });
    expect(r.config).toBeUndefined();
    // At the key itself in c.ign, in Ignition's terms, naming flint's setting too.
    expect(errors(r)[0]!).toMatchObject({ file: 'c.ign', line: 10, column: 11, path: 'passwd.users[0].sshAuthorizedKeys[0]' });
    expect(errors(r)[0]!.message).toMatch(/\(flint's users\[0\]\.ssh_authorized_keys\[0\]\)$/);
  });
});

describe('systemd', () => {
  it('units, drop-ins, enabled and mask', () => {
    const unit = '[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n';
    const r = convert('3.0.0', {
      systemd: {
        units: [
          { name: 'a.service', contents: unit, enabled: true, dropins: [{ name: '10-x.conf', contents: '[Service]\nNice=5\n' }, { name: 'empty.conf' }] },
          { name: 'b.service', enabled: false },
          { name: 'c.timer', mask: true },
          { name: 'd.service', contents: '', mask: false },
          { name: 'e.service', enabled: true, contents: '[Service]\nExecStart=/bin/true\n' },
        ],
      },
    });
    expect(errors(r)).toEqual([]);
    expect(r.config!.systemd).toEqual({
      units: [
        { name: 'a.service', contents: unit, enabled: true, dropins: [{ name: '10-x.conf', contents: '[Service]\nNice=5\n' }] },
        { name: 'b.service', enabled: false },
        { name: 'c.timer', masked: true },
        { name: 'd.service', masked: false },
        // Ignition: "has no install section so enable does nothing"; flint would refuse enabled: true.
        { name: 'e.service', contents: '[Service]\nExecStart=/bin/true\n' },
      ],
    });
    expect(warnings(r).map((d) => d.path)).toEqual(['systemd.units[0].dropins[1]', 'systemd.units[4].contents']);
    expect(r.deviations.join('\n')).toMatch(/20-ignition\.preset/);
  });
});

describe('storage and kernel arguments', () => {
  it('disks, partitions and filesystems in flint\'s storage schema', () => {
    const r = convert('3.3.0', {
      storage: {
        disks: [
          {
            device: '/dev/vdb',
            wipeTable: true,
            partitions: [
              { label: 'var', sizeMiB: 4096, typeGuid: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', wipePartitionEntry: true },
              { label: 'data', number: 2, sizeMiB: 0, startMiB: 100 },
            ],
          },
        ],
        filesystems: [
          { device: '/dev/disk/by-partlabel/var', format: 'xfs', label: 'var', wipeFilesystem: true, path: '/var', mountOptions: ['noatime'] },
          { device: '/dev/disk/by-partlabel/data', format: 'ext4', uuid: '5cbb5cd6-6e55-4e43-9b8a-e1c8b4ae0f3c', options: ['-m', '0'] },
        ],
      },
      kernelArguments: { shouldExist: ['console=ttyS0'], shouldNotExist: ['quiet'] },
    });
    expect(errors(r)).toEqual([]);
    expect(r.config!.storage).toEqual({
      disks: [
        {
          device: '/dev/vdb',
          wipe_table: true,
          partitions: [
            { label: 'var', size: '4096MiB', type: '0fc63daf-8483-4772-8e79-3d69d8477de4', replace: true },
            { label: 'data' },
          ],
        },
      ],
      filesystems: [
        { device: '/dev/disk/by-partlabel/var', format: 'xfs', label: 'var', wipe: true, mount: '/var', mount_options: ['noatime'] },
        { device: '/dev/disk/by-partlabel/data', format: 'ext4' },
      ],
    });
    expect(r.config!.kernel_arguments).toEqual({ add: ['console=ttyS0'], remove: ['quiet'] });
    expect(warnings(r).map((d) => d.path)).toEqual([
      'storage.disks[0].partitions[1].number',
      'storage.disks[0].partitions[1].startMiB',
      'storage.filesystems[0].path',
      'storage.filesystems[1].uuid',
      'storage.filesystems[1].options',
    ]);
    expect(validateText('o.json', JSON.stringify(r.config)).diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });

  it('devices are absolute paths', () => {
    const r = convert('3.3.0', { storage: { disks: [{ device: 'root' }], filesystems: [{ device: 'sdb1', format: 'ext4' }] } });
    expect(errors(r).map((d) => d.path)).toEqual(['storage.disks[0].device', 'storage.filesystems[0].device']);
  });

  it('a swap filesystem\'s path is a warning', () => {
    const r = convert('3.3.0', { storage: { filesystems: [{ device: '/dev/vdc', format: 'swap', path: '/swap' }] } });
    expect(r.config!.storage).toEqual({ filesystems: [{ device: '/dev/vdc', format: 'swap' }] });
    expect(warnings(r).map((d) => d.path)).toEqual(['storage.filesystems[0].path']);
  });

  it('raid, luks, unlabelled and deleted partitions are errors', () => {
    const r = convert('3.2.0', {
      storage: {
        raid: [{ name: 'md0', level: 'raid1', devices: ['/dev/a', '/dev/b'] }],
        luks: [{ name: 'c', device: '/dev/vdc' }],
        disks: [{ device: '/dev/vdb', partitions: [{ number: 1 }, { label: 'x', shouldExist: false }] }],
      },
    });
    expect(errors(r).map((d) => d.path)).toEqual(['storage.raid', 'storage.luks', 'storage.disks[0].partitions[0]', 'storage.disks[0].partitions[1].shouldExist']);
  });
});

describe('ignition.config merge and replace', () => {
  const child = (rest: Record<string, unknown>, v = '3.0.0') => JSON.stringify({ ignition: { version: v }, ...rest });

  it('merges data: children over the parent, by Ignition\'s keys', () => {
    const c1 = child({ storage: { files: [{ path: '/a', mode: 384 }, { path: '/c', contents: { source: data('c') } }] }, passwd: { users: [{ name: 'u', groups: ['adm'] }] } });
    const c2 = child({ storage: { directories: [{ path: '/b' }] }, passwd: { users: [{ name: 'u', groups: ['sudo'], shell: '/bin/bash' }] } }, '3.3.0');
    const cfg = ok('3.0.0', {
      ignition: { version: '3.0.0', config: { merge: [{ source: data(c1) }, { source: b64(c2) }] } },
      storage: { files: [{ path: '/a', contents: { source: data('parent') } }], links: [{ path: '/b', target: '/x' }] },
      passwd: { users: [{ name: 'u', uid: 1200 }] },
    });
    expect(cfg.files).toEqual([
      { path: '/a', contents: 'parent', overwrite: false, mode: '0600' },
      { path: '/c', contents: 'c', overwrite: false },
    ]);
    // The child's directory replaces the parent's link with the same path.
    expect(cfg.directories).toEqual([{ path: '/b' }]);
    expect(cfg.links).toBeUndefined();
    expect(cfg.users).toEqual([{ name: 'u', uid: 1200, shell: '/bin/bash', groups: ['adm', 'sudo'] }]);
  });

  it('replace: the child is the config', () => {
    const c = child({ storage: { directories: [{ path: '/r' }] } });
    const cfg = ok('3.1.0', { ignition: { version: '3.1.0', config: { replace: { source: data(c) } } }, storage: { files: [{ path: '/gone' }] } });
    expect(cfg).toEqual({ version: 1, directories: [{ path: '/r' }] });
  });

  it('a child\'s special bits are masked by the child\'s own version', () => {
    const c = child({ storage: { directories: [{ path: '/s', mode: 1023 }] } }, '3.6.0');
    expect(ok('3.0.0', { ignition: { version: '3.0.0', config: { merge: [{ source: data(c) }] } } }).directories).toEqual([{ path: '/s', mode: '01777' }]);
  });

  it('errors in a child name the child and its own lines; https children are errors with a way out', () => {
    const bad = convert('3.0.0', { ignition: { version: '3.0.0', config: { merge: [{ source: data('{"ignition": {"version": "3.0.0"},\n "storage": {"files": [{"path": "rel"}]}}') }] } } });
    expect(errors(bad)[0]).toMatchObject({ file: 'c.ign (ignition.config.merge[0])', line: 2, column: 33, path: 'storage.files[0].path' });
    const remote = convert('3.0.0', { ignition: { version: '3.0.0', config: { replace: { source: 'https://example.org/c.ign' } } } });
    expect(errors(remote)[0]).toMatchObject({ path: 'ignition.config.replace.source', code: 'ignition-remote-config' });
    expect(errors(remote)[0]!.hint).toMatch(/data:;base64/);
  });

  it('a translation finding in a merged config points at ignition.config', () => {
    const c = child({ storage: { disks: [{ device: '/dev/vdb', partitions: [{ number: 3, shouldExist: false }] }] } }, '3.2.0');
    const text = `{\n  "ignition": {\n    "version": "3.2.0",\n    "config": {"merge": [{"source": "${data(c)}"}]}\n  }\n}\n`;
    const r = fromIgnition('c.ign', text);
    expect(errors(r)[0]).toMatchObject({ line: 4, column: 5, path: 'storage.disks[0].partitions[0].shouldExist' });
    expect(errors(r)[0]!.message).toMatch(/merged from ignition\.config/);
  });

  it('a self-merging chain stops', () => {
    let text = child({});
    for (let i = 0; i < 12; i++) text = JSON.stringify({ ignition: { version: '3.0.0', config: { merge: [{ source: b64(text) }] } } });
    expect(errors(fromIgnition('c.ign', text)).some((d) => d.code === 'ignition-config')).toBe(true);
  });

  it('mergeConfigs: kernel arguments share one key, append lists are concatenated', () => {
    const m = mergeConfigs(
      { kernelArguments: { shouldExist: ['a', 'b'] }, storage: { files: [{ path: '/f', append: [{ source: 'data:,1' }] }] } },
      { kernelArguments: { shouldNotExist: ['a'] }, storage: { files: [{ path: '/f', append: [{ source: 'data:,1' }] }] } },
    );
    expect(m.kernelArguments).toEqual({ shouldExist: ['b'], shouldNotExist: ['a'] });
    expect(m.storage).toEqual({ files: [{ path: '/f', append: [{ source: 'data:,1' }, { source: 'data:,1' }] }] });
  });
});

describe('ignition: section', () => {
  it('timeouts, proxy and CAs are warnings', () => {
    const r = convert('3.1.0', {
      ignition: {
        version: '3.1.0',
        timeouts: { httpTotal: 10 },
        proxy: { httpsProxy: 'http://proxy:3128' },
        security: { tls: { certificateAuthorities: [{ source: data('-----BEGIN CERTIFICATE-----') }] } },
      },
    });
    expect(errors(r)).toEqual([]);
    expect(warnings(r).map((d) => d.path)).toEqual(['ignition.timeouts', 'ignition.proxy', 'ignition.security.tls.certificateAuthorities']);
  });
});
