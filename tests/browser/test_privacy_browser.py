"""Privacy of the running app, enforced: while a real browser uploads photos and streams its (fake) webcam, the
Streamlit server writes no file with image data and talks to nothing but this machine; the page loads nothing
from anywhere else.

How it is checked (see also tests/test_privacy.py for the library-level check):

* the server runs under ``strace -f`` (all threads and children), tracing the syscalls that create or open a
  file for writing, rename/link/mkdir, and connect/sendto/sendmsg/sendmmsg with their destination addresses;
* ``psutil`` polls the server's sockets every 0.2 s: every remote address must be this machine;
* Playwright records every request each page makes: all go to the app's own 127.0.0.1 URL (or data:/blob:).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import psutil
import pytest
from conftest import require_tool
from reliability_support import TraceReport, encode, is_this_machine, strace_available, strace_command

from fer_core.measure.browser import free_port as _free_port
from fer_core.measure.browser import wait_healthy as _wait_healthy

from .app_driver import click_stop, frames_processed, open_page, start_stream
from .faces import astronaut_frame, astronaut_rgb
from .paths import ARTIFACTS, REPO
from .servers import assert_no_tracebacks
from .y4m import write_y4m

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MIN_FRAMES = 10
"""Live frames that must go through the traced server (it is slow under strace on a busy machine)."""
HOME = Path.home()
TEMPFILE_PROBE = re.compile(re.escape(tempfile.gettempdir()) + r"/[a-z0-9_]{8}")
BLOB = re.compile(r"[A-Za-z0-9+/]{200,}={0,2}|(\\x[0-9a-f]{2}){32,}")


def allowed_write(path: str) -> bool:
    """Writes that never hold image data: devices, bytecode and tool caches, tempfile's writability probe."""
    return (
        path in ("/dev/null", "/dev/tty")
        or path.startswith(("/proc/", "/sys/", "/dev/shm/sem."))
        or path.endswith((".pyc", ".pyc.tmp"))
        or "/__pycache__/" in path
        or path.startswith((str(HOME / ".keras"), str(HOME / ".cache" / "matplotlib"), str(HOME / ".config")))
        or TEMPFILE_PROBE.fullmatch(path) is not None
    )


@dataclass
class TracedServer:
    url: str
    pid: int
    trace: Path
    log: Path


