"""Run the int8 copy of the emotion model (TensorFlow Lite with XNNPACK) and check it belongs to its Keras model.

``python -m training.quantize`` writes ``fer_model.int8.tflite`` next to ``fer_model.keras`` with a record
``fer_model.int8.json`` naming the SHA-256 of the Keras file it was made from and its own. :class:`QuantizedModel`
runs it; :func:`quantized_model_status` says whether the pair matches, so a retrained Keras model never runs with
the int8 copy of an older one, and a changed or damaged ``.tflite`` file never runs at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fer_core.labels import NUM_CLASSES
from fer_core.recognition.preprocessing import INPUT_SIZE

logger = logging.getLogger(__name__)

QUANTIZED_SUFFIX = ".int8.tflite"
RECORD_SUFFIX = ".int8.json"


class QuantizedModelError(RuntimeError):
    """The int8 model file is missing, unreadable or does not belong to its Keras model."""


def quantized_paths(model_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The int8 model file and its record for a ``.keras`` file: ``x.keras`` -> ``x.int8.tflite``, ``x.int8.json``."""
    path = Path(model_path)
    stem = path.name.removesuffix(".keras")
    return path.with_name(stem + QUANTIZED_SUFFIX), path.with_name(stem + RECORD_SUFFIX)


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class QuantizedModelStatus:
    """Whether ``model_path`` has a usable int8 copy; ``reason`` says why not."""

    usable: bool
    reason: str
    path: Path
    record: dict[str, Any]


def quantized_model_status(model_path: str | os.PathLike[str]) -> QuantizedModelStatus:
    """Check the int8 copy of ``model_path``: both files present, the record readable, and both SHA-256s matching
    the record (the Keras file's: the copy belongs to this model; the ``.tflite`` file's: it is the copy made)."""
    quantized, record_path = quantized_paths(model_path)
    if not quantized.is_file() or not record_path.is_file():
        return QuantizedModelStatus(False, f"no int8 copy ({quantized.name} and {record_path.name})", quantized, {})
    try:
        record = json.loads(record_path.read_text())
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        return QuantizedModelStatus(False, f"{record_path} is unreadable ({error})", quantized, {})
    source = record.get("source_sha256")
    actual = file_sha256(model_path)
    if source != actual:
        return QuantizedModelStatus(
            False,
            f"{quantized.name} was made from another model (SHA-256 {str(source)[:12]}..., "
            f"{Path(model_path).name} is {actual[:12]}...): re-run python -m training.quantize",
            quantized,
            record,
        )
    recorded = record.get("quantized_sha256")
    content = file_sha256(quantized)
    if recorded != content:
        return QuantizedModelStatus(
            False,
            f"{quantized.name} is not the file {record_path.name} records (SHA-256 {content[:12]}..., recorded "
            f"{str(recorded)[:12]}...): it was changed or damaged after python -m training.quantize made it; "
            "re-run python -m training.quantize",
            quantized,
            record,
        )
    return QuantizedModelStatus(True, "matches", quantized, record)


class QuantizedModel:
    """Probabilities from an int8 ``.tflite`` emotion model, float32 in and out, like the Keras model.

    Rows are renormalised to sum to 1 (the int8 softmax is only accurate to 1/256). TensorFlow Lite
    interpreters have a fixed input shape, so one is kept per batch size (the few most recent);
    larger batches run in chunks of ``max_batch``. Calls are serialised with a lock. Given its ``record``, the
    bytes it loads must have the recorded ``quantized_sha256`` (checked on the bytes it runs, not a second read).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        threads: int = 1,
        max_batch: int = 64,
        cached_sizes: int = 4,
        record: dict[str, Any] | None = None,
    ):
        if threads < 1 or max_batch < 1 or cached_sizes < 1:
            raise ValueError("threads, max_batch and cached_sizes must be >= 1")
        self.path = Path(path)
        self.record = record or {}
        """What ``python -m training.quantize`` recorded about this copy (empty when not given)."""
        self.threads = threads
        self.max_batch = max_batch
        self._cached_sizes = cached_sizes
        try:
            self._content = self.path.read_bytes()
        except OSError as error:
            raise QuantizedModelError(f"int8 model {self.path} could not be read ({error})") from error
        recorded = self.record.get("quantized_sha256")
        if recorded is not None and hashlib.sha256(self._content).hexdigest() != recorded:
            raise QuantizedModelError(
                f"int8 model {self.path} is not the file its record names (SHA-256 {str(recorded)[:12]}...): "
                "it was changed or damaged; re-run python -m training.quantize"
            )
        self._interpreters: OrderedDict[int, tuple[Any, int, int]] = OrderedDict()
        self._lock = threading.Lock()
        try:
            probabilities = self.predict_batch(np.zeros((1, INPUT_SIZE, INPUT_SIZE, 1), np.float32))
        except Exception as error:
            raise QuantizedModelError(
                f"int8 model {self.path} could not be run ({type(error).__name__}: {error}); "
                "re-create it with python -m training.quantize"
            ) from error
        if probabilities.shape != (1, NUM_CLASSES):
            raise QuantizedModelError(
                f"int8 model {self.path} returns {probabilities.shape[1:]}, expected ({NUM_CLASSES},)"
            )

    def _interpreter(self, batch_size: int) -> tuple[Any, int, int]:
        if batch_size in self._interpreters:
            self._interpreters.move_to_end(batch_size)
            return self._interpreters[batch_size]
        import tensorflow as tf

        with warnings.catch_warnings():  # tf.lite.Interpreter announces its move to the ai_edge_litert package
            warnings.simplefilter("ignore")
            interpreter = tf.lite.Interpreter(model_content=self._content, num_threads=self.threads)
        input_index = interpreter.get_input_details()[0]["index"]
        output_index = interpreter.get_output_details()[0]["index"]
        interpreter.resize_tensor_input(input_index, [batch_size, INPUT_SIZE, INPUT_SIZE, 1])
        interpreter.allocate_tensors()
        self._interpreters[batch_size] = (interpreter, input_index, output_index)
        while len(self._interpreters) > self._cached_sizes:
            self._interpreters.popitem(last=False)
        return self._interpreters[batch_size]

    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, 7) float32 for a prepared batch (N, 48, 48, 1) float32 in [0, 1]."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        outputs = []
        with self._lock:
            for start in range(0, batch.shape[0], self.max_batch):
                chunk = batch[start : start + self.max_batch]
                interpreter, input_index, output_index = self._interpreter(chunk.shape[0])
                interpreter.set_tensor(input_index, chunk)
                interpreter.invoke()
                outputs.append(np.array(interpreter.get_tensor(output_index), dtype=np.float32))
        if not outputs:
            return np.zeros((0, NUM_CLASSES), np.float32)
        probabilities = np.concatenate(outputs)
        # the softmax comes out in int8 steps of 1/256, so rows sum to 1 only roughly: make them sum to 1 again
        totals = probabilities.sum(axis=1, keepdims=True)
        return np.divide(probabilities, totals, out=np.full_like(probabilities, 1 / NUM_CLASSES), where=totals > 0)
