"""training.batches: the PyDataset batch source, and training on the JAX backend with TensorFlow unimportable
(as on a GPU machine that has JAX but no TensorFlow); the saved model then loads and predicts the same here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import require_tool

from training.batches import ArrayBatches, resolve_data_source, training_batches

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "fer2013_tiny"


def arrays(n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    images = np.arange(n, dtype="float32")[:, None, None, None] * np.ones((1, 48, 48, 1), "float32")
    return images, np.eye(7, dtype="float32")[np.arange(n) % 7]


def test_every_image_once_per_epoch_reshuffled_from_the_seed():
    images, targets = arrays()
    batches = ArrayBatches(images, targets, 4, shuffle_seed=3)
    assert len(batches) == 3 and [len(batches[i][0]) for i in range(3)] == [4, 4, 2]

    def epoch(source: ArrayBatches) -> list[int]:
        return [int(v) for i in range(len(source)) for v in source[i][0][:, 0, 0, 0]]

    first = epoch(batches)
    assert sorted(first) == list(range(10)) and first != list(range(10))
    batch_images, batch_targets = batches[0]
    assert all(np.argmax(t) == int(v) % 7 for v, t in zip(batch_images[:, 0, 0, 0], batch_targets, strict=True))
    batches.on_epoch_end()
    second = epoch(batches)
    assert sorted(second) == sorted(first) and second != first, "a new order each epoch"
    again = ArrayBatches(images, targets, 4, shuffle_seed=3)
    assert epoch(again) == first, "the same seed gives the same stream"
    assert epoch(ArrayBatches(images, targets, 4)) == list(range(10)), "no seed: in order (PublicTest)"


def test_the_augmenter_transforms_each_training_batch():
    images, targets = arrays()
    batches = ArrayBatches(images, targets, 5, augmenter=lambda x, training: x * 0 + 0.5, shuffle_seed=1)
    assert np.all(batches[1][0] == 0.5) and batches[1][0].dtype == np.float32
    with pytest.raises(IndexError):
        batches[2]


def test_bad_settings_are_value_errors():
    images, targets = arrays()
    with pytest.raises(ValueError, match="10 images but 9 targets"):
        ArrayBatches(images, targets[:9], 4)
    with pytest.raises(ValueError, match="batch_size"):
        ArrayBatches(images, targets, 0)
    with pytest.raises(ValueError, match="needs the TensorFlow backend"):
        resolve_data_source("tf.data", backend="jax")
    with pytest.raises(ValueError, match=r"one of auto, tf\.data, pydataset"):
        resolve_data_source("torch")
    assert resolve_data_source("auto", backend="jax") == "pydataset"
    assert resolve_data_source("auto", backend="tensorflow") == "tf.data"


def test_both_sources_give_the_same_public_batches():
    images, targets = arrays(300)
    _, public_ds = training_batches(arrays(), (images, targets), batch_size=4, augmenter=None, seed=0, source="tf.data")
    _, public_py = training_batches(
        arrays(), (images, targets), batch_size=4, augmenter=None, seed=0, source="pydataset"
    )
    from_tf = np.concatenate([x.numpy() for x, _ in public_ds])
    from_py = np.concatenate([public_py[i][0] for i in range(len(public_py))])
    assert np.array_equal(from_tf, from_py) and len(public_py) == 2


JAX_RUN = """
import importlib.abc, json, sys


class NoTensorFlow(importlib.abc.MetaPathFinder):  # as on the GPU machine: TensorFlow is not installed
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError(f"No module named {name!r}")


sys.meta_path.insert(0, NoTensorFlow())
import keras, numpy as np
from training.train import main
from training.data import load_fer2013
from fer_core.recognition.preprocessing import prepare_faces
out = sys.argv[1]
code = main(["--data", sys.argv[2], "--run-dir", out + "/run", "--cache-dir", out + "/cache", "--widths", "8,8,16,16",
             "--epochs", "2", "--batch-size", "16", "--warmup-epochs", "1", "--no-mixed-precision",
             "--augment", "gamma=0.3,noise=0.03,blur=0.3,mixup=0.2", "--export", out + "/model.keras"])
faces = prepare_faces(list(load_fer2013(sys.argv[2], cache_dir=out + "/cache")["PublicTest"].images[:8]))
model = keras.saving.load_model(out + "/model.keras")
np.save(out + "/faces.npy", faces)
np.save(out + "/jax.npy", keras.ops.convert_to_numpy(model(faces, training=False)))
print(json.dumps({"code": code, "backend": keras.backend.backend(), "tf": "tensorflow" in sys.modules}))
"""


@pytest.mark.slow
def test_training_runs_on_the_jax_backend_without_tensorflow_and_the_model_loads_here(tmp_path):
    try:
        import jax  # noqa: F401
    except ImportError:
        require_tool("jax", False, "pip install -r requirements-dev.txt (jax[cpu])")
    environment = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", JAX_RUN, str(tmp_path), str(FIXTURES)],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "backend": "jax", "tf": False}
    import keras

    model = keras.saving.load_model(tmp_path / "model.keras")  # here: the TensorFlow backend
    here = keras.ops.convert_to_numpy(model(np.load(tmp_path / "faces.npy"), training=False))
    assert np.allclose(here, np.load(tmp_path / "jax.npy"), atol=1e-4), "the same function on both backends"
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["data_source"] == "auto"
    assert record["augment"] == {"gamma": 0.3, "noise": 0.03, "blur": 0.3, "mixup": 0.2}, "photometric and MixUp"
