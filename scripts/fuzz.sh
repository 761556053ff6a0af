#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ for SECONDS each (cargo-fuzz, libFuzzer,
# the nightly toolchain), starting from the committed seeds in
# fuzz/seeds/TARGET (real files: the committed runs' records, the tests'
# inputs). New inputs the fuzzer finds go to a scratch corpus, not the
# repository; a crash stops the script with the input saved under
# fuzz/artifacts/TARGET. Installs cargo-fuzz (a cargo plugin, from
# crates.io) when it is missing. Without a nightly toolchain it says so in
# one line and exits 0: fuzzing needs nightly's sanitizer flags.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#       default: 20 s; every target
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz: skipped, no nightly toolchain (rustup toolchain install nightly)"
    exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install --quiet --locked cargo-fuzz
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cargo +nightly fuzz build --fuzz-dir fuzz -O
for target in "${targets[@]}"; do
    mkdir -p "$scratch/$target"
    echo "fuzz: $target for ${seconds}s"
    # -max_len: the seeds include whole bench records; -rss_limit_mb: a
    # reader that allocates without bound fails instead of swapping.
    status=0
    cargo +nightly fuzz run --fuzz-dir fuzz -O "$target" "$scratch/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -max_len=262144 -rss_limit_mb=2048 -print_final_stats=0 \
        >"$scratch/$target.log" 2>&1 || status=$?
    grep -E '^(Done [0-9]+ runs|SUMMARY|artifact_prefix|Test unit)|panicked at' "$scratch/$target.log" || true
    if [ "$status" -ne 0 ]; then
        echo "fuzz: $target failed; the input is in fuzz/artifacts/$target" >&2
        exit 1
    fi
done
