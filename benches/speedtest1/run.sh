#!/usr/bin/env bash
# SQLite's speedtest1 through the sqlvault VFS vs the unix VFS, same binary, side by side
# (issue 8, item 4: total time through sqlvault <= 1.10x unix).
#
#   benches/speedtest1/run.sh [REPS]        # REPS alternating repetitions, default 3
#
# Environment:
#   JOURNALS="wal delete"  journal modes to run, in order (default: wal)
#   SIZE=100               speedtest1 --size (default 100)
#   SUITE_WORK=DIR         where tests/sqlite-suite/fetch-sqlite.sh keeps the Debian 12
#                          SQLite 3.40.1 source tree (default: benches/speedtest1/work/sqlite;
#                          point it at an existing suite work dir to reuse its download)
#   SPEEDTEST1_WORK=DIR    build and run directory (default: benches/speedtest1/work)
#   CARGO_TARGET_DIR       as for cargo (libsqlvault.so is taken from its release/)
#
# What it does:
#   1. fetches test/speedtest1.c (SQLite 3.40.1, Debian 12) with fetch-sqlite.sh; nothing of
#      SQLite's source is committed here;
#   2. builds the loadable extension (cargo build --release --manifest-path
#      extension/Cargo.toml) and snapshots libsqlvault.so into the work dir, so a rebuild by
#      someone else during the run cannot change the library under it;
#   3. compiles ONE binary, with the same flags for everything (-O2): speedtest1.c + the
#      amalgamation bundled with libsqlite3-sys 0.40.0 (SQLite 3.54.1) + shim.c, wired in
#      with -DSQLITE_EXTRA_INIT=speedtest1_sqlvault_init (see shim.c);
#   4. per journal mode, runs REPS rounds; each round runs both configurations
#      (--vfs unix, --vfs sqlvault), alternating which goes first (ABBA...), so contention
#      from the rest of the machine hits both alike; both runs load the extension, they
#      differ only by --vfs;
#   5. after every sqlvault run checks the database is really sealed (no "SQLite format 3"
#      header, no plaintext row text) and prints per test: median unix time, median sqlvault
#      time, ratio of the medians; then the total (median of the TOTAL lines) and the median
#      of the per-round total ratios, and the process CPU time (user+sys) medians.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
reps=${1:-${REPS:-3}}
journals=${JOURNALS:-wal}
size=${SIZE:-100}
work=${SPEEDTEST1_WORK:-$here/work}
suite_work=${SUITE_WORK:-$work/sqlite}
build=$work/build
key=${SQLVAULT_SPEEDTEST_KEY:-5d1f3b0a8c27e4966fa1b2c3d4e5f60718293a4b5c6d7e8f9001122334455667}
mkdir -p "$build"

echo "== speedtest1.c (SQLite source tree via tests/sqlite-suite/fetch-sqlite.sh)"
SUITE_WORK=$suite_work "$repo/tests/sqlite-suite/fetch-sqlite.sh"
st1c=$suite_work/src/sqlite/test/speedtest1.c
[ -f "$st1c" ] || { echo "run.sh: no $st1c" >&2; exit 1; }
st1ver=$(cat "$suite_work/src/sqlite/VERSION")

echo "== bundled amalgamation (libsqlite3-sys 0.40.0)"
amal=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/libsqlite3-sys-0.40.0/sqlite3 2>/dev/null | head -1)
if [ -z "$amal" ] || [ ! -f "$amal/sqlite3.c" ]; then
  cargo fetch --manifest-path "$repo/Cargo.toml" >/dev/null
  amal=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/libsqlite3-sys-0.40.0/sqlite3 | head -1)
fi
amalver=$(sed -n 's/^#define SQLITE_VERSION  *"\(.*\)"/\1/p' "$amal/sqlite3.h")
echo "$amal (SQLite $amalver)"

echo "== sqlvault loadable extension"
cargo build --release --manifest-path "$repo/extension/Cargo.toml"
ext=${CARGO_TARGET_DIR:-$repo/extension/target}/release/libsqlvault.so
[ -f "$ext" ] || { echo "run.sh: no $ext" >&2; exit 1; }
cp -f "$ext" "$build/libsqlvault.so.new" && mv -f "$build/libsqlvault.so.new" "$build/libsqlvault.so"
git -C "$repo" rev-parse --short HEAD > "$build/libsqlvault.commit" 2>/dev/null || true
if ! git -C "$repo" diff --quiet HEAD -- vfs crypto extension 2>/dev/null; then
  echo "+dirty" >> "$build/libsqlvault.commit"
fi

echo "== speedtest1 binary"
CFLAGS=(-O2 -I"$amal")
cd "$build"
if [ ! -f sqlite3.o ] || [ "$amal/sqlite3.c" -nt sqlite3.o ]; then
  gcc "${CFLAGS[@]}" -DSQLITE_EXTRA_INIT=speedtest1_sqlvault_init -c "$amal/sqlite3.c" -o sqlite3.o
fi
if [ ! -f speedtest1.o ] || [ "$st1c" -nt speedtest1.o ]; then
  gcc "${CFLAGS[@]}" -Wall -c "$st1c" -o speedtest1.o
fi
if [ ! -f shim.o ] || [ "$here/shim.c" -nt shim.o ]; then
  gcc "${CFLAGS[@]}" -Wall -Wextra -Werror -c "$here/shim.c" -o shim.o
