#!/usr/bin/env node
// bench/vm-phases.mjs: flint's share of a VM first boot, phase by phase, from the flint.trace=1
// lines the VM test keeps in timeline.json (one column per file, a Markdown table).
//
//   node bench/vm-phases.mjs ${FLINT_TEST_CACHE:-/var/cache/flint-test}/vm-runs/timeline.json [MORE.json ...]
import { readFileSync } from 'node:fs';
const marks = [
  ['node start-up, bundle loaded', /first boot: node started/],
  ['discovery: probe the devices, mount the stick, copy the config', /first boot: config found/],
  ['signature check, validation', /first boot: config validated/],
  ['btrfs snapshot (mount the top level, get-default, snapshot, ro property)', /first boot: snapshot ready/],
  ['steps prepared (storage reads the disks: sfdisk, blkid)', /provision: steps prepared/],
  ['payloads, planning (all steps; RSA key started)', /provision: planned/],
  ['disks: sfdisk, partx, wipefs, mkfs.btrfs, resize, copy of /var (the config\'s storage)', /apply: disks effects done/],
  ['files transaction (30 changes, 3 syncs)', /apply: committed/],
  ['report, new filesystems released', /provision: report written/],
  ['commit: default subvolume, /sysroot mounted again', /first boot: snapshot committed/],
  ['result written back to the stick', /first boot: done/],
];
// A file is a timeline.json, or an object holding timelines (results/vm-firstboot-trace-*.json) with KEY after a colon.
const load = (arg) => {
  const [f, key] = arg.split(':');
  const j = JSON.parse(readFileSync(f, 'utf8'));
  return key === undefined ? j : j[key];
};
const files = process.argv.slice(2);
const cols = files.map((f) => {
  const t = load(f);
  let prev = 0;
  const out = marks.map(([, re]) => { const l = t.trace.find((x) => re.test(x)); const ms = Number(/\+(\d+) ms/.exec(l)[1]); const d = ms - prev; prev = ms; return d; });
  return { out, total: prev, share: t.flintFinished - t.flintStarted };
});
const fmt = (ms) => (ms / 1000).toFixed(2);
marks.forEach(([n], i) => console.log(`| ${n} | ${cols.map((c) => fmt(c.out[i])).join(' | ')} |`));
console.log(`| **flint's own lines, first to last** | ${cols.map((c) => `**${fmt(c.total)}**`).join(' | ')} |`);
console.log(`| \`Starting\` to \`Finished\` of flint.service (host clock) | ${cols.map((c) => fmt(c.share)).join(' | ')} |`);
