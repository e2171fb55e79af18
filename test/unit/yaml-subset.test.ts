/**
 * The quick parser for plain YAML (src/config/yaml-subset.ts) against the yaml library:
 * wherever the quick parser takes a text, loading it must give what yaml gives (the
 * same values, positions, raw mode text and secrets, and no yaml diagnostic), and it
 * must leave to yaml whatever yaml refuses or warns about. FLINT_FUZZ_SEED and
 * FLINT_FUZZ_RUNS change the run.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { LoadedConfig, Span } from '../../src/config/load.js';
import { parseYamlSubset } from '../../src/config/yaml-subset.js';
import { examples, mutate, rng, TOKENS } from './mutate.js';

const seed0 = Number(process.env.FLINT_FUZZ_SEED ?? 20261127);
const runs = Number(process.env.FLINT_FUZZ_RUNS ?? 3000);

const typical = { name: 'typical.flint.yaml', text: readFileSync(new URL('../../bench/peers/typical.flint.yaml', import.meta.url), 'utf8') };

/** Hand-written texts for each part of the subset and its edges. */
const CASES: Record<string, string> = {
  'scalars typed by the core schema': 'a: 0644\nb: 0o17\nc: 0x1F\nd: 1e3\ne: .inf\nf: -.5\ng: +12\nh: ~\ni: Null\nj: TRUE\nk: false\nl: 1.2.3.4\nm: 192.168.1.1/24\nn: -0\no: .NaN\np: 00\n',
  'keys that are numbers and booleans': '1: a\ntrue: b\n0o7: c\n',
  'empty values': 'a:\nb:   # note\nc:\n  -\n  - x\n  -   # empty\nd:',
  'quoted scalars': `a: "x\\ny\\t\\"q\\" \\u00e9 \\\\"\nb: 'it''s # not a comment'\nc: "a: b"\nd: ""\ne: ''\n`,
  'comments everywhere': '# head\n\na: 1 # one\n  # indented\n\n# between\nb:\n  # first\n  - x # ex\n\n  # inner\n  - y\n# tail\n',
  'lists at their key\'s indentation': 'a:\n- x\n- y: 1\n  z: 2\nb: 3\n',
  'maps in lists': 'users:\n  - name: a\n    groups: [wheel, "media", \'x y\']\n    shell: /bin/bash\n  -   name: b\n      uid: 1001\n',
  'flow lists': 'a: []\nb: [1, true, ~, "x,y"]\nc: [ a , b ]  # sp\n',
  'flow maps': 'a: {}\nb: {mac: "dc:a6:32", n: [1, {x: y}]}\n- {path: /srv, mode: 0755}\n'.replace('- {', 'c:\n  - {'),
  'literal blocks': 'a: |\n  one\n\n  two\n    indented\n\nb: |-\n  stripped\n  text\nc: |  # comment\n  x\n\n\nd: 1\ne: |\n    deep\n    text\n',
  'literal at the end without a newline': 'a: |\n  one\n  two',
  'literal in a list': 'a:\n  - |\n    one\n  - |-\n    two\n',
  'a plain value at the end without a newline': 'a: b',
  'secrets': 'users:\n  - name: a\n    password: "hunter2"\n    password_hash: $6$x$y\n    pasword: typo\nwifi:\n  ssid: x\n  psk: secret\nkey: |\n  -----BEGIN OPENSSH PRIVATE KEY-----\n  abc\n',
  // Left to yaml:
  'anchors and aliases': 'a: &x 1\nb: *x\n',
  'a tab': 'a:\tb\n',
  'CRLF': 'a: b\r\nc: d\r\n',
  'folded text': 'a: >\n  one\n  two\n',
  'a multi-line plain scalar': 'a: one\n  two\n',
  'a flow map over lines': 'a: {b: 1,\n  c: 2}\n',
  'a duplicate key': 'a: 1\na: 2\n',
  'a document marker': '---\na: 1\n',
  'bad indentation': 'a:\n    b: 1\n  c: 2\n',
  'a nested map on one line': 'a: b: c\n',
  'a list in a list on one line': '- - a\n',
  'keep chomping': 'a: |+\n  x\n\n',
  'a top-level scalar': 'just text\n',
  'an indented document': '  a: 1\n',
  'a tag': 'a: !!str 1\n',
  'an explicit key': '? a: b\n: c\n',
  'an explicit key in a list': 'l:\n  - ? a\n    : b\n',
  'an empty file': '',
};

const SUBSET_TOKENS = [...TOKENS, '- ', '  ', '|-', '"a\\nb"', "'it''s'", '[a, b]', '[]', '1.5', '0o17', '0x1F', '.inf', '-0', '+1', '1e3', 'a: b', 'k:', ' # c', 'True', 'NULL', '"\\u00e9"', '"\\x41"'];

/** Spans as diagnostics read them: cut at the end of their first line (validate.ts firstLineOf). */
function firstLine(text: string, s: Span): Span {
  const nl = text.indexOf('\n', s.start);
  return { start: s.start, end: nl >= 0 && nl < s.end ? nl : s.end };
}

function comparable(l: LoadedConfig) {
  return {
    value: l.value,
    nodes: [...l.nodes].map(([p, n]) => ({ p, key: n.key, value: firstLine(l.text, n.value), raw: n.raw })),
    secrets: l.secrets,
    diagnostics: l.diagnostics,
  };
}

