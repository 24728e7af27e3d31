"""scripts/run-tests.sh: the tests without a browser run on several processes, the browser tests alone after them."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODULE = "tests/test_loadtest.py"  # two browser tests (the load test drives Chromium), the rest without a browser
BROWSER_TESTS = {
    f"{MODULE}::test_one_viewer_for_8_seconds_reports_fps_and_server_cpu",
    f"{MODULE}::test_interrupted_run_stops_its_browsers_and_server",
}


def run_script(*arguments: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, FER_TEST_WORKERS="2", FER_SKIP_CHROMIUM_INSTALL="1")
    command = ["bash", "scripts/run-tests.sh", "--collect-only", "-q", "-p", "no:cacheprovider", *arguments]
    return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=300)


def collected_runs(output: str) -> list[set[str]]:
    """The test ids each pytest run listed, one set per run (a run's listing ends with 'N/M tests collected')."""
    runs, current = [], set()
    for line in output.splitlines():
        if line.startswith(MODULE + "::"):
            current.add(line.strip())
        elif re.match(r"\d+(/\d+)? tests? collected", line):
            runs.append(current)
            current = set()
    return runs


@functools.cache
def module_tests() -> frozenset[str]:
    """Every test id of the module, as one plain pytest run collects them (no script, no marker); collected once."""
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", MODULE]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    (tests,) = collected_runs(result.stdout)
    assert tests > BROWSER_TESTS, result.stdout[-3000:]  # the browser tests and others
    return frozenset(tests)


def test_the_script_runs_the_browser_tests_after_the_rest_and_apart_from_it():
    result = run_script(MODULE)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    without_browser, browser = collected_runs(result.stdout)
    assert browser == BROWSER_TESTS
    assert without_browser == module_tests() - BROWSER_TESTS
    assert "tests without a browser (2 at once): exit 0; browser tests (one at a time): exit 0" in result.stdout


def test_a_marker_of_your_own_gives_one_run_as_asked():
    result = run_script("-m", "not browser", MODULE)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (only,) = collected_runs(result.stdout)
    assert only == module_tests() - BROWSER_TESTS
    assert "run-tests.sh:" not in result.stdout


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_a_browser_test_beside_other_tests_fails_under_ci_and_skips_otherwise(ci, outcome):
    test = sorted(BROWSER_TESTS)[0]
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-n", "2", test]
    result = subprocess.run(command, cwd=REPO, env=dict(os.environ, CI=ci), capture_output=True, text=True, timeout=300)
    assert result.returncode == (1 if ci else 0), result.stdout[-3000:]
    assert outcome in result.stdout.splitlines()[-1], result.stdout[-3000:]
    assert "a browser test on one of 2 pytest-xdist processes: run it alone" in result.stdout
