"""The live webcam page in a real browser, fed by Chromium's fake camera playing .y4m clips of real faces.

Which faces are used is decided at run time by asking the shipped model (no hard-coded predictions): the clip
frames are read by the recognizer here in the test, and the page must report the same emotion.
"""

from __future__ import annotations

import io
import json
import os
import time

import numpy as np
import pytest
from PIL import Image

from fer_core.recognition.drawing import EMOTION_COLORS_RGB
from fer_core.sessions.rtc import StreamConfig

from .app_driver import (
    WEBRTC_IFRAME,
    click_stop,
    frames_processed,
    live_figures,
    metric_text,
    open_page,
    panel_mood,
    screenshot_full,
    start_stream,
    wait_for_mood,
)
from .faces import Candidate, astronaut_frame, confident_faces, two_face_clip, two_moods
from .paths import ARTIFACTS, SCREENSHOTS
from .y4m import from_i420, to_i420, write_y4m

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FPS = int(os.environ.get("FER_TEST_CLIP_FPS", "30"))
STREAM_FPS = min(FPS, StreamConfig.from_env().fps)
"""Frames per second the browser sends: the camera's rate, capped by what the page asks for (15 by default)."""
MIN_FPS = float(os.environ.get("FER_TEST_MIN_FPS", str(round(STREAM_FPS * 2 / 3, 1))))
"""Processed frames per second the live page must sustain for one viewer: two thirds of what the browser sends
(30 fps camera capped at 15 by the page: at least 10; the load test measured 15.0 on the 2-core development
machine). Lower it by hand only on a machine known to be slower."""
MIN_CONFIDENCE = float(os.environ.get("FER_TEST_MIN_CONFIDENCE", "0.55"))
"""Faces used must be read clearly above the mood's confidence floor (0.45), so video compression cannot flip them."""


@pytest.fixture(scope="module")
def recognizer():
    from fer_core.recognition.recognizer import EmotionRecognizer

    return EmotionRecognizer()  # the default configuration, as the live page uses it


@pytest.fixture(scope="module")
def candidates(recognizer) -> list[Candidate]:
    return confident_faces(recognizer, MIN_CONFIDENCE)


def _colour_fraction(rgb: np.ndarray, colour: tuple[int, int, int], tolerance: int = 40) -> float:
    close = np.all(np.abs(rgb.astype(int) - np.array(colour)) <= tolerance, axis=-1)
    return float(close.mean())


def _record(name: str, values: dict) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "live_metrics.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[name] = values
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"\n{name}: {json.dumps(values)}")


