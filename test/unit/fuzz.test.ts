/**
 * Seeded fuzzing: thousands of random mutations of the examples. The validator must
 * never throw, must always place its diagnostics inside the text, and must never show
 * a secret of the config. FLINT_FUZZ_SEED and FLINT_FUZZ_RUNS change the run.
 */
import { describe, expect, it } from 'vitest';
import { validateText } from '../../src/config/validate.js';
import { examples, mutate, rng } from './mutate.js';

const seed0 = Number(process.env.FLINT_FUZZ_SEED ?? 20261126);
const runs = Number(process.env.FLINT_FUZZ_RUNS ?? 3000);

/** Secrets in the examples that no diagnostic may show. */
const SECRETS = ['change me: 8 to 63 characters', 'Y6HW81Diid5bA2f4WC1dMQb2YfEE'];

describe(`fuzz: ${runs} mutations of the examples, seed ${seed0}`, () => {
  it('never throws, always positions its diagnostics, never shows a secret', () => {
    const r = rng(seed0);
    let invalid = 0;
    for (let k = 0; k < runs; k++) {
      const ex = examples[r(examples.length)]!;
      const text = mutate(ex.text, r);
      const where = `seed ${seed0}, mutation ${k} of ${ex.name}:\n${text}`;
      let result;
      try {
        result = validateText(ex.name, text);
      } catch (e) {
        throw new Error(`validator threw (${String(e)}) at ${where}`);
      }
      const lineCount = text.split('\n').length;
      for (const d of result.diagnostics) {
        const ok =
          Number.isInteger(d.line) && d.line >= 1 && d.line <= lineCount &&
          Number.isInteger(d.column) && d.column >= 1 &&
          typeof d.path === 'string' && d.message.length > 0 &&
          (d.severity === 'error' || d.severity === 'warning') &&
          typeof d.source === 'string';
        if (!ok) throw new Error(`bad diagnostic ${JSON.stringify(d)} at ${where}`);
        for (const secret of SECRETS) {
          if (`${d.message} ${d.hint ?? ''} ${d.source}`.includes(secret)) throw new Error(`secret shown in ${JSON.stringify(d)} at ${where}`);
        }
      }
      if (result.diagnostics.some((d) => d.severity === 'error')) {
        invalid++;
        expect(result.config).toBeUndefined();
      } else expect(result.config).toBeDefined();
    }
    // A fuzzer whose mutations are all harmless tests nothing.
    expect(invalid).toBeGreaterThan(runs / 4);
  });
});
