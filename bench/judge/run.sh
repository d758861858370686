#!/usr/bin/env bash
# Judge renders with face models trained on real photos:
#  - OpenCV's Haar frontal-face cascade (detection rate);
#  - dlib's HOG frontal-face detector and ResNet face recogniser (detection rate, and
#    same/different-identity verification accuracy of the recogniser).
# Renders IDS x PER_ID faces with `synface render --format imagefolder --size 150 --max-yaw 25`
# (extra arguments go to `synface render`, e.g. --shape-scale 1.5).
# Usage: bench/judge/run.sh [IDS] [PER_ID] [RENDER ARGS...]
#   (venv under ${JUDGE_VENV:-/tmp/judge-venv}: opencv-python-headless, dlib-bin,
#    face_recognition_models, numpy, pillow from PyPI)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${JUDGE_VENV:-/tmp/judge-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import cv2, dlib, face_recognition_models' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "opencv-python-headless<5" dlib-bin face_recognition_models numpy pillow
fi
ids="${1:-40}"; per="${2:-5}"; shift $(( $# > 2 ? 2 : $# ))
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cargo run -q -- render --ids "$ids" --per-id "$per" --size 150 --max-yaw 25 \
  --format imagefolder -o "$out/faces" "$@"
"$venv/bin/python" bench/judge/judge.py "$out/faces"
"$venv/bin/python" bench/judge/judge_dlib.py "$out/faces"
