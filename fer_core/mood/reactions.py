"""Reactions per content item: how the person looked while each item was on screen, and an honest comparison.

Feed a :class:`ReactionRecorder` one :class:`~fer_core.mood.readings.FrameReading` per analysed frame (in time
order). Each frame's state holds until the next frame, for at most ``max_frame_gap_s`` (so a stalled stream does
not count as time on screen), and is credited to every item on screen in that frame. An item's *showing* starts
when it appears on screen and ends when a frame arrives without it; an item may be shown several times.

For each item, :meth:`ReactionRecorder.summary` gives one :class:`ItemReaction` (``.to_row()`` for a table):

- ``seconds_on_screen`` and ``times_shown``;
- ``attention``: the share of that time with a face in view (a proxy: a face towards the camera, not gaze);
- ``mean_valence`` / ``mean_arousal`` (time-weighted over the face time) and ``peak_valence``;
- ``mood_mix``: the share of on-screen time per steady mood (``"none"``: no steady mood);
- ``valence_at_start`` / ``valence_at_end``: the mean valence over the first / last ``end_window_s`` seconds of
  each showing (averaged over showings), ``lift`` = end minus start (averaged over showings that have both), and
  ``mood_at_start`` / ``mood_at_end`` (the most common over showings, the latest on a tie);
- ``samples``: the number of per-second valence samples (the mean valence of the face frames in each whole second
  of a showing), which :meth:`ReactionRecorder.compare` uses.

:meth:`ReactionRecorder.compare` contrasts two items' per-second valence samples: the difference of means
(B minus A) with a percentile bootstrap 95% interval (seeded, so reproducible) and Welch's t-test
(``scipy.stats.ttest_ind(equal_var=False)``), with both sample sizes. With fewer than ``min_samples`` samples per
item it gives no numbers, only a message saying so. Caveat (also in :attr:`Comparison.note`): seconds of one
person's smoothed signal are autocorrelated, not independent draws, so both the interval and the p-value are
optimistic; treat them as a guide, not as proof.

API::

    ReactionRecorder(config: ReactionConfig | None = None)
        .add(reading: FrameReading) -> None; .reset()
        .summary(titles: Mapping[str, str] | None = None) -> list[ItemReaction]
        .samples(item_id: str) -> list[float]
        .compare(item_a: str, item_b: str) -> Comparison
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import warnings
from collections import Counter, defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fer_core.mood.readings import FrameReading
from fer_core.mood.validation import require_finite

logger = logging.getLogger(__name__)

NO_MOOD = "none"
"""Key of ``mood_mix`` for time without a steady mood."""


@dataclass(frozen=True)
class ReactionConfig:
    """Tuning of :class:`ReactionRecorder`; durations in seconds."""

    end_window_s: float = 1.0
    """Length of the window at each end of a showing that gives the valence at appear and at leave."""
    max_frame_gap_s: float = 1.0
    """A frame's state holds until the next frame, but for at most this long."""
    min_samples: int = 3
    """Fewest per-second samples per item for :meth:`ReactionRecorder.compare` to give numbers."""
    bootstrap_resamples: int = 10_000
    seed: int = 0
    """Seed of the bootstrap's random generator (same data, same interval)."""

    def __post_init__(self) -> None:
        require_finite(self, "end_window_s", "max_frame_gap_s", unit=" of seconds")
        for name in ("end_window_s", "max_frame_gap_s"):
            value = getattr(self, name)
            if value <= 0:
                raise ValueError(f"ReactionConfig.{name} must be > 0 seconds, got {value!r}")
        if isinstance(self.min_samples, bool) or not isinstance(self.min_samples, int) or self.min_samples < 2:
            raise ValueError(f"ReactionConfig.min_samples must be an integer >= 2, got {self.min_samples!r}")
        if not isinstance(self.bootstrap_resamples, int) or self.bootstrap_resamples < 100:
            raise ValueError(
                f"ReactionConfig.bootstrap_resamples must be an integer >= 100, got {self.bootstrap_resamples!r}"
            )


@dataclass(frozen=True)
class ItemReaction:
    """One content item's reactions (see the module docstring); ``None`` where no face was seen."""

    item_id: str
    title: str
    times_shown: int
    seconds_on_screen: float
    attention: float
    mean_valence: float | None
    peak_valence: float | None
    mean_arousal: float | None
    mood_mix: dict[str, float]
    mood_at_start: str | None
    mood_at_end: str | None
    valence_at_start: float | None
    valence_at_end: float | None
    lift: float | None
    samples: int

    def to_row(self) -> dict[str, Any]:
        """A flat dict for a table or CSV: the mood mix becomes a ``"mood_mix"`` text like ``"happy 60%, none 40%"``."""
        row = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "mood_mix"}
        row["mood_mix"] = format_mood_mix(self.mood_mix)
        return row


