#!/usr/bin/env bash
# bench/validate.sh: time `flint validate` against its peers' validators, with
# process start-up included (that is what a user waits for).
#
#   bash bench/validate.sh            # or: npm run bench
#
# Rows (each must exit 0 once before anything is timed):
#   node -e 0                                        the floor: bare Node start-up
#   $FLINT_CMD validate examples/*.yaml              all examples, one invocation
#   $FLINT_CMD validate bench/peers/typical.flint.yaml
#   ignition-validate bench/peers/typical.ign
#   cloud-init schema -c bench/peers/typical.cloud-config
#
# Environment:
#   FLINT_CMD     program and leading arguments for flint (default:
#                 "node dist/flint.mjs"); "validate FILE..." is appended.
#                 Split into words like a shell would, but no shell runs it
#                 (hyperfine -N): no pipes, globs or VAR=value prefixes.
#                 A stand-in such as FLINT_CMD="node -e 0" tests the harness.
#   BENCH_WARMUP  warm-up runs per command (default 3)
#   BENCH_RUNS    timed runs per command (default 30)
#
# Installs nothing. Writes bench/results/validate.json (hyperfine) and
# bench/results/validate.meta.json (roles, machine, date), then prints the
# table with `node bench/report.mjs bench/results/validate.json`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

FLINT_CMD_DEFAULT="node dist/flint.mjs"
FLINT_CMD="${FLINT_CMD:-$FLINT_CMD_DEFAULT}"
WARMUP="${BENCH_WARMUP:-3}"
RUNS="${BENCH_RUNS:-30}"
RESULTS=bench/results/validate.json
META=bench/results/validate.meta.json
PEERS=bench/peers

die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
warn() { printf 'bench: WARNING: %s\n' "$*" >&2; }

# --- tools ------------------------------------------------------------------
missing=()
need() { # need BINARY PACKAGE
  command -v "$1" >/dev/null 2>&1 || missing+=("$1 (Debian package: $2)")
}
need node "Node.js 20+ (the project's runtime)"
[[ ${BENCH_TIMER:-interleave} == hyperfine ]] && need hyperfine hyperfine
need ignition-validate ignition
need cloud-init cloud-init
if ((${#missing[@]})); then
  printf 'bench: error: missing: %s\n' "${missing[@]}" >&2
  printf 'bench: install with: apt-get install -y hyperfine ignition cloud-init\n' >&2
  exit 1
fi

for f in "$PEERS/typical.flint.yaml" "$PEERS/typical.ign" "$PEERS/typical.cloud-config"; do
  [[ -f $f ]] || die "missing peer config $f"
done

if [[ $FLINT_CMD == "$FLINT_CMD_DEFAULT" && ! -f dist/flint.mjs ]]; then
  die "dist/flint.mjs not found: run 'npm ci' (its prepare step builds dist/) or 'npm run build', or set FLINT_CMD to a stand-in"
fi
if [[ $FLINT_CMD != "$FLINT_CMD_DEFAULT" ]]; then
  warn "FLINT_CMD overridden: flint rows run '$FLINT_CMD', not dist/flint.mjs"
fi

# --- the commands -----------------------------------------------------------
# A command line is built from words quoted with printf %q, which hyperfine -N
# splits back into the same words (and so does `eval` in check_ok below).
quote() { local out="" w; for w in "$@"; do out+="${out:+ }$(printf '%q' "$w")"; done; printf '%s' "$out"; }

roles=() names=() cmds=() skipped=()
add() { roles+=("$1"); names+=("$2"); cmds+=("$3"); }

add floor "node -e 0" "$(quote node -e 0)"

shopt -s nullglob
examples=(examples/*.yaml)
shopt -u nullglob
if ((${#examples[@]})); then
  add flint-examples "flint validate examples/*.yaml (${#examples[@]} files)" \
    "$FLINT_CMD validate $(quote "${examples[@]}")"
else
  warn "no examples/*.yaml yet: the 'flint validate examples' row is skipped"
  skipped+=("flint validate examples/*.yaml: no files matched")
fi
for ex in "${examples[@]}"; do
  add flint-example "flint validate ${ex#examples/}" "$FLINT_CMD validate $(quote "$ex")"
done
add flint-typical "flint validate typical.flint.yaml" \
  "$FLINT_CMD validate $(quote "$PEERS/typical.flint.yaml")"
add ignition "ignition-validate typical.ign" \
  "$(quote ignition-validate "$PEERS/typical.ign")"
add cloud-init "cloud-init schema -c typical.cloud-config" \
  "$(quote cloud-init schema -c "$PEERS/typical.cloud-config")"

# --- every command must succeed before it is timed --------------------------
failed=0
check_ok() { # check_ok NAME CMDLINE
  local out rc=0
  out=$(eval "$2" 2>&1) || rc=$?
  if ((rc != 0)); then
    printf 'bench: FAIL: %s\n  command: %s\n  exit code: %d\n' "$1" "$2" "$rc" >&2
    [[ -n $out ]] && printf '%s\n' "$out" | sed 's/^/  | /' >&2
    failed=1
  else
    printf 'bench: ok: %s\n' "$2"
    [[ -n $out ]] && printf '%s\n' "$out" | sed 's/^/  | /'
  fi
  return 0
}
for i in "${!cmds[@]}"; do check_ok "${names[$i]}" "${cmds[$i]}"; done
((failed == 0)) || die "a command above did not exit 0; nothing was timed"

# --- record roles, commands and the machine, then time ----------------------
mkdir -p bench/results
meta_args=()
for i in "${!cmds[@]}"; do meta_args+=("${roles[$i]}" "${names[$i]}" "${cmds[$i]}"); done
BENCH_FLINT_CMD="$FLINT_CMD" BENCH_FLINT_CMD_DEFAULT="$FLINT_CMD_DEFAULT" \
  BENCH_WARMUP="$WARMUP" BENCH_RUNS="$RUNS" \
  BENCH_SKIPPED="$(printf '%s\n' "${skipped[@]+"${skipped[@]}"}")" \
  node bench/report.mjs --write-meta "$META.tmp" "${meta_args[@]}"

# Interleaved rounds (bench/interleave.mjs says why); BENCH_TIMER=hyperfine for hyperfine.
hf_args=(--warmup "$WARMUP" --runs "$RUNS" --export-json "$RESULTS.tmp")
for i in "${!cmds[@]}"; do hf_args+=(--command-name "${names[$i]}" "${cmds[$i]}"); done
if [[ ${BENCH_TIMER:-interleave} == hyperfine ]]; then
  hyperfine -N "${hf_args[@]}"
else
  node bench/interleave.mjs "${hf_args[@]}"
fi

mv "$RESULTS.tmp" "$RESULTS"
mv "$META.tmp" "$META"
echo
node bench/report.mjs "$RESULTS"
