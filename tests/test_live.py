"""Tests for fer_core.sessions.live: the per-session webcam frame processor (real model, real faces, fake clocks)."""

from __future__ import annotations

import threading

import av
import cv2
import numpy as np
import pytest
from skimage import data

from fer_core.labels import EMOTIONS
from fer_core.mood.tracker import MoodConfig, MoodState
from fer_core.recognition.detector import DetectorConfig
from fer_core.recognition.results import FaceResult
from fer_core.sessions.live import (
    SENSITIVITY_PRESETS,
    FpsMeter,
    LagMeter,
    LiveProcessor,
    LiveStats,
    describe_mood,
    detector_for_sensitivity,
)


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def astronaut_bgr() -> np.ndarray:
    """The astronaut photo on a 640x480 webcam-sized canvas, BGR like a WebRTC frame."""
    canvas = np.full((480, 640, 3), 128, np.uint8)
    canvas[:, 80:560] = cv2.resize(data.astronaut()[:, :, ::-1], (480, 480), interpolation=cv2.INTER_AREA)
    return canvas


class ScriptedRecognizer:
    """Stands in for EmotionRecognizer where a test needs chosen probabilities (mood and timeline logic)."""

    def __init__(self, probabilities: list[float] | None, box=(100, 100, 120, 120)) -> None:
        self.probabilities = probabilities
        self.box = box
        self.detector = type("Detector", (), {"config": DetectorConfig()})()

    def with_detector(self, config: DetectorConfig):
        clone = ScriptedRecognizer(self.probabilities, self.box)
        clone.detector.config = config
        return clone

    def new_tracker(self, config=None):
        return None  # no detector to track with: analyze ignores the tracker

    def analyze(self, image, *, bgr=False, tracker=None, stream=None):
        if self.probabilities is None:
            return []
        return [FaceResult(self.box, tuple(self.probabilities))]


def one_hot(emotion: str, p: float = 0.9) -> list[float]:
    rest = (1.0 - p) / (len(EMOTIONS) - 1)
    return [p if name == emotion else rest for name in EMOTIONS]


# --- with the shipped model ---------------------------------------------------------------------------------------
def test_process_draws_the_recognizers_result_and_counts_the_frame(recognizer):
    frame = astronaut_bgr()
    expected = recognizer.analyze(frame, bgr=True, stream=True)  # a video frame: the stream views
    assert len(expected) == 1
    processor = LiveProcessor(recognizer)
    out = processor.process_bgr(frame.copy())
    stats = processor.stats()
    assert stats.frames_processed == 1 and stats.frames_with_face == 1
    assert [f.emotion for f in stats.faces] == [f.emotion for f in expected]
    np.testing.assert_allclose(stats.faces[0].probabilities, expected[0].probabilities, atol=1e-5)
    x, y, w, h = expected[0].box
    changed = np.any(out != frame, axis=-1)
    assert changed[y : y + h, x : x + w].any(), "the overlay is drawn on the face"
    assert not changed[:, :60].any(), "and nowhere far from it"
    assert stats.process_ms is not None and stats.process_ms > 0
    assert stats.frame_size == (640, 480)


def test_video_frame_callback_returns_an_annotated_av_frame(recognizer):
    processor = LiveProcessor(recognizer)
    original = astronaut_bgr()
    out = processor(av.VideoFrame.from_ndarray(original.copy(), format="bgr24"))
    assert isinstance(out, av.VideoFrame)
    assert (out.width, out.height) == (640, 480)
    assert not np.array_equal(out.to_ndarray(format="bgr24"), original)
    assert processor.stats().frames_processed == 1


def test_callback_takes_yuv_frames_with_timestamps_like_aiortc_delivers(recognizer):
    from fractions import Fraction

    processor = LiveProcessor(recognizer)
    for index in range(3):
        frame = av.VideoFrame.from_ndarray(astronaut_bgr(), format="bgr24").reformat(format="yuv420p")
        frame.pts, frame.time_base = 123_456 + index * 6000, Fraction(1, 90_000)  # RTP clock, 15 fps
        out = processor(frame)
        assert (out.width, out.height) == (640, 480)
    stats = processor.stats()
    assert stats.frames_processed == 3 and stats.frames_with_face == 3
    assert stats.lag_ms is not None and stats.lag_ms >= 0


def test_a_frame_without_a_face_is_returned_unchanged(recognizer):
    processor = LiveProcessor(recognizer)
    blank = np.full((480, 640, 3), 90, np.uint8)
    out = processor.process_bgr(blank.copy())
    assert np.array_equal(out, blank)
    stats = processor.stats()
    assert stats.frames_processed == 1 and stats.frames_with_face == 0 and stats.faces == ()


