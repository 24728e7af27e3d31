"""Tests for fer_core.sessions.model_card: reading the card that training.evaluate writes, and its absence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer_core.labels import EMOTIONS
from fer_core.sessions.model_card import (
    ModelCardError,
    default_card_path,
    format_percent,
    load_model_card,
    training_recipe,
)

STAGE_ONE = "python -m training.train --run-dir runs/a --epochs 64"
STAGE_TWO = "python -m training.train --run-dir runs/b --init-from runs/a/last.keras --epochs 72"
QUANTIZE = "python -m training.quantize --model models/fer_model.keras"


def _noisy_metrics(rng: np.random.Generator, labels: np.ndarray) -> dict:
    from training.evaluate import split_metrics

    metrics = {}
    for split in ("PublicTest", "PrivateTest"):
        for flip in (False, True):
            noisy = np.eye(len(EMOTIONS))[labels] * (0.6 if flip else 0.5) + rng.random((300, len(EMOTIONS)))
            metrics[f"{split}{'_flip_tta' if flip else ''}"] = split_metrics(labels, noisy)
    return metrics


def write_card(
    folder: Path, *, flip_tta: bool = False, with_reports: bool = True, int8: bool = False, views: str | None = None
) -> Path:
    """A card in the exact shape training.evaluate writes, with metrics computed by its own split_metrics.

    ``int8``: the headline runtime is the int8 copy, with the float model's metrics beside it. ``views``: a
    headline view set other than none/flip (its metrics are the flip ones, renamed).
    """
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(EMOTIONS), 300)
    metrics = _noisy_metrics(rng, labels)
    if views is not None:
        metrics |= {f"{split}_views_{views}": metrics[f"{split}_flip_tta"] for split in ("PublicTest", "PrivateTest")}
    headline = metrics[f"PrivateTest_views_{views}" if views else "PrivateTest_flip_tta" if flip_tta else "PrivateTest"]
    reports = folder / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    if with_reports:
        Image.new("RGB", (40, 30), (200, 30, 30)).save(reports / "confusion_matrix.png")
        (reports / "training_curves.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    card = {
        "card_version": 1, "model_file": "fer_model.keras", "architecture": "fer_resnet", "params": 1234,
        "inference": {"flip_tta": flip_tta},
        "headline": {"split": "PrivateTest", "flip_tta": flip_tta, "accuracy": headline["accuracy"],
                     "macro_f1": headline["macro_f1"], **({"views": views} if views else {})},
        "metrics": metrics,
        "reports": {name: f"reports/{name}.png" for name in ("confusion_matrix", "training_curves", "misclassified")},
        "evaluated_at": "2026-11-21T08:00:00+00:00",
        "evaluation_command": "python -m training.evaluate --flip-tta",
        "training": {"command": STAGE_TWO, "recipe": [STAGE_ONE, STAGE_TWO]},
    }  # fmt: skip
    if int8:
        card["inference"] = {"flip_tta": flip_tta, "runtime": "int8", "quantization": {"command": QUANTIZE}}
        card["headline"]["runtime"] = "int8"
        card["metrics_float"] = _noisy_metrics(rng, labels)
        if views is not None:
            card["metrics_float"] |= {
                f"{split}_views_{views}": card["metrics_float"][f"{split}_flip_tta"]
                for split in ("PublicTest", "PrivateTest")
            }
    path = folder / "model_card.json"
    path.write_text(json.dumps(card))
    return path


def test_headline_and_tables_come_from_the_card(tmp_path):
    card = load_model_card(write_card(tmp_path, flip_tta=True))
    assert card is not None
    raw = json.loads(card.path.read_text())
    assert card.accuracy == raw["metrics"]["PrivateTest_flip_tta"]["accuracy"]
    assert card.macro_f1 == raw["metrics"]["PrivateTest_flip_tta"]["macro_f1"]
    assert card.flip_tta is True and card.split == "PrivateTest"
    rows = card.summary_rows()
    single, flip = "single view", "flip TTA (2 views)"
    assert [(r["split"], r["views"]) for r in rows] == [
        ("PublicTest", single), ("PublicTest", flip), ("PrivateTest", single), ("PrivateTest", flip),
    ]  # fmt: skip
    assert rows[2]["accuracy"] == raw["metrics"]["PrivateTest"]["accuracy"]
    per_class = card.per_class_rows()
    assert [r["emotion"] for r in per_class] == list(EMOTIONS)
    assert per_class[3]["F1"] == raw["metrics"]["PrivateTest_flip_tta"]["per_class"]["happy"]["f1"]
    assert sum(r["support"] for r in per_class) == 300


def test_int8_cards_show_both_runtimes_and_the_quantize_command(tmp_path):
    card = load_model_card(write_card(tmp_path, flip_tta=True, int8=True))
    assert card is not None and card.runtime == "int8"
    raw = json.loads(card.path.read_text())
    rows = card.summary_rows()
    assert [(r["runtime"], r["split"], r["views"]) for r in rows] == [
        (runtime, split, views)
        for runtime in ("int8 copy", "float32 Keras")
        for split in ("PublicTest", "PrivateTest")
        for views in ("single view", "flip TTA (2 views)")
    ]
    assert rows[3]["accuracy"] == raw["metrics"]["PrivateTest_flip_tta"]["accuracy"] == card.accuracy
    assert rows[7]["accuracy"] == raw["metrics_float"]["PrivateTest_flip_tta"]["accuracy"]
    as_float = raw["metrics_float"]["PrivateTest_flip_tta"]
    assert card.split_metrics("PrivateTest", flip_tta=True, runtime="float") == as_float
    assert card.recipe() == [STAGE_ONE, STAGE_TWO, QUANTIZE]
    # a float card lists only the training commands, even if an int8 copy was once made
    float_card = {**raw, "inference": {**raw["inference"], "runtime": "float"}}
    assert training_recipe(float_card) == [STAGE_ONE, STAGE_TWO]
    plain = load_model_card(write_card(tmp_path / "plain"))
    assert plain is not None and plain.runtime == "float"
    assert {r["runtime"] for r in plain.summary_rows()} == {"float32 Keras"}


def test_multi_view_cards_headline_their_views_and_list_real_photo_sets(tmp_path):
    """Cards written since test-time views: the headline names its view set, older keys stay readable."""
    path = write_card(tmp_path)
    raw = json.loads(path.read_text())
    multi = {
        split: raw["metrics"][f"{split}_flip_tta"] | {"accuracy": 0.7123} for split in ("PublicTest", "PrivateTest")
    }
    raw["metrics"].update({f"{split}_views_multi": block for split, block in multi.items()})
    raw["headline"] |= {"views": "multi", "flip_tta": False, "accuracy": 0.7123}
    recall = dict.fromkeys(EMOTIONS, 0.5) | {"fear": 0.25}
    kdef = {"count": 980, "views": "multi", "accuracy": 0.77, "macro_f1": 0.76, "faces_not_found": 2}
    raw["real_photos"] = {"kdef": kdef | {"recall": recall, "confusion_matrix": [[1] * 8] * 7}}
    path.write_text(json.dumps(raw))
    card = load_model_card(path)
    assert card is not None and card.views == "multi" and not card.flip_tta
    assert card.split_metrics("PrivateTest")["accuracy"] == 0.7123  # the headline's view set by default
    assert card.split_metrics("PrivateTest", views="none") == raw["metrics"]["PrivateTest"]
    assert [r["views"] for r in card.summary_rows()][:3] == [
        "single view", "flip TTA (2 views)", "multi-view TTA (14 views)",
    ]  # fmt: skip
    assert card.per_class_rows()[0]["F1"] == multi["PrivateTest"]["per_class"]["angry"]["f1"]
    (row,) = card.real_photo_rows()
    assert row["set"] == "kdef" and row["photos"] == 980 and row["fear"] == 0.25 and row["no face found"] == 2
    assert card.real_photo_confusion("kdef")["no face"]["sad"] == 1
    assert card.real_photo_groups("kdef") == {}, "no --group-by, no groups"


def test_real_photo_groups_list_the_least_reliable_group_first(tmp_path):
    path = write_card(tmp_path)
    raw = json.loads(path.read_text())
    people = {"F01": {"count": 14, "accuracy": 0.9286, "faces_not_found": 0},
              "M07": {"count": 14, "accuracy": 0.5, "faces_not_found": 1},
              "M08": {"count": 14, "accuracy": 0.7857, "faces_not_found": 0}}  # fmt: skip
    raw["real_photos"] = {"kdef": {"count": 42, "views": "zoom", "accuracy": 0.74, "groups": {"person": people}}}
    path.write_text(json.dumps(raw))
    card = load_model_card(path)
    assert card is not None
    (rows,) = card.real_photo_groups("kdef").values()
    assert [row["group"] for row in rows] == ["M07", "M08", "F01"]
    assert rows[0] == {"group": "M07", "photos": 14, "accuracy": 0.5, "no face found": 1}
    assert card.real_photo_groups("another set") == {}


def test_only_existing_readable_report_figures_are_offered(tmp_path):
    card = load_model_card(write_card(tmp_path))
    assert card is not None
    assert card.reports() == {"confusion_matrix": tmp_path / "reports" / "confusion_matrix.png"}


def test_missing_card_is_none_and_broken_card_is_a_clear_error(tmp_path):
    assert load_model_card(tmp_path / "nope.json") is None
    broken = tmp_path / "model_card.json"
    broken.write_text("{not json")
    with pytest.raises(ModelCardError, match=r"model_card\.json cannot be read"):
        load_model_card(broken)
    broken.write_text("[1, 2]")
    with pytest.raises(ModelCardError, match="not a model card"):
        load_model_card(broken)


def test_default_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("FER_MODEL_CARD", raising=False)
    assert default_card_path() == Path(__file__).resolve().parents[1] / "models" / "model_card.json"
    monkeypatch.setenv("FER_MODEL_CARD", str(tmp_path / "card.json"))
    assert default_card_path() == tmp_path / "card.json"


def test_format_percent():
    assert format_percent(0.61234) == "61.2%"
    assert format_percent(None) == "n/a"


def test_recipe_lists_the_training_commands_in_order(tmp_path):
    card = load_model_card(write_card(tmp_path))
    assert card is not None and card.recipe() == [STAGE_ONE, STAGE_TWO]
    # cards from before warm starts hold one command; cards without training data hold none
    assert training_recipe({"training": {"command": STAGE_ONE}}) == [STAGE_ONE]
    assert training_recipe({"training": {"recipe": [STAGE_ONE, None, ""]}}) == [STAGE_ONE]
    assert training_recipe({}) == [] and training_recipe({"training": "junk"}) == []
