"""Analyse an uploaded video file in memory: the mood over time, valence and arousal, mood segments, a few
annotated frames and the CSV of ``python -m fer_core video``.

Nothing is written to disk: the bytes are decoded with PyAV from memory (``av.open(BytesIO)``). Frames are sampled
at ``VideoLimits.sample_fps`` by their timestamps, analysed as a tracked stream (``stream=True`` with a face
tracker, like the live page) and smoothed by a :class:`~fer_core.mood.tracker.MoodTracker` on the video's own
clock, so the steady mood and its segments mean the same as on the live page. Any problem (too big, too long, not
a video, no decodable frame) raises :class:`VideoUploadError` with a message for the page.

API::

    VideoLimits(max_bytes=25 MiB, max_duration_s=120, sample_fps=5, annotated_frames=4)
    analyze_video_upload(data: bytes, name: str, recognizer, *, limits=None, mood_config=None,
                         progress: Callable[[float], None] | None = None) -> VideoAnalysis
    VideoAnalysis.rows (VideoRow per analysed frame), .segments (MoodSegment), .annotated [(t, RGB image)],
                 .csv_bytes(), .chart_columns()
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fer_core.labels import EMOTIONS
from fer_core.mood.affect import affect
from fer_core.mood.tracker import MoodConfig, MoodTracker
from fer_core.recognition.drawing import draw_results
from fer_core.recognition.image_io import MIB, display_name
from fer_core.recognition.results import FaceResult

logger = logging.getLogger(__name__)

VIDEO_TYPES: tuple[str, ...] = ("mp4", "webm", "mov")
CSV_COLUMNS: tuple[str, ...] = (
    "frame", "time_s", "face", "x", "y", "w", "h", "emotion", "confidence", *EMOTIONS, "valence", "arousal",
)  # fmt: skip
"""The columns of ``python -m fer_core video`` (see ``fer_core.cli``), one row per face per analysed frame."""


class VideoUploadError(ValueError):
    """The upload cannot be analysed; the message is meant for the page."""


@dataclass(frozen=True)
class VideoLimits:
    """Caps on an uploaded video (the upload size is also capped by ``server.maxUploadSize``)."""

    max_bytes: int = 25 * MIB
    max_duration_s: float = 120.0
    sample_fps: float = 5.0
    """Frames analysed per second of video."""
    annotated_frames: int = 4
    """How many annotated frames to keep: the first frame with a face at or after evenly spaced times."""

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or not (math.isfinite(self.max_duration_s) and self.max_duration_s > 0):
            raise ValueError("VideoLimits.max_bytes and max_duration_s must be > 0")
        if not (math.isfinite(self.sample_fps) and self.sample_fps > 0) or self.annotated_frames < 0:
            raise ValueError("VideoLimits.sample_fps must be > 0 and annotated_frames >= 0")


@dataclass(frozen=True)
class VideoRow:
    """One analysed frame: the largest face's reading and the steady mood after it."""

    frame: int
    t: float
    faces: tuple[FaceResult, ...]
    smoothed: tuple[float, ...] | None
    """The tracker's smoothed probabilities (FER2013 order) after this frame, ``None`` before any face."""
    valence: float | None
    arousal: float | None
    """Of the smoothed probabilities (``None`` without them)."""
    mood: str | None


@dataclass(frozen=True)
class MoodSegment:
    """A stretch of the video with one steady mood (``None``: no steady mood)."""

    mood: str | None
    start_s: float
    end_s: float

    @property
    def seconds(self) -> float:
        return self.end_s - self.start_s


