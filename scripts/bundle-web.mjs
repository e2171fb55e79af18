// Build step: the web page (web/) as dist/web/: index.html, style.css and one classic
// script, flint-web.js. One IIFE and no module imports, so the page works from file://
// (browsers refuse ES module imports there) as well as from any static host.
//
// The script bundles flint's own validator, sha-crypt and renderers (src/). What they
// take from node gets the small browser versions in web/shims/; packages keep their own
// browser builds (node-forge's maps node's crypto away).
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const SHIMS = {
  crypto: 'crypto.ts',
  zlib: 'zlib.ts',
  path: 'path.ts',
  buffer: 'buffer.ts',
  module: 'module.ts',
  net: 'net.ts',
};
const shim = (name) => new URL(`../web/shims/${SHIMS[name] ?? 'unavailable.ts'}`, import.meta.url).pathname;

const nodeBuiltins = {
  name: 'node-builtins-for-the-page',
  setup(b) {
    // Only node: specifiers: packages' bare "crypto" and "buffer" resolve by their browser fields.
    b.onResolve({ filter: /^node:/ }, (a) => ({ path: shim(a.path.slice('node:'.length)) }));
  },
};

rmSync('dist/web', { recursive: true, force: true });
mkdirSync('dist/web', { recursive: true });
await build({
  entryPoints: ['web/main.ts'],
  outfile: 'dist/web/flint-web.js',
  bundle: true,
  platform: 'browser',
  format: 'iife',
  target: ['chrome109', 'firefox115', 'safari16'],
  minify: process.env.FLINT_NO_MINIFY !== '1',
  legalComments: 'eof',
  inject: ['web/shims/buffer-global.ts'],
  define: { FLINT_VERSION: JSON.stringify(pkg.version), 'import.meta.url': '"file:///flint-web.js"', 'process.env.NODE_DEBUG': 'undefined' },
  loader: { '.yaml': 'text' },
  alias: { yaml: './node_modules/yaml/browser/index.js' },
  plugins: [nodeBuiltins],
  logLevel: 'warning',
});
copyFileSync('web/index.html', 'dist/web/index.html');
copyFileSync('web/style.css', 'dist/web/style.css');
console.log('bundled dist/web/ (index.html, style.css, flint-web.js)');
