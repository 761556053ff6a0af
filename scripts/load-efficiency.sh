#!/usr/bin/env bash
# Is the load generator cheaper than what it measures? For each model and
# message size, pins `c10k serve MODEL` to CPU 0 and `c10k load` to CPU 1
# (100 connections, closed loop, one load thread) and prints messages/s
# with the CPU microseconds per message of each side, both counted over the
# measured window only. Then, per size, the load's cost against the
# cheapest server's (goal: at most 1.0x, stretch 0.8x) and, for the load,
# its cost at the largest size against the smallest (goal: at most 1.2x).
#
#   scripts/load-efficiency.sh [SECONDS] [MODEL...]
#       default: 5 s; epoll-callback io-uring mini-executor smol tokio
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
shift || true
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(epoll-callback io-uring mini-executor smol tokio)
sizes=(64 4096)
[ "$(nproc)" -ge 2 ] || { echo "load-efficiency: needs two cores to pin to" >&2; exit 1; }

cargo build --release --quiet -p bench-harness --bin c10k
c10k=target/release/c10k
out=$(mktemp -d)
pid=
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT

field() { sed -n "s/.*\"$1\": \([0-9.e+-]*\).*/\1/p" "$2" | head -n 1; }
hz=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

echo "kernel $(uname -r), $(rustc --version), $(nproc) cores; server on CPU 0, load on CPU 1"
printf '%-16s %6s %10s %16s %16s %8s\n' model size msg/s "server us/msg" "load us/msg" load/srv
for size in "${sizes[@]}"; do
    for model in "${models[@]}"; do
        taskset -c 0 "$c10k" serve "$model" --addr 127.0.0.1:0 >"$out/serve" &
        pid=$!
        for _ in $(seq 100); do grep -q '^listening on' "$out/serve" && break; sleep 0.1; done
        addr=$(sed -n 's/^listening on \([^ ]*\) .*/\1/p' "$out/serve")
        [ -n "$addr" ] || { echo "load-efficiency: $model did not start" >&2; exit 1; }
        # The server's CPU over the measured window only: sampled when the
        # load's progress says measuring began and ended would need a hook,
        # so the load runs with no warm-up and the ramp (100 handshakes) is
        # negligible against SECONDS of traffic.
        before=$(ticks "$pid")
        taskset -c 1 "$c10k" load "$addr" -c 100 -s "$size" -t 1 --warmup 0 -d "$seconds" \
            -q --json "$out/load.json" >"$out/table"
        after=$(ticks "$pid")
        kill -TERM "$pid"; wait "$pid" || true
        messages=$(field messages "$out/load.json")
        rate=$(field messages_per_s "$out/load.json")
        load_us=$(field load_cpu_us_per_message "$out/load.json")
        server_us=$(awk -v t=$((after - before)) -v hz="$hz" -v m="$messages" \
            'BEGIN { printf "%.2f", t / hz * 1e6 / m }')
        printf '%-16s %6s %10.0f %16s %16.2f %8.2f\n' "$model" "$size" "$rate" "$server_us" \
            "$load_us" "$(awk -v l="$load_us" -v s="$server_us" 'BEGIN { print l / s }')"
        echo "$size $model $server_us $load_us" >>"$out/rows"
    done
done
echo
awk -v small="${sizes[0]}" -v large="${sizes[-1]}" '
    { if (!($1 in best) || $3 < best[$1]) { best[$1] = $3; fastest[$1] = $2; paired[$1] = $4 }
      load[$1] += $4; n[$1]++ }
    END {
        for (size in best)
            printf "%s B: load %.2f us/msg against the cheapest server, %s, at %.2f: %.2fx (goal <= 1.0, stretch 0.8)\n",
                size, paired[size], fastest[size], best[size], paired[size] / best[size]
        printf "load at %s B against %s B (mean over models): %.2fx (goal <= 1.2)\n", large, small,
            (load[large] / n[large]) / (load[small] / n[small])
    }' "$out/rows" | sort
