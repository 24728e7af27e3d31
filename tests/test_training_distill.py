"""Knowledge distillation: the teacher's mirror-averaged probabilities mixed with the labels, and a run using them."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import evaluate_fixture_run, fer_fixture_faces, fixture_train_config, save_small_random_model

from fer_core.recognition.preprocessing import prepare_faces
from training.distill import distillation_targets, mirror_averaged_probabilities
from training.train import main, train

FIXTURES = Path(__file__).parent / "fixtures" / "fer2013_tiny"


def _fixture_batch() -> tuple[np.ndarray, np.ndarray]:
    faces = fer_fixture_faces("train")
    images = prepare_faces([face for _, _, face in faces])
    one_hot = keras.utils.to_categorical([label for _, label, _ in faces], 7).astype("float32")
    return images, one_hot


def _teacher(path: Path) -> keras.Model:
    """A small random model that is not mirror-symmetric (its dense layer sees positions)."""
    return save_small_random_model(path, seed=3)


def test_mirror_averaged_probabilities_are_the_mean_over_both_views(tmp_path):
    images, _ = _fixture_batch()
    model = _teacher(tmp_path / "teacher.keras")
    direct = model.predict(images, verbose=0)
    mirrored = model.predict(images[:, :, ::-1], verbose=0)
    assert np.abs(direct - mirrored).max() > 1e-3  # the model itself tells the two views apart
    averaged = mirror_averaged_probabilities(model, images, batch_size=8)
    np.testing.assert_allclose(averaged, (direct + mirrored) / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        mirror_averaged_probabilities(model, np.ascontiguousarray(images[:, :, ::-1])), averaged, atol=1e-6
    )


def test_distillation_targets_mix_teacher_and_labels(tmp_path):
    images, one_hot = _fixture_batch()
    model = _teacher(tmp_path / "teacher.keras")
    teacher = mirror_averaged_probabilities(model, images)
    np.testing.assert_allclose(distillation_targets(tmp_path / "teacher.keras", images, one_hot, 0.0), one_hot)
    np.testing.assert_allclose(distillation_targets(tmp_path / "teacher.keras", images, one_hot, 1.0), teacher, 1e-5)
    mixed = distillation_targets(tmp_path / "teacher.keras", images, one_hot, 0.7)
    np.testing.assert_allclose(mixed, 0.7 * teacher + 0.3 * one_hot, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=1e-5)
    assert mixed.dtype == np.float32


def test_distillation_targets_refuse_bad_teachers_and_weights(tmp_path):
    images, one_hot = _fixture_batch()
    _teacher(tmp_path / "teacher.keras")
    with pytest.raises(ValueError, match="between 0 and 1"):
        distillation_targets(tmp_path / "teacher.keras", images, one_hot, 1.5)
    with pytest.raises(ValueError, match="no such model file"):
        distillation_targets(tmp_path / "missing.keras", images, one_hot, 0.5)
    other = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(), keras.layers.Dense(7)])
    other.save(tmp_path / "other.keras")
    with pytest.raises(ValueError, match="not images"):
        distillation_targets(tmp_path / "other.keras", images, one_hot, 0.5)


def test_training_distils_from_a_teacher_and_records_it(tmp_path):
    _teacher(tmp_path / "teacher.keras")
    config = fixture_train_config(tmp_path, epochs=1, distill_from=str(tmp_path / "teacher.keras"), distill_weight=0.7)
    summary = train(config)
    assert summary["epochs_run"] == 1
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["distill_from"] == str(tmp_path / "teacher.keras")
    assert saved["distill_weight"] == 0.7
    card = evaluate_fixture_run(tmp_path / "run" / "best.keras", tmp_path / "run", tmp_path)
    assert "teacher" in card["protocol"] and card["training"]["distill_from"] == str(tmp_path / "teacher.keras")
    # a missing teacher is one clear error line and exit status 2, not a traceback
    argv = ["--data", str(FIXTURES), "--run-dir", str(tmp_path / "bad"), "--cache-dir", str(tmp_path / "cache")]
    argv.append("--no-mixed-precision")  # main() sets Keras' global policy for the process; keep other tests float32
    assert main([*argv, "--distill-from", str(tmp_path / "missing.keras"), "--epochs", "1"]) == 2


def test_a_multi_view_teacher_averages_the_inference_views(tmp_path):
    """--distill-views multi: the teacher sees the very views fer_core averages at inference."""
    from fer_core.recognition.views import expand_views, resolve_views
    from training.distill import view_averaged_probabilities

    images, _ = _fixture_batch()
    model = _teacher(tmp_path / "teacher.keras")
    views = resolve_views("multi")
    per_view = [model.predict(expand_views(images, [view]), verbose=0) for view in views]
    averaged = view_averaged_probabilities(model, images, "multi", batch_size=5)
    np.testing.assert_allclose(averaged, np.mean(per_view, axis=0), rtol=1e-5, atol=1e-6)
    assert np.abs(averaged - mirror_averaged_probabilities(model, images)).max() > 1e-4


def test_an_ensemble_teacher_averages_its_members(tmp_path):
    """--distill-from a.keras,b.keras: the targets learn from the mean of both teachers, as the app averages members."""
    from training.distill import teacher_paths, view_averaged_probabilities

    images, one_hot = _fixture_batch()
    first = _teacher(tmp_path / "a.keras")
    second = save_small_random_model(tmp_path / "b.keras", seed=11)
    expected = (view_averaged_probabilities(first, images) + view_averaged_probabilities(second, images)) / 2
    assert np.abs(view_averaged_probabilities(first, images) - expected).max() > 1e-3  # the members differ
    paths = teacher_paths(f"{tmp_path / 'a.keras'}, {tmp_path / 'b.keras'}")
    assert paths == [tmp_path / "a.keras", tmp_path / "b.keras"]
    np.testing.assert_allclose(distillation_targets(paths, images, one_hot, 1.0), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="no such model file"):
        distillation_targets([tmp_path / "a.keras", tmp_path / "missing.keras"], images, one_hot, 0.5)
    with pytest.raises(ValueError, match="names no model file"):
        teacher_paths(" , ")


def test_the_teacher_views_offered_are_the_named_view_sets():
    """train.py keeps its own list (it imports fer_core only inside functions); it may not drift from VIEW_SETS."""
    import dataclasses

    from fer_core.recognition.views import VIEW_SETS
    from training.train import TrainConfig

    (views,) = [f for f in dataclasses.fields(TrainConfig) if f.name == "distill_views"]
    assert views.metadata["choices"] == tuple(VIEW_SETS)


def test_teacher_probabilities_are_cached_per_model_views_and_images(tmp_path, monkeypatch):
    """A resumed or repeated run reads each teacher's probabilities back instead of running the teacher again; a
    changed model file, other views or other images are computed afresh."""
    import training.distill as distill

    images, one_hot = _fixture_batch()
    teacher, cache = tmp_path / "teacher.keras", tmp_path / "cache"
    _teacher(teacher)
    first = distillation_targets(teacher, images, one_hot, 1.0, "flip", cache_dir=cache)
    assert len(list(cache.glob("teacher-*.npy"))) == 1
    loads = []
    real_load = distill.load_teacher
    monkeypatch.setattr(distill, "load_teacher", lambda *args: loads.append(args[0]) or real_load(*args))
    np.testing.assert_array_equal(distillation_targets(teacher, images, one_hot, 1.0, "flip", cache_dir=cache), first)
    assert loads == [], "the cached probabilities were used"
    distillation_targets(teacher, images, one_hot, 1.0, "zoom", cache_dir=cache)
    reordered = distillation_targets(teacher, images[::-1].copy(), one_hot[::-1], 1.0, "flip", cache_dir=cache)
    np.testing.assert_allclose(reordered, first[::-1], rtol=1e-5, atol=1e-6)  # same shape, other images
    save_small_random_model(teacher, seed=5)  # same path, other weights
    changed = distillation_targets(teacher, images, one_hot, 1.0, "flip", cache_dir=cache)
    assert loads == [teacher] * 3, "other views, images or weights run the teacher again"
    assert np.abs(changed - first).max() > 1e-3
    assert len(list(cache.glob("teacher-*.npy"))) == 4 and not list(cache.glob("*.tmp.npy"))


def test_a_distilling_run_caches_its_teacher_next_to_the_decoded_data(tmp_path):
    _teacher(tmp_path / "teacher.keras")
    train(fixture_train_config(tmp_path, epochs=1, distill_from=str(tmp_path / "teacher.keras")))
    assert len(list((tmp_path / "cache").glob("teacher-*.npy"))) == 1
