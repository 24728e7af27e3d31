"""A missing or corrupt model file: one clear ModelLoadError from the library, the same message and a non-zero
exit from the CLI, and one error (no traceback) on every page of the app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from reliability_support import encode, model_path_for_tests

from fer_core.recognition.classifier import EmotionClassifier, ModelLoadError
from fer_core.recognition.recognizer import EmotionRecognizer

REPO = Path(__file__).resolve().parent.parent
PAGES = ["app.py", *(f"app_pages/{name}.py" for name in ("0_Home", "1_Upload_photo", "2_Live_webcam", "3_Model"))]


@pytest.fixture(scope="module")
def good_model(tmp_path_factory) -> Path:
    return model_path_for_tests(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory, good_model) -> dict[str, Path]:
    """Broken model files, each with a word its error message must contain."""
    folder = tmp_path_factory.mktemp("bad-models")
    files = {
        "random-bytes": np.random.default_rng(0).bytes(200_000),
        "empty": b"",
        "truncated": good_model.read_bytes()[: good_model.stat().st_size // 2],
        "a-jpeg": encode(np.zeros((8, 8, 3), np.uint8), "JPEG"),
    }
    paths = {}
    for name, data in files.items():
        path = folder / f"{name}.keras"
        path.write_bytes(data)
        paths[name] = path
    (folder / "folder.keras").mkdir()
    paths["folder"] = folder / "folder.keras"
    return paths


def test_missing_model_says_where_and_what_to_do(tmp_path):
    missing = tmp_path / "nowhere" / "fer_model.keras"
    with pytest.raises(ModelLoadError) as error:
        EmotionClassifier(missing)
    message = str(error.value)
    assert str(missing) in message and "not found" in message
    assert "git checkout -- models/" in message and "FER_MODEL_PATH" in message
    with pytest.raises(ModelLoadError):
        EmotionRecognizer(missing)


@pytest.mark.parametrize("kind", ["random-bytes", "empty", "truncated", "a-jpeg", "folder"])
def test_corrupt_model_is_one_clear_error(bad_models, kind):
    path = bad_models[kind]
    with pytest.raises(ModelLoadError) as error:
        EmotionClassifier(path)
    message = str(error.value)
    assert str(path) in message
    assert ("could not be loaded" in message and "corrupt" in message) or "not found" in message
    assert len(message) < 1500, f"a {len(message)}-character message is not clear"


def test_wrong_architecture_is_refused(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Flatten(), keras.layers.Dense(5)])
    path = tmp_path / "other.keras"
    model.save(path)
    with pytest.raises(ModelLoadError, match=r"expected \(None, 48, 48, 1\)"):
        EmotionClassifier(path)


def test_a_model_file_cannot_run_code(tmp_path, monkeypatch):
    """A .keras file with a Lambda layer (pickled Python bytecode) is refused, not executed (Keras safe mode).

    The Lambda's code creates a marker file whenever it runs. Controls: it runs when the model is built, and it
    runs again when the same file is loaded with ``safe_mode=False``; so the marker's absence after the
    classifier refused the file means the code did not run, not that it could not have.
    """
    import keras

    monkeypatch.chdir(tmp_path)  # the code writes its marker into the working directory
    marker = tmp_path / "code-ran"
    inputs = keras.Input((48, 48, 1))
    # Stands for arbitrary code in a downloaded file. A lambda, because Keras pickles a lambda's bytecode into the
    # file (a named function is saved by name only); no imports, defaults or closure (Keras cannot reload those),
    # so the code runs wherever it is deserialised.
    hidden = keras.layers.Lambda(lambda x: [open("code-ran", "w").close(), x * 1.0][1])(inputs)
    outputs = keras.layers.Dense(7, activation="softmax")(keras.layers.GlobalAveragePooling2D()(hidden))
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    assert marker.exists(), "control: building the model runs the Lambda's code"
    marker.unlink()

    with pytest.raises(ModelLoadError, match="could not be loaded"):
        EmotionClassifier(path)
    assert not marker.exists(), "loading the model file ran the code inside it"

    keras.models.load_model(path, compile=False, safe_mode=False)  # control: the same file, without safe mode
    assert marker.exists(), "control: the Lambda's code runs when its file is loaded unsafely"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "fer_core", *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_exits_non_zero_with_the_same_message(bad_models, tmp_path):
    photo = tmp_path / "x.jpg"
    photo.write_bytes(encode(np.full((64, 64, 3), 128, np.uint8), "JPEG"))
    for kind in ("random-bytes", "truncated"):
        path = bad_models[kind]
        with pytest.raises(ModelLoadError) as error:
            EmotionClassifier(path)
        result = _cli("predict", str(photo), "--model", str(path))
        assert result.returncode != 0, result.stdout
        assert str(error.value) in result.stderr, result.stderr[-2000:]
        assert "Traceback" not in result.stderr, result.stderr[-2000:]
    missing = tmp_path / "missing.keras"
    result = _cli("predict", str(photo), "--model", str(missing))
    assert result.returncode != 0 and "not found" in result.stderr and str(missing) in result.stderr


@pytest.mark.parametrize("kind", ["random-bytes", "truncated"])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_one_clear_error_for_a_corrupt_model(bad_models, monkeypatch, page, kind):
    """(tests/test_app_pages.py covers a missing model on every page; this covers corrupt ones.)"""
    from streamlit.testing.v1 import AppTest

    path = bad_models[kind]
    monkeypatch.setenv("FER_MODEL_PATH", str(path))
    monkeypatch.chdir(REPO)
    app = AppTest.from_file(str(REPO / page), default_timeout=120)
    app.run()
    assert not app.exception, [e.message for e in app.exception]
    errors = [e.value for e in app.error]
    assert len(errors) == 1, errors
    assert str(path) in errors[0] and "could not be loaded" in errors[0]
    assert not app.file_uploader and not app.metric, "the page stops after the error"
