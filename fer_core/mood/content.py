"""Mood-adaptive content: a user-editable catalog file and a deterministic policy that picks from it.

The catalog is JSON (or YAML when the file ends in ``.yaml``/``.yml`` and PyYAML is installed)::

    {
      "version": 1,
      "accents": {"angry": "#2f7f86", ..., "neutral": "#5c6b7a", "none": "#8a94a6"},
      "strategies": {"sad": "uplifting picks", ...},
      "items": [
        {"id": "sun-playlist", "title": "Morning Light", "text": "Warm songs.", "emoji": "🌅",
         "image": "images/sun.svg", "tags": ["music"], "moods": ["sad", "neutral"], "kind": "content"}
      ]
    }

``accents`` needs a ``#rrggbb`` colour for each of the seven emotions and for ``"none"`` (no steady mood);
``strategies`` a short phrase for each emotion (``"none"`` is optional). Each item needs ``id`` (unique),
``title``, ``text`` and ``moods``; ``emoji``, ``image`` (a file inside the catalog's folder, given relative to
it), ``tags`` and ``kind`` (``content``, ``ad`` or ``tip``; default ``content``) are optional. Keys starting with
``_`` are comments and ignored. Every emotion must be suited by at least one item. Any problem raises
:class:`CatalogError` naming the file and the exact place, e.g.
``content/catalog.json: items[3].moods: unknown emotion 'happpy' (did you mean 'happy'?)``.

Rules (all optional; :mod:`fer_core.mood.content_rules`): a strategy may be an object instead of a phrase,
``"sad": {"phrase": "uplifting picks", "mode": "lift"}``: mode ``match`` (the default: content in tune with the
mood) or ``lift`` (content meant to lift it); an item may then say ``"strategy": "match"`` or ``"lift"`` to be
shown only in that mode (no ``strategy``: either). An item may also say when it fits beyond its moods:
``min_confidence`` (0-1, the steady mood's smoothed probability), ``min_valence`` (-1..1, valence of the smoothed
probabilities; such an item never fits without a face) and ``min_seconds_in_mood``. When no item passes the
rules, the policy falls back to the mood's items without them, so the panel is never empty. Items recently on a
viewer's screen stay out for a cool-down: pass a :class:`~fer_core.mood.content_rules.ContentHistory` to
:meth:`ContentPolicy.choose`.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from fer_core.labels import EMOTIONS
from fer_core.mood.affect import affect_of_state
from fer_core.mood.content_rules import DEFAULT_MODE, STRATEGY_MODES, ContentHistory, item_fits, mode_allows
from fer_core.mood.tracker import MoodState

logger = logging.getLogger(__name__)

CATALOG_VERSION = 1
NO_MOOD = "none"
"""Key used in ``accents`` (and optionally ``strategies``) for the state without a steady mood."""
ITEM_KINDS: tuple[str, ...] = ("content", "ad", "tip")
DEFAULT_NO_MOOD_STRATEGY = "a mix of popular picks"

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_TOP_LEVEL_FIELDS = ("version", "accents", "strategies", "items")
_ITEM_FIELDS = ("id", "title", "text", "emoji", "image", "tags", "moods", "kind", "strategy", "min_confidence",
                "min_valence", "min_seconds_in_mood")  # fmt: skip
_MIX_ORDER: tuple[str, ...] = ("neutral", "happy", "surprise", "sad", "fear", "disgust", "angry")
"""Order in which the no-mood mix takes one item per emotion, round-robin."""
_ADJECTIVES: dict[str, str] = {
    "angry": "angry",
    "disgust": "disgusted",
    "fear": "fearful",
    "happy": "happy",
    "sad": "sad",
    "surprise": "surprised",
    "neutral": "neutral",
}


class CatalogError(ValueError):
    """The content catalog cannot be read or is invalid; the message names the file and the problem."""


@dataclass(frozen=True)
class ContentItem:
    """One recommendation, ad or tip from the catalog."""

    id: str
    title: str
    text: str
    moods: tuple[str, ...]
    emoji: str = ""
    image: Path | None = None
    """Absolute path of a local illustration, or ``None``."""
    tags: tuple[str, ...] = ()
    kind: str = "content"
    strategy: str | None = None
    """``"match"`` or ``"lift"``: shown only when the mood's mode is that one (``None``: either)."""
    min_confidence: float = 0.0
    min_valence: float | None = None
    min_seconds_in_mood: float = 0.0


