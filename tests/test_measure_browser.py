"""fer_core.measure.browser.server_tracebacks: the browser tests fail when the app server logged a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fer_core.measure.browser import server_tracebacks

STREAMLIT_LOG = Path(__file__).parent / "fixtures" / "server_logs" / "streamlit_script_error.log"
"""A real app server log: Streamlit's boxed (Rich, coloured) traceback of a script run that raised."""


def test_streamlit_boxed_traceback_is_found_with_its_exception_line():
    assert server_tracebacks(STREAMLIT_LOG) == [
        "SystemError: AST constructor recursion depth mismatch (before=39, after=35)"
    ]


def test_a_plain_python_traceback_among_log_lines_is_found(tmp_path):
    script = "import logging; logging.basicConfig(); logging.getLogger('app').warning('ready'); raise KeyError('frame')"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    log = tmp_path / "server.log"
    log.write_text("2026-11-28 10:00:00 Uvicorn server started\n" + run.stderr + "  Stopping...\n")
    assert server_tracebacks(log) == ["KeyError: 'frame'"]


def test_a_clean_start_and_a_cut_off_traceback(tmp_path):
    lines = STREAMLIT_LOG.read_text().splitlines()
    clean, cut = tmp_path / "clean.log", tmp_path / "cut.log"
    clean.write_text("\n".join(lines[:4]) + "\n  Stopping...\n")
    assert server_tracebacks(clean) == []
    cut.write_text("\n".join(line for line in lines if "SystemError" not in line) + "\n")
    assert server_tracebacks(cut) == ["(a traceback without an exception line)"]
