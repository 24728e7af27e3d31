"""training.public_views: PublicTest per view set, single model or ensemble, on the fixture set."""

from __future__ import annotations

import shutil

import pytest
from conftest import FER_FIXTURES

from fer_core.recognition.classifier import DEFAULT_MODEL_PATH
from training.public_views import main, public_view_scores


def _always_disgust(path):
    import keras
    import numpy as np

    model = keras.Sequential(
        [keras.Input((48, 48, 1)), keras.layers.Flatten(), keras.layers.Dense(7, activation="softmax")]
    )
    kernel, _ = model.layers[-1].get_weights()
    model.layers[-1].set_weights([np.zeros_like(kernel), np.array([0, 20, 0, 0, 0, 0, 0], np.float32)])
    model.save(path)


def test_scores_every_view_set_and_an_ensemble_differs(tmp_path, capsys):
    for name in (DEFAULT_MODEL_PATH.name, "fer_model.int8.tflite", "fer_model.int8.json"):
        shutil.copyfile(DEFAULT_MODEL_PATH.parent / name, tmp_path / name)
    model = tmp_path / DEFAULT_MODEL_PATH.name
    alone = public_view_scores(model, FER_FIXTURES)
    assert set(alone) == {"none", "flip", "zoom", "shift", "multi"}
    _always_disgust(tmp_path / "disgust.keras")
    mixed = public_view_scores(model, FER_FIXTURES, ("disgust.keras",))
    # a member sure of "disgust" outweighs the shipped model's answers once averaged in
    assert all(mixed[views]["accuracy"] < alone[views]["accuracy"] for views in alone)
    assert main(["--model", str(model), "--data", str(FER_FIXTURES)]) == 0
    assert f"multi  PublicTest accuracy {alone['multi']['accuracy']:.2%}" in capsys.readouterr().out
    assert main(["--model", str(model), "--data", str(FER_FIXTURES), "--members", "missing.keras"]) == 2
    with pytest.raises(Exception, match="ensemble member not found"):
        public_view_scores(model, FER_FIXTURES, ("missing.keras",))
