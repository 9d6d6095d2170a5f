#!/usr/bin/env bash
# Runs the workload benchmarks of issue 3 on every engine in one session, back to back on the
# same machine, and prints the table of ratios of criterion's mean times.
#
#   benches/compare.sh                    # 3 rounds of both benchmarks, then the table
#   benches/compare.sh --rounds 1         # one round: quicker (~3 min once built), noisier
#   benches/compare.sh --table-only       # the table of the last run, from its saved results
#   benches/compare.sh -- point_selects   # pass a criterion filter to both benchmarks
#
# Engines: `plain` (and `sqlvault`, once plugged in) from the main workspace's `workloads` bench,
# `sqlcipher` from the separate workspace benches/sqlcipher/. Rounds alternate which program runs
# first, and the table shows the median over rounds with the range, so that a load spike on a
# shared machine shows up as a wide range instead of a wrong ratio. Needs cargo, python3 and, for
# SQLCipher, libssl-dev.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

rounds=3
table_only=0
filter=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --table-only) table_only=1; shift ;;
        --) shift; filter=("$@"); break ;;
        -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
    echo "--rounds needs a positive number, not '$rounds'" >&2
    exit 2
fi

target_dir() {
    (cd "$1" && cargo metadata --format-version 1 --no-deps \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
}
main_target="$(target_dir "$root")"
sqlcipher_target="$(target_dir "$here/sqlcipher")"
log_dir="$main_target/workload-logs"
results="$log_dir/rounds.jsonl"
mkdir -p "$log_dir"

# Reads criterion's estimates (collect) or turns the collected rounds into the table (table).
report() {
    python3 - "$@" <<'PY'
import json, os, statistics, sys, time

WORKLOADS = [
    # (criterion group, what one iteration is, target for sqlvault/plain from issue 3)
    ("batched_inserts", "1 tx of 1000 inserts", 1.15),
    ("point_selects", "1 select, cache miss", 1.5),
    ("full_scans", "1 scan of 200k rows", 1.15),
    ("update_transactions", "5000 1-row update txs", 1.15),
]
ENGINES = ("plain", "sqlcipher", "sqlvault")

def collect(round_no, since, main_criterion, sqlcipher_criterion):
    roots = {"plain": main_criterion, "sqlvault": main_criterion, "sqlcipher": sqlcipher_criterion}
    for workload, _, _ in WORKLOADS:
        for engine in ENGINES:
            path = os.path.join(roots[engine], workload, engine, "new", "estimates.json")
            try:
                if os.path.getmtime(path) < since:
                    continue  # left over from an earlier run: not comparable with this one
                with open(path) as f:
                    mean = json.load(f)["mean"]["point_estimate"]
            except (OSError, KeyError, ValueError):
                continue
            print(json.dumps({"round": round_no, "time": time.time(), "workload": workload,
                              "engine": engine, "mean_ns": mean}))

def fmt_time(ns):
    if ns is None:
        return "not measured"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"

def table(results_path):
    rows = [json.loads(line) for line in open(results_path) if line.strip()]
    if not rows:
        sys.exit("no results: run without --table-only first")
    rounds = sorted({r["round"] for r in rows})
    means = {}
    for r in rows:
        means.setdefault((r["workload"], r["engine"]), {})[r["round"]] = r["mean_ns"]

    def time_of(workload, engine):
        per_round = means.get((workload, engine))
        return statistics.median(per_round.values()) if per_round else None

    def ratio(workload, num, den, target=None):
        a, b = means.get((workload, num), {}), means.get((workload, den), {})
        per_round = [a[n] / b[n] for n in rounds if n in a and n in b]
        if not per_round:
            text = "not measured"
        else:
            mid = statistics.median(per_round)
            text = f"{mid:.2f}x"
            if len(per_round) > 1:
                text += f" ({min(per_round):.2f}–{max(per_round):.2f})"
            if target is not None:
                text += " met" if mid <= target else " MISSED"
        if target is not None:
            text += f" [≤ {target}]"
        return text

    header = ["workload", "iteration", "plain", "SQLCipher 4", "sqlvault",
              "SQLCipher/plain", "sqlvault/plain [target]", "sqlvault/SQLCipher [target < 1]"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for workload, unit, target in WORKLOADS:
        print("| " + " | ".join([
            workload, unit,
            fmt_time(time_of(workload, "plain")),
            fmt_time(time_of(workload, "sqlcipher")),
            fmt_time(time_of(workload, "sqlvault")),
            ratio(workload, "sqlcipher", "plain"),
            ratio(workload, "sqlvault", "plain", target),
            ratio(workload, "sqlvault", "sqlcipher"),
        ]) + " |")
    stamps = [r["time"] for r in rows]
    print()
    print(f"Times: median over {len(rounds)} round(s) of criterion's mean time per iteration. "
          "Ratios: median over rounds of the ratio within each round (range in parentheses); "
          "higher = slower than the denominator.")
    print(f"Rounds ran between {time.strftime('%Y-%m-%d %H:%M', time.gmtime(min(stamps)))} and "
          f"{time.strftime('%H:%M', time.gmtime(max(stamps)))} UTC.")

if sys.argv[1] == "collect":
    collect(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
else:
    table(sys.argv[2])
PY
}

run_main() {
    (cd "$root" && cargo bench -p sqlvault-benches --bench workloads -- "${filter[@]}") \
        2>&1 | tee "$log_dir/main-$1.log"
}
run_sqlcipher() {
    (cd "$here/sqlcipher" && cargo bench --bench sqlcipher -- "${filter[@]}") \
        2>&1 | tee "$log_dir/sqlcipher-$1.log"
}

if [[ $table_only -eq 0 ]]; then
    # Build both first so that compiling one does not run alongside the other's measurements.
    (cd "$root" && cargo bench -p sqlvault-benches --bench workloads --no-run)
    (cd "$here/sqlcipher" && cargo bench --bench sqlcipher --no-run)
    rm -f "$log_dir"/*.log
    : > "$results"
    for ((round = 1; round <= rounds; round++)); do
        echo "==== round $round of $rounds ===="
        since="$(date +%s)"
        if ((round % 2)); then run_main "$round"; run_sqlcipher "$round"
        else run_sqlcipher "$round"; run_main "$round"; fi
        report collect "$round" "$since" "$main_target/criterion" "$sqlcipher_target/criterion" \
            >> "$results"
    done
fi

echo
echo "## Workload ratios ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))"
echo
cat "$log_dir"/*.log 2>/dev/null | grep -E '^(engine|misses) ' | sort | uniq -c \
    | sed -E 's/^ *([0-9]+) (.*)$/\2 (x\1 rounds)/' || true
echo
report table "$results"
