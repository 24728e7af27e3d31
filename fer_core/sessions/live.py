"""Per-session processing of live webcam frames for streamlit-webrtc's ``video_frame_callback``.

Threading model: streamlit-webrtc calls :meth:`LiveProcessor.__call__` from its own worker thread, while the page
script reads :meth:`LiveProcessor.stats` from Streamlit's script thread. All shared state is guarded by one lock;
the (thread-safe, shareable) :class:`~fer_core.recognition.recognizer.EmotionRecognizer` runs outside it.

No frame queue: with ``async_processing=True`` streamlit-webrtc's worker drains its input queue before each call
and hands the callback only the newest frame (older ones are dropped, and the browser keeps showing the last
processed frame). As a second guard, a call that arrives while another one is still running is not queued
either: it gets the last overlay drawn on it and returns at once (``frames_skipped_busy``). The overlay lag is
measured per frame (:class:`LagMeter`), so a backlog would show up as a growing lag.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from fer_core.mood.timeline import MoodTimeline
from fer_core.mood.tracker import MoodConfig, MoodState, MoodTracker
from fer_core.recognition.detector import DetectorConfig
from fer_core.recognition.drawing import draw_results
from fer_core.recognition.recognizer import EmotionRecognizer
from fer_core.recognition.results import FaceResult
from fer_core.recognition.tracking import TrackerConfig
from fer_core.sessions.on_device.results import DeviceBatch, server_times

logger = logging.getLogger(__name__)

SENSITIVITY_PRESETS: dict[str, DetectorConfig] = {
    "Strict": DetectorConfig(scale_factor=1.2, min_neighbors=8),
    "Balanced": DetectorConfig(),
    "Sensitive": DetectorConfig(scale_factor=1.1, min_neighbors=3),
}
"""Detector sensitivity levels offered on the live page (fewer false faces <-> fewer missed faces)."""


def detector_for_sensitivity(level: str) -> DetectorConfig:
    """The :class:`DetectorConfig` for one of :data:`SENSITIVITY_PRESETS`; ``ValueError`` for an unknown level."""
    try:
        return SENSITIVITY_PRESETS[level]
    except KeyError:
        raise ValueError(f"unknown sensitivity {level!r}; expected one of {', '.join(SENSITIVITY_PRESETS)}") from None


class FpsMeter:
    """Frames per second over the recent frames: at most ``max_frames`` of them, none older than ``window_s``."""

    def __init__(self, window_s: float = 5.0, max_frames: int = 30) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque(maxlen=max_frames)

    def tick(self, now: float) -> None:
        self._times.append(now)

    def fps(self, now: float) -> float:
        """0 when fewer than two frames arrived in the last ``window_s`` seconds."""
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


class LagMeter:
    """Overlay lag per frame: from the frame's capture (its media timestamp) to its processed result.

    Media timestamps have an unknown offset to the server clock, so the smallest ``start - capture`` difference
    seen is taken as the fixed transport delay and subtracted: what remains is the time a frame waited for the
    worker plus the processing time, which is what a backlog would inflate.
    """

    def __init__(self, window: int = 150, rebase_after_s: float = 5.0) -> None:
        self._offset: float | None = None
        self._lags: deque[float] = deque(maxlen=window)
        self._process: deque[float] = deque(maxlen=window)
        self.rebase_after_s = rebase_after_s

    def record(self, capture: float | None, started: float, finished: float) -> float | None:
        """Record one frame; return its lag in seconds (``None`` without a media timestamp)."""
        self._process.append(finished - started)
        if capture is None:
            return None
        delta = started - capture
        if self._offset is None or abs(delta - self._offset) > self.rebase_after_s:
            self._offset = delta  # first frame, or a new stream with a new media clock
        elif delta < self._offset:
            self._offset = delta
        lag = finished - capture - self._offset
        self._lags.append(lag)
        return lag

    def summary(self) -> dict[str, float | None]:
        def stats(values: deque[float]) -> tuple[float | None, float | None]:
            if not values:
                return None, None
            array = np.fromiter(values, float)
            return float(array.mean() * 1000), float(np.percentile(array, 95) * 1000)

        process_mean, process_p95 = stats(self._process)
        lag_mean, lag_p95 = stats(self._lags)
        return {"process_ms": process_mean, "process_ms_p95": process_p95, "lag_ms": lag_mean, "lag_ms_p95": lag_p95}


@dataclass(frozen=True)
class LiveStats:
    """A consistent snapshot of one session's live processing, for the page."""

    frames_processed: int = 0
    frames_with_face: int = 0
    frames_skipped_busy: int = 0
    errors: int = 0
    fps: float = 0.0
    process_ms: float | None = None
    process_ms_p95: float | None = None
    lag_ms: float | None = None
    lag_ms_p95: float | None = None
    faces: tuple[FaceResult, ...] = ()
    mood: MoodState = field(default_factory=MoodState)
    seconds_since_frame: float | None = None
    frame_size: tuple[int, int] | None = None

    @property
    def streaming(self) -> bool:
        """A frame was processed in the last three seconds."""
        return self.seconds_since_frame is not None and self.seconds_since_frame < 3.0

    def speed_line(self) -> str:
        """``"Analysis 23 ms/frame (p95 41 ms) · overlay lag 40 ms (p95 80 ms) · 0 skipped"`` (tests parse it)."""
        if self.process_ms is None:
            return "Analysis: no frame yet · overlay lag n/a · 0 skipped"
        lag = "n/a" if self.lag_ms is None else f"{self.lag_ms:.0f} ms (p95 {self.lag_ms_p95:.0f} ms)"
        return (
            f"Analysis {self.process_ms:.0f} ms/frame (p95 {self.process_ms_p95:.0f} ms) · overlay lag {lag} · "
            f"{self.frames_skipped_busy} skipped"
        )


