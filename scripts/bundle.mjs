// Build step: bundle the CLI into one file, dist/flint.mjs. The initramfs ships that
// file and node, nothing else.
import { chmodSync } from 'node:fs';
import { build } from 'esbuild';

const pkg = JSON.parse(await (await import('node:fs/promises')).readFile(new URL('../package.json', import.meta.url), 'utf8'));
await build({
  entryPoints: ['src/cli/flint.ts'],
  outfile: 'dist/flint.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minifySyntax: true,
  legalComments: 'none',
  banner: {
    // Some bundled CommonJS packages call require(); give them one.
    js: "import { createRequire as __flintCreateRequire } from 'node:module';\nconst require = __flintCreateRequire(import.meta.url);",
  },
  define: { FLINT_VERSION: JSON.stringify(pkg.version) },
  logLevel: 'warning',
});
chmodSync('dist/flint.mjs', 0o755);
console.log('bundled dist/flint.mjs');
