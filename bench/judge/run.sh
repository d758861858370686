#!/usr/bin/env bash
# Judge renders with face models trained on real photos:
#  - OpenCV's Haar frontal-face cascade (detection rate);
#  - dlib's HOG frontal-face detector and ResNet face recogniser (detection rate,
#    same/different-identity verification accuracy at dlib's threshold 0.6 and at the best
#    threshold, mean different-identity distance, near-twin count; the accuracy at 0.6 and
#    the different-identity distance also over every pair of images, free of the pair draw).
# For each seed in SEEDS (default "1 2 3"), renders IDS x PER_ID faces with
# `synface render --format imagefolder --size 150 --max-yaw 25 --seed S` (each seed draws new
# people; extra arguments go to `synface render`, e.g. --style photo or --max-yaw 45, which
# override the defaults), judges them, then prints mean +- std over the seeds.
# (SYNFACE_BIN=path judges that binary instead of building this checkout.)
# Usage: [SEEDS="1 2 3"] bench/judge/run.sh [IDS] [PER_ID] [RENDER ARGS...]
#   (venv under ${JUDGE_VENV:-/tmp/judge-venv}: opencv-python-headless, dlib-bin,
#    face_recognition_models, numpy, pillow from PyPI)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${JUDGE_VENV:-/tmp/judge-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import cv2, dlib, face_recognition_models' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "opencv-python-headless<5" dlib-bin face_recognition_models numpy pillow
fi
ids="${1:-60}"; per="${2:-6}"; shift $(( $# > 2 ? 2 : $# ))
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
bin="${SYNFACE_BIN:-${CARGO_TARGET_DIR:-target}/release/synface}"
[ -n "${SYNFACE_BIN:-}" ] || cargo build -q --release
yaw=(--max-yaw 25)
case " $* " in *" --max-yaw "*) yaw=() ;; esac
for s in ${SEEDS:-1 2 3}; do
  echo "== seed $s: $ids identities x $per, $*"
  "$bin" render --ids "$ids" --per-id "$per" --size 150 "${yaw[@]}" \
    --seed "$s" --format imagefolder -o "$out/faces-$s" "$@"
  "$venv/bin/python" bench/judge/judge.py "$out/faces-$s"
  "$venv/bin/python" bench/judge/judge_dlib.py "$out/faces-$s" --json "$out/judge-$s.json"
done
"$venv/bin/python" - "$out"/judge-*.json <<'PY'
import json, sys
import numpy as np
rows = [json.load(open(f)) for f in sys.argv[1:]]
print(f"== over {len(rows)} seeds (mean +- std)")
for k in ["detection", "acc_at_0_6", "acc_best", "diff_mean", "same_mean", "near_twins", "nn_mean",
          "acc_at_0_6_all_pairs", "diff_mean_all_pairs"]:
    v = np.array([r[k] for r in rows], dtype=float)
    print(f"{k:>20}: {v.mean():.3f} +- {v.std(ddof=1) if len(v) > 1 else 0.0:.3f}")
PY
