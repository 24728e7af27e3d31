"""A bounded, thread-safe record of the smoothed mood over the last minute, for the live timeline chart."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

from fer_core.labels import EMOTIONS
from fer_core.mood.tracker import MoodState


@dataclass(frozen=True)
class TimelineSample:
    """The tracker's state at time ``t`` (seconds on the processor's clock)."""

    t: float
    smoothed: tuple[float, ...]
    """Smoothed probabilities in FER2013 order; empty when no face was being tracked."""
    mood: str | None


class MoodTimeline:
    """Keeps at most one sample per ``min_interval_s`` and only the last ``window_s`` seconds of them.

    Memory is bounded by ``window_s / min_interval_s`` samples however long the stream runs.
    """

    def __init__(self, window_s: float = 60.0, min_interval_s: float = 0.25) -> None:
        if not (math.isfinite(window_s) and window_s > 0):
            raise ValueError(f"window_s must be > 0, got {window_s!r}")
        if not (math.isfinite(min_interval_s) and 0 < min_interval_s <= window_s):
            raise ValueError(f"min_interval_s must be in (0, window_s], got {min_interval_s!r}")
        self.window_s = window_s
        self.min_interval_s = min_interval_s
        self._samples: deque[TimelineSample] = deque(maxlen=math.ceil(window_s / min_interval_s) + 1)
        self._lock = threading.Lock()

    def add(self, t: float, state: MoodState) -> bool:
        """Record ``state`` at ``t`` unless the previous sample is less than ``min_interval_s`` old."""
        with self._lock:
            if self._samples and t - self._samples[-1].t < self.min_interval_s:
                return False
            smoothed = tuple(state.smoothed[name] for name in EMOTIONS) if state.smoothed else ()
            self._samples.append(TimelineSample(t, smoothed, state.mood))
            self._expire(t)
            return True

    def _expire(self, now: float) -> None:
        while self._samples and now - self._samples[0].t > self.window_s:
            self._samples.popleft()

    def samples(self, now: float | None = None) -> list[TimelineSample]:
        """The samples of the last ``window_s`` seconds before ``now`` (default: the newest sample), oldest first."""
        with self._lock:
            if now is not None:
                self._expire(now)
            return list(self._samples)

    def clear(self) -> None:
        with self._lock:
            self._samples.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._samples)

    def chart_columns(self, now: float) -> dict[str, list[float | None]]:
        """Columns for a line chart: ``"seconds"`` (negative: seconds before ``now``) and one per emotion.

        Samples without a face give ``None`` (a gap in the line).
        """
        samples = self.samples(now)
        columns: dict[str, list[float | None]] = {"seconds": [round(s.t - now, 2) for s in samples]}
        for index, name in enumerate(EMOTIONS):
            columns[name] = [s.smoothed[index] if s.smoothed else None for s in samples]
        return columns
