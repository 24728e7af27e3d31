"""Load test of the live webcam page: N headless Chromium viewers with a fake camera stream to one app server.

``python -m fer_core loadtest --viewers 3 --seconds 15`` starts the app on a free port of 127.0.0.1 (or uses the
one at ``--url``, loopback only), opens N viewers (Debian's Chromium, each its own browser process at the lowest
CPU priority, with a fake webcam playing a clip of a face), presses START on each live page and then watches all
of them at once for ``--seconds``. Per viewer it reports what the page itself shows: processed frames per second
(from the "Frames processed" counter), the overlay lag (mean and p95, from the speed caption), frames skipped
while busy, and, from the browser's WebRTC statistics, the frames the browser sent (so frames sent but never
analysed count as dropped), the size and rate it sent at and why it lowered them (``cpu``/``bandwidth``).
For the server it reports the CPU it used (cores: CPU seconds of the server process and its children over the
window, per second of wall time) and its memory (RSS), sampled with psutil.

``--processing device`` opens the page with ``?processing=device``: each viewer's browser analyses its own camera
(OpenCV.js + LiteRT.js, :mod:`fer_core.sessions.on_device`) and sends only results, so the server's CPU is what
taking in those results costs; the WebRTC columns stay empty then.

A viewer the app turns away (the live service is full) is reported as ``full``, not as a failure; a viewer that
never got a processed frame without that message is ``starved`` and makes the command exit with 1. So does a
traceback in the log of a server the load test started (a script run that raised shows one on the page): the
report lists each one's exception line.

Bounded: a hard timeout (``--timeout``, by default enough for the start-up plus the window) ends the run, and
the browsers and the server it started are stopped on every exit: success, error, timeout, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import os
import signal
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_STARVED, EXIT_ERROR = 0, 1, 2
LIVE_PATH, LIVE_TITLE = "Live_webcam", "Live webcam"
PROCESSING = ("server", "device")
MAX_VIEWERS = 16
VIEWER_START_S = 60.0
"""Longest time one viewer may take from opening the page to its first processed frame (retries included)."""

# Collects the page's RTCPeerConnections (in the streamlit-webrtc iframe) so their getStats() can be read.
# Wrapping a prototype method leaves the constructor (and webrtc-adapter's shims) untouched.
_INIT_SCRIPT = """
(() => {
  const proto = window.RTCPeerConnection && window.RTCPeerConnection.prototype;
  if (!proto || proto.__ferWrapped) return;
  proto.__ferWrapped = true;
  const createOffer = proto.createOffer;
  proto.createOffer = function (...args) {
    (window.__ferPeerConnections = window.__ferPeerConnections || []).push(this);
    return createOffer.apply(this, args);
  };
})();
"""

_STATS_SCRIPT = """
async () => {
  const pcs = window.__ferPeerConnections || [];
  const pc = pcs[pcs.length - 1];
  if (!pc) return null;
  const out = {state: pc.connectionState};
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'outbound-rtp' && s.kind === 'video') {
      out.frames_sent = s.framesSent; out.frames_encoded = s.framesEncoded;
      out.width = s.frameWidth; out.height = s.frameHeight; out.fps = s.framesPerSecond;
      out.quality_limitation = s.qualityLimitationReason;
    } else if (s.type === 'inbound-rtp' && s.kind === 'video') {
      out.frames_back = s.framesDecoded;
    }
  });
  return out;
}
"""


class LoadTestError(RuntimeError):
    """The load test could not run (bad arguments, a missing tool, the server did not start)."""


class LoadTestTimeout(LoadTestError):
    """The hard time limit ran out."""


# --- arguments ---------------------------------------------------------------------------------------------------
def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 640x480, got {text!r}") from None
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"size must be even and at least 64x64, got {text!r}")
    return width, height


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--viewers", type=_bounded_int(1, MAX_VIEWERS), default=1, metavar="N", help="viewers (1)")
    parser.add_argument(
        "--seconds", type=_positive_float, default=15.0, metavar="S", help="measured streaming time (15)"
    )
    parser.add_argument(
        "--url",
        default=None,
        help="a running app on loopback, e.g. http://127.0.0.1:8501 (default: start one on a free port)",
    )
    parser.add_argument("--fps", type=_bounded_int(1, 60), default=30, help="the fake camera's frame rate (30)")
    parser.add_argument("--size", type=_size, default=(640, 480), metavar="WxH", help="the fake camera (640x480)")
    parser.add_argument(
        "--lean", action="store_true", help="switch the page's 'Send video back' off before START (lean mode)"
    )
    parser.add_argument(
        "--max-streams", type=_bounded_int(1, 1000), default=None, metavar="K",
        help="FER_MAX_STREAMS for the started app (default: the app's own capacity)",
    )  # fmt: skip
    parser.add_argument(
        "--server-env", type=_env_pair, action="append", default=[], metavar="KEY=VALUE",
        help="an environment variable for the started app, e.g. FER_STREAM_FPS=30 (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--warmup", type=float, default=4.0, metavar="S", help="seconds after the last START before measuring (4)"
    )
    parser.add_argument(
        "--timeout", type=_positive_float, default=None, metavar="S",
        help="hard limit for the whole run (default: 90 + 60 per viewer + warmup + seconds + 30)",
    )  # fmt: skip
    parser.add_argument(
        "--processing", choices=PROCESSING, default="server",
        help="where the faces are analysed: on the app server over WebRTC (server), or in each viewer's browser "
        "(device: the live page's ?processing=device; needs python -m fer_core.sessions.on_device.build)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def loopback_url(url: str) -> str:
    """``url`` without a trailing slash if its host is a loopback address; ``LoadTestError`` otherwise."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise LoadTestError(f"--url must be an http(s) URL with a host, got {url!r}")
    host = parsed.hostname
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise LoadTestError(f"--url must point at this machine's loopback (127.0.0.1, ::1, localhost), got {host}")
    return url.rstrip("/")


