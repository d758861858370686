#!/usr/bin/env bash
# Regenerate every committed report after a change of output bytes (a face model or stage
# version bump): each pipeline below runs with a release build into RUNS (its cache in CACHE),
# and its report is copied into the docs: docs/quick-report/ for quick, docs/reports/NAME/ for
# the others (top-level report files, not events.jsonl or history/, and every point's
# verify/scores.csv as scores/<point>.csv). Then the contact sheets under docs/faces/ and,
# with --bless, the golden stage digests.
#
#   scripts/regen-reports.sh [--cache DIR] [--runs DIR] [--bless] [NAME...]
#
# NAME: pipelines/NAME.toml; default all eleven committed ones, in an order where later runs
# reuse earlier trainings from the cache (quick about 1 minute, cpu-budget 4.5, cpu-domain 3,
# cpu-budget-10x 48, -8seeds 45, -long 45, -30ep 70, cpu-mixup 43, cpu-mixup-30ep 35,
# cpu-mixup-shift under 1 after it, cpu-mixup-capacity about 32 after cpu-mixup, on a 2-core
# host: about 5.5 hours in all). A killed run resumes where it stopped when the same CACHE
# and RUNS are given again (the engine's exact resume), so the long ones can span sessions if
# CACHE and RUNS survive.
# Files in a destination that the new run did not write are listed, never deleted: decide by
# hand. The numbers quoted in docs/experiments.md and docs/faces.md are not rewritten.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=/tmp/synface-regen/cache
runs=/tmp/synface-regen/runs
bless=0
names=()
while (($#)); do
  case "$1" in
    --cache) cache="${2:?--cache needs a folder}"; shift 2 ;;
    --runs) runs="${2:?--runs needs a folder}"; shift 2 ;;
    --bless) bless=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    -*) echo "unknown option $1 (expected --cache, --runs, --bless)" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
((${#names[@]})) || names=(quick cpu-budget cpu-domain cpu-budget-10x cpu-budget-10x-8seeds
  cpu-budget-10x-long cpu-budget-10x-30ep cpu-mixup cpu-mixup-30ep cpu-mixup-shift
  cpu-mixup-capacity)
for n in "${names[@]}"; do
  [[ -f "pipelines/$n.toml" ]] || { echo "no pipelines/$n.toml (give a name under pipelines/, without .toml)" >&2; exit 2; }
done

target="${CARGO_TARGET_DIR:-target}"
cargo build -q --release --bin synface
bin="$target/release/synface"

# publish RUN DEST: the run folder's report into DEST
publish() {
  local run="$1" dest="$2" f p name
  mkdir -p "$dest/scores"
  local written=()
  for f in "$run"/*; do
    [[ -f "$f" && "$(basename "$f")" != events.jsonl ]] || continue
    cp "$f" "$dest/"
    written+=("$(basename "$f")")
  done
  for p in "$run"/points/*/; do
    [[ -f "$p/verify/scores.csv" ]] || continue
    # 0003-arm=w150-d8,ids=150,per_id=8,seed=0 -> w150-d8-ids-150-per_id-8-seed-0 (a folder
    # slug over 100 characters ends in ,+N, N pairs left out: engine/src/point_name.rs)
    name="$(basename "$p")"; name="${name#*-}"; name="${name//arm=/}"
    name="${name//,/-}"; name="${name//=/-}"
    cp "$p/verify/scores.csv" "$dest/scores/$name.csv"
    written+=("scores/$name.csv")
  done
  for f in "$dest"/* "$dest"/scores/*; do
    [[ -f "$f" ]] || continue
    local rel="${f#"$dest"/}"
    [[ " ${written[*]} " == *" $rel "* ]] || echo "  note: $dest/$rel was not written by this run (left as it is)"
  done
}

for n in "${names[@]}"; do
  echo "== $n ($(date -u +%H:%M:%S))"
  start=$SECONDS
  "$bin" --cache "$cache" run --runs "$runs" "pipelines/$n.toml"
  echo "   $n: $((SECONDS - start)) s"
  if [[ "$n" == quick ]]; then dest=docs/quick-report; else dest="docs/reports/$n"; fi
  publish "$runs/$n" "$dest"
done

echo "== contact sheets"
cargo run -q --release -p synface-stages --example face_sheets -- docs/faces
if ((bless)); then
  echo "== golden stage digests"
  SYNFACE_BLESS_DIGESTS=1 cargo test -q --test integration stage_digests
fi
git status --short docs tests/integration/stage_digests.txt
