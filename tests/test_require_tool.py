"""conftest.require_tool: a missing test tool skips the test locally and fails it under CI=true."""

from __future__ import annotations

import pytest
from conftest import require_tool

pytest_plugins = ["pytester"]


def test_a_found_tool_neither_skips_nor_fails(monkeypatch):
    for ci in ("true", ""):
        monkeypatch.setenv("CI", ci)
        require_tool("strace", True, "apt-get install strace")


def test_a_missing_tool_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="strace is missing: apt-get install strace"):
        require_tool("strace", False, "apt-get install strace")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        require_tool("strace", False, "apt-get install strace")


def test_a_missing_tool_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"Chromium is missing: apt-get .*CI=true") as failure:
        require_tool("Chromium", False, "apt-get install chromium")
    assert not isinstance(failure.value, pytest.skip.Exception)


def test_through_pytest_a_missing_tool_is_a_skip_locally_and_a_failure_in_ci(pytester, monkeypatch):
    """The outcome pytest reports, end to end: the same test is skipped without CI and failed with CI=true."""
    pytester.makepyfile(
        test_needs_a_browser="""
        from conftest import require_tool

        def test_browser():
            require_tool("Chromium", False, "apt-get install chromium")
        """
    )
    monkeypatch.delenv("CI", raising=False)
    pytester.runpytest("-p", "no:cacheprovider", "-rs").assert_outcomes(skipped=1)
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Chromium is missing: apt-get install chromium (CI=true*"])
