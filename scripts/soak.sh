#!/usr/bin/env bash
# A long run against one server, watched for what only time shows: memory,
# descriptors or threads that creep up, echoes that go wrong, errors that
# nobody caused. Against `c10k serve MODEL`, for MINUTES:
#   - 10,000 connections (CONNS) of 64-byte messages at 10,000 msg/s
#     (RATE), every echo checked byte for byte (`c10k load`);
#   - churn every 5 s: 2,000 short connections (handshake, echo, close) and
#     a reset storm (200 resets mid-echo, 100 before and 50 during the
#     handshake), the conformance suite's `churn` and `reset_storm` cases;
#   - a minute of slowloris in the middle (a quarter of a run under four
#     minutes): 200 clients dripping a handshake past the 5 s deadline,
#     again and again (the `slowloris` case).
# It samples the server's RSS, descriptors, threads and CPU every INTERVAL
# (60 s, or 5 s for runs under 10 minutes) into OUT/samples.csv, and fails
# if, after the first fifth of the run (the warm-up), any of them trends
# upward (the least-squares slope, over the rest of the run, adds more than
# 5% + 2 MiB of RSS or 64 descriptors or threads), if any echo was
# corrupted, lost or unanswered, if a churn or slowloris round failed, or
# if the server's counts do not add up to what the soak did (every accepted
# connection ended or still open; no more errors than the resets caused;
# no more rejections than the resets before the handshake and the
# slowloris clients). OUT/soak.svg draws the samples (scripts/soak-plot.sh).
#
#   scripts/soak.sh MODEL MINUTES [OUT]
#       OUT default: a temporary folder (printed)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: scripts/soak.sh MODEL MINUTES [OUT]}
minutes=${2:?usage: scripts/soak.sh MODEL MINUTES [OUT]}
out=${3:-$(mktemp -d /tmp/c10k-soak.XXXXXX)}
conns=${CONNS:-10000}
rate=${RATE:-10000}
seconds=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')
[ "$seconds" -ge 30 ] || { echo "soak: at least half a minute" >&2; exit 2; }
interval=${INTERVAL:-$([ "$seconds" -ge 600 ] && echo 60 || echo 5)}
mkdir -p "$out"

