#!/usr/bin/env bash
# Is the open loop cheaper than what it measures? One `c10k bench` run,
# server pinned to CPU 0 and load to CPU 1, 64 B (or SIZE), fixed rates of 20k, 50k,
# 100k and 200k msg/s over 100 and 1,000 connections, against MODELS (in
# ABBA order, REPEAT repetitions) and a plain echo server in C with
# nothing of ours in it (peers/c/epoll_echo.c, built with the C compiler
# cargo links with; PLAIN=0 leaves it out). Prints, per model and point, the medians
# over the repetitions: server and load CPU microseconds per message and
# their ratio (goal: at most 1.0), the load's and the server's sleeps
# (voluntary context switches) per message (goal at 50k: the load at most
# 0.5), the send lag p99, the echo p50, and how many repetitions kept their
# schedule (send lag p99 under 1 ms and at least 95% of the rate). Then,
# per model and connection count, each side's CPU per message fitted as a
# cost per message plus a cost per sleep (docs/load.md says what it shows).
#
#   scripts/open-loop-cost.sh [REPEAT] [OUT] [MODELS] [SIZE]
#       default: 3 repetitions, a temporary folder (printed), epoll-callback,io-uring, 64 B
# Messages over 4 KiB take the load's other path: it waits on its sockets,
# woken by each echo, rather than sleeping through them (docs/load.md).
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=${1:-3}
out=${2:-$(mktemp -d /tmp/c10k-open-loop.XXXXXX)}
models=${3:-epoll-callback,io-uring}
size=${4:-64}
[ "$(nproc)" -ge 2 ] || { echo "open-loop-cost: needs two cores to pin to" >&2; exit 1; }

cargo build --release --quiet -p bench-harness --bin c10k
plain=()
if [ "${PLAIN:-1}" != 0 ]; then
    mkdir -p target/peers
    cc -O2 -o target/peers/epoll_echo peers/c/epoll_echo.c
    plain=(--server "c-epoll-echo=$PWD/target/peers/epoll_echo {addr}" --handshake none)
    models_and_plain=$models,c-epoll-echo
else
    models_and_plain=$models
fi
echo "open-loop-cost: $models_and_plain, $size B, $repeat repetitions; $(uname -r); run in $out"
target/release/c10k bench --models "$models" "${plain[@]}" --pin --sizes "$size" \
    --efficiency-rates 20k,50k,100k,200k --efficiency-conns 100,1000 --conns 100 \
    --rates 20k --rate-conns 100 -d 3 --repeat "$repeat" --hold 0 -q --out "$out" >/dev/null

# results.csv's columns are found by name in its header.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print "-" }'; }
printf '%-16s %6s %7s %9s %9s %10s %11s %11s %9s %8s %12s\n' model conns rate "srv us" "load us" load/srv \
    "load slp/m" "srv slp/m" "lag p99" "p50 us" "on schedule"
IFS=, read -ra names <<<"$models_and_plain"
for model in "${names[@]}"; do
    for conns in 100 1000; do
        for rate in 20000 50000 100000 200000; do
            # One line per repetition.
            rows=$(awk -F, -v model="$model" -v conns="$conns" -v rate="$rate" '
                FNR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
                $c["model"] == model && $c["loop"] == "open" && $c["connections"] == conns \
                    && $c["rate"] == rate && $c["outcome"] == "Ok" {
                    on = ($c["send_lag_p99_us"] < 1000 && $c["achieved_msgs_per_s"] >= 0.95 * rate)
                    print $c["server_cpu_us_per_msg"], $c["load_cpu_us_per_msg"],
                        $c["load_cpu_us_per_msg"] / $c["server_cpu_us_per_msg"],
                        $c["load_switches_per_msg"], $c["server_switches_per_msg"],
                        $c["send_lag_p99_us"], $c["p50_us"], on
                }' "$out/results.csv")
            [ -n "$rows" ] || continue
            col() { printf '%s\n' "$rows" | awk "{ print \$$1 }" | median; }
            on=$(printf '%s\n' "$rows" | awk '{ s += $8 } END { print s "/" NR }')
            printf '%-16s %6s %7s %9.2f %9.2f %10.2f %11.3f %11.3f %9.1f %8.1f %12s\n' "$model" "$conns" \
                "$rate" "$(col 1)" "$(col 2)" "$(col 3)" "$(col 4)" "$(col 5)" "$(col 6)" "$(col 7)" "$on"
        done
    done
done

# Where the difference lies: each side's CPU per message as a cost per
# message plus a cost per sleep (its voluntary context switches per
# message), fitted by least squares over the repetitions that kept their
# schedule, all rates together, per model and connection count.
echo
echo "CPU us per message = a + b x sleeps per message (least squares over the repetitions on schedule)"
printf '%-16s %6s %5s %12s %12s %12s %12s\n' model conns runs "load a" "load b" "server a" "server b"
for model in "${names[@]}"; do
    for conns in 100 1000; do
        awk -F, -v model="$model" -v conns="$conns" '
            FNR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
            $c["model"] == model && $c["loop"] == "open" && $c["connections"] == conns \
                && $c["outcome"] == "Ok" && $c["send_lag_p99_us"] < 1000 \
                && $c["achieved_msgs_per_s"] >= 0.95 * $c["rate"] {
                n++
                lx[n] = $c["load_switches_per_msg"]; ly[n] = $c["load_cpu_us_per_msg"]
                sx[n] = $c["server_switches_per_msg"]; sy[n] = $c["server_cpu_us_per_msg"]
            }
            function fit(x, y,    i, mx, my, sxx, sxy) {
                for (i = 1; i <= n; i++) { mx += x[i] / n; my += y[i] / n }
                for (i = 1; i <= n; i++) { sxx += (x[i] - mx) ^ 2; sxy += (x[i] - mx) * (y[i] - my) }
                slope = sxx > 0 ? sxy / sxx : 0
                return my - slope * mx
            }
            END {
                if (n < 3) exit
                la = fit(lx, ly); lb = slope; sa = fit(sx, sy); sb = slope
                printf "%-16s %6s %5d %12.2f %12.1f %12.2f %12.1f\n", model, conns, n, la, lb, sa, sb
            }' "$out/results.csv"
    done
done