@dataclass(frozen=True)
class Catalog:
    """A validated catalog; ``items`` keep the file's order."""

    path: Path
    version: int
    accents: Mapping[str, str]
    strategies: Mapping[str, str]
    items: tuple[ContentItem, ...]
    modes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """``"match"`` or ``"lift"`` per emotion that sets one (the others: ``"match"``)."""

    def mode(self, mood: str | None) -> str:
        """The strategy mode for ``mood``: ``"match"`` unless the catalog says ``"lift"``."""
        return self.modes.get(NO_MOOD if mood is None else mood, DEFAULT_MODE)

    def items_for(self, mood: str) -> list[ContentItem]:
        """Items whose ``moods`` include ``mood``: those listing it first (their home mood) before those listing it
        later, each group in catalog order."""
        suited = [item for item in self.items if mood in item.moods]
        return sorted(suited, key=lambda item: item.moods.index(mood) > 0)

    def accent(self, mood: str | None) -> str:
        """The accent colour for ``mood`` (``None`` = no steady mood)."""
        return self.accents[NO_MOOD if mood is None else mood]

    def strategy(self, mood: str | None) -> str:
        """The short phrase describing what is shown for ``mood``."""
        if mood is None:
            return self.strategies.get(NO_MOOD, DEFAULT_NO_MOOD_STRATEGY)
        return self.strategies[mood]


@dataclass(frozen=True)
class ContentDecision:
    """What to show for one :class:`MoodState`."""

    items: list[ContentItem]
    accent: str
    """``#rrggbb`` accent colour for the UI."""
    reason: str
    """One line explaining the choice, e.g. ``"you look sad for 4 s: showing uplifting picks"``."""
    mood: str | None = None


def default_catalog_path() -> Path:
    """The catalog shipped with the app (``content/catalog.json`` at the repository root)."""
    return Path(__file__).resolve().parents[2] / "content" / "catalog.json"


