"""Turn noisy per-frame emotion probabilities into a steady, reportable mood.

Two stages:

1. **Time-based smoothing.** An exponential moving average whose weight depends on the real time between
   updates, ``alpha = 1 - exp(-dt / time_constant_s)``, so the result is the same at 10 or at 100 frames per
   second.
2. **Hysteresis.** The reported mood only changes to a new emotion once the smoothed top emotion has been that
   same emotion, above ``confidence_floor``, continuously for ``dwell_s`` seconds. A brief flash of another
   expression therefore never flips the reported mood. The first mood (from none) needs the same dwell.

Frames without a face (``update(None)``) hold the state; after ``stale_after_s`` seconds without a face the
tracker forgets everything and reports no mood. Timestamps must share the time base of ``clock`` (by default
:func:`time.monotonic`); a timestamp earlier than the previous one is treated as no time passing.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fer_core.labels import EMOTIONS, NUM_CLASSES
from fer_core.mood.validation import require_finite

logger = logging.getLogger(__name__)


class MoodInputError(ValueError):
    """Probabilities passed to :meth:`MoodTracker.update` are malformed."""


@dataclass(frozen=True)
class MoodConfig:
    """Tuning of :class:`MoodTracker`; all durations are in seconds."""

    time_constant_s: float = 1.5
    """EMA time constant tau: after tau seconds of a constant input, 63% of the way to it (0 = no smoothing)."""
    dwell_s: float = 2.0
    """How long a new emotion must stay the confident smoothed top before it becomes the reported mood."""
    confidence_floor: float = 0.45
    """The smoothed probability a new top emotion must exceed before it can count towards the dwell."""
    stale_after_s: float = 3.0
    """After this long without a face, the tracker resets to no mood."""

    def __post_init__(self) -> None:
        require_finite(self, "time_constant_s", "dwell_s", "stale_after_s", "confidence_floor")
        for name in ("time_constant_s", "dwell_s"):  # 0 is meaningful: no smoothing, no dwell
            if getattr(self, name) < 0:
                raise ValueError(f"MoodConfig.{name} must be >= 0 seconds, got {getattr(self, name)!r}")
        if self.stale_after_s <= 0:
            raise ValueError(
                f"MoodConfig.stale_after_s must be > 0 seconds, got {self.stale_after_s!r} "
                "(0 would forget the mood at every frame)"
            )
        if not 0.0 <= self.confidence_floor < 1.0:
            raise ValueError(f"MoodConfig.confidence_floor must be in [0, 1), got {self.confidence_floor!r}")


@dataclass(frozen=True)
class MoodState:
    """A snapshot of :class:`MoodTracker`."""

    mood: str | None = None
    """The reported, hysteresis-stable mood; ``None`` until one has been steady for ``dwell_s``."""
    since_s: float = 0.0
    """How long the reported mood has been current (0 when there is none)."""
    smoothed: dict[str, float] = field(default_factory=dict)
    """EMA probabilities by emotion, in FER2013 order; empty when no face has been seen (or after a reset)."""
    candidate: str | None = None
    """An emotion that is the confident smoothed top but not (yet) the reported mood."""
    candidate_held_s: float = 0.0
    """How long ``candidate`` has been the confident smoothed top."""
    confidence: float = 0.0
    """Smoothed probability of the reported mood (0 when there is none)."""

    @property
    def top(self) -> str | None:
        """The emotion with the highest smoothed probability right now (``None`` without data)."""
        if not self.smoothed:
            return None
        return max(self.smoothed, key=lambda name: self.smoothed[name])


def _as_probabilities(probabilities: np.ndarray | Sequence[float]) -> np.ndarray:
    """Validate and normalise one frame's class probabilities to a float64 vector summing to 1."""
    try:
        array = np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MoodInputError(f"probabilities must be numbers, got {probabilities!r}") from exc
    if array.ndim == 2 and array.shape[0] == 1:
        array = array[0]
    if array.shape != (NUM_CLASSES,):
        raise MoodInputError(
            f"expected {NUM_CLASSES} probabilities ({', '.join(EMOTIONS)}), got an array of shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise MoodInputError(f"probabilities must be finite, got {array.tolist()}")
    if np.any(array < 0):
        raise MoodInputError(f"probabilities must be >= 0, got {array.tolist()}")
    total = float(array.sum())
    if total <= 0:
        raise MoodInputError(f"probabilities must not all be zero, got {array.tolist()}")
    return array / total


class MoodTracker:
    """Thread-safe smoother + hysteresis over per-frame emotion probabilities (see the module docstring)."""

    def __init__(self, config: MoodConfig | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config if config is not None else MoodConfig()
        self._clock = clock
        self._lock = threading.Lock()
        self._clear()

    def _clear(self) -> None:
        self._smoothed: np.ndarray | None = None
        self._last_time: float | None = None
        self._last_face_time: float | None = None
        self._mood: str | None = None
        self._mood_since = 0.0
        self._candidate: str | None = None
        self._candidate_since = 0.0

    def reset(self) -> None:
        """Forget everything: no smoothed probabilities, no mood, no candidate."""
        with self._lock:
            self._clear()

    def update(self, probabilities: np.ndarray | Sequence[float] | None, timestamp: float | None = None) -> MoodState:
        """Feed one frame's probabilities (``None`` = no face in this frame) and return the new state.

        ``probabilities`` has one value per emotion in FER2013 order (a (7,) or (1, 7) array); it is normalised to
        sum to 1. Raises :class:`MoodInputError` (a ``ValueError``) for a wrong length, negative or non-finite
        values. ``timestamp`` defaults to ``clock()``.
        """
        sample = None if probabilities is None else _as_probabilities(probabilities)
        with self._lock:
            now = self._now(timestamp)
            self._expire_if_stale(now)
            if sample is not None:
                self._smooth(sample, now)
                self._last_face_time = now
                self._apply_hysteresis(now)
            self._last_time = now
            return self._snapshot(now)

    def state(self, timestamp: float | None = None) -> MoodState:
        """The current state as of ``timestamp`` (default ``clock()``); resets first if no face for too long."""
        with self._lock:
            now = self._now(timestamp)
            self._expire_if_stale(now)
            return self._snapshot(now)

    def _now(self, timestamp: float | None) -> float:
        now = float(self._clock() if timestamp is None else timestamp)
        if not math.isfinite(now):
            raise ValueError(f"timestamp must be finite, got {now!r}")
        if self._last_time is not None and now < self._last_time:
            logger.debug("timestamp went backwards (%.3f < %.3f); treating as no time passing", now, self._last_time)
            now = self._last_time
        return now

    def _expire_if_stale(self, now: float) -> None:
        if self._last_face_time is None:
            return
        if now - self._last_face_time >= self.config.stale_after_s:
            logger.debug("no face for %.1f s; clearing mood %r", now - self._last_face_time, self._mood)
            self._clear()
            self._last_time = now

    def _smooth(self, sample: np.ndarray, now: float) -> None:
        if self._smoothed is None or self._last_time is None:
            self._smoothed = sample.copy()
            return
        dt = now - self._last_time
        tau = self.config.time_constant_s
        alpha = 1.0 if tau == 0 else 1.0 - math.exp(-dt / tau)
        self._smoothed = self._smoothed + alpha * (sample - self._smoothed)

    def _apply_hysteresis(self, now: float) -> None:
        assert self._smoothed is not None
        top_index = int(np.argmax(self._smoothed))
        top = EMOTIONS[top_index]
        confident = float(self._smoothed[top_index]) > self.config.confidence_floor
        if not confident or top == self._mood:
            self._candidate = None
            return
        if self._candidate != top:
            self._candidate = top
            self._candidate_since = now
        if now - self._candidate_since >= self.config.dwell_s:
            logger.info("mood %s -> %s (smoothed p=%.2f)", self._mood, top, self._smoothed[top_index])
            self._mood = top
            self._mood_since = now
            self._candidate = None

    def _snapshot(self, now: float) -> MoodState:
        if self._smoothed is None:
            return MoodState()
        smoothed = {name: float(value) for name, value in zip(EMOTIONS, self._smoothed, strict=True)}
        return MoodState(
            mood=self._mood,
            since_s=now - self._mood_since if self._mood is not None else 0.0,
            smoothed=smoothed,
            candidate=self._candidate,
            candidate_held_s=now - self._candidate_since if self._candidate is not None else 0.0,
            confidence=smoothed[self._mood] if self._mood is not None else 0.0,
        )
