"""Stochastic weight averaging (SWA, Izmailov et al. 2018) for ``python -m training.train --swa-start E``.

From epoch ``E`` on, the weights at the end of every epoch are averaged. Batch-normalisation statistics of the
averaged weights are not the average of the epochs' statistics, so they are recomputed with one pass over the
Training images before the averaged model is scored on PublicTest.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np

logger = logging.getLogger(__name__)


class WeightAverage(keras.callbacks.Callback):
    """Keep the running mean of the model's weights over the epochs from ``start_epoch`` (1-based) on.

    The mean and ``count`` (how many epochs it holds) are saved to ``path`` (``.npz``) after every averaged
    epoch, so that ``--resume`` carries them on (:meth:`resume`).
    """

    def __init__(self, start_epoch: int, path: Path, *, count: int = 0, average: list[np.ndarray] | None = None):
        super().__init__()
        if start_epoch < 1:
            raise ValueError(f"SWA start epoch must be 1 or later, got {start_epoch}")
        if count and average is None:
            raise ValueError("a resumed weight average needs the saved weights")
        self.start_epoch = start_epoch
        self.path = Path(path)
        self.count = count
        self.average = average

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 < self.start_epoch:
            return
        weights = [np.asarray(w, dtype=np.float64) for w in self.model.get_weights()]
        if self.average is None or self.count == 0:
            self.average = weights
        else:
            self.average = [a + (w - a) / (self.count + 1) for a, w in zip(self.average, weights, strict=True)]
        self.count += 1
        np.savez(self.path, *self.average, count=self.count)
        logger.info("SWA: averaged %d epochs into %s", self.count, self.path)

    @classmethod
    def resume(cls, start_epoch: int, path: Path) -> WeightAverage:
        """The average saved at ``path`` by an earlier process of the same run; ValueError when it is missing."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"the run's weight average {path} is missing: cannot resume the average")
        with np.load(path) as saved:
            count = int(saved["count"])
            average = [saved[f"arr_{index}"] for index in range(len(saved.files) - 1)]
        return cls(start_epoch, path, count=count, average=average)

    def model_with_average(self) -> keras.Model:
        """A copy of the model (same dtype policy) carrying the averaged weights."""
        if self.average is None:
            raise ValueError("no epoch has been averaged yet")
        clone = keras.models.clone_model(self.model)
        dtypes = [np.asarray(w).dtype for w in clone.get_weights()]
        clone.set_weights([a.astype(dtype) for a, dtype in zip(self.average, dtypes, strict=True)])
        return clone


def batch_norm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    return [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]


def recompute_batch_norm(model: keras.Model, images: np.ndarray, *, batch_size: int = 256) -> int:
    """Set every BatchNormalization layer's moving mean and variance to their average over ``images``.

    Runs the model in training mode batch by batch with the layers' momentum set so that the moving statistics
    become the running mean of the batches' statistics (weights are not touched). Returns the number of batches.
    """
    layers = batch_norm_layers(model)
    if not layers:
        return 0
    if len(images) == 0:
        raise ValueError("recomputing batch-norm statistics needs at least one image")
    momenta = [layer.momentum for layer in layers]
    batches = 0
    try:
        for start in range(0, len(images), batch_size):
            for layer in layers:
                layer.momentum = batches / (batches + 1)
            model(images[start : start + batch_size], training=True)
            batches += 1
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    logger.info("SWA: batch-norm statistics recomputed over %d images (%d batches)", len(images), batches)
    return batches