def _suggest(value: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Validator:
    """Builds a :class:`Catalog` from parsed data, raising :class:`CatalogError` at the first problem."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> CatalogError:
        return CatalogError(f"{self.path}: {where}: {problem}" if where else f"{self.path}: {problem}")

    def check_fields(self, data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
        for key in data:
            if not isinstance(key, str):
                raise self.fail(where, f"keys must be strings, got {key!r}")
            if key.startswith("_") or key in allowed:
                continue
            raise self.fail(where, f"unknown field {key!r}{_suggest(key, allowed)}; allowed: {', '.join(allowed)}")

    def require(self, data: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in data:
            raise self.fail(where, f"missing field {key!r}")
        return data[key]

    def text(self, value: Any, where: str, *, allow_empty: bool = False) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"expected a string, got {type(value).__name__} {value!r}")
        if not allow_empty and not value.strip():
            raise self.fail(where, "must not be empty")
        return value.strip()

    def catalog(self, data: Any) -> Catalog:
        if not isinstance(data, dict):
            raise self.fail("", f"expected an object at the top level, got {type(data).__name__}")
        self.check_fields(data, _TOP_LEVEL_FIELDS, "top level")
        version = self.require(data, "version", "top level")
        if isinstance(version, bool) or version != CATALOG_VERSION:
            raise self.fail("version", f"unsupported version {version!r} (expected {CATALOG_VERSION})")
        accents = self.accents(self.require(data, "accents", "top level"))
        strategies, modes = self.strategies(self.require(data, "strategies", "top level"))
        items = self.items(self.require(data, "items", "top level"))
        return Catalog(
            self.path, CATALOG_VERSION, MappingProxyType(accents), MappingProxyType(strategies), items,
            MappingProxyType(modes),
        )  # fmt: skip

    def mapping(self, value: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {type(value).__name__}")
        for key in value:
            if not isinstance(key, str) or (key not in allowed and not key.startswith("_")):
                raise self.fail(where, f"unknown emotion {key!r}{_suggest(str(key), allowed)}")
        return {key: item for key, item in value.items() if not key.startswith("_")}

    def accents(self, value: Any) -> dict[str, str]:
        names = (*EMOTIONS, NO_MOOD)
        raw = self.mapping(value, "accents", names)
        accents: dict[str, str] = {}
        for name in names:
            if name not in raw:
                raise self.fail("accents", f"missing colour for {name!r}")
            colour = raw[name]
            if not isinstance(colour, str) or not _COLOUR.match(colour.strip()):
                raise self.fail(f"accents.{name}", f"bad colour {colour!r} (expected #rrggbb)")
            accents[name] = colour.strip().lower()
        return accents

    def strategies(self, value: Any) -> tuple[dict[str, str], dict[str, str]]:
        """(phrase by emotion, mode by emotion that gives one): a phrase or ``{"phrase": ..., "mode": ...}``."""
        raw = self.mapping(value, "strategies", (*EMOTIONS, NO_MOOD))
        strategies: dict[str, str] = {}
        modes: dict[str, str] = {}
        for name in EMOTIONS:
            if name not in raw:
                raise self.fail("strategies", f"missing phrase for {name!r}")
        for name, entry in raw.items():
            where = f"strategies.{name}"
            if isinstance(entry, dict):
                self.check_fields(entry, ("phrase", "mode"), where)
                strategies[name] = self.text(self.require(entry, "phrase", where), f"{where}.phrase")
                modes[name] = self.mode(entry.get("mode", DEFAULT_MODE), f"{where}.mode")
            else:
                strategies[name] = self.text(entry, where)
        return strategies, modes

    def mode(self, value: Any, where: str) -> str:
        mode = self.text(value, where)
        if mode not in STRATEGY_MODES:
            raise self.fail(
                where, f"unknown mode {mode!r}{_suggest(mode, STRATEGY_MODES)}; allowed: {', '.join(STRATEGY_MODES)}"
            )
        return mode

    def number(self, value: Any, where: str, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(where, f"expected a number, got {type(value).__name__} {value!r}")
        if not low <= value <= high:
            limits = f">= {low:g}" if math.isinf(high) else f"between {low:g} and {high:g}"
            raise self.fail(where, f"must be {limits}, got {value!r}")
        return float(value)

    def rules(self, raw: Mapping[str, Any], where: str) -> dict[str, Any]:
        """The item's optional ``strategy`` and conditions (:mod:`fer_core.mood.content_rules`)."""
        rules: dict[str, Any] = {}
        if raw.get("strategy") is not None:
            rules["strategy"] = self.mode(raw["strategy"], f"{where}.strategy")
        limits = (("min_confidence", 0.0, 1.0), ("min_valence", -1.0, 1.0), ("min_seconds_in_mood", 0.0, math.inf))
        for name, low, high in limits:
            if raw.get(name) is not None:
                rules[name] = self.number(raw[name], f"{where}.{name}", low, high)
        return rules

    def items(self, value: Any) -> tuple[ContentItem, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail("items", "expected a non-empty list of items")
        items: list[ContentItem] = []
        first_use: dict[str, int] = {}
        for index, raw in enumerate(value):
            item = self.item(raw, f"items[{index}]")
            if item.id in first_use:
                raise self.fail(
                    f"items[{index}].id", f"duplicate id {item.id!r} (first used by items[{first_use[item.id]}])"
                )
            first_use[item.id] = index
            items.append(item)
        for mood in EMOTIONS:
            if not any(mood in item.moods for item in items):
                raise self.fail("items", f"no item suits {mood!r}; every emotion needs at least one item")
        return tuple(items)

    def item(self, raw: Any, where: str) -> ContentItem:
        if not isinstance(raw, dict):
            raise self.fail(where, f"expected an object, got {type(raw).__name__}")
        self.check_fields(raw, _ITEM_FIELDS, where)
        item_id = self.text(self.require(raw, "id", where), f"{where}.id")
        title = self.text(self.require(raw, "title", where), f"{where}.title")
        text = self.text(self.require(raw, "text", where), f"{where}.text")
        moods = self.moods(self.require(raw, "moods", where), f"{where}.moods")
        emoji = self.text(raw.get("emoji", ""), f"{where}.emoji", allow_empty=True)
        tags = self.tags(raw.get("tags", []), f"{where}.tags")
        kind = self.text(raw.get("kind", "content"), f"{where}.kind")
        if kind not in ITEM_KINDS:
            raise self.fail(
                f"{where}.kind", f"unknown kind {kind!r}{_suggest(kind, ITEM_KINDS)}; allowed: {', '.join(ITEM_KINDS)}"
            )
        image = self.image(raw["image"], f"{where}.image", item_id) if raw.get("image") is not None else None
        rules = self.rules(raw, where)
        return ContentItem(item_id, title, text, moods, emoji=emoji, image=image, tags=tags, kind=kind, **rules)

    def moods(self, value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(where, "expected a non-empty list of emotions")
        moods: list[str] = []
        for entry in value:
            if not isinstance(entry, str) or entry.strip().lower() not in EMOTIONS:
                raise self.fail(where, f"unknown emotion {entry!r}{_suggest(str(entry), EMOTIONS)}")
            name = entry.strip().lower()
            if name not in moods:
                moods.append(name)
        return tuple(moods)

    def tags(self, value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list of strings, got {type(value).__name__}")
        return tuple(self.text(tag, f"{where}[{i}]") for i, tag in enumerate(value))

    def image(self, value: Any, where: str, item_id: str) -> Path:
        """The image's absolute path: a file inside the catalog's folder (``..``, absolute paths and symlinks
        leading out of it are refused, so a catalog cannot make the app serve any other file on the machine)."""
        relative = self.text(value, where)
        item = f"item {item_id!r}"
        if "://" in relative or relative.startswith("data:"):
            raise self.fail(where, f"must be a local file relative to the catalog, not a URL: {relative!r} ({item})")
        if Path(relative).is_absolute():
            raise self.fail(
                where, f"must be relative to the catalog's folder, got the absolute path {relative!r} ({item})"
            )
        folder = self.path.parent.resolve()
        resolved = (folder / relative).resolve()
        if not resolved.is_relative_to(folder):
            raise self.fail(
                where,
                f"image {relative!r} of {item} leads outside the catalog's folder {folder} (to {resolved}); "
                "images must be files inside that folder",
            )
        if not resolved.is_file():
            raise self.fail(where, f"image file not found: {relative!r} ({item}; looked for {resolved})")
        return resolved


def _parse(path: Path, raw: str) -> Any:
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise CatalogError(f"{path}: reading a YAML catalog needs PyYAML (pip install pyyaml)") from exc
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise CatalogError(f"{path}: invalid YAML{where}: {problem}") from exc
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog file; raises :class:`CatalogError` naming the file and the problem."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read the catalog: {exc}") from exc
    catalog = _Validator(path).catalog(_parse(path, raw))
    logger.debug("loaded %d catalog items from %s", len(catalog.items), path)
    return catalog


def _format_duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min" if rest == 0 else f"{minutes} min {rest} s"


class ContentPolicy:
    """Deterministically picks up to ``max_items`` catalog items for a :class:`MoodState`.

    For a mood: the items suited to it (:meth:`Catalog.items_for`: home-mood items first, then catalog order).
    Without a steady mood: a round-robin mix of ``content`` items over the emotions (neutral, happy, surprise, ...),
    de-duplicated. The list is rotated by ``seed`` and, when ``rotate_every_s`` is set, moves on by one batch every
    ``rotate_every_s`` seconds the mood stays current. At most ``max_ads`` ads are shown. Catalog rules apply
    first: a mood's items are narrowed to its strategy mode and to the items whose conditions hold (see the module
    docstring); with a :class:`~fer_core.mood.content_rules.ContentHistory` the choice also leaves out the items
    that viewer saw leave the screen within the cool-down, and records what it chose.
    """

    def __init__(
        self,
        catalog: Catalog,
        max_items: int = 3,
        *,
        max_ads: int = 1,
        seed: int = 0,
        rotate_every_s: float | None = None,
    ) -> None:
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        if max_ads < 0:
            raise ValueError(f"max_ads must be >= 0, got {max_ads}")
        if rotate_every_s is not None and not rotate_every_s > 0:
            raise ValueError(f"rotate_every_s must be > 0 or None, got {rotate_every_s}")
        self.catalog = catalog
        self.max_items = max_items
        self.max_ads = max_ads
        self.seed = seed
        self.rotate_every_s = rotate_every_s

    def candidates(self, mood: str | None) -> list[ContentItem]:
        """All items eligible for ``mood``, in preference order (before rotation and limits)."""
        if mood is not None:
            if mood not in EMOTIONS:
                raise ValueError(f"unknown mood {mood!r}; expected one of {', '.join(EMOTIONS)} or None")
            suited = self.catalog.items_for(mood)
            mode = self.catalog.mode(mood)
            return [item for item in suited if mode_allows(mode, item.strategy)] or suited
        per_mood = [[item for item in self.catalog.items_for(name) if item.kind == "content"] for name in _MIX_ORDER]
        if not any(per_mood):
            per_mood = [self.catalog.items_for(name) for name in _MIX_ORDER]
        mixed: list[ContentItem] = []
        for depth in range(max(len(items) for items in per_mood)):
            for items in per_mood:
                if depth < len(items) and items[depth] not in mixed:
                    mixed.append(items[depth])
        return mixed

    def fitting(self, pool: list[ContentItem], state: MoodState) -> list[ContentItem]:
        """The items of ``pool`` whose conditions hold for ``state`` (all of ``pool`` if none do)."""
        point = affect_of_state(state) if any(item.min_valence is not None for item in pool) else None
        valence = None if point is None else float(point.valence)
        return [item for item in pool if item_fits(item, state, valence)] or pool

    def choose(
        self, state: MoodState, *, history: ContentHistory | None = None, now: float | None = None
    ) -> ContentDecision:
        """The items, accent colour and one-line reason for ``state``; the same state (and history) gives the same
        decision. ``now`` (default: the history's clock) is only used with a ``history``."""
        pool = self.fitting(self.candidates(state.mood), state)
        shift = self.seed
        if self.rotate_every_s is not None and state.mood is not None:
            shift += int(state.since_s // self.rotate_every_s) * self.max_items
        if pool:
            shift %= len(pool)
            pool = pool[shift:] + pool[:shift]
        if history is not None:
            pool = history.select(pool, now)
        chosen: list[ContentItem] = []
        ads = 0
        for item in pool:
            if len(chosen) == self.max_items:
                break
            if item.kind == "ad":
                if ads >= self.max_ads:
                    continue
                ads += 1
            chosen.append(item)
        if history is not None:
            history.record([item.id for item in chosen], now)
        strategy = self.catalog.strategy(state.mood)
        if state.mood is None:
            reason = f"no steady mood yet: showing {strategy}"
        else:
            reason = f"you look {_ADJECTIVES[state.mood]} for {_format_duration(state.since_s)}: showing {strategy}"
        return ContentDecision(items=chosen, accent=self.catalog.accent(state.mood), reason=reason, mood=state.mood)
