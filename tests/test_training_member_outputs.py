"""training.member_outputs: each model's per-view outputs, cached, reproduce what the app's classifier averages."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import FER_FIXTURES, write_photo_set

from fer_core.recognition.classifier import DEFAULT_MODEL_PATH, ClassifierConfig, EmotionClassifier
from fer_core.recognition.preprocessing import prepare_faces
from fer_core.recognition.views import VIEW_SETS, View, view_key
from training import member_outputs
from training.member_outputs import (
    ALL_VIEWS,
    photo_faces,
    public_test_faces,
    view_indices,
    view_outputs,
    views_needed,
)

MEMBER = DEFAULT_MODEL_PATH.parent / "members" / "member_m.keras"


def test_every_named_view_set_is_among_the_computed_views():
    assert len(set(ALL_VIEWS)) == len(ALL_VIEWS) == 18
    for name, views in VIEW_SETS.items():
        assert [ALL_VIEWS[index] for index in view_indices(name)] == list(views)
    with pytest.raises(ValueError, match="unknown view set"):
        view_indices("ten-crop")
    assert view_indices("r6m,face") == [ALL_VIEWS.index(View(rotate=6, mirror=True)), 0]
    with pytest.raises(ValueError, match=r"x0y0z1\.2r0 of 'face,z1\.2' were not computed"):
        view_indices("face,z1.2")
    needed = views_needed(["flip", "face,z1.2,z1.2m"])
    assert needed == (View(), View(mirror=True), View(zoom=1.2), View(zoom=1.2, mirror=True))
    assert view_indices("face,z1.2", needed) == [0, 2]


@pytest.mark.parametrize("views", ["zoom", "multi", "rotate"])
def test_averaged_outputs_are_what_the_classifier_reads(views):
    faces = public_test_faces(FER_FIXTURES)
    main, member = view_outputs(DEFAULT_MODEL_PATH, faces), view_outputs(MEMBER, faces)
    rows = view_indices(views)
    averaged = np.mean([main[rows].mean(axis=0), member[rows].mean(axis=0)], axis=0)
    classifier = EmotionClassifier(DEFAULT_MODEL_PATH, ClassifierConfig(members=("members/member_m.keras",)))
    expected = classifier.predict_views(prepare_faces(faces.faces), VIEW_SETS[views])
    np.testing.assert_allclose(averaged, expected, atol=1e-5)
    assert not np.allclose(main[rows].mean(axis=0), expected, atol=1e-3)  # the member does change the answer


def test_outputs_are_cached_per_model_file_and_view(tmp_path, monkeypatch):
    faces, cache = public_test_faces(FER_FIXTURES), tmp_path / "cache"
    first = view_outputs(MEMBER, faces, cache)
    files = sorted(cache.iterdir())
    assert first.shape == (len(ALL_VIEWS), len(faces.faces), 7) and len(files) == len(ALL_VIEWS)
    next(f for f in files if f.name.endswith(f"-{view_key(ALL_VIEWS[3])}.npy")).unlink()  # lost: run again
    asked = []
    real = member_outputs.compute_view_outputs

    def recording(model, face_set, views):
        asked.append(views)
        return real(model, face_set, views)

    monkeypatch.setattr(member_outputs, "compute_view_outputs", recording)
    np.testing.assert_allclose(view_outputs(MEMBER, faces, cache), first, atol=1e-6)
    assert asked == [(ALL_VIEWS[3],)]
    np.testing.assert_array_equal(view_outputs(MEMBER, faces, cache), first)
    assert len(asked) == 1  # all cached now
    copy = tmp_path / "other.keras"
    shutil.copyfile(DEFAULT_MODEL_PATH, copy)  # another model under another name: its own outputs
    assert not np.allclose(view_outputs(copy, faces, cache), first)
    assert len(list(cache.iterdir())) == 2 * len(ALL_VIEWS)
    with pytest.raises(ValueError, match="no model file"):
        view_outputs(tmp_path / "missing.keras", faces)


def test_photo_faces_are_the_app_crops_and_a_photo_without_a_face_stays_blank(tmp_path, recognizer):
    from fer_core.recognition.image_io import load_image

    folder = write_photo_set(tmp_path / "photos")
    photo = load_image((folder / "astronaut.jpg").read_bytes(), name="astronaut.jpg")
    faces = photo_faces(folder)
    assert faces.name == "photos" and faces.found.tolist() == [True, False]
    assert faces.labels.tolist() == [3, 4]  # happy, sad
    np.testing.assert_array_equal(faces.faces[0], recognizer.face_crops(photo)[1][0])
    outputs = view_outputs(DEFAULT_MODEL_PATH, faces)
    assert np.isnan(outputs[:, 1]).all() and not np.isnan(outputs[:, 0]).any()
    uploaded = recognizer.analyze(photo)[0].probabilities  # the app's photo path
    main_alone = EmotionClassifier(DEFAULT_MODEL_PATH, ClassifierConfig(members=()))
    photo_views = view_indices(main_alone.config.views_name)
    assert recognizer.classifier.members  # the app averages its members; here the main model alone
    classifier_alone = main_alone.classify(faces.faces[:1])[0]
    np.testing.assert_allclose(outputs[photo_views, 0].mean(axis=0), classifier_alone, atol=1e-5)
    assert np.argmax(uploaded) == np.argmax(classifier_alone) == 3
