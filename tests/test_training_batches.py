"""training.batches: the PyDataset batch source, and training on the JAX backend with TensorFlow unimportable
(as on a GPU machine that has JAX but no TensorFlow); the saved model then loads and predicts the same here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import require_tool

from training.batches import ArrayBatches, resolve_data_source, training_batches
from training.data_pack import write_pack

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


NO_TENSORFLOW = """
import importlib.abc, sys


ABSENT = {"tensorflow", "ai_edge_litert", "tflite_runtime", "av", "aiortc", "streamlit", "streamlit_webrtc"}


class NoTensorFlow(importlib.abc.MetaPathFinder):  # as on the GPU machine: no TensorFlow, none of the app's packages
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ABSENT:
            raise ModuleNotFoundError(f"No module named {name!r}")


sys.meta_path.insert(0, NoTensorFlow())
"""


def device_train(tmp_path: Path, pack: Path, *options: str, budget: str = "300") -> subprocess.CompletedProcess:
    """``scripts/device-train.sh tiny`` as on the GPU machine: JAX (here on the CPU), TensorFlow unimportable."""
    (tmp_path / "site").mkdir(exist_ok=True)
    (tmp_path / "site" / "sitecustomize.py").write_text(NO_TENSORFLOW)
    environment = dict(
        os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", PYTHONPATH=str(tmp_path / "site"), PYTHON=sys.executable,
        OUT=str(tmp_path / "out"), DATA=str(pack), RUNS=str(tmp_path / "runs"), WHEELS=str(tmp_path / "no-wheels"),
    )  # fmt: skip
    command = ["bash", "scripts/device-train.sh", "tiny", budget, "--cache-dir", str(tmp_path / "cache"), *options]
    return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_device_script_trains_on_jax_without_tensorflow_from_a_pack_and_the_model_loads_here(tmp_path):
    try:
        import jax  # noqa: F401
    except ImportError:
        require_tool("jax", False, "pip install -r requirements-dev.txt (jax[cpu])")
    pack = tmp_path / "pack.npz"
    write_pack(FIXTURES, pack)
    small = ["--widths", "8,8,16,16", "--batch-size", "16", "--warmup-epochs", "1", "--no-mixed-precision"]
    augment = ["--augment", "gamma=0.3,noise=0.03,blur=0.3,mixup=0.2"]
    done = device_train(tmp_path, pack, "--epochs", "1", "--swa-start", "1", "--class-weight", "sqrt", *small, *augment)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    back = tmp_path / "out" / "tiny"
    assert sorted(p.name for p in back.iterdir()) == ["fer_model.keras", "records.tar"], "the model and its records"
    with tarfile.open(back / "records.tar") as archive:
        archive.extractall(tmp_path / "records", filter="data")
    record = json.loads((tmp_path / "records" / "config.json").read_text())
    state = json.loads((tmp_path / "records" / "state.json").read_text())
    assert state["swa_epochs"] == 1 and 0 <= state["swa_public_accuracy"] <= 1, "weight averaging on JAX too"
    assert record["data_source"] == "auto" and record["trained_on"].startswith("jax cpu")
    output = (tmp_path / "records" / "train.log").read_text()
    assert "No module named" not in output, "nothing missing on the GPU machine is needed"
    assert record["augment"] == {"gamma": 0.3, "noise": 0.03, "blur": 0.3, "mixup": 0.2}, "photometric and MixUp"
    import keras

    from fer_core.recognition.preprocessing import prepare_faces
    from training.data import load_fer2013

    model = keras.saving.load_model(back / "fer_model.keras")  # here: the TensorFlow backend
    public = load_fer2013(pack, cache_dir=None)["PublicTest"]
    probabilities = keras.ops.convert_to_numpy(model(prepare_faces(list(public.images)), training=False))
    targets = np.eye(7, dtype="float32")[public.labels]
    smoothed = keras.losses.CategoricalCrossentropy(label_smoothing=record["label_smoothing"])
    loss = float(smoothed(targets, probabilities))
    accuracy = float(np.mean(probabilities.argmax(1) == public.labels))
    if state["selected"] == "averaged.keras":  # the weight average scored at least the best epoch on PublicTest
        assert accuracy == pytest.approx(state["swa_public_accuracy"]), "the same function on both backends"
    else:
        log = (tmp_path / "records" / "log.csv").read_text().strip().splitlines()
        logged = dict(zip(*[line.split(",") for line in log], strict=True))
        assert loss == pytest.approx(float(logged["val_loss"]), rel=1e-4), "the same function on both backends"
        assert accuracy == pytest.approx(float(logged["val_accuracy"]))


JAX_COMPILED = """
import json
import numpy as np
from training.augment import AugmentConfig, build_augmenter, build_batch_mixer
from training.batches import CompiledLayer, compiled_for_accelerator

config = AugmentConfig(gamma=0.3, noise=0.03, blur=0.3, mixup=0.2)
images = np.random.default_rng(0).random((16, 48, 48, 1), dtype="float32")
targets = np.eye(7, dtype="float32")[np.arange(16) % 7]
eager, compiled = build_augmenter(config, seed=5), CompiledLayer(build_augmenter(config, seed=5))
pairs = [(np.asarray(eager(images, training=True)), np.asarray(compiled(images, training=True))) for _ in range(3)]
mix, mix_compiled = build_batch_mixer(config, seed=5).layer, CompiledLayer(build_batch_mixer(config, seed=5).layer)
batch = {"images": images, "labels": targets}
mixed = [(mix(batch, training=True), mix_compiled(batch, training=True)) for _ in range(3)]
print(json.dumps({
    "augment_gap": max(float(np.abs(a - b).max()) for a, b in pairs),
    "calls_differ": float(np.abs(pairs[1][1] - pairs[2][1]).max()),
    "mix_gap": max(float(np.abs(np.asarray(a[k]) - np.asarray(b[k])).max()) for a, b in mixed for k in batch),
    "inference_unchanged": bool(np.array_equal(np.asarray(compiled(images, training=False)), images)),
    "cpu_left_eager": compiled_for_accelerator(eager) is eager,
}))
"""


@pytest.mark.slow
def test_compiled_augmentation_on_jax_draws_what_the_eager_layers_draw():
    try:
        import jax  # noqa: F401
    except ImportError:
        require_tool("jax", False, "pip install -r requirements-dev.txt (jax[cpu])")
    environment = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", JAX_COMPILED], cwd=REPO, env=environment, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["augment_gap"] < 1e-4 and report["mix_gap"] < 1e-4, "the same random draws, compiled"
    assert report["calls_differ"] > 0.1, "each call draws anew"
    assert report["inference_unchanged"] and report["cpu_left_eager"]
