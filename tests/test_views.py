"""fer_core.recognition.views and the classifier's view sets: what each view does, and how they are averaged."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fer_fixture_faces

from fer_core import ClassifierConfig, EmotionClassifier
from fer_core.recognition.views import (
    VIEW_SETS,
    View,
    average_views,
    expand_views,
    parse_view,
    resolve_views,
    view_key,
)


def _ramp_batch(count: int = 3) -> np.ndarray:
    """Faces whose pixels encode their position: a shift or a mirror moves the values in a known way."""
    ramp = np.add.outer(np.arange(48, dtype=np.float32), np.arange(48, dtype=np.float32) * 0.01) / 48.0
    return np.stack([ramp + index for index in range(count)])[..., None].astype(np.float32)


def test_each_view_moves_mirrors_or_zooms_the_face():
    batch = _ramp_batch()
    right, down = expand_views(batch, [View(shift_x=2)]), expand_views(batch, [View(shift_y=2)])
    np.testing.assert_allclose(right[:, 10, 12], batch[:, 10, 10], atol=1e-5)  # content moved 2 px right
    np.testing.assert_allclose(down[:, 12, 10], batch[:, 10, 10], atol=1e-5)  # and 2 px down
    mirrored = expand_views(batch, [View(mirror=True)])
    np.testing.assert_array_equal(mirrored, batch[:, :, ::-1])
    zoomed = expand_views(batch, [View(zoom=1.1)])
    assert np.isclose(zoomed[0, 23, 23, 0], batch[0, 23, 23, 0], atol=0.05)  # the centre stays
    assert not np.allclose(zoomed[0, 2, 2], batch[0, 2, 2])  # the borders move out
    # turned counter-clockwise: the right side of a face rises, so it now shows what lay below it (larger values)
    turned, back = expand_views(batch, [View(rotate=6)]), expand_views(batch, [View(rotate=-6)])
    assert turned[0, 23, 45, 0] > batch[0, 23, 45, 0] + 0.02 and turned[0, 23, 2, 0] < batch[0, 23, 2, 0] - 0.02
    assert back[0, 23, 45, 0] < batch[0, 23, 45, 0] - 0.02 and back[0, 23, 2, 0] > batch[0, 23, 2, 0] + 0.02
    assert np.isclose(turned[0, 23, 23, 0], batch[0, 23, 23, 0], atol=0.05)  # about the centre


def test_views_are_view_major_and_averaged_per_face():
    batch = _ramp_batch(3)
    views = VIEW_SETS["flip"]
    expanded = expand_views(batch, views)
    assert expanded.shape == (6, 48, 48, 1)
    np.testing.assert_array_equal(expanded[:3], batch)
    np.testing.assert_array_equal(expanded[3:], batch[:, :, ::-1])
    rows = np.arange(12, dtype=np.float32).reshape(6, 2)
    np.testing.assert_allclose(average_views(rows, 2), (rows[:3] + rows[3:]) / 2)
    with pytest.raises(ValueError, match="do not hold"):
        average_views(rows, 4)


def test_named_view_sets_and_bad_views():
    assert len(resolve_views("multi")) == 14 and len(set(resolve_views("multi"))) == 14
    assert resolve_views("flip") == (View(), View(mirror=True))
    assert all(any(v.mirror for v in resolve_views(name)) for name in VIEW_SETS if name != "none")
    for bad in ("sideways", (), ("flip",)):
        with pytest.raises(ValueError):
            resolve_views(bad)
    with pytest.raises(ValueError, match="zoom"):
        View(zoom=3.0)
    with pytest.raises(ValueError, match="rotate"):
        View(rotate=45)
    assert len(resolve_views("rotate")) == 8 and len(set(resolve_views("all"))) == 18
    assert View(rotate=6, mirror=True) in resolve_views("rotate")  # mirrors keep the turn
    with pytest.raises(ValueError, match="unknown view set"):
        ClassifierConfig(views="sideways")


def test_views_written_out_read_back():
    assert parse_view("face") == View() and parse_view("facem") == View(mirror=True)
    assert parse_view("x2y-2z0.9r3m") == View(shift_x=2, shift_y=-2, zoom=0.9, rotate=3, mirror=True)
    assert parse_view("r-6") == View(rotate=-6) and parse_view("z1.1r6") == View(zoom=1.1, rotate=6)
    for views in VIEW_SETS.values():
        assert all(parse_view(view_key(view)) == view for view in views)  # the cache's names read back
    written = resolve_views("face,z1.1,r6,r-6,facem,z1.1m,r6m,r-6m")
    assert written == VIEW_SETS["rotate"]  # the same views in the same order: the same average
    assert resolve_views("face,facem,face") == VIEW_SETS["flip"]  # each view once
    for bad in ("q3", "face,q3", "z1.1z1.2", "r40", "facex", "x2,", "mirror", "m", "zooms"):
        with pytest.raises(ValueError):
            resolve_views(bad)
    config = ClassifierConfig(views="face,z1.2,facem,z1.2m")
    assert EmotionClassifier(config=config).views == (
        View(),
        View(zoom=1.2),
        View(mirror=True),
        View(zoom=1.2, mirror=True),
    )


def test_classifier_averages_its_views_in_one_batch(monkeypatch):
    """The default photo views of all faces go through the model in one call and are averaged (the model alone
    here: its ensemble is checked in test_ensemble.py)."""
    from fer_core.recognition.classifier import DEFAULT_VIEWS

    faces = np.stack([face for _, _, face in fer_fixture_faces("test")[:5]])
    single = EmotionClassifier(config=ClassifierConfig(views="none", members=()))
    default = EmotionClassifier(config=ClassifierConfig(members=()))
    assert default.config.views == DEFAULT_VIEWS == "rotate" and default.config.stream_views == "flip"
    calls: list[int] = []
    predict = default._runtime.predict
    monkeypatch.setattr(default._runtime, "predict", lambda batch: calls.append(len(batch)) or predict(batch))
    probabilities = default.classify(faces)
    assert calls == [len(faces) * len(resolve_views(DEFAULT_VIEWS))] == [len(faces) * 8]
    from fer_core.recognition.preprocessing import prepare_faces

    prepared = prepare_faces(faces)
    expected = np.mean([single.predict_views(prepared, [view]) for view in resolve_views(DEFAULT_VIEWS)], axis=0)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    calls.clear()
    streamed = default.classify(faces, stream=True)  # video frames: the two flip views
    assert calls == [len(faces) * 2]
    np.testing.assert_allclose(streamed, single.predict_views(prepared, resolve_views("flip")), atol=1e-5)


def test_prior_correction_lifts_rare_classes_and_is_off_by_default():
    from fer_core.labels import EMOTIONS, FER2013_TRAINING_COUNTS
    from fer_core.recognition.classifier import correct_prior

    assert sum(FER2013_TRAINING_COUNTS) == 28709 and ClassifierConfig().prior_correction == 0.0
    even = np.full((1, 7), 1 / 7)
    corrected = correct_prior(even, 0.5)
    np.testing.assert_allclose(corrected.sum(), 1.0)
    assert EMOTIONS[int(corrected.argmax())] == "disgust" and EMOTIONS[int(corrected.argmin())] == "happy"
    faces = np.stack([face for _, _, face in fer_fixture_faces("test")[:4]])
    plain = EmotionClassifier(config=ClassifierConfig(views="none")).classify(faces)
    lifted = EmotionClassifier(config=ClassifierConfig(views="none", prior_correction=0.25)).classify(faces)
    np.testing.assert_allclose(lifted, correct_prior(plain, 0.25), atol=1e-5)
    with pytest.raises(ValueError, match="prior_correction"):
        ClassifierConfig(prior_correction=2.0)


@pytest.mark.dataset
def test_training_prior_matches_fer2013(tmp_path):
    from pathlib import Path

    from fer_core.labels import FER2013_TRAINING_COUNTS
    from training.data import load_fer2013

    dataset = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fer2013.zip"
    if not dataset.is_file():
        pytest.skip(f"full FER2013 not found at {dataset}")
    labels = load_fer2013(dataset, cache_dir=tmp_path)["Training"].labels
    assert tuple(np.bincount(labels, minlength=7)) == FER2013_TRAINING_COUNTS


def test_an_ensemble_averages_its_members_probabilities(tmp_path):
    """ClassifierConfig(members=...): the main model's and each member's probabilities, averaged per view."""
    import shutil

    from conftest import save_small_random_model

    from fer_core.recognition.classifier import DEFAULT_MODEL_PATH, ModelLoadError

    for name in (DEFAULT_MODEL_PATH.name, "fer_model.int8.tflite", "fer_model.int8.json"):
        shutil.copyfile(DEFAULT_MODEL_PATH.parent / name, tmp_path / name)
    member = save_small_random_model(tmp_path / "member.keras", seed=5)
    main_model = tmp_path / DEFAULT_MODEL_PATH.name
    faces = np.stack([face for _, _, face in fer_fixture_faces("test")[:4]])
    alone = EmotionClassifier(main_model, ClassifierConfig(views="flip")).classify(faces)
    ensemble = EmotionClassifier(main_model, ClassifierConfig(views="flip", members=("member.keras",)))
    assert ensemble.runtime == "int8" and ensemble.member_paths == [tmp_path / "member.keras"]
    from fer_core.recognition.preprocessing import prepare_faces

    expanded = expand_views(prepare_faces(faces), resolve_views("flip"))
    member_probabilities = average_views(member.predict(expanded, verbose=0), 2)
    np.testing.assert_allclose(ensemble.classify(faces), (alone + member_probabilities) / 2, atol=1e-4)
    # a video stream runs the main model alone when stream_members is off
    stream_alone = EmotionClassifier(main_model, ClassifierConfig(stream_views="flip", members=())).classify(
        faces, stream=True
    )
    members_off = ClassifierConfig(views="flip", members=("member.keras",), stream_members=False)
    np.testing.assert_allclose(
        EmotionClassifier(main_model, members_off).classify(faces, stream=True), stream_alone, atol=1e-6
    )
    both = EmotionClassifier(
        main_model, ClassifierConfig(stream_views="flip", members=("member.keras",), stream_members=True)
    )
    np.testing.assert_allclose(both.classify(faces, stream=True), (alone + member_probabilities) / 2, atol=1e-4)
    with pytest.raises(ModelLoadError, match="ensemble member not found"):
        EmotionClassifier(main_model, ClassifierConfig(members=("missing.keras",)))
