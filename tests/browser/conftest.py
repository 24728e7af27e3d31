"""Fixtures for the browser tests: a real ``streamlit run app.py`` server and Debian's Chromium via Playwright.

Chromium is launched offline and quiet (flags from shared/docs/browser-testing.md) and, where a test asks for
it, with a fake webcam that plays a .y4m clip. Tests are skipped with a reason when Chromium or Playwright is
missing, and fail instead under ``CI=true`` (``conftest.require_tool``). Server logs and screenshots go to
``artifacts/browser/`` (gitignored).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import require_tool

from fer_core.measure.browser import (
    CHROMIUM_ARGS,
    AppServer,
    fake_camera_args,
    nice_chromium_wrapper,
)

from .paths import ARTIFACTS, CHROMIUM
from .servers import checked_app_server


@pytest.fixture(autouse=True)
def _marked_browser(request: pytest.FixtureRequest) -> None:
    """Every test here carries the ``browser`` mark, so that scripts/run-tests.sh runs it alone (tests/conftest.py)."""
    if request.node.get_closest_marker("browser") is None:
        pytest.fail(f"{request.node.nodeid} needs pytestmark = pytest.mark.browser", pytrace=False)


@pytest.fixture(scope="session")
def chromium() -> Path:
    require_tool(
        "Chromium",
        CHROMIUM.is_file(),
        f"not found at {CHROMIUM}: apt-get install -y --no-install-recommends chromium chromium-driver",
    )
    try:
        import playwright.sync_api  # noqa: F401

        has_playwright = True
    except ImportError:
        has_playwright = False
    require_tool(
        "playwright",
        has_playwright,
        "the Python package is not installed (pip install -r requirements-dev.txt; no browser download)",
    )
    return CHROMIUM


@pytest.fixture(scope="session")
def server(chromium: Path) -> Iterator[AppServer]:
    """``streamlit run app.py`` on a free port of 127.0.0.1, for the whole test session (the load test's helper)."""
    with checked_app_server(ARTIFACTS / "streamlit-session.log") as running:
        yield running


@pytest.fixture(scope="session")
def chromium_launcher(chromium: Path, tmp_path_factory) -> Path:
    """A wrapper that starts Chromium at the lowest CPU priority and keeps it there.

    Run as root, Chromium raises the priority of its browser and GPU processes (nice -8) and of foreground
    renderers (nice 0) even when started under ``nice``; on a shared machine that would slow other work. The
    wrapper drops CAP_SYS_NICE (where ``setpriv`` exists) so Chromium cannot undo ``nice -n 19``.
    """
    return nice_chromium_wrapper(tmp_path_factory.mktemp("chromium"), chromium)


@pytest.fixture(scope="session")
def playwright_instance(chromium: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.failed_in_call = report.failed
    return report


@pytest.fixture
def launch(request, playwright_instance, chromium_launcher: Path) -> Iterator[Callable[..., object]]:
    """``launch(clip=None)`` -> a Playwright page in a fresh headless Chromium (with a fake camera for a clip).

    When the test fails, each page it opened is saved to ``artifacts/browser/failed-<test>-<n>.png``.
    """
    browsers = []
    pages = []

    def _launch(clip: Path | None = None, *, width: int = 1400, height: int = 1000):
        args = CHROMIUM_ARGS + (fake_camera_args(clip) if clip is not None else [])
        browser = playwright_instance.chromium.launch(executable_path=str(chromium_launcher), args=args, headless=True)
        browsers.append(browser)
        context = browser.new_context(viewport={"width": width, "height": height})
        if clip is not None:
            context.grant_permissions(["camera"])
        page = context.new_page()
        page.set_default_timeout(30_000)
        pages.append(page)
        return page

    yield _launch
    if getattr(request.node, "failed_in_call", False):
        for index, page in enumerate(pages):
            with contextlib.suppress(Exception):
                page.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}-{index}.png"))
    for browser in browsers:
        with contextlib.suppress(Exception):
            browser.close()
