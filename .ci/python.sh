#!/usr/bin/env bash
# The Python package from a fresh virtual environment: `pip install .` (maturin builds
# crates/rewind-py in release), then the pytest suite (python/tests, which compares with the
# `rewind` binary) and the teaching notebook executed headless (nbclient); any failure fails.
# Usage: bash .ci/python.sh [VENV_DIR]   (default: a temporary directory, removed at the end)
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${1:-}
if [[ -z $venv ]]; then
  venv=$(mktemp -d)
  trap 'rm -rf "$venv"' EXIT
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet .
"$venv/bin/python" -m pip install --quiet pytest numpy pandas matplotlib nbclient nbformat ipykernel

# The tests compare the package's reports with the command line's.
cargo build --locked --quiet -p rewind-cli
export REWIND_BIN=$PWD/target/debug/rewind

# Run from python/tests so that the installed package, not the source tree, is imported.
(cd python/tests && "$venv/bin/python" -m pytest -q -p no:cacheprovider .)

"$venv/bin/python" - examples/notebooks/rewind.ipynb <<'PY'
import sys
import nbformat
from nbclient import NotebookClient

path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
# Raises CellExecutionError, with the failing cell and its traceback, if any cell fails.
NotebookClient(nb, timeout=900, kernel_name="python3").execute()
print(f"{path}: {sum(c.cell_type == 'code' for c in nb.cells)} code cells ran")
PY
