#!/usr/bin/env bash
# What the open loop's bursts change. The same fixed-rate points (64 B,
# 20k and 50k msg/s over 1,000 connections, server pinned to CPU 0 and load
# to CPU 1, 3 repetitions a run) with the load sending what falls due
# within 200 us together (`--burst 200us`, the default) and with every send
# at its own time (`--burst 0`), in alternating runs, ROUNDS of each. Prints
# the medians over every repetition of each setting: server and load CPU
# microseconds per message, echo p50 and p99, and the send lag p99.
#
#   scripts/burst-cost.sh [MODEL] [ROUNDS] [OUT]
#       default: epoll-callback, 2 rounds, a temporary folder (printed)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-epoll-callback}
rounds=${2:-2}
out=${3:-$(mktemp -d /tmp/c10k-burst.XXXXXX)}
bursts=(200us 0)
[ "$(nproc)" -ge 2 ] || { echo "burst-cost: needs two cores to pin to" >&2; exit 1; }
mkdir -p "$out"

cargo build --release --quiet -p bench-harness --bin c10k
c10k=target/release/c10k
echo "burst-cost: $model, $rounds rounds of ${bursts[*]}; $(uname -r); runs in $out"
for round in $(seq "$rounds"); do
    for burst in "${bursts[@]}"; do
        "$c10k" bench --models "$model" --pin --burst "$burst" \
            --efficiency-rates 20k,50k --efficiency-conns 1000 --conns 100 \
            --rates 20k --rate-conns 1000 -d 3 --repeat 3 --hold 0 -q \
            --out "$out/burst-$burst-round-$round" >/dev/null
    done
done

# results.csv's columns are found by name in its header, so a column added
# to it does not shift what this reads.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print "-" }'; }
printf '%-7s %6s %6s %14s %12s %9s %9s %12s\n' burst rate runs "server us/msg" "load us/msg" "p50 us" "p99 us" "lag p99 us"
for burst in "${bursts[@]}"; do
    for rate in 20000 50000; do
        # One line per repetition: server us/msg, load us/msg, p50, p99, lag p99.
        rows=$(awk -F, -v rate="$rate" '
            FNR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
            $c["loop"] == "open" && $c["connections"] == 1000 && $c["rate"] == rate && $c["outcome"] == "Ok" {
                print $c["server_cpu_us_per_msg"], $c["load_cpu_share"] * 1e6 / $c["msgs_per_s"],
                    $c["p50_us"], $c["p99_us"], $c["send_lag_p99_us"]
            }' "$out"/burst-"$burst"-round-*/results.csv)
        col() { printf '%s\n' "$rows" | awk "{ print \$$1 }" | median; }
        printf '%-7s %6s %6s %14.2f %12.2f %9.1f %9.1f %12.1f\n' "$burst" "$rate" \
            "$(printf '%s\n' "$rows" | grep -c .)" "$(col 1)" "$(col 2)" "$(col 3)" "$(col 4)" "$(col 5)"
    done
done
