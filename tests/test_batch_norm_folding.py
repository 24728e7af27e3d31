"""Batch norms folded into the convolutions before them: same outputs as the saved model, fewer layers run."""

from __future__ import annotations

import keras
import numpy as np
from conftest import fer_fixture_faces

from fer_core.recognition.batch_norm_folding import fold_batch_norm, foldable_pairs, folded_conv_weights
from fer_core.recognition.classifier import DEFAULT_MODEL_PATH, ClassifierConfig, EmotionClassifier
from fer_core.recognition.preprocessing import prepare_faces


def _fixture_images() -> np.ndarray:
    return prepare_faces([face for _, _, face in fer_fixture_faces("test")])


def _randomise_batch_norms(model: keras.Model, seed: int = 0) -> None:
    """Statistics and affine weights far from the initial identity, so that folding has something to do."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            for variable in layer.weights:
                positive = variable.name in ("gamma", "moving_variance")
                shape = tuple(variable.shape)
                value = rng.uniform(0.5, 2.0, shape) if positive else rng.normal(0, 0.5, shape)
                variable.assign(value.astype("float32"))


def test_shipped_model_folds_every_batch_norm_and_keeps_its_outputs():
    model = keras.models.load_model(DEFAULT_MODEL_PATH, compile=False)
    batch_norms = [layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert sorted(foldable_pairs(model)) == sorted(batch_norms) and batch_norms
    folded, count = fold_batch_norm(model)
    assert count == len(batch_norms)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    images = _fixture_images()
    expected = model.predict(images, verbose=0)
    actual = folded.predict(images, verbose=0)
    np.testing.assert_allclose(actual, expected, atol=2e-5)
    np.testing.assert_array_equal(actual.argmax(axis=1), expected.argmax(axis=1))
    # the original model is left as it was
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == len(batch_norms)


def test_only_batch_norms_that_solely_read_a_plain_conv_are_folded():
    inputs = keras.Input((12, 12, 2))
    shared = keras.layers.Conv2D(4, 3, padding="same", name="shared_conv")(inputs)
    first = keras.layers.BatchNormalization(name="bn_after_shared")(shared)  # the conv output is read twice
    second = keras.layers.ReLU(name="also_reads_shared")(shared)
    activated = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="relu_conv")(inputs)
    after_activation = keras.layers.BatchNormalization(name="bn_after_relu_conv")(activated)
    plain = keras.layers.Conv2D(4, 3, padding="same", name="plain_conv")(inputs)
    foldable = keras.layers.BatchNormalization(name="bn_after_plain")(plain)
    added = keras.layers.Add(name="add")([first, second, after_activation, foldable])
    after_add = keras.layers.BatchNormalization(name="bn_after_add")(added)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(after_add))
    _randomise_batch_norms(model)
    assert foldable_pairs(model) == {"bn_after_plain": "plain_conv"}
    folded, count = fold_batch_norm(model)
    assert count == 1
    images = np.random.default_rng(1).normal(size=(5, 12, 12, 2)).astype("float32")
    np.testing.assert_allclose(folded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)


def test_folded_conv_weights_follow_the_batch_norm_formula():
    inputs = keras.Input((6, 6, 3))
    conv = keras.layers.Conv2D(5, 3, use_bias=True, name="conv")
    batch_norm = keras.layers.BatchNormalization(epsilon=0.01, center=False, name="bn")
    model = keras.Model(inputs, batch_norm(conv(inputs)))
    _randomise_batch_norms(model, seed=2)
    kernel, bias = conv.get_weights()
    gamma, mean, variance = (
        np.asarray(v) for v in (batch_norm.gamma, batch_norm.moving_mean, batch_norm.moving_variance)
    )
    scale = gamma / np.sqrt(variance + 0.01)
    folded_kernel, folded_bias = folded_conv_weights([kernel, bias], batch_norm)
    np.testing.assert_allclose(folded_kernel, kernel * scale, rtol=1e-6)
    np.testing.assert_allclose(folded_bias, (bias - mean) * scale, rtol=1e-5, atol=1e-6)
    images = np.random.default_rng(3).normal(size=(4, 6, 6, 3)).astype("float32")
    folded, count = fold_batch_norm(model)
    assert count == 1
    expected = model.predict(images, verbose=0)
    assert np.isfinite(expected).all() and np.abs(expected - conv(images).numpy()).max() > 0.1
    np.testing.assert_allclose(folded.predict(images, verbose=0), expected, atol=1e-5)


def test_float_classifier_folds_by_default_and_gives_the_saved_models_probabilities():
    images = _fixture_images()
    folded = EmotionClassifier(config=ClassifierConfig(runtime="float"))
    plain = EmotionClassifier(config=ClassifierConfig(runtime="float", fold_batch_norm=False))
    assert folded.folded_batch_norms > 0 and plain.folded_batch_norms == 0
    np.testing.assert_allclose(folded.predict_batch(images), plain.predict_batch(images), atol=2e-5)
    labels = np.array([label for _, label, _ in fer_fixture_faces("test")])
    assert np.array_equal(
        folded.predict_batch(images).argmax(axis=1) == labels, plain.predict_batch(images).argmax(1) == labels
    )
