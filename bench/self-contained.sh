#!/usr/bin/env bash
# The self-contained flint against node + the bundle: size (raw and zstd -19) and start-up
# (flint --version; validate of the four examples), interleaved rounds, medians.
#   npm run build && npm run build:sea && bash bench/self-contained.sh
# Writes bench/results/self-contained-<date>.json and prints a table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${BENCH_RUNS:-30}
out="bench/results/self-contained-$(date -u +%Y-%m-%d).json"
ex=(examples/usb-minimal.yaml examples/raspberry-pi.yaml examples/microos-container-host.yaml examples/fleet.yaml)
command -v zstd >/dev/null || { echo "zstd missing: apt-get install zstd" >&2; exit 1; }
echo "| file | raw MB | zstd -19 MB |"
echo "|---|--:|--:|"
for f in dist/flint-linux-x64 dist/flint-linux-arm64 dist/flint.mjs; do
  [[ -f $f ]] || continue
  z=$(zstd -19 -T0 -q -c "$f" | wc -c)
  printf '| %s | %.1f | %.1f |\n' "$f" "$(echo "$(stat -c %s "$f") / 1000000" | bc -l)" "$(echo "$z / 1000000" | bc -l)"
done
node bench/interleave.mjs --warmup 3 --runs "$runs" --export-json "$out" \
  --command-name 'node -e 0' "node -e 0" \
  --command-name 'node dist/flint.mjs --version' "node dist/flint.mjs --version" \
  --command-name 'dist/flint-linux-x64 --version' "dist/flint-linux-x64 --version" \
  --command-name 'node dist/flint.mjs validate (4 examples)' "node dist/flint.mjs validate ${ex[*]}" \
  --command-name 'dist/flint-linux-x64 validate (4 examples)' "dist/flint-linux-x64 validate ${ex[*]}"
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results;
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)] * 1000; };
console.log("| command | median ms |\n|---|--:|");
for (const c of r) console.log(`| ${c.command} | ${med(c.times).toFixed(1)} |`);
' "$out"
echo "results: $out"