class FrameAnalytics(Protocol):
    """The per-frame hooks of :class:`~fer_core.sessions.live_analytics.LiveAnalytics`."""

    def calibrate(self, probabilities: Any, t: float) -> Any: ...

    def observe(self, t: float, state: MoodState, *, faces: int) -> Any: ...


class LiveProcessor:
    """Analyse frames, draw the overlay server-side, smooth the mood, keep fps, lag and a 60 s mood timeline.

    Create one per browser session (keep it in ``st.session_state``), pass the instance itself as
    ``video_frame_callback`` and :meth:`end_stream` as ``on_video_ended``; the recognizer may be shared by all
    sessions.
    """

    def __init__(
        self,
        recognizer: EmotionRecognizer,
        *,
        mood_config: MoodConfig | None = None,
        timeline_window_s: float = 60.0,
        timeline_interval_s: float = 0.25,
        tracker_config: TrackerConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base_recognizer = recognizer
        self._recognizer = recognizer
        self._face_tracker = recognizer.new_tracker(tracker_config)
        self._clock = clock
        self._lock = threading.Lock()
        self._busy = threading.Lock()
        self.tracker = MoodTracker(mood_config, clock=clock)
        self.timeline = MoodTimeline(timeline_window_s, timeline_interval_s)
        self._fps = FpsMeter()
        self._lag = LagMeter()
        self._frames = 0
        self._with_face = 0
        self._skipped = 0
        self._errors = 0
        self._faces: tuple[FaceResult, ...] = ()
        self._last_frame_at: float | None = None
        self._frame_size: tuple[int, int] | None = None
        self._device_stream: tuple[str, int] | None = None
        """(stream id, seq) of the last on-device batch taken in."""
        self._device_last_t = float("-inf")
        self._device_skipped_base = 0
        self._device_active = False
        self.analytics: FrameAnalytics | None = None
        """Per-session analytics (calibration before the tracker, a reading per frame after it), or ``None``."""

    # --- settings (called from the page script) -------------------------------------------------------------
    def set_detector(self, config: DetectorConfig) -> None:
        """Use other detector settings from the next frame on (the loaded model is shared)."""
        with self._lock:
            if config != self._recognizer.detector.config:
                self._recognizer = self._base_recognizer.with_detector(config)
                self._face_tracker = self._recognizer.new_tracker(self._face_tracker.config)
                logger.info("live detector settings: %s", config)

    def set_mood_config(self, config: MoodConfig) -> None:
        """Change smoothing/dwell from the next frame on, keeping the current mood."""
        if config != self.tracker.config:
            self.tracker.config = config
            logger.info("live mood settings: %s", config)

    @property
    def recognizer(self) -> EmotionRecognizer:
        """The shared recognizer this processor was made with (before detector changes)."""
        return self._base_recognizer

    @property
    def detector_config(self) -> DetectorConfig:
        with self._lock:
            return self._recognizer.detector.config

    # --- the video thread -----------------------------------------------------------------------------------
    def __call__(self, frame: Any) -> Any:
        """streamlit-webrtc callback: ``av.VideoFrame`` in, annotated ``av.VideoFrame`` out."""
        import av

        image = frame.to_ndarray(format="bgr24")
        annotated = self.process_bgr(image, capture_time=frame.time)
        return av.VideoFrame.from_ndarray(annotated, format="bgr24")

    def process_bgr(self, image: np.ndarray, *, capture_time: float | None = None, draw: bool = True) -> np.ndarray:
        """Analyse one BGR frame and return it with the overlay drawn (in place when ``image`` is writable).

        ``draw=False`` (lean mode: no video goes back) only analyses.
        """
        if draw and not image.flags.writeable:
            image = image.copy()
        if not self._busy.acquire(blocking=False):
            with self._lock:
                self._skipped += 1
                faces = self._faces
            return draw_results(image, faces, bgr=True) if draw else image
        try:
            return self._process(image, capture_time, draw)
        finally:
            self._busy.release()

    def _process(self, image: np.ndarray, capture_time: float | None, draw: bool = True) -> np.ndarray:
        started = self._clock()
        with self._lock:
            recognizer, face_tracker = self._recognizer, self._face_tracker
        try:
            faces = recognizer.analyze(image, bgr=True, tracker=face_tracker, stream=True)
        except Exception:  # one bad frame must not end the stream
            logger.exception("live frame analysis failed")
            with self._lock:
                self._errors += 1
            return image
        state = self._update_mood(faces, started)
        if draw:
            draw_results(image, faces, bgr=True)
        finished = self._clock()
        size = (int(image.shape[1]), int(image.shape[0]))
        self._record_frame(faces, state, size, capture_time=capture_time, started=started, finished=finished)
        return image

    def _update_mood(self, faces: Sequence[FaceResult], started: float) -> MoodState:
        """Calibrate the largest face's probabilities (if analytics calibrate) and feed the mood tracker."""
        probabilities = faces[0].probabilities if faces else None
        if self.analytics is not None:
            probabilities = self.analytics.calibrate(probabilities, started)
        return self.tracker.update(probabilities, timestamp=started)

    def _record_frame(
        self,
        faces: Sequence[FaceResult],
        state: MoodState,
        size: tuple[int, int],
        *,
        capture_time: float | None,
        started: float,
        finished: float,
    ) -> None:
        """Count one analysed frame: counters, fps, lag, the latest faces, the timeline and the analytics."""
        with self._lock:
            self._frames += 1
            self._with_face += bool(faces)
            self._faces = tuple(faces)
            self._last_frame_at = finished
            self._frame_size = size
            self._fps.tick(finished)
            self._lag.record(capture_time, started, finished)
        self.timeline.add(started, state)
        if self.analytics is not None:
            self.analytics.observe(started, state, faces=len(faces))

    # --- on-device mode (the browser analyses; fer_core.sessions.on_device) -----------------------------------
    def ingest_device_results(self, batch: DeviceBatch, received_at: float | None = None) -> int:
        """Feed the frames a browser analysed itself through the same mood, timeline and analytics path.

        Frames are timed on this processor's clock (:func:`~fer_core.sessions.on_device.results.server_times`),
        never earlier than the last frame taken in. A batch already taken in (same stream, same or lower
        ``seq``) is ignored; ``batch.ended`` (the viewer pressed Stop) ends the stream like ``end_stream``.
        Returns how many frames were taken in.
        """
        received_at = self._clock() if received_at is None else received_at
        with self._busy:
            with self._lock:
                last = self._device_stream
                if last is not None and last[0] == batch.stream_id and batch.seq <= last[1]:
                    return 0
                if last is None or last[0] != batch.stream_id:
                    self._device_skipped_base = self._skipped  # the browser counts from 0 per stream
                self._device_stream = (batch.stream_id, batch.seq)
                self._device_active = True
                self._skipped = self._device_skipped_base + batch.skipped
                floor = self._device_last_t
            for frame, grabbed in zip(batch.frames, server_times(batch, received_at), strict=True):
                floor = grabbed = min(received_at, max(grabbed, floor))
                state = self._update_mood(frame.faces, grabbed)
                waited = max(0.0, frame.total_ms - frame.detect_ms - frame.classify_ms) / 1000.0
                finished = min(received_at, grabbed + frame.total_ms / 1000.0)
                started = min(grabbed + waited, finished)
                self._record_frame(
                    frame.faces, state, frame.size, capture_time=grabbed, started=started, finished=finished
                )
            with self._lock:
                self._device_last_t = floor
        if batch.ended:
            self.end_stream()
        return len(batch.frames)

    def end_device_stream(self) -> bool:
        """End an on-device stream that sent no Stop (the viewer switched to server processing, so the component
        went away): :meth:`end_stream` if a device batch was taken in since the last stream ended. Returns whether."""
        with self._lock:
            active = self._device_active
        if active:
            self.end_stream()
        return active

    def end_stream(self, wait_s: float = 5.0) -> None:
        """Forget this stream's faces and moods: the mood, its timeline, the last faces and the tracked boxes.

        streamlit-webrtc calls it (``on_video_ended``, from its worker thread) when the webcam stream stops: the
        STOP button, or a closed tab ending the connection. A frame still being analysed is waited for (at most
        ``wait_s``), so it cannot bring its mood back. Counters and timings are kept; the next stream starts
        with no mood.
        """
        finished = self._busy.acquire(timeout=wait_s)
        try:
            self.tracker.reset()
            self.timeline.clear()
            with self._lock:
                self._faces = ()
                face_tracker = self._face_tracker
                self._device_active = False
            if face_tracker is not None:
                face_tracker.reset()
        finally:
            if finished:
                self._busy.release()
        logger.info("live stream ended: mood, timeline and faces cleared")

    # --- the page script ------------------------------------------------------------------------------------
    def stats(self) -> LiveStats:
        """A snapshot of counters, speed, the latest faces and the current (smoothed, hysteresis) mood."""
        now = self._clock()
        mood = self.tracker.state(now)
        with self._lock:
            lag = self._lag.summary()
            return LiveStats(
                frames_processed=self._frames,
                frames_with_face=self._with_face,
                frames_skipped_busy=self._skipped,
                errors=self._errors,
                fps=self._fps.fps(now),
                process_ms=lag["process_ms"],
                process_ms_p95=lag["process_ms_p95"],
                lag_ms=lag["lag_ms"],
                lag_ms_p95=lag["lag_ms_p95"],
                faces=self._faces,
                mood=mood,
                seconds_since_frame=None if self._last_frame_at is None else now - self._last_frame_at,
                frame_size=self._frame_size,
            )

    def now(self) -> float:
        """The processor's clock (the time base of the timeline)."""
        return self._clock()


def describe_mood(state: MoodState, dwell_s: float) -> str:
    """One Markdown line for the page, e.g. ``"Mood: **happy** for 4 s · turning **sad** (1.2 / 2.0 s)."``."""
    if state.mood is None and state.candidate is None:
        return "No steady mood yet."
    text = f"Mood: **{state.mood}** for {state.since_s:.0f} s" if state.mood else "No steady mood yet"
    if state.candidate:
        text += f" · turning **{state.candidate}** ({min(state.candidate_held_s, dwell_s):.1f} / {dwell_s:.1f} s)"
    return text + "."
