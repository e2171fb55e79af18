/** The command line: exit codes, --json, help, and the bundled executable itself. */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { Output } from '../../src/cli/output.js';

function run(argv: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const io: Output = { out: (s) => (out += s + '\n'), err: (s) => (err += s + '\n'), color: false };
  const code = main(argv, io);
  // validate, help and usage errors answer synchronously: that keeps start-up short.
  if (typeof code !== 'number') throw new Error(`flint ${argv.join(' ')} did not answer synchronously`);
  return { code, out, err };
}

const root = new URL('../../', import.meta.url).pathname;
const examples = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.yaml')).map((f) => join(root, 'examples', f));
const tmp = mkdtempSync(join(tmpdir(), 'flint-cli-'));
const bad = join(tmp, 'bad.yaml');
writeFileSync(bad, 'version: 1\nusers:\n  - name: admin\n    sshAuthorizedKeys: []\nfiles:\n  - path: /etc/motd\n    mode: 644\n');
const warn = join(tmp, 'warn.yaml');
writeFileSync(warn, 'version: 1\nusers:\n  - name: a\n    password: "correct horse battery"\n');

describe('flint validate', () => {
  it('accepts every example (exit 0)', () => {
    expect(examples.length).toBeGreaterThanOrEqual(4);
    const r = run(['validate', ...examples]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    for (const e of examples) expect(r.out).toContain(`${e}: valid`);
  });

  it('reports every problem of an invalid file with its position, and exits 1', () => {
    const r = run(['validate', bad]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${bad}:4:5: error: unknown key "sshAuthorizedKeys" in users[0]`);
    expect(r.err).toContain('hint: did you mean "ssh_authorized_keys"?');
    expect(r.err).toContain(`${bad}:7:11: error: mode 644 has no leading 0`);
    expect(r.err).toContain('  7 |     mode: 644\n    |           ^^^\n');
    expect(r.out).toContain(`${bad}: invalid (2 errors)`);
  });

  it('prints JSON that parses, with line, column, path, severity and message', () => {
    const r = run(['validate', '--json', bad, examples[0]!]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.out) as { valid: boolean; files: Array<{ file: string; valid: boolean; diagnostics: Array<Record<string, unknown>> }> };
    expect(doc.valid).toBe(false);
    expect(doc.files[0]!.diagnostics[0]).toMatchObject({ line: 4, column: 5, path: 'users[0].sshAuthorizedKeys', severity: 'error', code: 'unknown-key' });
    expect(doc.files[1]!.valid).toBe(true);
    expect(r.err).toBe('');
  });

  it('allows warnings, unless --strict', () => {
    const r = run(['validate', warn]);
    expect(r.code).toBe(0);
    expect(r.err).toContain('warning: a plain-text password is in this config');
    expect(r.err).not.toContain('correct horse battery');
    expect(run(['validate', '--strict', warn]).code).toBe(1);
  });

  it('exits 2 for a file it cannot read, and for usage errors', () => {
    const missing = run(['validate', join(tmp, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('cannot read: no such file');
    expect(run(['validate']).code).toBe(2);
    const typo = run(['validate', '--strcit', bad]);
    expect(typo.code).toBe(2);
    expect(typo.err).toContain('did you mean --strict?');
    expect(run(['valdate', bad]).err).toContain('did you mean "validate"?');
  });
});

describe('help and version', () => {
  it('flint --help lists the commands', () => {
    const r = run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('validate FILE...');
  });
  it('flint help validate and flint validate --help print the same page', () => {
    expect(run(['help', 'validate']).out).toBe(run(['validate', '--help']).out);
    expect(run(['help', 'validate']).out).toContain('Exit status: 0 valid');
  });
  it('flint without a command prints usage and exits 2', () => {
    expect(run([]).code).toBe(2);
  });
});

describe('the bundled executable dist/flint.mjs', () => {
  const bin = join(root, 'dist/flint.mjs');
  it.runIf(existsSync(bin))('runs with node alone and agrees with the sources', () => {
    const ok = spawnSync(process.execPath, [bin, 'validate', ...examples], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    const badRun = spawnSync(process.execPath, [bin, 'validate', '--json', bad], { encoding: 'utf8' });
    expect(badRun.status).toBe(1);
    expect(JSON.parse(badRun.stdout).files[0].diagnostics).toHaveLength(2);
    expect(execFileSync(process.execPath, [bin, '--version'], { encoding: 'utf8' }).trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
  it.runIf(existsSync(bin))('works without its optional code cache', () => {
    const copy = join(tmp, 'flint.mjs');
    writeFileSync(copy, execFileSync('cat', [bin]));
    const r = spawnSync(process.execPath, [copy, 'validate', examples[0]!], { encoding: 'utf8' });
    expect(r.status).toBe(0);
  });
  it('exists: npm test builds it first', () => {
    expect(existsSync(bin)).toBe(true);
  });
});

async function runAsync(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Output = { out: (s) => (out += s + '\n'), err: (s) => (err += s + '\n'), color: false };
  const code = await main(argv, io);
  return { code, out, err };
}

describe('other tools\' configs: validate and convert', () => {
  const foreign = [join(root, 'examples/ignition.ign'), join(root, 'examples/nocloud'), join(root, 'examples/combustion/script')];

  it('validates the Ignition, NoCloud and Combustion examples, naming each format', async () => {
    const r = await runAsync(['validate', '--strict', ...foreign]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('examples/ignition.ign (Ignition config): valid');
    expect(r.out).toContain('examples/nocloud (cloud-init NoCloud seed): valid');
    expect(r.out).toContain('examples/combustion/script (Combustion script): valid');
  });

  it('a broken Ignition config gets its line and column, exit 1', async () => {
    const f = join(tmp, 'broken.ign');
    writeFileSync(f, '{\n  "ignition": {"version": "3.3.0"},\n  "storage": {"files": [{"path": 5}]}\n}\n');
    const r = await runAsync(['validate', f]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`${f}:3:\\d+: error: `));
    expect(r.out).toContain(`${f} (Ignition config): invalid`);
  });

  it('a broken cloud-config gets its line and column, exit 1', async () => {
    const f = join(tmp, 'user-data');
    writeFileSync(f, '#cloud-config\nusers:\n  - name: a\n    groups: [x\n');
    const r = await runAsync(['validate', '--json', f]);
    expect(r.code).toBe(1);
    const d = JSON.parse(r.out).files[0].diagnostics[0];
    expect([d.file, d.line]).toEqual([f, 5]);
  });

  it('convert prints a flint config that validates as flint\'s own', async () => {
    for (const input of foreign) {
      const r = await runAsync(['convert', input]);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/^# Converted by flint from /);
      const out = join(tmp, `converted-${foreign.indexOf(input)}.yaml`);
      writeFileSync(out, r.out);
      const v = run(['validate', out]);
      expect(v.code, v.err).toBe(0);
    }
  });

  it('convert --to json prints JSON; an invalid input is not converted (exit 1)', async () => {
    const r = await runAsync(['convert', '--to', 'json', join(root, 'examples/ignition.ign')]);
    expect(JSON.parse(r.out).users[0].name).toBe('core');
    const bad = await runAsync(['convert', join(tmp, 'broken.ign')]);
    expect(bad.code).toBe(1);
    expect(bad.out).toBe('');
  });
});

describe('flint fleet build: refusals', () => {
  it('an invalid config: its diagnostics at their lines, exit 1, no output folder', async () => {
    const f = join(tmp, 'fleet-bad.yaml');
    writeFileSync(f, 'version: 1\nusers:\n  - name: Bad Name\n');
    const out = join(tmp, 'fleet-bad-out');
    const r = await runAsync(['fleet', 'build', f, '-o', out]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${f}:3:11: error: a user name is`);
    expect(existsSync(out)).toBe(false);
  });

  it('--key without --sign is a usage error that says what --key is for', async () => {
    const f = join(tmp, 'fleet-ok.yaml');
    writeFileSync(f, 'version: 1\nhostname: a\n');
    const r = await runAsync(['fleet', 'build', f, '-o', join(tmp, 'fleet-ok-out'), '--key', 'k.pem']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--key is for --sign');
  });
});
