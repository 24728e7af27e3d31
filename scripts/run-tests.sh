#!/usr/bin/env bash
# Set up a virtual environment with the test tools, install Debian's Chromium for the browser tests if it is
# missing, and run the whole test suite. Extra arguments go to pytest (e.g. -k upload, -m "not browser").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
# Debian packages the tests use, installed only where missing (a Node.js already there, e.g. NodeSource's, brings
# its own npm and conflicts with Debian's npm package):
# chromium and strace: the browser and privacy tests; nginx-light and openssl: the two-worker deployment test
# (tests/browser/test_two_workers.py, deploy/nginx.conf); coturn: the relay-only viewer (tests/browser/
# test_turn_browser.py, deploy/turnserver.conf); nodejs and npm: the on-device mode's browser runtimes
# (tests/browser/test_on_device_browser.py runs python -m fer_core.sessions.on_device.build, which runs npm ci).
missing=()
[ -x /usr/lib/chromium/chromium ] || missing+=(chromium chromium-driver)
command -v strace >/dev/null || missing+=(strace)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v openssl >/dev/null || missing+=(openssl)
[ -x /usr/bin/turnserver ] || missing+=(coturn)
command -v npm >/dev/null || missing+=(nodejs npm)
if [ "${#missing[@]}" -gt 0 ] && [ "${FER_SKIP_CHROMIUM_INSTALL:-0}" != 1 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
mkdir -p artifacts
# Two phases: the tests that need no browser on several processes at once (pytest-xdist, one per core, at most 4),
# then the browser tests (marked `browser`) one at a time, as they measure frame rates that a busy CPU would lower.
# Your arguments go to both phases. With a -m of your own, or FER_TEST_WORKERS=0, it is one pytest run as you asked.
workers=${FER_TEST_WORKERS:-$(nproc)}
[ "$workers" -gt 4 ] && workers=4
own_marker=0
for argument in "$@"; do
  case "$argument" in -m*) own_marker=1 ;; esac
done
if [ "$workers" -lt 2 ] || [ "$own_marker" = 1 ]; then
  # pytest exits 5 when it collects no tests: with `set -e` that fails this script, as it should.
  exec .venv/bin/python -m pytest "$@"
fi
set +e
.venv/bin/python -m pytest -n "$workers" -m "not browser" "$@"
first=$?
.venv/bin/python -m pytest -m browser "$@"
second=$?
set -e
echo "run-tests.sh: tests without a browser ($workers at once): exit $first; browser tests (one at a time): exit $second"
# Exit 5 (no tests collected) in one phase is fine when the other ran tests (e.g. -k upload); in both, it fails.
if [ "$first" = 5 ] && [ "$second" = 5 ]; then exit 5; fi
for code in "$first" "$second"; do
  if [ "$code" != 0 ] && [ "$code" != 5 ]; then exit "$code"; fi
done
