#!/usr/bin/env bash
# Slurm executor overhead (docs/cluster.md): 200 trivial instances (toy_source, one per sweep
# point, all ready at once) run locally, as Slurm job arrays, and as one Slurm job each, on the
# one-machine test cluster of scripts/slurm-local-cluster.sh (needs root, slurm-wlm, munge).
# Prints wall time, per-instance overhead against the local run, sbatch submissions and the
# number of squeue calls the coordinator made (bounded by run time / --poll, not by jobs).
# Usage: bench/slurm/run.sh [N] [POLL_SECS]   (PROFILE=dev to skip the release build)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-200}
POLL=${2:-2}
PROFILE=${PROFILE:-release}
if [[ "$PROFILE" == dev ]]; then DIR=debug; else DIR=$PROFILE; fi
cargo build --profile "$PROFILE" --bin synface
BIN="$PWD/target/$DIR/synface"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/synface-bench-slurm.XXXXXX")
scripts/slurm-local-cluster.sh start "$WORK/cluster" >/dev/null
trap 'scripts/slurm-local-cluster.sh stop "$WORK/cluster"; rm -rf "$WORK"' EXIT
export SLURM_CONF="$WORK/cluster/slurm.conf" SYNFACE_TESTKIT=1

mkdir -p "$WORK/p"
{
  printf '[pipeline]\nname = "trivial"\nseed = 1\n\n[sweep]\nn = ['
  seq -s, 1 "$N" | tr -d '\n'
  printf ']\n\n[stages.src]\nkind = "toy_source"\nn = "${n}"\nresources = { mem_mib = 64 }\n'
} >"$WORK/p/p.toml"

run() { # name, extra args...: prints seconds
  local name=$1; shift
  local start end
  start=$(date +%s.%N)
  (cd "$WORK/p" && "$BIN" --cache "$WORK/cache-$name" run p.toml --runs "$WORK/runs-$name" "$@" >/dev/null 2>&1)
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

summary() { # name, field
  python3 -c 'import json,sys,glob; print(json.load(open(glob.glob(sys.argv[1])[0]))[sys.argv[2]])' \
    "$WORK/cache-$1/slurm/*/summary.json" "$2"
}

local_s=$(run local --jobs "$(nproc)")
array_s=$(run array --executor slurm --poll "$POLL")
single_s=$(run single --executor slurm --poll "$POLL" --array-max 1)
for m in local array single; do
  [[ "$(ls "$WORK/cache-$m/actions" | wc -l)" == "$N" ]] || { echo "$m: not all $N instances ran" >&2; exit 1; }
done
printf '%s trivial instances on %s CPUs, squeue every %ss\n' "$N" "$(nproc)" "$POLL"
printf '%-22s %8s %14s %12s %8s %12s\n' mode wall_s per_inst_ms overhead_ms sbatch squeue_calls
printf '%-22s %8.2f %14.1f %12s %8s %12s\n' local "$local_s" "$(echo "$local_s*1000/$N" | bc -l)" - - -
for m in array single; do
  s=${m}_s; s=${!s}
  printf '%-22s %8.2f %14.1f %12.1f %8s %12s\n' "slurm-$m" "$s" "$(echo "$s*1000/$N" | bc -l)" \
    "$(echo "($s-$local_s)*1000/$N" | bc -l)" "$(summary "$m" submissions)" "$(summary "$m" squeue_calls)"
done
