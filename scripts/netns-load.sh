#!/usr/bin/env bash
# A multi-host load run on one machine: a server namespace and N agent
# namespaces, each with its own address, joined by veth pairs to a bridge
# in a switch namespace of its own, so that no traffic touches the host's
# interfaces. It serves MODEL in the server namespace, runs agent K of N in
# namespace K (`--segment K/N`, one `--start-at`), merges their records,
# and checks the merge: counts are the agents' sums, every agent's
# measured window began within 50 ms of the common start, and the merged
# echo p50 and p99 are within 10% of those of one agent with as many load
# threads at the same total rate and connections, run beside them in
# namespace N (median of ROUNDS rounds, default 7; the p99 only over the
# rounds where neither side fell behind its schedule; see below).
#
#   scripts/netns-load.sh 3 [MODEL] [c10k load flags]    (as root)
#
# Everything it creates (namespaces c10k-*) is removed on exit, also when
# interrupted. DELAY (default 3) is how many seconds ahead the common
# start is: time for every agent to connect and handshake. Without the
# right to create namespaces it says so in one line and runs the same
# agents as processes on loopback, each from its own source address
# (--source-addrs 127.0.0.K+2), checked the same way.
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
    # The server would take its grace period; an interrupted run does not
    # wait. Bash's "Killed" notices for these would only bury the reason.
    exec 2>/dev/null
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
if ip netns add "$prefix-switch" 2>/dev/null; then
    namespaces+=("$prefix-switch")
    ip -n "$prefix-switch" link add br0 type bridge
    ip -n "$prefix-switch" link set br0 up
    attach "$prefix-server" 1
    for k in $(seq 0 "$n"); do attach "$prefix-agent-$k" $((k + 10)); done
    server_addr=10.77.0.1:5566
    server_cmd=(ip netns exec "$prefix-server")
    agent_cmd() { exec ip netns exec "$prefix-agent-$1" "$c10k" "${@:2}"; }
else
    echo "netns-load: cannot create network namespaces here (not root?); running the agents on loopback instead" >&2
    server_addr=127.0.0.1:0
    server_cmd=()
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

# The server's CPU time (all its threads, in clock ticks) every 0.1 s, as
# "unix-time ticks" lines: how busy it was in a window, so that a figure
# says whether the server or the load limited it.
while [ -r "/proc/$server/stat" ]; do
    echo "$(date +%s.%N) $(awk '{ print $14 + $15 }' "/proc/$server/stat" 2>/dev/null)"
    sleep 0.1
done >"$out/server-cpu.txt" 2>/dev/null &
pids+=($!)

# One agent: agent_cmd's namespace $1, segment $2, $3 load threads, the
# common start $4, records $5.json/.hlog/.txt. Its pid goes to $launched.
launch() {
    agent_cmd "$1" load "$target" -q "${flags[@]}" -t "$3" --segment "$2" --start-at "$4" \
        --json "$5.json" --hlog "$5.hlog" >"$5.txt" 2>&1 &
    launched=$!
    pids+=("$launched")
}

# Merges the agents' records $2... into $1/merged.json and checks the
# merge: its messages are the agents' sum, and every agent's window began
# within 50 ms of the common start $start.
merge_checked() {
    local dir=$1 file merged warmup began sum=0
    shift
    "$c10k" merge "$@" --json "$dir/merged.json" --hlog "$dir/merged.hlog" >"$dir/report.txt"
    for file in "$@"; do sum=$((sum + $(field "$file" messages))); done
    merged=$(field "$dir/merged.json" messages)
    [ "$merged" = "$sum" ] || { echo "netns-load: merged $merged messages, the agents $sum" >&2; exit 1; }
    warmup=$(field "$1" warmup)
    for file in "$@"; do
        began=$(sed -n 's/^#\[StartTime: \([0-9.]*\) .*/\1/p' "${file%.json}.hlog")
        awk -v b="$began" -v s="$start" -v w="$warmup" -v f="$file" 'BEGIN {
            off = b - (s + w); if (off < 0) off = -off;
            if (off >= 0.05) { printf "netns-load: %s began its window %.3f s from the start\n", f, off > "/dev/stderr"; exit 1 }
        }'
    done
}
field() { sed -n "s/^ *\"$2\": \([0-9.]*\),*$/\1/p" "$1" | head -n 1; }

# How busy the server ($out/server-cpu.txt) and the agents of the merged
# record $1 were in its window, as "S A": percent of one core.
busy() {
    # The merged record's load CPU is already the agents' sum.
    awk -v from="$(field "$1" start_at)" -v warmup="$(field "$1" warmup)" -v d="$(field "$1" measured_s)" \
        -v agents="$(field "$1" load_cpu_s)" -v hz="$(getconf CLK_TCK)" '
        function at(t,   i) {  # ticks at time t, between the samples around it
            for (i = 2; i <= k; i++) if (time[i] >= t) return tick[i - 1] + (tick[i] - tick[i - 1]) * (t - time[i - 1]) / (time[i] - time[i - 1])
            return tick[k]
        }
        NF == 2 { k++; time[k] = $1; tick[k] = $2 }
        END { t0 = from + warmup; printf "%.0f %.0f\n", 100 * (at(t0 + d) - at(t0)) / hz / d, 100 * agents / d }' "$out/server-cpu.txt"
}

