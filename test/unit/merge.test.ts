/**
 * hosts: merging, as config-v1 says it: maps key by key, lists of named things item by
 * item (the schema marks them with x-merge-by), every other list replaced whole.
 */
import { describe, expect, it } from 'vitest';
import { effectiveConfig } from '../../src/config/merge.js';
import { MERGE_KEYS } from '../../src/config/generated/merge-keys.js';

const merged = (top: Record<string, unknown>, host: Record<string, unknown>) => effectiveConfig({ version: 1, ...top, hosts: [{ match: { serial: 'S' }, ...host }] }, { serial: 'S' }).value;

describe('hosts: merging', () => {
  it('merges the lists of named things item by item, nested ones too', () => {
    const v = merged(
      { users: [{ name: 'a', shell: '/bin/sh', gecos: 'A' }, { name: 'b' }], files: [{ path: '/x', contents: '1' }], systemd: { units: [{ name: 'u.service', dropins: [{ name: 'a.conf', contents: '1' }, { name: 'b.conf', contents: '1' }] }] } },
      { users: [{ name: 'a', shell: '/bin/bash' }, { name: 'c' }], files: [{ path: '/x', mode: 0o600 }], systemd: { units: [{ name: 'u.service', dropins: [{ name: 'a.conf', contents: '2' }] }] } },
    );
    expect(v.users).toEqual([{ name: 'a', shell: '/bin/bash', gecos: 'A' }, { name: 'b' }, { name: 'c' }]);
    expect(v.files).toEqual([{ path: '/x', contents: '1', mode: 0o600 }]);
    expect(v.systemd).toEqual({ units: [{ name: 'u.service', dropins: [{ name: 'a.conf', contents: '2' }, { name: 'b.conf', contents: '1' }] }] });
  });

  it('replaces every other list whole, whatever its key is called (packages.files is not files:)', () => {
    const v = merged({ packages: { install: ['a'], files: ['file:a.deb'] }, ntp: { servers: ['a.example'] } }, { packages: { files: ['file:b.deb'] }, ntp: { servers: ['b.example'] } });
    expect(v.packages).toEqual({ install: ['a'], files: ['file:b.deb'] });
    expect(v.ntp).toEqual({ servers: ['b.example'] });
  });

  it('knows the lists config-v1 names as merged by name or path', () => {
    expect(Object.fromEntries(MERGE_KEYS)).toEqual({
      '/users': 'name',
      '/groups': 'name',
      '/network/connections': 'name',
      '/systemd/units': 'name',
      '/systemd/units/*/dropins': 'name',
      '/containers': 'name',
      '/scripts': 'name',
      '/files': 'path',
      '/directories': 'path',
      '/links': 'path',
    });
  });
});
