#!/usr/bin/env bash
# The one script to run when a GPU machine is lent (needs nvcc + driver; < 8 min on one H100).
#  1. build synface-kernels with candle's CUDA backend (`--no-default-features --features cuda`)
#     and run the NVRTC compile test and the GPU-vs-CPU tests (tests/gpu.rs);
#  2. kernel benchmarks: cosine over pairs as a fraction of the GPU's peak memory bandwidth,
#     all-vs-all GFLOP/s, vs the CPU reference and (if installed) PyTorch on the same data;
#  3. a short training-step benchmark if the synface binary builds with `--features cuda`;
#  4. a summary.
# Env: SKIP_TRAIN=1 to skip step 3.
set -uo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
LOG=$(mktemp -d)
summary=()
step() { echo; echo "== $* ($(( $(date +%s) - T0 ))s)"; }
note() { summary+=("$*"); echo "$*"; }

step "environment"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || note "nvidia-smi failed"
nvcc --version | tail -1 || note "nvcc not found: the cuda feature cannot build"

step "build + GPU tests (synface-kernels, features cuda)"
if timeout 300 cargo test -p synface-kernels --no-default-features --features cuda \
    --test nvrtc_compile --test gpu -- --nocapture >"$LOG/test.txt" 2>&1; then
  note "kernels GPU tests: PASS ($(grep -c '\.\.\. ok' "$LOG/test.txt") ok, $(grep -c 'skipped' "$LOG/test.txt") skipped)"
else
  note "kernels GPU tests: FAIL (see below)"
fi
tail -30 "$LOG/test.txt"

step "kernel benchmarks"
BIN=target/debug/examples/similarity_bench
BDIR="$LOG/bench"
if timeout 200 cargo build -q -p synface-kernels --no-default-features --features cuda --example similarity_bench; then
  N=200000 DIM=512 PAIRS=4000000 ROWS=8192
  "$BIN" gen "$BDIR" $N $DIM $PAIRS 7
  gpu=$(timeout 120 "$BIN" run "$BDIR" $N $DIM $ROWS 10 cuda:0 2>&1 | tail -1)
  cpu=$(timeout 120 "$BIN" run "$BDIR" $N $DIM 2048 1 cpu 2>&1 | tail -1)
  echo "gpu: $gpu"; echo "cpu: $cpu"
  python3 - "$gpu" "$cpu" <<'PY' | tee -a "$LOG/summary.txt"
import json, sys
g, c = json.loads(sys.argv[1]), json.loads(sys.argv[2])
dim = 512
# Bytes moved per pair: two rows of dim f32 (+ 8 bytes of indices + 4 of output).
bw = g["pairs_per_s"] * (2 * dim * 4 + 12)
peak = g.get("peak_bw")  # from the driver: memory clock x bus width
frac = f"{bw / peak:.2f} of peak {peak/1e12:.2f} TB/s" if peak else "peak unknown"
print(f"cosine pairs: {g['pairs_per_s']/1e6:.1f} M pairs/s = {bw/1e9:.0f} GB/s ({frac}); CPU {c['pairs_per_s']/1e6:.2f} M pairs/s")
print(f"cosine all-vs-all {g['all_rows']}^2 x {dim}: {g['all_gflops']:.0f} GFLOP/s; CPU {c['all_gflops']:.1f} GFLOP/s")
PY
  summary+=("$(cat "$LOG/summary.txt" 2>/dev/null)")
  if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    python3 - "$BDIR" $N $DIM $ROWS <<'PY' | tee "$LOG/torch.txt"
import sys, time, numpy as np, torch
d, n, dim, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
e = torch.from_numpy(np.fromfile(f"{d}/emb.f32", dtype="<f4").reshape(n, dim)).cuda()
p = torch.from_numpy(np.fromfile(f"{d}/pairs.u32", dtype="<u4").reshape(-1, 2).astype(np.int64)).cuda()
def pairs():
    en = torch.nn.functional.normalize(e, dim=1)
    return (en[p[:, 0]] * en[p[:, 1]]).sum(1)
a, b = e[:rows], e[rows:2 * rows]
def allv():
    return torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T
for name, f, work in (("pairs", pairs, len(p)), ("all", allv, 2 * rows * rows * dim)):
    f(); torch.cuda.synchronize(); t = 1e9
    for _ in range(10):
        t0 = time.perf_counter(); f(); torch.cuda.synchronize(); t = min(t, time.perf_counter() - t0)
    print(f"torch {name}: {work / t / (1e6 if name == 'pairs' else 1e9):.1f} {'M pairs/s' if name == 'pairs' else 'GFLOP/s (cuBLAS)'}")
PY
    summary+=("$(cat "$LOG/torch.txt")")
  else
    note "PyTorch with CUDA not installed: no cuBLAS/PyTorch comparison"
  fi
else
  note "similarity_bench did not build with --features cuda"
fi

step "training step benchmark"
if [ "${SKIP_TRAIN:-0}" != 1 ] && [ -f pipelines/quick.toml ]; then
  if timeout 240 cargo build -q --features cuda 2>"$LOG/build.txt"; then
    start=$(date +%s)
    timeout 120 target/debug/synface run pipelines/quick.toml --gpus 1 --cache "$LOG/cache" >"$LOG/train.txt" 2>&1 \
      && note "smoke pipeline on GPU: $(( $(date +%s) - start ))s" || note "smoke pipeline on GPU failed: $(tail -3 "$LOG/train.txt")"
  else
    note "synface --features cuda did not build: $(tail -3 "$LOG/build.txt")"
  fi
else
  note "training benchmark skipped (SKIP_TRAIN=1 or no pipelines/quick.toml)"
fi

step "summary"
printf '%s\n' "${summary[@]}"
echo "total: $(( $(date +%s) - T0 ))s"
