"""recognition.quantized_model: the shipped int8 copy runs, matches its Keras model, refuses another."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import fer_fixture_faces

from fer_core.recognition.classifier import ClassifierConfig, EmotionClassifier, ModelLoadError
from fer_core.recognition.preprocessing import prepare_faces
from fer_core.recognition.quantized_model import (
    QuantizedModel,
    QuantizedModelError,
    file_sha256,
    quantized_model_status,
    quantized_paths,
)

MODELS = Path(__file__).resolve().parent.parent / "models"
SHIPPED = MODELS / "fer_model.keras"
SHIPPED_INT8 = MODELS / "fer_model.int8.tflite"


def _faces() -> tuple[np.ndarray, np.ndarray]:
    faces = fer_fixture_faces("test")
    return prepare_faces([face for _, _, face in faces]), np.array([label for _, label, _ in faces])


def _copy_model(folder: Path, *, with_int8: bool = True) -> Path:
    model = folder / "fer_model.keras"
    shutil.copyfile(SHIPPED, model)
    if with_int8:
        for source, target in zip(quantized_paths(SHIPPED), quantized_paths(model), strict=True):
            shutil.copyfile(source, target)
    return model


def test_paths_sit_next_to_the_keras_file():
    assert quantized_paths("models/fer_model.keras") == (
        Path("models/fer_model.int8.tflite"),
        Path("models/fer_model.int8.json"),
    )


def test_shipped_int8_copy_matches_the_shipped_model():
    status = quantized_model_status(SHIPPED)
    assert status.usable, status.reason
    assert status.record["source_sha256"] == file_sha256(SHIPPED)
    assert status.record["quantized_sha256"] == file_sha256(SHIPPED_INT8)


def test_int8_copy_agrees_with_the_float_model_on_real_faces():
    images, labels = _faces()
    int8 = QuantizedModel(SHIPPED_INT8).predict_batch(images)
    alone = ClassifierConfig(runtime="float", views="none", members=())  # the model, not its photo ensemble
    as_float = EmotionClassifier(SHIPPED, alone).predict_batch(images)
    assert int8.shape == as_float.shape == (len(images), 7) and int8.dtype == np.float32
    np.testing.assert_allclose(int8.sum(axis=1), 1.0, atol=1e-5)  # renormalised after the int8 softmax
    assert np.abs(int8 - as_float).max() < 0.15
    assert (int8.argmax(1) == as_float.argmax(1)).mean() >= 0.9
    assert abs((int8.argmax(1) == labels).mean() - (as_float.argmax(1) == labels).mean()) <= 0.06


def test_any_batch_size_gives_each_face_the_same_probabilities():
    images, _ = _faces()
    model = QuantizedModel(SHIPPED_INT8, max_batch=8, cached_sizes=2)
    one_by_one = np.concatenate([model.predict_batch(images[index : index + 1]) for index in range(len(images))])
    np.testing.assert_allclose(model.predict_batch(images), one_by_one, atol=1e-6)  # chunks of 8 and a remainder
    assert model.predict_batch(images[:0]).shape == (0, 7)


def test_bad_int8_files_and_settings_are_clear_errors(tmp_path):
    garbage = tmp_path / "garbage.int8.tflite"
    garbage.write_bytes(b"not a flatbuffer" * 64)
    with pytest.raises(QuantizedModelError, match="could not be run"):
        QuantizedModel(garbage)
    with pytest.raises(QuantizedModelError, match="could not be read"):
        QuantizedModel(tmp_path / "missing.int8.tflite")
    with pytest.raises(ValueError, match=">= 1"):
        QuantizedModel(SHIPPED_INT8, threads=0)


def test_status_says_why_a_copy_cannot_be_used(tmp_path):
    model = _copy_model(tmp_path)
    assert quantized_model_status(model).usable
    _, record_path = quantized_paths(model)
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**record, "source_sha256": "0" * 64}))
    status = quantized_model_status(model)
    assert not status.usable and "made from another model" in status.reason and "training.quantize" in status.reason
    record_path.write_text("{broken")
    assert "unreadable" in quantized_model_status(model).reason
    record_path.unlink()
    assert "no int8 copy" in quantized_model_status(model).reason


def test_classifier_runs_the_int8_copy_by_default_and_float_on_request(tmp_path):
    images, _ = _faces()
    default = EmotionClassifier(SHIPPED)
    assert default.runtime == "int8" and default.quantized_model is not None and default.folded_batch_norms == 0
    as_float = EmotionClassifier(SHIPPED, ClassifierConfig(runtime="float", members=()))
    assert as_float.runtime == "float" and as_float.quantized_model is None and as_float.folded_batch_norms > 0
    single = EmotionClassifier(SHIPPED, ClassifierConfig(views="none", members=()))  # the model alone
    np.testing.assert_allclose(single.predict_batch(images), QuantizedModel(SHIPPED_INT8).predict_batch(images))
    # flip views: each face averaged with its mirror image, in the same batch call on the int8 copy
    flip = EmotionClassifier(SHIPPED, ClassifierConfig(views="flip", members=()))
    mirrored = np.ascontiguousarray(images[:, :, ::-1])
    expected = (single.predict_batch(images) + single.predict_batch(mirrored)) / 2
    np.testing.assert_allclose(flip.predict_batch(images), expected, atol=1e-6)
    assert default.config.views == "rotate"  # photos; the views themselves are checked in test_views.py


def test_classifier_never_pairs_a_model_with_another_models_int8_copy(tmp_path, caplog):
    model = _copy_model(tmp_path)
    _, record_path = quantized_paths(model)
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**record, "source_sha256": "f" * 64}))  # as if the model was retrained
    with caplog.at_level("INFO", logger="fer_core.recognition.runtimes"):
        assert EmotionClassifier(model).runtime == "float"
    assert "made from another model" in caplog.text
    with pytest.raises(ModelLoadError, match=r"int8 runtime.*made from another model"):
        EmotionClassifier(model, ClassifierConfig(runtime="int8"))
    (tmp_path / "bare").mkdir()
    bare = _copy_model(tmp_path / "bare", with_int8=False)
    assert EmotionClassifier(bare).runtime == "float"
    with pytest.raises(ModelLoadError, match="no int8 copy"):
        EmotionClassifier(bare, ClassifierConfig(runtime="int8"))


def test_runtime_settings_are_checked():
    with pytest.raises(ValueError, match="runtime must be"):
        ClassifierConfig(runtime="fp16")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="int8_threads"):
        ClassifierConfig(int8_threads=0)


def test_a_changed_int8_file_is_never_run(tmp_path):
    """The record names the .tflite file's SHA-256: a copy changed after training.quantize made it (one byte here)
    is refused, so ``auto`` runs the float model and ``int8`` says why it cannot run."""
    model = _copy_model(tmp_path)
    tflite, record_path = quantized_paths(model)
    content = bytearray(tflite.read_bytes())
    content[len(content) // 2] ^= 0x01
    tflite.write_bytes(bytes(content))
    status = quantized_model_status(model)
    assert not status.usable
    assert f"{tflite.name} is not the file {record_path.name} records" in status.reason
    assert "re-run python -m training.quantize" in status.reason
    assert EmotionClassifier(model).runtime == "float"
    with pytest.raises(ModelLoadError, match=r"int8 runtime.*is not the file fer_model\.int8\.json records"):
        EmotionClassifier(model, ClassifierConfig(runtime="int8"))
    # the bytes actually loaded are checked too (the file could change between the check and the load)
    with pytest.raises(QuantizedModelError, match="is not the file its record names"):
        QuantizedModel(tflite, record=json.loads(record_path.read_text()))
