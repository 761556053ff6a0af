#!/usr/bin/env bash
# Load any echo server: builds c10k (release) if needed, then runs
# `c10k load HOST:PORT [flags]`. Examples:
#
#   scripts/loadtest.sh 127.0.0.1:5566 -c 1000 -d 30s
#   scripts/loadtest.sh 127.0.0.1:7 --handshake none --rate 20k --json out.json
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: scripts/loadtest.sh HOST:PORT [c10k load flags]" >&2; exit 2; }
cargo build --release --quiet -p bench-harness --bin c10k
exec target/release/c10k load "$@"
