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
``title``, ``text`` and ``moods``; ``emoji``, ``image`` (a local file, relative to the catalog), ``tags`` and
``kind`` (``content``, ``ad`` or ``tip``; default ``content``) are optional. Keys starting with ``_`` are
comments and ignored. Every emotion must be suited by at least one item. Any problem raises
:class:`CatalogError` naming the file and the exact place, e.g.
``content/catalog.json: items[3].moods: unknown emotion 'happpy' (did you mean 'happy'?)``.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from fer_core.labels import EMOTIONS
from fer_core.mood.tracker import MoodState

logger = logging.getLogger(__name__)

CATALOG_VERSION = 1
NO_MOOD = "none"
"""Key used in ``accents`` (and optionally ``strategies``) for the state without a steady mood."""
ITEM_KINDS: tuple[str, ...] = ("content", "ad", "tip")
DEFAULT_NO_MOOD_STRATEGY = "a mix of popular picks"

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_TOP_LEVEL_FIELDS = ("version", "accents", "strategies", "items")
_ITEM_FIELDS = ("id", "title", "text", "emoji", "image", "tags", "moods", "kind")
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


@dataclass(frozen=True)
class Catalog:
    """A validated catalog; ``items`` keep the file's order."""

    path: Path
    version: int
    accents: Mapping[str, str]
    strategies: Mapping[str, str]
    items: tuple[ContentItem, ...]

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
        strategies = self.strategies(self.require(data, "strategies", "top level"))
        items = self.items(self.require(data, "items", "top level"))
        return Catalog(self.path, CATALOG_VERSION, MappingProxyType(accents), MappingProxyType(strategies), items)

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

    def strategies(self, value: Any) -> dict[str, str]:
        raw = self.mapping(value, "strategies", (*EMOTIONS, NO_MOOD))
        strategies: dict[str, str] = {}
        for name in EMOTIONS:
            if name not in raw:
                raise self.fail("strategies", f"missing phrase for {name!r}")
        for name, phrase in raw.items():
            strategies[name] = self.text(phrase, f"strategies.{name}")
        return strategies

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
        image = self.image(raw["image"], f"{where}.image") if raw.get("image") is not None else None
        return ContentItem(item_id, title, text, moods, emoji=emoji, image=image, tags=tags, kind=kind)

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

    def image(self, value: Any, where: str) -> Path:
        relative = self.text(value, where)
        if "://" in relative or relative.startswith("data:"):
            raise self.fail(where, f"must be a local file relative to the catalog, not a URL: {relative!r}")
        if Path(relative).is_absolute():
            raise self.fail(where, f"must be relative to the catalog's folder, got the absolute path {relative!r}")
        resolved = (self.path.parent / relative).resolve()
        if not resolved.is_file():
            raise self.fail(where, f"image file not found: {relative!r} (looked for {resolved})")
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
    ``rotate_every_s`` seconds the mood stays current. At most ``max_ads`` ads are shown.
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
            return self.catalog.items_for(mood)
        per_mood = [[item for item in self.catalog.items_for(name) if item.kind == "content"] for name in _MIX_ORDER]
        if not any(per_mood):
            per_mood = [self.catalog.items_for(name) for name in _MIX_ORDER]
        mixed: list[ContentItem] = []
        for depth in range(max(len(items) for items in per_mood)):
            for items in per_mood:
                if depth < len(items) and items[depth] not in mixed:
                    mixed.append(items[depth])
        return mixed

    def choose(self, state: MoodState) -> ContentDecision:
        """The items, accent colour and one-line reason for ``state``; the same state gives the same decision."""
        pool = self.candidates(state.mood)
        shift = self.seed
        if self.rotate_every_s is not None and state.mood is not None:
            shift += int(state.since_s // self.rotate_every_s) * self.max_items
        if pool:
            shift %= len(pool)
            pool = pool[shift:] + pool[:shift]
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
        strategy = self.catalog.strategy(state.mood)
        if state.mood is None:
            reason = f"no steady mood yet: showing {strategy}"
        else:
            reason = f"you look {_ADJECTIVES[state.mood]} for {_format_duration(state.since_s)}: showing {strategy}"
        return ContentDecision(items=chosen, accent=self.catalog.accent(state.mood), reason=reason, mood=state.mood)
