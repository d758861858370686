#!/usr/bin/env bash
# Judge renders with a face detector trained on real photos (OpenCV Haar cascade): renders
# IDS x PER_ID faces at 150 px with yaw within +-25 and prints the detection rate.
# Usage: bench/judge/run.sh [IDS] [PER_ID]   (creates a venv under ${JUDGE_VENV:-/tmp/judge-venv})
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${JUDGE_VENV:-/tmp/judge-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "opencv-python-headless<5"
fi
out="$(mktemp -d)"
cargo run -q -p synface-stages --example face_sheets -- --imagefolder "$out/faces" "${1:-20}" "${2:-5}" 150 25
"$venv/bin/python" bench/judge/judge.py "$out/faces"
rm -rf "$out"