fi
gcc -o speedtest1 speedtest1.o shim.o sqlite3.o -ldl -lpthread -lm
echo "$build/speedtest1"

export SQLVAULT_SPEEDTEST_EXT=$build/libsqlvault.so SQLVAULT_SPEEDTEST_KEY=$key
stamp=$(date -u +%Y%m%dT%H%M%SZ)
res=$work/results/$stamp
rundir=$work/run
mkdir -p "$res" "$rundir"
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "host: $(uname -srm), $(nproc) cores"
  echo "speedtest1.c: SQLite $st1ver (Debian 12 source); library: amalgamation SQLite $amalver"
  echo "sqlvault: $(tr '\n' ' ' < "$build/libsqlvault.commit" 2>/dev/null)"
  echo "command: speedtest1 --size $size --journal J --vfs {unix,sqlvault} DB; reps=$reps"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$res/meta.txt"

check_sealed(){   # $1 = sqlvault database file
  local db=$1
  [ -s "$db" ] || { echo "run.sh: $db missing or empty" >&2; exit 1; }
  if head -c 16 "$db" | grep -q "SQLite format 3"; then
    echo "run.sh: $db has a plaintext SQLite header: the sqlvault run was not encrypted" >&2; exit 1
  fi
  # speedtest1 stores numbers spelled out in words ("... thousand ..."): none may show.
  if grep -a -q "thousand" "$db" ${db}-wal ${db}-journal 2>/dev/null; then
    echo "run.sh: plaintext row text in $db" >&2; exit 1
  fi
}

run_one(){   # $1 journal, $2 vfs, $3 rep
  local j=$1 v=$2 r=$3 db=$rundir/st1-$2.db out=$res/$1-$2-$3.txt
  rm -f "$db" "$db-wal" "$db-shm" "$db-journal"
  /usr/bin/time -f "cpu %U %S" -o "$out.time" \
    ./speedtest1 --size "$size" --journal "$j" --vfs "$v" "$db" > "$out"
  grep -q "TOTAL" "$out" || { echo "run.sh: no TOTAL in $out" >&2; cat "$out" >&2; exit 1; }
  [ "$v" = sqlvault ] && check_sealed "$db"
  printf '  %-7s rep %d %-8s %s   (%s)\n' "$j" "$r" "$v" \
    "$(sed -n 's/.*TOTAL\.*  *\([0-9.]*s\)$/\1/p' "$out")" "$(cat "$out.time")"
}

for j in $journals; do
  echo "== journal_mode=$j: $reps rounds"
  for r in $(seq 1 "$reps"); do
    if [ $((r % 2)) = 1 ]; then order="unix sqlvault"; else order="sqlvault unix"; fi
    for v in $order; do run_one "$j" "$v" "$r"; done
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$res/meta.txt"

python3 - "$res" "$reps" "$size" $journals <<'PY' | tee "$res/table.md"
import re, statistics as st, sys, os
res, reps, size, journals = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
line = re.compile(r'^\s*(\d+) - (.*?)\.{2,}\s*([0-9.]+)s\s*$')
tot = re.compile(r'^\s*TOTAL\.+\s*([0-9.]+)s\s*$')
def parse(path):
    tests, total = {}, None
    for l in open(path):
        m = line.match(l)
        if m: tests[int(m.group(1))] = (m.group(2).strip(), float(m.group(3)))
        m = tot.match(l)
        if m: total = float(m.group(1))
    return tests, total
def cpu(path):
    u, s = open(path + '.time').read().split()[1:3]
    return float(u) + float(s)
for j in journals:
    runs = {v: [parse(f'{res}/{j}-{v}-{r}.txt') for r in range(1, reps + 1)] for v in ('unix', 'sqlvault')}
    cpus = {v: [cpu(f'{res}/{j}-{v}-{r}.txt') for r in range(1, reps + 1)] for v in ('unix', 'sqlvault')}
    print(f'\n### journal_mode={j}, --size {size}, {reps} alternating rounds (medians)\n')
    print('| test | unix (s) | sqlvault (s) | ratio |')
    print('|---|---:|---:|---:|')
    for n in sorted(runs['unix'][0][0]):
        name = runs['unix'][0][0][n][0]
        u = st.median(t[0][n][1] for t in runs['unix'])
        s = st.median(t[0][n][1] for t in runs['sqlvault'])
        ratio = f'{s / u:.2f}' if u > 0 else '—'
        print(f'| {n} {name} | {u:.3f} | {s:.3f} | {ratio} |')
    ut = [t[1] for t in runs['unix']]; svt = [t[1] for t in runs['sqlvault']]
    print(f'| **TOTAL** | **{st.median(ut):.3f}** | **{st.median(svt):.3f}** | **{st.median(svt) / st.median(ut):.3f}** |')
    per_round = [s / u for s, u in zip(svt, ut)]
    print(f'\nTOTAL per round, unix: {", ".join(f"{x:.3f}" for x in ut)} s; '
          f'sqlvault: {", ".join(f"{x:.3f}" for x in svt)} s; '
          f'ratio per round: {", ".join(f"{x:.3f}" for x in per_round)} '
          f'(median {st.median(per_round):.3f})')
    print(f'Process CPU time (user+sys), median: unix {st.median(cpus["unix"]):.2f} s, '
          f'sqlvault {st.median(cpus["sqlvault"]):.2f} s, ratio {st.median(cpus["sqlvault"]) / st.median(cpus["unix"]):.3f}')
PY
echo "results: $res"
