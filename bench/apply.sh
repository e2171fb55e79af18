#!/usr/bin/env bash
# bench/apply.sh: time `flint apply` next to Debian's Ignition 2.14 on equivalent
# configs, each applied to its own fresh copy of the same Debian 12 root, and measure
# both tools' peak memory. See "Apply benchmark" in bench/README.md.
#
#   sudo bash bench/apply.sh
#
# Configs (flint v1 YAML and Ignition 3.3.0 JSON, written by bench/apply-gen.mjs):
#   typical  bench/peers/typical-apply.{flint.yaml,ign}        3 users, group, sudo, sshd
#   big      bench/generated/big-apply-N.{flint.yaml,ign}      N users, one ed25519 key each
#
# Needs: root (chown, chroot; Ignition writes keys as each new user), Node 20 with the
# repository's node_modules (`npm ci`), dist/flint.mjs (built here if missing), the
# integration tests' cached Debian root (built here if missing: debootstrap, network),
# and these Debian packages: ignition (2.14), time (/usr/bin/time), passwd (useradd for
# Ignition), openssh-client (ssh-keygen), sudo is not needed on the host.
#
# Environment:
#   BENCH_RUNS_TYPICAL  timed runs per tool on the typical config (default 10)
#   BENCH_RUNS_BIG      timed runs per tool on the big config (default 5)
#   BENCH_BIG_USERS     users in the big config; several sizes: "500 1000 5000" (default 500)
#   BENCH_FILES         also a config of this many files (e.g. 5000; default none)
#   BENCH_IGNITION_MAX  Ignition runs only on configs up to this many users (default 1000)
#   BENCH_BASELINE      another flint build (its flint.mjs) timed in the same rounds, e.g.
#                       the main branch's: the "flint / before" column
#   BENCH_BASELINE_MAX  the baseline only on configs up to this many users or files
#   BENCH_WARMUP        untimed runs per tool and config first (default 1)
#   BENCH_COPIES        where the per-run copies go (default: next to the cached root,
#                       ${FLINT_TEST_CACHE:-/var/cache/flint-test}/bench-copies); every
#                       folder on the way must be world-searchable (o+x), see below
#   IGNITION            the full Ignition binary
#                       (default /usr/lib/dracut/modules.d/30ignition/ignition)
#                       BENCH_COPIES=/dev/shm/flint-bench (tmpfs) takes the disk out:
#                       no write-back, fsync costs nothing, copies are fast
#   BENCH_OUT           the JSON written (default bench/results/apply.json)
#   FLINT_TEST_CACHE    where the cached root is (as for the integration tests)
#
# Writes $BENCH_OUT and prints a markdown table.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS_TYPICAL="${BENCH_RUNS_TYPICAL:-10}"
RUNS_BIG="${BENCH_RUNS_BIG:-5}"
BIG_USERS="${BENCH_BIG_USERS:-500}"
MANY_FILES="${BENCH_FILES:-}"
IGNITION_MAX="${BENCH_IGNITION_MAX:-1000}"
WARMUP="${BENCH_WARMUP:-1}"
IGNITION="${IGNITION:-/usr/lib/dracut/modules.d/30ignition/ignition}"
CACHE="${FLINT_TEST_CACHE:-/var/cache/flint-test}"
COPIES="${BENCH_COPIES:-$CACHE/bench-copies}"
RESULTS="${BENCH_OUT:-bench/results/apply.json}"

