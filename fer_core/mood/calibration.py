"""Per-person calibration: record the person's resting face, then read their expressions relative to it.

Some faces rest looking slightly sad or angry to the model; for them the raw readings sit on a wrong mood and a
real change has to climb over that bias. "Calibrate: look neutral for 3 seconds" records the person's resting
distribution ``rest`` (the mean of the 7 probabilities over the recording); afterwards every reading is
corrected as

    ``q_i = p_i * reference_i / max(rest_i, rest_floor)``, renormalised to sum to 1,

which is the same as subtracting ``log rest`` and adding ``log reference`` in log space (the two are one
correction, not alternatives). It treats the person's resting face as a per-person prior of the model and swaps
it for the prior of an average neutral face, as in prior-shift correction of classifier outputs (Saerens,
Latinne & Decaestecker 2002, Neural Computation 14(1)): the resting face itself then reads exactly
``reference``, and a departure from rest (a smile, a frown) is read relative to that person's baseline rather
than to the average face's. A person whose resting face already reads like the average one is barely changed.

``reference`` defaults to :data:`MODEL_NEUTRAL_REFERENCE`: what the shipped model gives, on average, for a
neutral face (its mean output, stream views, over the 607 neutral faces of FER2013 PublicTest; neutral 0.504).
It is a property of the model: after retraining, re-measure it with ``python -m fer_core.measure.calibration_check
--measure-reference``. :func:`reference_distribution` gives a stronger alternative (e.g. neutral 0.7, the rest
0.05 each): every resting face then reads a confident neutral, but on real photos (KDEF) that cost a lot of
sad and fear sensitivity (see :mod:`fer_core.measure.calibration_check`). ``rest_floor`` (0.02) bounds the gain of
an emotion the person almost never shows at rest, so frame noise in it is not blown up.

Apply the correction to each frame's raw probabilities *before* :class:`~fer_core.mood.tracker.MoodTracker`
smooths them. :func:`~fer_core.measure.calibration_check.calibration_check` (``python -m
fer_core.measure.calibration_check --check``) measures what it does: on a synthetic sad-resting face and, where
KDEF is present, on real photos.

API::

    CalibrationConfig(duration_s=3.0, min_frames=5, reference=MODEL_NEUTRAL_REFERENCE, rest_floor=0.02)
    Calibrator(config: CalibrationConfig | None = None, clock=time.monotonic)
        .start(timestamp=None); .add(probabilities | None, timestamp=None) -> CalibrationStatus
        .status(timestamp=None) -> CalibrationStatus; .calibration -> Calibration | None
        .apply(probabilities) -> np.ndarray   # unchanged (normalised) until calibrated; (7,) or (N, 7)
        .reset()
    Calibration(rest, reference, rest_floor, frames).apply(probabilities) -> np.ndarray
    reference_distribution(neutral=0.7) -> tuple[float, ...]
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from fer_core.labels import EMOTIONS, NUM_CLASSES
from fer_core.mood.validation import require_finite

logger = logging.getLogger(__name__)

NEUTRAL_INDEX = EMOTIONS.index("neutral")
IDLE, RECORDING, CALIBRATED, FAILED = "idle", "recording", "calibrated", "failed"
MODEL_NEUTRAL_REFERENCE: tuple[float, ...] = (0.094, 0.020, 0.090, 0.095, 0.157, 0.040, 0.504)
"""The shipped model's mean output (stream views) on the 607 FER2013 PublicTest neutral faces, FER2013 order."""


