#!/usr/bin/env bash
# Runs the workload benchmarks of issue 3 on every engine in one session, back to back on the
# same machine, and prints the table of ratios (criterion means of the two runs).
#
#   benches/compare.sh                 # build and run both benchmarks, then print the table
#   benches/compare.sh --table-only    # print the table from the last run's results
#   benches/compare.sh -- point_selects   # pass a criterion filter to both benchmarks
#
# Engines: `plain` (and `sqlvault`, once plugged in) from the main workspace's `workloads` bench,
# `sqlcipher` from the separate workspace benches/sqlcipher/. Needs cargo, python3 and, for
# SQLCipher, libssl-dev. Takes a few minutes on two cores once built.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

table_only=0
filter=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --table-only) table_only=1; shift ;;
        --) shift; filter=("$@"); break ;;
        -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

target_dir() {
    (cd "$1" && cargo metadata --format-version 1 --no-deps \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
}
main_target="$(target_dir "$root")"
sqlcipher_target="$(target_dir "$here/sqlcipher")"
log_dir="$main_target/workload-logs"
mkdir -p "$log_dir"

since=0
if [[ $table_only -eq 0 ]]; then
    # Build both first so that compiling one does not run alongside the other's measurements.
    (cd "$root" && cargo bench -p sqlvault-benches --bench workloads --no-run)
    (cd "$here/sqlcipher" && cargo bench --bench sqlcipher --no-run)
    since="$(date +%s)"
    (cd "$root" && cargo bench -p sqlvault-benches --bench workloads -- "${filter[@]}") \
        2>&1 | tee "$log_dir/main.log"
    (cd "$here/sqlcipher" && cargo bench --bench sqlcipher -- "${filter[@]}") \
        2>&1 | tee "$log_dir/sqlcipher.log"
fi

echo
echo "## Workload ratios ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))"
echo
cat "$log_dir"/*.log 2>/dev/null | grep -E '^(engine|misses) ' | sort -u || true
echo
python3 - "$since" "$main_target/criterion" "$sqlcipher_target/criterion" <<'PY'
import json, os, sys, time

since = int(sys.argv[1])
roots = {"plain": sys.argv[2], "sqlvault": sys.argv[2], "sqlcipher": sys.argv[3]}
workloads = [
    # (criterion group, what one iteration is, target for sqlvault/plain)
    ("batched_inserts", "1 tx of 1000 inserts", 1.15),
    ("point_selects", "1 select, cache miss", 1.5),
    ("full_scans", "1 scan of 200k rows", 1.15),
    ("update_transactions", "5000 1-row update txs", 1.15),
]

def mean_ns(engine, workload):
    path = os.path.join(roots[engine], workload, engine, "new", "estimates.json")
    try:
        mtime = os.path.getmtime(path)
        with open(path) as f:
            estimate = json.load(f)["mean"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None, None
    if mtime < since:
        # Left over from an earlier run: not comparable with this one.
        return None, None
    return estimate, mtime

def fmt_time(ns):
    if ns is None:
        return "not measured"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"

def fmt_ratio(a, b):
    return "not measured" if a is None or b is None else f"{a / b:.2f}x"

header = ["workload", "iteration", "plain", "SQLCipher 4", "sqlvault",
          "SQLCipher/plain", "sqlvault/plain (target)", "sqlvault/SQLCipher"]
print("| " + " | ".join(header) + " |")
print("|" + "|".join("---" for _ in header) + "|")
stamps = []
for workload, unit, target in workloads:
    t = {}
    for engine in ("plain", "sqlcipher", "sqlvault"):
        t[engine], stamp = mean_ns(engine, workload)
        if stamp is not None:
            stamps.append(stamp)
    vault_plain = fmt_ratio(t["sqlvault"], t["plain"])
    if t["sqlvault"] is not None and t["plain"] is not None:
        ok = "met" if t["sqlvault"] / t["plain"] <= target else "MISSED"
        vault_plain += f" (≤ {target}: {ok})"
    else:
        vault_plain += f" (≤ {target})"
    print("| " + " | ".join([
        workload, unit, fmt_time(t["plain"]), fmt_time(t["sqlcipher"]), fmt_time(t["sqlvault"]),
        fmt_ratio(t["sqlcipher"], t["plain"]), vault_plain, fmt_ratio(t["sqlvault"], t["sqlcipher"]),
    ]) + " |")
print()
print("Times are criterion means per iteration; ratios divide them (higher = slower than the"
      " denominator).")
if stamps:
    spread = (max(stamps) - min(stamps)) / 60
    print(f"Results written between {time.strftime('%H:%M', time.gmtime(min(stamps)))} and "
          f"{time.strftime('%H:%M', time.gmtime(max(stamps)))} UTC ({spread:.0f} min apart).")
    if spread > 30:
        print("WARNING: results more than 30 minutes apart; rerun without --table-only to compare"
              " numbers from one session.")
PY
