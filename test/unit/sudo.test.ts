import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUDOERS_DROPIN_MODE, sudoersDropin } from '../../src/steps/users/sudo.js';

const hasVisudo = spawnSync('visudo', ['-V']).error === undefined;
const hasCvtsudoers = spawnSync('cvtsudoers', ['-V']).error === undefined;
if (!hasVisudo) console.warn('sudo: visudo is not installed, so sudoers drop-ins are not checked with it; install sudo');
const skipped = (has: boolean, tool: string): string => (has ? '' : ` (SKIPPED: no ${tool}; install sudo)`);

describe('sudoersDropin', () => {
  it('password: may run anything as anyone after giving the password', () => {
    expect(sudoersDropin('admin', 'password')).toEqual({
      path: '/etc/sudoers.d/flint-admin',
      text: '# Written by flint, the first-boot provisioner: users[].sudo: password for admin.\nadmin ALL=(ALL:ALL) ALL\n',
    });
  });

  it('nopasswd: the same without a password', () => {
    const r = sudoersDropin('admin', 'nopasswd');
    expect(r?.text.split('\n')).toEqual([expect.stringMatching(/^# .*flint/), 'admin ALL=(ALL:ALL) NOPASSWD: ALL', '']);
  });

  it('none or absent: no file', () => {
    expect(sudoersDropin('admin', 'none')).toBeUndefined();
    expect(sudoersDropin('admin', undefined)).toBeUndefined();
    expect(sudoersDropin('admin', null)).toBeUndefined();
  });

  it('names the file so sudo reads it: no "." (written %2E), never ending in "~", one file per user', () => {
    expect(sudoersDropin('first.last', 'password')?.path).toBe('/etc/sudoers.d/flint-first%2Elast');
    expect(sudoersDropin('first_last', 'password')?.path).toBe('/etc/sudoers.d/flint-first_last');
    expect(sudoersDropin('host$', 'password')?.path).toBe('/etc/sudoers.d/flint-host$');
    for (const name of ['a', 'a.b.c', '.x', 'x.', 'a-b', 'build$']) {
      const file = basename(sudoersDropin(name, 'nopasswd')?.path ?? '');
      expect(file).not.toMatch(/[.~]/);
    }
  });

  it('refuses an unknown sudo value', () => {
    expect(() => sudoersDropin('admin', 'yes')).toThrow(/none, password or nopasswd/);
  });

  it.each([
    ['ALL', /every user/],
    ['ADMIN', /alias/],
    ['WWW_DATA2', /alias/],
    ['Defaults', /keyword/],
    ['User_Alias', /keyword/],
    ['Cmnd_Alias', /keyword/],
    ['%sudo', /plain user name/],
    ['#1000', /plain user name/],
    ['+netgroup', /plain user name/],
    ['@include', /plain user name/],
    ['-rf', /plain user name/],
    ['a b', /plain user name/],
    ['a,b', /plain user name/],
    ['a:b', /plain user name/],
    ['a=b', /plain user name/],
    ['a!', /plain user name/],
    ['a\\b', /plain user name/],
    ['"a"', /plain user name/],
    ['a(b)', /plain user name/],
    ['a\nALL ALL=(ALL) NOPASSWD: ALL', /plain user name/],
    ['a~', /plain user name/],
    ['a$b', /plain user name/],
    ['', /plain user name/],
  ])('refuses %j, which sudoers would not read as that user', (name, message) => {
    expect(() => sudoersDropin(name, 'password')).toThrow(message);
  });

  it('accepts ordinary names, mixed case, digits, dots, dashes and a final $', () => {
    for (const name of ['admin', 'Admin', 'aDMIN', 'pi', 'user1', '1user', 'first.last', 'a-b', '_svc', 'host$', 'Defaults_x', 'ALLx']) {
      expect(sudoersDropin(name, 'password')?.text).toContain(`\n${name} ALL=(ALL:ALL) ALL\n`);
    }
  });

  describe.skipIf(!hasVisudo)(`with visudo${skipped(hasVisudo, 'visudo')}`, () => {
    let dir = '';
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'flint-sudoers-'));
      mkdirSync(join(dir, 'sudoers.d'));
    });
    afterAll(() => {
      if (dir !== '') rmSync(dir, { recursive: true, force: true });
    });

    function write(dropin: { path: string; text: string }): string {
      const file = join(dir, 'sudoers.d', basename(dropin.path));
      rmSync(file, { force: true }); // mode 0440 is read-only for a non-root owner too
      writeFileSync(file, dropin.text, { mode: SUDOERS_DROPIN_MODE });
      return file;
    }

    const names = ['admin', 'Admin', 'first.last', 'host$', '1user', 'a-b', '_svc'];
    it.each(names.flatMap((n) => [[n, 'password'], [n, 'nopasswd']]))('visudo -c -f accepts the file for %s, sudo: %s', (name, sudo) => {
      const dropin = sudoersDropin(name, sudo);
      if (!dropin) throw new Error('expected a drop-in');
      const r = spawnSync('visudo', ['-c', '-f', write(dropin)], { encoding: 'utf8' });
      expect(r.stderr).toBe(''); // no warnings either, e.g. about an undefined alias
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/parsed OK/);
    });

    it('sudo reads the files under the names we give them from an @includedir', () => {
      const files = names.map((n) => basename(write(sudoersDropin(n, 'nopasswd') ?? { path: '', text: '' })));
      const main = join(dir, 'sudoers');
      writeFileSync(main, `@includedir ${dir}/sudoers.d\n`, { mode: SUDOERS_DROPIN_MODE });
      const r = spawnSync('visudo', ['-c', '-f', main], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      // visudo lists every file it parsed: sudo skips names with '.' or a final '~'.
      for (const f of files) expect(r.stdout).toContain(`${dir}/sudoers.d/${f}: parsed OK`);
    });

    it.skipIf(!hasCvtsudoers)(`cvtsudoers reads each rule as that user name, with the right options${skipped(hasCvtsudoers, 'cvtsudoers')}`, () => {
      for (const name of names) {
        for (const sudo of ['password', 'nopasswd']) {
          const file = write(sudoersDropin(name, sudo) ?? { path: '', text: '' });
          const r = spawnSync('cvtsudoers', ['-f', 'json', file], { encoding: 'utf8' });
          expect(r.status, r.stderr).toBe(0);
          const parsed = JSON.parse(r.stdout) as { User_Specs: Array<{ User_List: unknown; Host_List: unknown; Cmnd_Specs: Array<{ runasusers: unknown; runasgroups: unknown; Options?: unknown[]; Commands: unknown }> }> };
          expect(parsed.User_Specs).toHaveLength(1);
          const spec = parsed.User_Specs[0];
          expect(spec?.User_List).toEqual([{ username: name }]);
          expect(spec?.Host_List).toEqual([{ hostname: 'ALL' }]);
          const cmnd = spec?.Cmnd_Specs[0];
          expect(cmnd?.runasusers).toEqual([{ username: 'ALL' }]);
          expect(cmnd?.runasgroups).toEqual([{ usergroup: 'ALL' }]);
          expect(cmnd?.Commands).toEqual([{ command: 'ALL' }]);
          expect((cmnd?.Options ?? []).some((o) => JSON.stringify(o) === '{"authenticate":false}')).toBe(sudo === 'nopasswd');
        }
      }
    });
  });
});