def format_mood_mix(mix: Mapping[str, float]) -> str:
    """``{"happy": 0.6, "none": 0.4}`` as ``"happy 60%, none 40%"`` (largest first)."""
    ordered = sorted(mix.items(), key=lambda entry: -entry[1])
    return ", ".join(f"{mood} {share:.0%}" for mood, share in ordered)


@dataclass(frozen=True)
class Comparison:
    """Item B's per-second valence against item A's; numbers are ``None`` when there are too few samples."""

    item_a: str
    item_b: str
    n_a: int
    n_b: int
    enough_samples: bool
    message: str
    """One line for the page: the result, or why there is none."""
    mean_a: float | None = None
    mean_b: float | None = None
    difference: float | None = None
    """``mean_b - mean_a``."""
    ci_low: float | None = None
    ci_high: float | None = None
    """Percentile bootstrap 95% interval of ``difference``."""
    t_statistic: float | None = None
    p_value: float | None = None
    """Welch's two-sided t-test (``None`` when both samples are constant)."""
    note: str = (
        "Per-second samples of one person's smoothed signal are autocorrelated, so the interval and p-value are "
        "optimistic; a guide, not proof."
    )


@dataclass
class _Showing:
    start: float
    mood_at_start: str | None
    start_values: list[float] = field(default_factory=list)
    end_values: deque[tuple[float, float]] = field(default_factory=deque)
    mood_at_end: str | None = None

    def see(self, reading: FrameReading, window_s: float) -> None:
        self.mood_at_end = reading.mood
        if reading.valence is None:
            return
        if reading.t - self.start <= window_s:
            self.start_values.append(reading.valence)
        self.end_values.append((reading.t, reading.valence))
        while self.end_values and reading.t - self.end_values[0][0] > window_s:
            self.end_values.popleft()

    def ends(self) -> tuple[float | None, float | None]:
        start = float(np.mean(self.start_values)) if self.start_values else None
        end = float(np.mean([value for _, value in self.end_values])) if self.end_values else None
        return start, end


