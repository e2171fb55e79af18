// Runs a TypeScript entry point of the VM tests outside vitest (`npm run demo:vm`, building
// the guest by hand): esbuild bundles it into node_modules/.cache, where its imports of
// installed packages resolve, and node runs the result.
import { mkdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const [entry, ...rest] = process.argv.slice(2);
if (entry === undefined) {
  console.error('usage: node test/vm/run-ts.mjs FILE.ts [ARGS...]');
  process.exit(2);
}
const outDir = resolve('node_modules/.cache/flint-vm');
mkdirSync(outDir, { recursive: true });
const outfile = resolve(outDir, `${process.pid}.mjs`);
await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile, packages: 'external', logLevel: 'warning' });
process.argv = [process.argv[0], entry, ...rest];
try {
  await import(pathToFileURL(outfile).href);
} finally {
  rmSync(outfile, { force: true });
}
