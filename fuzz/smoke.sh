#!/usr/bin/env bash
# Runs every cargo-fuzz target for N seconds each (default 20) and fails if any fails.
#
#   fuzz/smoke.sh [SECONDS]
#
# Needs the nightly toolchain and cargo-fuzz (installed here if missing). Crashes are
# left in fuzz/artifacts/TARGET/ by libFuzzer; reproduce one with
#   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail

secs="${1:-20}"
cd "$(dirname "$0")"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz smoke: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz not found: installing it (about a minute)"
    cargo install cargo-fuzz --locked
fi

targets=$(cargo +nightly fuzz list)
# Build all targets first so the time limit below is spent fuzzing.
cargo +nightly fuzz build

failed=()
for target in $targets; do
    echo "=== fuzz target ${target}: ${secs}s"
    mkdir -p "corpus/${target}"
    if ! cargo +nightly fuzz run "$target" -- -max_total_time="$secs" -print_final_stats=1; then
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz smoke FAILED: ${failed[*]}"
    exit 1
fi
echo "fuzz smoke passed: $(echo $targets | wc -w) targets, ${secs}s each"
