"""One viewer session's mood analytics on the live page: calibration, reactions, session log, events, pretend mood.

:class:`LiveAnalytics` bundles the per-session objects of :mod:`fer_core.mood` (one instance per browser session,
kept in ``st.session_state``; the content policy and the event feed are shared):

- a :class:`~fer_core.mood.calibration.Calibrator`, applied to the tracked face's raw probabilities *before* the
  mood tracker smooths them (:meth:`LiveAnalytics.calibrate`, called by
  :class:`~fer_core.sessions.live.LiveProcessor`);
- a :class:`~fer_core.mood.session_export.SessionLog` and a :class:`~fer_core.mood.reactions.ReactionRecorder`,
  fed with one :class:`~fer_core.mood.readings.FrameReading` per analysed frame (:meth:`LiveAnalytics.observe`),
  carrying the ids of the content items on screen (set by the page through :meth:`LiveAnalytics.choose`);
- an :class:`~fer_core.mood.events.EventWatcher` with the session log's id (export and events match), publishing
  to the opt-in :class:`~fer_core.mood.events.EventFeed` (or nowhere when the feed is off);
- a :class:`~fer_core.mood.content_rules.ContentHistory`, so the content cool-down is per viewer.

**Pretend mood** (:meth:`LiveAnalytics.pretend`): for demos and for testing a catalog without a camera. Each call
feeds ``pretend_step_s`` seconds of synthetic frames at ``pretend_fps`` (the chosen emotion at
``pretend_confidence``, a little seeded noise) through the same mood tracker, timeline and analytics as camera
frames. Synthetic time follows the clock but never runs more than one step ahead of it.

Valence and arousal are those of the tracker's smoothed probabilities (:func:`fer_core.mood.affect.affect`; the
mapping is linear, so this is the smoothed valence/arousal of the tracked face). No image data is kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from fer_core.labels import EMOTIONS, NUM_CLASSES
from fer_core.mood.affect import COORDINATES, affect
from fer_core.mood.calibration import CalibrationStatus, Calibrator
from fer_core.mood.content import ContentDecision, ContentPolicy
from fer_core.mood.content_rules import ContentHistory
from fer_core.mood.events import EventWatcher
from fer_core.mood.reactions import Comparison, ReactionRecorder
from fer_core.mood.readings import FrameReading
from fer_core.mood.session_export import SessionExport, SessionLog, build_export
from fer_core.mood.timeline import MoodTimeline
from fer_core.mood.tracker import MoodState, MoodTracker
from fer_core.mood.validation import require_finite

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveAnalyticsConfig:
    """Tuning of :class:`LiveAnalytics`; durations in seconds."""

    cooldown_s: float = 60.0
    """An item that left this viewer's screen is not chosen again for this long (while others fit)."""
    pretend_step_s: float = 1.0
    """Synthetic seconds fed per :meth:`LiveAnalytics.pretend` call."""
    pretend_fps: float = 10.0
    pretend_confidence: float = 0.85
    """Probability of the pretend emotion; the rest is shared by the other six."""
    pretend_noise: float = 0.03
    """Standard deviation of the noise added to each synthetic probability (before renormalising)."""
    seed: int = 0

    def __post_init__(self) -> None:
        require_finite(self, "cooldown_s", "pretend_step_s", "pretend_fps", "pretend_confidence", "pretend_noise")
        if self.cooldown_s < 0 or self.pretend_noise < 0:
            raise ValueError("LiveAnalyticsConfig.cooldown_s and pretend_noise must be >= 0")
        if self.pretend_step_s <= 0 or self.pretend_fps <= 0:
            raise ValueError("LiveAnalyticsConfig.pretend_step_s and pretend_fps must be > 0")
        if not 1.0 / NUM_CLASSES < self.pretend_confidence <= 1.0:
            raise ValueError(
                f"LiveAnalyticsConfig.pretend_confidence must be in (1/{NUM_CLASSES}, 1], "
                f"got {self.pretend_confidence!r}"
            )


class MoodSink(Protocol):
    """What :meth:`LiveAnalytics.pretend` drives: a :class:`~fer_core.sessions.live.LiveProcessor` has both."""

    tracker: MoodTracker
    timeline: MoodTimeline


def pretend_probabilities(emotion: str, confidence: float = 0.85) -> np.ndarray:
    """The 7 probabilities of a face showing ``emotion`` with ``confidence`` (the rest shared equally)."""
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {', '.join(EMOTIONS)}")
    probabilities = np.full(NUM_CLASSES, (1.0 - confidence) / (NUM_CLASSES - 1))
    probabilities[EMOTIONS.index(emotion)] = confidence
    return probabilities


def affect_columns(columns: Mapping[str, Sequence[float | None]]) -> dict[str, list[float | None]]:
    """Valence and arousal for each row of :meth:`MoodTimeline.chart_columns` (``None`` where it has a gap)."""
    names = [name for name in EMOTIONS if name in columns]
    rows = len(columns.get("seconds", ()))
    valence: list[float | None] = []
    arousal: list[float | None] = []
    for index in range(rows):
        values = [columns[name][index] for name in names]
        if len(names) != NUM_CLASSES or any(v is None for v in values) or not sum(values):  # type: ignore[arg-type]
            valence.append(None)
            arousal.append(None)
            continue
        point = affect([float(v) for v in values])  # type: ignore[arg-type]
        valence.append(float(point.valence))
        arousal.append(float(point.arousal))
    return {"seconds": list(columns.get("seconds", ())), "valence": valence, "arousal": arousal}


