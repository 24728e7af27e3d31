"""training.augment's photometric layers (gamma, blur, noise): what each does to real FER2013 faces, and that they
run inside tf.data as training uses them."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from conftest import fer_fixture_faces

from training.augment import (
    AugmentConfig,
    RandomBlur,
    RandomGamma,
    RandomNoise,
    build_augmenter,
    build_batch_mixer,
)
from training.batches import training_batches


def fixture_faces(count: int = 8) -> np.ndarray:
    """Real 48x48 FER2013 faces from the tiny fixture, as the [0, 1] float batch training feeds the augmenter."""
    faces = [face for _, _, face in fer_fixture_faces("test")[::7][:count]]
    return (np.stack(faces).astype(np.float32) / 255.0)[..., None]


def test_gamma_raises_each_face_to_one_power_within_the_strength():
    faces = fixture_faces()
    out = np.asarray(RandomGamma(0.3, seed=1)(faces, training=True))
    exponents = []
    for face, result in zip(faces, out, strict=True):
        inside = (face > 0.05) & (face < 0.95)
        power = np.log(result[inside]) / np.log(face[inside])
        assert np.ptp(power) < 1e-3, "one exponent per image"
        exponents.append(float(power.mean()))
    assert all(np.exp(-0.3) - 1e-3 <= e <= np.exp(0.3) + 1e-3 for e in exponents), exponents
    assert np.ptp(exponents) > 0.05, "the exponent differs between images"
    np.testing.assert_array_equal(np.asarray(RandomGamma(0.3)(faces, training=False)), faces)


def test_blur_is_the_3x3_gaussian_and_keeps_the_brightness():
    faces = fixture_faces(4)
    out = np.asarray(RandomBlur(1.0, seed=2)(faces, training=True))
    kernel = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    window = faces[0, 10:13, 20:23, 0]
    assert out[0, 11, 21, 0] == pytest.approx(float((window * kernel).sum()), abs=1e-5)
    assert np.abs(out.mean(axis=(1, 2, 3)) - faces.mean(axis=(1, 2, 3))).max() < 0.01
    assert np.abs(np.diff(out, axis=2)).mean() < np.abs(np.diff(faces, axis=2)).mean(), "edges soften"
    np.testing.assert_array_equal(np.asarray(RandomBlur(0.0)(faces, training=True)), faces)


def test_noise_is_zero_mean_bounded_by_sigma_and_clipped():
    faces = fixture_faces()
    out = np.asarray(RandomNoise(0.05, seed=3)(faces, training=True))
    assert out.min() >= 0.0 and out.max() <= 1.0
    inside = (faces > 0.2) & (faces < 0.8)  # away from the clip
    spreads = [float((o - f)[m].std()) for o, f, m in zip(out, faces, inside, strict=True)]
    assert max(spreads) <= 0.05 * 1.1 and np.ptp(spreads) > 0.005, spreads
    assert abs(float((out - faces)[inside].mean())) < 0.005


def test_photometric_layers_join_the_augmenter_and_run_in_tf_data():
    config = AugmentConfig(
        flip=False, shift=0, rotation_degrees=0, zoom=0, contrast=0, erasing=0, gamma=0.3, noise=0.03, blur=0.5
    )
    augmenter = build_augmenter(config, seed=4)
    assert [type(layer) for layer in augmenter.layers] == [RandomGamma, RandomBlur, RandomNoise]
    faces = fixture_faces()
    dataset = tf.data.Dataset.from_tensor_slices(faces).batch(4).map(lambda x: augmenter(x, training=True))
    out = np.concatenate([batch.numpy() for batch in dataset])
    assert out.shape == faces.shape and not np.allclose(out, faces)
    assert not any(isinstance(layer, RandomGamma | RandomBlur | RandomNoise) for layer in build_augmenter().layers)


@pytest.mark.parametrize("wrong", [{"blur": 1.5}, {"gamma": -0.1}, {"erasing": -0.2}, {"mixup": -0.2}])
def test_a_strength_out_of_range_is_refused(wrong):
    with pytest.raises(ValueError, match=next(iter(wrong))):
        AugmentConfig(**wrong)


def one_hot_fixture() -> tuple[np.ndarray, np.ndarray]:
    items = fer_fixture_faces("test")[::7][:8]
    faces = (np.stack([face for _, _, face in items]).astype(np.float32) / 255.0)[..., None]
    targets = np.eye(7, dtype=np.float32)[[label for _, label, _ in items]]
    return faces, targets


def mixed_fixture(config: AugmentConfig, seed: int):
    """The fixture batch, its one-hot targets, and both after the batch mixer (whose targets still sum to 1)."""
    faces, targets = one_hot_fixture()
    images, mixed = (np.asarray(t) for t in build_batch_mixer(config, seed=seed)(faces, targets))
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, atol=1e-5)
    return faces, targets, images, mixed


def test_mixup_blends_two_faces_and_their_targets_by_the_same_weight():
    faces, targets, images, mixed = mixed_fixture(AugmentConfig(mixup=0.4), seed=5)
    blended = 0
    for index, (image, row) in enumerate(zip(images, mixed, strict=True)):
        weight = float(row @ targets[index])  # the share of this face's own class (1.0 when both share a class)
        residuals = [np.abs(image - (weight * faces[index] + (1 - weight) * other)).max() for other in faces]
        if weight < 0.999:
            assert min(residuals) < 1e-3, "the image is not the targets' blend of two faces"
            blended += 1
    assert blended >= 4


def test_cutmix_pastes_a_patch_and_mixes_the_targets_by_its_area():
    faces, targets, images, mixed = mixed_fixture(AugmentConfig(cutmix=1.0), seed=6)
    pasted = 0
    for index, (image, row) in enumerate(zip(images, mixed, strict=True)):
        kept = np.isclose(image, faces[index], atol=1e-6)
        if kept.all():
            continue
        # the rest is one other face of the batch, pixel for pixel
        partner = next((other for other in faces if np.allclose(image[~kept], other[~kept], atol=1e-6)), None)
        assert partner is not None, "the pasted patch is not from a face of the batch"
        if row.max() < 0.999:  # a face of another class: the targets are mixed by the patch's area
            same = np.isclose(faces[index], partner, atol=1e-6)  # pixels the two faces share (black borders)
            own = float(row @ targets[index])
            # Keras takes the area from the patch's fractional corners and pastes whole pixels: up to one row and
            # one column (2 x 48 of 2304 pixels) apart
            slack = 2 * 48 / 48**2
            assert float((kept & ~same).mean()) - slack <= own <= float(kept.mean()) + slack
            pasted += 1
    assert pasted >= 3


def test_the_batch_mixer_reaches_both_batch_sources():
    faces, targets = one_hot_fixture()
    mixer = build_batch_mixer(AugmentConfig(mixup=0.4), seed=7)
    for source in ("pydataset", "tf.data"):
        train, _ = training_batches((faces, targets), (faces, targets), batch_size=8, augmenter=None, seed=1,
                                    source=source, mixer=mixer)  # fmt: skip
        _, batch_targets = next(iter(train)) if source == "tf.data" else train[0]
        assert np.asarray(batch_targets).max(axis=1).min() < 0.999, f"{source}: targets were not mixed"
    assert build_batch_mixer(AugmentConfig()) is None
    with pytest.raises(ValueError, match="not both"):
        AugmentConfig(mixup=0.2, cutmix=1.0)


@pytest.mark.parametrize("config", [AugmentConfig(mixup=0.2), AugmentConfig(cutmix=1.0)])
def test_the_batch_mixer_works_under_the_mixed_precision_policy_training_sets(config):
    """training.train sets mixed_bfloat16 before the batches are built; the mixer must still run in tf.data."""
    import keras

    faces, targets = one_hot_fixture()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixer = build_batch_mixer(config, seed=8)
        train, _ = training_batches((faces, targets), (faces, targets), batch_size=8, augmenter=None, seed=1,
                                    source="tf.data", mixer=mixer)  # fmt: skip
        _, batch_targets = next(iter(train))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    np.testing.assert_allclose(np.asarray(batch_targets).sum(axis=1), 1.0, atol=1e-5)
