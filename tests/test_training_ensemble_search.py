"""training.ensemble_search: every combination of members and views, scored from cached outputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import FER_FIXTURES, save_constant_model, write_photo_set

from fer_core.labels import EMOTIONS
from fer_core.recognition.classifier import DEFAULT_MODEL_PATH
from training.ensemble_search import Candidate, Scores, main, score, search
from training.evaluate_photos import photo_metrics
from training.member_outputs import ALL_VIEWS


def test_scores_agree_with_scikit_learn_and_the_photo_metrics():
    from sklearn.metrics import f1_score, recall_score

    rng = np.random.default_rng(7)
    labels = rng.integers(0, 7, 300)
    probabilities = rng.dirichlet(np.ones(7), 300).astype(np.float32)
    probabilities[np.arange(300) % 3 == 0] = np.eye(7, dtype=np.float32)[labels[np.arange(300) % 3 == 0]]
    probabilities[::17] = np.nan  # no face found: wrong, whatever the label
    labels[labels == 1] = 0  # one class never occurs
    read = np.where(np.isnan(probabilities).any(axis=1), -1, np.nan_to_num(probabilities).argmax(axis=1))
    classes = list(range(7))
    recall = recall_score(labels, read, labels=classes, average=None, zero_division=0)
    got = score(labels, probabilities)
    assert got.accuracy == pytest.approx((read == labels).mean())
    assert got.macro_f1 == pytest.approx(f1_score(labels, read, labels=classes, average="macro", zero_division=0))
    present = [index for index in classes if index != 1]
    assert (
        got.min_recall == pytest.approx(recall[present].min())
        and got.weakest == EMOTIONS[min(present, key=recall.__getitem__)]
    )
    expected = photo_metrics(labels, probabilities)  # the card's numbers, counted the same way
    assert (expected["accuracy"], expected["macro_f1"]) == (round(got.accuracy, 4), round(got.macro_f1, 4))


def _outputs(labels: np.ndarray, right: float, seed: int) -> np.ndarray:
    """(views, N, 7) outputs of a model that puts ``right`` of its probability on the true class, noise elsewhere."""
    rng = np.random.default_rng(seed)
    noise = rng.dirichlet(np.ones(7), (len(ALL_VIEWS), labels.size)).astype(np.float32)
    return (1 - right) * noise + right * np.eye(7, dtype=np.float32)[labels]


def test_search_tries_every_combination_and_ranks_by_the_selection_split():
    labels = np.arange(700) % 7
    disgust = np.zeros((len(ALL_VIEWS), labels.size, 7), np.float32)
    disgust[..., 1] = 1
    public = {"main": _outputs(labels, 0.15, 1), "good": _outputs(labels, 0.3, 2), "disgust": disgust}
    photos = {name: array[:, :140] for name, array in public.items()}
    candidates = search(
        {"public": public, "photos": photos},
        {"public": labels, "photos": labels[:140]},
        "main",
        view_sets=["flip", "multi"],
        max_members=2,
    )
    assert len(candidates) == 4 * 2  # (alone, +good, +disgust, +both) x 2 view sets
    best, worst = candidates[0], candidates[-1]
    assert best.members == ("good",) and best.public.accuracy > 0.9 and best.photos is not None
    assert all("disgust" in c.members for c in candidates[-4:])  # a member sure of one class drags any mix down
    assert worst.public.accuracy == pytest.approx(1 / 7) and worst.public.weakest != "disgust"
    assert [c.public.accuracy for c in candidates] == sorted((c.public.accuracy for c in candidates), reverse=True)
    alone = [c for c in candidates if not c.members]
    assert len(alone) == 2 and all(c.public.accuracy < best.public.accuracy for c in alone)
    assert best.meets(0.8, 0.6) and not worst.meets(0.8, 0.6)
    assert len(search({"public": public}, {"public": labels}, "main", view_sets=["zoom"], max_members=0)) == 1
    with pytest.raises(ValueError, match="main model"):
        search({"public": public}, {"public": labels}, "other", view_sets=["zoom"], max_members=1)


def test_meets_needs_photo_scores():
    scores = Scores(0.9, 0.9, 0.9, "fear")
    assert not Candidate((), "zoom", scores).meets(0.8, 0.6)
    assert Candidate((), "zoom", scores, scores).meets(0.8, 0.6)
    assert not Candidate((), "zoom", scores, Scores(0.9, 0.9, 0.59, "fear")).meets(0.8, 0.6)


def test_the_command_ranks_real_models_on_faces_and_photos(tmp_path, capsys):
    for name in (DEFAULT_MODEL_PATH.name, "fer_model.int8.tflite", "fer_model.int8.json"):
        shutil.copyfile(DEFAULT_MODEL_PATH.parent / name, tmp_path / name)
    save_constant_model(tmp_path / "disgust.keras")
    (tmp_path / "members").mkdir()
    for name in ("member_m.keras", "member_m.int8.tflite", "member_m.int8.json"):
        shutil.copyfile(DEFAULT_MODEL_PATH.parent / "members" / name, tmp_path / "members" / name)
    photos = write_photo_set(tmp_path / "photos")
    argv = ["--model", str(tmp_path / DEFAULT_MODEL_PATH.name), "--data", str(FER_FIXTURES), "--photos", str(photos)]
    argv += ["--members", "members/member_m.keras", "disgust.keras", "--views", "zoom", "--cache", str(tmp_path / "c")]
    assert main([*argv, "--json", str(tmp_path / "search" / "all.json")]) == 0  # its folder is made
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| main")]
    assert len(rows) == 4 and rows[-1].startswith("| main + disgust | zoom |")  # the constant member ranks last
    assert "| main | zoom |" in "\n".join(rows)
    recorded = json.loads((tmp_path / "search" / "all.json").read_text())
    assert len(recorded) == 4 and recorded[0]["photos"]["accuracy"] == pytest.approx(0.5)  # the wall has no face
    assert {tuple(c["members"]) for c in recorded} == {
        (),
        ("members/member_m.keras",),
        ("disgust.keras",),
        ("members/member_m.keras", "disgust.keras"),
    }
    assert main([*argv, "--members", "missing.keras"]) == 2
    assert main([*argv, "--views", "ten-crop"]) == 2
    assert main([*argv, "--views", "face,q3"]) == 2


def test_the_command_takes_views_written_out(tmp_path, capsys):
    for name in (DEFAULT_MODEL_PATH.name, "fer_model.int8.tflite", "fer_model.int8.json"):
        shutil.copyfile(DEFAULT_MODEL_PATH.parent / name, tmp_path / name)
    save_constant_model(tmp_path / "disgust.keras")
    cache = tmp_path / "c"
    argv = ["--model", str(tmp_path / DEFAULT_MODEL_PATH.name), "--data", str(FER_FIXTURES), "--cache", str(cache)]
    argv += ["--members", "disgust.keras", "--max-members", "0"]
    assert main([*argv, "--views", "flip", "facem,face", "z1.2,z1.2m"]) == 0
    rows = {line.split(" | ")[1]: line.split(" | ")[2] for line in capsys.readouterr().out.splitlines()[2:]}
    assert set(rows) == {"flip", "facem,face", "z1.2,z1.2m"}
    assert rows["flip"] == rows["facem,face"]  # the same views, named or written out
    assert rows["z1.2,z1.2m"] != rows["flip"]
    keys = {path.name.rsplit("-", 1)[1] for path in cache.iterdir()}
    assert keys == {"x0y0z1r0.npy", "x0y0z1r0m.npy", "x0y0z1.2r0.npy", "x0y0z1.2r0m.npy"}  # only what was asked
