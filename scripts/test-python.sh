#!/usr/bin/env bash
# Builds the Python package (python/) into a virtual environment and runs its pytest suite.
# Needs /usr/bin/python3 with venv support (Debian: python3-venv, installed here if missing)
# and the Rust toolchain; maturin, pytest, pytest-asyncio and pytest-timeout come from PyPI.
#
#   scripts/test-python.sh [PYTEST ARGS...]
#
# The venv lives in target/python-venv (SQLVAULT_PY_VENV overrides it). The extension is a
# debug build (`maturin develop`; the KDFs are optimised even there, see python/Cargo.toml),
# which compiles faster than the release build `pip install ./python` makes.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(realpath -m "${SQLVAULT_PY_VENV:-target/python-venv}")
py=/usr/bin/python3

if ! "$py" -c "import ensurepip, venv" 2>/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q python3-venv
fi
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
"$venv/bin/pip" install -q "maturin>=1.5,<2" "pytest>=7" "pytest-asyncio>=0.23" "pytest-timeout>=2"

cd python
VIRTUAL_ENV="$venv" "$venv/bin/maturin" develop --quiet
exec "$venv/bin/python" -m pytest -q "$@"
