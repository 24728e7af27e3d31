"""Each model's probabilities for every test-time view of a set of faces, computed once and cached on disk.

fer_core's classifier averages an ensemble over every (model, view) pair, with equal weights, so once each model's
outputs for each view are known, any choice of models and of a view set can be scored without running a model
again (:mod:`training.ensemble_search`). The faces: FER2013's PublicTest (PrivateTest is never read here), or the
largest face of each photo of a labelled folder (``labels.csv``, as ``training.evaluate_photos`` reads it), cut as
the app cuts an upload. Each model runs as the app runs it (its int8 copy where that matches).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_core.recognition.views import VIEW_SETS, View, resolve_views, view_key

logger = logging.getLogger("training.member_outputs")

ALL_VIEWS: tuple[View, ...] = tuple(dict.fromkeys(view for views in VIEW_SETS.values() for view in views))
"""Every named set's views, each once: the views computed by default (a search over written-out lists computes
only the views it asks for, :func:`views_needed`)."""


def views_needed(view_sets: Sequence[str]) -> tuple[View, ...]:
    """Every view that the view sets (names or written lists) hold, each once, in order; ValueError for a set that
    cannot be read."""
    return tuple(dict.fromkeys(view for views in view_sets for view in resolve_views(views)))


def view_indices(views: str, among: Sequence[View] = ALL_VIEWS) -> list[int]:
    """Where a view set's views (a name or a written list) lie in ``among``; ValueError for an unknown name, or
    for a view that ``among`` lacks."""
    resolved, position = resolve_views(views), {view: index for index, view in enumerate(among)}
    missing = [view_key(view) for view in resolved if view not in position]
    if missing:
        raise ValueError(f"views {', '.join(missing)} of {views!r} were not computed")
    return [position[view] for view in resolved]


@dataclass(frozen=True)
class FaceSet:
    """Labelled 48x48 faces; for photos, ``found`` is False where no face was detected (that row is blank)."""

    name: str
    faces: np.ndarray
    """(N, 48, 48) uint8, before fer_core's preprocessing."""
    labels: np.ndarray
    found: np.ndarray

    def __post_init__(self) -> None:
        if not len(self.faces) == len(self.labels) == len(self.found):
            raise ValueError(f"{self.name}: faces, labels and found differ in length")

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for array in (self.faces, self.labels.astype(np.int64), self.found):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]


def public_test_faces(data: Path) -> FaceSet:
    """FER2013's PublicTest, the selection split."""
    from training.data import load_fer2013

    public = load_fer2013(data)["PublicTest"]
    return FaceSet("PublicTest", public.images, np.asarray(public.labels), np.ones(len(public.labels), bool))


def photo_faces(folder: Path, name: str = "") -> FaceSet:
    """The largest face of each labelled photo in ``folder``, found and cut by the app's default detector and crop."""
    from fer_core.recognition.image_io import load_image
    from fer_core.recognition.recognizer import EmotionRecognizer
    from training.evaluate_photos import read_labels

    photos = read_labels(folder)
    recognizer = EmotionRecognizer()
    faces = np.zeros((len(photos), 48, 48), np.uint8)
    found = np.zeros(len(photos), bool)
    for index, photo in enumerate(photos):
        boxes, crops = recognizer.face_crops(load_image(photo.path.read_bytes(), name=photo.path.name))
        if boxes:
            faces[index], found[index] = crops[0], True
    labels = np.array([photo.label for photo in photos])
    logger.info("%s: %d photos, a face in %d", folder, len(photos), int(found.sum()))
    return FaceSet(name or folder.name, faces, labels, found)


def _model_key(model: Path) -> str:
    from fer_core.recognition.quantized_model import file_sha256

    parts = [file_sha256(model)]
    int8_copy = model.with_suffix(".int8.tflite")
    if int8_copy.is_file():
        parts.append(file_sha256(int8_copy))
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:16]


def compute_view_outputs(
    model: Path, face_set: FaceSet, views: tuple[View, ...] = ALL_VIEWS, batch_size: int = 256
) -> np.ndarray:
    """(views, N, 7) probabilities of ``model`` alone for each of ``views``; NaN where no face was found."""
    from fer_core.recognition.classifier import ClassifierConfig, EmotionClassifier
    from fer_core.recognition.preprocessing import prepare_faces

    classifier = EmotionClassifier(model, ClassifierConfig(members=()))
    outputs = np.full((len(views), len(face_set.faces), 7), np.nan, np.float32)
    rows = np.flatnonzero(face_set.found)
    for start in range(0, len(rows), batch_size):
        chosen = rows[start : start + batch_size]
        batch = prepare_faces(face_set.faces[chosen])
        for index, view in enumerate(views):
            outputs[index, chosen] = classifier.predict_views(batch, (view,), members=False)
    logger.info(
        "%s on %s (%s): %d faces, %d views", model.name, face_set.name, classifier.runtime, len(rows), len(views)
    )
    return outputs


def view_outputs(
    model: Path, face_set: FaceSet, cache: Path | None = None, views: Sequence[View] = ALL_VIEWS
) -> np.ndarray:
    """(views, N, 7) outputs of ``model`` for each of ``views`` (:func:`compute_view_outputs`). With a
    ``cache`` folder, each view's outputs are kept there per model file (and its int8 copy) and face set, so only
    views not yet run are computed."""
    if not model.is_file():
        raise ValueError(f"no model file at {model}")
    if cache is None:
        return compute_view_outputs(model, face_set, tuple(views))
    stem = cache / f"{face_set.name}-{face_set.fingerprint}-{model.stem}-{_model_key(model)}"
    paths = [stem.with_name(f"{stem.name}-{view_key(view)}.npy") for view in views]
    outputs = [np.load(path) if path.is_file() else None for path in paths]
    missing = [index for index, array in enumerate(outputs) if array is None or array.shape != (len(face_set.faces), 7)]
    if missing:
        computed = compute_view_outputs(model, face_set, tuple(views[index] for index in missing))
        cache.mkdir(parents=True, exist_ok=True)
        for index, array in zip(missing, computed, strict=True):
            np.save(paths[index], array)
            outputs[index] = array
    logger.info(
        "%s on %s: %d views cached, %d computed", model.name, face_set.name, len(paths) - len(missing), len(missing)
    )
    return np.stack(outputs)
