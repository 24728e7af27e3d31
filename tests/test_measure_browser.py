"""fer_core.measure.browser: ``server_tracebacks`` (the browser tests fail when the app server logged a traceback)
and ``stop_process_group`` (a stopped server leaves nothing of its process group running)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from conftest import process_running

from fer_core.measure.browser import server_tracebacks, stop_process_group

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


def _group_with_grandchildren(script: str) -> tuple[subprocess.Popen, list[int]]:
    """``bash -c script`` in a new session, once its two background ``sleep`` grandchildren are up, and their ids."""
    process = subprocess.Popen(["bash", "-c", script], start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        grandchildren = [
            child.pid for child in psutil.Process(process.pid).children() if child.cmdline() == ["sleep", "60"]
        ]
        if len(grandchildren) == 2:
            return process, grandchildren
        time.sleep(0.05)
    process.kill()
    raise AssertionError("the test's process group did not start its two sleeps")


def test_stop_process_group_stops_the_process_and_what_it_started():
    process, grandchildren = _group_with_grandchildren("sleep 60 & sleep 60 & wait")
    stop_process_group(process, timeout_s=5)
    assert process.returncode == -signal.SIGTERM
    time.sleep(0.2)  # the orphaned sleeps are reaped by init
    assert not [pid for pid in grandchildren if process_running(pid)], "the group's grandchildren are still running"


def test_stop_process_group_kills_a_process_that_ignores_sigterm():
    process, grandchildren = _group_with_grandchildren("trap '' TERM; sleep 60 & sleep 60 & wait")
    started = time.monotonic()
    stop_process_group(process, timeout_s=0.5)
    assert process.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 5
    time.sleep(0.2)
    assert not [pid for pid in grandchildren if process_running(pid)]


def test_stop_process_group_leaves_an_ended_process_alone():
    process = subprocess.Popen(["true"], start_new_session=True)
    process.wait(timeout=10)
    stop_process_group(process)  # no error for a group that is gone
    assert process.returncode == 0
