#!/usr/bin/env bash
# Render throughput of the procedural face model at 112x112 beside its peer, measured in the
# same run on the same images: Mesa's llvmpipe (software OpenGL, driven by moderngl) drawing
# the same posed, lit meshes with the same textures and backgrounds (`mesh_dump` example +
# bench/render/llvmpipe_peer.py), at the same size, samples per pixel and thread count (1, and
# every CPU this process may use). synface's figure (`render_bench` example) also prints its
# buffer-fill reference. Prints `ratio synface/llvmpipe` per thread count (>= 1.0: synface is
# at least as fast) against the peer's faster mode:
#   msaa: SS*SS-sample multisampling (one shade per pixel, depth and coverage per sample, like
#         synface's resolve), resolved with a blit;
#   grid: synface's sample grid as a (SS*112)^2 render, every sample shaded, box-filtered.
# Both read the image back as RGB bytes. llvmpipe's threads: LP_NUM_THREADS rasteriser threads
# beside the submitting thread (which does the vertex work), or none (0: all on the submitting
# thread). The peer's "1 thread" is the better of LP_NUM_THREADS=0 and 1, pinned to one CPU
# with taskset; "N threads" the better of LP_NUM_THREADS=N-1 and N (N-1 workers plus the
# submitting thread is N threads), unpinned. Built with the release profile.
#
# Usage: bench/render/run.sh [IMAGES] [PER_ID] [SUPERSAMPLE]   (default 2000 20 2; the peer
#   takes SUPERSAMPLE 1 or 2: llvmpipe offers at most 4 samples per pixel)
# Env: ROUNDS (default 1: rounds of synface + peer, side by side), PEER_MODES ("msaa grid"),
#      VENV (bench/.venv).
# Needs: Debian packages libegl1 libegl-mesa0 libgl1-mesa-dri (installed here when missing and
# running as root), python3 with venv; PyPI moderngl, numpy, pillow (installed into the venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
n="${1:-2000}"; per="${2:-20}"; ss="${3:-2}"
size=112 # render_bench's size
rounds="${ROUNDS:-1}"
modes="${PEER_MODES:-msaa grid}"
VENV="${VENV:-bench/.venv}"

pkgs=(libegl1 libegl-mesa0 libgl1-mesa-dri)
if ! dpkg -s "${pkgs[@]}" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}"
  else
    echo "bench/render: needs the Debian packages ${pkgs[*]} (run as root to install them)" >&2
    exit 2
  fi
fi
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import moderngl, numpy, PIL' 2>/dev/null; then
  "$VENV/bin/pip" install -q moderngl numpy pillow
fi

cargo build -q --release -p synface-stages --example render_bench --example mesh_dump
bin="${CARGO_TARGET_DIR:-target}/release/examples"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin/mesh_dump" "$work/dump" "$n" "$per" "$size" "$ss"

threads="$("$VENV/bin/python" -c 'import os; print(len(os.sched_getaffinity(0)))')"
cpu="$("$VENV/bin/python" -c 'import os; print(min(os.sched_getaffinity(0)))')"
peer() { # THREADS LP_NUM_THREADS MODE ROUND
  local pin=()
  if [ "$1" = 1 ] && command -v taskset >/dev/null; then pin=(taskset -c "$cpu"); fi
  LP_NUM_THREADS="$2" "${pin[@]}" "$VENV/bin/python" bench/render/llvmpipe_peer.py \
    "$work/dump" --mode "$3" --json "$work/peer-$1-$2-$3-$4.json"
}
lp_for() { if [ "$1" = 1 ]; then echo 0 1; else echo $(($1 - 1)) "$1"; fi; }
for r in $(seq "$rounds"); do
  echo "== round $r: $n images ($per per identity), ${size}x${size}, $((ss * ss)) samples/px"
  "$bin/render_bench" "$n" "$per" "$ss" | tee "$work/synface-$r.txt"
  for t in $(printf "%s\n" 1 "$threads" | sort -un); do
    for m in $modes; do
      for lp in $(lp_for "$t"); do peer "$t" "$lp" "$m" "$r"; done
    done
  done
  "$VENV/bin/python" - "$work" "$r" "$threads" <<'PY'
import glob, json, re, sys
work, r, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(f"{work}/synface-{r}.txt").read()
ours = {int(t): float(v) for t, v in re.findall(r"(\d+) thread\(s\): (\d+(?:\.\d+)?) images/s", text)}
for t in sorted({1, threads}):
    runs = [json.load(open(f)) for f in sorted(glob.glob(f"{work}/peer-{t}-*-{r}.json"))]
    best = {}
    for j in runs:
        if j["mode"] not in best or j["images_per_s"] > best[j["mode"]]["images_per_s"]:
            best[j["mode"]] = j
    top = max(best.values(), key=lambda j: j["images_per_s"])
    each = ", ".join(f"{m} {j['images_per_s']:.0f} (LP_NUM_THREADS={j['threads']})"
                     for m, j in best.items())
    print(f"{t} thread(s): synface {ours[t]:.0f} images/s; llvmpipe {each} images/s")
    print(f"ratio synface/llvmpipe {t} thread(s): {ours[t] / top['images_per_s']:.2f} "
          f"(vs llvmpipe {top['mode']}, LP_NUM_THREADS={top['threads']})")
PY
done
