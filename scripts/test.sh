#!/usr/bin/env bash
# The test command: every crate's unit, integration and doc tests (the loadable-extension
# tests build extension/ themselves; they need the `sqlite3` shell and /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace "$@"
