#!/usr/bin/env bash
# Planning speed: a 10,000-point sweep through five stages must plan in under 1 s (dev
# profile). Prints the time, the ratio to the 1 s budget, and the per-point time relative to
# a 100-point reference measured in the same run (~1 means planning scales linearly).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo run --quiet -p synface-engine --example plan_bench -- "$@"
