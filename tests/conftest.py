"""Shared fixtures: the shipped model loaded once per session, and the FER2013 fixture faces.

pylibsrtp (aiortc's SRTP, imported by the live page through streamlit-webrtc) segfaults if it is imported after
TensorFlow. Some test modules import Keras at collection time and AppTest runs the live page in this process, so
pylibsrtp is imported here first: this process stands in for the app, which does the same first thing in
``app.py`` (``fer_core.sessions.app_support.import_webrtc_crypto_first``; the inference library never imports it).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_core.labels import EMOTIONS

with contextlib.suppress(ImportError):
    import pylibsrtp  # noqa: F401  (before anything imports TensorFlow: see the module docstring)

# oneDNN's custom CPU kernels corrupt the heap ("malloc assertion failure", then abort) while the distillation
# fixture run trains on AVX512-BF16 CPUs; the tests run TensorFlow's own kernels (the app runs the int8 copy).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

FER_FIXTURES = Path(__file__).parent / "fixtures" / "fer2013_tiny"


def require_tool(name: str, found: bool, how_to_get: str) -> None:
    """Skip the calling test when the tool ``name`` (a program or package the suite needs) is not ``found``.

    Under ``CI=true`` it fails instead: CI installs every tool (``scripts/run-tests.sh``), so a missing one means
    the browser and privacy checks did not run, and a green run must not hide that. Missing *datasets* (the full
    FER2013 zip) are not tools: those tests skip with their own reason, in CI too.
    """
    if found:
        return
    message = f"{name} is missing: {how_to_get}"
    skip_or_fail_in_ci(message, f"{message} (CI=true: a missing test tool is a failure, not a skip)")


def skip_or_fail_in_ci(message: str, ci_message: str) -> None:
    """Skip the calling test with ``message``; under ``CI=true`` fail with ``ci_message`` instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(ci_message, pytrace=False)
    pytest.skip(message)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Refuse a ``browser`` test that runs beside other tests (pytest-xdist with more than one process).

    Browser tests measure frame rates and start times that tests running next to them would lower:
    ``scripts/run-tests.sh`` runs them one at a time after the rest. Under ``CI=true`` this is a failure.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if item.get_closest_marker("browser") is not None and workers > 1:
        message = f"a browser test on one of {workers} pytest-xdist processes: run it alone (scripts/run-tests.sh)"
        skip_or_fail_in_ci(message, message)


def process_running(pid: int) -> bool:
    """Whether process ``pid`` still runs (an ended one, reaped or a zombie, does not)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def fer_fixture_faces(split: str = "test") -> list[tuple[Path, int, np.ndarray]]:
    """``(path, label, 48x48 uint8 face)`` for every fixture image of ``split`` ("train" or "test"), sorted."""
    faces = []
    for path in sorted((FER_FIXTURES / split).glob("*/*.jpg")):
        face = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        assert face is not None, f"unreadable fixture {path}"
        faces.append((path, EMOTIONS.index(path.parent.name), face))
    return faces


@pytest.fixture(scope="session")
def recognizer():
    """The shipped model behind one EmotionRecognizer, loaded once for the whole test session."""
    from fer_core.recognition.recognizer import EmotionRecognizer

    return EmotionRecognizer()


def save_small_random_model(path: Path, seed: int = 0):
    """Save (and return) a small untrained Keras model of the FER shape, (48, 48, 1) -> 7 probabilities.

    Its dense layer sees positions, so it is not mirror-symmetric: a face and its mirror image get different
    probabilities.
    """
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((48, 48, 1)),
            keras.layers.Conv2D(4, 5, strides=4, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(7, activation="softmax"),
        ]
    )
    model.save(path)
    return model


def save_constant_model(path: Path, emotion: str = "disgust") -> None:
    """Save a Keras model that reads every face as ``emotion`` (nearly certain): one that only ever errs alike."""
    import keras

    model = keras.Sequential(
        [keras.Input((48, 48, 1)), keras.layers.Flatten(), keras.layers.Dense(7, activation="softmax")]
    )
    kernel, _ = model.layers[-1].get_weights()
    bias = np.zeros(7, np.float32)
    bias[EMOTIONS.index(emotion)] = 20
    model.layers[-1].set_weights([np.zeros_like(kernel), bias])
    model.save(path)


def write_photo_set(folder: Path) -> Path:
    """A labelled photo folder: a real photo (the astronaut, smiling), a photo without a face, and labels.csv."""
    from PIL import Image
    from skimage import data as skimage_data

    folder.mkdir()
    Image.fromarray(skimage_data.astronaut()).save(folder / "astronaut.jpg", quality=92)
    Image.fromarray(np.full((240, 320, 3), 128, np.uint8)).save(folder / "wall.png")
    (folder / "labels.csv").write_text("file,emotion\nastronaut.jpg,happy\nwall.png,sad\n")
    return folder


def fixture_train_config(directory: Path, **overrides):
    """A ``TrainConfig`` for a tiny float32 run on the fixture set under ``directory`` (run/ and cache/)."""
    from training.train import TrainConfig

    settings = {
        "data": str(FER_FIXTURES),
        "run_dir": str(directory / "run"),
        "widths": (8, 8, 16, 16),
        "batch_size": 16,
        "mixed_precision": False,
        "cache_dir": str(directory / "cache"),
    }
    return TrainConfig(**{**settings, **overrides})


def evaluate_fixture_run(model_path: Path, run_dir: Path, out_dir: Path) -> dict:
    """``training.evaluate`` on the fixture set for a test run; the card and figures go under ``out_dir``."""
    from training.evaluate import evaluate

    return evaluate(
        model_path,
        FER_FIXTURES,
        run_dir=run_dir,
        card_path=out_dir / "model_card.json",
        reports_dir=out_dir / "reports",
        cache_dir=out_dir / "cache",
    )


def run_coroutine(coroutine):
    """``asyncio.run(coroutine)`` in a thread of its own: Playwright's sync API (the browser tests, earlier in the
    same session) leaves an event loop running in the main thread, where ``asyncio.run`` refuses to start."""
    import asyncio
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
