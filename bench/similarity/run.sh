#!/usr/bin/env bash
# Cosine-similarity throughput: synface-kernels (CPU, or a GPU with DEVICE=cuda:0) vs numpy
# (BLAS) on the same embeddings, written once to a file both read. Prints the ratios
# (synface / numpy; >= 1.0 means synface is at least as fast).
#
# Env: N (rows, default 20000), DIM (512), PAIRS (1000000), ROWS (2048, all-vs-all is
# ROWS x ROWS), REPS (5), DEVICE (cpu). OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset so
# numpy uses the BLAS kernel it detects for this CPU (reported via threadpoolctl).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-20000} DIM=${DIM:-512} PAIRS=${PAIRS:-1000000} ROWS=${ROWS:-2048} REPS=${REPS:-5}
DEVICE=${DEVICE:-cpu}
VENV=bench/.venv
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q numpy threadpoolctl
fi
cargo build -q -p synface-kernels --example similarity_bench
BIN=target/debug/examples/similarity_bench
"$BIN" gen "$WORK" "$N" "$DIM" "$PAIRS" 7

ours=$("$BIN" run "$WORK" "$N" "$DIM" "$ROWS" "$REPS" "$DEVICE")
ref=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$VENV/bin/python" bench/similarity/numpy_ref.py "$WORK" "$N" "$DIM" "$ROWS" "$REPS")
echo "synface: $ours"
echo "numpy:   $ref"
"$VENV/bin/python" - "$ours" "$ref" <<'PY'
import json, sys
o, r = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for k in ("pairs_checksum", "all_checksum"):
    assert abs(o[k] - r[k]) <= 1e-3 * max(1.0, abs(r[k])), f"{k} differs: {o[k]} vs {r[k]}"
print(f"cosine over {o['pairs']} pairs: {o['pairs_per_s']/1e6:.2f} M pairs/s vs numpy {r['pairs_per_s']/1e6:.2f} M pairs/s  ratio {o['pairs_per_s']/r['pairs_per_s']:.2f}")
print(f"all-vs-all {o['all_rows']}x{o['all_rows']}: {o['all_gflops']:.1f} GFLOP/s vs numpy {r['all_gflops']:.1f} GFLOP/s  ratio {o['all_gflops']/r['all_gflops']:.2f}")
print(f"backend {o['backend']} simd {o['simd']} threads {o['threads']}; numpy BLAS {r['blas']}")
PY