def circumplex_anchors() -> list[dict[str, Any]]:
    """The seven emotions' (valence, arousal) points, for labelling the circumplex chart."""
    return [
        {"emotion": name, "valence": float(v), "arousal": float(a)}
        for name, (v, a) in zip(EMOTIONS, COORDINATES, strict=True)
    ]


class LiveAnalytics:
    """Per-session mood analytics (see the module docstring). Thread-safe: the video thread calls
    :meth:`calibrate` and :meth:`observe`, the page script the rest."""

    def __init__(
        self,
        *,
        publish: Callable[[dict[str, Any]], object] | None = None,
        titles: Mapping[str, str] | None = None,
        config: LiveAnalyticsConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        session_log: SessionLog | None = None,
    ) -> None:
        self.config = config if config is not None else LiveAnalyticsConfig()
        self._clock = clock
        self._lock = threading.Lock()
        self.titles: dict[str, str] = dict(titles or {})
        self.log = session_log if session_log is not None else SessionLog()
        self.reactions = ReactionRecorder()
        self.calibrator = Calibrator(clock=clock)
        self.history = ContentHistory(self.config.cooldown_s, clock=clock)
        self.watcher = EventWatcher(publish, self.log.session_id, titles=self.titles) if publish else None
        self._items: tuple[str, ...] = ()
        self._pretend_until: float | None = None
        self._rng = np.random.default_rng(self.config.seed)
        self.errors = 0

    @property
    def session_id(self) -> str:
        return self.log.session_id

    @property
    def items(self) -> tuple[str, ...]:
        """Ids of the content items on screen now."""
        with self._lock:
            return self._items

    # --- the video thread -----------------------------------------------------------------------------------
    def calibrate(self, probabilities: np.ndarray | Sequence[float] | None, t: float) -> np.ndarray | None:
        """The tracked face's raw probabilities, recorded while calibrating and corrected once calibrated."""
        try:
            self.calibrator.add(probabilities, timestamp=t)
            return None if probabilities is None else self.calibrator.apply(probabilities)
        except ValueError:
            logger.exception("calibration skipped a frame")
            return None if probabilities is None else np.asarray(probabilities, dtype=np.float64)

    def observe(self, t: float, state: MoodState, *, faces: int) -> FrameReading | None:
        """Record one analysed frame (its mood state after smoothing, the faces in view, the items on screen)."""
        try:
            reading = FrameReading.from_state(t, state, faces=faces, items=self.items)
            self.log.add(reading)
            self.reactions.add(reading)
            if self.watcher is not None:
                self.watcher.observe(reading)
            return reading
        except Exception:  # analytics must never end the stream
            logger.exception("live analytics skipped a frame")
            self.errors += 1
            return None

    # --- the page -------------------------------------------------------------------------------------------
    def choose(self, policy: ContentPolicy, state: MoodState, now: float | None = None) -> ContentDecision:
        """The content for ``state`` with this viewer's cool-down; its items count as on screen from now on."""
        now = self._clock() if now is None else now
        decision = policy.choose(state, history=self.history, now=now)
        for item in decision.items:
            self.titles.setdefault(item.id, item.title)
        with self._lock:
            self._items = tuple(item.id for item in decision.items)
        return decision

    def set_items(self, item_ids: Sequence[str]) -> None:
        with self._lock:
            self._items = tuple(item_ids)

    def pretend(self, sink: MoodSink, emotion: str, now: float | None = None) -> MoodState:
        """Feed one step of synthetic frames of ``emotion`` through ``sink``'s tracker and timeline and this
        session's analytics; returns the mood state after it (see the module docstring)."""
        base = pretend_probabilities(emotion, self.config.pretend_confidence)
        now = self._clock() if now is None else now
        step = self.config.pretend_step_s
        with self._lock:
            start = now - step if self._pretend_until is None else max(self._pretend_until, now - step)
            if start > now:  # already a step ahead of the clock: wait for it
                start = None
            else:
                self._pretend_until = start + step
        state = sink.tracker.state(now)
        if start is None:
            return state
        frames = max(1, round(step * self.config.pretend_fps))
        for index in range(1, frames + 1):
            t = start + step * index / frames
            noisy = np.clip(base + self._rng.normal(0.0, self.config.pretend_noise, NUM_CLASSES), 1e-4, None)
            state = sink.tracker.update(noisy / noisy.sum(), timestamp=t)
            sink.timeline.add(t, state)
            self.observe(t, state, faces=1)
        return state

    def start_calibration(self, now: float | None = None) -> None:
        self.calibrator.start(self._clock() if now is None else now)

    def calibration_status(self, now: float | None = None) -> CalibrationStatus:
        return self.calibrator.status(self._clock() if now is None else now)

    def export(self) -> SessionExport:
        """The session so far (per-second rows and per-item reactions), built in memory."""
        return build_export(self.log, self.reactions, titles=self.titles)

    def reaction_rows(self) -> list[dict[str, Any]]:
        """One flat row per item shown (:meth:`ItemReaction.to_row`), in order of first appearance."""
        return [reaction.to_row() for reaction in self.reactions.summary(self.titles)]

    def compare(self, item_a: str, item_b: str) -> Comparison:
        return self.reactions.compare(item_a, item_b)

    def reset(self) -> None:
        """Forget the recorded session (log, reactions, items); the calibration and the session id stay."""
        self.log.reset()
        self.reactions.reset()
        with self._lock:
            self._items = ()
            self._pretend_until = None
        logger.info("live analytics of session %s cleared", self.session_id)