@dataclass
class _ItemStats:
    seconds: float = 0.0
    face_seconds: float = 0.0
    valence_time: float = 0.0
    arousal_time: float = 0.0
    peak_valence: float | None = None
    mood_seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    bins: dict[tuple[int, int], list[float]] = field(default_factory=dict)
    """(showing number, whole second into it) -> [valence sum, frame count]."""
    showings: list[_Showing] = field(default_factory=list)

    def credit(self, reading: FrameReading, dt: float) -> None:
        self.seconds += dt
        self.mood_seconds[reading.mood or NO_MOOD] += dt
        if reading.valence is not None and reading.arousal is not None:
            self.face_seconds += dt
            self.valence_time += reading.valence * dt
            self.arousal_time += reading.arousal * dt

    def see(self, reading: FrameReading, window_s: float) -> None:
        showing = self.showings[-1]
        showing.see(reading, window_s)
        if reading.valence is None:
            return
        self.peak_valence = reading.valence if self.peak_valence is None else max(self.peak_valence, reading.valence)
        key = (len(self.showings) - 1, int((reading.t - showing.start) // 1.0))
        total = self.bins.setdefault(key, [0.0, 0.0])
        total[0] += reading.valence
        total[1] += 1

    def samples(self) -> list[float]:
        return [total / count for (_, _), (total, count) in sorted(self.bins.items())]


class ReactionRecorder:
    """Thread-safe per-item reaction statistics from a stream of frame readings (see the module docstring)."""

    def __init__(self, config: ReactionConfig | None = None) -> None:
        self.config = config if config is not None else ReactionConfig()
        self._lock = threading.Lock()
        self._items: dict[str, _ItemStats] = {}
        self._previous: FrameReading | None = None

    def reset(self) -> None:
        """Forget every item and showing."""
        with self._lock:
            self._items = {}
            self._previous = None

    def add(self, reading: FrameReading) -> None:
        """Record one analysed frame; a frame older than the previous one counts as no time passing."""
        with self._lock:
            previous = self._previous
            if previous is not None and reading.t < previous.t:
                reading = dataclasses.replace(reading, t=previous.t)
            t = reading.t
            if previous is not None:
                dt = min(t - previous.t, self.config.max_frame_gap_s)
                for item_id in previous.items:
                    self._items[item_id].credit(previous, dt)
            for item_id in reading.items:
                stats = self._items.setdefault(item_id, _ItemStats())
                if previous is None or item_id not in previous.items:
                    stats.showings.append(_Showing(start=t, mood_at_start=reading.mood))
                    logger.debug("item %s shown at %.2f s", item_id, t)
                stats.see(reading, self.config.end_window_s)
            self._previous = reading

    def samples(self, item_id: str) -> list[float]:
        """The item's per-second valence samples, in time order (empty if it was never seen with a face)."""
        with self._lock:
            stats = self._items.get(item_id)
            return stats.samples() if stats is not None else []

    def summary(self, titles: Mapping[str, str] | None = None) -> list[ItemReaction]:
        """One row per item shown, in order of first appearance; ``titles`` maps ids to display titles."""
        with self._lock:
            return [
                _reaction(item_id, stats, (titles or {}).get(item_id, item_id))
                for item_id, stats in self._items.items()
            ]

    def compare(self, item_a: str, item_b: str) -> Comparison:
        """Item B's per-second valence against item A's (see :class:`Comparison` and the module docstring)."""
        a, b = self.samples(item_a), self.samples(item_b)
        return compare_samples(item_a, a, item_b, b, self.config)


def _mean_of(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return float(np.mean(known)) if known else None


def _most_common(values: list[str | None]) -> str | None:
    counts = Counter(values)
    best = max(counts.values())
    return next(value for value in reversed(values) if counts[value] == best)


def _reaction(item_id: str, stats: _ItemStats, title: str) -> ItemReaction:
    ends = [showing.ends() for showing in stats.showings]
    lifts = [end - start for start, end in ends if start is not None and end is not None]
    seconds = stats.seconds
    face = stats.face_seconds
    return ItemReaction(
        item_id=item_id,
        title=title,
        times_shown=len(stats.showings),
        seconds_on_screen=seconds,
        attention=face / seconds if seconds > 0 else 0.0,
        mean_valence=stats.valence_time / face if face > 0 else None,
        peak_valence=stats.peak_valence,
        mean_arousal=stats.arousal_time / face if face > 0 else None,
        mood_mix={mood: share / seconds for mood, share in stats.mood_seconds.items()} if seconds > 0 else {},
        mood_at_start=_most_common([showing.mood_at_start for showing in stats.showings]),
        mood_at_end=_most_common([showing.mood_at_end for showing in stats.showings]),
        valence_at_start=_mean_of([start for start, _ in ends]),
        valence_at_end=_mean_of([end for _, end in ends]),
        lift=float(np.mean(lifts)) if lifts else None,
        samples=len(stats.bins),
    )


def bootstrap_difference(
    a: np.ndarray, b: np.ndarray, *, resamples: int, seed: int, chunk: int = 1000
) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of ``mean(b) - mean(a)`` (each sample resampled with replacement)."""
    rng = np.random.default_rng(seed)
    differences = np.empty(resamples)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        mean_a = a[rng.integers(0, len(a), size=(size, len(a)))].mean(axis=1)
        mean_b = b[rng.integers(0, len(b), size=(size, len(b)))].mean(axis=1)
        differences[start : start + size] = mean_b - mean_a
    low, high = np.percentile(differences, [2.5, 97.5])
    return float(low), float(high)


def compare_samples(
    item_a: str, a: list[float], item_b: str, b: list[float], config: ReactionConfig | None = None
) -> Comparison:
    """The :class:`Comparison` of two lists of per-second valence samples."""
    config = config if config is not None else ReactionConfig()
    n_a, n_b = len(a), len(b)
    short = [f"{item!r} has {n}" for item, n in ((item_a, n_a), (item_b, n_b)) if n < config.min_samples]
    if short:
        message = (
            f"Too few samples to compare: {' and '.join(short)} per-second valence sample(s); "
            f"at least {config.min_samples} each are needed (keep each item on screen, face in view, longer)."
        )
        return Comparison(item_a, item_b, n_a, n_b, False, message)
    from scipy import stats as scipy_stats  # only here: scipy is slow to import

    array_a, array_b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    low, high = bootstrap_difference(array_a, array_b, resamples=config.bootstrap_resamples, seed=config.seed)
    difference = float(array_b.mean() - array_a.mean())
    t_statistic = p_value = None
    if np.ptp(array_a) > 0 or np.ptp(array_b) > 0:
        with warnings.catch_warnings():  # one constant sample: scipy warns of precision loss, the result holds
            warnings.simplefilter("ignore", RuntimeWarning)
            result = scipy_stats.ttest_ind(array_b, array_a, equal_var=False)
        t_statistic, p_value = float(result.statistic), float(result.pvalue)
    test = (
        "Welch t-test not defined (both samples constant)"
        if p_value is None
        else (f"Welch t = {t_statistic:.2f}, p = {p_value:.3g}")
    )
    message = (
        f"Valence {item_b!r} minus {item_a!r}: {difference:+.3f} (95% bootstrap interval {low:+.3f} to "
        f"{high:+.3f}; {test}; n = {n_a} and {n_b} per-second samples)"
    )
    return Comparison(
        item_a, item_b, n_a, n_b, True, message,
        mean_a=float(array_a.mean()), mean_b=float(array_b.mean()), difference=difference,
        ci_low=low, ci_high=high, t_statistic=t_statistic, p_value=p_value,
    )  # fmt: skip
