// Build step: bundle the CLI for the initramfs, which ships node and these files only:
//   dist/flint.mjs        the executable: a small loader
//   dist/flint.cjs        everything else, one file
//   dist/flint.cjs.cache  V8's compiled code for it, made here by one warm-up run
// Node 20 has no compile cache for modules, and compiling the bundle on every start
// costs more than validating a config; vm.Script with cachedData skips that. A cache
// V8 rejects (another node version) is ignored and the code is compiled as usual.
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/flint.cjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  // import.meta.url has no meaning in a CommonJS bundle; give it this file's URL.
  define: { FLINT_VERSION: JSON.stringify(pkg.version), 'import.meta.url': '__flintModuleUrl' },
  banner: { js: "var __flintModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});

writeFileSync(
  'dist/flint.mjs',
  `#!/usr/bin/env node
// flint's executable. Loads dist/flint.cjs with V8's code cache (see scripts/bundle.mjs).
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Script } from 'node:vm';

const file = new URL('./flint.cjs', import.meta.url).pathname;
const cacheFile = file + '.cache';
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
const script = new Script('(function (exports, require, module, __filename, __dirname) {' + readFileSync(file, 'utf8') + '\\n})', { filename: file, cachedData });
const module = { exports: {} };
script.runInThisContext()(module.exports, createRequire(file), module, file, new URL('.', import.meta.url).pathname);
if (process.env.FLINT_WRITE_CODE_CACHE === '1') process.on('exit', () => writeFileSync(cacheFile, script.createCachedData()));
process.exitCode = module.exports.main(process.argv.slice(2), module.exports.processOutput());
`,
);
chmodSync('dist/flint.mjs', 0o755);

// Warm-up run over the examples, so the cache holds the functions validate uses.
rmSync('dist/flint.cjs.cache', { force: true });
const examples = ['usb-minimal', 'raspberry-pi', 'microos-container-host', 'fleet'].map((n) => `examples/${n}.yaml`);
try {
  execFileSync(process.execPath, ['dist/flint.mjs', 'validate', ...examples], { env: { ...process.env, FLINT_WRITE_CODE_CACHE: '1' }, stdio: 'ignore' });
} catch {
  // An invalid example fails the tests, not the build; the cache is written either way.
}
console.log('bundled dist/flint.mjs, dist/flint.cjs, dist/flint.cjs.cache');