def test_sessions_do_not_share_counters_or_mood(recognizer):
    first, second = LiveProcessor(recognizer), LiveProcessor(recognizer)
    for _ in range(3):
        first.process_bgr(astronaut_bgr())
    assert first.stats().frames_processed == 3
    assert second.stats().frames_processed == 0
    assert second.stats().mood == MoodState()
    assert first.recognizer is second.recognizer, "the loaded model itself is shared"


def test_set_detector_keeps_the_model_and_changes_the_settings(recognizer):
    processor = LiveProcessor(recognizer)
    processor.set_detector(SENSITIVITY_PRESETS["Strict"])
    assert processor.detector_config == SENSITIVITY_PRESETS["Strict"]
    assert processor.recognizer is recognizer
    processor.process_bgr(astronaut_bgr())
    assert processor.stats().frames_processed == 1


# --- never queue: a call that finds another one running does not wait -------------------------------------------
class BlockingRecognizer(ScriptedRecognizer):
    def __init__(self) -> None:
        super().__init__(one_hot("happy"))
        self.entered = threading.Event()
        self.release = threading.Event()

    def analyze(self, image, *, bgr=False, tracker=None, stream=None):
        self.entered.set()
        assert self.release.wait(5)
        return super().analyze(image, bgr=bgr)


def test_a_frame_arriving_while_one_is_processed_is_not_queued():
    recognizer = BlockingRecognizer()
    processor = LiveProcessor(recognizer)
    worker = threading.Thread(target=processor.process_bgr, args=(np.zeros((240, 320, 3), np.uint8),))
    worker.start()
    assert recognizer.entered.wait(5)
    late = np.zeros((240, 320, 3), np.uint8)
    returned = processor.process_bgr(late)  # must return at once, not wait for the first call
    assert returned is late
    recognizer.release.set()
    worker.join(5)
    stats = processor.stats()
    assert stats.frames_processed == 1
    assert stats.frames_skipped_busy == 1


def test_a_failing_frame_is_counted_and_the_stream_goes_on():
    class Broken(ScriptedRecognizer):
        def analyze(self, image, *, bgr=False, tracker=None, stream=None):
            raise ValueError("bad frame")

    processor = LiveProcessor(Broken(None))
    frame = np.zeros((240, 320, 3), np.uint8)
    assert processor.process_bgr(frame) is frame
    assert processor.stats().errors == 1


# --- mood, timeline, speed (scripted probabilities, fake clock) --------------------------------------------------
def test_mood_follows_the_faces_after_the_dwell_time():
    clock = FakeClock()
    recognizer = ScriptedRecognizer(one_hot("happy"))
    processor = LiveProcessor(recognizer, mood_config=MoodConfig(time_constant_s=0.5, dwell_s=2.0), clock=clock)
    for _ in range(10):  # 1 s of happy frames at 10 fps: not yet past the dwell
        processor.process_bgr(np.zeros((240, 320, 3), np.uint8))
        clock.now += 0.1
    assert processor.stats().mood.mood is None
    for _ in range(20):
        processor.process_bgr(np.zeros((240, 320, 3), np.uint8))
        clock.now += 0.1
    stats = processor.stats()
    assert stats.mood.mood == "happy"
    assert stats.fps == pytest.approx(10.0, rel=0.05)


def test_set_mood_config_applies_to_the_next_frames():
    clock = FakeClock()
    processor = LiveProcessor(ScriptedRecognizer(one_hot("sad")), clock=clock)
    processor.set_mood_config(MoodConfig(time_constant_s=0.0, dwell_s=0.0))
    processor.process_bgr(np.zeros((240, 320, 3), np.uint8))
    assert processor.stats().mood.mood == "sad"


def test_timeline_keeps_only_the_last_minute_however_long_the_stream():
    clock = FakeClock()
    processor = LiveProcessor(ScriptedRecognizer(one_hot("neutral")), clock=clock, timeline_interval_s=0.25)
    for _ in range(10 * 60 * 15):  # ten minutes at 15 fps
        processor.process_bgr(np.zeros((48, 64, 3), np.uint8))
        clock.now += 1 / 15
    samples = processor.timeline.samples(clock.now)
    assert len(samples) <= 60 / 0.25 + 1
    assert clock.now - samples[0].t <= 60.0 + 1e-6
    columns = processor.timeline.chart_columns(clock.now)
    assert min(columns["seconds"]) >= -60.0 and max(columns["seconds"]) <= 0.0
    assert columns["neutral"][-1] == pytest.approx(0.9, abs=1e-6)


def test_lag_reports_waiting_plus_processing_beyond_the_fixed_delay():
    meter = LagMeter()
    # capture times every 0.1 s; transport delay 0.05 s; processing 0.02 s; frame 3 waited 0.3 s for the worker
    waits = [0.0, 0.0, 0.0, 0.3, 0.0]
    for index, wait in enumerate(waits):
        capture = 5000.0 + index * 0.1
        started = 20.0 + index * 0.1 + 0.05 + wait  # another clock entirely: only differences count
        meter.record(capture, started, started + 0.02)
    summary = meter.summary()
    assert summary["process_ms"] == pytest.approx(20.0)
    assert summary["lag_ms"] == pytest.approx((0.02 * 5 + 0.3) / 5 * 1000)
    assert meter.record(None, 1.0, 1.01) is None