# --- measurements ------------------------------------------------------------------------------------------------
@dataclass
class ViewerResult:
    """One viewer's figures over the measured window (``None`` where the page or browser did not show one)."""

    viewer: int
    status: str = "starting"
    """``streaming``; ``full`` (the app turned it away with its message); ``starved`` (no frame); ``error``."""
    start_retries: int = 0
    seconds_to_first_frame: float | None = None
    fps: float | None = None
    """Processed frames per second over the window, from the page's "Frames processed" counter."""
    fps_shown: float | None = None
    lag_ms: float | None = None
    lag_ms_p95: float | None = None
    process_ms: float | None = None
    frames_processed: int | None = None
    frames_sent: int | None = None
    """Video frames the browser sent over the window (its WebRTC outbound statistics)."""
    frames_dropped: int | None = None
    """Frames sent but not analysed: ``frames_sent - frames_processed``."""
    skipped_busy: int | None = None
    sent_size: str | None = None
    sent_fps: float | None = None
    quality_limitation: str | None = None
    fps_back: float | None = None
    """Frames per second of the video the server sent back, as the browser decoded them (``None`` in lean mode)."""
    error: str | None = None


@dataclass
class _Snapshot:
    at: float
    frames: int
    browser: dict[str, Any] | None


@dataclass
class ProcessSampler:
    """CPU and memory of one process and its children (psutil), between :meth:`start` and :meth:`stop`."""

    pid: int
    _times: dict[int, float] = field(default_factory=dict)
    _started: float = 0.0
    rss_samples: list[float] = field(default_factory=list)

    def _processes(self):
        import psutil

        root = psutil.Process(self.pid)
        with contextlib.suppress(psutil.Error):
            return [root, *root.children(recursive=True)]
        return [root]

    def _cpu_seconds(self) -> dict[int, float]:
        import psutil

        seconds = {}
        for process in self._processes():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                seconds[process.pid] = times.user + times.system
        return seconds

    def sample_rss(self) -> None:
        import psutil

        total = 0
        for process in self._processes():
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        self.rss_samples.append(total / 2**20)

    def start(self) -> None:
        self._times, self._started = self._cpu_seconds(), time.monotonic()
        self.sample_rss()

    def stop(self) -> dict[str, float | None]:
        now, elapsed = self._cpu_seconds(), time.monotonic() - self._started
        self.sample_rss()
        # Processes that appeared during the window count from zero; ones that ended are lost (none expected).
        used = sum(seconds - self._times.get(pid, 0.0) for pid, seconds in now.items())
        return {
            "cpu_cores": round(used / elapsed, 3) if elapsed > 0 else None,
            "rss_mb": round(statistics.fmean(self.rss_samples), 1),
            "rss_mb_peak": round(max(self.rss_samples), 1),
        }


