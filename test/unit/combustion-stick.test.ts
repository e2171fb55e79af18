/**
 * The Combustion stick, round trip: for every example, what the stick carries under
 * combustion/flint/ is the config flint would put on its own stick (passwords hashed)
 * and every payload it names, byte for byte, so reading it back gives the same flint
 * config and nothing is lost; the script hands exactly that file to flint apply, for the
 * architectures on the stick. How Combustion runs it: test/integration/self-contained.test.ts.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { combustionFiles, combustionScript, needsNetwork } from '../../src/media/combustion-stick.js';
import { prepareConfig } from '../../src/media/prepare.js';

const EXAMPLES = join(import.meta.dirname, '../../examples');
const FAKE = { x64: Buffer.from('x64 flint'), arm64: Buffer.from('arm64 flint') };

describe('combustion stick', () => {
  const examples = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));
  it.each(examples)('%s: the config and its payloads unchanged under combustion/flint/, and the script runs them', async (name) => {
    const prepared = await prepareConfig(join(EXAMPLES, name), () => '$6$rounds=5000$saltsalt$hash');
    const files = combustionFiles(prepared, [{ arch: 'x86_64', data: FAKE.x64 }, { arch: 'aarch64', data: FAKE.arm64 }], '1.2.3');
    const byRel = new Map(files.map((f) => [f.rel, f.data]));
    expect(byRel.get(`combustion/flint/${prepared.name}`)).toBe(prepared.text);
    expect(parse(String(byRel.get(`combustion/flint/${prepared.name}`)))).toEqual(parse(prepared.text));
    for (const p of prepared.payloads) expect(byRel.get(`combustion/flint/${p.rel}`)).toEqual(p.data);
    expect(byRel.get('combustion/flint-linux-x64')).toBe(FAKE.x64);
    expect(byRel.get('combustion/flint-linux-arm64')).toBe(FAKE.arm64);
    expect(files.length).toBe(4 + prepared.payloads.length);
    const script = String(byRel.get('combustion/script'));
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(script).toContain(`exec "$exe" apply --root / flint/${prepared.name}\n`);
    expect(script).toContain('  x86_64) exe=./flint-linux-x64 ;;');
    expect(script).toContain('  aarch64) exe=./flint-linux-arm64 ;;');
    expect(script.includes('# combustion: network')).toBe(needsNetwork(parse(prepared.text)));
  });

  it('asks Combustion for the network only when the config needs it there', () => {
    expect(needsNetwork({ network: { in_initrd: true } })).toBe(true);
    expect(needsNetwork({ files: [{ path: '/x', source: 'https://example.org/x' }] })).toBe(true);
    expect(needsNetwork({ files: [{ path: '/x', source: 'file:x' }], network: { in_initrd: false } })).toBe(false);
    const one = combustionScript({ version: 'dev', network: false, config: 'config.yaml', arches: ['aarch64'] });
    expect(one).not.toContain('flint-linux-x64');
    expect(one).toContain('this stick has no flint for $(uname -m) (it has: aarch64)');
  });
});
