#!/usr/bin/env bash
# The conformance suite against an echo server that is not ours and has no
# handshake (peers/python/plain_echo.py, ten lines of asyncio): `c10k check
# HOST:PORT --handshake none`. The handshake cases are n/a, with the reason;
# cases that need to configure or stop the server are n/a too (it runs as
# it is); the echo, half-close, backpressure, reset and churn cases run.
# Needs python3.
#
#   scripts/check-plain-echo.sh [OUT]
#       default OUT: results/<date>-check-plain-echo-python
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "check-plain-echo: needs python3" >&2; exit 1; }
out=${1:-results/$(date +%F)-check-plain-echo-python}
mkdir -p "$out"
cargo build --release --quiet -p bench-harness --bin c10k
port=$((20000 + RANDOM % 10000))
log=$(mktemp)
pid=
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
# The abuse cases open a thousand connections at once.
(ulimit -n 20000 && exec python3 peers/python/plain_echo.py "127.0.0.1:$port") >"$log" 2>&1 &
pid=$!
for _ in $(seq 50); do
    grep -q '^listening on' "$log" && break
    sleep 0.1
done
grep -q '^listening on' "$log" || { echo "check-plain-echo: the server did not start" >&2; exit 1; }
target/release/c10k check "127.0.0.1:$port" --handshake none --preset full --pid "$pid" \
    --json "$out/check.json" --markdown "$out/README.md"
