"""The app server for browser tests: :func:`fer_core.measure.browser.app_server`, and no tracebacks in its log."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from fer_core.measure.browser import AppServer, app_server, server_tracebacks


def assert_no_tracebacks(log: Path) -> None:
    """Fail if the app server writing ``log`` logged a traceback (a script run that raised shows it on the page,
    and the run's widgets, the webcam player among them, are lost)."""
    tracebacks = server_tracebacks(log)
    assert not tracebacks, f"the app server logged {len(tracebacks)} traceback(s), see {log}: {tracebacks[:3]}"


@contextlib.contextmanager
def checked_app_server(log: Path, **kwargs) -> Iterator[AppServer]:
    """``app_server(log, **kwargs)``; once it stopped, :func:`assert_no_tracebacks`."""
    with app_server(log, **kwargs) as server:
        yield server
    assert_no_tracebacks(log)
