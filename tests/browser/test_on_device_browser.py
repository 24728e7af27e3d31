"""On-device live mode in a real browser: the browser pipeline (OpenCV.js + LiteRT.js) reads faces as fer_core does,
and the live page with ``?processing=device`` shows the mood from results alone, with no request leaving loopback.

The component's vendor folder must be built (``python -m fer_core.sessions.on_device.build``); the tests run the
build themselves when npm is there. Without a build they skip, and fail under ``CI=true``.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import psutil
import pytest
from conftest import require_tool

from fer_core.measure.live_page import (
    ON_DEVICE_IFRAME,
    WEBRTC_IFRAME,
    frames_processed,
    metric_text,
    on_device_frame,
    on_device_stats,
    open_page,
    panel_mood,
    start_on_device,
    wait_for_frames,
    wait_for_mood,
)
from fer_core.measure.sample_frames import no_face_frame, three_face_frame
from fer_core.measure.tracking_eval import moving_clip
from fer_core.recognition.detector import box_iou
from fer_core.recognition.drawing import EMOTION_COLORS_RGB
from fer_core.sessions.on_device.manifest import COMPONENT_DIR, check_build

from .faces import astronaut_frame, fixture_face_frames
from .paths import ARTIFACTS
from .y4m import from_i420, to_i420, write_y4m

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MIN_AGREEMENT = 0.95
MIN_IOU = 0.8
CLIP_FPS = 15


@pytest.fixture(scope="module")
def on_device_build(chromium) -> None:
    """The component's vendor folder, built now if it is missing or stale and npm is there."""
    status = check_build()
    if not status.usable and shutil.which("npm"):
        from fer_core.sessions.on_device.build import BuildConfig, BuildError, build

        with contextlib.suppress(BuildError):
            build(BuildConfig())
        status = check_build()
    require_tool("on-device build", status.usable, f"{status.reason} (npm and the npm registry are needed)")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass


@contextlib.contextmanager
def served(directory: Path) -> Iterator[str]:
    """A component folder served on 127.0.0.1 (no Streamlit: the page on its own); yields its index.html URL."""
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/index.html"
    finally:
        server.shutdown()
        server.server_close()


def _status_after_error(launch, directory: Path, timeout_ms: int) -> tuple[object, str]:
    """Open the component served from ``directory``; wait for it to report an error; the page and its status."""
    with served(directory) as url:
        page = launch()
        page.goto(url)
        page.wait_for_function("window.__moodLensStats.error !== null", timeout=timeout_ms)
        return page, page.locator("#status").inner_text()


@pytest.fixture(scope="module")
def component_url(on_device_build) -> Iterator[str]:
    """The component's folder, opened on its own (the test hook only)."""
    with served(COMPONENT_DIR) as url:
        yield url


@pytest.fixture(scope="module")
def recognizer():
    from fer_core.recognition.recognizer import EmotionRecognizer
    from fer_core.sessions.on_device.params import browser_recognizer_config

    return EmotionRecognizer(config=browser_recognizer_config())  # the app's configuration, as the browser runs it


def _browser_analyze(page, bgr: np.ndarray, *, track: bool = False) -> list[tuple[tuple[int, ...], str]]:
    rgba = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA)
    data = base64.b64encode(rgba.tobytes()).decode()
    result = page.evaluate(
        "([d, w, h, track]) => window.__moodLensAnalyze(d, w, h, {track})", [data, rgba.shape[1], rgba.shape[0], track]
    )
    from fer_core.labels import EMOTIONS

    return [(tuple(face["box"]), EMOTIONS[int(np.argmax(face["p"]))]) for face in result["faces"]]


def _agreement(python: list[list], browser: list[list]) -> dict[str, float]:
    """Faces fer_core finds that the browser finds too (IoU >= MIN_IOU) with the same top emotion."""
    faces = matched = same = extra = 0
    ious = []
    for py_faces, js_faces in zip(python, browser, strict=True):
        free = list(js_faces)
        for box, emotion in py_faces:
            faces += 1
            best = max(free, key=lambda face: box_iou(box, face[0]), default=None)
            if best is None or box_iou(box, best[0]) < MIN_IOU:
                continue
            free.remove(best)
            matched += 1
            ious.append(box_iou(box, best[0]))
            same += best[1] == emotion
        extra += len(free)
    return {
        "faces": faces, "matched": matched, "same_emotion": same, "extra_in_browser": extra,
        "min_iou": min(ious, default=0.0), "agreement": same / faces if faces else 1.0,
    }  # fmt: skip


