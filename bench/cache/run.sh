#!/usr/bin/env bash
# Cache benchmarks (see engine/examples/cache_bench.rs and the README):
#  1. a 256 MiB artifact through the cache vs plain write+fsync / read, same disk;
#  2. sled storing large values vs plain files (why blobs are files);
#  3. a fully cached 100-instance pipeline end to end through the binary (target < 1 s),
#     against the binary's bare start-up time measured in the same run.
# Usage: bench/cache/run.sh [--quick]   (PROFILE=dev to skip the release build)
set -euo pipefail
cd "$(dirname "$0")/../.."
PROFILE=${PROFILE:-release}
MIB=256; SLED_VALUES=20; SLED_MIB=64
if [[ "${1:-}" == "--quick" ]]; then MIB=64; SLED_VALUES=4; SLED_MIB=32; fi
if [[ "$PROFILE" == dev ]]; then DIR=debug; else DIR=$PROFILE; fi
cargo build --profile "$PROFILE" -p synface-engine --example cache_bench
cargo build --profile "$PROFILE" --bin synface
WORK=$(mktemp -d "${TMPDIR:-/tmp}/synface-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

"target/$DIR/examples/cache_bench" --dir "$WORK/cache-bench" --mib "$MIB" \
  --sled-values "$SLED_VALUES" --sled-mib "$SLED_MIB"

echo "== fully cached run of a 100-instance pipeline =="
BIN="$PWD/target/$DIR/synface"
{
  printf '[pipeline]\nname = "bench100"\nseed = 1\n\n[sweep]\nn = ['
  seq -s, 1 33 | tr -d '\n'
  printf ']\n\n[stages.src]\nkind = "toy_source"\nn = "${n}"\n\n'
  printf '[stages.map]\nkind = "toy_map"\ninput = "src"\n\n'
  printf '[stages.steps]\nkind = "toy_steps"\ninput = "map"\nsteps = 2\n\n'
  printf '[stages.sum]\nkind = "toy_sum"\ninput = "steps"\n'
} > "$WORK/bench100.toml"
cd "$WORK"
export SYNFACE_TESTKIT=1
"$BIN" run bench100.toml > cold.txt
head -1 cold.txt
now() { date +%s.%N; }
best_run=999; best_start=999
for _ in 1 2 3 4 5; do
  t0=$(now); "$BIN" run bench100.toml > warm.txt; t1=$(now)
  "$BIN" --version > /dev/null; t2=$(now)
  best_run=$(echo "$t1 - $t0" | bc -l | awk -v b="$best_run" '{print ($1 < b) ? $1 : b}')
  best_start=$(echo "$t2 - $t1" | bc -l | awk -v b="$best_start" '{print ($1 < b) ? $1 : b}')
done
head -1 warm.txt
grep -q 'ran 0, cached 100' warm.txt || { echo "expected 100 cache hits"; exit 1; }
awk -v r="$best_run" -v s="$best_start" 'BEGIN {
  printf "cached 100-instance run: %.3f s end to end (best of 5); bare start-up %.3f s; ratio %.1fx start-up; target < 1 s: %s\n",
    r, s, r / s, (r < 1.0) ? "met" : "MISSED" }'
