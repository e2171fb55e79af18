/**
 * The step list is the one list of flint's domains: each step's folder holds the schema
 * of exactly the sections the step owns, the published schema is assembled from those
 * parts, and the order of the list gives every step the facts it needs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkOrder, factKey } from '../../src/engine/step.js';
import type { Step } from '../../src/engine/step.js';
import { FORMAT_KEYS, sectionNames, STEPS } from '../../src/steps/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const json = (p: string) => JSON.parse(readFileSync(join(ROOT, p), 'utf8')) as { properties: Record<string, unknown>; $defs: Record<string, unknown> };
const folders = [...readFileSync(join(ROOT, 'src/steps/index.ts'), 'utf8').matchAll(/^import \{ \w+ \} from '\.\/([\w-]+)\/step\.js';$/gm)].map((m) => m[1]!);
const published = json('schemas/flint-v1.schema.json');
const byName = (a: Step, b: Step) => a.name.localeCompare(b.name);

/** Each folder index.ts imports a step from, with the step of STEPS its step.ts exports. */
async function stepsByFolder(): Promise<Array<[string, Step]>> {
  const out: Array<[string, Step]> = [];
  for (const folder of folders) {
    const mod = (await import(`../../src/steps/${folder}/step.ts`)) as Record<string, unknown>;
    const step = Object.values(mod).find((v): v is Step => STEPS.includes(v as Step));
    if (step !== undefined) out.push([folder, step]);
  }
  return out;
}

describe('the step list', () => {
  it('gives each step the facts it needs, and no section or fact has two owners', () => {
    expect(checkOrder(STEPS)).toEqual([]);
  });

  it('imports every step from its folder', async () => {
    expect((await stepsByFolder()).map(([, s]) => s).sort(byName)).toEqual([...STEPS].sort(byName));
  });

  it('gives each step a folder that holds the schema of exactly its sections, as published', async () => {
    for (const [folder, step] of await stepsByFolder()) {
      const file = `src/steps/${folder}/schema.json`;
      const part = existsSync(join(ROOT, file)) ? json(file) : { properties: {}, $defs: {} };
      expect(Object.keys(part.properties).sort(), `${file} against ${step.name}'s sections`).toEqual([...step.sections].sort());
      for (const [k, v] of Object.entries(part.properties)) {
        expect(published.properties[k], `top level ${k}`).toEqual(v);
        expect((published.$defs.host as { properties: Record<string, unknown> }).properties[k], `hosts entry ${k}`).toEqual(v);
      }
      for (const [k, v] of Object.entries(part.$defs ?? {})) expect(published.$defs[k], `$defs ${k}`).toEqual(v);
    }
  });

  it('owns every key of the format but its own', () => {
    expect(sectionNames().sort()).toEqual(Object.keys(published.properties).filter((k) => !FORMAT_KEYS.includes(k)).sort());
  });
});

describe('checkOrder', () => {
  const accounts = factKey<number>('accounts');
  const step = (name: string, o: Partial<Step>): Step => ({ name, sections: [], plan: () => ({ actions: [], problems: [], warnings: [] }), ...o });

  it('refuses a step before the one that provides what it needs', () => {
    expect(checkOrder([step('files', { needs: [accounts] }), step('users', { provides: [accounts] })])).toEqual(['step files needs accounts, which no step before it provides']);
  });

  it('refuses two owners of one section or one fact', () => {
    expect(checkOrder([step('a', { sections: ['ntp'], provides: [accounts] }), step('b', { sections: ['ntp'], provides: [accounts] })])).toEqual(['accounts is provided by both a and b', 'section ntp is owned by both a and b']);
  });
});
