#!/usr/bin/env bash
# A multi-host load run on one machine: a server namespace and N agent
# namespaces, each with its own address, joined by veth pairs to a bridge
# in a switch namespace of its own, so that no traffic touches the host's
# interfaces. It serves MODEL in the server namespace, runs agent K of N in
# namespace K (`--segment K/N`, one `--start-at`), merges their records,
# and checks the merge: counts are the agents' sums, every agent's
# measured window began within 50 ms of the common start, and the merged
# p50 is within 10% of one agent's at the same rate and connections
# (ROUNDS pairs of runs, default 5; see below). The p99 ratio is printed,
# not checked: on two shared cores it does not repeat (see below).
#
#   scripts/netns-load.sh 3 [MODEL] [c10k load flags]    (as root)
#
# Everything it creates (namespaces c10k-*) is removed on exit, also when
# interrupted. DELAY (default 3) is how many seconds ahead the common
# start is: time for every agent to connect and handshake. Without the
# right to create namespaces it says so in one line and runs the same
# agents as processes on loopback, each from its own source address
# (--source-addrs 127.0.0.K).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-3}
model=${2:-epoll-callback}
shift $(( $# >= 2 ? 2 : $# ))
flags=("$@")
[ ${#flags[@]} -gt 0 ] || flags=(-c 300 --rate 12000 -d 3 --warmup 0.5)
case $n in '' | *[!0-9]* | 0) echo "netns-load: N must be a positive number" >&2; exit 2 ;; esac

if [ -n "${C10K:-}" ]; then
    c10k=$C10K
else
    cargo build --release --quiet -p bench-harness --bin c10k
    c10k=$PWD/target/release/c10k
fi
out=${OUT:-$(mktemp -d /tmp/c10k-netns.XXXXXX)}
mkdir -p "$out"
prefix=c10k-$$
namespaces=()
pids=()

cleanup() {
    # The server would take its grace period; an interrupted run does not wait.
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for ns in "${namespaces[@]}"; do ip netns delete "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One namespace with a veth into the switch's bridge, at 10.77.0.$2/24.
attach() {
    local ns=$1 host=$2
    ip netns add "$ns"
    namespaces+=("$ns")
    ip link add "v$host-$$" netns "$ns" type veth peer name "p$host" netns "$prefix-switch"
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "v$host-$$" name eth0
    ip -n "$ns" addr add "10.77.0.$host/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$prefix-switch" link set "p$host" master br0
    ip -n "$prefix-switch" link set "p$host" up
}

server_addr=""
run_in=()
if ip netns add "$prefix-switch" 2>/dev/null; then
    namespaces+=("$prefix-switch")
    ip -n "$prefix-switch" link add br0 type bridge
    ip -n "$prefix-switch" link set br0 up
    attach "$prefix-server" 1
    for k in $(seq 0 $((n - 1))); do attach "$prefix-agent-$k" $((k + 10)); done
    server_addr=10.77.0.1:5566
    server_cmd=(ip netns exec "$prefix-server")
    p50_bound=1.1
    agent_cmd() { exec ip netns exec "$prefix-agent-$1" "$c10k" "${@:2}"; }
else
    echo "netns-load: cannot create network namespaces here (not root?); running the agents on loopback instead" >&2
    server_addr=127.0.0.1:0
    server_cmd=()
    p50_bound=1.2
    agent_cmd() { exec "$c10k" "${@:2}" --source-addrs "127.0.0.$(($1 + 2))"; }
fi

# The server, and the address it really listens on.
"${server_cmd[@]}" "$c10k" serve "$model" --addr "$server_addr" >"$out/server.txt" 2>&1 &
server=$!
pids+=("$server")
for _ in $(seq 100); do
    grep -q '^listening on' "$out/server.txt" 2>/dev/null && break
    sleep 0.1
done
target=$(sed -n 's/^listening on \([^ ]*\) .*/\1/p' "$out/server.txt")
[ -n "$target" ] || { echo "netns-load: the server did not start: $(tail -n 1 "$out/server.txt")" >&2; exit 1; }

# One run of $1 agents, records in $out/$2: agent K of $1 in namespace K,
# merged, the merge checked: messages ($sum after) are the agents' sum;
# every window began within 50 ms of the common start.
field() { sed -n "s/^ *\"$2\": \([0-9.]*\),*$/\1/p" "$1" | head -n 1; }
run() {
    local agents=$1 dir=$out/$2 threads=$3 start k pid=() files=()
    mkdir -p "$dir"
    start=$(( $(date +%s) + ${DELAY:-3} ))
    for k in $(seq 0 $((agents - 1))); do
        agent_cmd "$k" load "$target" -q "${flags[@]}" -t "$threads" --segment "$k/$agents" --start-at "$start" \
            --json "$dir/agent-$k.json" --hlog "$dir/agent-$k.hlog" >"$dir/agent-$k.txt" 2>&1 &
        pid+=($!)
        pids+=($!)
        files+=("$dir/agent-$k.json")
    done
    for k in "${!pid[@]}"; do
        wait "${pid[$k]}" || { echo "netns-load: agent $k failed: $(tail -n 1 "$dir/agent-$k.txt")" >&2; exit 1; }
    done
    "$c10k" merge "${files[@]}" --json "$dir/merged.json" --hlog "$dir/merged.hlog" >"$dir/report.txt"
    local merged warmup began
    sum=0
    for file in "${files[@]}"; do sum=$((sum + $(field "$file" messages))); done
    merged=$(field "$dir/merged.json" messages)
    [ "$merged" = "$sum" ] || { echo "netns-load: merged $merged messages, the agents $sum" >&2; exit 1; }
    warmup=$(field "$dir/agent-0.json" warmup)
    for k in $(seq 0 $((agents - 1))); do
        began=$(sed -n 's/^#\[StartTime: \([0-9.]*\) .*/\1/p' "$dir/agent-$k.hlog")
        awk -v b="$began" -v s="$start" -v w="$warmup" -v k="$k" 'BEGIN {
            off = b - (s + w); if (off < 0) off = -off;
            if (off >= 0.05) { printf "netns-load: agent %d began its window %.3f s from the start\n", k, off > "/dev/stderr"; exit 1 }
        }'
    done
}

# The echo latency's p50 and p99 of a merged record, in µs.
percentiles() {
    sed -n '/"echo": {/,/}/s/^ *"\(p50\|p99\)_us": \([0-9.]*\),*$/\2/p' "$1" | paste -sd ' '
}

# Rounds of N agents alternate with rounds of one agent with as many load
# threads (THREADS per agent, default 1), at the same total rate and
# connections against the same server. Each round's merged p50 and p99 are
# divided by the single agent's that ran next to it, and the median of
# these ratios is checked: a whole round here can drift more than a pair
# next to each other. The p50 must be within 10% (20% on the loopback
# fallback, where three one-thread processes measured a p50 about 10%
# below one three-thread process in two runs of five rounds, 0.86 and
# 0.90, which separate network stacks do not show, 1.00 and 1.02). The p99
# is printed, not checked: at 50-150 µs it is the scheduling tail of five
# busy processes on two cores, and the median ratio of five rounds ranged
# from 0.65 to 1.65 between runs with the same code here, so any bound
# tight enough to mean something fails at random.
rounds=${ROUNDS:-5}
threads=${THREADS:-1}
case $rounds in '' | *[!0-9]* | 0) echo "netns-load: ROUNDS must be a positive number" >&2; exit 2 ;; esac
case $threads in '' | *[!0-9]* | 0) echo "netns-load: THREADS must be a positive number" >&2; exit 2 ;; esac
: >"$out/percentiles.txt"
for round in $(seq 1 "$rounds"); do
    run "$n" "$n-agents-$round" "$threads"
    agents_p=$(percentiles "$out/$n-agents-$round/merged.json")
    [ "$n" -eq 1 ] && continue
    run 1 "1-agent-$round" $((n * threads))
    echo "$agents_p $(percentiles "$out/1-agent-$round/merged.json")" >>"$out/percentiles.txt"
done
cat "$out/$n-agents-$rounds/report.txt"
[ "$n" -eq 1 ] || awk -v n="$n" -v p50_bound="$p50_bound" '
    function median(a, k,   i, j, t) {
        for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
    }
    { p50[NR] = $1 / $3; p99[NR] = $2 / $4 }
    END {
        r50 = median(p50, NR); r99 = median(p99, NR)
        printf "netns-load: echo latency from %d agents over one agent'"'"'s, median of %d rounds: p50 %.2f, p99 %.2f\n", n, NR, r50, r99
        bad = 0
        if (r50 > p50_bound || r50 < 1 / p50_bound) { printf "netns-load: the merged p50 is more than %d%% from one agent'"'"'s\n", (p50_bound - 1) * 100 > "/dev/stderr"; bad = 1 }
        if (r99 > 1.1 || r99 < 1 / 1.1) printf "netns-load: the merged p99 is %.2f of one agent'"'"'s (printed, not checked: it does not repeat on this machine)\n", r99 > "/dev/stderr"
        exit bad
    }' "$out/percentiles.txt"
# A graceful stop: its summary line goes to server.txt.
kill -TERM "$server" && wait "$server" || true
echo "netns-load: $n agents, $rounds rounds, messages merged exactly, every window within 50 ms of the start ($out)"
