#!/usr/bin/env bash
# Run `cargo <command> --features cuda ...` (candle's CUDA backend, candle-kernels' PTX and our
# own CUDA kernels) on a machine with no GPU and no CUDA install, as CI does (.ci/run):
#
# - nvcc, the CUDA headers and CCCL come from PyPI (nvidia-cuda-nvcc, -runtime, -cccl 13.0);
# - CUDA_COMPUTE_CAP (default 90, the H200 of scripts/gpu-check.sh) spares candle's build a call
#   to nvidia-smi;
# - the final link needs libcuda, libnvrtc, libcurand, libcublas, libcublasLt and libcudart
#   (candle turns on cudarc's `dynamic-linking`). NVRTC and the runtime are the real ones from
#   PyPI, so tests compile our kernels with CUDA 13's compiler (kernels/tests/nvrtc_compile.rs).
#   The driver, cuBLAS(Lt) and cuRAND come with the driver and toolkit of a GPU machine; here we
#   link against stubs generated from cudarc's own bindings: one shared library per CUDA
#   library, with the real library's SONAME, every function returning an error code (cuDNN too,
#   for `--features cudnn`). The binary
#   records the real names (libcuda.so.1, libcublas.so.13, ...), so on a machine with CUDA 13 it
#   runs against the real libraries (the CUDA toolkit's own `lib/stubs/libcuda.so` serves the
#   same purpose). For `cargo test` here the stubs are on LD_LIBRARY_PATH under those names:
#   every driver call fails, as on a machine without a driver, which the CPU paths of a CUDA
#   build must survive.
#
# Usage: scripts/cuda-cargo.sh <cargo command> [args...], e.g.
#   scripts/cuda-cargo.sh build --workspace --all-targets
#   scripts/cuda-cargo.sh test -p synface-kernels --lib batch
# Needs python3 with venv, gcc and cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

# CUDA 13.0, the oldest CUDA 13, on purpose: candle-kernels' PTX carries the PTX ISA version of
# the nvcc that wrote it, and a driver only JIT-compiles ISA versions it knows. nvcc 13.5 writes
# ISA 9.5, which the first CUDA 13 drivers (580.x, the H200 of scripts/gpu-check.sh) refuse;
# 13.0 writes 9.0, which every CUDA 13 driver loads. nvidia-nvvm (cicc) and nvidia-cuda-crt are
# pinned too: nvcc's wheel otherwise pulls the newest, and cicc is what chooses the ISA version.
venv="${SYNFACE_CUDA_VENV:-${TMPDIR:-/tmp}/synface-cuda13.0-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 \
  nvidia-cuda-crt==13.0.88 nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85 \
  nvidia-cuda-nvrtc==13.0.88
cu="$("$venv/bin/python" -c 'import nvidia.cu13 as m; print(list(m.__path__)[0])')"

export PATH="$cu/bin:$PATH"
export CUDA_ROOT="$cu" CUDA_PATH="$cu" CUDA_HOME="$cu"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
export NVCC_APPEND_FLAGS="-I$cu/include/cccl ${NVCC_APPEND_FLAGS:-}"
nvcc --version | tail -2

# cudarc's source, of the version cargo resolved (`cargo metadata` unpacks it).
cudarc_src="$(cargo metadata --format-version 1 --locked | "$venv/bin/python" -c '
import json, os, sys
pkgs = json.load(sys.stdin)["packages"]
print(os.path.dirname(next(p["manifest_path"] for p in pkgs if p["name"] == "cudarc")))')"

# One stub per library: every function cudarc declares for it, as `int f(void) { return 1; }`.
stubs="$cu/lib/stubs"
mkdir -p "$stubs"
gen_stub() { # <cudarc sys dir> <library name> <soname>
  local src="$cudarc_src/src/$1/sys/mod.rs" c="$stubs/$2.c"
  grep -ohE '^\s+fn [A-Za-z_][A-Za-z0-9_]*\s*\(' "$src" \
    | sed -E 's/^\s+fn //; s/\s*\($//' | sort -u \
    | awk '{ printf "int %s(void) { return 1; }\n", $1 }' > "$c"
  [ -s "$c" ] || { echo "no functions found in $src (cudarc's layout changed?)" >&2; exit 1; }
  gcc -shared -fPIC -w -Wl,-soname,"$3" -o "$stubs/lib$2.so" "$c"
  ln -sf "lib$2.so" "$stubs/$3"
  echo "stub lib$2.so ($3): $(wc -l < "$c") functions"
}
gen_stub driver cuda libcuda.so.1
# NVRTC and the runtime are the real libraries from the wheels, linked by their unversioned names.
ln -sf "$cu/lib/libnvrtc.so.13" "$stubs/libnvrtc.so"
ln -sf "$cu/lib/libcudart.so.13" "$stubs/libcudart.so"
gen_stub curand curand libcurand.so.10
gen_stub cublas cublas libcublas.so.13
gen_stub cublaslt cublasLt libcublasLt.so.13
# For `--features cudnn` (candle's convolutions through cuDNN 9).
gen_stub cudnn cudnn libcudnn.so.9

[ "$#" -ge 1 ] || { echo "usage: $0 <cargo command> [args...]" >&2; exit 2; }
cmd="$1"
shift
export LD_LIBRARY_PATH="$cu/lib:$stubs:${LD_LIBRARY_PATH:-}"
cargo "$cmd" --features cuda "$@"
