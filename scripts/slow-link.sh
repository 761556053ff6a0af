#!/usr/bin/env bash
# A slow link between server and load: two network namespaces joined by a
# veth pair whose ends are both shaped by the tbf qdisc (RATE, with a queue
# of QUEUE beyond which it drops; see below). This kernel has no netem.
# For each MODEL: `c10k serve MODEL --idle-timeout 30` in one namespace, and
# from the other 1,000 connections sending 4 KiB messages at 1,000 msg/s
# (32 Mbit/s each way, above the link) for SECONDS. It checks what
# PROTOCOL.md promises there, and fails if any does not hold:
#   - nothing lost or corrupted: no load error of any kind (a mismatch, a
#     reset, a close), and every message sent in the window echoed;
#   - memory bounded: the server's RSS grew by at most --buffer (16 KiB)
#     plus 16 KiB of the model's own per connection;
#   - the timeouts mean what they say: a connection that moves bytes,
#     however slowly, is never cut as idle (that would be a close), and
#     1,000 handshakes over the slow link all complete.
# Prints a Markdown table row per model; OUT keeps every record.
#
#   scripts/slow-link.sh [RATE] [SECONDS] [MODEL...]     (as root)
#       default: 20mbit, 10 s; every unbounded model
#
# Everything it creates (namespaces c10k-slow-*) is removed on exit, also
# when interrupted. Without the right to create namespaces it says so in
# one line and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-20mbit}
# The queue the link holds before it drops: 2 s is 5 MB at 20 Mbit/s, more
# than the 4 MiB that 1,000 connections with a message each can have out,
# so the link is slow, not lossy. With a shorter queue (QUEUE=400ms) it
# drops heavily, and the load's own kernel aborts some connections with
# ETIMEDOUT (TcpExtTCPAbortOnTimeout) within seconds: TCP giving up on the
# link, which the load reports as errors, whichever the server.
queue=${QUEUE:-2s}
burst=${BURST:-32kbit}
seconds=${2:-10}
shift $(( $# >= 2 ? 2 : $# ))
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(thread-per-conn epoll-callback mini-executor tokio async-std smol io-uring may monoio)
conns=1000
size=4096
buffer_kib=16
# Long enough for a flow in retransmission back-off (whose bytes, by
# PROTOCOL.md, do not move) not to look idle: what is checked is that a
# connection moving bytes slowly is never cut.
idle=30

cargo build --release --quiet -p bench-harness --bin c10k
c10k=$PWD/target/release/c10k
out=${OUT:-$(mktemp -d /tmp/c10k-slow.XXXXXX)}
mkdir -p "$out"
ns=c10k-slow-$$
server=
cleanup() {
    exec 2>/dev/null
    [ -z "$server" ] || kill -KILL "$server" 2>/dev/null || true
    ip netns delete "$ns-server" 2>/dev/null || true
    ip netns delete "$ns-load" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns-server" 2>/dev/null ||
    { echo "slow-link: cannot create network namespaces here (needs root)" >&2; exit 1; }
ip netns add "$ns-load"
ip link add eth0 netns "$ns-server" type veth peer name eth0 netns "$ns-load"
for side in server load; do
    host=$([ $side = server ] && echo 1 || echo 2)
    ip -n "$ns-$side" link set lo up
    ip -n "$ns-$side" addr add "10.78.0.$host/24" dev eth0
    ip -n "$ns-$side" link set eth0 up
    # Shaped on both ends: echoes are as slow as requests.
    ip netns exec "$ns-$side" tc qdisc add dev eth0 root tbf rate "$rate" burst "$burst" latency "$queue"
done
# 1,000 connections and their handshakes in each namespace.
ulimit -n 20000

field() { sed -n "s/^ *\"$2\": \([0-9.]*\),*$/\1/p" "$1" | head -n 1; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

echo "link: $rate each way (tbf, $queue queue), $conns connections, $size-byte messages at 1000 msg/s, ${seconds} s; $(uname -r)"
echo
echo "| model | echoed msg/s | messages | drained after the window | errors | unfinished | server RSS growth per connection | verdict |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
failed=0
for model in "${models[@]}"; do
    ip netns exec "$ns-server" "$c10k" serve "$model" --addr 10.78.0.1:5566 --idle-timeout "$idle" \
        --buffer "${buffer_kib}KiB" >"$out/$model-server.txt" 2>&1 &
    server=$!
    for _ in $(seq 100); do
        grep -q '^listening on' "$out/$model-server.txt" 2>/dev/null && break
        sleep 0.1
    done
    before=$(rss_kib "$server")
    # The most the server held, sampled every 0.5 s while the load runs.
    (while [ -r "/proc/$server/status" ]; do rss_kib "$server"; sleep 0.5; done |
        sort -n | tail -n 1 >"$out/$model-rss.txt") &
    sampler=$!
    ip netns exec "$ns-load" "$c10k" load 10.78.0.1:5566 -q -c "$conns" -s "$size" --rate 1000 \
        -d "$seconds" --warmup 5 --connect-timeout 30 --drain 30 --json "$out/$model.json" \
        >"$out/$model-load.txt" 2>&1 || true
    kill -TERM "$server"
    wait "$server" || true
    server=
    wait "$sampler" || true
    record=$out/$model.json
    if [ ! -s "$record" ]; then
        echo "| \`$model\` | | | | | | | FAIL: no record ($(tail -n 1 "$out/$model-load.txt")) |"
        failed=1
        continue
    fi
    errors=$(sed -n '/"errors": {/,/}/s/^ *"[a-z_]*": \([0-9]*\),*$/\1/p' "$record" | awk '{ s += $1 } END { print s + 0 }')
    unfinished=$(field "$record" unfinished)
    ready=$(field "$record" connections_ready)
    after=$(cat "$out/$model-rss.txt" 2>/dev/null || echo "$before")
    growth=$(( (after - before) * 1024 / conns ))
    bound=$(( 2 * buffer_kib * 1024 ))
    verdict=pass
    [ "$errors" = 0 ] || verdict="FAIL: $errors load errors"
    [ "$unfinished" = 0 ] || verdict="FAIL: $unfinished messages unfinished"
    [ "$ready" = "$conns" ] || verdict="FAIL: $ready of $conns connections handshaken"
    [ "$growth" -le "$bound" ] || verdict="FAIL: RSS grew $growth B per connection, bound $bound"
    [ "$verdict" = pass ] || failed=1
    printf '| `%s` | %.0f | %s | %s | %s | %s | %s B | %s |\n' "$model" "$(field "$record" messages_per_s)" \
        "$(field "$record" messages)" "$(field "$record" drained)" "$errors" "$unfinished" "$growth" "$verdict"
done
echo
echo "records: $out"
exit $failed
