#!/usr/bin/env bash
# Serve one model, hold N idle handshaken connections to it from a separate
# process, and print the time to handshake them all and the server's RSS per
# connection.
#
#   scripts/rss-per-conn.sh MODEL N [extra `c10k serve` flags]
#   scripts/rss-per-conn.sh thread-per-conn 5000
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: scripts/rss-per-conn.sh MODEL N [serve flags]}
n=${2:?usage: scripts/rss-per-conn.sh MODEL N [serve flags]}
shift 2

cargo build --release --quiet -p bench-harness --bin c10k --example hold
out=$(mktemp)
trap 'kill "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
target/release/c10k serve "$model" --addr 127.0.0.1:0 "$@" >"$out" &
pid=$!
for _ in $(seq 100); do
    grep -q '^listening on' "$out" && break
    sleep 0.1
done
addr=$(sed -n 's/^listening on \([^ ]*\) .*/\1/p' "$out")
[ -n "$addr" ] || { echo "rss-per-conn: the server did not start" >&2; exit 1; }
sleep 0.5 # let the server settle before the baseline reading
echo "model=$model $(uname -r) rustc=$(rustc --version | cut -d' ' -f2)"
target/release/examples/hold "$addr" "$n" 3 "$pid"
kill -TERM "$pid"
wait "$pid"
tail -n 1 "$out"