@dataclass(frozen=True)
class CalibrationConfig:
    """How the resting face is recorded and how strongly readings are corrected."""

    duration_s: float = 3.0
    """How long the person looks neutral."""
    min_frames: int = 5
    """Fewest frames with a face needed; the recording waits up to ``3 * duration_s`` for them, then fails."""
    reference: tuple[float, ...] = MODEL_NEUTRAL_REFERENCE
    """What a calibrated resting face reads as (normalised); neutral must be its largest value."""
    rest_floor: float = 0.02
    """Resting probabilities are floored at this before dividing (caps each emotion's gain)."""

    def __post_init__(self) -> None:
        require_finite(self, "duration_s", "rest_floor")
        if self.duration_s <= 0:
            raise ValueError(f"CalibrationConfig.duration_s must be > 0 seconds, got {self.duration_s!r}")
        if isinstance(self.min_frames, bool) or not isinstance(self.min_frames, int) or self.min_frames < 1:
            raise ValueError(f"CalibrationConfig.min_frames must be an integer >= 1, got {self.min_frames!r}")
        reference = np.asarray(self.reference, dtype=np.float64)
        if reference.shape != (NUM_CLASSES,) or not np.all(np.isfinite(reference)) or np.any(reference <= 0):
            raise ValueError(f"CalibrationConfig.reference needs {NUM_CLASSES} values > 0, got {self.reference!r}")
        if int(np.argmax(reference)) != NEUTRAL_INDEX:
            raise ValueError(
                f"CalibrationConfig.reference must have neutral as its largest value, so that a calibrated resting "
                f"face reads neutral, got {self.reference!r}"
            )
        object.__setattr__(self, "reference", tuple(float(x) for x in reference / reference.sum()))
        if not 0 < self.rest_floor < 1 / NUM_CLASSES:
            raise ValueError(f"CalibrationConfig.rest_floor must be in (0, 1/{NUM_CLASSES}), got {self.rest_floor!r}")


def reference_distribution(neutral: float = 0.7) -> tuple[float, ...]:
    """A "confident neutral" reference: ``neutral``, the other six emotions ``(1 - neutral) / 6`` each."""
    if not 1 / NUM_CLASSES < neutral < 1:
        raise ValueError(f"neutral must be in (1/{NUM_CLASSES}, 1), got {neutral!r}")
    reference = np.full(NUM_CLASSES, (1.0 - neutral) / (NUM_CLASSES - 1))
    reference[NEUTRAL_INDEX] = neutral
    return tuple(float(x) for x in reference)


def _rows(probabilities: np.ndarray | Sequence[float] | Sequence[Sequence[float]]) -> np.ndarray:
    array = np.asarray(probabilities, dtype=np.float64)
    if array.ndim not in (1, 2) or array.shape[-1] != NUM_CLASSES:
        raise ValueError(f"expected {NUM_CLASSES} probabilities or an (N, {NUM_CLASSES}) array, got {array.shape}")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"probabilities must be finite and >= 0, got {array.tolist()}")
    totals = array.sum(axis=-1, keepdims=True)
    if np.any(totals <= 0):
        raise ValueError("probabilities must not all be zero")
    return array / totals


@dataclass(frozen=True)
class Calibration:
    """One person's resting distribution and the correction it implies (see the module docstring)."""

    rest: tuple[float, ...]
    reference: tuple[float, ...] = MODEL_NEUTRAL_REFERENCE
    rest_floor: float = 0.02
    frames: int = 0
    """Frames the resting distribution was averaged over."""

    def apply(self, probabilities: np.ndarray | Sequence[float] | Sequence[Sequence[float]]) -> np.ndarray:
        """The corrected probabilities, same shape as given ((7,) or (N, 7)), each row summing to 1."""
        rows = _rows(probabilities)
        gain = np.asarray(self.reference) / np.maximum(np.asarray(self.rest), self.rest_floor)
        corrected = rows * gain
        return corrected / corrected.sum(axis=-1, keepdims=True)

    @classmethod
    def from_rest(
        cls, rest_frames: np.ndarray | Sequence[Sequence[float]], config: CalibrationConfig | None = None
    ) -> Calibration:
        """A calibration from resting frames ((N, 7) or one (7,) distribution)."""
        config = config if config is not None else CalibrationConfig()
        rows = _rows(rest_frames)
        rows = rows[None, :] if rows.ndim == 1 else rows
        rest = rows.mean(axis=0)
        return cls(tuple(map(float, rest)), config.reference, config.rest_floor, len(rows))


