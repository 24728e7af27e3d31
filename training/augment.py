"""Training-time augmentation built from Keras preprocessing layers (applied in tf.data, after batching)."""

from __future__ import annotations

from dataclasses import dataclass

import keras


@dataclass(frozen=True)
class AugmentConfig:
    """Strengths of each augmentation; 0 turns one off."""

    flip: bool = True
    shift: float = 0.1
    rotation_degrees: float = 10.0
    zoom: float = 0.1
    contrast: float = 0.2
    erasing: float = 0.25
    """Probability of erasing one random rectangle (random erasing / cutout) per image."""


class RandomErasing(keras.layers.Layer):
    """Erase one random rectangle (1/16 to 1/4 of each side squared... up to 40% of the side) per image.

    Written with ``keras.ops`` only, so it runs on every Keras backend.
    """

    def __init__(self, probability: float = 0.25, max_fraction: float = 0.4, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.probability = probability
        self.max_fraction = max_fraction
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training or self.probability <= 0:
            return images
        ops = keras.ops
        shape = ops.shape(images)
        batch, height, width = shape[0], shape[1], shape[2]
        uniform = keras.random.uniform((batch, 5), seed=self.seed_generator)
        heights = ops.cast(ops.cast(height, "float32") * (0.1 + uniform[:, 0] * (self.max_fraction - 0.1)), "int32")
        widths = ops.cast(ops.cast(width, "float32") * (0.1 + uniform[:, 1] * (self.max_fraction - 0.1)), "int32")
        tops = ops.cast(uniform[:, 2] * ops.cast(height - heights, "float32"), "int32")
        lefts = ops.cast(uniform[:, 3] * ops.cast(width - widths, "float32"), "int32")
        apply = uniform[:, 4] < self.probability
        rows = ops.arange(height)[None, :, None]
        cols = ops.arange(width)[None, None, :]
        inside = (
            (rows >= tops[:, None, None])
            & (rows < (tops + heights)[:, None, None])
            & (cols >= lefts[:, None, None])
            & (cols < (lefts + widths)[:, None, None])
            & apply[:, None, None]
        )
        noise = keras.random.uniform(ops.shape(images), seed=self.seed_generator, dtype=images.dtype)
        return ops.where(inside[..., None], noise, images)

    def get_config(self):
        return {**super().get_config(), "probability": self.probability, "max_fraction": self.max_fraction}


def build_augmenter(config: AugmentConfig = AugmentConfig(), seed: int = 0) -> keras.Sequential:
    """A Sequential of Keras preprocessing layers for [0, 1] grayscale batches (N, 48, 48, 1)."""
    layers: list[keras.layers.Layer] = []
    if config.flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if config.rotation_degrees:
        layers.append(keras.layers.RandomRotation(config.rotation_degrees / 360.0, fill_mode="reflect", seed=seed + 1))
    if config.zoom:
        layers.append(keras.layers.RandomZoom(config.zoom, fill_mode="reflect", seed=seed + 2))
    if config.shift:
        layers.append(keras.layers.RandomTranslation(config.shift, config.shift, fill_mode="reflect", seed=seed + 3))
    if config.contrast:
        layers.append(keras.layers.RandomContrast(config.contrast, value_range=(0, 1), seed=seed + 4))
    if config.erasing:
        layers.append(RandomErasing(config.erasing, seed=seed + 5))
    return keras.Sequential(layers, name="augmentation")
