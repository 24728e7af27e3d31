"""One session's export, built in memory: per-second rows and the per-item reactions, as CSV and JSON bytes.

Nothing is written to disk: the page hands the bytes to download buttons. :class:`SessionLog` accumulates the
:class:`~fer_core.mood.readings.FrameReading` of every analysed frame and resamples them to one row per second;
:func:`build_export` joins those rows with a :class:`~fer_core.mood.reactions.ReactionRecorder`'s summary.

**Two CSV files** (UTF-8, comma-separated, a header row; empty cell = no value), because the two tables have
different rows:

``seconds_csv()`` — one row per whole second of the session that had at least one analysed frame (seconds without
frames, e.g. while the stream was paused, have no row):

==============  ========================================================================================
``second``      whole seconds since the session's first frame (0, 1, 2, ...)
``time``        ISO 8601 UTC time of the start of that second
``frames``      analysed frames in that second
``faces``       the most faces in view in one frame of that second (0: none)
``angry`` ...   the 7 smoothed probabilities (FER2013 order: angry, disgust, fear, happy, sad, surprise,
``neutral``     neutral), mean over that second's frames with a face; empty without a face
``valence``     mean valence in [-1, 1] over those frames (:mod:`fer_core.mood.affect`); empty without a face
``arousal``     mean arousal in [-1, 1], likewise
``mood``        the steady mood at the second's last frame; empty: no steady mood
``confidence``  the smoothed probability of that mood (0 without one)
``items``       ids of the content items on screen at the second's last frame, joined with ``;``
==============  ========================================================================================

``items_csv()`` — one row per content item shown, in order of first appearance (the fields of
:class:`~fer_core.mood.reactions.ItemReaction`): ``item_id, title, times_shown, seconds_on_screen, attention,
mean_valence, peak_valence, mean_arousal, mood_at_start, mood_at_end, valence_at_start, valence_at_end, lift,
samples``, then the mood mix as ``share_angry ... share_neutral, share_none`` (shares of on-screen time, 0-1).
Text cells that start with ``= + - @`` get a leading ``'`` so spreadsheets do not run them as formulas.

**JSON** (``to_json()``, UTF-8)::

    {"schema_version": 1, "session_id": "3f2a9c0d1b7e", "started_at": "2025-01-01T12:00:00+00:00",
     "emotions": ["angry", ..., "neutral"], "affect_coordinates": {"angry": [-0.6175, 0.3], ...},
     "seconds": [{"second": 0, "time": "...", "frames": 12, "faces": 1,
                  "probabilities": {"angry": 0.02, ...} | null, "valence": 0.41 | null, "arousal": 0.12 | null,
                  "mood": "happy" | null, "confidence": 0.71, "items": ["sad-morning-light"]}, ...],
     "items": [{"item_id": ..., "title": ..., ..., "mood_mix": {"happy": 0.6, "none": 0.4}, ...}, ...],
     "dropped_seconds": 0}

``dropped_seconds`` counts the oldest seconds left out when a session outgrew ``SessionLogConfig.max_seconds``.
No image data is ever part of an export.

API::

    SessionLog(config: SessionLogConfig | None = None, *, session_id: str | None = None,
               wall_clock: Callable[[], datetime] = now in UTC)
        .add(reading: FrameReading) -> None; .rows() -> list[SecondRow]; .session_id; .started_at; .reset()
    build_export(log: SessionLog, reactions: ReactionRecorder | None = None, *,
                 titles: Mapping[str, str] | None = None) -> SessionExport
    SessionExport.seconds_csv() -> bytes; .items_csv() -> bytes; .to_json() -> bytes
    SessionExport.downloads() -> dict[str, tuple[bytes, str]]   # file name -> (data, MIME type)
"""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from fer_core.labels import EMOTIONS, NUM_CLASSES
from fer_core.mood.affect import COORDINATES
from fer_core.mood.reactions import NO_MOOD, ItemReaction, ReactionRecorder
from fer_core.mood.readings import FrameReading

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SECONDS_COLUMNS: tuple[str, ...] = (
    "second", "time", "frames", "faces", *EMOTIONS, "valence", "arousal", "mood", "confidence", "items",
)  # fmt: skip
ITEM_FIELDS: tuple[str, ...] = (
    "item_id", "title", "times_shown", "seconds_on_screen", "attention", "mean_valence", "peak_valence",
    "mean_arousal", "mood_at_start", "mood_at_end", "valence_at_start", "valence_at_end", "lift", "samples",
)  # fmt: skip
ITEMS_COLUMNS: tuple[str, ...] = (*ITEM_FIELDS, *(f"share_{mood}" for mood in (*EMOTIONS, NO_MOOD)))
ITEM_SEPARATOR = ";"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class SessionLogConfig:
    """Bounds of :class:`SessionLog`."""

    max_seconds: int = 4 * 3600
    """Most per-second rows kept; beyond it the oldest are dropped (and counted)."""

    def __post_init__(self) -> None:
        if isinstance(self.max_seconds, bool) or not isinstance(self.max_seconds, int) or self.max_seconds < 1:
            raise ValueError(f"SessionLogConfig.max_seconds must be an integer >= 1, got {self.max_seconds!r}")