cargo build --release --quiet -p bench-harness --bin c10k
c10k=$PWD/target/release/c10k
server=
cleanup() {
    exec 2>/dev/null
    jobs -p | xargs -r kill 2>/dev/null || true
    [ -z "$server" ] || kill -KILL "$server" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$c10k" serve "$model" --addr 127.0.0.1:0 --handshake-timeout 5 >"$out/server.txt" 2>&1 &
server=$!
for _ in $(seq 100); do
    grep -q '^listening on' "$out/server.txt" && break
    sleep 0.1
done
addr=$(sed -n 's/^listening on \([^ ]*\) .*/\1/p' "$out/server.txt")
[ -n "$addr" ] || { echo "soak: the server did not start" >&2; exit 1; }
echo "soak: $model at $addr for $minutes min: $conns connections at $rate msg/s, churn every 5 s, slowloris in the middle; $(uname -r); records in $out"

# The server's resources every $interval s, until the load ends.
hz=$(getconf CLK_TCK)
sample() {
    local pid=$1 rss threads fds cpu
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    threads=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status")
    fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    cpu=$(awk -v hz="$hz" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$pid/stat")
    echo "$(date +%s),$rss,$fds,$threads,$cpu"
}

start=$(date +%s)
"$c10k" load "$addr" -q -c "$conns" --rate "$rate" -d "$seconds" --warmup 5 --connect-timeout 60 \
    --json "$out/load.json" --hlog "$out/load.hlog" >"$out/load.txt" 2>&1 &
load=$!

echo "unix_s,rss_kib,fds,threads,cpu_s" >"$out/samples.csv"
(while kill -0 "$load" 2>/dev/null; do sample "$server" >>"$out/samples.csv"; sleep "$interval"; done) &
sampler=$!

# Churn and resets every 5 s; a minute of slowloris from the middle. Each
# round is a conformance case against the running server, checked as such.
rounds=0 slowloris=0 failures=0
# A minute of slowloris, or a quarter of a short run, around its middle.
slow=$((seconds / 4 < 60 ? seconds / 4 : 60))
slow_from=$((start + seconds / 2 - slow / 2)) slow_to=$((start + seconds / 2 + slow / 2))
while kill -0 "$load" 2>/dev/null; do
    now=$(date +%s)
    if [ "$now" -ge "$slow_from" ] && [ "$now" -lt "$slow_to" ]; then
        cases=slowloris
        slowloris=$((slowloris + 1))
    else
        cases=churn,reset_storm
        rounds=$((rounds + 1))
    fi
    if ! "$c10k" check "$addr" --only "$cases" --preset quick -q >"$out/round.txt" 2>&1; then
        failures=$((failures + 1))
        cp "$out/round.txt" "$out/failed-round-$failures.txt"
    fi
    sleep 5
done
wait "$load" || true
wait "$sampler" || true
kill -TERM "$server"
wait "$server" || true
server=

summary=$(tail -n 1 "$out/server.txt")
count() { echo "$summary" | sed -n "s/.* $1=\([0-9]*\).*/\1/p"; }
field() { sed -n "s/^ *\"$2\": \([0-9.]*\),*$/\1/p" "$1" | head -n 1; }
errors=$(sed -n '/"errors": {/,/}/s/^ *"[a-z_]*": \([0-9]*\),*$/\1/p' "$out/load.json" | awk '{ s += $1 } END { print s + 0 }')
unfinished=$(field "$out/load.json" unfinished)
ready=$(field "$out/load.json" connections_ready)

verdicts=()
[ "$ready" = "$conns" ] || verdicts+=("only $ready of $conns connections handshaken")
[ "$errors" = 0 ] || verdicts+=("$errors load errors (a corrupted, lost or cut echo)")
[ "$unfinished" = 0 ] || verdicts+=("$unfinished echoes never came back")
[ "$failures" = 0 ] || verdicts+=("$failures churn or slowloris rounds failed (see $out/failed-round-*.txt)")
accepted=$(count accepted) rejected=$(count rejected) completed=$(count completed) server_errors=$(count errors)
[ $((rejected + completed + server_errors)) = "$accepted" ] ||
    verdicts+=("the server's counts do not add up: $summary")
[ "$server_errors" -le $((rounds * 200)) ] ||
    verdicts+=("$server_errors server errors, more than the $((rounds * 200)) resets mid-echo")
[ "$rejected" -le $((rounds * 150 + slowloris * 200)) ] ||
    verdicts+=("$rejected rejected, more than the soak's $((rounds * 150 + slowloris * 200)) bad handshakes")

# Trends: the least-squares slope of each resource over the samples after
# the first fifth, times the time they span, must stay within bounds.
trend=$(awk -F, -v skip=0.2 'NR > 1 { t[n] = $1; r[n] = $2; f[n] = $3; h[n] = $4; n++ }
    function slope(y,   i, from, mt, my, sxy, sxx) {
        from = int(n * skip); mt = 0; my = 0
        for (i = from; i < n; i++) { mt += t[i]; my += y[i] }
        mt /= (n - from); my /= (n - from); sxy = 0; sxx = 0
        for (i = from; i < n; i++) { sxy += (t[i] - mt) * (y[i] - my); sxx += (t[i] - mt) ^ 2 }
        return sxx > 0 ? sxy / sxx * (t[n - 1] - t[from]) : 0
    }
    function mean(y,   i, s) { s = 0; for (i = int(n * skip); i < n; i++) s += y[i]; return s / (n - int(n * skip)) }
    END { printf "%.0f %.0f %.1f %.1f %d\n", slope(r), mean(r), slope(f), slope(h), n }' "$out/samples.csv")
read -r rss_rise rss_mean fds_rise threads_rise samples <<<"$trend"
[ "$samples" -ge 5 ] || verdicts+=("only $samples samples: too short to see a trend")
awk -v r="$rss_rise" -v m="$rss_mean" 'BEGIN { exit !(r > 0.05 * m + 2048) }' &&
    verdicts+=("RSS trends upward: +$rss_rise KiB over the run after the warm-up (mean $rss_mean KiB)")
awk -v f="$fds_rise" 'BEGIN { exit !(f > 64) }' && verdicts+=("descriptors trend upward: +$fds_rise")
awk -v h="$threads_rise" 'BEGIN { exit !(h > 64) }' && verdicts+=("threads trend upward: +$threads_rise")

{
    echo "model=$model minutes=$minutes conns=$conns rate=$rate interval=${interval}s samples=$samples $(uname -r)"
    echo "load: $(sed -n 's/^messages \(.*\)/\1/p' "$out/load.txt"); errors $errors, unfinished $unfinished"
    echo "churn rounds $rounds (each 2000 connections and 350 resets), slowloris rounds $slowloris (each 200 clients)"
    echo "server: $summary"
    echo "after the warm-up: RSS ${rss_rise} KiB over the run (mean ${rss_mean} KiB), descriptors ${fds_rise}, threads ${threads_rise}"
    if [ ${#verdicts[@]} -eq 0 ]; then
        echo "soak: pass"
    else
        printf 'soak: FAIL: %s\n' "${verdicts[@]}"
    fi
} | tee "$out/report.txt"
scripts/soak-plot.sh "$out" >/dev/null || true
[ ${#verdicts[@]} -eq 0 ]