/** True when the quick parser took the text; throws if that differs from yaml. */
function agrees(name: string, text: string): boolean {
  if (parseYamlSubset(text) === undefined) return false;
  const quick = comparable(loadConfig(name, text, { subset: true }));
  const full = comparable(loadConfig(name, text));
  expect(full.diagnostics.map((d) => `${d.line}:${d.column} ${d.message}`), `yaml finds problems in a text the quick parser took:\n${text}`).toEqual([]);
  expect(quick, `quick parser and yaml differ on:\n${text}`).toEqual(full);
  return true;
}


const WORDS = ['a', 'x y', 'dc:a6', 'a#b', '1', '0644', '-1', '1.5', 'true', 'Null', '~', '192.168.1.1/24', 'a-b', '$6$x$y', 'é', '0o17', '.5', '1e3', 'k: v', 'a,b', '[x]', '- x', '#c', "it's", 'say "hi"', 'tab\there', 'back\\slash', ' lead', 'trail '];
const KEYS = ['name', 'mode', 'password', 'psk', 'wifi', 'users', 'a', 'b c', '1', 'true', 'x-y', 'pasword', 'key'];

/** A random scalar, written plain, double-quoted or single-quoted (yaml decides whether it is valid). */
function scalarText(r: (n: number) => number): string {
  const w = WORDS[r(WORDS.length)]!;
  switch (r(4)) {
    case 0: return JSON.stringify(w);
    case 1: return `'${w.replaceAll("'", "''")}'`;
    default: return w;
  }
}

/** A random config-like document in block style, with comments, blank lines and flow and literal values. */
function randomYaml(r: (n: number) => number): string {
  const lines: string[] = [];
  const noise = (pad: string) => {
    if (r(6) === 0) lines.push('');
    if (r(6) === 0) lines.push(`${r(2) === 0 ? pad : ''}# note`);
  };
  const flow = (depth: number): string => {
    if (depth > 1 || r(3) > 0) return scalarText(r);
    return r(2) === 0 ? `[${Array.from({ length: r(3) }, () => flow(depth + 1)).join(', ')}]` : `{${Array.from({ length: 1 + r(2) }, (_, i) => `${KEYS[i]}: ${flow(depth + 1)}`).join(', ')}}`;
  };
  const value = (head: string, pad: string, depth: number, underKey: boolean) => {
    const k = depth > 3 ? r(3) : r(7);
    if (k <= 1) lines.push(`${head} ${scalarText(r)}${r(4) === 0 ? '  # c' : ''}`);
    else if (k === 2) lines.push(`${head} ${flow(0)}`);
    else if (k === 3) {
      lines.push(`${head} |${r(2) === 0 ? '-' : ''}`);
      for (let i = 0, n = 1 + r(3); i < n; i++) lines.push(r(5) === 0 ? '' : `${pad}  ${r(4) === 0 ? '  ' : ''}${WORDS[r(WORDS.length)]}`);
    } else if (k === 4) {
      lines.push(r(3) === 0 ? `${head}  # empty` : head);
    } else {
      lines.push(head);
      const inner = underKey && r(3) === 0 ? pad : `${pad}  `;
      if (k === 5) map(inner, depth + 1);
      else seq(inner, depth + 1);
    }
  };
  const map = (pad: string, depth: number) => {
    const keys = [...KEYS].sort(() => r(3) - 1).slice(0, 1 + r(4));
    for (const key of keys) {
      noise(pad);
      value(`${pad}${key}:`, pad, depth, true);
    }
  };
  const seq = (pad: string, depth: number) => {
    for (let i = 0, n = 1 + r(3); i < n; i++) {
      noise(pad);
      if (r(3) === 0 && depth < 4) {
        // `- key: value` with the map's other keys below it.
        const at = lines.length;
        map(`${pad}  `, depth + 1);
        lines[at] = `${pad}- ${lines[at]!.slice(pad.length + 2)}`;
      } else value(`${pad}-`, pad, depth, false);
    }
  };
  map('', 0);
  noise('');
  return lines.join('\n') + (r(4) === 0 ? '' : '\n');
}

describe('yaml-subset: the quick parser gives what yaml gives', () => {
  it.each(examples.map((e) => [e.name, e.text] as const))('takes and agrees on examples/%s', (name, text) => {
    expect(agrees(name, text)).toBe(true);
  });

  it('takes and agrees on the benchmark config', () => {
    expect(agrees(typical.name, typical.text)).toBe(true);
  });

  const leftToYaml = new Set(Object.keys(CASES).slice(Object.keys(CASES).indexOf('anchors and aliases')));
  it.each(Object.entries(CASES))('%s', (name, text) => {
    expect(agrees('case.yaml', text)).toBe(!leftToYaml.has(name));
  });

  it(`agrees on ${runs} mutations of the examples (seed ${seed0}), and takes most of them`, () => {
    const r = rng(seed0);
    let taken = 0;
    for (let k = 0; k < runs; k++) {
      const ex = [...examples, typical][r(examples.length + 1)]!;
      const text = mutate(ex.text, r, SUBSET_TOKENS);
      try {
        if (agrees(ex.name, text)) taken++;
      } catch (e) {
        throw new Error(`seed ${seed0}, mutation ${k} of ${ex.name}: ${(e as Error).message}`);
      }
    }
    // Mutations that keep a text in the subset must be common, or this tests little.
    expect(taken).toBeGreaterThan(runs / 4);
  });

  it(`agrees on ${runs} random documents (seed ${seed0}), and takes most of them`, () => {
    const r = rng(seed0 + 1);
    let taken = 0;
    for (let k = 0; k < runs; k++) {
      const text = randomYaml(r);
      try {
        if (agrees('random.yaml', text)) taken++;
      } catch (e) {
        throw new Error(`seed ${seed0}, random document ${k}: ${(e as Error).message}`);
      }
    }
    expect(taken).toBeGreaterThan(runs / 4);
  });
});
