"""The emotion classifier: the saved Keras model (or its int8 copy) behind one thread-safe batch call."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from fer_core.labels import NUM_CLASSES
from fer_core.recognition.batch_norm_folding import fold_batch_norm
from fer_core.recognition.preprocessing import INPUT_SIZE, prepare_faces
from fer_core.recognition.quantized_model import QuantizedModel, QuantizedModelError, quantized_model_status

logger = logging.getLogger(__name__)

DEFAULT_MODEL_PATH = Path(__file__).resolve().parents[2] / "models" / "fer_model.keras"
"""The shipped model (override with the ``FER_MODEL_PATH`` environment variable or ``model_path=``)."""


class ModelLoadError(RuntimeError):
    """The model file is missing or unreadable; the message says what to do."""


Runtime = Literal["auto", "int8", "float"]
"""Which copy of the model runs: see :attr:`ClassifierConfig.runtime`."""
RUNTIMES: tuple[str, ...] = get_args(Runtime)


def default_model_path() -> Path:
    return Path(os.environ.get("FER_MODEL_PATH", DEFAULT_MODEL_PATH))


def _import_before_tensorflow() -> None:
    """Import pylibsrtp (SRTP for aiortc / the live page), if installed, before TensorFlow is first imported.

    Imported after TensorFlow, pylibsrtp segfaults in ``srtp_init()`` (its bundled crypto clashes with
    TensorFlow's), which kills the whole app server when someone opens the live page after a model was loaded.
    Regression test: ``tests/test_crash_regressions.py``.
    """
    with contextlib.suppress(ImportError):
        import pylibsrtp  # noqa: F401


def configure_threads(intra_op: int = 0, inter_op: int = 0) -> None:
    """Cap TensorFlow's thread pools (call before the first model is loaded; 0 keeps TF's default)."""
    _import_before_tensorflow()
    import tensorflow as tf

    try:
        if intra_op:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        if inter_op:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:  # TensorFlow already initialised: the pools are fixed for this process
        logger.debug("TensorFlow threads already initialised; keeping them")


@dataclass(frozen=True)
class ClassifierConfig:
    """How faces are classified."""

    flip_tta: bool = False
    """Average the probabilities of each face and its mirror image (more accurate, twice the work)."""
    intra_op_threads: int = 0
    """TensorFlow intra-op threads for this process (0: TensorFlow's default, all cores)."""
    fold_batch_norm: bool = True
    """Run a copy of the model with batch norms folded into their convolutions (same outputs, less work)."""
    runtime: Runtime = "auto"
    """``int8``: the model's int8 copy (``fer_model.int8.tflite``, from ``python -m training.quantize``), about
    five times faster; ``float``: the Keras model in float32; ``auto``: int8 when the copy matches the model."""
    int8_threads: int = 1
    """Threads for the int8 runtime (one face takes a fraction of a millisecond on one)."""

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime must be 'auto', 'int8' or 'float', not {self.runtime!r}")
        if self.int8_threads < 1:
            raise ValueError("int8_threads must be >= 1")


def _missing_model_message(path: Path) -> str:
    return (
        f"Emotion model not found at {path}. Restore it with `git checkout -- models/` "
        "or retrain it with the command in README.md (python -m training.train ...), "
        "or point FER_MODEL_PATH at a .keras file."
    )


class EmotionClassifier:
    """Load a ``.keras`` FER model once and classify batches of face crops.

    By default it runs the model's int8 copy (TensorFlow Lite, XNNPACK) when ``python -m training.quantize``
    made one for this very file: a third of a millisecond per face. Otherwise the Keras model runs in float32
    through a ``tf.function`` with a fixed input signature (batch norms folded), so no call retraces and one
    face costs under 2 ms (``model.predict`` costs tens). Calls are serialised with a lock, so one instance
    can be shared by the WebRTC video thread and the page script.
    """

    def __init__(self, model_path: str | os.PathLike[str] | None = None, config: ClassifierConfig | None = None):
        self.config = config or ClassifierConfig()
        self.model_path = Path(model_path) if model_path is not None else default_model_path()
        if not self.model_path.is_file():
            raise ModelLoadError(_missing_model_message(self.model_path))
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if self.config.intra_op_threads:
            configure_threads(self.config.intra_op_threads)
        _import_before_tensorflow()
        import keras
        import tensorflow as tf

        started = time.perf_counter()
        try:
            self.model = keras.models.load_model(self.model_path, compile=False)
        except Exception as error:
            raise ModelLoadError(
                f"Emotion model at {self.model_path} could not be loaded ({type(error).__name__}: {error}). "
                "It may be corrupt: restore it with `git checkout -- models/` or retrain it (see README.md)."
            ) from error
        expected = (None, INPUT_SIZE, INPUT_SIZE, 1)
        if tuple(self.model.input_shape) != expected or self.model.output_shape[-1] != NUM_CLASSES:
            raise ModelLoadError(
                f"Emotion model at {self.model_path} takes {self.model.input_shape} and returns "
                f"{self.model.output_shape}; expected {expected} -> (None, {NUM_CLASSES})."
            )
        self.folded_batch_norms = 0
        """How many batch-norm layers were folded into convolutions for inference (float runtime)."""
        self.quantized_model = self._load_quantized()
        """The int8 copy the classifier runs, or ``None`` when it runs the Keras model in float32."""
        self.runtime = "int8" if self.quantized_model is not None else "float"
        """The runtime in use: ``int8`` or ``float``."""
        if self.quantized_model is None:
            model = self.model
            if self.config.fold_batch_norm:
                model, self.folded_batch_norms = fold_batch_norm(self.model)
            self._forward = tf.function(
                lambda x: model(x, training=False),
                input_signature=[tf.TensorSpec((None, INPUT_SIZE, INPUT_SIZE, 1), tf.float32)],
                reduce_retracing=True,
                autograph=False,  # Keras models need no AutoGraph; with it, TF writes generated source to /tmp
            )
        self._lock = threading.Lock()
        self.predict_batch(np.zeros((1, INPUT_SIZE, INPUT_SIZE, 1), np.float32))  # trace once, now
        self.load_seconds = time.perf_counter() - started
        logger.info(
            "loaded %s in %.2f s (runtime %s, %d batch norms folded)",
            self.model_path,
            self.load_seconds,
            self.runtime,
            self.folded_batch_norms,
        )

    def _load_quantized(self) -> QuantizedModel | None:
        """The int8 copy, per ``config.runtime``; ``auto`` falls back to float32 (logged) when it cannot be used."""
        if self.config.runtime == "float":
            return None
        status = quantized_model_status(self.model_path)
        try:
            if not status.usable:
                raise QuantizedModelError(status.reason)
            return QuantizedModel(status.path, threads=self.config.int8_threads, record=status.record)
        except QuantizedModelError as error:
            if self.config.runtime == "int8":
                raise ModelLoadError(f"int8 runtime for {self.model_path}: {error}") from error
            logger.info("running %s in float32: %s", self.model_path.name, error)
            return None

    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, 7) for a prepared batch (N, 48, 48, 1) float32 in [0, 1]."""
        if batch.shape[0] == 0:
            return np.zeros((0, NUM_CLASSES), np.float32)
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.config.flip_tta:
            batch = np.concatenate([batch, batch[:, :, ::-1, :]])
        if self.quantized_model is not None:
            probabilities = self.quantized_model.predict_batch(batch)
        else:
            with self._lock:
                probabilities = self._forward(batch).numpy()
        if self.config.flip_tta:
            half = probabilities.shape[0] // 2
            probabilities = (probabilities[:half] + probabilities[half:]) / 2.0
        return probabilities.astype(np.float32, copy=False)

    def classify(self, faces: Sequence[np.ndarray] | np.ndarray, *, bgr: bool = False) -> np.ndarray:
        """Probabilities (N, 7) for face crops of any size, grayscale or colour (shared preprocessing)."""
        return self.predict_batch(prepare_faces(faces, bgr=bgr))
