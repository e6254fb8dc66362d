#!/usr/bin/env bash
# Installs everything the demo and the tests need, from nothing: a virtual environment at
# .venv with the package (editable) and its test extras. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
echo "setup: .venv ready ($(.venv/bin/python --version))"
