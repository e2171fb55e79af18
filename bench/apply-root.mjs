#!/usr/bin/env node
// bench/apply-root.mjs: print the path of the integration tests' cached Debian root,
// building it first if it is not there (debootstrap, ~2-5 min, needs root and network).
//
// It calls debianRoot() from test/integration/rootfs.ts, so the bench applies to exactly
// the root the integration tests use (same recipe, same cache key, same cache folder:
// ${FLINT_TEST_CACHE:-/var/cache/flint-test}/debian-bookworm-<key>). rootfs.ts is
// TypeScript; rather than needing tsx, it is bundled on the fly with esbuild (a
// devDependency, so `npm ci` provides it) into bench/generated/, next to node_modules.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const BENCH = dirname(fileURLToPath(import.meta.url));
const out = join(BENCH, 'generated', 'rootfs.bundle.mjs');
mkdirSync(dirname(out), { recursive: true });

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.error('apply-root: esbuild is missing: run `npm ci` in the repository first');
  process.exit(1);
}
await esbuild.build({
  entryPoints: [join(BENCH, '..', 'test', 'integration', 'rootfs.ts')],
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external', // execa comes from the repository's node_modules
  logLevel: 'error',
});
const rootfs = await import(pathToFileURL(out).href);
const support = rootfs.hasRootfsSupport();
const expected = join(rootfs.cacheBase(), rootfs.cacheDirName(rootfs.RECIPE));
if (!support.ok) {
  console.error(`apply-root: cannot build or use the Debian root here: ${support.reason}`);
  process.exit(1);
}
process.stderr.write(`apply-root: cached Debian root ${expected} (building it if missing)\n`);
console.log(await rootfs.debianRoot());
