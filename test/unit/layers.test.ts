/**
 * The layout is the pipeline: each folder of src/ is a layer, and a module imports only
 * from its own layer or the layers below it, with no cycle anywhere (type imports
 * included, since they are still a dependency a reader must follow).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** Bottom to top. */
const LAYERS = ['system', 'crypt', 'config', 'target', 'transaction', 'engine', 'steps', 'convert', 'discover', 'trust', 'media', 'pipeline', 'cli'] as const;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports of each module (static, dynamic, re-exports), as paths under src/. */
function importGraph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'/g), ...text.matchAll(/import\(\s*'(\.[^']+)'\s*\)/g)].map((m) => m[1]!);
    g.set(relative(SRC, file), specs.map((s) => relative(SRC, resolve(dirname(file), s)).replace(/\.js$/, '.ts')));
  }
  return g;
}

/**
 * A step's checks (steps/<domain>/checks.ts) are part of the format: config-layer code
 * kept beside its step, run by config/semantic.ts, so they may import only what the
 * config layer may.
 */
const layerOf = (path: string): number => LAYERS.indexOf((/^steps\/[^/]+\/checks\.ts$/.test(path) ? 'config' : path.split('/')[0]) as (typeof LAYERS)[number]);

function cycles(g: Map<string, string[]>): string[][] {
  const out: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (v: string): void => {
    state.set(v, 'open');
    stack.push(v);
    for (const w of g.get(v) ?? []) {
      if (state.get(w) === 'open') out.push([...stack.slice(stack.indexOf(w)), w]);
      else if (!state.has(w) && g.has(w)) visit(w);
    }
    stack.pop();
    state.set(v, 'done');
  };
  for (const v of g.keys()) if (!state.has(v)) visit(v);
  return out;
}

describe('layers', () => {
  const graph = importGraph();

  it('every folder of src/ is a known layer', () => {
    const unknown = [...graph.keys()].filter((f) => layerOf(f) < 0);
    expect(unknown, 'put each module in a layer folder (or add the folder to LAYERS in its place)').toEqual([]);
  });

  it('no module imports from a layer above its own', () => {
    const upward = [...graph].flatMap(([f, deps]) => deps.filter((d) => layerOf(d) > layerOf(f)).map((d) => `${f} -> ${d}`));
    expect(upward).toEqual([]);
  });

  it('no import cycles', () => {
    expect(cycles(graph).map((c) => c.join(' -> '))).toEqual([]);
  });

  it('the checker sees an upward import and a cycle when there is one', () => {
    const g = new Map([
      ['engine/a.ts', ['pipeline/b.ts']],
      ['pipeline/b.ts', ['engine/a.ts']],
    ]);
    expect(cycles(g)).toHaveLength(1);
    expect(layerOf('pipeline/b.ts')).toBeGreaterThan(layerOf('engine/a.ts'));
    expect(layerOf('steps/ntp/checks.ts')).toBe(layerOf('config/semantic.ts'));
    expect(layerOf('steps/ntp/step.ts')).toBeGreaterThan(layerOf('config/semantic.ts'));
  });
});