def _pid_listening_on(port: int) -> int | None:
    import psutil

    with contextlib.suppress(psutil.Error, OSError):
        for connection in psutil.net_connections(kind="tcp"):
            if connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr.port == port:
                return connection.pid
    return None


def _own_chromium_sampler() -> list[int]:
    """Process ids of the Chromium processes this process started (through Playwright's driver)."""
    import psutil

    pids = []
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "chrom" in child.name().lower():
                    pids.append(child.pid)
    return pids


def _chromium_cpu_seconds(pids: Sequence[int]) -> dict[int, float]:
    import psutil

    seconds = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            seconds[pid] = times.user + times.system
    return seconds


def face_clip(path: Path, size: tuple[int, int], fps: int, seconds: float = 2.0) -> Path:
    """A looping .y4m clip of a real face (the astronaut, letterboxed), drifting a few pixels like a held camera.

    The drift keeps the video encoder working as it would on a real webcam (a still image costs it almost
    nothing), while the face stays well inside the frame.
    """
    import cv2

    from fer_core.measure.sample_frames import letterboxed, one_face_frame
    from fer_core.measure.y4m import write_y4m

    base = letterboxed(one_face_frame(), size).image[:, :, ::-1]  # RGB -> BGR
    count = max(2, round(fps * seconds))
    amplitude = max(2, size[0] // 80)
    frames = []
    for index in range(count):
        phase = 2 * np.pi * index / count
        shift = np.float32([[1, 0, amplitude * np.sin(phase)], [0, 1, amplitude * np.sin(2 * phase) / 2]])
        frames.append(cv2.warpAffine(base, shift, size, borderMode=cv2.BORDER_REPLICATE))
    return write_y4m(path, frames, fps=fps)


# --- driving the viewers -----------------------------------------------------------------------------------------
def _full_message(page):
    from fer_core.sessions.admission import FULL_MESSAGE

    return page.get_by_text(FULL_MESSAGE).first


def _webrtc_frame(page):
    for frame in page.frames:
        if "streamlit_webrtc" in frame.url:
            return frame
    return None


def _browser_stats(page) -> dict[str, Any] | None:
    frame = _webrtc_frame(page)
    if frame is None:
        return None
    try:
        return frame.evaluate(_STATS_SCRIPT)
    except Exception as error:  # the iframe may be re-created between calls; report no figures then
        logger.debug("getStats failed: %s", error)
        return None


def _set_lean(page) -> None:
    from fer_core.sessions.admission import SEND_BACK_LABEL

    switch = page.get_by_role("switch", name=SEND_BACK_LABEL)
    switch.wait_for(state="attached", timeout=30_000)
    if switch.is_checked():
        page.get_by_text(SEND_BACK_LABEL).first.click()
        page.wait_for_timeout(1_000)
    if switch.is_checked():
        raise LoadTestError(f"could not switch '{SEND_BACK_LABEL}' off")


def _start_viewer(page, result: ViewerResult, *, timeout_s: float = VIEWER_START_S) -> None:
    """Press START until frames come back (the known streamlit-webrtc start flake gets retries) or the app says
    it is full; sets ``result.status``."""
    from playwright.sync_api import Error as PlaywrightError

    from fer_core.measure.live_page import CONSENT_BUTTON, click_start, frames_processed, webrtc_button

    deadline = time.monotonic() + timeout_s
    full = _full_message(page)
    consent = page.get_by_role("button", name=CONSENT_BUTTON)
    while time.monotonic() < deadline:  # the page shows the player, or the "full" notice (both after the consent)
        if full.count():
            result.status = "full"
            return
        if webrtc_button(page, "Start").count():
            break
        if consent.count():
            with contextlib.suppress(PlaywrightError):  # re-rendered while clicked: try again
                consent.first.click(timeout=3_000)
        page.wait_for_timeout(250)
    clicked = time.monotonic()
    click_start(page)
    attempt_deadline = min(deadline, clicked + 15.0)
    while time.monotonic() < deadline:
        if full.count():
            result.status = "full"
            return
        if frames_processed(page) > 0:
            result.status = "streaming"
            result.seconds_to_first_frame = round(time.monotonic() - clicked, 2)
            return
        if time.monotonic() > attempt_deadline:  # no frame: stop (if shown) and start again
            result.start_retries += 1
            stop = webrtc_button(page, "Stop")
            if stop.count():
                stop.click()
                webrtc_button(page, "Start").wait_for(timeout=15_000)
            clicked = time.monotonic()
            click_start(page)
            attempt_deadline = min(deadline, clicked + 15.0)
        page.wait_for_timeout(250)
    result.status = "starved"
    result.error = f"no processed frame within {timeout_s:.0f} s of START ({result.start_retries} retries)"


def _start_device_viewer(page, result: ViewerResult, *, timeout_s: float = VIEWER_START_S) -> None:
    """On-device processing: consent, wait for the browser's runtimes, press the component's Start; sets
    ``result.status`` once the page counts a frame (no admission slot, no WebRTC: nothing to retry)."""
    from fer_core.measure.live_page import start_on_device, wait_for_frames

    clicked = time.monotonic()
    try:
        start_on_device(page, timeout_s)
    except AssertionError as error:
        result.status, result.error = "error", str(error)
        return
    if wait_for_frames(page, 0, timeout_s) is None:
        result.status, result.error = "starved", f"no on-device result reached the page within {timeout_s:.0f} s"
        return
    result.status = "streaming"
    result.seconds_to_first_frame = round(time.monotonic() - clicked, 2)


def _snapshot(page, wait_s: float = 2.5) -> _Snapshot:
    """The page's frame counter and the browser's statistics, taken just as the page refreshes the counter.

    The counter is redrawn once a second; reading it at a random moment would be up to a second stale, so this
    waits (at most ``wait_s``) for it to change and takes the time and the browser's figures right then.
    """
    from fer_core.measure.live_page import frames_processed

    before = frames_processed(page)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        page.wait_for_timeout(40)
        frames = frames_processed(page)
        if frames != before:
            return _Snapshot(time.monotonic(), frames, _browser_stats(page))
    return _Snapshot(time.monotonic(), frames_processed(page), _browser_stats(page))


def _finish(page, result: ViewerResult, first: _Snapshot, last: _Snapshot) -> None:
    from fer_core.measure.live_page import live_figures, metric_text

    elapsed = last.at - first.at
    result.frames_processed = last.frames - first.frames
    result.fps = round(result.frames_processed / elapsed, 2) if elapsed > 0 else None
    shown = metric_text(page, "FPS")
    with contextlib.suppress(TypeError, ValueError):
        result.fps_shown = float(shown)  # type: ignore[arg-type]
    figures = live_figures(page)
    result.lag_ms, result.lag_ms_p95, result.process_ms = figures.lag_ms, figures.lag_ms_p95, figures.process_ms
    result.skipped_busy = figures.skipped
    before, after = first.browser or {}, last.browser or {}
    if after.get("frames_sent") is not None and before.get("frames_sent") is not None:
        result.frames_sent = int(after["frames_sent"] - before["frames_sent"])
        result.frames_dropped = max(0, result.frames_sent - result.frames_processed)
    if after.get("width"):
        result.sent_size = f"{after['width']}x{after['height']}"
    result.sent_fps = after.get("fps")
    result.quality_limitation = after.get("quality_limitation")
    if after.get("frames_back") is not None and before.get("frames_back") is not None and elapsed > 0:
        result.fps_back = round((after["frames_back"] - before["frames_back"]) / elapsed, 2)
    if result.status == "streaming" and result.frames_processed == 0:
        result.status = "starved"
        result.error = "no frame processed during the window"


# --- the run -----------------------------------------------------------------------------------------------------
def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into ``KeyboardInterrupt`` (like Ctrl-C), so the clean-up below runs for both."""
    if not _in_main_thread():
        yield
        return

    def on_term(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _hard_timeout(seconds: float) -> Iterator[None]:
    """Raise :class:`LoadTestTimeout` in the main thread (even inside a Playwright call) after ``seconds``."""
    if not _in_main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise LoadTestTimeout(f"the load test ran past its hard limit of {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _kill_leftover_children(keep: set[int]) -> None:
    """Kill the processes this process started that are still running (browsers Playwright did not close)."""
    import psutil

    with contextlib.suppress(psutil.Error):
        leftovers = [p for p in psutil.Process().children(recursive=True) if p.pid not in keep]
        for process in leftovers:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(leftovers, timeout=5)


def _check_prerequisites(processing: str) -> None:
    """Raise :class:`LoadTestError` for an unknown ``processing`` or a missing Chromium or Playwright."""
    from fer_core.measure.browser import CHROMIUM, CHROMIUM_HINT, playwright_available

    if processing not in PROCESSING:
        raise LoadTestError(f"processing must be one of {', '.join(PROCESSING)}, got {processing!r}")
    if not CHROMIUM.is_file():
        raise LoadTestError(f"Chromium is missing at {CHROMIUM}: {CHROMIUM_HINT} (or set FER_CHROMIUM)")
    if not playwright_available():
        raise LoadTestError("the playwright Python package is missing: pip install playwright (no browser download)")


def _server_environment(
    server_env: Sequence[tuple[str, str]], max_streams: int | None, *, started_here: bool
) -> dict[str, str]:
    """The environment of a server the load test starts; a warning where the settings cannot apply."""
    env = dict(os.environ, **dict(server_env))
    if max_streams is not None:
        env["FER_MAX_STREAMS"] = str(max_streams)
    if not started_here and (max_streams is not None or server_env):
        logger.warning("--max-streams and --server-env apply only to a server the load test starts")
    return env


def run_load_test(
    *,
    viewers: int,
    seconds: float,
    url: str | None = None,
    fps: int = 30,
    size: tuple[int, int] = (640, 480),
    lean: bool = False,
    max_streams: int | None = None,
    server_env: Sequence[tuple[str, str]] = (),
    warmup_s: float = 4.0,
    timeout_s: float | None = None,
    work_dir: Path | None = None,
    processing: str = "server",
) -> dict[str, Any]:
    """Run the load test and return the report (see :func:`format_report` and the module docstring)."""
    from fer_core.measure.browser import CHROMIUM_ARGS, REPO, fake_camera_args, nice_chromium_wrapper

    target = loopback_url(url) if url else None
    _check_prerequisites(processing)
    if timeout_s is None:
        timeout_s = 90 + VIEWER_START_S * viewers + warmup_s + seconds + 30
    results = [ViewerResult(viewer=index + 1) for index in range(viewers)]
    report: dict[str, Any] = {
        "viewers": viewers, "seconds": seconds, "lean": lean, "processing": processing,
        "camera": {"size": f"{size[0]}x{size[1]}", "fps": fps},
        "url": target, "server": {}, "viewers_chromium_cpu_cores": None, "cpu_count": os.cpu_count(),
        "load_average_1min": [round(os.getloadavg()[0], 2)], "results": results,
    }  # fmt: skip
    env = _server_environment(server_env, max_streams, started_here=target is None)
    import psutil

    keep = {child.pid for child in psutil.Process().children(recursive=True)}
    with _sigterm_as_interrupt(), contextlib.ExitStack() as stack:
        try:
            with _hard_timeout(timeout_s):
                work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fer-loadtest-")))
                clip = face_clip(work / "face.y4m", size, fps)
                target, server_pid = _target_server(
                    stack, report, target, env, work_dir or REPO / "artifacts" / "loadtest"
                )
                launcher = nice_chromium_wrapper(work / "bin")
                chromium_args = CHROMIUM_ARGS + fake_camera_args(clip)
                _drive(stack, results, report, target, server_pid, lean, seconds, warmup_s, launcher, chromium_args)
        except LoadTestTimeout as error:
            report["error"] = str(error)
        finally:
            report["load_average_1min"].append(round(os.getloadavg()[0], 2))
            # Close the browsers (Playwright) and stop the server (its process group), whatever happened.
            with contextlib.suppress(Exception):
                stack.close()
            _kill_leftover_children(keep)
            read_server_tracebacks(report)
    report["results"] = [asdict(result) for result in results]
    return report


def _target_server(
    stack: contextlib.ExitStack, report: dict[str, Any], target: str | None, env: dict[str, str], log_dir: Path
) -> tuple[str, int | None]:
    """The app to load: a server started here (stopped with ``stack``) when ``target`` is ``None``, else the one
    listening on ``target``'s port; its URL and process id (for its CPU and memory) go into ``report``."""
    from fer_core.measure.browser import AppServer, app_server

    if target is None:
        log = log_dir / f"server-{os.getpid()}.log"
        try:
            server: AppServer = stack.enter_context(app_server(log, env=env))
        except RuntimeError as error:
            raise LoadTestError(f"the app did not start: {error}") from error
        target, server_pid = server.url, server.pid
        report["server"]["log"] = str(log)
    else:
        port = urllib.parse.urlsplit(target).port or (443 if target.startswith("https") else 80)
        server_pid = _pid_listening_on(port)
    report["url"] = target
    report["server"]["pid"] = server_pid
    return target, server_pid


def read_server_tracebacks(report: dict[str, Any]) -> None:
    """Put the exception line of each traceback in the started server's log into ``report["server"]``."""
    from fer_core.measure.browser import server_tracebacks

    log = report["server"].get("log")
    if log and Path(log).is_file():
        report["server"]["tracebacks"] = server_tracebacks(Path(log))


def _drive(stack, results, report, url, server_pid, lean, seconds, warmup_s, launcher, args) -> None:
    from playwright.sync_api import sync_playwright

    playwright = stack.enter_context(sync_playwright())
    pages = []
    for result in results:
        browser = playwright.chromium.launch(executable_path=str(launcher), args=args, headless=True)
        stack.callback(_close_quietly, browser)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.grant_permissions(["camera"])
        context.add_init_script(_INIT_SCRIPT)
        page = context.new_page()
        page.set_default_timeout(30_000)
        pages.append(page)
        try:
            from fer_core.measure.live_page import open_page

            device = report.get("processing") == "device"
            open_page(page, url, f"{LIVE_PATH}?processing=device" if device else LIVE_PATH, LIVE_TITLE)
            if lean:
                _set_lean(page)
            (_start_device_viewer if device else _start_viewer)(page, result)
        except LoadTestError:
            raise
        except Exception as error:
            result.status, result.error = "error", f"{type(error).__name__}: {error}"
        logger.info("viewer %d: %s", result.viewer, result.status)
    pages[0].wait_for_timeout(warmup_s * 1000)

    server = ProcessSampler(server_pid) if server_pid else None
    chromium = _own_chromium_sampler()
    chromium_before, chromium_at = _chromium_cpu_seconds(chromium), time.monotonic()
    firsts = [_snapshot(page) for page in pages]
    if server:
        server.start()
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        pages[0].wait_for_timeout(min(1.0, left) * 1000)  # events of every page are processed meanwhile
        if server:
            server.sample_rss()
    if server:
        report["server"].update(server.stop())
    chromium_after = _chromium_cpu_seconds(chromium)
    used = sum(t - chromium_before.get(pid, t) for pid, t in chromium_after.items())
    report["viewers_chromium_cpu_cores"] = round(used / (time.monotonic() - chromium_at), 3)
    lasts = [_snapshot(page) for page in pages]
    for page, result, first, last in zip(pages, results, firsts, lasts, strict=True):
        if result.status != "streaming":
            continue
        try:
            _finish(page, result, first, last)
        except Exception as error:
            result.status, result.error = "error", f"{type(error).__name__}: {error}"
    total_fps = sum(result.fps or 0.0 for result in results if result.status == "streaming")
    cores = report["server"].get("cpu_cores")
    # CPU per processed frame: comparable between runs even when other work on the machine takes CPU away
    report["server"]["cpu_ms_per_frame"] = round(cores * 1000 / total_fps, 1) if cores and total_fps else None


def _close_quietly(browser) -> None:
    with contextlib.suppress(Exception):
        browser.close()


# --- output ------------------------------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_report(report: dict[str, Any]) -> str:
    camera = report["camera"]
    lines = [
        f"load test: {report['viewers']} viewer(s) x {report['seconds']:g} s, fake camera {camera['size']} at "
        f"{camera['fps']} fps, processing on the {report.get('processing', 'server')}, video sent back: "
        f"{'no (lean)' if report['lean'] else 'yes'}; app {report['url']}",
        f"{'viewer':>6} {'status':<9} {'fps':>5} {'shown':>5} {'lag ms':>6} {'p95 ms':>6} {'proc ms':>7} "
        f"{'frames':>6} {'sent':>5} {'dropped':>7} {'skipped':>7} {'sent as':>13} {'limit':>9} {'fps back':>8}",
    ]
    for r in report["results"]:
        sent_as = f"{r['sent_size']}@{r['sent_fps']:.0f}" if r["sent_size"] and r["sent_fps"] else _fmt(r["sent_size"])
        lines.append(
            f"{r['viewer']:>6} {r['status']:<9} {_fmt(r['fps']):>5} {_fmt(r['fps_shown']):>5} "
            f"{_fmt(r['lag_ms'], 0):>6} {_fmt(r['lag_ms_p95'], 0):>6} {_fmt(r['process_ms'], 0):>7} "
            f"{_fmt(r['frames_processed']):>6} {_fmt(r['frames_sent']):>5} {_fmt(r['frames_dropped']):>7} "
            f"{_fmt(r['skipped_busy']):>7} {sent_as:>13} {_fmt(r['quality_limitation']):>9} {_fmt(r['fps_back']):>8}"
        )
        if r["error"]:
            lines.append(f"{'':>6} {r['error']}")
    server = report["server"]
    lines.append(
        f"server (pid {_fmt(server.get('pid'))}): {_fmt(server.get('cpu_cores'), 2)} cores of {report['cpu_count']}, "
        f"{_fmt(server.get('cpu_ms_per_frame'))} ms CPU per processed frame, RSS {_fmt(server.get('rss_mb'), 0)} MB "
        f"(peak {_fmt(server.get('rss_mb_peak'), 0)} MB); viewers' Chromium "
        f"{_fmt(report['viewers_chromium_cpu_cores'], 2)} cores; load average "
        + " -> ".join(f"{value:.2f}" for value in report["load_average_1min"])
    )
    tracebacks = server.get("tracebacks")
    if tracebacks:
        lines.append(f"server logged {len(tracebacks)} traceback(s), see {server['log']}: " + "; ".join(tracebacks))
    if report.get("error"):
        lines.append(f"error: {report['error']}")
    return "\n".join(lines)


def exit_code(report: dict[str, Any]) -> int:
    if report.get("error"):
        return EXIT_ERROR
    failed = any(r["status"] in ("starved", "error") for r in report["results"])
    return EXIT_STARVED if failed or report["server"].get("tracebacks") else EXIT_OK


def run_command(args: argparse.Namespace, out: TextIO) -> int:
    """The ``loadtest`` subcommand of :mod:`fer_core.cli`."""
    try:
        report = run_load_test(
            viewers=args.viewers, seconds=args.seconds, url=args.url, fps=args.fps, size=args.size, lean=args.lean,
            max_streams=args.max_streams, server_env=args.server_env, warmup_s=args.warmup, timeout_s=args.timeout,
            processing=args.processing,
        )  # fmt: skip
    except LoadTestError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted: browsers and server stopped", file=sys.stderr)
        return 130
    out.write((json.dumps(report, indent=2) if args.json else format_report(report)) + "\n")
    return exit_code(report)