def test_live_stream_overlay_fps_and_mood(server, launch, tmp_path, candidates):
    face = next((c for c in candidates if c.name == "astronaut"), candidates[0])
    clip = write_y4m(tmp_path / "face.y4m", [face.frame] * (3 * FPS), fps=FPS)
    page = launch(clip)
    open_page(page, server.url, "Live_webcam", "Live webcam")

    retries = start_stream(page)
    page.wait_for_timeout(4_000)  # let the stream settle before measuring
    first, started = frames_processed(page), time.monotonic()
    page.wait_for_timeout(10_000)
    last, ended = frames_processed(page), time.monotonic()
    fps = (last - first) / (ended - started)
    figures = live_figures(page)
    _record(
        "overlay_fps",
        {
            "face": face.name, "emotion": face.emotion, "confidence": round(face.confidence, 3),
            "start_retries": retries, "fps_measured": round(fps, 2), "fps_shown": metric_text(page, "FPS"),
            "process_ms": figures.process_ms, "process_ms_p95": figures.process_ms_p95,
            "lag_ms": figures.lag_ms, "lag_ms_p95": figures.lag_ms_p95, "skipped_busy": figures.skipped,
            "frames": last, "load_average_1min": os.getloadavg()[0],
        },
    )  # fmt: skip
    assert last > first, "processed frames keep coming back"
    assert fps > MIN_FPS, f"only {fps:.1f} processed frames per second"
    # Without a queue a frame waits at most about one processing time before its own processing starts; a backlog
    # would make the lag grow far beyond a few processing times.
    assert figures.lag_ms_p95 is not None and figures.process_ms_p95 is not None
    assert figures.lag_ms_p95 <= 3 * figures.process_ms_p95 + 500, (
        f"overlay lag p95 {figures.lag_ms_p95} ms vs processing p95 {figures.process_ms_p95} ms: frames are queueing"
    )

    video = page.frame_locator(WEBRTC_IFRAME).locator("video").first
    shot = np.asarray(Image.open(io.BytesIO(video.screenshot())).convert("RGB"))
    source = from_i420(to_i420(face.frame))[:, :, ::-1]
    colour = EMOTION_COLORS_RGB[face.emotion]
    overlay_gain = _colour_fraction(shot, colour) - _colour_fraction(source, colour)
    Image.fromarray(shot).save(ARTIFACTS / "live_video.png")
    assert overlay_gain > 0.002, f"no {face.emotion} overlay visible in the returned video ({overlay_gain:.4f})"

    page.get_by_test_id("stVegaLiteChart").first.wait_for(timeout=10_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    screenshot_full(page, SCREENSHOTS / "live.png")

    mood_reached = wait_for_mood(page, face.emotion, timeout_s=20)
    screenshot_full(page, SCREENSHOTS / "live.png")  # again, now with the mood's content if it was reached
    assert mood_reached, (
        f"page mood {panel_mood(page)!r}, the recognizer reads {face.emotion} ({face.confidence:.0%}) on {face.name}"
    )
    mood_line = page.get_by_test_id("stMarkdownContainer").filter(has_text="Mood:").first.inner_text()
    assert face.emotion in mood_line
    assert page.locator("div.fer-card").count() >= 1
    click_stop(page)


def test_live_content_follows_a_change_of_expression(server, launch, tmp_path, candidates):
    first, second = two_moods(candidates)
    page = launch(two_face_clip(tmp_path / "two_faces.y4m", first, second))
    open_page(page, server.url, "Live_webcam", "Live webcam")
    retries = start_stream(page)

    # Whichever face the stream shows first once it runs, the mood must settle on it and then follow the other one.
    settled = wait_for_mood(page, {first.emotion, second.emotion}, timeout_s=60)
    assert settled, f"mood {panel_mood(page)!r}, expected {first.emotion} or {second.emotion}"
    other = second.emotion if settled == first.emotion else first.emotion
    reason_before = page.locator("div.fer-reason").first.inner_text()
    items_before = page.locator("div.fer-card").evaluate_all("cards => cards.map(c => c.dataset.item)")
    switched_at = time.monotonic()
    assert wait_for_mood(page, other, timeout_s=45), f"mood {panel_mood(page)!r}, expected {other} after {settled}"
    reason_after = page.locator("div.fer-reason").first.inner_text()
    items_after = page.locator("div.fer-card").evaluate_all("cards => cards.map(c => c.dataset.item)")
    assert reason_after != reason_before
    assert other in reason_after
    _record(
        "expression_change",
        {
            "first": [first.name, first.emotion, round(first.confidence, 3)],
            "second": [second.name, second.emotion, round(second.confidence, 3)],
            "order": [settled, other], "seconds_between_moods": round(time.monotonic() - switched_at, 1),
            "start_retries": retries, "items_before": items_before, "items_after": items_after,
        },
    )  # fmt: skip
    click_stop(page)


def test_live_start_reliability(server, launch, tmp_path):
    """Start the stream many times in a row; count the starts that needed a retry (goal: none)."""
    repeats = int(os.environ.get("FER_START_REPEATS", "10"))  # FER_START_REPEATS=50 for a longer look
    clip = write_y4m(tmp_path / "face.y4m", [astronaut_frame()] * (2 * FPS), fps=FPS)
    page = launch(clip)
    open_page(page, server.url, "Live_webcam", "Live webcam")
    retries_per_start = []
    seconds_to_first_frame: list[float] = []
    stop_presses_lost: list[int] = []
    for _ in range(repeats):
        # A start counts as working once 3 frames came back: one frame and then a stalled stream is a failure too.
        retries = start_stream(
            page, first_frame_timeout_s=20.0, max_retries=3, timings=seconds_to_first_frame, min_frames=3
        )
        retries_per_start.append(retries)
        stop_presses_lost.append(click_stop(page))
    _record(
        "start_reliability",
        {
            "starts": repeats, "starts_needing_retry": sum(r > 0 for r in retries_per_start),
            "stop_presses_repeated": sum(stop_presses_lost),
            "total_retries": sum(retries_per_start), "seconds_to_third_frame": seconds_to_first_frame,
            "load_average_1min": os.getloadavg()[0],
        },
    )  # fmt: skip
    assert sum(retries_per_start) == 0, (
        f"{sum(r > 0 for r in retries_per_start)} of {repeats} starts needed a retry (retries per start: "
        f"{retries_per_start}); the goal is none"
    )
