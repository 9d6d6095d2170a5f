#!/usr/bin/env bash
# Builds everything the suite runs: SQLite's testfixture (from Debian 12's SQLite 3.40.1
# source tree, fetched by fetch-sqlite.sh) with hook.c linked in, and the sqlvault
# loadable extension that hook.c loads. Output in work/build/:
#   testfixture      SQLite's TCL test shell; every open goes through hook.c
#   libsqlvault.so   a copy of the extension (readable by the unprivileged test user)
# Re-running rebuilds only what changed (the extension through cargo, testfixture when
# hook.c or the configure step is newer than it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${SUITE_WORK:-$here/work}
build=$work/build
t0=$(date +%s)

need=()
command -v tclsh8.6 >/dev/null && [ -f /usr/include/tcl8.6/tcl.h ] || need+=(tcl-dev)
command -v gcc >/dev/null && command -v make >/dev/null || need+=(build-essential)
command -v dpkg-source >/dev/null || need+=(dpkg-dev)
dpkg -s libsqlite3-dev >/dev/null 2>&1 || need+=(libsqlite3-dev)   # sqlite3ext.h for the extension
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)       # bindgen for the extension
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "build.sh: please install: ${need[*]}" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q "${need[@]}"
fi

"$here/fetch-sqlite.sh"
src=$work/src/sqlite

echo "== sqlvault loadable extension"
cargo build --release --manifest-path "$repo/extension/Cargo.toml"
ext=${CARGO_TARGET_DIR:-$repo/extension/target}/release/libsqlvault.so
[ -f "$ext" ] || { echo "build.sh: no $ext" >&2; exit 1; }
mkdir -p "$build"
cp -f "$ext" "$build/libsqlvault.so.new" && mv -f "$build/libsqlvault.so.new" "$build/libsqlvault.so"

echo "== testfixture"
cd "$build"
if [ ! -f Makefile ] || [ ! -f .configured ]; then
  "$src/configure" --with-tcl=/usr/lib/tcl8.6 --enable-load-extension > configure.log 2>&1 \
    || { tail -30 configure.log; exit 1; }
  touch .configured
fi
make -s sqlite3.h sqlite3.c > make-amalgamation.log 2>&1 || { tail -30 make-amalgamation.log; exit 1; }
if [ ! -f hook.o ] || [ "$here/hook.c" -nt hook.o ]; then
  gcc -O2 -g -Wall -Wextra -Werror -c -I. -DSQLVAULT_SUITE_EXT_PATH="\"$build/libsqlvault.so\"" \
    "$here/hook.c" -o hook.o
fi
if [ ! -x testfixture ] || [ hook.o -nt testfixture ] || [ .configured -nt testfixture ]; then
  rm -f testfixture
  make testfixture \
    LIBS="$build/hook.o -Wl,--wrap=sqlite3_open_v2 -Wl,--wrap=sqlite3_open -Wl,--wrap=sqlite3_open16" \
    > make-testfixture.log 2>&1 || { tail -30 make-testfixture.log; exit 1; }
fi
# The link really went through the hook (a wrapped open is a defined __wrap_ symbol).
nm testfixture > testfixture.nm
grep -q ' T __wrap_sqlite3_open_v2$' testfixture.nm \
  || { echo "build.sh: testfixture was linked without hook.c" >&2; exit 1; }
echo "build.sh: $build/testfixture ready ($(( $(date +%s) - t0 ))s)"
