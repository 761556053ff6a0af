#!/usr/bin/env bash
# One load run from several machines: agent K of N on the K-th host, all
# started at the same wall-clock time, their records copied back and merged.
# A launcher, not a cluster: ssh (or, for `local`, a plain process) per agent.
#
#   scripts/distributed-load.sh "load1 load2 load3" 10.0.0.1:5566 -c 9000 --rate 90k -d 30
#   scripts/distributed-load.sh "local local local" 127.0.0.1:5566 -c 300 -d 5
#
# C10K=/path/to/c10k uses that binary here instead of building one.
# Each host needs `c10k` on its PATH (or set C10K_REMOTE=/path/to/c10k) and
# a clock in sync (chrony or NTP); the start is DELAY seconds ahead (default
# 10), enough for every agent to connect and handshake. Results land in
# OUT (default results/distributed-<start>): agent-K.json, agent-K.hlog,
# merged.json and the merged report, report.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || {
    echo "usage: scripts/distributed-load.sh \"HOST ...\" TARGET [c10k load flags]" >&2
    exit 2
}
read -r -a hosts <<<"$1"
target=$2
shift 2
n=${#hosts[@]}
[ "$n" -ge 1 ] || { echo "distributed-load: no hosts" >&2; exit 2; }
if [ -n "${C10K:-}" ]; then
    local_c10k=$C10K
else
    cargo build --release --quiet -p bench-harness --bin c10k
    local_c10k=$PWD/target/release/c10k
fi
remote_c10k=${C10K_REMOTE:-c10k}
start=$(( $(date +%s) + ${DELAY:-10} ))
out=${OUT:-results/distributed-$start}
mkdir -p "$out"

pids=()
for k in "${!hosts[@]}"; do
    host=${hosts[$k]}
    args=(load "$target" -q --segment "$k/$n" --start-at "$start" "$@")
    if [ "$host" = local ]; then
        "$local_c10k" "${args[@]}" --json "$out/agent-$k.json" --hlog "$out/agent-$k.hlog" \
            >"$out/agent-$k.txt" 2>&1 &
    else
        remote=/tmp/c10k-agent-$start-$k
        # Bounded: ssh gives up connecting after 10 s; the run after -d.
        ssh -o BatchMode=yes -o ConnectTimeout=10 "$host" \
            "$remote_c10k $(printf '%q ' "${args[@]}") --json $remote.json --hlog $remote.hlog" \
            >"$out/agent-$k.txt" 2>&1 &&
            scp -q -o BatchMode=yes "$host:$remote.json" "$out/agent-$k.json" &&
            scp -q -o BatchMode=yes "$host:$remote.hlog" "$out/agent-$k.hlog" &
    fi
    pids+=($!)
done
failed=0
for k in "${!pids[@]}"; do
    if ! wait "${pids[$k]}"; then
        echo "distributed-load: agent $k on ${hosts[$k]} failed: $(tail -n 1 "$out/agent-$k.txt")" >&2
        failed=1
    fi
done
[ "$failed" = 0 ] || exit 1
agents=()
for k in "${!hosts[@]}"; do agents+=("$out/agent-$k.json"); done
"$local_c10k" merge "${agents[@]}" --json "$out/merged.json" --hlog "$out/merged.hlog" | tee "$out/report.txt"
