#!/usr/bin/env bash
# Set up a virtual environment (once) and start the app on the shipped model: http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
# The live page's on-device mode needs its browser runtimes from npm (OpenCV.js, LiteRT.js): built once, and again
# when the model changes; without npm the app runs and that mode says how to build it.
if ! .venv/bin/python -c "import sys; from fer_core.sessions.on_device.manifest import check_build; sys.exit(not check_build().usable)" 2>/dev/null; then
  if command -v npm >/dev/null; then
    .venv/bin/python -m fer_core.sessions.on_device.build || echo "on-device mode not built (see above); the app runs without it" >&2
  else
    echo "npm not found: the live page's on-device mode stays off (install Node.js and npm, then run scripts/run-app.sh again)" >&2
  fi
fi
# TensorFlow's C++ logs off (app.py sets the same default); TF_CPP_MIN_LOG_LEVEL=0 scripts/run-app.sh shows them
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
exec .venv/bin/python -m streamlit run app.py --browser.gatherUsageStats false "$@"
