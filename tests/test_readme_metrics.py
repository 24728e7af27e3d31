"""training.readme_metrics: the README's numbers and training commands are copied from the model card."""

from __future__ import annotations

import json

import pytest

from fer_core.labels import EMOTIONS
from tests.test_model_card import QUANTIZE, STAGE_ONE, STAGE_TWO, write_card
from training.readme_metrics import END, START, main, render


def test_render_copies_numbers_and_recipe_and_check_spots_a_stale_readme(tmp_path):
    card_path = write_card(tmp_path, flip_tta=True)
    card = json.loads(card_path.read_text())
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{START}\nold numbers\n{END}\n\nmore text\n")
    assert main(["--card", str(card_path), "--readme", str(readme), "--check"]) == 1
    assert main(["--card", str(card_path), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert main(["--card", str(card_path), "--readme", str(readme), "--check"]) == 0
    assert text.startswith("# Title\n\n") and text.endswith("\n\nmore text\n") and "old numbers" not in text
    assert f"```bash\n{STAGE_ONE}\n{STAGE_TWO}\n```" in text
    assert f"**{card['headline']['accuracy']:.2%} PrivateTest accuracy" in text


def test_int8_card_names_the_runtime_the_quantize_command_and_the_float_numbers(tmp_path):
    card = json.loads(write_card(tmp_path, flip_tta=True, int8=True).read_text())
    block = render(f"{START}\n{END}", card)
    assert f"{STAGE_TWO}\n{QUANTIZE}\n```" in block and "and quantized to int8" in block
    headline = f"**{card['headline']['accuracy']:.2%}"
    assert f"The app reads photos with the int8 copy and flip TTA (2 views): {headline}" in block
    as_float = card["metrics_float"]["PrivateTest_flip_tta"]
    assert f"float32 (`--runtime float`): {as_float['accuracy']:.2%} accuracy, {as_float['macro_f1']:.2%}" in block
    plain = render(f"{START}\n{END}", json.loads(write_card(tmp_path / "plain").read_text()))
    assert "int8" not in plain and "The app reads photos with the Keras model" in plain


def test_block_shows_the_live_views_and_real_photo_sets(tmp_path):
    card = json.loads(write_card(tmp_path, flip_tta=True).read_text())
    card["inference"]["stream_views"] = "none"
    from fer_core.labels import EMOTIONS

    recall = dict.fromkeys(EMOTIONS, 0.5) | {"fear": 0.25}
    card["real_photos"] = {
        "kdef": {"count": 980, "views": "multi", "accuracy": 0.7745, "macro_f1": 0.771, "faces_not_found": 0,
                 "recall": recall},
    }  # fmt: skip
    block = render(f"{START}\n{END}", card)
    live = card["metrics"]["PrivateTest"]
    assert f"The live page reads video frames with single view to stay real time: {live['accuracy']:.2%}" in block
    assert "| kdef | 980 | multi | none | 0 | 0 | 77.45% | 77.10% | 0 | 50% | 50% | 25% |" in block
    assert "by group of faces" not in block, "no groups measured, no group lines"


def test_block_shows_the_accuracy_by_group_of_faces(tmp_path):
    card = json.loads(write_card(tmp_path).read_text())
    from fer_core.labels import EMOTIONS

    women_men = {"F": {"count": 490, "accuracy": 0.7, "faces_not_found": 0},
                 "M": {"count": 490, "accuracy": 0.9, "faces_not_found": 0}}  # fmt: skip
    people = {f"P{index:02d}": {"count": 14, "accuracy": index / 14, "faces_not_found": 0} for index in range(1, 15)}
    card["real_photos"] = {
        "kdef": {"count": 980, "views": "zoom", "accuracy": 0.8, "macro_f1": 0.8, "faces_not_found": 0,
                 "recall": dict.fromkeys(EMOTIONS, 0.8), "groups": {"person:1": women_men, "person": people}},
    }  # fmt: skip
    block = render(f"{START}\n{END}", card)
    assert "- kdef, by person:1: F 70.00% (490), M 90.00% (490)" in block
    assert "- kdef, by person: 14 groups of 14: lowest 7.14% (P01), median 53.57%, highest 100.00% (P14)" in block


def test_an_ensemble_card_names_its_members_for_photos_and_the_model_alone_for_frames(tmp_path):
    card = json.loads(write_card(tmp_path, int8=True, views="multi").read_text())
    card["inference"] |= {"stream_views": "flip", "members": [{"file": "members/member_f.keras"}]}
    card["real_photos"] = {
        "kdef": {"count": 980, "views": "multi", "members": ["members/member_f.keras"], "accuracy": 0.8,
                 "macro_f1": 0.8, "faces_not_found": 0, "recall": dict.fromkeys(EMOTIONS, 0.8)},
    }  # fmt: skip
    block = render(f"{START}\n{END}", card)
    headline = f"**{card['headline']['accuracy']:.2%}"
    assert f"(14 views), averaged with `members/member_f.keras` (an ensemble): {headline}" in block
    assert "video frames with flip TTA (2 views) with the model alone to stay real time" in block
    assert "| kdef | 980 | multi | members/member_f.keras | 0 | 0 | 80.00% |" in block


def test_a_card_whose_live_page_spreads_the_ensemble_over_the_frames_says_so(tmp_path):
    card = json.loads(write_card(tmp_path, int8=True, views="multi").read_text())
    members = [{"file": "members/member_m.keras"}]
    card["inference"] |= {"stream_views": "flip", "members": members, "stream_members": True}
    live = card["metrics"]["PrivateTest_flip_tta"]
    block = render(f"{START}\n{END}", card | {"inference": card["inference"] | {"spread_stream_views": True}})
    assert (
        "video frames with flip TTA (2 views) and the same ensemble, one model on one view of a face a frame, in "
        f"turn, averaged over the last frames (a face that holds still reads exactly as here): {live['accuracy']:.2%}"
    ) in block
    assert "and the same ensemble to stay real time" in render(f"{START}\n{END}", card)  # every view each frame


def test_readme_without_markers_is_refused(tmp_path):
    with pytest.raises(ValueError, match="metrics:start"):
        render("no markers here", json.loads(write_card(tmp_path).read_text()))