# One round, records in $out/$1: N agents (agent K in namespace K,
# segment K/N, THREADS load threads each) and, from the same start and
# against the same server, one more agent (namespace N, segment 0/1) with
# as many load threads at the same total rate and connections. Both sets
# are merged and checked.
round() {
    local dir=$out/$1 k pid=() name=()
    mkdir -p "$dir/agents"
    start=$(( $(date +%s) + ${DELAY:-3} ))
    for k in $(seq 0 $((n - 1))); do
        launch "$k" "$k/$n" "$threads" "$start" "$dir/agents/agent-$k"
        pid+=("$launched") name+=("$dir/agents/agent-$k")
    done
    if [ "$n" -gt 1 ] && [ "$beside" = 1 ]; then
        mkdir -p "$dir/single"
        launch "$n" 0/1 $((n * threads)) "$start" "$dir/single/agent-0"
        pid+=("$launched") name+=("$dir/single/agent-0")
    fi
    for k in "${!pid[@]}"; do
        wait "${pid[$k]}" || { echo "netns-load: ${name[$k]} failed: $(tail -n 1 "${name[$k]}.txt")" >&2; exit 1; }
    done
    merge_checked "$dir/agents" "$dir"/agents/agent-*.json
    read -r server_busy agents_busy < <(busy "$dir/agents/merged.json")
    if [ -e "$dir/single/agent-0.json" ]; then
        merge_checked "$dir/single" "$dir/single/agent-0.json"
        read -r _ single_busy < <(busy "$dir/single/merged.json")
        echo "netns-load: $1: the server used ${server_busy}% of a core in the window, the $n agents ${agents_busy}%, the one beside them ${single_busy}%"
    else
        echo "netns-load: $1: the server used ${server_busy}% of a core in the window, the agent$([ "$n" -eq 1 ] || echo "s ($n)") ${agents_busy}%"
    fi
}

# The echo latency's p50 and p99 of a merged record, in µs.
percentiles() {
    sed -n '/"echo": {/,/}/s/^ *"\(p50\|p99\)_us": \([0-9.]*\),*$/\2/p' "$1" | paste -sd ' '
}

# Whether the load of a merged record kept to its schedule (send lag p99
# under 1 ms, 95% of the rate): 1, or 0 if it fell behind.
on_schedule() {
    if grep -q '"fell_behind": *true' "$1"; then echo 0; else echo 1; fi
}

# Each round runs the N agents and the one agent side by side, so that both
# meet the same moments of this machine, and divides the merged p50 and p99
# by the single agent's; the median of these ratios over ROUNDS rounds
# (default 7) must be within 10%. Run one after the other, the p99 ratio
# (at 50-250 µs, the scheduling tail on two shared cores) ranged from 0.65
# to 1.65 between runs of the same code; side by side, 0.98-1.07 over ten
# runs. A debug build of the agents doubles their CPU and puts the p50
# ratio at 1.09-1.11: C10K unset, the script builds a release binary.
# A round in which either side fell behind its schedule has a p99 that
# measures that load generator's lateness (on 2026-12-06 this machine's
# noise put the per-round p99 ratio at 0.62-1.22, with the single agent's
# send lag p99 at 1.9 ms): its p99 is shown but not compared, and with
# fewer than 3 rounds on schedule the p99 is not checked, which is said.
# BESIDE=0 runs the N agents alone (for a run the server cannot hold
# twice) and compares nothing.
rounds=${ROUNDS:-7}
threads=${THREADS:-1}
beside=${BESIDE:-1}
case $rounds in '' | *[!0-9]* | 0) echo "netns-load: ROUNDS must be a positive number" >&2; exit 2 ;; esac
case $threads in '' | *[!0-9]* | 0) echo "netns-load: THREADS must be a positive number" >&2; exit 2 ;; esac
case $beside in 0 | 1) ;; *) echo "netns-load: BESIDE must be 0 or 1" >&2; exit 2 ;; esac
: >"$out/percentiles.txt"
for round in $(seq 1 "$rounds"); do
    round "round-$round"
    [ -e "$out/round-$round/single/merged.json" ] || continue
    agents=$out/round-$round/agents/merged.json single=$out/round-$round/single/merged.json
    echo "$(percentiles "$agents") $(percentiles "$single") $(($(on_schedule "$agents") * $(on_schedule "$single")))" >>"$out/percentiles.txt"
done
cat "$out/round-$rounds/agents/report.txt"
[ ! -s "$out/percentiles.txt" ] || awk -v n="$n" '
    function median(a, k,   i, j, t) {
        for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
    }
    {
        p50[NR] = $1 / $3
        rounds = rounds sprintf(" %.2f/%.2f%s", p50[NR], $2 / $4, $5 ? "" : " (behind)")
        if ($5) p99[++kept] = $2 / $4
    }
    END {
        r50 = median(p50, NR)
        printf "netns-load: echo p50/p99 of %d agents over one agent'"'"'s beside them, by round:%s\n", n, rounds
        bad = 0
        if (r50 > 1.1 || r50 < 1 / 1.1) { print "netns-load: the merged p50 is more than 10% from one agent'"'"'s" > "/dev/stderr"; bad = 1 }
        if (kept >= 3) {
            r99 = median(p99, kept)
            printf "netns-load: median of %d rounds: p50 %.2f; of the %d on schedule: p99 %.2f\n", NR, r50, kept, r99
            if (r99 > 1.1 || r99 < 1 / 1.1) { print "netns-load: the merged p99 is more than 10% from one agent'"'"'s" > "/dev/stderr"; bad = 1 }
        } else {
            printf "netns-load: median of %d rounds: p50 %.2f; p99 not compared: the load fell behind its schedule in %d of %d rounds, so their p99 measures the load generator\n", NR, r50, NR - kept, NR
        }
        exit bad
    }' "$out/percentiles.txt"
# A graceful stop: its summary line goes to server.txt.
kill -TERM "$server" && wait "$server" || true
compared=""
[ ! -s "$out/percentiles.txt" ] || compared=", echo p50 (and p99, over the rounds on schedule) within 10% of one agent's beside them"
echo "netns-load: $n agent(s), $rounds round(s), messages merged exactly, every window within 50 ms of the start$compared ($out)"
