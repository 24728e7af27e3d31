"""The emotion classifier: the model (its int8 copy, or the Keras model) behind one thread-safe batch call."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from fer_core.labels import FER2013_TRAINING_COUNTS, NUM_CLASSES
from fer_core.recognition.detector import Box
from fer_core.recognition.ensemble import read_ensemble
from fer_core.recognition.preprocessing import INPUT_SIZE, prepare_faces
from fer_core.recognition.quantized_model import QuantizedModel
from fer_core.recognition.runtimes import FloatRuntime, ModelLoadError, load_keras_model, load_runtime
from fer_core.recognition.stream_readings import StreamReadings, ViewPlan
from fer_core.recognition.views import View, average_views, expand_views, resolve_views, view_pairs

logger = logging.getLogger(__name__)

DEFAULT_MODEL_PATH = Path(__file__).resolve().parents[2] / "models" / "fer_model.keras"
"""The shipped model (override with the ``FER_MODEL_PATH`` environment variable or ``model_path=``)."""

DEFAULT_VIEWS = "rotate"
"""Views for photos in the default configuration (the upload page, ``predict``, the model card's headline): the
face, a 1.1 zoom and turns of 6 degrees either way, each mirrored (8 passes a model). With the shipped photo
ensemble it read PublicTest best of the view sets (``zoom``, ``multi``, ``all``) at the same KDEF accuracy, chosen
with ``python -m training.ensemble_search`` (``docs/experiments.md``)."""
DEFAULT_STREAM_VIEWS = "flip"
"""Views for video streams in the default configuration (the live page, ``video``): real time needs fewer."""

__all__ = [
    "DEFAULT_MODEL_PATH",
    "DEFAULT_STREAM_VIEWS",
    "DEFAULT_VIEWS",
    "ClassifierConfig",
    "EmotionClassifier",
    "ModelLoadError",
]

Runtime = Literal["auto", "int8", "float"]
"""Which copy of the model runs: see :attr:`ClassifierConfig.runtime`."""
RUNTIMES: tuple[str, ...] = get_args(Runtime)


def default_model_path() -> Path:
    return Path(os.environ.get("FER_MODEL_PATH", DEFAULT_MODEL_PATH))


def configure_threads(intra_op: int = 0, inter_op: int = 0) -> None:
    """Cap TensorFlow's thread pools (call before the first model is loaded; 0 keeps TF's default)."""
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
    """How faces are classified. The defaults are what the app, the CLI and the model card's headline use."""

    views: str | tuple[View, ...] = DEFAULT_VIEWS
    """Test-time views averaged per face in photos: a name from :data:`fer_core.recognition.views.VIEW_SETS`
    (``none``, ``flip``: the face and its mirror image, ``zoom``: those and a 1.1 zoom of each, ``rotate``: those
    and turns of 6 degrees either way, ``multi``: 14 shifted/zoomed/mirrored views, ...) or the views themselves.
    Chosen on PublicTest and KDEF (:data:`DEFAULT_VIEWS`)."""
    stream_views: str | tuple[View, ...] = DEFAULT_STREAM_VIEWS
    """Views for the frames of a video stream (analysed with a face tracker): ``flip``, the face and its mirror
    image, spread over the frames (``spread_stream_views``), so a face costs one model pass a frame and a 30 fps
    webcam stays real time."""
    intra_op_threads: int = 0
    """TensorFlow intra-op threads for this process (0: TensorFlow's default, all cores)."""
    fold_batch_norm: bool = True
    """Float runtime: run a copy of the model with batch norms folded into their convolutions (same outputs)."""
    runtime: Runtime = "auto"
    """``int8``: the model's int8 copy (``fer_model.int8.tflite``, from ``python -m training.quantize``), about
    five times faster; ``float``: the Keras model in float32; ``auto``: int8 when the copy matches the model."""
    int8_threads: int = 1
    """Threads for the int8 runtime (one face takes a fraction of a millisecond on one)."""
    prior_correction: float = 0.0
    """Divide the probabilities by FER2013's training prior to this power (then renormalise): 0 (default) keeps
    them as the model gives them. Higher values favour rare classes (disgust, fear); measured on KDEF with the
    default crops and views it does not help overall (the card's ``kdef_prior`` row), and it costs on FER2013,
    whose test splits share the training prior."""
    members: tuple[str, ...] | None = None
    """Further models (``.keras`` paths, relative ones from the main model's folder) whose probabilities are
    averaged with the main model's: an ensemble. Each runs its own int8 copy when it has a matching one.
    ``None`` (default): the members the model's own ensemble file names (``fer_model.ensemble.json`` beside it,
    :mod:`fer_core.recognition.ensemble`), none without one; ``()``: the main model alone."""
    spread_stream_views: bool = True
    """Spread the stream views (and, with ``stream_members``, the models) over a stream's frames
    (:mod:`fer_core.recognition.stream_readings`): a face that was in the last frame is read with one view by one
    model, the next pair in turn, averaged with its readings of the frames before, so ``flip`` costs one model pass
    per face and frame instead of two; a new face gets every pair at once. Off: every frame's faces get every stream
    view from every model. Only streams followed by a face tracker spread their views."""
    stream_members: bool = False
    """Whether video streams (``classify(..., stream=True)``) average the ``members`` too. Off (default): a stream
    runs the main model alone. On: with the views spread over the frames (``spread_stream_views``) a followed face
    still costs one model pass a frame; each frame reads KDEF's photos better, but the mood it drives does not
    catch more expressions and calibrates worse (``docs/experiments.md``, "Video frames")."""

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime must be 'auto', 'int8' or 'float', not {self.runtime!r}")
        if self.int8_threads < 1:
            raise ValueError("int8_threads must be >= 1")
        if self.intra_op_threads < 0:
            raise ValueError("intra_op_threads must be >= 0")
        if not 0.0 <= self.prior_correction <= 1.0:
            raise ValueError(f"prior_correction must be between 0 and 1, not {self.prior_correction}")
        resolve_views(self.views)  # ValueError for an unknown name
        resolve_views(self.stream_views)

    @property
    def views_name(self) -> str:
        """The photo view set's name, or ``custom`` for explicit views."""
        return self.views if isinstance(self.views, str) else "custom"


