"""Valence and arousal from the seven emotion probabilities, per face and smoothed over time.

**The mapping.** Each FER2013 class gets a fixed point (valence, arousal) in [-1, 1]² on Russell's circumplex
(Russell 1980, "A circumplex model of affect", J. Pers. Soc. Psychol. 39(6):1161-1178): valence is pleasant vs
unpleasant, arousal activated vs deactivated, and the centre of the circle is the neutral point. A face's
valence/arousal is the probability-weighted mean of the seven points, ``p @ COORDINATES`` (``p`` normalised to
sum to 1), clipped to [-1, 1]. It is a convex combination, so a confident "happy" reads close to happy's point
and a face split between happy and sad reads between them.

**Where the points come from.** Not hand-placed: the six emotion points are the published norms for the FER2013
label words themselves in Warriner, Kuperman & Brysbaert (2013), "Norms of valence, arousal, and dominance for
13,915 English lemmas", Behavior Research Methods 45(4):1191-1207 (ratings on 1-9 scales; 1 = unhappy / calm,
9 = happy / excited, 5 = the scale's "neither" midpoint), rescaled linearly as ``(rating - 5) / 4``:

============  =============  =============  ===================
label word    valence (1-9)  arousal (1-9)  (valence, arousal)
============  =============  =============  ===================
angry         2.53           6.20           (-0.6175, +0.3000)
disgust       3.32           5.00           (-0.4200,  0.0000)
fear          2.93           6.14           (-0.5175, +0.2850)
happy         8.47           6.05           (+0.8675, +0.2625)
sad           2.10           3.49           (-0.7250, -0.3775)
surprise      7.44           6.57           (+0.6100, +0.3925)
neutral       (5.50, 3.45)   -> placed at   ( 0.0000,  0.0000)
============  =============  =============  ===================

``neutral`` sits at the origin, the circumplex's neutral point, rather than at the norm of the *word*
"neutral" (5.50, 3.45 -> +0.125, -0.3875): a neutral face is the person's baseline, not a mildly pleasant,
sleepy one. The six points fall in the quadrants Russell (1980) gives these states (angry and afraid:
unpleasant and activated; sad: unpleasant and deactivated; happy, astonished: pleasant and activated), and the
word norms keep the ordering people agree on (happy more pleasant than surprise; sad the least pleasant and
least aroused; surprise the most aroused). Word ratings are compressed towards the middle on the arousal
axis (nothing reaches ±0.4), so read arousal relatively: higher vs lower, not as an absolute scale.

**Smoothing.** :class:`AffectSmoother` is an exponential moving average over time like
:class:`~fer_core.mood.tracker.MoodTracker`: ``alpha = 1 - exp(-dt / time_constant_s)``, so it behaves the
same at any frame rate; ``None`` (no face) holds the value, and after ``stale_after_s`` without a face it forgets
it. Because the mapping is linear, ``affect(MoodState.smoothed)`` with the tracker's time constant already *is*
the smoothed valence/arousal of the tracked face; use an :class:`AffectSmoother` per face (keyed by the face
tracker's id) for the other faces or for raw per-frame probabilities.

API::

    affect(probabilities) -> Affect             # (7,) -> floats; (N, 7) -> arrays of N values
    affect_of_state(state: MoodState) -> Affect | None
    AffectSmoother(config: AffectConfig | None = None, clock=time.monotonic)
        .update(reading: Affect | probabilities | None, timestamp: float | None = None) -> Affect | None
        .value(timestamp=None) -> Affect | None; .reset()
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fer_core.labels import EMOTIONS, NUM_CLASSES
from fer_core.mood.tracker import MoodState
from fer_core.mood.validation import require_finite

logger = logging.getLogger(__name__)

WARRINER_NORMS: Mapping[str, tuple[float, float]] = {
    "angry": (2.53, 6.20),
    "disgust": (3.32, 5.00),
    "fear": (2.93, 6.14),
    "happy": (8.47, 6.05),
    "sad": (2.10, 3.49),
    "surprise": (7.44, 6.57),
}
"""(valence, arousal) mean ratings on 1-9 scales of the label words (Warriner et al. 2013); neutral: see above."""


def _coordinates() -> np.ndarray:
    rows = []
    for name in EMOTIONS:
        valence, arousal = WARRINER_NORMS.get(name, (5.0, 5.0))  # neutral: the circumplex's origin
        rows.append(((valence - 5.0) / 4.0, (arousal - 5.0) / 4.0))
    coordinates = np.array(rows, dtype=np.float64)
    coordinates.setflags(write=False)
    return coordinates


COORDINATES: np.ndarray = _coordinates()
"""(7, 2): row i is (valence, arousal) of ``EMOTIONS[i]``, each in [-1, 1]."""


@dataclass(frozen=True)
class Affect:
    """Valence (unpleasant -1 .. +1 pleasant) and arousal (deactivated -1 .. +1 activated).

    Floats for one face; NumPy arrays of N values when :func:`affect` was given an (N, 7) array.
    """

    valence: Any
    arousal: Any

    def as_tuple(self) -> tuple[float, float]:
        """``(valence, arousal)`` as plain floats (one face only)."""
        return float(self.valence), float(self.arousal)


def _as_probability_rows(probabilities: np.ndarray | Sequence[float] | Sequence[Sequence[float]]) -> np.ndarray:
    try:
        array = np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"probabilities must be numbers, got {probabilities!r}") from exc
    if array.ndim not in (1, 2) or array.shape[-1] != NUM_CLASSES:
        raise ValueError(
            f"expected {NUM_CLASSES} probabilities ({', '.join(EMOTIONS)}) or an (N, {NUM_CLASSES}) array, "
            f"got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"probabilities must be finite and >= 0, got {array.tolist()}")
    totals = array.sum(axis=-1, keepdims=True)
    if np.any(totals <= 0):
        raise ValueError("probabilities must not all be zero (in every row)")
    return array / totals


def affect(probabilities: np.ndarray | Sequence[float] | Sequence[Sequence[float]]) -> Affect:
    """Valence and arousal of one face's (7,) probabilities (floats) or of N faces' (N, 7) (arrays of N).

    Rows are normalised to sum to 1; ``ValueError`` for a wrong shape, negative, non-finite or all-zero values.
    """
    rows = _as_probability_rows(probabilities)
    values = np.clip(rows @ COORDINATES, -1.0, 1.0)
    if rows.ndim == 1:
        return Affect(float(values[0]), float(values[1]))
    return Affect(values[:, 0].copy(), values[:, 1].copy())


def affect_of_state(state: MoodState) -> Affect | None:
    """Valence/arousal of a tracker state's smoothed probabilities (``None`` when it has none); emotions missing
    from a partial ``smoothed`` mapping count as 0."""
    values = [float(state.smoothed.get(name, 0.0)) for name in EMOTIONS]
    if not any(values):
        return None
    return affect(values)


@dataclass(frozen=True)
class AffectConfig:
    """Tuning of :class:`AffectSmoother`; durations in seconds (defaults match :class:`MoodConfig`)."""

    time_constant_s: float = 1.5
    """EMA time constant tau (0 = no smoothing)."""
    stale_after_s: float = 3.0
    """After this long without a reading, the smoother forgets its value."""

    def __post_init__(self) -> None:
        require_finite(self, "time_constant_s", "stale_after_s")
        if self.time_constant_s < 0:
            raise ValueError(f"AffectConfig.time_constant_s must be >= 0 seconds, got {self.time_constant_s!r}")
        if self.stale_after_s <= 0:
            raise ValueError(f"AffectConfig.stale_after_s must be > 0 seconds, got {self.stale_after_s!r}")


class AffectSmoother:
    """Thread-safe time-based EMA of one face's valence and arousal (see the module docstring)."""

    def __init__(self, config: AffectConfig | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config if config is not None else AffectConfig()
        self._clock = clock
        self._lock = threading.Lock()
        self._value: np.ndarray | None = None
        self._last_time: float | None = None
        self._last_reading_time: float | None = None

    def reset(self) -> None:
        """Forget the smoothed value."""
        with self._lock:
            self._value = None
            self._last_time = None
            self._last_reading_time = None

    def update(
        self, reading: Affect | np.ndarray | Sequence[float] | None, timestamp: float | None = None
    ) -> Affect | None:
        """Feed one frame: an :class:`Affect`, the face's 7 probabilities, or ``None`` (no face: hold).

        Returns the smoothed value (``None`` before the first reading or once stale).
        """
        sample = None
        if reading is not None:
            point = reading if isinstance(reading, Affect) else affect(reading)
            sample = np.array(point.as_tuple(), dtype=np.float64)
            if not np.all(np.isfinite(sample)):
                raise ValueError(f"valence and arousal must be finite, got {point!r}")
        with self._lock:
            now = self._now(timestamp)
            self._expire(now)
            if sample is not None:
                self._smooth(np.clip(sample, -1.0, 1.0), now)
                self._last_reading_time = now
            self._last_time = now
            return self._snapshot()

    def value(self, timestamp: float | None = None) -> Affect | None:
        """The smoothed value as of ``timestamp`` (default ``clock()``); ``None`` once stale."""
        with self._lock:
            self._expire(self._now(timestamp))
            return self._snapshot()

    def _now(self, timestamp: float | None) -> float:
        now = float(self._clock() if timestamp is None else timestamp)
        if not math.isfinite(now):
            raise ValueError(f"timestamp must be finite, got {now!r}")
        if self._last_time is not None and now < self._last_time:
            return self._last_time
        return now

    def _expire(self, now: float) -> None:
        if self._last_reading_time is not None and now - self._last_reading_time >= self.config.stale_after_s:
            logger.debug("no affect reading for %.1f s; forgetting it", now - self._last_reading_time)
            self._value = None
            self._last_reading_time = None

    def _smooth(self, sample: np.ndarray, now: float) -> None:
        if self._value is None or self._last_time is None:
            self._value = sample
            return
        tau = self.config.time_constant_s
        alpha = 1.0 if tau == 0 else 1.0 - math.exp(-(now - self._last_time) / tau)
        self._value = self._value + alpha * (sample - self._value)

    def _snapshot(self) -> Affect | None:
        if self._value is None:
            return None
        return Affect(float(self._value[0]), float(self._value[1]))