@dataclass
class VideoAnalysis:
    name: str
    duration_s: float
    frames_read: int
    rows: list[VideoRow] = field(default_factory=list)
    segments: list[MoodSegment] = field(default_factory=list)
    annotated: list[tuple[float, np.ndarray]] = field(default_factory=list)

    @property
    def frames_with_faces(self) -> int:
        return sum(1 for row in self.rows if row.faces)

    def chart_columns(self) -> dict[str, list[Any]]:
        """``seconds``, the 7 smoothed probabilities, ``valence`` and ``arousal`` per analysed frame."""
        columns: dict[str, list[Any]] = {"seconds": [round(row.t, 3) for row in self.rows]}
        for index, name in enumerate(EMOTIONS):
            columns[name] = [row.smoothed[index] if row.smoothed else None for row in self.rows]
        columns["valence"] = [row.valence for row in self.rows]
        columns["arousal"] = [row.arousal for row in self.rows]
        return columns

    def csv_bytes(self) -> bytes:
        """The rows in the CSV format of ``python -m fer_core video`` (raw per-face readings, not smoothed)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in self.rows:
            if not row.faces:
                writer.writerow([row.frame, f"{row.t:.3f}"] + [""] * (len(CSV_COLUMNS) - 2))
                continue
            for number, face in enumerate(row.faces):
                point = affect(face.probabilities)
                writer.writerow(
                    [row.frame, f"{row.t:.3f}", number, *face.box, face.emotion, f"{face.confidence:.6f}"]
                    + [f"{p:.6f}" for p in face.probabilities]
                    + [f"{point.valence:.6f}", f"{point.arousal:.6f}"]
                )
        return buffer.getvalue().encode("utf-8")


def _open(data: bytes, label: str) -> Any:
    import av

    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.error.FFmpegError, ValueError, OSError) as error:
        raise VideoUploadError(f"{label} is not a video this app can read (mp4, webm or mov): {error}") from None
    if not container.streams.video:
        container.close()
        raise VideoUploadError(f"{label} has no video track.")
    return container


def _duration(container: Any) -> float | None:
    if container.duration:
        return container.duration / 1_000_000  # av.time_base
    stream = container.streams.video[0]
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return None


def _segments(rows: list[VideoRow], end_s: float) -> list[MoodSegment]:
    segments: list[MoodSegment] = []
    for row in rows:
        if segments and segments[-1].mood == row.mood:
            continue
        if segments:
            segments[-1] = MoodSegment(segments[-1].mood, segments[-1].start_s, row.t)
        segments.append(MoodSegment(row.mood, row.t, row.t))
    if segments:
        segments[-1] = MoodSegment(segments[-1].mood, segments[-1].start_s, max(end_s, segments[-1].start_s))
    return segments


def analyze_video_upload(
    data: bytes,
    name: str,
    recognizer: Any,
    *,
    limits: VideoLimits | None = None,
    mood_config: MoodConfig | None = None,
    progress: Callable[[float], None] | None = None,
) -> VideoAnalysis:
    """Analyse an uploaded video (see the module docstring); ``progress`` gets 0-1 as the video is read."""
    limits = limits if limits is not None else VideoLimits()
    label = display_name(name)
    if not data:
        raise VideoUploadError(f"{label} is empty (0 bytes).")
    if len(data) > limits.max_bytes:
        raise VideoUploadError(
            f"{label} is {len(data) / MIB:.1f} MB; videos up to {limits.max_bytes // MIB} MB can be analysed."
        )
    container = _open(data, label)
    try:
        duration = _duration(container)
        if duration is not None and duration > limits.max_duration_s:
            raise VideoUploadError(
                f"{label} is {duration:.0f} s long; videos up to {limits.max_duration_s:.0f} s can be analysed."
            )
        analysis = VideoAnalysis(name=label, duration_s=duration or 0.0, frames_read=0)
        sampler = _FrameSampler(recognizer, mood_config, limits, span=duration or limits.max_duration_s)
        last_t = _decode(container, analysis, sampler, limits, progress)
    finally:
        container.close()
    if not analysis.rows:
        raise VideoUploadError(f"no frame of {label} could be decoded (is it a video file?).")
    analysis.duration_s = max(analysis.duration_s, last_t)
    analysis.segments = _segments(analysis.rows, analysis.duration_s)
    if progress is not None:
        progress(1.0)
    logger.info(
        "video %s: %.1f s, %d frames read, %d analysed, %d with faces",
        label, analysis.duration_s, analysis.frames_read, len(analysis.rows), analysis.frames_with_faces,
    )  # fmt: skip
    return analysis


def _decode(
    container: Any,
    analysis: VideoAnalysis,
    sampler: _FrameSampler,
    limits: VideoLimits,
    progress: Callable[[float], None] | None,
) -> float:
    """Decode every frame, hand ``limits.sample_fps`` of them a second to ``sampler``; the last frame's time."""
    import av

    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    label, duration = analysis.name, analysis.duration_s
    next_t = last_t = 0.0
    try:
        for index, frame in enumerate(container.decode(stream)):
            t = float(frame.time) if frame.time is not None else index / float(stream.average_rate or 25)
            analysis.frames_read += 1
            last_t = max(last_t, t)
            if t > limits.max_duration_s:
                raise VideoUploadError(
                    f"{label} is longer than {limits.max_duration_s:.0f} s; shorter videos only, please."
                )
            if t + 1e-6 < next_t:
                continue
            next_t = t + 1.0 / limits.sample_fps
            sampler.add(analysis, index, t, frame.to_ndarray(format="bgr24"))
            if progress is not None and duration:
                progress(min(1.0, t / duration))
    except av.error.FFmpegError as error:
        if not analysis.rows:
            raise VideoUploadError(f"no frame of {label} could be decoded: {error}") from None
        logger.warning("video %s: decoding stopped after %d frames: %s", label, analysis.frames_read, error)
    return last_t


class _FrameSampler:
    """Analyses the sampled frames in order: faces (tracked), the smoothed mood, affect, a few annotated frames."""

    def __init__(self, recognizer: Any, mood_config: MoodConfig | None, limits: VideoLimits, *, span: float) -> None:
        self.recognizer = recognizer
        self.tracker = MoodTracker(mood_config, clock=lambda: 0.0)
        self.face_tracker = recognizer.new_tracker()
        self.targets = [span * (i + 0.5) / limits.annotated_frames for i in range(limits.annotated_frames)]
        """When to keep an annotated frame: the first frame with a face at or after each of these times."""

    def add(self, analysis: VideoAnalysis, index: int, t: float, image: np.ndarray) -> None:
        faces = tuple(self.recognizer.analyze(image, bgr=True, tracker=self.face_tracker, stream=True))
        state = self.tracker.update(faces[0].probabilities if faces else None, timestamp=t)
        smoothed = tuple(state.smoothed[e] for e in EMOTIONS) if state.smoothed else None
        point = affect(smoothed) if smoothed else None
        analysis.rows.append(
            VideoRow(
                frame=index, t=t, faces=faces, smoothed=smoothed, mood=state.mood,
                valence=None if point is None else float(point.valence),
                arousal=None if point is None else float(point.arousal),
            )
        )  # fmt: skip
        if faces and self.targets and t >= self.targets[0]:
            while self.targets and t >= self.targets[0]:
                self.targets.pop(0)
            analysis.annotated.append((t, _annotate(image, faces)))


def _annotate(image: np.ndarray, faces: tuple[FaceResult, ...], max_width: int = 640) -> np.ndarray:
    """The frame with its overlay, as RGB, at most ``max_width`` wide (kept in memory for the page)."""
    annotated = draw_results(image.copy(), list(faces), bgr=True)
    if annotated.shape[1] > max_width:
        import cv2

        height = round(annotated.shape[0] * max_width / annotated.shape[1])
        annotated = cv2.resize(annotated, (max_width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(annotated[:, :, ::-1])
