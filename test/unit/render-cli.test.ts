/**
 * The rendering commands: flint convert --to ignition|cloud-init, --strict, --host,
 * --ignition-version, and the usage errors; and that mutated configs which still
 * validate always render to something flint's own readers accept.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { Output } from '../../src/cli/output.js';
import { renderConfigFile } from '../../src/convert/render.js';
import { validateText } from '../../src/config/validate.js';
import { fixedHash } from '../helpers/render-configs.js';
import { examples, mutate, rng } from './mutate.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Output = { out: (s) => void (out += s + '\n'), err: (s) => void (err += s + '\n'), color: false };
  const code = await main(argv, io);
  return { code, out, err };
}

const root = new URL('../../', import.meta.url).pathname;
const ex = (n: string) => join(root, 'examples', n);

describe('flint convert --to ignition|cloud-init', () => {
  it('prints the Ignition config, losses first on standard error', async () => {
    const r = await run(['convert', ex('raspberry-pi.yaml'), '--to', 'ignition']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).ignition.version).toBe('3.3.0');
    expect(r.err).toMatch(/raspberry-pi\.yaml:\d+:\d+: warning: the Wi-Fi regulatory domain is not set/);
    expect(r.err).toContain('--strict refuses instead');
  });

  it('--strict writes nothing when something is lost, and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flint-render-'));
    const r = await run(['convert', ex('raspberry-pi.yaml'), '--to', 'ignition', '--strict', '-o', join(dir, 'c.ign')]);
    expect(r.code).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
    const ok = await run(['convert', ex('usb-minimal.yaml'), '--to', 'ignition', '--strict', '-o', join(dir, 'c.ign')]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'c.ign'), 'utf8')).passwd.users[0].name).toBe('admin');
  });

  it('writes a NoCloud seed folder with -o', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'flint-render-')), 'seed');
    const r = await run(['convert', ex('raspberry-pi.yaml'), '--to', 'cloud-init', '-o', dir]);
    expect(r.code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['meta-data', 'network-config', 'user-data']);
    expect(readFileSync(join(dir, 'user-data'), 'utf8')).toMatch(/^#cloud-config\n/);
    expect(readFileSync(join(dir, 'network-config'), 'utf8')).not.toContain('change me');
  });

  it('renders one machine with --host, and refuses an unknown one', async () => {
    const r = await run(['convert', ex('fleet.yaml'), '--to', 'ignition', '--host', 'dc:a6:32:aa:bb:02']);
    expect(r.code).toBe(0);
    expect(r.err).not.toContain('hosts[');
    const bad = await run(['convert', ex('fleet.yaml'), '--to', 'ignition', '--host', '9']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('--host 9: no hosts: entry with index 9');
  });

  it('usage errors: unknown target, --ignition-version for cloud-init, a foreign input, --for combustion', async () => {
    expect((await run(['convert', ex('usb-minimal.yaml'), '--to', 'butane'])).code).toBe(2);
    expect((await run(['convert', ex('usb-minimal.yaml'), '--to', 'cloud-init', '--ignition-version', '3.3.0'])).code).toBe(2);
    expect((await run(['convert', ex('usb-minimal.yaml'), '--to', 'ignition', '--ignition-version', '2.0.0'])).code).toBe(2);
    const foreign = await run(['convert', ex('ignition.ign'), '--to', 'cloud-init']);
    expect(foreign.code).toBe(2);
    expect(foreign.err).toContain('not a flint config');
    // A Combustion "rendering" is a stick carrying flint itself, not a text to print.
    const combustion = await run(['convert', ex('usb-minimal.yaml'), '--to', 'combustion']);
    expect(combustion.code).toBe(2);
    expect(combustion.err).toContain('flint drive create CONFIG --for combustion -o stick.img');
    const arch = await run(['drive', 'create', ex('usb-minimal.yaml'), '--arch', 'x86_64', '-o', '/tmp/x.img']);
    expect(arch.code).toBe(2);
    expect(arch.err).toContain('--arch is for --for combustion');
  });
});

describe('mutated configs that still validate', () => {
  it('always render to configs flint\'s own readers accept', () => {
    let rendered = 0;
    for (const e of examples) {
      const r = rng(e.name.length * 31 + 7);
      for (let i = 0; i < 60; i++) {
        const text = mutate(e.text, r);
        if (validateText('m.yaml', text).config === undefined) continue;
        for (const target of ['ignition', 'cloud-init'] as const) {
          // A file: payload the mutation invented may be missing: that is a RenderError, not a crash.
          try {
            renderConfigFile(ex(e.name), { target, hash: fixedHash }, text);
            rendered++;
          } catch (err) {
            expect((err as Error).constructor.name).toBe('RenderError');
            expect((err as Error).message).not.toMatch(/does not pass flint's own/);
          }
        }
      }
    }
    expect(rendered).toBeGreaterThan(50);
  });
});
