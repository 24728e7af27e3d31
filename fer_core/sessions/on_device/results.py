"""The result batches the on-device component sends (``Streamlit.setComponentValue``), parsed and checked.

The browser is not trusted: every field is type- and range-checked and a malformed batch raises ``ValueError``
(the page logs it and ignores the batch). A batch holds the frames analysed since the previous one:

``{"stream_id": "k3j2...", "seq": 12, "sent_ms": 81234.5, "frames_total": 340, "fps": 14.9, "skipped": 0,
"errors": 0, "ended": false, "frames": [{"t": 81001.2, "w": 640, "h": 480, "detect_ms": 9.1,
"classify_ms": 2.3, "total_ms": 12.0, "faces": [{"box": [x, y, w, h], "p": [7 probabilities]}]}]}``

Times are the browser's ``performance.now()`` in milliseconds; :func:`server_times` maps them to the server's
clock. No image data is ever part of a batch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fer_core.labels import NUM_CLASSES
from fer_core.recognition.results import FaceResult

MAX_FRAMES = 240
"""At most this many frames per batch (16 s at 15 fps; the component sends every 250 ms and keeps 120)."""
MAX_FACES = 10
MAX_SIDE = 8192
_STREAM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class DeviceFrame:
    """One frame the browser analysed."""

    t_ms: float
    """When the browser grabbed it (its ``performance.now()``)."""
    faces: tuple[FaceResult, ...]
    size: tuple[int, int]
    detect_ms: float
    classify_ms: float
    total_ms: float
    """From grabbing the frame to its overlay drawn."""


@dataclass(frozen=True)
class DeviceBatch:
    """The frames analysed since the previous batch, and the stream's counters."""

    stream_id: str
    seq: int
    sent_ms: float
    frames: tuple[DeviceFrame, ...]
    frames_total: int = 0
    fps: float = 0.0
    skipped: int = 0
    errors: int = 0
    ended: bool = False


def _number(value: Any, name: str, low: float = 0.0, high: float = 1e12) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return float(value)


def _integer(value: Any, name: str, low: int = 0, high: int = 2**53) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(_number(value, name, low, high))


def _face(value: Any, size: tuple[int, int]) -> FaceResult:
    if not isinstance(value, Mapping):
        raise ValueError("a face must be an object with 'box' and 'p'")
    box, probabilities = value.get("box"), value.get("p")
    if not isinstance(box, Sequence) or len(box) != 4:
        raise ValueError(f"a face box must be [x, y, w, h], got {box!r}")
    x, y, w, h = (_integer(v, "box", 0, MAX_SIDE) for v in box)
    if w < 1 or h < 1 or x + w > size[0] or y + h > size[1]:
        raise ValueError(f"face box {[x, y, w, h]} is outside the {size[0]}x{size[1]} frame")
    if not isinstance(probabilities, Sequence) or len(probabilities) != NUM_CLASSES:
        raise ValueError(f"a face needs {NUM_CLASSES} probabilities")
    p = np.array([_number(v, "probability", 0.0, 1.0) for v in probabilities])
    if not 0.5 <= p.sum() <= 1.5:
        raise ValueError(f"probabilities must sum to about 1, got {p.sum():.3f}")
    return FaceResult.from_array((x, y, w, h), p / p.sum())


def _frame(value: Any) -> DeviceFrame:
    if not isinstance(value, Mapping):
        raise ValueError("a frame must be an object")
    size = (_integer(value.get("w"), "w", 1, MAX_SIDE), _integer(value.get("h"), "h", 1, MAX_SIDE))
    faces = value.get("faces")
    if not isinstance(faces, Sequence) or isinstance(faces, str) or len(faces) > MAX_FACES:
        raise ValueError(f"faces must be a list of at most {MAX_FACES}")
    return DeviceFrame(
        t_ms=_number(value.get("t"), "t"),
        faces=tuple(_face(face, size) for face in faces),
        size=size,
        detect_ms=_number(value.get("detect_ms"), "detect_ms", 0, 60_000),
        classify_ms=_number(value.get("classify_ms"), "classify_ms", 0, 60_000),
        total_ms=_number(value.get("total_ms"), "total_ms", 0, 60_000),
    )


def parse_batch(value: Any) -> DeviceBatch:
    """A :class:`DeviceBatch` from the component's value; ``ValueError`` when anything is malformed."""
    if not isinstance(value, Mapping):
        raise ValueError(f"a batch must be an object, got {type(value).__name__}")
    stream_id = value.get("stream_id")
    if not isinstance(stream_id, str) or not _STREAM_ID.fullmatch(stream_id):
        raise ValueError("stream_id must be 1-64 letters, digits, '-' or '_'")
    frames = value.get("frames")
    if not isinstance(frames, Sequence) or isinstance(frames, str) or len(frames) > MAX_FRAMES:
        raise ValueError(f"frames must be a list of at most {MAX_FRAMES}")
    ended = value.get("ended", False)
    if not isinstance(ended, bool):
        raise ValueError("ended must be true or false")
    parsed = tuple(_frame(frame) for frame in frames)
    return DeviceBatch(
        stream_id=stream_id,
        seq=_integer(value.get("seq"), "seq", 1),
        sent_ms=_number(value.get("sent_ms"), "sent_ms"),
        frames=tuple(sorted(parsed, key=lambda frame: frame.t_ms)),
        frames_total=_integer(value.get("frames_total", 0), "frames_total"),
        fps=_number(value.get("fps", 0.0), "fps", 0, 1000),
        skipped=_integer(value.get("skipped", 0), "skipped"),
        errors=_integer(value.get("errors", 0), "errors"),
        ended=ended,
    )


def server_times(batch: DeviceBatch, received_at: float) -> list[float]:
    """Each frame's grab time on the server's clock: ``received_at`` minus how long before sending it was grabbed.

    The network delay of the batch itself is not known and is taken as 0 (the batches travel to this server only).
    """
    return [received_at - max(0.0, batch.sent_ms - frame.t_ms) / 1000.0 for frame in batch.frames]
