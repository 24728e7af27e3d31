"""training.public_views: PublicTest per view set, single model or ensemble, on the fixture set."""

from __future__ import annotations

import shutil

import pytest
from conftest import FER_FIXTURES, save_constant_model

from fer_core.recognition.classifier import DEFAULT_MODEL_PATH
from training.public_views import main, public_view_scores


def test_scores_every_view_set_and_an_ensemble_differs(tmp_path, capsys):
    for name in (DEFAULT_MODEL_PATH.name, "fer_model.int8.tflite", "fer_model.int8.json"):
        shutil.copyfile(DEFAULT_MODEL_PATH.parent / name, tmp_path / name)
    model = tmp_path / DEFAULT_MODEL_PATH.name
    alone = public_view_scores(model, FER_FIXTURES)
    assert set(alone) == {"none", "flip", "zoom", "shift", "multi", "rotate", "all"}
    save_constant_model(tmp_path / "disgust.keras")
    mixed = public_view_scores(model, FER_FIXTURES, ("disgust.keras",))
    # a member sure of "disgust" outweighs the shipped model's answers once averaged in
    assert all(mixed[views]["accuracy"] < alone[views]["accuracy"] for views in alone)
    assert main(["--model", str(model), "--data", str(FER_FIXTURES)]) == 0
    assert f"multi  PublicTest accuracy {alone['multi']['accuracy']:.2%}" in capsys.readouterr().out
    assert main(["--model", str(model), "--data", str(FER_FIXTURES), "--members", "missing.keras"]) == 2
    with pytest.raises(Exception, match="ensemble member not found"):
        public_view_scores(model, FER_FIXTURES, ("missing.keras",))