@dataclass(frozen=True)
class SecondRow:
    """One resampled second (see the module docstring for each field)."""

    second: int
    time: datetime
    frames: int
    faces: int
    probabilities: tuple[float, ...] | None
    valence: float | None
    arousal: float | None
    mood: str | None
    confidence: float
    items: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: probabilities as a mapping by emotion, time as ISO 8601."""
        probabilities = None if self.probabilities is None else dict(zip(EMOTIONS, self.probabilities, strict=True))
        return {
            "second": self.second, "time": self.time.isoformat(), "frames": self.frames, "faces": self.faces,
            "probabilities": probabilities, "valence": self.valence, "arousal": self.arousal, "mood": self.mood,
            "confidence": self.confidence, "items": list(self.items),
        }  # fmt: skip


@dataclass
class _Second:
    frames: int = 0
    faces: int = 0
    face_frames: int = 0
    probability_sum: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CLASSES))
    valence_sum: float = 0.0
    arousal_sum: float = 0.0
    last: FrameReading | None = None

    def add(self, reading: FrameReading) -> None:
        self.frames += 1
        self.faces = max(self.faces, reading.faces)
        self.last = reading
        if reading.probabilities is not None and reading.valence is not None and reading.arousal is not None:
            self.face_frames += 1
            self.probability_sum += reading.probabilities
            self.valence_sum += reading.valence
            self.arousal_sum += reading.arousal

    def row(self, second: int, time: datetime) -> SecondRow:
        assert self.last is not None
        n = self.face_frames
        probabilities = tuple(float(p) for p in self.probability_sum / n) if n else None
        return SecondRow(
            second=second, time=time, frames=self.frames, faces=self.faces, probabilities=probabilities,
            valence=self.valence_sum / n if n else None, arousal=self.arousal_sum / n if n else None,
            mood=self.last.mood, confidence=self.last.confidence, items=self.last.items,
        )  # fmt: skip


class SessionLog:
    """Thread-safe accumulator of frame readings, resampled to one :class:`SecondRow` per second."""

    def __init__(
        self,
        config: SessionLogConfig | None = None,
        *,
        session_id: str | None = None,
        wall_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.config = config if config is not None else SessionLogConfig()
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._clear()

    def _clear(self) -> None:
        self._seconds: dict[int, _Second] = {}
        self._first_t: float | None = None
        self.started_at: datetime | None = None
        self.dropped_seconds = 0

    def reset(self) -> None:
        """Start over (same session id)."""
        with self._lock:
            self._clear()

    def add(self, reading: FrameReading) -> None:
        """Record one analysed frame (a frame from before the session's first one counts in second 0)."""
        with self._lock:
            if self._first_t is None:
                self._first_t = reading.t
                self.started_at = self._wall_clock().astimezone(timezone.utc)
            second = max(0, int((reading.t - self._first_t) // 1.0))
            bucket = self._seconds.get(second)
            if bucket is None:
                bucket = self._seconds[second] = _Second()
                self._trim()
            bucket.add(reading)

    def _trim(self) -> None:
        while len(self._seconds) > self.config.max_seconds:
            oldest = min(self._seconds)
            del self._seconds[oldest]
            self.dropped_seconds += 1
            logger.debug("session log full: dropped second %d", oldest)

    def rows(self) -> list[SecondRow]:
        """The resampled rows, in time order."""
        with self._lock:
            start = self.started_at
            if start is None:
                return []
            return [
                bucket.row(second, start + timedelta(seconds=second))
                for second, bucket in sorted(self._seconds.items())
            ]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def _text_cell(value: str | None) -> str:
    """Text from the catalog, guarded against spreadsheet formula injection."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _csv_bytes(header: Sequence[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


@dataclass(frozen=True)
class SessionExport:
    """One session, ready to download (see the module docstring for the schema)."""

    session_id: str
    started_at: datetime | None
    seconds: list[SecondRow]
    items: list[ItemReaction]
    dropped_seconds: int = 0

    def seconds_csv(self) -> bytes:
        rows = []
        for row in self.seconds:
            probabilities = row.probabilities if row.probabilities is not None else (None,) * NUM_CLASSES
            rows.append(
                [str(row.second), row.time.isoformat(), str(row.frames), str(row.faces)]
                + [_cell(p) for p in probabilities]
                + [_cell(row.valence), _cell(row.arousal), row.mood or "", _cell(float(row.confidence))]
                + [_text_cell(ITEM_SEPARATOR.join(row.items))]
            )
        return _csv_bytes(SECONDS_COLUMNS, rows)

    def items_csv(self) -> bytes:
        rows = []
        for item in self.items:
            cells = [_text_cell(item.item_id), _text_cell(item.title)]
            cells += [_cell(getattr(item, name)) for name in ITEM_FIELDS[2:]]
            cells += [_cell(float(item.mood_mix.get(mood, 0.0))) for mood in (*EMOTIONS, NO_MOOD)]
            rows.append(cells)
        return _csv_bytes(ITEMS_COLUMNS, rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "session_id": self.session_id,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "emotions": list(EMOTIONS),
            "affect_coordinates": {
                name: [float(v), float(a)] for name, (v, a) in zip(EMOTIONS, COORDINATES, strict=True)
            },
            "seconds": [row.to_dict() for row in self.seconds],
            "items": [{name: getattr(item, name) for name in item.__dataclass_fields__} for item in self.items],
            "dropped_seconds": self.dropped_seconds,
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1, allow_nan=False).encode("utf-8")

    def downloads(self) -> dict[str, tuple[bytes, str]]:
        """Suggested file names -> (bytes, MIME type), for the page's download buttons."""
        stem = f"mood-session-{self.session_id}"
        return {
            f"{stem}-seconds.csv": (self.seconds_csv(), "text/csv"),
            f"{stem}-items.csv": (self.items_csv(), "text/csv"),
            f"{stem}.json": (self.to_json(), "application/json"),
        }


def build_export(
    log: SessionLog, reactions: ReactionRecorder | None = None, *, titles: Mapping[str, str] | None = None
) -> SessionExport:
    """The export of everything ``log`` (and ``reactions``) recorded so far."""
    items = reactions.summary(titles) if reactions is not None else []
    return SessionExport(
        session_id=log.session_id,
        started_at=log.started_at,
        seconds=log.rows(),
        items=items,
        dropped_seconds=log.dropped_seconds,
    )
