/** `flint init`: the rendered config, and the command with flags. */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { validateText } from '../../src/config/validate.js';
import { verifyPassword } from '../../src/crypt/sha-crypt.js';
import { runInit, schemaLocation } from '../../src/cli/init.js';
import type { Output } from '../../src/cli/output.js';
import { renderInitConfig } from '../../src/media/init-config.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA2W4ylBpNwsCJJgCIJv6S+GBdb8LJg1OwHVwgsBw43P admin@laptop';
const tmp = mkdtempSync(join(tmpdir(), 'flint-init-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function io(): Output & { text: () => string } {
  let all = '';
  return { out: (s) => (all += s + '\n'), err: (s) => (all += s + '\n'), color: false, text: () => all };
}

describe('renderInitConfig', () => {
  it('a full answer set is a valid, commented config with the $schema line', () => {
    const text = renderInitConfig({
      schema: '/x/schemas/flint-v1.schema.json',
      user: 'pi',
      sshKeys: [KEY],
      passwordHash: '$6$abcdefgh$' + 'a'.repeat(86),
      hostname: 'pi-kitchen',
      timezone: 'Europe/Berlin',
      keymap: 'de-nodeadkeys',
      wifi: { ssid: 'Home Net', password: 'wifi-pass-123', country: 'DE' },
      staticIp: { address: '192.168.1.20/24', gateway: '192.168.1.1', dns: ['9.9.9.9'] },
      interface: 'eth0',
    });
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=/x/schemas/flint-v1.schema.json');
    const r = validateText('init.yaml', text);
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const v = parse(text) as Record<string, unknown>;
    expect(v).toMatchObject({ hostname: 'pi-kitchen', timezone: 'Europe/Berlin', network: { wifi_country: 'DE', connections: [{ name: 'lan', interface: 'eth0', ipv4: { method: 'static', addresses: ['192.168.1.20/24'], gateway: '192.168.1.1' } }, { name: 'wifi', wifi: { ssid: 'Home Net' } }] } });
  });

  it('answers cannot change the structure: a newline in a value stays inside its string', () => {
    const text = renderInitConfig({ schema: 's', user: 'a', sshKeys: [], hostname: 'x\nusers: []' });
    const v = parse(text) as { hostname: string; users: unknown[] };
    expect(v.hostname).toBe('x\nusers: []');
    expect(v.users).toHaveLength(1);
    expect(validateText('i.yaml', text).config).toBeUndefined();
  });
});

describe('flint init with flags', () => {
  it('writes a config that validates, the password read from stdin and stored only as a hash', async () => {
    const keyFile = join(tmp, 'id.pub');
    writeFileSync(keyFile, KEY + '\n');
    const out = join(tmp, 'flint.yaml');
    const o = io();
    const code = await runInit(['--yes', '-o', out, '--user', 'admin', '--ssh-key', keyFile, '--password-stdin', '--hostname', 'box1', '--timezone', 'UTC', '--keymap', 'us', '--wifi-ssid', 'Home', '--wifi-password-stdin', '--wifi-country', 'de', '--address', '10.0.0.5/24', '--gateway', '10.0.0.1', '--dns', '10.0.0.1,9.9.9.9'], o, () => 'user-pass-42\nwifi-pass-4242\n');
    expect(code, o.text()).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(text).not.toContain('user-pass-42');
    const r = validateText(out, text);
    expect(r.diagnostics.filter((d) => d.severity === 'error'), o.text()).toEqual([]);
    const v = parse(text) as { users: Array<{ name: string; password_hash: string; ssh_authorized_keys: string[] }>; network: { wifi_country: string } };
    expect(v.users[0]!.name).toBe('admin');
    expect(verifyPassword('user-pass-42', v.users[0]!.password_hash)).toBe(true);
    expect(v.users[0]!.ssh_authorized_keys).toEqual([KEY]);
    expect(v.network.wifi_country).toBe('DE');
  });

  it('takes a ready hash on stdin (never as an argument), and refuses a broken one', async () => {
    const hash = '$6$saltsalt$' + 'a'.repeat(86);
    const out = join(tmp, 'hashed.yaml');
    expect(await runInit(['--yes', '-o', out, '--password-hash-stdin'], io(), () => `${hash}\n`)).toBe(0);
    expect((parse(readFileSync(out, 'utf8')) as { users: Array<{ password_hash: string }> }).users[0]!.password_hash).toBe(hash);
    await expect(runInit(['--yes', '-o', join(tmp, 'h2.yaml'), '--password-hash', hash], io())).rejects.toThrow(/unknown option --password-hash/);
    expect(await runInit(['--yes', '-o', join(tmp, 'h3.yaml'), '--password-hash-stdin'], io(), () => 'not-a-hash\n')).toBe(1);
  });

  it('refuses an answer that would not validate, and writes nothing', async () => {
    const out = join(tmp, 'bad.yaml');
    const o = io();
    expect(await runInit(['--yes', '-o', out, '--timezone', 'Mars/Olympus'], o)).toBe(1);
    expect(o.text()).toContain('timezone');
    expect(() => statSync(out)).toThrow();
  });

  it('will not overwrite without --force, nor ask without a terminal', async () => {
    const out = join(tmp, 'exists.yaml');
    writeFileSync(out, 'x');
    await expect(runInit(['--yes', '-o', out], io())).rejects.toThrow(/--force/);
    await expect(runInit(['-o', join(tmp, 'new.yaml')], io())).rejects.toThrow(/no terminal/);
  });

  it('points $schema at the schema shipped with flint', () => {
    expect(schemaLocation()).toMatch(/schemas\/flint-v1\.schema\.json$/);
  });
});
