#!/usr/bin/env bash
# Installs everything the demo and the tests need, from nothing: a virtual environment at
# .venv with the package (editable) and its test extras; installing the package runs
# `npm install` and the esbuild build in js/ (Node.js and npm must be on the machine).
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
  echo "setup: npm is needed to build the browser modules in js/; installing Node.js" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
# The editable install builds js/ only when the modules are older than their sources: make
# sure a fresh clone has them (and the npm packages for the JS tests).
(cd js && npm install --no-audit --no-fund --loglevel=error && npm run build --silent)
echo "setup: .venv ready ($(.venv/bin/python --version))"
