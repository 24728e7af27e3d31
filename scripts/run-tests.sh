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
# nginx and openssl: the two-worker deployment test (tests/browser/test_two_workers.py, deploy/nginx.conf);
# coturn: the relay-only viewer (tests/browser/test_turn_browser.py, deploy/turnserver.conf).
# nodejs and npm: the on-device mode's browser runtimes (tests/browser/test_on_device_browser.py runs
# python -m fer_core.sessions.on_device.build, which runs npm ci).
if { [ ! -x /usr/lib/chromium/chromium ] || ! command -v strace >/dev/null || ! [ -x /usr/sbin/nginx ] \
     || ! command -v openssl >/dev/null || ! [ -x /usr/bin/turnserver ] || ! command -v npm >/dev/null; } \
   && [ "${FER_SKIP_CHROMIUM_INSTALL:-0}" != 1 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver strace \
    nginx-light openssl coturn nodejs npm
fi
mkdir -p artifacts
# pytest exits 5 when it collects no tests: with `set -e` that fails this script, as it should.
exec .venv/bin/python -m pytest "$@"
