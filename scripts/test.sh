#!/usr/bin/env bash
# Install everything the tests need, then run the whole suite (Python + front end + browser).
# Usable on a fresh machine (Debian, Python 3.9+, Node 20): see README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium >/dev/null
fi

# torch first, pinned, so no resolver ever pulls a CUDA build.
python -m pip install -q torch==2.13.0
npm ci --no-audit --no-fund
npm run build
python -m pip install -q -e ".[test]"

ruff check .
npm run typecheck
npm test
python -m pytest "$@"
