"""One analysed frame as the analytics see it: the input of reactions, the session log and the event feed.

A :class:`FrameReading` carries no image data: the time, the smoothed probabilities of the tracked face (``None``
when no face is in view), its valence and arousal, the steady mood with its confidence, how many faces are in
view and the ids of the content items on screen. Build one per analysed frame from the tracker's state::

    reading = FrameReading.from_state(t, stats.mood, faces=len(stats.faces), items=[i.id for i in decision.items])
    session_log.add(reading); reactions.add(reading); mood_events.observe(reading)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from fer_core.labels import EMOTIONS, NUM_CLASSES
from fer_core.mood.affect import affect
from fer_core.mood.tracker import MoodState


@dataclass(frozen=True)
class FrameReading:
    """What the analytics record about one analysed frame (times in seconds on the caller's clock)."""

    t: float
    probabilities: tuple[float, ...] | None = None
    """The 7 smoothed probabilities in FER2013 order, or ``None`` when no face is in view."""
    valence: float | None = None
    arousal: float | None = None
    mood: str | None = None
    """The steady (smoothed, dwelled) mood, or ``None``."""
    confidence: float = 0.0
    """Smoothed probability of ``mood`` (0 without one)."""
    faces: int = 0
    """Faces in view in this frame."""
    items: tuple[str, ...] = ()
    """Ids of the content items on screen."""

    def __post_init__(self) -> None:
        if not math.isfinite(self.t):
            raise ValueError(f"FrameReading.t must be finite, got {self.t!r}")
        object.__setattr__(self, "items", _item_ids(self.items))
        if self.probabilities is not None:
            probabilities = tuple(float(p) for p in self.probabilities)
            if len(probabilities) != NUM_CLASSES or not all(math.isfinite(p) and p >= 0 for p in probabilities):
                raise ValueError(
                    f"FrameReading.probabilities needs {NUM_CLASSES} finite values >= 0, got {self.probabilities!r}"
                )
            object.__setattr__(self, "probabilities", probabilities)
        for name in ("valence", "arousal"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and -1.0 <= value <= 1.0):
                raise ValueError(f"FrameReading.{name} must be in [-1, 1], got {value!r}")
        if self.mood is not None and self.mood not in EMOTIONS:
            raise ValueError(f"FrameReading.mood must be one of {', '.join(EMOTIONS)} or None, got {self.mood!r}")
        if self.faces < 0:
            raise ValueError(f"FrameReading.faces must be >= 0, got {self.faces!r}")

    @property
    def face_in_view(self) -> bool:
        """A face was read in this frame (its probabilities are known)."""
        return self.probabilities is not None

    @classmethod
    def from_state(
        cls, t: float, state: MoodState, *, faces: int, items: Iterable[str] | str | None = None
    ) -> FrameReading:
        """The reading for a tracker state at ``t``; with ``faces == 0`` the probabilities and affect are ``None``
        (the tracker holds its smoothed values while no face is in view, but nothing is being read)."""
        item_ids = _item_ids(items)
        if faces <= 0 or not state.smoothed:
            return cls(t, mood=state.mood, confidence=state.confidence, faces=max(faces, 0), items=item_ids)
        probabilities = tuple(float(state.smoothed[name]) for name in EMOTIONS)
        point = affect(probabilities)
        return cls(
            t,
            probabilities=probabilities,
            valence=float(point.valence),
            arousal=float(point.arousal),
            mood=state.mood,
            confidence=state.confidence,
            faces=faces,
            items=item_ids,
        )


def _item_ids(items: Iterable[str] | str | None) -> tuple[str, ...]:
    if items is None:
        return ()
    if isinstance(items, str):
        return (items,)
    ids: list[str] = []
    for item in items:
        if item not in ids:
            ids.append(str(item))
    return tuple(ids)
