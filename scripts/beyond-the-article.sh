#!/usr/bin/env bash
# The two models the article does not reach, each against its neighbours,
# in one run: `may` (green threads) against `thread-per-conn` and `tokio`,
# `monoio` against `tokio` and the hand-written `io-uring`. Server CPU per
# 64-byte message at fixed rates (20k and 50k msg/s over 1,000
# connections), pinned (server on CPU 0, load on CPU 1), median of 3, plus
# the closed loop and memory at 1,000 connections. The tables are in
# OUT/README.md; docs/models.md quotes them.
#
#   scripts/beyond-the-article.sh [OUT]
#       default OUT: results/<date>-beyond-the-article-<cores>core
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(nproc)" -ge 2 ] || { echo "beyond-the-article: needs two cores to pin to" >&2; exit 1; }
out=${1:-results/$(date +%F)-beyond-the-article-$(nproc)core}
cargo run --release --quiet -p bench-harness --bin c10k -- bench \
    --models may,thread-per-conn,tokio,monoio,io-uring --pin \
    --efficiency-rates 20k,50k --efficiency-conns 1000 \
    --conns 1000 --rates 20k --rate-conns 1000 \
    -d 3 --repeat 3 --hold 2 --out "$out"
