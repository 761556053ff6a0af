#!/usr/bin/env bash
# What an echoed message costs in ring operations: serves MODEL pinned to
# CPU 0, drives it from CPU 1 at a fixed rate, and counts the kernel's
# io_uring tracepoints machine-wide for SECONDS of steady load (the load
# generator uses no io_uring), printed per message: submissions, completions,
# internal poll arms (a single-shot receive that found the socket empty and
# waits on a poll), task work queued and run, and waits for completions.
# Needs perf and the right to trace (root); says so in one line otherwise.
#
#   scripts/ring-ops.sh MODEL [RATE] [CONNS] [SECONDS]
#       default: 50k msg/s over 1000 connections, 2 s; MODEL: io-uring, monoio
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: scripts/ring-ops.sh MODEL [RATE] [CONNS] [SECONDS]}
rate=${2:-50k}
conns=${3:-1000}
seconds=${4:-2}
command -v perf >/dev/null || { echo "ring-ops: needs perf" >&2; exit 1; }
perf list 'io_uring:*' 2>/dev/null | grep -q io_uring_submit_req ||
    { echo "ring-ops: no io_uring tracepoints here (needs root and tracefs)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "ring-ops: needs two cores to pin to" >&2; exit 1; }

cargo build --release --quiet -p bench-harness --bin c10k
out=$(mktemp -d)
pid=
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT
taskset -c 0 target/release/c10k serve "$model" --addr 127.0.0.1:0 >"$out/serve" &
pid=$!
for _ in $(seq 100); do
    grep -q '^listening on' "$out/serve" && break
    sleep 0.1
done
addr=$(sed -n 's/^listening on \([^ ]*\) .*/\1/p' "$out/serve")
[ -n "$addr" ] || { echo "ring-ops: the server did not start" >&2; exit 1; }
# Warm-up and ramp first; the count starts 2 s in and ends before the load does.
taskset -c 1 target/release/c10k load "$addr" -c "$conns" --rate "$rate" \
    -d $((seconds + 3)) --warmup 1 -q >"$out/load" &
load=$!
sleep 2
events=submit_req,complete,poll_arm,task_add,local_work_run,cqring_wait
perf stat -x, -a -e "$(echo "$events" | sed 's/\([a-z_]*\)/io_uring:io_uring_\1/g')" \
    -- sleep "$seconds" 2>"$out/perf" >/dev/null
wait "$load"
messages=$(awk -v r="$rate" -v s="$seconds" 'BEGIN {
    sub(/k$/, "000", r); sub(/M$/, "000000", r); print r * s }')
echo "model=$model rate=$rate conns=$conns seconds=$seconds $(uname -r)"
awk -F, -v m="$messages" '$3 ~ /io_uring:/ {
    sub(/io_uring:io_uring_/, "", $3); printf "%s=%.2f ", $3, $1 / m } END { print "(per message)" }' "$out/perf"
