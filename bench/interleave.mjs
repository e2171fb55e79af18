#!/usr/bin/env node
// bench/interleave.mjs: time commands the way hyperfine -N does (no shell, output
// discarded, process start-up included), but round-robin: run 1 of every command, then
// run 2 of every command, and so on. On a shared or virtual machine the speed drifts by
// tens of milliseconds over a minute; interleaving spreads the drift over every command
// alike, where hyperfine's one-command-after-another order hands it to whichever ran
// during the slow spell. Writes hyperfine's JSON shape, so bench/report.mjs reads either.
//
//   node bench/interleave.mjs --warmup 3 --runs 30 --export-json OUT.json \
//     --command-name NAME 'cmd args' [--command-name NAME 'cmd args' ...]
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const argv = process.argv.slice(2);
let warmup = 3;
let runs = 30;
let out;
const commands = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--warmup') warmup = Number(argv[++i]);
  else if (a === '--runs') runs = Number(argv[++i]);
  else if (a === '--export-json') out = argv[++i];
  else if (a === '--command-name') commands.push({ name: argv[++i], line: argv[++i] });
  else throw new Error(`interleave: unknown argument ${a}`);
}
if (!out || commands.length === 0) throw new Error('interleave: needs --export-json and at least one --command-name NAME CMD');

// Words as the shell would split them, with '...' and "..." quoting (the lines come from
// printf %q, which uses backslashes and $'...' too; keep to what it emits for our args).
function words(line) {
  const out = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\') { cur += line[++i] ?? ''; inWord = true; }
    else if (c === "'") { const j = line.indexOf("'", i + 1); cur += line.slice(i + 1, j); i = j; inWord = true; }
    else if (c === '"') { const j = line.indexOf('"', i + 1); cur += line.slice(i + 1, j); i = j; inWord = true; }
    else if (c === ' ') { if (inWord) out.push(cur); cur = ''; inWord = false; }
    else { cur += c; inWord = true; }
  }
  if (inWord) out.push(cur);
  return out;
}

const parsed = commands.map((c) => ({ ...c, argv: words(c.line), times: [], user: [], system: [] }));
function once(c) {
  const start = process.hrtime.bigint();
  const r = spawnSync(c.argv[0], c.argv.slice(1), { stdio: 'ignore' });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) throw new Error(`interleave: "${c.line}" exited ${r.status ?? r.signal}`);
  return seconds;
}

for (let k = 0; k < warmup; k++) for (const c of parsed) once(c);
for (let k = 0; k < runs; k++) {
  for (const c of parsed) c.times.push(once(c));
  if (process.stderr.isTTY) process.stderr.write(`\rinterleave: round ${k + 1}/${runs}`);
  else if ((k + 1) % 10 === 0 || k + 1 === runs) process.stderr.write(`interleave: round ${k + 1}/${runs}\n`);
}
if (process.stderr.isTTY) process.stderr.write('\n');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const results = parsed.map((c) => {
  const mean = c.times.reduce((a, b) => a + b, 0) / c.times.length;
  const stddev = Math.sqrt(c.times.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, c.times.length - 1));
  return { command: c.name, mean, stddev, median: median(c.times), min: Math.min(...c.times), max: Math.max(...c.times), times: c.times };
});
writeFileSync(out, JSON.stringify({ results, interleaved: true }, null, 2));
for (const r of results) console.log(`${r.command.padEnd(50)} median ${(r.median * 1000).toFixed(1)} ms  mean ${(r.mean * 1000).toFixed(1)} ± ${(r.stddev * 1000).toFixed(1)} ms`);
