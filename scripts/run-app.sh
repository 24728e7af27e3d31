#!/usr/bin/env bash
# Set up a virtual environment (once) and start the app on the shipped model: http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
exec .venv/bin/python -m streamlit run app.py --browser.gatherUsageStats false "$@"
