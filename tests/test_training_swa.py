"""Stochastic weight averaging: the running mean of the epochs' weights and the batch-norm recomputation."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import evaluate_fixture_run, fixture_train_config

from training.swa import WeightAverage, batch_norm_layers, recompute_batch_norm
from training.train import AVERAGED_MODEL, TrainConfig, train

FIXTURES = Path(__file__).parent / "fixtures" / "fer2013_tiny"


def _small_model() -> keras.Model:
    inputs = keras.Input((4, 4, 2))
    x = keras.layers.BatchNormalization(momentum=0.9, name="bn_in")(inputs)
    x = keras.layers.Conv2D(3, 1, name="conv")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name="bn_out")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


def _epoch_weights(model: keras.Model, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=w.shape).astype(w.dtype) for w in model.get_weights()]


def test_weight_average_is_the_mean_of_the_epochs_from_the_start_epoch_on(tmp_path):
    model = _small_model()
    averager = WeightAverage(2, tmp_path / "running.npz")
    averager.set_model(model)
    epochs = [_epoch_weights(model, seed) for seed in range(4)]
    for epoch, weights in enumerate(epochs):
        model.set_weights(weights)
        averager.on_epoch_end(epoch)
    assert averager.count == 3  # epochs 2, 3 and 4 (1-based)
    averaged = averager.model_with_average().get_weights()
    for index, value in enumerate(averaged):
        expected = np.mean([weights[index] for weights in epochs[1:]], axis=0)
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6)
    saved = WeightAverage.resume(2, tmp_path / "running.npz")
    assert saved.count == 3
    for value, expected in zip(saved.average, averaged, strict=True):
        np.testing.assert_allclose(value, expected, rtol=1e-6)
    # the model being trained keeps its own weights
    np.testing.assert_array_equal(model.get_weights()[0], epochs[-1][0])


def test_resumed_average_carries_on(tmp_path):
    model = _small_model()
    epochs = [_epoch_weights(model, seed) for seed in range(3)]
    first = WeightAverage(1, tmp_path / "running.npz")
    first.set_model(model)
    for epoch, weights in enumerate(epochs[:2]):
        model.set_weights(weights)
        first.on_epoch_end(epoch)
    resumed = WeightAverage.resume(1, tmp_path / "running.npz")
    assert resumed.count == 2
    resumed.set_model(model)
    model.set_weights(epochs[2])
    resumed.on_epoch_end(2)
    expected = np.mean([weights[0] for weights in epochs], axis=0)
    np.testing.assert_allclose(resumed.model_with_average().get_weights()[0], expected, rtol=1e-5)


def test_weight_average_refuses_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="1 or later"):
        WeightAverage(0, tmp_path / "x.npz")
    with pytest.raises(ValueError, match="saved weights"):
        WeightAverage(1, tmp_path / "x.npz", count=3)
    with pytest.raises(ValueError, match="missing"):
        WeightAverage.resume(1, tmp_path / "x.npz")
    averager = WeightAverage(5, tmp_path / "x.npz")
    averager.set_model(_small_model())
    averager.on_epoch_end(0)  # epoch 1: before the start, nothing averaged
    with pytest.raises(ValueError, match="no epoch"):
        averager.model_with_average()


def test_recompute_batch_norm_sets_the_statistics_of_the_data_and_keeps_momentum():
    model = _small_model()
    rng = np.random.default_rng(0)
    images = (rng.normal(size=(70, 4, 4, 2)) * [2.0, 0.5] + [3.0, -1.0]).astype("float32")
    batches = recompute_batch_norm(model, images, batch_size=16)
    assert batches == 5
    first = model.get_layer("bn_in")
    # the running mean of the batches' means: equal-size batches except the last
    batch_means = [images[i : i + 16].mean(axis=(0, 1, 2)) for i in range(0, 70, 16)]
    np.testing.assert_allclose(first.moving_mean.numpy(), np.mean(batch_means, axis=0), rtol=1e-4)
    np.testing.assert_allclose(first.moving_mean.numpy(), [3.0, -1.0], atol=0.3)
    np.testing.assert_allclose(np.sqrt(first.moving_variance.numpy()), [2.0, 0.5], rtol=0.15)
    assert [layer.momentum for layer in batch_norm_layers(model)] == [0.9, 0.9]
    with pytest.raises(ValueError, match="at least one image"):
        recompute_batch_norm(model, images[:0])


def test_training_with_weight_averaging_exports_the_better_of_average_and_best(tmp_path):
    config = fixture_train_config(tmp_path, epochs=3, schedule="constant", swa_start=2)
    summary = train(config, export=str(tmp_path / "exported.keras"))
    run_dir = Path(config.run_dir)
    state = json.loads((run_dir / "state.json").read_text())
    assert state["swa_epochs"] == summary["swa_epochs"] == 2
    # the recorded accuracy (it decides which model is exported) is the saved average's real PublicTest accuracy
    from fer_core.recognition.preprocessing import prepare_faces
    from training.data import load_fer2013

    public = load_fer2013(FIXTURES, cache_dir=tmp_path / "cache")["PublicTest"]
    averaged = keras.models.load_model(run_dir / AVERAGED_MODEL, compile=False)
    predicted = averaged.predict(prepare_faces(public.images), verbose=0).argmax(axis=1)
    assert state["swa_public_accuracy"] == pytest.approx(float(np.mean(predicted == public.labels)), abs=1e-6)
    expected = AVERAGED_MODEL if state["swa_public_accuracy"] >= state["best"] else "best.keras"
    assert Path(summary["exported"]).name == expected
    exported = keras.models.load_model(tmp_path / "exported.keras", compile=False).get_weights()
    chosen = keras.models.load_model(run_dir / expected, compile=False).get_weights()
    for value, reference in zip(exported, chosen, strict=True):
        np.testing.assert_allclose(value, reference, rtol=1e-6)
    card = evaluate_fixture_run(tmp_path / "exported.keras", run_dir, tmp_path)
    assert "weight average" in card["protocol"]
    assert card["training"]["run_state"]["swa_epochs"] == 2
    assert (tmp_path / card["reports"]["training_curves"]).read_bytes()[:4] == b"\x89PNG"
    resumed = train(TrainConfig(**{**config.__dict__, "epochs": 4}), resume=True)
    assert resumed["swa_epochs"] == 3


def test_unknown_schedule_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown schedule"):
        train(TrainConfig(data=str(FIXTURES), run_dir=str(tmp_path / "run"), schedule="linear"))