def test_lag_rebases_when_a_new_stream_brings_a_new_media_clock():
    meter = LagMeter()
    meter.record(100.0, 10.0, 10.02)
    lag = meter.record(9_000_000.0, 11.0, 11.03)  # new RTP clock: not a 9 million second lag
    assert lag == pytest.approx(0.03)


def test_fps_meter_forgets_old_frames():
    meter = FpsMeter(window_s=5.0)
    for index in range(30):
        meter.tick(index * 0.2)
    assert meter.fps(5.8) == pytest.approx(5.0)
    assert meter.fps(100.0) == 0.0


# --- page text helpers --------------------------------------------------------------------------------------------
def test_sensitivity_levels_map_to_detector_settings():
    strict, balanced, sensitive = (detector_for_sensitivity(name) for name in ("Strict", "Balanced", "Sensitive"))
    assert strict.min_neighbors > balanced.min_neighbors > sensitive.min_neighbors
    assert balanced == DetectorConfig()
    with pytest.raises(ValueError, match="unknown sensitivity"):
        detector_for_sensitivity("Paranoid")


def test_describe_mood_says_what_the_page_shows():
    assert describe_mood(MoodState(), 2.0) == "No steady mood yet."
    steady = MoodState(mood="happy", since_s=4.2, smoothed={"happy": 0.8}, confidence=0.8)
    assert describe_mood(steady, 2.0) == "Mood: **happy** for 4 s."
    turning = MoodState(mood="happy", since_s=9, smoothed={"sad": 0.6}, candidate="sad", candidate_held_s=1.25)
    assert describe_mood(turning, 2.0) == "Mood: **happy** for 9 s · turning **sad** (1.2 / 2.0 s)."


def test_speed_line_format():
    assert LiveStats().speed_line() == "Analysis: no frame yet · overlay lag n/a · 0 skipped"
    stats = LiveStats(process_ms=23.4, process_ms_p95=41.0, lag_ms=40.2, lag_ms_p95=80.0, frames_skipped_busy=2)
    assert stats.speed_line() == "Analysis 23 ms/frame (p95 41 ms) · overlay lag 40 ms (p95 80 ms) · 2 skipped"


# --- the end of a stream ------------------------------------------------------------------------------------------
def test_end_of_stream_forgets_the_mood_timeline_and_faces():
    """README (Privacy): the live page's mood, timeline and last faces are cleared as soon as the stream stops."""
    clock = FakeClock()
    processor = LiveProcessor(ScriptedRecognizer(one_hot("happy")), clock=clock)
    processor.set_mood_config(MoodConfig(time_constant_s=0.0, dwell_s=0.0))
    for _ in range(8):
        processor.process_bgr(np.zeros((240, 320, 3), np.uint8))
        clock.now += 0.5
    stats = processor.stats()
    assert stats.mood.mood == "happy" and stats.faces and len(processor.timeline) == 8  # else this test is moot
    processor.end_stream()
    stats = processor.stats()
    assert stats.mood == MoodState() and stats.faces == () and len(processor.timeline) == 0
    assert processor.timeline.chart_columns(clock.now)["seconds"] == []
    assert stats.frames_processed == 8, "counters are not personal data: they are kept"
    processor.process_bgr(np.zeros((240, 320, 3), np.uint8))  # a new stream starts from no mood
    assert processor.stats().mood.since_s == 0.0 and len(processor.timeline) == 1


def test_end_of_stream_waits_for_the_frame_being_analysed():
    """A frame still in analysis when the stream ends must not bring its mood back after the clear."""
    release = threading.Event()
    started = threading.Event()

    class SlowRecognizer(ScriptedRecognizer):
        def analyze(self, image, *, bgr=False, tracker=None, **kwargs):
            started.set()
            release.wait(10)
            return super().analyze(image, bgr=bgr, tracker=tracker)

    processor = LiveProcessor(SlowRecognizer(one_hot("sad")), mood_config=MoodConfig(time_constant_s=0, dwell_s=0))
    frame = threading.Thread(target=processor.process_bgr, args=(np.zeros((48, 64, 3), np.uint8),))
    frame.start()
    assert started.wait(10)
    ending = threading.Thread(target=processor.end_stream)
    ending.start()
    ending.join(0.3)
    assert ending.is_alive(), "end_stream returned while a frame was still being analysed"
    release.set()
    frame.join(10)
    ending.join(10)
    assert processor.stats().mood == MoodState() and len(processor.timeline) == 0