def _open_component(launch, component_url):
    page = launch()
    page.goto(f"{component_url}?testhooks")
    page.wait_for_function("window.__moodLensStats.ready || window.__moodLensStats.error", timeout=120_000)
    assert page.evaluate("window.__moodLensStats.error") is None
    return page


def test_the_browser_pipeline_reads_faces_as_fer_core_does(launch, component_url, recognizer):
    """Single frames (full detection): the astronaut, three faces, no face and the FER2013 fixture faces."""
    frames = {"astronaut": astronaut_frame(), "three": three_face_frame().image, "none": no_face_frame().image}
    frames.update(fixture_face_frames())
    page = _open_component(launch, component_url)
    python, browser = [], []
    for frame in frames.values():
        shown = from_i420(to_i420(frame))  # what a webcam clip delivers: 4:2:0 chroma
        python.append([(r.box, r.emotion) for r in recognizer.analyze(shown, bgr=True, stream=True)])
        browser.append(_browser_analyze(page, shown))
    report = _agreement(python, browser)
    print(f"\nparity, single frames ({len(frames)}): {report}")
    assert report["faces"] >= 20, "too few faces to compare"
    assert report["agreement"] >= MIN_AGREEMENT, report
    assert report["extra_in_browser"] <= 0.05 * report["faces"], report


def test_the_browser_tracker_follows_faces_as_fer_core_does(launch, component_url, recognizer):
    """A panning, zooming clip through fer_core's FaceTracker and the browser's port of it."""
    from fer_core.measure.sample_frames import one_face_frame

    page = _open_component(launch, component_url)
    python, browser = [], []
    for sample in (one_face_frame(), three_face_frame()):
        tracker = recognizer.new_tracker()
        page.evaluate("window.__moodLensResetTracker()")
        for image, _truth in list(moving_clip(sample))[:45]:
            python.append([(r.box, r.emotion) for r in recognizer.analyze(image, bgr=True, tracker=tracker)])
            browser.append(_browser_analyze(page, image, track=True))
    report = _agreement(python, browser)
    print(f"\nparity, tracked clip ({len(python)} frames): {report}")
    assert report["agreement"] >= MIN_AGREEMENT, report


def _canvas_colour_fraction(frame, colour: tuple[int, int, int], tolerance: int = 40) -> float:
    return frame.evaluate(
        """([r, g, b, tol]) => {
            const c = document.getElementById('overlay');
            if (!c.width) return 0;
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            const near = (i) => [r, g, b].every((v, k) => Math.abs(d[i + k] - v) <= tol);
            for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200 && near(i)) n++;
            return n / (d.length / 4);
        }""",
        [*colour, tolerance],
    )


