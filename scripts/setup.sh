#!/usr/bin/env bash
# Installs everything the demo and the tests need, from nothing: a virtual environment at
# .venv with the package (editable) and its test extras; installing the package runs
# `npm install` and the esbuild build in js/ (Node.js and npm must be on the machine).
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: Node.js/npm (the JS build), Chromium (the browser tests drive
# /usr/bin/chromium with Playwright; `playwright install` cannot download here), Redis.
missing=()
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# redis-server: the Redis backend's tests start their own on a free loopback port.
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
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
