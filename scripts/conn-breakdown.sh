#!/usr/bin/env bash
# Where an idle connection's heap bytes go, per model: runs each model's
# `tests/footprint.rs` (a counting allocator, 500 idle handshaken
# connections in-process) and prints its breakdown by allocation size.
# The RSS and kernel view of the same connections: scripts/rss-per-conn.sh.
#
#   scripts/conn-breakdown.sh [MODEL ...]
set -euo pipefail
cd "$(dirname "$0")/.."
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(thread-per-conn epoll-callback mini-executor tokio async-std smol io-uring may monoio)
echo "$(uname -r) rustc=$(rustc --version | cut -d' ' -f2)"
for model in "${models[@]}"; do
    cargo test -q --release -p "model-$model" --test footprint -- --nocapture 2>&1 |
        grep 'per idle connection' || { echo "conn-breakdown: $model failed" >&2; exit 1; }
done
