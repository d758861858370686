#!/usr/bin/env bash
# The GPU checks, in two halves so that a lent device only runs what was built here:
#
#   scripts/gpu-check.sh prepare   on the CPU machine: builds the `cuda` binaries with
#                                  scripts/cuda-cargo.sh (about 15 minutes cold) and packs them,
#                                  stripped and xz-compressed (about 48 MB), into gpu-check/pack/
#                                  (git-ignored; carry it: the device tool's `carry` takes
#                                  ["gpu-check"]).
#   scripts/gpu-check.sh run       on the GPU machine: unpacks and runs, each step under a
#                                  timeout (well under 10 minutes in all):
#     1. the environment, and which CUDA libraries the binaries cannot find (they need the
#        driver and CUDA 13's cuBLAS, cuRAND, NVRTC and runtime: scripts/cuda-cargo.sh);
#     2. the kernels' GPU-vs-CPU tests (kernels/tests/gpu.rs: max abs error per kernel, the
#        batch op bit for bit, also as the candle op on device tensors that CUDA training
#        uses), the NVRTC compile test, and the fused batch norm + PReLU's CUDA kernels against
#        the composite reference (stages/src/nn/bn_act.rs);
#     3. cosine over pairs as a fraction of the device's peak memory bandwidth and all-vs-all
#        GFLOP/s, kernel only (inputs on the device) and with the host copies, against the
#        CPU reference and (when PyTorch with CUDA is there) cuBLAS;
#     4. a training step of LResNet50E-IR at 112x112, batch 128, on the GPU, in images/s
#        (stages/examples/train_bench.rs), again with candle's convolutions on cuDNN (feature
#        `cudnn`), and the same step in JAX on the same GPU (bench/train/jax_bench.py), all in
#        full f32;
#     5. the same step op by op: each stage's convolution and batch norm + PReLU, forward and
#        backward, against a matrix product of the convolution's FLOPs
#        (stages/examples/op_bench.rs);
#     6. `synface run pipelines/quick.toml --gpus 1` end to end;
#     7. a summary.
#   scripts/gpu-check.sh ops       on the GPU machine: the batch norm test of step 2, step 5
#                                  and candle's training step of step 4 (about a minute).
set -uo pipefail
cd "$(dirname "$0")/.."
PACK=gpu-check/pack

