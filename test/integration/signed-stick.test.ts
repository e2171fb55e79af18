/**
 * issue 18 end to end with the bundle: `drive create --sign` signs what it writes (the
 * config with its password hashed, and its payload), `flint verify` accepts the stick's
 * copy, and `flint run` under flint.trust=required applies the signed config from a
 * target's boot folder and refuses a tampered or unsigned one without writing anything
 * to the target. Needs mkfs.fat and mtools (no root).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, hasTool, hostEnv } from '../helpers/host.js';
import { issue } from '../helpers/pki.js';

const tools = hasTool('mkfs.fat') && hasTool('mcopy');
const tmp = mkdtempSync(join(tmpdir(), 'flint-signed-stick-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const flint = (args: string[], input?: string) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: hostEnv, input: input ?? '' });

/** Every path below DIR with its mode and content digest. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = join(rel, name);
      const st = statSync(join(dir, r));
      out[r] = st.isDirectory() ? `dir ${st.mode}` : `${st.mode} ${createHash('sha256').update(readFileSync(join(dir, r))).digest('hex')}`;
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

describe.skipIf(!tools)(`signed sticks${tools ? '' : ' (SKIPPED: needs mkfs.fat and mcopy: apt-get install dosfstools mtools)'}`, () => {
  const ca = issue({ subject: 'owner CA', ca: true });
  const signer = issue({ subject: 'owner laptop', issuer: ca, extKeyUsage: ['codeSigning'] });
  const files = { key: join(tmp, 'signer.key'), cert: join(tmp, 'signer.pem'), ca: join(tmp, 'ca.pem') };
  writeFileSync(files.key, signer.keyPem, { mode: 0o600 });
  writeFileSync(files.cert, signer.certPem);
  writeFileSync(files.ca, ca.certPem);
  const src = join(tmp, 'src');
  mkdirSync(join(src, 'payload'), { recursive: true });
  writeFileSync(join(src, 'payload/motd'), 'signed motd\n');
  writeFileSync(join(src, 'config.yaml'), 'version: 1\nhostname: signed-host\nusers:\n  - name: ops\n    password: "correct horse"\nfiles:\n  - path: /etc/motd\n    mode: "0644"\n    source: file:payload/motd\n');
  const stick = join(tmp, 'stick.img');
  const copy = join(tmp, 'copy');

  it('drive create --sign signs what goes on the stick, and flint verify accepts the copy', () => {
    const r = flint(['drive', 'create', join(src, 'config.yaml'), '--sign', '--key', files.key, '--cert', files.cert, '-o', stick]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/signed \(flint\/config\.yaml\.sig\)/);
    expect(r.stderr).toContain('signed config.yaml and 1 payload as "CN=owner laptop"');
    mkdirSync(copy);
    execFileSync('mcopy', ['-s', '-n', '-i', stick, '::/flint', copy], { env: hostEnv });
    expect(readFileSync(join(copy, 'flint/config.yaml'), 'utf8')).not.toContain('correct horse');
    const v = flint(['verify', join(copy, 'flint/config.yaml'), '--trust', files.ca]);
    expect(v.status, v.stderr + v.stdout).toBe(0);
    expect(v.stdout).toContain('owner laptop');
    expect(flint(['drive', 'create', join(src, 'config.yaml'), '--for', 'cloud-init', '--sign', '--key', files.key, '--cert', files.cert, '-o', join(tmp, 'x.img')]).stderr).toMatch(/--sign is for flint sticks: cloud-init does not check signatures/);
  });

  /** A first boot with the stick's config (and its .sig) in the target's /boot/firmware. */
  function firstBoot(name: string, change?: (text: string) => string, signed = true): { code: number | null; out: string; before: Record<string, string>; after: Record<string, string>; sysroot: string } {
    const sysroot = join(tmp, name, 'sysroot');
    mkdirSync(join(sysroot, 'etc'), { recursive: true });
    mkdirSync(join(sysroot, 'boot/firmware'), { recursive: true });
    writeFileSync(join(sysroot, 'etc/machine-id'), '');
    writeFileSync(join(sysroot, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    writeFileSync(join(sysroot, 'etc/group'), 'root:x:0:\n');
    writeFileSync(join(sysroot, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o600 });
    mkdirSync(join(sysroot, 'bin'));
    writeFileSync(join(sysroot, 'bin/sh'), '', { mode: 0o755 });
    const text = readFileSync(join(copy, 'flint/config.yaml'), 'utf8').replace(/source: file:payload\/motd/, 'contents: "signed motd\\n"');
    // The boot folder carries the file only: the payload goes inline, so sign that text.
    writeFileSync(join(tmp, name, 'flint.yaml'), text);
    const s = flint(['sign', join(tmp, name, 'flint.yaml'), '--key', files.key, '--cert', files.cert, '-o', join(sysroot, 'boot/firmware/flint.yaml.sig')]);
    expect(s.status, s.stderr).toBe(0);
    if (!signed) rmSync(join(sysroot, 'boot/firmware/flint.yaml.sig'));
    writeFileSync(join(sysroot, 'boot/firmware/flint.yaml'), change !== undefined ? change(text) : text);
    const trust = join(tmp, name, 'trust');
    mkdirSync(trust);
    writeFileSync(join(trust, 'owner.pem'), ca.certPem);
    writeFileSync(join(tmp, name, 'cmdline'), 'flint.trust=required flint.timeout=0\n');
    mkdirSync(join(tmp, name, 'fwcfg'));
    const before = snapshot(sysroot);
    const r = flint(['run', '--sysroot', sysroot, '--cmdline', join(tmp, name, 'cmdline'), '--fw-cfg', join(tmp, name, 'fwcfg'), '--sys', join(tmp, name, 'fwcfg'), '--work', join(tmp, name, 'work'), '--trust-dir', trust]);
    return { code: r.status, out: r.stdout + r.stderr, before, after: snapshot(sysroot), sysroot };
  }

  it('flint.trust=required: the signed config is applied, and the report names the signer', () => {
    const r = firstBoot('good');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/config signed by "owner laptop"/);
    expect(readFileSync(join(r.sysroot, 'etc/hostname'), 'utf8')).toBe('signed-host\n');
    expect(JSON.parse(readFileSync(join(r.sysroot, 'var/log/flint/result.json'), 'utf8'))).toMatchObject({ signature: { policy: 'required', signed: true, signer: 'owner laptop' } });
  });

  it('a changed byte, or no signature at all: REFUSED, and nothing in the target changes', () => {
    for (const [name, change, signed] of [['tampered', (t: string) => t.replace('signed-host', 'evil-host'), true], ['unsigned', undefined, false]] as const) {
      const r = firstBoot(name, change, signed);
      expect(r.code, r.out).toBe(1);
      expect(r.out).toMatch(/flint: REFUSED the config from/);
      expect(r.after, name).toEqual(r.before);
    }
  });
});
