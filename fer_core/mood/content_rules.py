"""Catalog rules beyond the mood label: when an item fits, and a per-viewer cool-down before it is shown again.

Used by :class:`~fer_core.mood.content.ContentPolicy` (see the catalog format in :mod:`fer_core.mood.content`):

- :func:`item_fits`: an item's optional conditions, all of which must hold: ``min_confidence`` (the smoothed
  probability of the steady mood), ``min_valence`` (the valence of the smoothed probabilities,
  :mod:`fer_core.mood.affect`; unknown without a face, so such an item does not fit then) and
  ``min_seconds_in_mood`` (how long the steady mood has lasted).
- :func:`mode_allows`: a mood's strategy mode, ``"match"`` (content in tune with the mood, e.g. calm picks when
  sad) or ``"lift"`` (content meant to lift it, e.g. uplifting picks), against an item's optional ``strategy``
  (an item without one suits both).
- :class:`ContentHistory`: one viewer's screen. Items that *left* the screen less than ``cooldown_s`` seconds ago
  are not chosen again while other items fit; items still on screen stay eligible, so the panel does not flicker.
  Keep one history per viewer (per browser session); the policy itself stays shared and stateless.

API::

    item_fits(item, state: MoodState, valence: float | None) -> bool
    mode_allows(mode: str, item_strategy: str | None) -> bool
    ContentHistory(cooldown_s: float = 60.0, clock=time.monotonic)
        .select(pool, now=None) -> list; .record(item_ids, now=None); .cooling(now=None) -> dict[str, float]
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

from fer_core.mood.tracker import MoodState

if TYPE_CHECKING:
    from fer_core.mood.content import ContentItem

logger = logging.getLogger(__name__)

STRATEGY_MODES: tuple[str, ...] = ("match", "lift")
DEFAULT_MODE = "match"
_Item = TypeVar("_Item", bound="ContentItem")


def item_fits(item: ContentItem, state: MoodState, valence: float | None) -> bool:
    """Whether ``item``'s conditions hold for ``state`` (and the current ``valence``; ``None``: unknown)."""
    if item.min_confidence > 0 and state.confidence < item.min_confidence:
        return False
    if item.min_seconds_in_mood > 0 and (state.mood is None or state.since_s < item.min_seconds_in_mood):
        return False
    return item.min_valence is None or (valence is not None and valence >= item.min_valence)


def mode_allows(mode: str, item_strategy: str | None) -> bool:
    """An item with no ``strategy`` suits both modes; otherwise only its own."""
    return item_strategy is None or item_strategy == mode


class ContentHistory:
    """Per-viewer memory of what was on screen, for the cool-down (see the module docstring)."""

    def __init__(self, cooldown_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(cooldown_s, bool) or not isinstance(cooldown_s, int | float) or not math.isfinite(cooldown_s):
            raise ValueError(f"ContentHistory cooldown_s must be a finite number of seconds, got {cooldown_s!r}")
        if cooldown_s < 0:
            raise ValueError(f"ContentHistory cooldown_s must be >= 0 seconds, got {cooldown_s!r}")
        self.cooldown_s = float(cooldown_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._on_screen: tuple[str, ...] = ()
        self._left_at: dict[str, float] = {}

    def _now(self, now: float | None) -> float:
        return float(self._clock() if now is None else now)

    def cooling(self, now: float | None = None) -> dict[str, float]:
        """Ids of the items cooling down -> seconds left."""
        with self._lock:
            t = self._now(now)
            return {
                item_id: self.cooldown_s - (t - left)
                for item_id, left in self._left_at.items()
                if t - left < self.cooldown_s
            }

    def select(self, pool: Sequence[_Item], now: float | None = None) -> list[_Item]:
        """``pool`` without the items cooling down; if every item is cooling, all of them, those that left
        longest ago first (the panel is never emptied by the cool-down)."""
        cooling = self.cooling(now)
        fresh = [item for item in pool if item.id not in cooling]
        if fresh or not pool:
            return fresh
        logger.debug("every candidate is cooling down; showing those that left longest ago")
        return sorted(pool, key=lambda item: cooling[item.id])  # least time left = left longest ago

    def record(self, item_ids: Iterable[str], now: float | None = None) -> None:
        """The items now on screen; those that were on screen and are not any more start cooling down."""
        with self._lock:
            t = self._now(now)
            shown = tuple(item_ids)
            for item_id in self._on_screen:
                if item_id not in shown:
                    self._left_at[item_id] = t
            for item_id in shown:
                self._left_at.pop(item_id, None)
            self._on_screen = shown
            self._left_at = {i: left for i, left in self._left_at.items() if t - left < self.cooldown_s}
