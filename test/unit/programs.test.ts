/**
 * The program table (src/system/programs.ts) against the dracut module: every program
 * flint starts in the initramfs must be installed there, or the first boot finds it
 * missing on a machine nobody can reach yet.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PROGRAMS } from '../../src/system/programs.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The programs module-setup.sh installs: the words of its inst_multiple commands. */
function installed(script: string): Set<string> {
  const joined = script.replace(/\\\n\s*/g, ' ');
  const words = [...joined.matchAll(/^\s*inst_multiple\s+(.*)$/gm)].flatMap((m) => m[1]!.split(/\s+/));
  return new Set(words.filter((w) => w !== '' && !w.startsWith('-')));
}

describe('the program table', () => {
  const setup = readFileSync(join(ROOT, 'initrd/dracut/95flint/module-setup.sh'), 'utf8');
  const have = installed(setup);

  it('reads the install lines of a module-setup.sh', () => {
    expect([...installed('inst_multiple a b\n    inst_multiple -o c \\\n        d\n')]).toEqual(['a', 'b', 'c', 'd']);
  });

  it.each(Object.entries(PROGRAMS).filter(([, p]) => (p.where as readonly string[]).includes('initramfs')).map(([name]) => [name]))('%s, run in the initramfs, is installed by the dracut module', (name) => {
    expect(have.has(name.split('/').pop()!), `add ${name} to an inst_multiple line of initrd/dracut/95flint/module-setup.sh`).toBe(true);
  });
});
