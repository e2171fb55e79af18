#!/usr/bin/env node
// bench/report.mjs: turn hyperfine's JSON into a markdown table.
//
//   node bench/report.mjs bench/results/validate.json
//       Prints the table. Roles, machine and date come from the sibling
//       validate.meta.json written by bench/validate.sh; without it, roles are
//       guessed from the command names and the machine is read now.
//
//   node bench/report.mjs --write-meta OUT.json ROLE NAME CMD [ROLE NAME CMD]...
//       Used by bench/validate.sh before timing: records each row's role
//       (floor | flint-examples | flint-typical | ignition | cloud-init),
//       the machine and the date. Reads BENCH_* variables from the environment.
//
// Columns: median, mean ± stddev, min, max (ms); "vs node -e 0" = median minus
// the floor's median (ms); "vs flint" = this row's median / flint's median,
// where flint is the typical.flint.yaml row (the like-for-like config), or the
// examples row when that is the only flint row.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';

function firstLine(file, args) {
  try {
    const out = execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.trim().split('\n')[0] || 'unknown';
  } catch {
    return 'not installed';
  }
}

function machine() {
  let cpu = 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
  } catch {
    cpu = cpus()[0]?.model ?? 'unknown';
  }
  return {
    nproc: firstLine('nproc', []),
    cpu,
    kernel: firstLine('uname', ['-sr']),
    node: process.version,
    ignition_validate: firstLine('ignition-validate', ['-version']),
    cloud_init: firstLine('cloud-init', ['--version']),
    hyperfine: firstLine('hyperfine', ['--version']),
  };
}

function writeMeta(out, triples) {
  if (triples.length === 0 || triples.length % 3 !== 0) {
    throw new Error('--write-meta needs ROLE NAME CMD triples');
  }
  const rows = [];
  for (let i = 0; i < triples.length; i += 3) {
    rows.push({ role: triples[i], name: triples[i + 1], command: triples[i + 2] });
  }
  const env = process.env;
  const meta = {
    date: new Date().toISOString(),
    flint_cmd: env.BENCH_FLINT_CMD ?? null,
    flint_cmd_is_default: env.BENCH_FLINT_CMD === env.BENCH_FLINT_CMD_DEFAULT,
    warmup: Number(env.BENCH_WARMUP ?? NaN),
    runs: Number(env.BENCH_RUNS ?? NaN),
    skipped: (env.BENCH_SKIPPED ?? '').split('\n').filter(Boolean),
    machine: machine(),
    rows,
  };
  writeFileSync(out, JSON.stringify(meta, null, 2) + '\n');
}

function guessRole(name) {
  if (/^node -e 0\b/.test(name)) return 'floor';
  if (/flint/.test(name)) return /examples/.test(name) ? 'flint-examples' : 'flint-typical';
  if (/ignition/.test(name)) return 'ignition';
  if (/cloud-init/.test(name)) return 'cloud-init';
  return 'other';
}

const ms = (s) => s * 1000;
const f1 = (x) => x.toFixed(1);

function report(resultsPath) {
  const { results } = JSON.parse(readFileSync(resultsPath, 'utf8'));
  if (!Array.isArray(results) || results.length === 0) throw new Error(`${resultsPath}: no results`);
  const metaPath = resultsPath.replace(/\.json$/, '') + '.meta.json';
  const meta = existsSync(metaPath) ? JSON.parse(readFileSync(metaPath, 'utf8')) : null;

  const rows = results.map((r, i) => {
    const m = meta?.rows?.[i];
    if (meta && m && m.name !== r.command) {
      throw new Error(`${metaPath} does not match ${resultsPath} (row ${i}: "${m.name}" vs "${r.command}")`);
    }
    const times = r.times ?? [];
    const median = r.median ?? [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
    return {
      name: r.command,
      role: m?.role ?? guessRole(r.command),
      command: m?.command ?? null,
      median: ms(median),
      mean: ms(r.mean),
      stddev: ms(r.stddev ?? 0),
      min: ms(r.min),
      max: ms(r.max),
      runs: times.length,
    };
  });

  const floor = rows.find((r) => r.role === 'floor');
  const flint = rows.find((r) => r.role === 'flint-typical') ?? rows.find((r) => r.role === 'flint-examples');

  const out = [];
  const standIn = meta && !meta.flint_cmd_is_default;
  if (standIn) {
    out.push(`> **Stand-in run:** the flint rows ran \`${meta.flint_cmd}\` instead of \`node dist/flint.mjs\`; they are not flint's numbers.`, '');
  }
  out.push('| Command | Median (ms) | Mean ± σ (ms) | Min (ms) | Max (ms) | vs `node -e 0` (ms) | vs flint (×) |');
  out.push('|---|--:|--:|--:|--:|--:|--:|');
  for (const r of rows) {
    const vsFloor = !floor ? 'n/a' : r === floor ? '(floor)' : `${r.median >= floor.median ? '+' : ''}${f1(r.median - floor.median)}`;
    const vsFlint = !flint ? 'n/a' : r === flint ? '1.00 (ref)' : (r.median / flint.median).toFixed(2);
    const name = r.command ? `\`${r.command}\`` : `\`${r.name}\``;
    out.push(`| ${name} | ${f1(r.median)} | ${f1(r.mean)} ± ${f1(r.stddev)} | ${f1(r.min)} | ${f1(r.max)} | ${vsFloor} | ${vsFlint} |`);
  }
  out.push('');
  if (flint) out.push(`"vs flint" = row median / median of \`${flint.command ?? flint.name}\`.`);
  const runs = [...new Set(rows.map((r) => r.runs))].join('/');
  out.push(`Runs per command: ${runs}${meta ? `, after ${meta.warmup} warm-up run(s)` : ''}; process start-up included; no shell; ${meta?.interleaved === false ? "hyperfine -N" : "interleaved rounds (bench/interleave.mjs)"}.`);
  for (const s of meta?.skipped ?? []) out.push(`Skipped: ${s}.`);
  out.push('');

  const mach = meta?.machine ?? machine();
  const when = meta?.date ?? `${new Date().toISOString()} (report time; no ${metaPath})`;
  out.push('Machine:');
  out.push(`- CPUs (nproc): ${mach.nproc}; CPU: ${mach.cpu}; kernel: ${mach.kernel}`);
  out.push(`- node ${mach.node}; ignition-validate: ${mach.ignition_validate}; cloud-init: ${mach.cloud_init}; ${mach.hyperfine}`);
  out.push(`- date: ${when}`);
  process.stdout.write(out.join('\n') + '\n');
}

const args = process.argv.slice(2);
try {
  if (args[0] === '--write-meta') {
    writeMeta(args[1], args.slice(2));
  } else if (args.length === 1 && !args[0].startsWith('-')) {
    report(args[0]);
  } else {
    process.stderr.write('usage: node bench/report.mjs RESULTS.json\n       node bench/report.mjs --write-meta OUT.json ROLE NAME CMD...\n');
    process.exit(2);
  }
} catch (err) {
  process.stderr.write(`report: ${err.message}\n`);
  process.exit(1);
}
