#!/usr/bin/env node
// bench/apply-bench.mjs: time `flint apply` and Ignition 2.14 (fetch-offline + files
// stages) on equivalent configs, each run on its own fresh copy of the same Debian root,
// flint and Ignition interleaved round by round. Run it through bench/apply.sh, which
// checks the prerequisites, finds the root and generates the big config.
//
//   node bench/apply-bench.mjs --root SRC --copies DIR --ignition BIN --out JSON \
//     [--warmup 1] --config NAME FLINT_YAML IGN_JSON SPEC RUNS [--config ...]
//
// SPEC is `typical` or `big:N` (bench/apply-gen.mjs), from which the checks are derived.
//
// Per run: `cp -a` the root to DIR/<tool>-<n>/root, `sync` (neither timed), then time the
// tool with /usr/bin/time -f %M around it (wall time by this process's clock around the
// spawn; peak RSS from time, the largest of the process and every child it waited for),
// then check the copy (exit 0, every user in /etc/passwd, every key in its
// authorized_keys, the sudoers and sshd files byte for byte with their modes), then delete
// the copy. Writes JSON and prints a markdown table.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, mkdtempSync, chmodSync } from 'node:fs';
import { cpus, release, type } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TYPICAL, big, expectations, manyFiles } from './apply-gen.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(BENCH, '..');
const SBIN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const TIME = '/usr/bin/time';

// ---- arguments ----------------------------------------------------------------------------
const argv = process.argv.slice(2);
const opt = { warmup: 1, configs: [] };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--root') opt.root = argv[++i];
  else if (a === '--copies') opt.copies = argv[++i];
  else if (a === '--ignition') opt.ignition = argv[++i];
  else if (a === '--out') opt.out = argv[++i];
  else if (a === '--warmup') opt.warmup = Number(argv[++i]);
  else if (a === '--baseline') opt.baseline = resolve(argv[++i]);
  else if (a === '--baseline-max') opt.baselineMax = Number(argv[++i]);
  else if (a === '--config') {
    const [name, flint, ign, spec, runs] = argv.slice(i + 1, i + 6);
    i += 5;
    // IGN "-": flint alone (Ignition would take too long at this size; the table says so).
    opt.configs.push({ name, flint: resolve(flint), ign: ign === '-' ? undefined : resolve(ign), spec, runs: Number(runs) });
  } else throw new Error(`apply-bench: unknown argument ${a}`);
}
for (const k of ['root', 'copies', 'ignition', 'out']) if (!opt[k]) throw new Error(`apply-bench: --${k} is required`);
if (opt.configs.length === 0) throw new Error('apply-bench: at least one --config');

function specOf(s) {
  if (s === 'typical') return TYPICAL;
  const m = /^big:(\d+)$/.exec(s);
  if (m) return big(Number(m[1]));
  const f = /^files:(\d+)$/.exec(s);
  if (f) return manyFiles(Number(f[1]));
  throw new Error(`apply-bench: unknown SPEC ${s}`);
}
for (const c of opt.configs) c.expect = expectations(specOf(c.spec));

// ---- helpers ------------------------------------------------------------------------------
function sh(file, args, opts = {}) {
  const r = spawnSync(file, args, { encoding: 'utf8', env: { PATH: SBIN_PATH, LC_ALL: 'C' }, ...opts });
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return r.stdout;
}

// A stand-in for setfiles(8): Debian's Ignition is built with SELinux relabelling on, and
// its files stage ends by piping every path it created to `setfiles -r ROOT ... -f -`.
// The host has no SELinux tooling and the root no policy; the stand-in reads the list and
// exits 0, so Ignition pays for one small process and a pipe, not for a relabel.
const stubDir = mkdtempSync(join(opt.copies, `stub-${process.pid}-`));
chmodSync(stubDir, 0o755);
process.on('exit', () => rmSync(stubDir, { recursive: true, force: true }));
writeFileSync(join(stubDir, 'setfiles'), '#!/bin/sh\nexec cat >/dev/null\n', { mode: 0o755 });

