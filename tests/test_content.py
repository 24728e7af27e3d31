"""Tests for fer_core.mood.content: the shipped catalog, the content policy and catalog validation errors."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import require_tool

from fer_core.labels import EMOTIONS
from fer_core.mood.content import (
    Catalog,
    CatalogError,
    ContentDecision,
    ContentItem,
    ContentPolicy,
    default_catalog_path,
    load_catalog,
)
from fer_core.mood.content_rules import ContentHistory
from fer_core.mood.tracker import MoodState

SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="4"/></svg>'


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(default_catalog_path())


def mood_state(mood: str | None, since_s: float = 4.0) -> MoodState:
    smoothed = {name: (0.7 if name == mood else 0.05) for name in EMOTIONS} if mood else {}
    return MoodState(mood=mood, since_s=since_s if mood else 0.0, smoothed=smoothed, confidence=0.7 if mood else 0.0)


# --- the shipped catalog ----------------------------------------------------------------------------------------


def test_default_catalog_loads_and_covers_every_mood(catalog: Catalog) -> None:
    assert default_catalog_path().is_file()
    assert catalog.version == 1
    assert len(catalog.items) >= 28
    for mood in EMOTIONS:
        assert len(catalog.items_for(mood)) >= 4, mood
        assert catalog.strategy(mood)
    assert {item.kind for item in catalog.items} == {"content", "ad", "tip"}
    assert len({item.id for item in catalog.items}) == len(catalog.items)


def test_default_catalog_uses_only_small_local_svg_images(catalog: Catalog) -> None:
    images_dir = default_catalog_path().parent / "images"
    for item in catalog.items:
        assert item.image is not None, item.id
        assert item.image.is_file()
        assert item.image.parent == images_dir.resolve()
        assert item.image.suffix == ".svg"
        assert 300 < item.image.stat().st_size < 3072
    raw = default_catalog_path().read_text(encoding="utf-8")
    for svg in images_dir.glob("*.svg"):
        raw += svg.read_text(encoding="utf-8").replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert not re.search(r"https?://|www\.", raw), "the catalog and its images must not reference the internet"


def test_accents_are_distinct_colours_for_each_mood(catalog: Catalog) -> None:
    accents = [catalog.accent(mood) for mood in (*EMOTIONS, None)]
    assert all(re.fullmatch(r"#[0-9a-f]{6}", accent) for accent in accents)
    assert len(set(accents)) == len(accents)


# --- the policy -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mood", EMOTIONS)
def test_choices_match_the_mood(catalog: Catalog, mood: str) -> None:
    decision = ContentPolicy(catalog, max_items=3).choose(mood_state(mood))
    assert isinstance(decision, ContentDecision)
    assert len(decision.items) == 3
    assert all(isinstance(item, ContentItem) and mood in item.moods for item in decision.items)
    assert decision.items[0].moods[0] == mood  # items whose home mood it is come first
    assert decision.accent == catalog.accent(mood)
    assert decision.mood == mood
    assert sum(item.kind == "ad" for item in decision.items) <= 1


@pytest.mark.parametrize(("mood", "word"), [("sad", "sad"), ("disgust", "disgusted"), ("surprise", "surprised")])
def test_reason_mentions_mood_duration_and_strategy(catalog: Catalog, mood: str, word: str) -> None:
    decision = ContentPolicy(catalog).choose(mood_state(mood, since_s=4.3))
    assert decision.reason == f"you look {word} for 4 s: showing {catalog.strategy(mood)}"
    assert "\n" not in decision.reason


def test_reason_formats_minutes(catalog: Catalog) -> None:
    assert "for 2 min 5 s:" in ContentPolicy(catalog).choose(mood_state("happy", since_s=125)).reason
    assert "for 3 min:" in ContentPolicy(catalog).choose(mood_state("happy", since_s=180.2)).reason


def test_no_mood_shows_a_mix(catalog: Catalog) -> None:
    decision = ContentPolicy(catalog, max_items=4).choose(MoodState())
    assert decision.reason == "no steady mood yet: showing a mix of popular picks"
    assert decision.accent == catalog.accent(None)
    assert decision.mood is None
    assert len(decision.items) == 4
    assert len({item.moods[0] for item in decision.items}) == 4  # one per emotion, not all from one mood
    assert all(item.kind == "content" for item in decision.items)


def test_choice_is_deterministic(catalog: Catalog) -> None:
    for mood in (*EMOTIONS, None):
        first = ContentPolicy(catalog).choose(mood_state(mood))
        for _ in range(3):
            assert ContentPolicy(catalog).choose(mood_state(mood)) == first
    reloaded = load_catalog(default_catalog_path())
    assert ContentPolicy(reloaded).choose(mood_state("fear")) == ContentPolicy(catalog).choose(mood_state("fear"))


def test_seed_rotates_the_list(catalog: Catalog) -> None:
    pool = ContentPolicy(catalog).candidates("neutral")
    unrotated = ContentPolicy(catalog, max_items=2, max_ads=9).choose(mood_state("neutral")).items
    rotated = ContentPolicy(catalog, max_items=2, max_ads=9, seed=1).choose(mood_state("neutral")).items
    assert unrotated == pool[:2]
    assert rotated == pool[1:3]


def test_rotate_every_s_moves_on_while_a_mood_lasts(catalog: Catalog) -> None:
    policy = ContentPolicy(catalog, max_items=2, max_ads=9, rotate_every_s=30.0)
    pool = policy.candidates("happy")
    assert policy.choose(mood_state("happy", since_s=10)).items == pool[0:2]
    assert policy.choose(mood_state("happy", since_s=29)).items == pool[0:2]
    assert policy.choose(mood_state("happy", since_s=31)).items == pool[2:4]


def test_max_items_and_max_ads_are_respected(catalog: Catalog) -> None:
    for mood in EMOTIONS:
        decision = ContentPolicy(catalog, max_items=10, max_ads=0).choose(mood_state(mood))
        assert decision.items
        assert len(decision.items) <= 10
        assert all(item.kind != "ad" for item in decision.items)
    with pytest.raises(ValueError, match="max_items"):
        ContentPolicy(catalog, max_items=0)


def test_unknown_mood_in_state_is_rejected(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="unknown mood 'bored'"):
        ContentPolicy(catalog).choose(MoodState(mood="bored", since_s=1.0))


# --- user-written catalogs ---------------------------------------------------------------------------------------


def minimal_catalog() -> dict[str, Any]:
    """A small valid catalog: one item per emotion, the first with a local image."""
    items: list[dict[str, Any]] = [
        {"id": f"item-{mood}", "title": f"For {mood}", "text": "Something nice.", "moods": [mood]} for mood in EMOTIONS
    ]
    items[0]["image"] = "pics/dot.svg"
    items[1]["kind"] = "tip"
    items[2].update(kind="ad", emoji="🙂", tags=["a", "b"])
    return {
        "version": 1,
        "accents": {name: "#336699" for name in (*EMOTIONS, "none")},
        "strategies": {name: f"{name} things" for name in EMOTIONS},
        "items": items,
    }


def write_catalog(folder: Path, data: Any, name: str = "catalog.json") -> Path:
    (folder / "pics").mkdir(exist_ok=True)
    (folder / "pics" / "dot.svg").write_text(SVG, encoding="utf-8")
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def test_minimal_user_catalog_loads(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, minimal_catalog())
    catalog = load_catalog(str(path))
    assert catalog.path == path
    assert [item.id for item in catalog.items] == [f"item-{mood}" for mood in EMOTIONS]
    assert catalog.items[0].image == (tmp_path / "pics" / "dot.svg").resolve()
    assert catalog.items[1].image is None
    assert catalog.items[1].kind == "tip"
    assert catalog.items[2].tags == ("a", "b")
    assert catalog.items[2].emoji == "🙂"
    assert catalog.items[3].kind == "content"
    assert catalog.strategy(None) == "a mix of popular picks"
    decision = ContentPolicy(catalog).choose(mood_state("happy", since_s=7))
    assert [item.id for item in decision.items] == ["item-happy"]
    assert decision.reason == "you look happy for 7 s: showing happy things"


def _yaml() -> Any:
    """PyYAML (a requirement of the app): skip without it, fail under CI=true (conftest.require_tool)."""
    try:
        import yaml
    except ImportError:
        yaml = None
    require_tool("PyYAML", yaml is not None, "pip install -r requirements.txt")
    return yaml


def test_yaml_catalog_loads(tmp_path: Path) -> None:
    yaml = _yaml()
    path = write_catalog(tmp_path, yaml.safe_dump(minimal_catalog(), allow_unicode=True), name="catalog.yaml")
    assert len(load_catalog(path).items) == len(EMOTIONS)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    _yaml()
    path = write_catalog(tmp_path, "version: 1\nitems: [unclosed\n", name="catalog.yml")
    with pytest.raises(CatalogError, match=r"catalog\.yml: invalid YAML at line \d+, column \d+"):
        load_catalog(path)


def _set(*keys: Any, value: Any) -> Callable[[dict[str, Any]], Any]:
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return mutate


def _delete(*keys: Any) -> Callable[[dict[str, Any]], Any]:
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return mutate


def _duplicate_id(data: dict[str, Any]) -> None:
    data["items"][4]["id"] = data["items"][1]["id"]


def _mood_without_items(data: dict[str, Any]) -> None:
    data["items"] = [item for item in data["items"] if item["moods"] != ["fear"]]


BROKEN: list[tuple[str, Callable[[dict[str, Any]], Any] | str, str]] = [
    ("invalid-json", '{"version": 1,\n  "items": [,]\n}', "invalid JSON at line 2, column 13"),
    ("top-level-list", "[1, 2]", "expected an object at the top level, got list"),
    (
        "unknown-emotion",
        _set("items", 3, "moods", value=["sad", "happpy"]),
        "items[3].moods: unknown emotion 'happpy' (did you mean 'happy'?)",
    ),
    ("missing-field", _delete("items", 2, "title"), "items[2]: missing field 'title'"),
    ("missing-top-level", _delete("strategies"), "top level: missing field 'strategies'"),
    ("duplicate-id", _duplicate_id, "items[4].id: duplicate id 'item-disgust' (first used by items[1])"),
    ("bad-colour", _set("accents", "sad", value="blue"), "accents.sad: bad colour 'blue' (expected #rrggbb)"),
    ("short-colour", _set("accents", "happy", value="#fff"), "accents.happy: bad colour '#fff'"),
    ("missing-colour", _delete("accents", "none"), "accents: missing colour for 'none'"),
    (
        "image-missing",
        _set("items", 5, "image", value="pics/nope.svg"),
        "items[5].image: image file not found: 'pics/nope.svg'",
    ),
    ("image-url", _set("items", 0, "image", value="https://example.com/a.svg"), "items[0].image: must be a local file"),
    ("mood-without-items", _mood_without_items, "items: no item suits 'fear'"),
    ("unknown-kind", _set("items", 1, "kind", value="advert"), "items[1].kind: unknown kind 'advert'"),
    ("typo-field", _set("items", 0, "titel", value="x"), "items[0]: unknown field 'titel' (did you mean 'title'?)"),
    ("empty-title", _set("items", 6, "title", value="  "), "items[6].title: must not be empty"),
    ("wrong-type", _set("items", 6, "tags", value="music"), "items[6].tags: expected a list of strings, got str"),
    ("bad-version", _set("version", value=2), "version: unsupported version 2 (expected 1)"),
    ("missing-strategy", _delete("strategies", "angry"), "strategies: missing phrase for 'angry'"),
    ("no-items", _set("items", value=[]), "items: expected a non-empty list of items"),
]


@pytest.mark.parametrize(("case", "breaker", "problem"), BROKEN, ids=[case for case, _, _ in BROKEN])
def test_broken_catalog_names_file_and_problem(
    tmp_path: Path, case: str, breaker: Callable[[dict[str, Any]], Any] | str, problem: str
) -> None:
    if isinstance(breaker, str):
        data: Any = breaker
    else:
        data = copy.deepcopy(minimal_catalog())
        breaker(data)
    path = write_catalog(tmp_path, data)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert problem in message, message
    assert isinstance(caught.value, ValueError)


def test_missing_catalog_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    with pytest.raises(CatalogError, match=re.escape(f"{path}: cannot read the catalog")):
        load_catalog(path)


# --- image paths stay inside the catalog's folder ----------------------------------------------------------------
@pytest.mark.parametrize(
    "image",
    ["../../../etc/hostname", "../outside.svg", "pics/../../outside.svg", "pics/escape.svg"],
    ids=["etc-hostname", "parent", "parent-via-subfolder", "symlink-out"],
)
def test_image_leading_outside_the_catalog_folder_is_refused(tmp_path: Path, image: str) -> None:
    """A catalog could make the app serve any file on the machine (``../../../etc/hostname``) as an "image"."""
    folder = tmp_path / "catalog"
    folder.mkdir()
    outside = tmp_path / "outside.svg"
    outside.write_text(SVG, encoding="utf-8")
    data = minimal_catalog()
    data["items"][5]["image"] = image
    path = write_catalog(folder, data)
    (folder / "pics" / "escape.svg").symlink_to(outside)  # a file inside the folder that leads out of it
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: items[5].image: image {image!r} of item 'item-surprise' leads outside the "
                              f"catalog's folder {folder.resolve()}"), message  # fmt: skip


def test_absolute_image_path_is_refused_even_inside_the_folder(tmp_path: Path) -> None:
    data = minimal_catalog()
    data["items"][0]["image"] = str(tmp_path / "pics" / "dot.svg")
    path = write_catalog(tmp_path, data)
    with pytest.raises(CatalogError, match=r"items\[0\]\.image: must be relative to the catalog's folder, got the "
                                           r"absolute path .*dot\.svg' \(item 'item-angry'\)"):  # fmt: skip
        load_catalog(path)


def test_image_paths_that_stay_inside_the_folder_load(tmp_path: Path) -> None:
    data = minimal_catalog()
    data["items"][0]["image"] = "pics/../pics/dot.svg"
    data["items"][1]["image"] = "pics/link.svg"
    path = write_catalog(tmp_path, data)
    (tmp_path / "pics" / "link.svg").symlink_to(tmp_path / "pics" / "dot.svg")  # a symlink inside: fine
    catalog = load_catalog(path)
    assert catalog.items[0].image == catalog.items[1].image == (tmp_path / "pics" / "dot.svg").resolve()


# --- catalog rules: strategy modes, conditions, cool-down ----------------------------------------------------------


def test_existing_catalogs_default_to_match_mode_without_conditions(catalog: Catalog) -> None:
    assert all(catalog.mode(mood) == "match" for mood in (*EMOTIONS, None))
    assert all(item.strategy is None and item.min_valence is None for item in catalog.items)
    assert all(item.min_confidence == 0 and item.min_seconds_in_mood == 0 for item in catalog.items)


def rules_catalog(tmp_path: Path, sad_mode: str | None, extra: list[dict[str, Any]]) -> Catalog:
    data = minimal_catalog()
    if sad_mode is not None:
        data["strategies"]["sad"] = {"phrase": "picks for a low moment", "mode": sad_mode}
    data["items"] += extra
    return load_catalog(write_catalog(tmp_path, data))


def sad_item(item_id: str, **rules: Any) -> dict[str, Any]:
    return {"id": item_id, "title": item_id, "text": "For a sad moment.", "moods": ["sad"], **rules}


def sad_state(confidence: float = 0.7, since_s: float = 4.0, happy: float = 0.05) -> MoodState:
    smoothed = {name: 0.05 for name in EMOTIONS}
    smoothed.update(sad=confidence, happy=happy)
    return MoodState(mood="sad", since_s=since_s, smoothed=smoothed, confidence=confidence)


def chosen_ids(policy: ContentPolicy, state: MoodState, **kwargs: Any) -> list[str]:
    return [item.id for item in policy.choose(state, **kwargs).items]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("lift", ["item-sad", "uplift"]), ("match", ["item-sad", "calm"]), (None, ["item-sad", "calm"])],
)
def test_strategy_mode_picks_match_or_lift_items(tmp_path: Path, mode: str | None, expected: list[str]) -> None:
    catalog = rules_catalog(tmp_path, mode, [sad_item("calm", strategy="match"), sad_item("uplift", strategy="lift")])
    assert catalog.mode("sad") == (mode or "match") and catalog.strategy("sad")
    assert chosen_ids(ContentPolicy(catalog, max_items=5), sad_state()) == expected


def test_a_mode_no_item_is_marked_for_falls_back_to_all_the_moods_items(tmp_path: Path) -> None:
    data = minimal_catalog()
    data["strategies"]["sad"] = {"phrase": "up", "mode": "lift"}
    data["items"][4]["strategy"] = "match"  # item-sad, the only sad item
    catalog = load_catalog(write_catalog(tmp_path, data))
    assert chosen_ids(ContentPolicy(catalog), sad_state()) == ["item-sad"]


def test_min_confidence_and_min_seconds_in_mood(tmp_path: Path) -> None:
    catalog = rules_catalog(
        tmp_path, None, [sad_item("strong", min_confidence=0.8), sad_item("lasting", min_seconds_in_mood=10)]
    )
    policy = ContentPolicy(catalog, max_items=5)
    assert chosen_ids(policy, sad_state(confidence=0.7, since_s=4)) == ["item-sad"]
    assert chosen_ids(policy, sad_state(confidence=0.85, since_s=4)) == ["item-sad", "strong"]
    assert chosen_ids(policy, sad_state(confidence=0.7, since_s=10)) == ["item-sad", "lasting"]


def test_min_valence_uses_the_valence_of_the_smoothed_probabilities(tmp_path: Path) -> None:
    catalog = rules_catalog(tmp_path, None, [sad_item("brighter", min_valence=-0.3)])
    policy = ContentPolicy(catalog, max_items=5)
    assert chosen_ids(policy, sad_state(confidence=0.7, happy=0.05)) == ["item-sad"]  # valence about -0.5
    assert chosen_ids(policy, sad_state(confidence=0.46, happy=0.3)) == ["item-sad", "brighter"]  # about -0.15
    no_face = MoodState(mood="sad", since_s=3.0, smoothed={}, confidence=0.0)
    assert chosen_ids(policy, no_face) == ["item-sad"]  # valence unknown: the item does not fit


def test_when_no_item_passes_its_conditions_the_panel_is_not_empty(tmp_path: Path) -> None:
    data = minimal_catalog()
    data["items"][4]["min_confidence"] = 0.99
    catalog = load_catalog(write_catalog(tmp_path, data))
    assert chosen_ids(ContentPolicy(catalog), sad_state()) == ["item-sad"]


def test_cooldown_keeps_items_that_left_the_screen_out_for_a_while(tmp_path: Path) -> None:
    clock = [0.0]
    catalog = rules_catalog(tmp_path, None, [sad_item("second"), sad_item("third")])
    policy = ContentPolicy(catalog, max_items=1, rotate_every_s=5)
    history = ContentHistory(cooldown_s=30, clock=lambda: clock[0])
    assert chosen_ids(policy, sad_state(since_s=0), history=history) == ["item-sad"]
    clock[0] = 3
    assert chosen_ids(policy, sad_state(since_s=3), history=history) == ["item-sad"]  # still on screen: stays
    clock[0] = 5
    assert chosen_ids(policy, sad_state(since_s=5), history=history) == ["second"]  # rotated on; item-sad cools
    clock[0] = 10
    assert chosen_ids(policy, sad_state(since_s=10), history=history) == ["third"]
    clock[0] = 15
    assert chosen_ids(policy, sad_state(since_s=15), history=history) == ["third"]  # rotation would give item-sad
    assert history.cooling() == {"item-sad": pytest.approx(20), "second": pytest.approx(25)}
    clock[0] = 34
    assert chosen_ids(policy, sad_state(since_s=30), history=history) == ["third"]  # item-sad: 1 s to go
    clock[0] = 35
    assert chosen_ids(policy, sad_state(since_s=30), history=history) == ["item-sad"]  # cooled down: back


def test_cooldown_never_empties_the_panel(tmp_path: Path) -> None:
    catalog = rules_catalog(tmp_path, None, [sad_item("second")])
    policy = ContentPolicy(catalog, max_items=1)
    history = ContentHistory(cooldown_s=60, clock=lambda: 0.0)
    history.record(["item-sad"], now=0.0)
    history.record(["second"], now=1.0)  # item-sad left at 1
    history.record(["item-happy"], now=2.0)  # second left at 2
    assert chosen_ids(policy, sad_state(), history=history, now=3.0) == ["item-sad"]  # left longest ago
    without = ContentPolicy(catalog, max_items=1)
    assert chosen_ids(without, sad_state()) == chosen_ids(without, sad_state())  # no history: stateless


RULE_ERRORS: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    (
        "bad-mode",
        _set("strategies", "sad", value={"phrase": "x", "mode": "lfit"}),
        "strategies.sad.mode: unknown mode 'lfit' (did you mean 'lift'?)",
    ),
    (
        "mode-without-phrase",
        _set("strategies", "sad", value={"mode": "lift"}),
        "strategies.sad: missing field 'phrase'",
    ),
    (
        "strategy-typo-field",
        _set("strategies", "sad", value={"phrase": "x", "mood": "lift"}),
        "strategies.sad: unknown field 'mood'",
    ),
    ("item-strategy", _set("items", 4, "strategy", value="raise"), "items[4].strategy: unknown mode 'raise'"),
    (
        "confidence-range",
        _set("items", 4, "min_confidence", value=1.5),
        "items[4].min_confidence: must be between 0 and 1, got 1.5",
    ),
    ("valence-range", _set("items", 4, "min_valence", value=-2), "items[4].min_valence: must be between -1 and 1"),
    (
        "seconds-negative",
        _set("items", 4, "min_seconds_in_mood", value=-1),
        "items[4].min_seconds_in_mood: must be >= 0",
    ),
    (
        "seconds-text",
        _set("items", 4, "min_seconds_in_mood", value="5"),
        "items[4].min_seconds_in_mood: expected a number",
    ),
    ("confidence-bool", _set("items", 4, "min_confidence", value=True), "items[4].min_confidence: expected a number"),
]


@pytest.mark.parametrize(("case", "breaker", "problem"), RULE_ERRORS, ids=[case for case, _, _ in RULE_ERRORS])
def test_broken_rules_name_the_place(tmp_path: Path, case: str, breaker: Callable[..., Any], problem: str) -> None:
    data = copy.deepcopy(minimal_catalog())
    breaker(data)
    with pytest.raises(CatalogError) as caught:
        load_catalog(write_catalog(tmp_path, data))
    assert problem in str(caught.value), str(caught.value)


def test_bad_cooldown_is_rejected() -> None:
    with pytest.raises(ValueError, match="cooldown_s"):
        ContentHistory(cooldown_s=-1)
