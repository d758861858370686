#!/usr/bin/env bash
# Training-step throughput: synface's candle backbone (stages/examples/train_bench.rs) against
# the same network and step in JAX on the CPU (bench/train/jax_bench.py), back to back.
# Default CPU backbone: IR-ResNet depths [1,1,1,1] widths [16,32,64,128], 128-d, 64x64, batch
# 64, CosFace over 1000 classes, SGD momentum 0.9 + wd 5e-4.
# Memory: each side reports its process's peak resident set; both run again at half the batch,
# and the difference over the images it removes is the memory per image of the batch (the
# framework's fixed footprint cancels), printed as a ratio.
# NET lresnet50 runs LResNet50E-IR ([3,4,14,3] x [64,128,256,512], 512-d) on both sides.
#   bench/train/run.sh [steps] [batch] [size] [small|lresnet50]
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${1:-10}
BATCH=${2:-64}
SIZE=${3:-64}
NET=${4:-small}
VENV=bench/.venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import jax" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q jax
fi
# Dependencies are built with opt-level 3 in the dev profile (see the root Cargo.toml).
cargo build -q -p synface-stages --example train_bench
echo "== candle (synface) =="
CANDLE=$(target/debug/examples/train_bench "$STEPS" "$BATCH" "$SIZE" "$NET")
echo "$CANDLE"
echo "== jax =="
JAX=$("$VENV/bin/python" bench/train/jax_bench.py "$STEPS" "$BATCH" "$SIZE" "$NET")
echo "$JAX"
get() { echo "$1" | sed -n "s/^$2=//p"; }
ct=$(get "$CANDLE" candle_train_img_s); jt=$(get "$JAX" jax_train_img_s)
cf=$(get "$CANDLE" candle_forward_img_s); jf=$(get "$JAX" jax_forward_img_s)
python3 -c "print(f'train step ratio candle/jax = {$ct/$jt:.3f}  ({$ct} vs {$jt} img/s)'); print(f'forward ratio candle/jax = {$cf/$jf:.3f}  ({$cf} vs {$jf} img/s)')"
HALF=$(( BATCH / 2 ))
if [ "$HALF" -ge 1 ]; then
    echo "== memory: again at batch $HALF ($STEPS steps each) =="
    CH=$(target/debug/examples/train_bench "$STEPS" "$HALF" "$SIZE" "$NET")
    JH=$("$VENV/bin/python" bench/train/jax_bench.py "$STEPS" "$HALF" "$SIZE" "$NET")
    c1=$(get "$CANDLE" candle_peak_rss_mb); c0=$(get "$CH" candle_peak_rss_mb)
    j1=$(get "$JAX" jax_peak_rss_mb); j0=$(get "$JH" jax_peak_rss_mb)
    python3 -c "
b, h = $BATCH, $HALF
c, j = ($c1 - $c0) / (b - h), ($j1 - $j0) / (b - h)
print(f'peak RSS MiB: candle {$c1:.0f} (batch {b}) / {$c0:.0f} (batch {h}); jax {$j1:.0f} / {$j0:.0f}')
print(f'memory per image of the batch: candle {c:.2f} MiB, jax {j:.2f} MiB, ratio candle/jax = {c / j:.2f}')"
fi
