#!/usr/bin/env bash
# Fetches Debian 12's sqlite3 source package (the full SQLite tree, test/ included) into
# work/src, through a private apt configuration in work/apt: the system's apt sources,
# lists and caches are not touched. apt-get verifies the Release signature against
# Debian's archive keyring and the .dsc/.orig checksums (dpkg-source checks them again).
# Idempotent: does nothing when work/src/.fetched exists.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${SUITE_WORK:-$here/work}
src=$work/src
[ -f "$src/.fetched" ] && { echo "sqlite source: cached in $src"; exit 0; }

command -v dpkg-source >/dev/null || { apt-get update -q && apt-get install -y -q dpkg-dev; }
apt=$work/apt
rm -rf "$apt" "$src"
mkdir -p "$apt/sources.list.d" "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/preferences.d" "$src"
cat > "$apt/sources.list" <<SRC
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
SRC
opts=(-o Dir::Etc::SourceList="$apt/sources.list"
      -o Dir::Etc::SourceParts="$apt/sources.list.d"
      -o Dir::Etc::Preferences="$apt/preferences"
      -o Dir::Etc::PreferencesParts="$apt/preferences.d"
      -o Dir::State::Lists="$apt/lists"
      -o Dir::Cache="$apt/cache"
      -o Dir::State::status=/var/lib/dpkg/status
      -o APT::Sandbox::User="$(id -un)"
      -o Debug::NoLocking=1)
apt-get "${opts[@]}" -q update
( cd "$src" && apt-get "${opts[@]}" -q source sqlite3 )
tree=$(find "$src" -maxdepth 1 -mindepth 1 -type d -name 'sqlite3-*' | head -1)
[ -n "$tree" ] && [ -f "$tree/src/tclsqlite.c" ] && [ -d "$tree/test" ] \
  || { echo "fetch-sqlite: no SQLite tree with src/ and test/ under $src" >&2; exit 1; }
# The loadable extension is built against the system's sqlite3ext.h (3.40 on Debian 12):
# the tree must be that release.
grep -qx "${SQLITE_VERSION:-3.40.1}" "$tree/VERSION" \
  || { echo "fetch-sqlite: $tree is SQLite $(cat "$tree/VERSION"), expected ${SQLITE_VERSION:-3.40.1}" >&2; exit 1; }
ln -sfn "$(basename "$tree")" "$src/sqlite"
touch "$src/.fetched"
echo "sqlite source: $tree"
