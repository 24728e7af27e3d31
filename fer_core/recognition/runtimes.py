"""The two ways the classifier can run the model, behind one interface.

:class:`Int8Runtime` runs the model's int8 TensorFlow Lite copy (``python -m training.quantize``); it never loads
the Keras model. :class:`FloatRuntime` runs the Keras model in float32 through a ``tf.function`` with a fixed
input signature (batch norms folded). Both take a prepared batch (N, 48, 48, 1) float32 in [0, 1] and return
probabilities (N, 7); :func:`load_runtime` picks one for a :class:`~fer_core.ClassifierConfig`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from fer_core.labels import NUM_CLASSES
from fer_core.recognition.preprocessing import INPUT_SIZE
from fer_core.recognition.quantized_model import QuantizedModel, QuantizedModelError, quantized_model_status

if TYPE_CHECKING:
    from fer_core.recognition.classifier import ClassifierConfig

logger = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """The model file is missing or unreadable; the message says what to do."""


class ClassifierRuntime(Protocol):
    """What the classifier needs of a runtime."""

    name: str
    """``int8`` or ``float``."""

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, 7) for a prepared batch (N, 48, 48, 1) float32."""
        ...


def load_keras_model(model_path: Path) -> Any:
    """The saved Keras model, checked to take (None, 48, 48, 1) and return 7 probabilities."""
    import keras

    try:
        model = keras.models.load_model(model_path, compile=False)
    except Exception as error:
        raise ModelLoadError(
            f"Emotion model at {model_path} could not be loaded ({type(error).__name__}: {error}). "
            "It may be corrupt: restore it with `git checkout -- models/` or retrain it (see README.md)."
        ) from error
    expected = (None, INPUT_SIZE, INPUT_SIZE, 1)
    if tuple(model.input_shape) != expected or model.output_shape[-1] != NUM_CLASSES:
        raise ModelLoadError(
            f"Emotion model at {model_path} takes {model.input_shape} and returns "
            f"{model.output_shape}; expected {expected} -> (None, {NUM_CLASSES})."
        )
    return model


class Int8Runtime:
    """The int8 copy through TensorFlow Lite (XNNPACK); thread-safe (the copy locks its interpreters)."""

    name = "int8"

    def __init__(self, quantized_model: QuantizedModel):
        self.quantized_model = quantized_model

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.quantized_model.predict_batch(batch)


class FloatRuntime:
    """The Keras model in float32, batch norms folded into their convolutions unless ``fold`` is False."""

    name = "float"

    def __init__(self, model: Any, *, fold: bool = True):
        import tensorflow as tf

        from fer_core.recognition.batch_norm_folding import fold_batch_norm

        self.model = model
        self.folded_batch_norms = 0
        """How many batch-norm layers were folded into convolutions."""
        if fold:
            model, self.folded_batch_norms = fold_batch_norm(model)
        self._forward = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec((None, INPUT_SIZE, INPUT_SIZE, 1), tf.float32)],
            reduce_retracing=True,
            autograph=False,  # Keras models need no AutoGraph; with it, TF writes generated source to /tmp
        )
        self._lock = threading.Lock()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            return self._forward(batch).numpy()


def load_int8(model_path: Path, config: ClassifierConfig) -> Int8Runtime | None:
    """The int8 runtime per ``config.runtime``; ``auto`` gives None (logged) when the copy cannot be used."""
    if config.runtime == "float":
        return None
    status = quantized_model_status(model_path)
    try:
        if not status.usable:
            raise QuantizedModelError(status.reason)
        return Int8Runtime(QuantizedModel(status.path, threads=config.int8_threads, record=status.record))
    except QuantizedModelError as error:
        if config.runtime == "int8":
            raise ModelLoadError(f"int8 runtime for {model_path}: {error}") from error
        logger.info("running %s in float32: %s", model_path.name, error)
        return None


def load_runtime(model_path: Path, config: ClassifierConfig) -> Int8Runtime | FloatRuntime:
    """The runtime ``config`` asks for: the int8 copy when usable (``auto``/``int8``), else the Keras model."""
    int8 = load_int8(model_path, config)
    if int8 is not None:
        return int8
    return FloatRuntime(load_keras_model(model_path), fold=config.fold_batch_norm)
