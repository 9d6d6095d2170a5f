#!/usr/bin/env bash
# The default hand-off against tokio-rusqlite, interleaved: each round runs sqlvault's
# `driver_handoff once` and tokio-rusqlite's `handoff_once` (same workload, same runtime) back to
# back, alternating which goes first, under (a) the machine as it is and (b) two background
# threads of busy CPU load that this script starts and stops. Prints per-condition medians and
# their ratios. Usage: benches/driver-handoff.sh [rounds, default 6]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${1:-6}
main_target=${CARGO_TARGET_DIR:-$root/target}
base_target=$root/benches/driver-baseline/target

cargo build --release -p sqlvault-benches --example driver_handoff
(cd benches/driver-baseline && CARGO_TARGET_DIR="$base_target" cargo build --release --example handoff_once)
ours="$main_target/release/examples/driver_handoff"
theirs="$base_target/release/examples/handoff_once"

condition() {
    local label=$1 out
    out=$(mktemp)
    for r in $(seq "$rounds"); do
        if (( r % 2 )); then
            echo "ours $("$ours" once)" >>"$out"
            echo "theirs $("$theirs")" >>"$out"
        else
            echo "theirs $("$theirs")" >>"$out"
            echo "ours $("$ours" once)" >>"$out"
        fi
    done
    python3 - "$label" "$out" <<'PY'
import statistics, sys
label, path = sys.argv[1], sys.argv[2]
rows = {"ours": [], "theirs": []}
for line in open(path):
    who, seq, conc = line.split()
    rows[who].append((float(seq), float(conc)))
med = {w: (statistics.median(s for s, _ in v), statistics.median(c for _, c in v)) for w, v in rows.items()}
(os_, oc), (ts, tc) = med["ours"], med["theirs"]
print(f"condition {label}: {len(rows['ours'])} rounds each, medians, time per point select")
print(f"  sequential  sqlvault {os_:8.2f} us  tokio-rusqlite {ts:8.2f} us  ratio {os_/ts:5.2f}")
print(f"  64 tasks    sqlvault {oc:8.2f} us  tokio-rusqlite {tc:8.2f} us  ratio {oc/tc:5.2f} (throughput {tc/oc:4.2f}x)")
PY
    rm -f "$out"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
condition idle
busy=()
stop_busy() {
    for pid in "${busy[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_busy EXIT
for _ in 1 2; do
    (while :; do :; done) &
    busy+=("$!")
done
condition busy
stop_busy
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