/** A fresh copy of the root for one run; for Ignition, with the SELinux files its files stage opens. */
function freshCopy(tool, n) {
  const parent = join(opt.copies, `${tool}-${process.pid}-${n}`);
  rmSync(parent, { recursive: true, force: true });
  mkdirSync(parent, { mode: 0o755 });
  const root = join(parent, 'root');
  sh('cp', ['-a', '--reflink=auto', '--', opt.root, root]);
  if (tool === 'ignition') {
    mkdirSync(join(root, 'etc/selinux/targeted/contexts/files'), { recursive: true });
    writeFileSync(join(root, 'etc/selinux/config'), 'SELINUX=disabled\nSELINUXTYPE=targeted\n');
    writeFileSync(join(root, 'etc/selinux/targeted/contexts/files/file_contexts'), '');
    mkdirSync(join(parent, 'run'), { mode: 0o755 });
  }
  sh('sync', ['-f', root]); // the copy's dirty pages go to disk now, not during the timed run
  return { parent, root };
}

/** One timed process: wall ms (hrtime around the spawn), peak RSS KiB and user+system CPU ms (time -f), exit status. */
function timed(cmd, args, env, log) {
  const rss = `${log}.rss`;
  const fd = openSync(log, 'a');
  const start = process.hrtime.bigint();
  const r = spawnSync(TIME, ['-f', '%M %U %S', '-o', rss, '--', cmd, ...args], { stdio: ['ignore', fd, fd], env });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  closeSync(fd);
  // time -o writes "Command exited with non-zero status N" first when it does.
  const [kib, user, sys] = readFileSync(rss, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  return { ms, kib, cpu: (user + sys) * 1000, status: r.status ?? r.signal };
}

function runFlint(cfg, copy, bin = join(REPO, 'dist/flint.mjs')) {
  const log = join(copy.parent, 'flint.log');
  const t = timed(process.execPath, [bin, 'apply', '--root', copy.root, cfg.flint], { PATH: SBIN_PATH, LC_ALL: 'C' }, log);
  return { ...t, log };
}

function runIgnition(cfg, copy) {
  const log = join(copy.parent, 'ignition.log');
  const run = join(copy.parent, 'run');
  const env = {
    PATH: `${stubDir}:${SBIN_PATH}`,
    LC_ALL: 'C',
    IGNITION_CONFIG_FILE: cfg.ign,
    // Write ~/.ssh/authorized_keys (what Debian's sshd reads), not authorized_keys.d/ignition.
    IGNITION_WRITE_AUTHORIZED_KEYS_FRAGMENT: 'false',
  };
  const common = ['-platform', 'file', '-root', copy.root, '-config-cache', join(run, 'ignition.json'), '-state-file', join(run, 'state'), '-neednet', join(run, 'neednet'), '-log-to-stdout'];
  const fetch = timed(opt.ignition, ['-stage', 'fetch-offline', ...common], env, log);
  if (fetch.status !== 0) return { ...fetch, log, stages: { 'fetch-offline': fetch } };
  const files = timed(opt.ignition, ['-stage', 'files', ...common], env, log);
  return { ms: fetch.ms + files.ms, kib: Math.max(fetch.kib, files.kib), cpu: fetch.cpu + files.cpu, status: files.status, log, stages: { 'fetch-offline': fetch.ms, files: files.ms } };
}

/** What must be in the copy after a successful apply; returns a list of problems. */
function check(cfg, root) {
  const problems = [];
  const passwd = new Map(
    readFileSync(join(root, 'etc/passwd'), 'utf8').split('\n').filter(Boolean).map((l) => {
      const f = l.split(':');
      return [f[0], { uid: Number(f[2]), gid: Number(f[3]), home: f[5] }];
    }),
  );
  for (const u of cfg.expect.users) {
    const e = passwd.get(u.name);
    if (!e) {
      problems.push(`user ${u.name} is not in /etc/passwd`);
      continue;
    }
    if (u.keys.length === 0) continue;
    const file = join(root, e.home, '.ssh/authorized_keys');
    if (!existsSync(file)) {
      problems.push(`${e.home}/.ssh/authorized_keys is missing`);
      continue;
    }
    const text = readFileSync(file, 'utf8');
    for (const k of u.keys) if (!text.split('\n').includes(k)) problems.push(`${u.name}'s key is not in ${e.home}/.ssh/authorized_keys`);
    const st = statSync(file);
    if (st.uid !== e.uid || (st.mode & 0o777) !== 0o600) problems.push(`${e.home}/.ssh/authorized_keys is ${(st.mode & 0o777).toString(8)} ${st.uid}, not 600 ${e.uid}`);
  }
  for (const f of cfg.expect.files) {
    const p = join(root, f.path);
    if (!existsSync(p)) problems.push(`${f.path} is missing`);
    else {
      if (readFileSync(p, 'utf8') !== f.text) problems.push(`${f.path} has other contents`);
      if ((statSync(p).mode & 0o7777) !== f.mode) problems.push(`${f.path} has mode ${(statSync(p).mode & 0o7777).toString(8)}`);
    }
  }
  const made = cfg.expect.users.filter((u) => passwd.has(u.name)).length;
  return { problems, users: made };
}

/** The target's own checkers on the result, once per tool and config (not timed). */
function sanity(root, cfg) {
  const out = {};
  // The cached root has no host keys (each machine makes its own), and sshd -t refuses to
  // check a config without one: give this copy a throwaway key, after the timed run.
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench', '-f', join(root, 'tmp/bench_host_key')]);
  for (const [name, file, args] of [
    ['pwck -r', 'pwck', ['-r', '-R', root]],
    ['grpck -r', 'grpck', ['-r', '-R', root]],
    ['sshd -t', 'chroot', [root, '/usr/sbin/sshd', '-t', '-h', '/tmp/bench_host_key']],
  ]) {
    const r = spawnSync(file, args, { encoding: 'utf8', env: { PATH: SBIN_PATH, LC_ALL: 'C' } });
    out[name] = r.status === 0 ? 'ok' : `exit ${r.status}: ${(r.stdout + r.stderr).trim().split('\n').slice(0, 3).join(' | ')}`;
  }
  for (const f of cfg.expect.files.filter((x) => x.path.startsWith('/etc/sudoers.d/'))) {
    const r = spawnSync('chroot', [root, 'visudo', '-c', '-q', '-f', f.path], { encoding: 'utf8', env: { PATH: SBIN_PATH, LC_ALL: 'C' } });
    out[`visudo -c ${f.path}`] = r.status === 0 ? 'ok' : `exit ${r.status}: ${(r.stdout + r.stderr).trim()}`;
  }
  return out;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ---- the runs -----------------------------------------------------------------------------
// "flint-before": another build of flint (--baseline, e.g. the main branch's), timed in
// the same rounds, so a change is measured side by side with what it changes.
const TOOLS = { flint: runFlint, ignition: runIgnition, 'flint-before': (cfg, copy) => runFlint(cfg, copy, opt.baseline) };
// Copies are deleted at the end, not after each run: on an ext4 without a journal (this
// VM's disk), inodes freed in the last 30 s (dirty_expire) are skipped one by one when
// new ones are allocated (ext4 recently_deleted()), and 200 MB just deleted made every
// file the next tool created cost 0.5 ms of kernel time (perf: find_inode_bit).
const toDelete = [];
process.on('exit', () => {
  for (const p of toDelete) rmSync(p, { recursive: true, force: true });
});
let counter = 0;
const rows = [];
const sanityResults = {};
for (const cfg of opt.configs) {
  const results = { flint: [], ignition: [], 'flint-before': [] };
  const total = opt.warmup + cfg.runs;
  for (let k = 0; k < total; k++) {
    const warm = k < opt.warmup;
    // Alternate who goes first, so neither tool always runs right after the other's rm + sync.
    const withBaseline = opt.baseline !== undefined && (opt.baselineMax === undefined || Math.max(cfg.expect.users.length, cfg.expect.files.length) <= opt.baselineMax);
    const order = (k % 2 === 0 ? ['flint', 'ignition', 'flint-before'] : ['flint-before', 'ignition', 'flint'])
      .filter((t) => (t !== 'ignition' || cfg.ign !== undefined) && (t !== 'flint-before' || withBaseline));
    for (const tool of order) {
      const copy = freshCopy(tool, ++counter);
      const r = TOOLS[tool](cfg, copy);
      const c = check(cfg, copy.root);
      if (r.status !== 0 || c.problems.length > 0) {
        const log = existsSync(r.log) ? readFileSync(r.log, 'utf8').split('\n').slice(-25).join('\n') : '';
        console.error(`apply-bench: ${tool} on ${cfg.name} ${r.status !== 0 ? `exited ${r.status}` : 'left a wrong result'}; the copy is kept at ${copy.root} (the next bench/apply.sh deletes it)`);
        for (const p of c.problems.slice(0, 10)) console.error(`  - ${p}`);
        console.error(`--- last lines of ${r.log}:\n${log}`);
        process.exit(1);
      }
      if (!sanityResults[`${cfg.name}/${tool}`]) sanityResults[`${cfg.name}/${tool}`] = sanity(copy.root, cfg);
      if (!warm) results[tool].push({ ms: r.ms, kib: r.kib, cpu: r.cpu, users: c.users, ...(r.stages ? { stages: r.stages } : {}) });
      toDelete.push(copy.parent);
    }
    process.stderr.write(`apply-bench: ${cfg.name}: ${warm ? `warm-up ${k + 1}/${opt.warmup}` : `round ${k + 1 - opt.warmup}/${cfg.runs}`}` +
      (warm ? '\n' : `  ${order.map((t) => `${t} ${results[t].at(-1).ms.toFixed(0)} ms`).join(', ')}\n`));
  }
  const summary = {};
  for (const tool of ['flint', 'flint-before', 'ignition'].filter((t) => results[t].length > 0)) {
    const ms = results[tool].map((x) => x.ms);
    const kib = results[tool].map((x) => x.kib);
    summary[tool] = {
      config: cfg.name,
      tool,
      config_file: cfg[tool === 'ignition' ? 'ign' : 'flint'].slice(REPO.length + 1),
      ...(tool === 'flint-before' ? { build: opt.baseline } : {}),
      users: cfg.expect.users.length,
      files: cfg.expect.files.length,
      runs: ms.length,
      median_ms: median(ms),
      min_ms: Math.min(...ms),
      max_ms: Math.max(...ms),
      peak_rss_kib_max: Math.max(...kib),
      peak_rss_kib_median: median(kib),
      cpu_median_ms: median(results[tool].map((x) => x.cpu)),
      times_ms: ms,
      cpu_ms: results[tool].map((x) => x.cpu),
      peak_rss_kib: kib,
      ...(tool === 'ignition'
        ? {
            stage_median_ms: {
              'fetch-offline': median(results[tool].map((x) => x.stages['fetch-offline'])),
              files: median(results[tool].map((x) => x.stages.files)),
            },
            stage_ms: results[tool].map((x) => x.stages),
          }
        : {}),
    };
  }
  if (summary.ignition !== undefined) {
    summary.flint.ratio_flint_over_ignition = summary.flint.median_ms / summary.ignition.median_ms;
    summary.ignition.ratio_flint_over_ignition = summary.flint.ratio_flint_over_ignition;
    if (summary['flint-before'] !== undefined) summary['flint-before'].ratio_flint_over_ignition = summary['flint-before'].median_ms / summary.ignition.median_ms;
  }
  if (summary['flint-before'] !== undefined) summary.flint.ratio_over_before = summary.flint.median_ms / summary['flint-before'].median_ms;
  rows.push(...['flint', 'flint-before', 'ignition'].map((t) => summary[t]).filter((r) => r !== undefined));
}
// ---- machine and output -------------------------------------------------------------------
const firstLine = (file, args) => {
  const r = spawnSync(file, args, { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? '';
};
const machine = {
  nproc: cpus().length,
  cpu: cpus()[0]?.model ?? '',
  kernel: `${type()} ${release()}`,
  node: process.version,
  ignition: firstLine(opt.ignition, ['-version']),
  shadow_utils: firstLine('dpkg-query', ['-W', '-f', 'passwd ${Version}', 'passwd']),
  copies_fs: firstLine('findmnt', ['-n', '-o', 'FSTYPE', '-T', opt.copies]),
  memory_gib: Math.round(Number(readFileSync('/proc/meminfo', 'utf8').match(/MemTotal:\s+(\d+)/)[1]) / 1048576),
};
const result = {
  date: new Date().toISOString(),
  machine,
  root: opt.root,
  copies: opt.copies,
  warmup: opt.warmup,
  method: 'per run: cp -a of the root + sync (untimed), then the tool, timed by hrtime around the spawn; peak RSS and user+system CPU from /usr/bin/time -f "%M %U %S"; flint and Ignition alternate within each round; Ignition = fetch-offline + files, peak = max of the two',
  rows,
  sanity: sanityResults,
};
mkdirSync(dirname(opt.out), { recursive: true });
writeFileSync(`${opt.out}.tmp`, `${JSON.stringify(result, null, 2)}\n`);
sh('mv', [`${opt.out}.tmp`, opt.out]);

const f1 = (x) => x.toFixed(1);
const lines = [
  '| Config | Tool | Runs | Median (ms) | Min (ms) | Max (ms) | CPU, median (ms) | Peak RSS (MiB) | flint / Ignition | flint / before |',
  '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|',
];
for (const r of rows) {
  const label = `${r.config} (${r.users > 0 ? `${r.users} users` : `${r.files} files`})`;
  const ratio = r.tool === 'ignition' ? '1.00 (ref)' : r.ratio_flint_over_ignition !== undefined ? `${r.ratio_flint_over_ignition.toFixed(2)}` : 'Ignition not run';
  const before = r.tool === 'flint' && r.ratio_over_before !== undefined ? r.ratio_over_before.toFixed(2) : r.tool === 'flint-before' ? '1.00 (ref)' : '';
  const tool = r.tool === 'flint' ? '`flint apply`' : r.tool === 'flint-before' ? '`flint apply`, before (baseline build)' : 'Ignition 2.14 (fetch-offline + files)';
  lines.push(`| ${label} | ${tool} | ${r.runs} | ${f1(r.median_ms)} | ${f1(r.min_ms)} | ${f1(r.max_ms)} | ${r.cpu_median_ms.toFixed(0)} | ${f1(r.peak_rss_kib_max / 1024)} | ${ratio} | ${before} |`);
}
console.log(lines.join('\n'));
console.log('');
for (const r of rows.filter((x) => x.tool === 'ignition')) {
  console.log(`Ignition stages on ${r.config}, median: fetch-offline ${f1(r.stage_median_ms['fetch-offline'])} ms, files ${f1(r.stage_median_ms.files)} ms.`);
}
console.log('Median, min, max: wall time. CPU: user + system time of the tool and every child it waited for (useradd, ...). flint / Ignition: ratio of the wall-time medians.');
console.log(`Peak RSS: the largest over the runs of /usr/bin/time's %M (the biggest single process: the tool or a child it waited for, e.g. useradd).`);
console.log(`Machine: ${machine.nproc} CPUs (${machine.cpu}), ${machine.memory_gib} GiB, ${machine.kernel}; node ${machine.node}; ${machine.ignition}; ${machine.shadow_utils} (host useradd, used by Ignition); copies on ${machine.copies_fs}. Date: ${result.date}.`);
const bad = Object.entries(sanityResults).flatMap(([k, v]) => Object.entries(v).filter(([, s]) => s !== 'ok').map(([c, s]) => `${k}: ${c}: ${s}`));
console.log(bad.length === 0 ? 'Target checks after the first run of each (pwck -r, grpck -r, sshd -t, visudo -c): all ok.' : `Target checks that did not pass:\n${bad.map((b) => `- ${b}`).join('\n')}`);
