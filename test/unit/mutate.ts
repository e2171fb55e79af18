/** The examples, and seeded random mutations of config texts: shared by the fuzz tests. */
import { readFileSync, readdirSync } from 'node:fs';

const dir = new URL('../../examples/', import.meta.url);

/** Every examples/*.yaml, with its file name. */
export const examples: ReadonlyArray<{ name: string; text: string }> = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => ({ name: f, text: readFileSync(new URL(f, dir), 'utf8') }));

export function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    // xorshift32: small, fast, and the same sequence on every machine.
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

export const TOKENS = [':', '-', ' ', '\n', '[', ']', '{', '}', '"', "'", '#', '\t', '&a', '*a', '!!str ', '0', '7', '644', '0755', 'x', 'null', '~', 'true', '|', '>', ',', '@', '%', '\\', '..', '/', 'é', '\u0000'];

/** One to three line edits: delete, repeat, insert a token, cut, re-indent, swap, replace a value, truncate. */
export function mutate(text: string, r: (n: number) => number, tokens: readonly string[] = TOKENS): string {
  let lines = text.split('\n');
  const edits = 1 + r(3);
  for (let e = 0; e < edits; e++) {
    const i = r(lines.length);
    const line = lines[i] ?? '';
    switch (r(8)) {
      case 0: lines.splice(i, 1); break;
      case 1: lines.splice(i, 0, line); break;
      case 2: { const at = r(line.length + 1); lines[i] = line.slice(0, at) + tokens[r(tokens.length)]! + line.slice(at); break; }
      case 3: { const at = r(Math.max(1, line.length)); lines[i] = line.slice(0, at) + line.slice(at + 1 + r(4)); break; }
      case 4: lines[i] = ' '.repeat(r(6)) + line.trimStart(); break;
      case 5: { const j = r(lines.length); [lines[i], lines[j]] = [lines[j] ?? '', line]; break; }
      case 6: lines[i] = line.replace(/:\s.*$/, `: ${tokens[r(tokens.length)]}`); break;
      default: lines = lines.slice(0, r(lines.length + 1)); break;
    }
  }
  return lines.join('\n');
}
