#!/usr/bin/env bash
# Runs the driver benchmark (main workspace) and the tokio-rusqlite baseline (its own
# workspace, benches/driver-baseline: it links a different libsqlite3-sys) back to back, then
# prints each sqlvault figure as a ratio of the baseline's, under two conditions: (a) the
# machine as it is, (b) with two background threads of busy CPU load that the script starts
# and stops. Usage: benches/driver-compare.sh [criterion options, e.g. --measurement-time 3]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
main_target=${CARGO_TARGET_DIR:-$root/target}

logs="$main_target/driver-compare"
mkdir -p "$logs"

# One condition: both programs back to back, then the ratio table (also saved in $logs/$1.txt).
run_condition() {
    local label=$1
    shift
    echo "=== condition: $label ($(cut -d' ' -f1-3 /proc/loadavg) load average before)"
    cargo bench -p sqlvault-benches --bench driver -- --noplot "$@"
    (cd benches/driver-baseline && CARGO_TARGET_DIR="$root/benches/driver-baseline/target" cargo bench -- --noplot "$@")
    table "$label" | tee "$logs/$label.txt"
}

table() {
python3 - "$1" "$main_target/criterion" "$root/benches/driver-baseline/target/criterion" <<'PY'
import json, os, sys

def mean_ns(base, group, name):
    path = os.path.join(base, group, name, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["mean"]["point_estimate"]

label, main, baseline = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [
    ("driver_point_select/sequential", "sqlvault_query_row", "tokio_rusqlite_call", 1),
    ("driver_point_select/sequential", "sqlvault_query_row_park", "tokio_rusqlite_call", 1),
    ("driver_point_select/sequential", "sqlvault_read_with", "tokio_rusqlite_call", 1),
    ("driver_point_select/sequential", "sqlvault_read_with_spin_30us", "tokio_rusqlite_call", 1),
    ("driver_point_select/sequential", "sqlvault_read_tx_query_row", "tokio_rusqlite_call", 1),
    ("driver_point_select/sequential", "rusqlite_direct", "rusqlite_direct_plain", 1),
    ("driver_point_select/64_tasks", "sqlvault_query_row_2_readers", "tokio_rusqlite_call_1_connection", 64),
    ("driver_point_select/64_tasks", "sqlvault_query_row_4_readers", "tokio_rusqlite_call_1_connection", 64),
    ("driver_point_select/64_tasks", "sqlvault_read_with_2_readers", "tokio_rusqlite_call_1_connection", 64),
    ("driver_point_select/64_tasks", "sqlvault_read_with_4_readers", "tokio_rusqlite_call_1_connection", 64),
]
print()
print(f"condition: {label}")
print(f"{'benchmark':<62} {'sqlvault':>12} {'baseline':>15} {'ratio':>7}")
for group, ours, theirs, per_iter in rows:
    try:
        a = mean_ns(main, group.replace("/", "_"), ours) / per_iter
        b = mean_ns(baseline, group.replace("/", "_"), theirs) / per_iter
    except FileNotFoundError as e:
        print(f"{group}/{ours}: missing ({e.filename})")
        continue
    print(f"{group + '/' + ours:<62} {a/1000:>9.2f} us {b/1000:>12.2f} us {a/b:>7.2f}")
print("(time per point select; the baseline is tokio-rusqlite's call, except for rusqlite_direct,")
print(" whose baseline is the same direct call on plain SQLite. ratio = sqlvault / baseline: below")
print(" 1 is faster; for the 64-task rows its inverse is the throughput gain.)")
PY
}

# (a) the machine as it is (idle, if nothing else runs on it).
run_condition idle "$@"

# (b) two background threads of busy CPU load, started and stopped here.
busy=()
stop_busy() {
    for pid in "${busy[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_busy EXIT
for _ in 1 2; do
    (while :; do :; done) &
    busy+=("$!")
done
run_condition busy "$@"
stop_busy
busy=()

echo
cat "$logs/idle.txt" "$logs/busy.txt"