def correct_prior(probabilities: np.ndarray, power: float) -> np.ndarray:
    """``p / prior ** power``, renormalised per row, with FER2013's training class prior."""
    prior = np.asarray(FER2013_TRAINING_COUNTS, np.float64)
    corrected = probabilities / (prior / prior.sum()) ** power
    return corrected / corrected.sum(axis=-1, keepdims=True)


def _missing_model_message(path: Path) -> str:
    return (
        f"Emotion model not found at {path}. Restore it with `git checkout -- models/` "
        "or retrain it with the command in README.md (python -m training.train ...), "
        "or point FER_MODEL_PATH at a .keras file."
    )


class EmotionClassifier:
    """Load a FER model once and classify batches of face crops.

    By default it runs the model's int8 copy (TensorFlow Lite, XNNPACK) when ``python -m training.quantize``
    made one for this very file (a third of a millisecond per view), without loading the Keras model.
    Otherwise the Keras model runs in float32 (:class:`~fer_core.recognition.runtimes.FloatRuntime`). Every view
    of every face goes through the model in one batch. One instance can be shared by the WebRTC video thread and
    the page script.
    """

    def __init__(self, model_path: str | os.PathLike[str] | None = None, config: ClassifierConfig | None = None):
        self.config = config or ClassifierConfig()
        self.model_path = Path(model_path) if model_path is not None else default_model_path()
        if not self.model_path.is_file():
            raise ModelLoadError(_missing_model_message(self.model_path))
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if self.config.intra_op_threads:
            configure_threads(self.config.intra_op_threads)
        self.views = resolve_views(self.config.views)
        """The views averaged per face in photos."""
        self.stream_views = resolve_views(self.config.stream_views)
        """The views averaged per face in video streams."""
        started = time.perf_counter()
        self._runtime = load_runtime(self.model_path, self.config)
        self.members: tuple[str, ...] = (
            read_ensemble(self.model_path) if self.config.members is None else tuple(self.config.members)
        )
        """The ensemble's further models as configured or named by the model's ensemble file (relative ones from
        the model's folder); empty: the main model alone."""
        self.member_paths = [self.model_path.parent / member for member in self.members]
        """The ensemble's further models (empty: the main model alone)."""
        self._members = [self._load_member(path) for path in self.member_paths]
        self.runtime = self._runtime.name
        """The runtime in use: ``int8`` or ``float``."""
        self._keras_model = self._runtime.model if isinstance(self._runtime, FloatRuntime) else None
        self._model_lock = threading.Lock()
        self.faces_run = 0
        self.predict_batch(np.zeros((1, INPUT_SIZE, INPUT_SIZE, 1), np.float32))  # trace once, now
        self.faces_run = 0
        """How many prepared faces (one per view and model) the models have run since loading: the work done."""
        self.load_seconds = time.perf_counter() - started
        logger.info(
            "loaded %s in %.2f s (runtime %s, views %s, %d batch norms folded)",
            self.model_path,
            self.load_seconds,
            self.runtime,
            self.config.views_name,
            self.folded_batch_norms,
        )

    def _load_member(self, path: Path) -> Any:
        if not path.is_file():
            raise ModelLoadError(f"ensemble member not found at {path} (ClassifierConfig.members)")
        member = load_runtime(path, self.config)
        if member.name != self._runtime.name:
            logger.warning("ensemble member %s runs %s, the main model %s", path.name, member.name, self._runtime.name)
        return member

    def _predict(self, batch: np.ndarray, members: bool = True) -> np.ndarray:
        """The main model's probabilities, averaged with every ensemble member's (``members=False``: alone)."""
        models = self._models(members)
        if len(models) == 1:
            return self._run(models[0], batch)
        return np.mean([self._run(model, batch) for model in models], axis=0)

    def _models(self, members: bool) -> list[Any]:
        """The runtimes a reading averages: the main model's, then the members' unless ``members=False``."""
        return [self._runtime, *self._members] if members else [self._runtime]

    def _run(self, model: Any, batch: np.ndarray) -> np.ndarray:
        self.faces_run += batch.shape[0]
        return model.predict(batch)

    @property
    def quantized_model(self) -> QuantizedModel | None:
        """The int8 copy the classifier runs, or ``None`` when it runs the Keras model in float32."""
        return getattr(self._runtime, "quantized_model", None)

    @property
    def folded_batch_norms(self) -> int:
        """How many batch norms were folded into convolutions for inference (float runtime; 0 for int8)."""
        return getattr(self._runtime, "folded_batch_norms", 0)

    @property
    def model(self) -> Any:
        """The Keras model (loaded on first use when the int8 copy runs: parameters, names, the naive baseline)."""
        with self._model_lock:
            if self._keras_model is None:
                self._keras_model = load_keras_model(self.model_path)
            return self._keras_model

    def predict_views(
        self, batch: np.ndarray, views: Sequence[View] | None = None, *, members: bool = True
    ) -> np.ndarray:
        """Probabilities (N, 7) for a prepared batch (N, 48, 48, 1), averaged over ``views`` (default: config's)
        and, unless ``members=False``, over the ensemble's members."""
        if batch.shape[0] == 0:
            return np.zeros((0, NUM_CLASSES), np.float32)
        views = self.views if views is None else tuple(views)
        expanded = expand_views(np.ascontiguousarray(batch, dtype=np.float32), views)
        probabilities = average_views(self._predict(expanded, members), len(views))
        if self.config.prior_correction:
            probabilities = correct_prior(probabilities, self.config.prior_correction)
        return probabilities.astype(np.float32, copy=False)

    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, 7) for a prepared batch (N, 48, 48, 1) float32 in [0, 1], with the config's views."""
        return self.predict_views(batch)

    def classify_stream(
        self,
        faces: Sequence[np.ndarray] | np.ndarray,
        boxes: Sequence[Box],
        readings: StreamReadings,
        *,
        bgr: bool = False,
    ) -> np.ndarray:
        """Probabilities (N, 7) for the faces of one frame of a followed stream, found at ``boxes``, with the stream
        views spread over the frames by that stream's ``readings`` (``ClassifierConfig.spread_stream_views``)."""
        batch = prepare_faces(faces, bgr=bgr)
        if len(boxes) != batch.shape[0]:
            raise ValueError(f"{len(boxes)} boxes for {batch.shape[0]} faces")
        models = self._models(self.config.stream_members)
        kinds = [(model, view) for model in models for view in self.stream_views]

        def run(passes: ViewPlan) -> np.ndarray:
            out = np.empty((len(passes), NUM_CLASSES), np.float32)
            for model in models:
                rows = [row for row, (_, kind) in enumerate(passes) if kinds[kind][0] is model]
                if rows:
                    pairs = [(passes[row][0], kinds[passes[row][1]][1]) for row in rows]
                    out[rows] = self._run(model, view_pairs(batch, pairs))
            return out

        probabilities = readings.read(boxes, len(kinds), run)
        if self.config.prior_correction:
            probabilities = correct_prior(probabilities, self.config.prior_correction)
        return probabilities.astype(np.float32, copy=False)

    def classify(
        self, faces: Sequence[np.ndarray] | np.ndarray, *, bgr: bool = False, stream: bool = False
    ) -> np.ndarray:
        """Probabilities (N, 7) for face crops of any size, grayscale or colour (shared preprocessing).

        ``stream=True``: the faces come from a video stream and get the config's ``stream_views``, and the
        ensemble's members only when ``stream_members`` is set."""
        batch = prepare_faces(faces, bgr=bgr)
        if stream:
            return self.predict_views(batch, self.stream_views, members=self.config.stream_members)
        return self.predict_views(batch)
