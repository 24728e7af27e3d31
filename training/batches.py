"""Training and PublicTest batches for ``model.fit``: ``tf.data`` with TensorFlow, a ``keras.utils.PyDataset`` else.

``tf.data`` exists only with the TensorFlow backend. :class:`ArrayBatches` is the same batch stream built from
NumPy arrays with Keras alone (shuffled each epoch from one seed, augmented with the same Keras preprocessing
layers, :mod:`training.augment`), so the training code runs unchanged on the JAX backend, e.g. on a GPU machine
without TensorFlow: ``KERAS_BACKEND=jax python -m training.train ...``. ``TrainConfig.data_source`` picks one:
``auto`` (``tf.data`` on the TensorFlow backend, ``pydataset`` on the others), ``tf.data`` or ``pydataset``.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

DATA_SOURCES = ("auto", "tf.data", "pydataset")
PUBLIC_BATCH = 256


class ArrayBatches(keras.utils.PyDataset):
    """``(images, targets)`` batches of NumPy arrays; ``shuffle_seed`` reshuffles every epoch, ``augmenter`` (a
    Keras layer or model called with ``training=True``) transforms each image batch, then ``mixer``
    (:class:`training.augment.BatchMixer`: MixUp or CutMix) mixes images and targets across the batch."""

    def __init__(
        self,
        images: np.ndarray,
        targets: np.ndarray,
        batch_size: int,
        *,
        augmenter: Any = None,
        mixer: Any = None,
        shuffle_seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.images, self.targets, self.batch_size = images, targets, batch_size
        self.augmenter, self.mixer = augmenter, mixer
        self._rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
        self._order = self._next_order()

    def _next_order(self) -> np.ndarray:
        return np.arange(len(self.images)) if self._rng is None else self._rng.permutation(len(self.images))

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        images, targets = self.images[rows], self.targets[rows]
        if self.augmenter is not None:
            images = keras.ops.convert_to_numpy(self.augmenter(images, training=True)).astype(self.images.dtype)
        if self.mixer is not None:
            images, targets = (keras.ops.convert_to_numpy(t) for t in self.mixer(images, targets))
            images, targets = images.astype(self.images.dtype), targets.astype(self.targets.dtype)
        return images, targets

    def on_epoch_end(self) -> None:
        self._order = self._next_order()


class CompiledLayer:
    """A Keras layer's training-mode call compiled once with ``jax.jit``, its random state carried explicitly.

    On the JAX backend the preprocessing layers run eagerly, an operation at a time: about 50 ms a batch of
    dispatch whatever the batch size, which on a GPU would take longer than the training step itself. Compiled,
    they run as one program. The first call runs eagerly (it builds the layer); every later call runs compiled from
    the state the one before left, so the random draws are the eager ones (the same to rounding)."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self._state: list | None = None
        self._compiled = None

    def __call__(self, inputs: Any, training: bool = True) -> Any:
        if not training:
            return self.layer(inputs, training=False)
        if self._compiled is None:
            import jax

            outputs = self.layer(inputs, training=True)
            self._state = [variable.value for variable in self.layer.non_trainable_variables]
            self._compiled = jax.jit(lambda state, data: self.layer.stateless_call([], state, data, training=True))
            return outputs
        outputs, self._state = self._compiled(self._state, inputs)
        return outputs


def compiled_for_accelerator(layer: Any, backend: str | None = None) -> Any:
    """``layer`` wrapped in :class:`CompiledLayer` where that pays: on the JAX backend running on a GPU or TPU (on a
    CPU, XLA runs these layers slower than the eager operations do); else ``layer`` itself (also ``None``)."""
    backend = keras.backend.backend() if backend is None else backend
    if layer is None or backend != "jax":
        return layer
    import jax

    return layer if jax.default_backend() == "cpu" else CompiledLayer(layer)


def resolve_data_source(source: str, backend: str | None = None) -> str:
    """``tf.data`` or ``pydataset`` for ``source`` on ``backend`` (default: Keras's); ``ValueError`` if impossible."""
    backend = keras.backend.backend() if backend is None else backend
    if source not in DATA_SOURCES:
        raise ValueError(f"data source must be one of {', '.join(DATA_SOURCES)}, got {source!r}")
    if source == "auto":
        return "tf.data" if backend == "tensorflow" else "pydataset"
    if source == "tf.data" and backend != "tensorflow":
        raise ValueError(f"the tf.data source needs the TensorFlow backend (Keras runs on {backend}): use pydataset")
    return source


def training_batches(
    train: tuple[np.ndarray, np.ndarray],
    public: tuple[np.ndarray, np.ndarray],
    *,
    batch_size: int,
    augmenter: Any,
    seed: int,
    source: str = "auto",
    mixer: Any = None,
) -> tuple[Any, Any]:
    """The shuffled, augmented (then mixed, if ``mixer``) Training batches (shuffle and augmentation drawn from
    ``seed``) and PublicTest's."""
    if resolve_data_source(source) == "pydataset":
        from training.augment import BatchMixer

        augmenter = compiled_for_accelerator(augmenter)
        mixer = BatchMixer(compiled_for_accelerator(mixer.layer)) if mixer is not None else None
        return (
            ArrayBatches(*train, batch_size, augmenter=augmenter, mixer=mixer, shuffle_seed=seed),
            ArrayBatches(*public, PUBLIC_BATCH),
        )
    import tensorflow as tf

    train_ds = (
        tf.data.Dataset.from_tensor_slices(train)
        .shuffle(len(train[0]), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
    )
    if augmenter is not None:
        train_ds = train_ds.map(lambda x, y: (augmenter(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    if mixer is not None:
        train_ds = train_ds.map(mixer, num_parallel_calls=tf.data.AUTOTUNE)
    train_ds = train_ds.prefetch(tf.data.AUTOTUNE)
    public_ds = tf.data.Dataset.from_tensor_slices(public).batch(PUBLIC_BATCH).prefetch(2)
    return train_ds, public_ds
