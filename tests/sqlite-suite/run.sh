#!/usr/bin/env bash
# Runs SQLite test files twice with the testfixture that build.sh made: once plain
# (SQLVAULT_SUITE=0, the baseline) and once with sqlvault under every connection, each
# file in a scratch directory of its own, with a time limit per file, N files at a time,
# as an unprivileged user (SQLite's permission tests misbehave as root). Then report.py
# writes the per-file table and checks the failures against expected-differences.txt.
#
# usage: run.sh [-j JOBS] [-t SECONDS] [-o OUTDIR] [-l LISTFILE] [TEST ...]
#   TEST      a name in SQLite's test/ (e.g. wal2) or sqlvault-wiring; default: the
#             names in LISTFILE (default: tests-ci.txt; tests-full.txt is everything)
#   -j JOBS   test processes at once (default 2)
#   -t SECS   time limit per file and mode (default 300)
#   -o DIR    output directory (default work/run); logs in DIR/logs/{plain,sqlvault}/
#   -m MODES  "plain sqlvault" (default), or just one of them
# Exit status: 0 when report.py finds nothing unexplained, 1 otherwise.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${SUITE_WORK:-$here/work}
fixture=$work/build/testfixture
testdir=$work/src/sqlite/test
jobs=2 limit=300 out=$work/run list=$here/tests-ci.txt modes="plain sqlvault"

if [ "${1:-}" = --one ]; then
  # Internal: one file in one mode. Arguments: --one OUTDIR LIMIT MODE NAME
  out=$2 limit=$3 mode=$4 name=$5
  if [ "$name" = sqlvault-wiring ]; then file=$work/sqlvault-wiring.test; else file=$testdir/$name.test; fi
  scratch=$out/scratch/$mode/$name
  log=$out/logs/$mode/$name.log
  rm -rf "$scratch"; mkdir -p "$scratch"
  suite=1; [ "$mode" = plain ] && suite=0
  t0=$(date +%s%N)
  set +e
  ( cd "$scratch" && ulimit -c 0 && exec env HOME="$scratch" SQLVAULT_SUITE=$suite SQLITE_TEST_DIR="$testdir" \
      timeout -k 10 "$limit" "$fixture" "$file" ) > "$log" 2>&1 < /dev/null
  rc=$?
  set -e
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  secs=$(printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)))
  printf '%s %s\n' "$rc" "$secs" > "$out/logs/$mode/$name.rc"
  printf '%-9s %-22s rc=%-3s %7ss\n' "$mode" "$name" "$rc" "$secs"
  exit 0
fi

while getopts "j:t:o:l:m:" opt; do
  case $opt in
    j) jobs=$OPTARG ;; t) limit=$OPTARG ;; o) out=$OPTARG ;; l) list=$OPTARG ;; m) modes=$OPTARG ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [ $# -gt 0 ]; then names=("$@"); else mapfile -t names < <(sed -e 's/#.*//' -e '/^\s*$/d' "$list" | tr -s ' \t' '\n' | sed '/^$/d'); fi
[ -x "$fixture" ] || { echo "run.sh: no $fixture: run build.sh first" >&2; exit 1; }
for n in "${names[@]}"; do
  [ "$n" = sqlvault-wiring ] || [ -f "$testdir/$n.test" ] || { echo "run.sh: no test file $testdir/$n.test" >&2; exit 1; }
done

mkdir -p "$out"
# The wiring proof runs from work/, which the unprivileged user can read (see run-ci.sh).
cp -f "$here/sqlvault-wiring.test" "$work/sqlvault-wiring.test"
for m in $modes; do rm -rf "$out/logs/$m" "$out/scratch/$m"; mkdir -p "$out/logs/$m" "$out/scratch/$m"; done

# As root, run the tests as an unprivileged user of their own.
runas=()
if [ "$(id -u)" = 0 ]; then
  user=${SUITE_USER:-sqlsuite}
  id "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
  chown -R "$user" "$out"
  runas=(runuser -u "$user" --)
  # The user must be able to reach the build and the test files.
  "${runas[@]}" test -x "$fixture" -a -r "$testdir/tester.tcl" -a -r "$work/build/libsqlvault.so" \
    -a -r "$work/sqlvault-wiring.test" -a -w "$out/logs" \
    || { echo "run.sh: user $user cannot read $work (check directory permissions)" >&2; exit 1; }
fi

t0=$(date +%s)
echo "run.sh: ${#names[@]} files x ($modes), $jobs at a time, ${limit}s limit each, as $(if [ ${#runas[@]} -gt 0 ]; then echo "$user"; else id -un; fi)"
# The per-file runs execute a copy of this script in the work directory: the unprivileged
# user may not be able to reach the checkout itself (a clone under /root).
cp -f "$0" "$work/run-one.sh" && chmod 755 "$work/run-one.sh"
export SUITE_WORK="$work"
for n in "${names[@]}"; do for m in $modes; do printf '%s\0%s\0' "$m" "$n"; done; done \
  | xargs -0 -n 2 -P "$jobs" "${runas[@]}" "$work/run-one.sh" --one "$out" "$limit"
echo "run.sh: tests took $(( $(date +%s) - t0 ))s"
python3 "$here/report.py" --out "$out" --expected "$here/expected-differences.txt" --open "$here/open-defects.txt" --modes "$modes" "${names[@]}"
