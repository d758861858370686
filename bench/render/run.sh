#!/usr/bin/env bash
# Render throughput of the procedural face model at 112x112 (single and all threads), printed
# beside a same-run reference: the rate of only filling/resolving the same pixel buffers.
# Built with the release profile (like `cargo bench`).
# Usage: bench/render/run.sh [IMAGES] [PER_ID] [SUPERSAMPLE]
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo run -q --release -p synface-stages --example render_bench -- "${1:-2000}" "${2:-20}" "${3:-2}"
