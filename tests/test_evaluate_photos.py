"""training.evaluate_photos: the app's photo pipeline on a labelled folder of real photos."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import write_photo_set

from training.evaluate_photos import PhotoSetError, main, photo_metrics, read_labels

REPO = Path(__file__).resolve().parents[1]
KDEF = Path(os.environ.get("KDEF_PATH", REPO.parent / "kdef"))


def test_photo_metrics_count_a_photo_without_a_face_as_wrong():
    probabilities = np.array([[0, 0, 0, 1, 0, 0, 0], [np.nan] * 7, [0, 0, 0, 0, 1, 0, 0]], np.float32)
    result = photo_metrics(np.array([3, 4, 5]), probabilities)
    assert result["accuracy"] == pytest.approx(1 / 3, abs=1e-4)
    assert result["faces_not_found"] == 1
    confusion = np.array(result["confusion_matrix"])
    assert confusion.shape == (7, 8) and confusion[3, 3] == 1 and confusion[4, 7] == 1 and confusion[5, 4] == 1
    assert result["recall"]["happy"] == 1.0 and result["recall"]["sad"] == 0.0 and result["recall"]["surprise"] == 0.0


def test_photo_macro_f1_is_scikit_learns_with_a_missing_face_a_miss():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 7, 400)
    probabilities = rng.dirichlet(np.ones(7), 400).astype(np.float32)
    probabilities[labels == 3] = np.eye(7, dtype=np.float32)[3]  # one class read right, the others at random
    probabilities[::9] = np.nan
    read = np.where(np.isnan(probabilities).any(axis=1), -1, np.nan_to_num(probabilities).argmax(axis=1))
    expected = f1_score(labels, read, labels=list(range(7)), average="macro", zero_division=0)
    assert photo_metrics(labels, probabilities)["macro_f1"] == pytest.approx(expected, abs=5e-5)


def test_the_command_scores_real_photos_and_writes_the_card(tmp_path, capsys):
    folder = write_photo_set(tmp_path / "photos")
    card = tmp_path / "card.json"
    shutil.copyfile(REPO / "models" / "model_card.json", card)
    assert main(["--data", str(folder), "--card", str(card), "--name", "tiny"]) == 0
    printed = capsys.readouterr().out
    assert "tiny: 2 photos, accuracy 50.00%" in printed and "faces not found 1" in printed
    result = json.loads(card.read_text())["real_photos"]["tiny"]
    assert result["count"] == 2 and result["faces_not_found"] == 1 and result["recall"]["happy"] == 1.0
    assert result["views"] == "rotate" and result["runtime"] == "int8"  # the app's photo configuration
    assert result["command"].startswith("python -m training.evaluate_photos --data")
    from fer_core.recognition.ensemble import read_ensemble

    assert result["members"] == list(read_ensemble(REPO / "models" / "fer_model.keras"))  # the app's ensemble


def test_an_ensemble_is_scored_and_recorded(tmp_path, capsys):
    folder = write_photo_set(tmp_path / "photos")
    argv = ["--data", str(folder), "--no-card", "--members", "members/member_m.keras"]
    assert main(argv) == 0
    assert "tiny" not in capsys.readouterr().out
    from training.evaluate_photos import evaluate_photos

    single = evaluate_photos(folder, views="none", members=())  # the model alone, not its photo ensemble
    ensemble = evaluate_photos(folder, views="none", members=("members/member_m.keras",))
    assert ensemble["members"] == ["members/member_m.keras"] and single["members"] == []
    assert ensemble["accuracy"] == single["accuracy"] == 0.5, "the smiling astronaut is happy either way"
    assert main(["--data", str(folder), "--no-card", "--members", "members/missing.keras"]) == 2


def test_the_command_scores_each_group_of_faces_and_writes_it_into_the_card(tmp_path, capsys):
    folder = write_photo_set(tmp_path / "photos")
    (folder / "labels.csv").write_text("file,emotion,person\nastronaut.jpg,happy,F01\nwall.png,sad,M01\n")
    card = tmp_path / "card.json"
    shutil.copyfile(REPO / "models" / "model_card.json", card)
    argv = ["--data", str(folder), "--card", str(card), "--name", "tiny", "--group-by", "person:1"]
    assert main(argv) == 0
    assert "accuracy by person:1: F 100.00% (1), M 0.00% (1)" in capsys.readouterr().out
    groups = json.loads(card.read_text())["real_photos"]["tiny"]["groups"]
    assert groups == {"person:1": {"F": {"count": 1, "accuracy": 1.0, "faces_not_found": 0},
                                   "M": {"count": 1, "accuracy": 0.0, "faces_not_found": 1}}}  # fmt: skip
    # A bad --group-by is refused before the model runs, with one line saying why.
    assert main(["--data", str(folder), "--no-card", "--group-by", "person:0"]) == 2
    assert main(["--data", str(folder), "--no-card", "--group-by", "age"]) == 2


def test_bad_photo_sets_are_one_clear_error(tmp_path):
    folder = write_photo_set(tmp_path / "photos")
    (folder / "labels.csv").write_text("file,emotion\nastronaut.jpg,joyful\n")
    with pytest.raises(PhotoSetError, match="unknown emotion 'joyful'"):
        read_labels(folder)
    (folder / "labels.csv").write_text("file,emotion\n../outside.jpg,happy\n")
    with pytest.raises(PhotoSetError, match="no photo"):
        read_labels(folder)
    (folder / "labels.csv").unlink()
    assert main(["--data", str(folder), "--no-card"]) == 2


KDEF_MISSING = f"KDEF not built at {KDEF} (README, 'Real photos': build_kdef.py; or set KDEF_PATH)"


@pytest.mark.dataset
@pytest.mark.skipif(not (KDEF / "labels.csv").is_file(), reason=KDEF_MISSING)
def test_kdef_matches_the_card(tmp_path):
    """When KDEF is present, the full pipeline re-measures the card's KDEF accuracy."""
    card = json.loads((REPO / "models" / "model_card.json").read_text())
    recorded = card.get("real_photos", {}).get("kdef")
    if recorded is None:
        pytest.fail("the card has no KDEF result: run python -m training.evaluate_photos --data <kdef folder>")
    from training.evaluate_photos import evaluate_photos
    from training.photo_groups import GroupSpec

    group_by = tuple(GroupSpec.parse(name) for name in recorded.get("groups", {}))
    measured = evaluate_photos(KDEF, group_by=group_by)
    assert measured["accuracy"] == pytest.approx(recorded["accuracy"], abs=0.003)
    for name, groups in recorded.get("groups", {}).items():  # the README's accuracy by group of faces
        for key, group in groups.items():
            assert measured["groups"][name][key]["accuracy"] == pytest.approx(group["accuracy"], abs=0.08), key
