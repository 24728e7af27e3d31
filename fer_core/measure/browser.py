"""Run the app and headless Chromium viewers on this machine: shared by the browser tests and the load test.

Facts behind the flags are in shared/docs/browser-testing.md: Debian's Chromium (never Playwright's own download),
kept offline and quiet, with a fake webcam that plays a .y4m clip (:mod:`fer_core.measure.y4m`); the app is
``streamlit run app.py`` on a free port of 127.0.0.1, ready when ``/_stcore/health`` says ``ok``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("FER_CHROMIUM", "/usr/lib/chromium/chromium"))
"""The real Chromium binary of Debian's ``chromium`` package (``/usr/bin/chromium`` is a wrapper script)."""
CHROMIUM_HINT = "apt-get install -y --no-install-recommends chromium chromium-driver"
SERVER_START_TIMEOUT_S = 90.0

# Chromium keeps only the last --disable-features switch, and Playwright passes its own: repeat Playwright's
# list (playwright-core chromiumSwitches.ts) and add WebRtcHideLocalIpsWithMdns (no mDNS multicast).
_DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync,DestroyProfileOnBrowserClose,HttpsUpgrades,"
    "HttpsFirstBalancedModeAutoEnable,LensOverlay,MediaRouter,PaintHolding,ThirdPartyStoragePartitioning,"
    "AvoidCorsURLLoaderRestartOnRedirect,TcpPortRandomizationWin,OptimizationHints,NetworkTimeServiceQuerying,"
    "AimEnabled,PreconnectToSearch,msForceBrowserSignIn,msEdgeUpdateLaunchServicesPreferredVersion,"
    "WebRtcHideLocalIpsWithMdns"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    f"--disable-features={_DISABLED_FEATURES}",
]
"""Offline, quiet headless Chromium (no Google look-ups, no mDNS)."""


def fake_camera_args(clip: Path) -> list[str]:
    """Chromium flags for a fake webcam that plays ``clip`` (a .y4m file, looped) with no permission prompt."""
    return [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}",
    ]


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free right now."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout_s: float = SERVER_START_TIMEOUT_S) -> None:
    """Wait until ``url/_stcore/health`` answers ``ok``; ``RuntimeError`` (with the log's tail) if it never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    tail = log.read_text()[-3000:]
    raise RuntimeError(f"streamlit did not become healthy in {timeout_s:.0f} s:\n{tail}")


def streamlit_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip


@dataclass(frozen=True)
class AppServer:
    """A running ``streamlit run app.py``: its URL, process id and log file."""

    url: str
    pid: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""


def stop_process_group(process: subprocess.Popen, timeout_s: float = 15.0) -> None:
    """Terminate ``process`` and everything in its process group (it was started with ``start_new_session``)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@contextlib.contextmanager
def app_server(
    log: Path, *, env: Mapping[str, str] | None = None, timeout_s: float = SERVER_START_TIMEOUT_S
) -> Iterator[AppServer]:
    """Start the app on a free port of 127.0.0.1 (in its own process group), wait until healthy, stop it after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    environment = dict(os.environ if env is None else env, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    with log.open("w") as log_file:
        process = subprocess.Popen(
            streamlit_command(port), cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT, env=environment,
            start_new_session=True,
        )  # fmt: skip
    logger.info("app server pid %d on %s (log %s)", process.pid, url, log)
    try:
        wait_healthy(url, process, log, timeout_s)
        yield AppServer(url, process.pid, log)
    finally:
        stop_process_group(process)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXCEPTION_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)(?::.*)?)$")


def server_tracebacks(log: Path) -> list[str]:
    """The exception line of each traceback the app server wrote to ``log`` (Streamlit's boxed ones and plain ones).

    A script run that raises shows a traceback on the page: the browser tests and the load test require none.
    """
    tracebacks: list[str] = []
    inside = False
    for raw in log.read_text(errors="replace").splitlines():
        line = _ANSI.sub("", raw)
        if "Traceback (most recent call last)" in line:
            if inside:
                tracebacks.append("(a traceback without an exception line)")
            inside = True
        elif inside and (match := _EXCEPTION_LINE.match(line)):
            tracebacks.append(match.group(1).strip())
            inside = False
    if inside:
        tracebacks.append("(a traceback without an exception line)")
    return tracebacks


def nice_chromium_wrapper(directory: Path, chromium: Path = CHROMIUM) -> Path:
    """A wrapper script that starts Chromium at the lowest CPU priority and keeps it there.

    Run as root, Chromium raises the priority of its browser and GPU processes (nice -8) and of foreground
    renderers (nice 0) even when started under ``nice``; on a shared machine that would slow other work. The
    wrapper drops CAP_SYS_NICE (where ``setpriv`` exists) so Chromium cannot undo ``nice -n 19``.
    """
    setpriv = shutil.which("setpriv")
    drop = f"{setpriv} --inh-caps=-sys_nice --bounding-set=-sys_nice " if setpriv and os.geteuid() == 0 else ""
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / "chromium-nice"
    wrapper.write_text(f'#!/bin/sh\nexec {drop}nice -n 19 "{chromium}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def playwright_available() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True
