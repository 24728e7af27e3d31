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
    gamma: float = 0.0
    """Exposure: each image is raised to the power ``exp(u)``, ``u`` uniform in [-gamma, gamma] (0.3: 0.74-1.35)."""
    noise: float = 0.0
    """Sensor noise: Gaussian noise of a standard deviation drawn uniformly in [0, noise] per image."""
    blur: float = 0.0
    """Probability of blurring an image with a 3x3 Gaussian (focus, webcam compression)."""
    mixup: float = 0.0
    """MixUp's alpha (``keras.layers.MixUp``): each batch is blended with a shuffled copy of itself, targets
    too; 0 is off, 0.2 is usual. Not with ``cutmix``."""
    cutmix: float = 0.0
    """CutMix's factor (``keras.layers.CutMix``): a patch of another image of the batch is pasted in and the
    targets mixed by its area; 0 is off, 1.0 is usual. Not with ``mixup``."""

    def __post_init__(self) -> None:
        for name in ("shift", "rotation_degrees", "zoom", "contrast", "gamma", "noise", "mixup", "cutmix"):
            if getattr(self, name) < 0:
                raise ValueError(f"AugmentConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.mixup and self.cutmix:
            raise ValueError("AugmentConfig: choose mixup or cutmix, not both")
        for name in ("erasing", "blur"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"AugmentConfig.{name} is a probability in [0, 1], got {getattr(self, name)}")


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


class PhotometricLayer(keras.layers.Layer):
    """A training-only image change of one ``amount`` (0: off), drawn per image from the layer's seed generator."""

    def __init__(self, amount: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.amount = amount
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training or self.amount <= 0:
            return images
        return self.change(images)

    def change(self, images):
        raise NotImplementedError

    def per_image_uniform(self, images, low: float, high: float):
        """One uniform draw in [low, high) per image, shaped (N, 1, 1, 1) to broadcast over its pixels."""
        shape = (keras.ops.shape(images)[0], 1, 1, 1)
        return keras.ops.cast(keras.random.uniform(shape, low, high, seed=self.seed_generator), images.dtype)

    def get_config(self):
        return {**super().get_config(), "amount": self.amount}


class RandomGamma(PhotometricLayer):
    """Raise each [0, 1] image to a random power ``exp(u)``, ``u`` uniform in [-amount, amount] (exposure)."""

    def change(self, images):
        exponents = keras.ops.exp(self.per_image_uniform(images, -self.amount, self.amount))
        return keras.ops.power(keras.ops.clip(images, 1e-6, 1.0), exponents)


class RandomNoise(PhotometricLayer):
    """Add Gaussian noise whose standard deviation is drawn uniformly in [0, ``amount``] per image; clip to [0, 1]."""

    def change(self, images):
        scales = self.per_image_uniform(images, 0.0, self.amount)
        noise = keras.ops.cast(keras.random.normal(keras.ops.shape(images), seed=self.seed_generator), images.dtype)
        return keras.ops.clip(images + noise * scales, 0.0, 1.0)


class RandomBlur(PhotometricLayer):
    """With probability ``amount``, replace an image by its 3x3 Gaussian blur (edges: the image's own border)."""

    KERNEL = ((1.0, 2.0, 1.0), (2.0, 4.0, 2.0), (1.0, 2.0, 1.0))

    def change(self, images):
        ops = keras.ops
        kernel = ops.reshape(ops.convert_to_tensor(self.KERNEL, dtype=images.dtype) / 16.0, (3, 3, 1, 1))
        padded = ops.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="symmetric")
        blurred = ops.conv(padded, kernel, padding="valid")
        return ops.where(self.per_image_uniform(images, 0.0, 1.0) < self.amount, blurred, images)


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
    if config.gamma:
        layers.append(RandomGamma(config.gamma, seed=seed + 6))
    if config.blur:
        layers.append(RandomBlur(config.blur, seed=seed + 7))
    if config.noise:
        layers.append(RandomNoise(config.noise, seed=seed + 8))
    if config.erasing:
        layers.append(RandomErasing(config.erasing, seed=seed + 5))
    return keras.Sequential(layers, name="augmentation")


class BatchMixer:
    """MixUp or CutMix over whole batches: ``mixer(images, targets) -> (images, targets)``, targets one-hot or soft
    (distillation); Keras's own layers, so it runs in ``tf.data`` and on every backend."""

    def __init__(self, layer: keras.layers.Layer) -> None:
        self.layer = layer

    def __call__(self, images, targets):
        mixed = self.layer({"images": images, "labels": targets}, training=True)
        return mixed["images"], mixed["labels"]


def build_batch_mixer(config: AugmentConfig = AugmentConfig(), seed: int = 0) -> BatchMixer | None:
    """The batch mixer that ``config`` asks for (``mixup`` or ``cutmix``), or ``None``."""
    # float32 whatever the global policy: under mixed_bfloat16 the layers would mix float32 weights into bfloat16
    # targets and fail (and the batches reach the model as float32 anyway)
    if config.mixup:
        return BatchMixer(keras.layers.MixUp(alpha=config.mixup, seed=seed + 9, dtype="float32"))
    if config.cutmix:
        return BatchMixer(keras.layers.CutMix(factor=config.cutmix, seed=seed + 10, dtype="float32"))
    return None
