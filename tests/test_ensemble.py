"""fer_core.recognition.ensemble and python -m training.ensemble: a model's own photo ensemble file."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from conftest import fer_fixture_faces, save_small_random_model

from fer_core import ClassifierConfig, EmotionClassifier
from fer_core.recognition.ensemble import ensemble_path, read_ensemble, write_ensemble
from fer_core.recognition.runtimes import ModelLoadError
from training.ensemble import main


@pytest.fixture
def models(tmp_path):
    """A main model and two members in one folder, members under members/ as in models/."""
    main_model = tmp_path / "fer_model.keras"
    save_small_random_model(main_model, seed=1)
    (tmp_path / "members").mkdir()
    save_small_random_model(tmp_path / "members" / "a.keras", seed=2)
    save_small_random_model(tmp_path / "members" / "b.keras", seed=3)
    return main_model


def test_the_default_configuration_averages_the_models_own_members(models):
    faces = np.stack([face for _, _, face in fer_fixture_faces("test")[:4]])
    alone = EmotionClassifier(models, ClassifierConfig(views="none")).classify(faces)
    assert write_ensemble(models, ("members/a.keras",), "chosen on KDEF") == ensemble_path(models)
    assert ensemble_path(models).name == "fer_model.ensemble.json"
    assert read_ensemble(models) == ("members/a.keras",)
    default = EmotionClassifier(models, ClassifierConfig(views="none"))
    assert default.member_paths == [models.parent / "members" / "a.keras"]
    explicit = EmotionClassifier(models, ClassifierConfig(views="none", members=("members/a.keras",)))
    np.testing.assert_allclose(default.classify(faces), explicit.classify(faces), atol=1e-6)
    assert np.abs(default.classify(faces) - alone).max() > 1e-3
    # () is the model alone, whatever its file says; another model file without one runs alone too
    np.testing.assert_allclose(
        EmotionClassifier(models, ClassifierConfig(views="none", members=())).classify(faces), alone, atol=1e-6
    )
    other = models.parent / "members" / "b.keras"
    assert EmotionClassifier(other).member_paths == []


def test_writing_no_members_deletes_the_file_and_bad_members_are_refused(models):
    write_ensemble(models, ("members/a.keras", "members/b.keras"))
    assert read_ensemble(models) == ("members/a.keras", "members/b.keras")
    assert write_ensemble(models, ()) is None and not ensemble_path(models).exists()
    with pytest.raises(ValueError, match="ensemble member not found"):
        write_ensemble(models, ("members/missing.keras",))
    with pytest.raises(ValueError, match="the model itself"):
        write_ensemble(models, ("fer_model.keras",))


def test_an_unreadable_file_is_one_clear_error_and_a_changed_member_a_warning(models, caplog):
    ensemble_path(models).write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"fer_model\.ensemble\.json is unreadable"):
        EmotionClassifier(models)
    write_ensemble(models, ("members/a.keras",))
    shutil.copyfile(models.parent / "members" / "b.keras", models.parent / "members" / "a.keras")
    with caplog.at_level(logging.WARNING, logger="fer_core.recognition.ensemble"):
        assert read_ensemble(models) == ("members/a.keras",)
    assert "changed since fer_model.ensemble.json was written" in caplog.text


def test_the_command_writes_and_clears_the_file(models, capsys):
    assert main(["--model", str(models), "--members", "members/b.keras", "--note", "test"]) == 0
    record = json.loads(ensemble_path(models).read_text())
    assert [entry["file"] for entry in record["members"]] == ["members/b.keras"] and record["note"] == "test"
    assert "fer_model.keras + members/b.keras" in capsys.readouterr().out
    assert main(["--model", str(models), "--members", "members/nope.keras"]) == 2  # one logged line, no traceback
    assert read_ensemble(models) == ("members/b.keras",)  # a refused command changes nothing
    assert main(["--model", str(models), "--members"]) == 0 and not ensemble_path(models).exists()
