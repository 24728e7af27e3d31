#!/usr/bin/env bash
# Set up a virtual environment (once) and start the app on the shipped model: http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
# TensorFlow's C++ logs off (app.py sets the same default); TF_CPP_MIN_LOG_LEVEL=0 scripts/run-app.sh shows them
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
exec .venv/bin/python -m streamlit run app.py --browser.gatherUsageStats false "$@"