class _LoopbackWatcher(threading.Thread):
    """Polls the app server's internet sockets; keeps every remote address that is not this machine."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.foreign: set[str] = set()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.2):
            with contextlib.suppress(psutil.Error):
                for connection in self.process.net_connections(kind="inet"):
                    if connection.raddr and not connection.raddr.ip.startswith(("127.", "::1", "::ffff:127.")):
                        self.foreign.add(connection.raddr.ip)

    def stop(self) -> set[str]:
        self._halt.set()
        self.join(timeout=2)
        return self.foreign


MAX_SERVER_CORES = 0.12
"""The app server's CPU while one viewer streams on the device (measured 0.03 cores; 0.3 for a server stream)."""


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the app server and its children so far."""
    import psutil

    process = psutil.Process(pid)
    total = 0.0
    for each in (process, *process.children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            times = each.cpu_times()
            total += times.user + times.system
    return total


def test_on_device_live_page_end_to_end(server, launch, tmp_path, on_device_build, recognizer):
    face = recognizer.analyze(from_i420(to_i420(astronaut_frame())), bgr=True, stream=True)
    assert face and face[0].emotion == "happy", "the astronaut clip must read as happy in fer_core too"
    clip = write_y4m(tmp_path / "astronaut.y4m", [astronaut_frame()] * (3 * CLIP_FPS), fps=CLIP_FPS)
    page = launch(clip)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    watcher = _LoopbackWatcher(server.pid)
    watcher.start()

    open_page(page, server.url, "Live_webcam?processing=device", "Live webcam")
    assert page.locator(ON_DEVICE_IFRAME).count() == 0, "the consent notice must come before the player"
    load_s = start_on_device(page)
    hooks = on_device_frame(page).evaluate(
        "() => [typeof window.__moodLensAnalyze, typeof window.__moodLensResetTracker]"
    )
    assert hooks == ["undefined", "undefined"], "the test hooks are only for the component opened with ?testhooks"
    assert wait_for_frames(page, 0, timeout_s=30) is not None, "no on-device result reached the page"
    page.wait_for_timeout(3_000)
    first, started, cpu_before = frames_processed(page), time.monotonic(), _cpu_seconds(server.pid)
    page.wait_for_timeout(10_000)
    last, ended, cpu_after = frames_processed(page), time.monotonic(), _cpu_seconds(server.pid)
    fps = (last - first) / (ended - started)
    server_cores = (cpu_after - cpu_before) / (ended - started)
    stats = on_device_stats(page)
    overlay = _canvas_colour_fraction(on_device_frame(page), EMOTION_COLORS_RGB["happy"])
    mood = wait_for_mood(page, "happy", timeout_s=30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "on_device_live.png"), full_page=True)
    foreign = watcher.stop()
    print(
        f"\non-device live: runtimes {load_s:.1f} s, {fps:.1f} fps on the page (shown {metric_text(page, 'FPS')}), "
        f"browser {stats['fps']:.1f} fps (detection {stats['detectMs']:.1f} ms, classification "
        f"{stats['classifyMs']:.1f} ms a frame), {stats['batchesSent']} batches, overlay {overlay:.4f}, "
        f"server {server_cores:.3f} cores, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    assert page.locator(WEBRTC_IFRAME).count() == 0, "no WebRTC player in on-device mode"
    assert last > first and fps > 3, f"only {fps:.1f} frames per second reached the page"
    assert stats["lastFaces"], "the browser found no face in the astronaut clip"
    assert stats["detectMs"] > 0 and stats["classifyMs"] > 0, "the browser times detection and classification"
    assert overlay > 0.002, f"no happy overlay drawn on the viewer's video ({overlay:.4f})"
    assert mood == "happy", f"page mood {panel_mood(page)!r}, expected happy"
    assert page.locator("div.fer-card").count() >= 1, "the content panel did not follow the mood"
    assert "happy" in page.get_by_test_id("stMarkdownContainer").filter(has_text="Mood:").first.inner_text()
    outside = [url for url in requests if not url.startswith((server.url, "data:", "blob:"))]
    assert not outside, f"requests left the app's loopback URL: {outside[:5]}"
    assert not foreign, f"the app server talked to {foreign}"
    # A server-mode stream costs the server about 0.3 cores (docs/deployment.md); here it only takes in results.
    assert server_cores < MAX_SERVER_CORES, f"the app server used {server_cores:.2f} cores while the browser analysed"

    page.frame_locator(ON_DEVICE_IFRAME).get_by_role("button", name="Stop").click()
    assert wait_for_mood(page, "none", timeout_s=15) == "none", "Stop must clear the mood, as in server mode"
    assert on_device_frame(page).evaluate("() => document.getElementById('video').srcObject") is None


def test_a_missing_build_gives_a_clear_message(launch, tmp_path, on_device_build):
    """The component opened from a folder without vendor/: a message, not a blank frame."""
    bare = tmp_path / "component"
    shutil.copytree(COMPONENT_DIR, bare, ignore=shutil.ignore_patterns("vendor"))
    page, text = _status_after_error(launch, bare, timeout_ms=30_000)
    assert "not built" in text and "python -m fer_core.sessions.on_device.build" in text
    assert page.locator("#toggle").is_disabled()


def test_a_stale_model_copy_is_refused_by_the_browser(launch, tmp_path, on_device_build):
    """A vendor folder whose model bytes differ from its manifest: the browser refuses to run it."""
    copy = tmp_path / "component"
    shutil.copytree(COMPONENT_DIR, copy)
    model = next(Path(copy / "vendor").glob("*.tflite"))
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF
    model.write_bytes(bytes(data))
    _, text = _status_after_error(launch, copy, timeout_ms=120_000)
    assert "Refusing model" in text and "stale" in text


def test_the_real_build_checks_out_and_carries_licences(on_device_build):
    """The vendor folder the other tests use (built by the fixture where missing): usable, with licence texts."""
    status = check_build()
    assert status.usable, status.reason
    files = status.manifest["files"]
    assert any(name.startswith("licenses/") for name in files)
    for entry in status.manifest["licenses"]:
        assert entry["files"], f"no licence text for {entry['package']}"
