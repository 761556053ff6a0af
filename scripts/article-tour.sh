#!/usr/bin/env bash
# The article's tour, measured: its five Python servers (peers/python),
# each beside its Rust counterpart, in one pinned run (server on CPU 0,
# load on CPU 1). Server CPU per 64-byte message at 20k msg/s over 1,000
# and over 10,000 connections (5 repetitions each), the closed loop and
# memory at 100 and 10,000 connections (3 each). The tables are in
# OUT/README.md; docs/tour.md quotes them. About 20 minutes on two cores.
# 10 s to connect, as the full preset: a SYN dropped while the backlog is
# full is retried after 7 s, and at 5 s thread-per-conn (spawning a
# thread per accept) lost 136-253 of 10,000 clients that way.
#
#   scripts/article-tour.sh [OUT]
#       default OUT: results/<date>-article-tour-<cores>core
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(nproc)" -ge 2 ] || { echo "article-tour: needs two cores to pin to" >&2; exit 1; }
command -v python3 >/dev/null || { echo "article-tour: needs python3 for the article's servers" >&2; exit 1; }
out=${1:-results/$(date +%F)-article-tour-$(nproc)core}
cargo run --release --quiet -p bench-harness --bin c10k -- bench --pin \
    --models blocking,thread-per-conn,epoll-callback,mini-executor,tokio \
    --server py-blocking='python3 peers/python/blocking.py' \
    --server py-threads='python3 peers/python/threads.py' \
    --server py-selectors='python3 peers/python/selectors_callbacks.py' \
    --server py-generator-loop='python3 peers/python/generator_loop.py' \
    --server py-asyncio='python3 peers/python/asyncio_server.py' \
    --efficiency-rates 20k --efficiency-conns 1000,10000 --efficiency-repeat 5 \
    --conns 100,10000 --rates 20k --rate-conns 1000 \
    -d 3 --warmup 1 --repeat 3 --hold 2 --connect-timeout 10 --out "$out"