class SocketWatcher(threading.Thread):
    """Polls the server process's internet sockets; keeps every remote address seen."""

    def __init__(self, pid: int, every_s: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.every_s = every_s
        self.remote: set[str] = set()
        self.polls = 0
        self.max_sockets = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            with contextlib.suppress(psutil.Error):
                connections = self.process.net_connections(kind="inet")
                self.max_sockets = max(self.max_sockets, len(connections))
                self.remote.update(c.raddr.ip for c in connections if c.raddr)
                self.polls += 1
            self._halt.wait(self.every_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


@pytest.fixture(scope="module")
def traced_server(chromium, tmp_path_factory):
    require_tool("strace", strace_available(), "apt-get install strace (and a kernel that lets it trace)")
    folder = tmp_path_factory.mktemp("traced-server")
    trace, log = folder / "trace.log", ARTIFACTS / "privacy_streamlit.log"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        *strace_command(trace), sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    with log.open("w") as log_file:
        strace = subprocess.Popen(command, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    server = None
    try:
        _wait_healthy(url, strace, log)
        server = next(p for p in psutil.Process(strace.pid).children() if "streamlit" in " ".join(p.cmdline()))
        yield TracedServer(url, server.pid, trace, log)
    finally:
        if server is not None:  # stop the traced server itself (killing strace would only detach it)
            with contextlib.suppress(psutil.Error):
                server.terminate()
                server.wait(timeout=20)
        try:
            strace.wait(timeout=30)
        except subprocess.TimeoutExpired:
            strace.kill()
            strace.wait(timeout=5)
    assert_no_tracebacks(log)


def _big_photo(folder: Path) -> Path:
    """A 1600 x 1600 PNG of the astronaut with sensor-like noise: about 6 MB, well over Starlette's 1 MB spool."""
    photo = cv2.resize(astronaut_rgb(), (1600, 1600), interpolation=cv2.INTER_CUBIC)
    noisy = np.clip(photo.astype(np.int16) + np.random.default_rng(0).integers(-12, 13, photo.shape), 0, 255)
    path = folder / "big-astronaut.png"
    path.write_bytes(encode(noisy.astype(np.uint8), "PNG"))
    return path


def _wait_for_image(page, name: str) -> None:
    page.get_by_test_id("stImageCaption").filter(has_text=name).first.wait_for(timeout=90_000)


def _upload_three_files(page, url: str, directory: Path) -> Path:
    """Upload a small JPEG, a photo over 2 MB and a file that is not an image; returns the big photo's path."""
    small = directory / "astronaut.jpg"
    small.write_bytes(encode(astronaut_rgb(), "JPEG", quality=90))
    big = _big_photo(directory)
    assert big.stat().st_size > 2 * 1024 * 1024
    not_an_image = directory / "holiday.png"
    not_an_image.write_text("not a photo")
    open_page(page, url, "Upload_photo", "Upload a photo")
    dropzone = page.get_by_test_id("stFileUploaderDropzoneInput")
    dropzone.set_input_files(str(small))
    _wait_for_image(page, "astronaut.jpg")
    dropzone.set_input_files(str(big))
    _wait_for_image(page, "big-astronaut.png")
    dropzone.set_input_files(str(not_an_image))
    page.get_by_test_id("stAlertContentError").first.wait_for(timeout=30_000)
    return big


def _stream_until(page, url: str, min_frames: int, timeout_s: float) -> int:
    """Open the live page, start the fake camera and wait for ``min_frames`` processed; returns the count."""
    open_page(page, url, "Live_webcam", "Live webcam")
    start_stream(page, first_frame_timeout_s=40)
    deadline = time.monotonic() + timeout_s
    while frames_processed(page) < min_frames and time.monotonic() < deadline:
        page.wait_for_timeout(500)
    return frames_processed(page)


def test_uploads_and_live_frames_stay_on_this_machine(traced_server, launch, tmp_path, capsys):
    watcher = SocketWatcher(traced_server.pid)
    watcher.start()
    requests: list[str] = []
    media: list = []  # responses of Streamlit's media endpoint (st.image pictures)

    def watch(page) -> None:
        page.on("request", lambda request: requests.append(request.url))
        page.on("response", lambda r: media.append(r) if r.url.startswith(f"{traced_server.url}/media/") else None)

    upload_page = launch()
    watch(upload_page)
    big = _upload_three_files(upload_page, traced_server.url, tmp_path)

    live_page = launch(write_y4m(tmp_path / "face.y4m", [astronaut_frame()] * 30, fps=15))
    watch(live_page)
    frames = _stream_until(live_page, traced_server.url, MIN_FRAMES, timeout_s=90)
    live_page.screenshot(path=str(ARTIFACTS / "privacy_live.png"))
    served = [(r.url.rsplit("/", 1)[-1], r.headers.get("cache-control", "(none)")) for r in media if r.ok]
    with contextlib.suppress(Exception):  # the stream may already have ended; closing the page ends it anyway
        click_stop(live_page)
    live_page.close()
    upload_page.close()
    live_page.wait_for_timeout(1_000) if not live_page.is_closed() else time.sleep(1.0)
    watcher.stop()
    assert frames >= MIN_FRAMES, f"only {frames} frames processed"
    assert watcher.polls > 20

    server_log = traced_server.log.read_text(errors="replace")
    report = TraceReport(traced_server.trace.read_text(errors="replace"))
    leaks = report.written_outside(allowed_write)
    outside_requests = sorted(
        {u for u in requests if not u.startswith((traced_server.url, "data:", "blob:", "about:"))}
    )
    with capsys.disabled():
        print(
            f"\n[privacy] server pid {traced_server.pid}: {frames} live frames, "
            f"3 uploads (one {big.stat().st_size / 2**20:.1f} MB); "
            f"files opened for writing: {sorted({p for p, _ in report.written})}; unnamed temp files in: "
            f"{sorted(set(report.tmpfiles))}; network destinations: {sorted(report.destinations)} "
            f"(non-local: {report.non_local_destinations()}); psutil remote addresses over {watcher.polls} polls: "
            f"{sorted(watcher.remote)}; browser requests: {len(requests)}, outside the app: {outside_requests}; "
            f"st.image pictures served (name, Cache-Control): {served}"
        )
    assert leaks == [], f"the server opened files for writing: {leaks}"
    assert report.tmpfiles == [], f"the server spooled data to unnamed temporary files in {report.tmpfiles}"
    assert report.non_local_destinations() == [], "the server sent data off this machine"
    assert all(is_this_machine(address) for address in watcher.remote), watcher.remote
    assert outside_requests == [], "the page fetched something from outside the app"
    assert not BLOB.search(server_log), "image-like data in the server log"
