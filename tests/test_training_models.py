"""training.models and training.augment: shapes, serialisation, and the transfer option on a few batches."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from training.augment import AugmentConfig, RandomErasing, build_augmenter
from training.models import CNNConfig, build_residual_cnn, build_transfer_model


def test_residual_cnn_outputs_probabilities_and_round_trips(tmp_path):
    model = build_residual_cnn(CNNConfig(widths=(8, 16, 16, 32)))
    x = np.random.default_rng(0).random((3, 48, 48, 1), dtype=np.float32)
    probabilities = model(x).numpy()
    assert probabilities.shape == (3, 7)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "m.keras")(x).numpy(), probabilities, rtol=1e-5)


def test_bad_cnn_config():
    with pytest.raises(ValueError, match="widths"):
        build_residual_cnn(CNNConfig(widths=(8, 16), blocks_per_stage=(1, 1, 1)))


@pytest.mark.parametrize("backbone", ["vgg16", "resnet50v2"])
def test_transfer_model_trains_a_few_batches_with_random_weights(backbone, tmp_path):
    model = build_transfer_model(backbone, weights_path=None, input_size=32)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((16, 48, 48, 1), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 7, 16), 7)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model(x[:2]).shape == (2, 7)


def test_transfer_model_reads_local_weights_file(tmp_path):
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "vgg16_notop.weights.h5"
    base.save_weights(path)
    model = build_transfer_model("vgg16", weights_path=path, input_size=32)
    loaded = model.get_layer("vgg16")
    np.testing.assert_array_equal(loaded.get_weights()[0], base.get_weights()[0])
    with pytest.raises(ValueError, match="not found"):
        build_transfer_model("vgg16", weights_path=tmp_path / "missing.h5")
    with pytest.raises(ValueError, match="unknown backbone"):
        build_transfer_model("alexnet")


def test_augmenter_keeps_shape_and_range_and_changes_images():
    augmenter = build_augmenter(AugmentConfig(), seed=1)
    x = np.random.default_rng(0).random((8, 48, 48, 1), dtype=np.float32)
    y = np.asarray(augmenter(x, training=True))
    assert y.shape == x.shape
    assert y.min() >= -1e-5 and y.max() <= 1 + 1e-5
    assert not np.allclose(x, y)
    np.testing.assert_array_equal(np.asarray(augmenter(x, training=False)), x)


def test_random_erasing_erases_a_rectangle():
    layer = RandomErasing(probability=1.0, seed=3)
    x = np.zeros((4, 48, 48, 1), np.float32)
    y = np.asarray(layer(x, training=True))
    for image in y[..., 0]:
        rows, cols = np.nonzero(image)
        assert rows.size > 0
        # erased pixels form one axis-aligned rectangle of 10-40% of each side
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert 4 <= height <= 20 and 4 <= width <= 20
    np.testing.assert_array_equal(np.asarray(RandomErasing(probability=0.0)(x, training=True)), x)