@dataclass(frozen=True)
class CalibrationStatus:
    state: str
    """``idle``, ``recording``, ``calibrated`` or ``failed``."""
    progress: float
    """0-1 while recording (time, and frames once the time is up); 1 when calibrated."""
    frames: int
    message: str


class Calibrator:
    """Thread-safe recorder of one person's resting face (see the module docstring)."""

    def __init__(self, config: CalibrationConfig | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config if config is not None else CalibrationConfig()
        self._clock = clock
        self._lock = threading.Lock()
        self._state = IDLE
        self._started = 0.0
        self._frames: list[np.ndarray] = []
        self._calibration: Calibration | None = None

    @property
    def calibration(self) -> Calibration | None:
        with self._lock:
            return self._calibration

    def reset(self) -> None:
        """Forget the calibration (readings pass through unchanged again)."""
        with self._lock:
            self._state, self._frames, self._calibration = IDLE, [], None

    def start(self, timestamp: float | None = None) -> None:
        """Start recording the resting face; the previous calibration stays in use until the new one is done."""
        with self._lock:
            self._state = RECORDING
            self._started = float(self._clock() if timestamp is None else timestamp)
            self._frames = []
            logger.info("calibration: recording the resting face for %.1f s", self.config.duration_s)

    def add(
        self, probabilities: np.ndarray | Sequence[float] | None, timestamp: float | None = None
    ) -> CalibrationStatus:
        """Feed one frame's raw probabilities (``None``: no face) while recording; returns the status."""
        sample = None if probabilities is None else _rows(probabilities).reshape(-1, NUM_CLASSES)[0]
        with self._lock:
            now = float(self._clock() if timestamp is None else timestamp)
            if self._state == RECORDING:
                if sample is not None:
                    self._frames.append(sample)
                self._finish_if_due(now)
            return self._status(now)

    def status(self, timestamp: float | None = None) -> CalibrationStatus:
        with self._lock:
            now = float(self._clock() if timestamp is None else timestamp)
            if self._state == RECORDING:
                self._finish_if_due(now)
            return self._status(now)

    def apply(self, probabilities: np.ndarray | Sequence[float] | Sequence[Sequence[float]]) -> np.ndarray:
        """Corrected probabilities once calibrated; before that, the input normalised and otherwise unchanged."""
        calibration = self.calibration
        return _rows(probabilities) if calibration is None else calibration.apply(probabilities)

    def _finish_if_due(self, now: float) -> None:
        elapsed = now - self._started
        if elapsed < self.config.duration_s:
            return
        if len(self._frames) >= self.config.min_frames:
            self._calibration = Calibration.from_rest(np.array(self._frames), self.config)
            self._state = CALIBRATED
            rest = ", ".join(f"{n} {p:.2f}" for n, p in zip(EMOTIONS, self._calibration.rest, strict=True))
            logger.info("calibration done over %d frames; resting face: %s", len(self._frames), rest)
        elif elapsed >= 3 * self.config.duration_s:
            self._state = FAILED
            logger.info("calibration failed: a face in only %d frames", len(self._frames))

    def _status(self, now: float) -> CalibrationStatus:
        frames = len(self._frames)
        if self._state == RECORDING:
            by_time = min(1.0, (now - self._started) / self.config.duration_s)
            by_frames = min(1.0, frames / self.config.min_frames)
            message = "Look neutral at the camera…" if by_time < 1 else "Waiting for your face to be seen…"
            return CalibrationStatus(RECORDING, min(by_time, by_frames), frames, message)
        if self._state == FAILED:
            return CalibrationStatus(
                FAILED, 0.0, frames, f"Calibration failed: a face was seen in only {frames} frames. Try again."
            )
        if self._calibration is not None:
            return CalibrationStatus(CALIBRATED, 1.0, self._calibration.frames, "Calibrated to your resting face.")
        return CalibrationStatus(IDLE, 0.0, 0, "Not calibrated.")
