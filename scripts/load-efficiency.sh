#!/usr/bin/env bash
# Is the load generator cheaper than what it measures? Pins a server model to
# CPU 0 and `c10k load` to CPU 1 (100 connections, 64-byte messages, closed
# loop) and prints messages/s with the CPU microseconds per message of each
# side. The goal: the load generator's figure is below the server's.
#
#   scripts/load-efficiency.sh [MODEL] [SECONDS]     (default: epoll-callback 10)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-epoll-callback}
seconds=${2:-10}
[ "$(nproc)" -ge 2 ] || { echo "load-efficiency: needs two cores to pin to" >&2; exit 1; }

cargo build --release --quiet -p bench-harness --bin c10k
out=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT
taskset -c 0 target/release/c10k serve "$model" --addr 127.0.0.1:0 >"$out/serve" &
pid=$!
for _ in $(seq 100); do grep -q '^listening on' "$out/serve" && break; sleep 0.1; done
addr=$(sed -n 's/^listening on \([^ ]*\) .*/\1/p' "$out/serve")
[ -n "$addr" ] || { echo "load-efficiency: the server did not start" >&2; exit 1; }

ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
before=$(ticks)
taskset -c 1 target/release/c10k load "$addr" -c 100 -s 64 -t 1 --warmup 0 -d "$seconds" \
    -q --json "$out/load.json" >"$out/table"
after=$(ticks)
kill -TERM "$pid"; wait "$pid" || true

python_free_json() { sed -n "s/.*\"$1\": \([0-9.e+-]*\).*/\1/p" "$out/load.json" | head -n 1; }
messages=$(python_free_json messages)
rate=$(python_free_json messages_per_s)
load_us=$(python_free_json load_cpu_us_per_message)
server_us=$(awk -v t=$((after - before)) -v m="$messages" 'BEGIN { printf "%.2f", t / 100 * 1e6 / m }')
echo "model=$model kernel=$(uname -r) $(rustc --version)"
printf 'messages/s %.0f  server %s CPU us/msg  load generator %.2f CPU us/msg\n' "$rate" "$server_us" "$load_us"