die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# --- prerequisites ---------------------------------------------------------------
[[ $(id -u) == 0 ]] || die "run as root: both tools chown files to new users, and Ignition writes keys as them"
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$1 (Debian package: $2)"); }
need node "nodejs (Node.js 20+)"
need useradd passwd
need pwck passwd
need ssh-keygen openssh-client
need findmnt util-linux
[[ -x /usr/bin/time ]] || missing+=("/usr/bin/time (Debian package: time)")
[[ -x $IGNITION ]] || missing+=("$IGNITION (Debian package: ignition)")
if ((${#missing[@]})); then
  printf 'bench: error: missing: %s\n' "${missing[@]}" >&2
  printf 'bench: install with: apt-get install -y ignition time passwd openssh-client\n' >&2
  exit 1
fi
[[ -d node_modules/esbuild ]] || die "node_modules is missing: run npm ci first"
if [[ ! -f dist/flint.mjs ]]; then
  echo "bench: dist/flint.mjs is missing; building it (npm run build)" >&2
  npm run build >&2
fi

# --- the root, the copies' folder, the configs -------------------------------------
ROOT="$(node bench/apply-root.mjs)"
[[ -d $ROOT/etc ]] || die "no Debian root at '$ROOT'"

mkdir -p "$COPIES"
chmod 0755 "$COPIES"
COPIES="$(cd "$COPIES" && pwd -P)"
# Ignition writes ~/.ssh/authorized_keys with the new user's uid (so a symlink planted in a
# home cannot redirect it); that fails with "permission denied" unless that user can reach
# the home: every folder above the copy must be searchable by others.
d="$COPIES"
while [[ $d != / ]]; do
  [[ $(( 8#$(stat -c %a "$d") & 1 )) == 1 ]] || die "$d is not searchable by other users (mode $(stat -c %a "$d")): Ignition cannot write keys below it; choose another BENCH_COPIES"
  d="$(dirname "$d")"
done
# Copies left by an interrupted run (their pid is gone).
for c in "$COPIES"/flint-* "$COPIES"/ignition-* "$COPIES"/stub-*; do
  [[ -e $c ]] || continue
  pid="$(basename "$c" | sed -n 's/^[a-z]*-\([0-9]*\)-.*/\1/p')"
  if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then rm -rf -- "$c"; fi
done

TYP_FLINT=bench/peers/typical-apply.flint.yaml
TYP_IGN=bench/peers/typical-apply.ign
CONFIGS=(--config typical "$TYP_FLINT" "$TYP_IGN" typical "$RUNS_TYPICAL")
FLINT_FILES=("$TYP_FLINT")
IGN_FILES=("$TYP_IGN")
# One "big" row per size; Ignition only up to IGNITION_MAX users (its useradd
# rewrites every account file per user, so its time grows with the square of the users).
add_config() { # NAME SPEC FLINT IGN N
  local ign="$4"
  (( $5 > IGNITION_MAX )) && ign=-
  CONFIGS+=(--config "$1" "$3" "$ign" "$2" "$RUNS_BIG")
  FLINT_FILES+=("$3")
  [[ $ign == - ]] || IGN_FILES+=("$ign")
}
for n in $BIG_USERS; do
  node bench/apply-gen.mjs big "$n" >/dev/null
  add_config "big-$n" "big:$n" "bench/generated/big-apply-$n.flint.yaml" "bench/generated/big-apply-$n.ign" "$n"
done
for n in $MANY_FILES; do
  node bench/apply-gen.mjs files "$n" >/dev/null
  add_config "files-$n" "files:$n" "bench/generated/files-apply-$n.flint.yaml" "bench/generated/files-apply-$n.ign" 0
done

# Every config must be valid for its own tool before anything is timed.
for f in "${FLINT_FILES[@]}"; do node dist/flint.mjs validate "$f" >/dev/null || die "flint validate $f failed"; done
if command -v ignition-validate >/dev/null; then
  for f in "${IGN_FILES[@]}"; do ignition-validate "$f" || die "ignition-validate $f failed"; done
fi

echo "bench: root $ROOT; copies in $COPIES ($(findmnt -n -o FSTYPE -T "$COPIES"))" >&2
echo "bench: typical x$RUNS_TYPICAL, big (users: $BIG_USERS; files: ${MANY_FILES:-none}) x$RUNS_BIG, Ignition up to $IGNITION_MAX, $WARMUP warm-up each; every run copies the root (~200 MB) first, untimed" >&2

BASELINE_ARGS=()
[[ -n ${BENCH_BASELINE:-} ]] && BASELINE_ARGS=(--baseline "$BENCH_BASELINE" --baseline-max "${BENCH_BASELINE_MAX:-1000000}")
node bench/apply-bench.mjs --root "$ROOT" --copies "$COPIES" --ignition "$IGNITION" \
  --out "$RESULTS" --warmup "$WARMUP" "${BASELINE_ARGS[@]}" "${CONFIGS[@]}"