prepare() {
  set -e
  scripts/cuda-cargo.sh build --workspace --all-targets
  rm -rf "$PACK" && mkdir -p "$PACK"
  scripts/cuda-cargo.sh test --workspace --no-run --message-format=json 2>/dev/null \
    | executables gpu nvrtc_compile synface_stages > "$PACK/exes.txt"
  while read -r name exe; do pack "$exe" "test-$name"; done < "$PACK/exes.txt"
  pack target/debug/synface synface
  pack target/debug/examples/similarity_bench similarity_bench
  pack target/debug/examples/train_bench train_bench
  pack target/debug/examples/op_bench op_bench
  # The training step once more with candle's convolutions on cuDNN (feature `cudnn`), so that
  # one device run measures both.
  scripts/cuda-cargo.sh build -p synface-stages --example train_bench --features cudnn \
    --message-format=json 2>/dev/null | executables train_bench > "$PACK/exes.txt"
  while read -r _ exe; do pack "$exe" train_bench_cudnn; done < "$PACK/exes.txt"
  rm "$PACK/exes.txt"
  du -ch "$PACK"/* | tail -1
}

# Reads cargo's JSON messages; prints "name path" for each executable built for the targets named.
executables() { # <target name>...
  python3 -c '
import json, sys
for line in sys.stdin:
    if not line.startswith("{"):
        continue  # lines of cuda-cargo.sh itself (nvcc version, stubs)
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and m["target"]["name"] in sys.argv[1:]:
        print(m["target"]["name"], m["executable"])' "$@"
}

pack() { # <executable> <name>
  strip -o "$PACK/$2" "$1"
  xz -T0 -6 "$PACK/$2"
  echo "packed $2: $(stat -c %s "$PACK/$2.xz") bytes"
}

T0=$(date +%s)
summary=()
step() { echo; echo "== $* ($(( $(date +%s) - T0 ))s)"; }
note() { summary+=("$*"); echo "$*"; }

# Unpacks the packed binaries into a scratch folder (removed at exit), names it in $BIN, and
# finds the CUDA libraries they need.
unpack() {
  [ -d "$PACK" ] || { echo "no $PACK: run 'scripts/gpu-check.sh prepare' first and carry gpu-check" >&2; exit 2; }
  BIN=$(mktemp -d)
  trap "rm -rf '$BIN'" EXIT
  for f in "$PACK"/*.xz; do
    xz -dc "$f" > "$BIN/$(basename "$f" .xz)" && chmod +x "$BIN/$(basename "$f" .xz)"
  done
  step "environment"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    || note "nvidia-smi failed"
  cuda_libs "$BIN/synface"
  cuda_libs "$BIN/train_bench_cudnn"
  local missing
  missing=$(ldd "$BIN/synface" | grep "not found" | awk '{print $1}' | tr '\n' ' ')
  [ -z "$missing" ] || note "libraries not found: $missing(install CUDA 13 or set LD_LIBRARY_PATH)"
}

# A short device call: the fused batch norm's GPU test, the per-op breakdown of a training
# step and the step itself.
ops() {
  unpack
  bn_act_test "$BIN"
  op_times "$BIN"
  train_step "$BIN" train_bench "LResNet50E-IR on cuda:0"
  finish "$BIN"
}

run() {
  unpack
  local bin=$BIN

  step "kernels: GPU against the CPU reference, NVRTC compile"
  for t in gpu nvrtc_compile; do
    if timeout 120 "$bin/test-$t" --nocapture > "$bin/$t.txt" 2>&1; then
      note "kernels $t tests: PASS ($(grep -c '\.\.\. ok' "$bin/$t.txt") ok, $(grep -c 'skipped' "$bin/$t.txt") skipped)"
    else
      note "kernels $t tests: FAIL"
    fi
    grep -E "max abs|running on|skipped|compiled|panicked" "$bin/$t.txt" | head -20
  done

  bn_act_test "$bin"

  step "kernel benchmarks"
  bench "$bin"

  step "training step: LResNet50E-IR, 112x112, batch 128"
  train_step "$bin" train_bench "LResNet50E-IR on cuda:0"
  train_step "$bin" train_bench_cudnn "the same with cuDNN convolutions"
  # The same network and step in JAX on the same GPU (bench/train/jax_bench.py), in full f32
  # as candle computes (JAX's default would use TF32 for the matrix products).
  if timeout 240 env JAX_DEFAULT_MATMUL_PRECISION=highest python3 bench/train/jax_bench.py \
      5 128 112 lresnet50 > "$bin/jax.txt" 2>&1; then
    note "LResNet50E-IR in JAX on the same GPU (f32): $(grep -E '^jax ' "$bin/jax.txt" | cut -c1-60) $(grep -E 'jax_train_img_s|jax_forward_img_s' "$bin/jax.txt" | tr '\n' ' ')"
  else
    note "jax_bench on the GPU failed: $(tail -2 "$bin/jax.txt" | cut -c1-200)"
  fi

  op_times "$bin"

  step "quick.toml end to end on the GPU"
  local start=$(date +%s)
  if timeout 300 "$bin/synface" run pipelines/quick.toml --gpus 1 --cache "$bin/cache" \
      --runs "$bin/runs" > "$bin/quick.txt" 2>&1; then
    note "quick.toml --gpus 1: $(( $(date +%s) - start ))s; devices: $(grep -ho '"device": "[^"]*"' -r "$bin/runs" | sort | uniq -c | tr '\n' ' ')"
  else
    note "quick.toml --gpus 1 failed: $(tail -3 "$bin/quick.txt")"
  fi

  finish "$bin"
}

# The summary, and each step's whole output and the quick run's results under $OUT.
finish() { # <bin dir>
  step "summary"
  printf '%s\n' "${summary[@]}"
  echo "total: $(( $(date +%s) - T0 ))s"
  [ -z "${OUT:-}" ] || (cd "$1" && tar czf "$OUT/steps.tgz" ./*.txt \
    $(find runs -name '*.csv' -o -name '*.json' 2>/dev/null | head -200))
}

# The fused batch norm + PReLU's CUDA kernels against the composite reference (a unit test of
# stages/src/nn/bn_act.rs, run from the stages library's test binary).
bn_act_test() { # <bin dir>
  if timeout 120 "$1/test-synface_stages" nn::bn_act --nocapture > "$1/bn_act.txt" 2>&1; then
    note "fused batch norm + PReLU tests: PASS ($(grep -c '\.\.\. ok' "$1/bn_act.txt") ok)"
  else
    note "fused batch norm + PReLU tests: FAIL"
  fi
  grep -E "running on|skipped|match|panicked" "$1/bn_act.txt" | head -10
}

# Where the training step's time goes: each stage's convolution and batch norm + PReLU,
# forward and forward + backward, against a matrix product of the convolution's FLOPs
# (stages/examples/op_bench.rs), in full f32.
op_times() { # <bin dir>
  step "training step by op: LResNet50E-IR stages, batch 128"
  if timeout 180 env NVIDIA_TF32_OVERRIDE=0 "$1/op_bench" 128 cuda:0 5 > "$1/op_bench.txt" 2>&1; then
    grep -v '^c=' "$1/op_bench.txt"
    while read -r line; do note "$line"; done < <(grep '^c=' "$1/op_bench.txt")
  else
    note "op_bench failed: $(tail -1 "$1/op_bench.txt" | cut -c1-200)"
  fi
}

# One LResNet50E-IR training step benchmark on cuda:0, noted under <label>; with
# NVIDIA_TF32_OVERRIDE=0, full f32 in cuBLAS and cuDNN, as in JAX's run.
train_step() { # <bin dir> <binary> <label>
  local out="$1/$2.txt"
  if timeout 240 env NVIDIA_TF32_OVERRIDE=0 "$1/$2" 5 128 112 lresnet50 cuda:0 > "$out" 2>&1; then
    note "$3: $(grep -E 'candle_train_img_s|split_ms' "$out" | tr '\n' ' ')"
  else
    note "$3 failed: $(tail -1 "$out" | cut -c1-200)"
  fi
}

# Puts on LD_LIBRARY_PATH the folders that hold the CUDA 13 libraries <binary> cannot find yet:
# a toolkit under /usr/local/cuda*, the driver's folder, or the nvidia-* wheels of the machine's
# python3 (PyTorch's cu13 wheels ship cuBLAS, cuRAND, NVRTC and the runtime as nvidia/cu13/lib).
cuda_libs() { # <binary>
  local dirs=(/usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/local/cuda/lib64
    /usr/local/cuda/targets/x86_64-linux/lib)
  local py
  py=$(python3 -c 'import nvidia, os
for p in nvidia.__path__:
    for sub in sorted(os.listdir(p)):
        if os.path.isdir(os.path.join(p, sub, "lib")):
            print(os.path.join(p, sub, "lib"))' 2>/dev/null)
  [ -z "$py" ] || mapfile -t -O "${#dirs[@]}" dirs <<< "$py"
  local lib d
  for lib in $(ldd "$1" | grep "not found" | awk '{print $1}'); do
    for d in "${dirs[@]}"; do
      if [ -e "$d/$lib" ]; then
        export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        echo "$lib: $d"
        break
      fi
    done
  done
}

bench() { # <bin dir>
  local sb="$1/similarity_bench" d="$1/bench" n=200000 dim=512 pairs=4000000 rows=8192
  "$sb" gen "$d" $n $dim $pairs 7 || { note "similarity_bench gen failed"; return; }
  local gpu cpu
  gpu=$(timeout 120 "$sb" run "$d" $n $dim $rows 10 cuda:0 2>&1 | tail -1)
  cpu=$(timeout 120 "$sb" run "$d" $n $dim 2048 1 cpu 2>&1 | tail -1)
  echo "gpu: $gpu"; echo "cpu: $cpu"
  local line
  line=$(python3 - "$gpu" "$cpu" "$dim" <<'PY'
import json, sys
try:
    g, c = json.loads(sys.argv[1]), json.loads(sys.argv[2])
except ValueError:
    print("similarity_bench on cuda:0 printed no result"); sys.exit()
dim = int(sys.argv[3])
# Bytes counted per pair: two rows of f32, two u32 indices, one f32 out. Rows recur (each about
# 40 times here), so part of it comes from L2 and the figure can pass the DRAM peak.
per_pair = 2 * dim * 4 + 12
peak = g.get("peak_bw")
def bw(pairs_s):
    b = g["pairs"] / pairs_s * per_pair
    frac = f"{b / peak:.2f} of peak {peak / 1e12:.2f} TB/s" if peak else "peak unknown"
    return f"{g['pairs'] / pairs_s / 1e6:.1f} M pairs/s = {b / 1e9:.0f} GB/s of row reads ({frac})"
flops = 2 * g["all_rows"] ** 2 * dim
print(f"cosine pairs, kernel only: {bw(g['kernel_pairs_s'])}; with host copies: "
      f"{bw(g['pairs_s'])}; CPU {c['pairs_per_s'] / 1e6:.2f} M pairs/s. "
      f"All-vs-all, kernel only: {flops / g['kernel_all_s'] / 1e9:.0f} GFLOP/s; with host "
      f"copies: {g['all_gflops']:.0f}; CPU {c['all_gflops']:.1f}")
PY
)
  note "$line"
  if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    note "$(python3 - "$d" $n $dim $rows <<'PY'
import sys, time, numpy as np, torch
d, n, dim, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
e = torch.from_numpy(np.fromfile(f"{d}/emb.f32", dtype="<f4").reshape(n, dim)).cuda()
a, b = e[:rows], e[rows:2 * rows]
f = lambda: torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T
f(); torch.cuda.synchronize(); t = 1e9
for _ in range(10):
    t0 = time.perf_counter(); f(); torch.cuda.synchronize(); t = min(t, time.perf_counter() - t0)
print(f"cuBLAS (PyTorch) all-vs-all: {2 * rows * rows * dim / t / 1e9:.0f} GFLOP/s")
PY
)"
  else
    note "PyTorch with CUDA not installed: no cuBLAS comparison"
  fi
}

case "${1:-}" in
  prepare) prepare ;;
  # Under the device tool, $OUT comes back: the whole log and each step's output go there.
  run|ops) if [ -n "${OUT:-}" ]; then
         "$1" 2>&1 | tee "$OUT/gpu-check.log"
       else
         "$1"
       fi ;;
  *) echo "usage: $0 prepare|run|ops" >&2; exit 2 ;;
esac
