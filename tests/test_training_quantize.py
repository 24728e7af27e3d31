"""training.quantize: the int8 copy of a model, calibrated on Training faces and checked on PublicTest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import FER_FIXTURES, fer_fixture_faces

from fer_core.recognition.classifier import ClassifierConfig, EmotionClassifier
from fer_core.recognition.preprocessing import prepare_faces
from fer_core.recognition.quantized_model import file_sha256, quantized_model_status, quantized_paths
from training.quantize import QuantizationRefused, calibration_faces, main, quantize

SHIPPED = Path(__file__).resolve().parent.parent / "models" / "fer_model.keras"


@pytest.fixture(scope="module")
def quantized(tmp_path_factory) -> tuple[Path, dict]:
    """A copy of the shipped Keras model, quantized on the fixture set (Training calibrates, PublicTest checks)."""
    folder = tmp_path_factory.mktemp("quantized")
    model = folder / "fer_model.keras"
    shutil.copyfile(SHIPPED, model)
    record = quantize(model, FER_FIXTURES, calibration_count=30, max_public_drop=100.0, cache_dir=folder / "cache")
    return model, record


def _training_images() -> np.ndarray:
    return np.stack([face for _, _, face in fer_fixture_faces("train")])


def test_calibration_faces_are_seeded_prepared_and_mirrored():
    images = _training_images()
    faces = calibration_faces(images, count=10, seed=1)
    assert faces.shape == (20, 48, 48, 1) and faces.dtype == np.float32
    np.testing.assert_array_equal(faces[10:], faces[:10, :, ::-1])
    np.testing.assert_array_equal(faces, calibration_faces(images, count=10, seed=1))
    assert not np.array_equal(faces, calibration_faces(images, count=10, seed=2))
    originals = prepare_faces(images)
    assert all(any(np.array_equal(face, original) for original in originals) for face in faces[:10])
    assert len(calibration_faces(images, count=10_000, seed=0)) == 2 * len(images)  # capped at what there is
    with pytest.raises(ValueError, match="calibration count"):
        calibration_faces(images, count=0, seed=0)
    with pytest.raises(ValueError, match="no images"):
        calibration_faces(images[:0], count=5, seed=0)


def test_quantize_writes_an_int8_copy_bound_to_its_model(quantized):
    model, record = quantized
    tflite, record_path = quantized_paths(model)
    assert tflite.is_file() and json.loads(record_path.read_text()) == record
    assert record["source_sha256"] == file_sha256(model) and record["quantized_sha256"] == file_sha256(tflite)
    assert record["calibration"] == {"split": "Training", "faces": 30, "mirrored": True, "seed": 0}
    scores = record["public_test"]
    assert set(scores) == {"float", "int8", "max_drop_points"}
    assert all(0.0 <= scores[runtime]["accuracy_flip_tta"] <= 1.0 for runtime in ("float", "int8"))
    assert quantized_model_status(model).usable
    # the classifier picks the copy up by itself, and it agrees with the float model on real faces
    faces = [face for _, _, face in fer_fixture_faces("test")]
    int8 = EmotionClassifier(model)
    assert int8.runtime == "int8"
    as_float = EmotionClassifier(model, ClassifierConfig(runtime="float")).classify(faces)
    as_int8 = int8.classify(faces)
    assert np.abs(as_int8 - as_float).max() < 0.2
    assert (as_int8.argmax(1) == as_float.argmax(1)).mean() >= 0.9


def test_a_copy_that_loses_too_much_on_public_test_is_refused(quantized, tmp_path):
    model, _ = quantized
    before = {path: path.read_bytes() for path in quantized_paths(model)}
    with pytest.raises(QuantizationRefused, match="below the float model on PublicTest"):
        quantize(model, FER_FIXTURES, calibration_count=10, max_public_drop=-101.0, cache_dir=tmp_path)
    assert {path: path.read_bytes() for path in quantized_paths(model)} == before  # the kept copy is untouched


def test_evaluate_reports_the_int8_copy_and_the_float_model(quantized, tmp_path):
    from training.evaluate import evaluate

    model, record = quantized
    card = evaluate(
        model, FER_FIXTURES, run_dir=None, card_path=tmp_path / "card.json", reports_dir=tmp_path / "reports",
        default_flip_tta=True, cache_dir=tmp_path / "cache",
    )  # fmt: skip
    assert card["inference"]["runtime"] == card["headline"]["runtime"] == "int8"
    assert card["inference"]["quantization"] == record
    assert card["headline"]["accuracy"] == card["metrics"]["PrivateTest_flip_tta"]["accuracy"]
    assert set(card["metrics_float"]) == set(card["metrics"])
    for key in card["metrics"]:
        assert card["metrics_float"][key]["count"] == card["metrics"][key]["count"]


def test_cli_reports_bad_input_without_a_traceback(tmp_path):
    assert main(["--model", str(tmp_path / "missing.keras"), "--data", str(FER_FIXTURES)]) == 2
    model = str(tmp_path / "fer_model.keras")
    shutil.copyfile(SHIPPED, model)
    assert main(["--model", model, "--data", str(tmp_path / "no-data.zip")]) == 2
    assert main(["--model", model, "--data", str(FER_FIXTURES), "--calibration-count", "0"]) == 2
    assert not any(path.exists() for path in quantized_paths(model))
