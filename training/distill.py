"""Knowledge distillation targets: a teacher model's view-averaged probabilities mixed with the labels.

The shipped model is most accurate with test-time views (the average of a face's probabilities over shifted,
zoomed and mirrored copies, :mod:`fer_core.recognition.views`), which costs a forward pass per view.
``python -m training.train --distill-from T --distill-views multi`` trains a student towards those averaged
probabilities instead, so that fewer passes learn what many gave. The views are made by the same functions as at
inference.
The teacher runs once, on the un-augmented Training images, before training; each augmented view of an image
keeps its image's target. Each teacher model's probabilities are cached under ``cache_dir`` (the decoded data's
folder when training), keyed by the model file's bytes, the views and the images, so a resumed or repeated run
does not pay for them again (three models with the ``rotate`` views: about half an hour on a 2-core CPU).
The teacher may be an ensemble (``--distill-from a.keras,b.keras``): its probabilities are the mean of its
members' view-averaged probabilities, as ``ClassifierConfig.members`` averages them in the app.
With temperature 1, the cross-entropy against ``weight * teacher + (1 - weight) *
one_hot`` is the usual distillation loss ``weight * CE(teacher) + (1 - weight) * CE(labels)``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


def view_averaged_probabilities(model, images: np.ndarray, views: str = "flip", batch_size: int = 256) -> np.ndarray:
    """The model's probabilities (N, classes), averaged over the named test-time views of each image (N, H, W, 1)."""
    from fer_core.recognition.views import average_views, expand_views, resolve_views

    view_list = resolve_views(views)
    outputs = []
    for start in range(0, len(images), batch_size):
        expanded = expand_views(np.ascontiguousarray(images[start : start + batch_size], np.float32), view_list)
        predicted = model.predict(expanded, batch_size=batch_size * len(view_list), verbose=0).astype(np.float64)
        outputs.append(average_views(predicted, len(view_list)))
    return np.concatenate(outputs).astype(np.float32)


def mirror_averaged_probabilities(model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The model's probabilities (N, classes), averaged over each image (N, H, W, 1) and its mirror image."""
    return view_averaged_probabilities(model, images, "flip", batch_size)


def teacher_paths(text: str) -> list[Path]:
    """``"a.keras,b.keras"`` -> the teacher's member paths (``--distill-from``); ValueError when none is named."""
    paths = [Path(part.strip()) for part in text.split(",") if part.strip()]
    if not paths:
        raise ValueError("--distill-from names no model file")
    return paths


def load_teacher(path: Path, images: np.ndarray, classes: int):
    """One teacher model (an existing file: :func:`distillation_targets` checks them all first), checked to map
    ``images`` to ``classes`` probabilities; ValueError otherwise."""
    import keras

    teacher = keras.models.load_model(path, compile=False)
    if tuple(teacher.input_shape[1:]) != tuple(images.shape[1:]) or teacher.output_shape[-1] != classes:
        raise ValueError(
            f"--distill-from: {path} maps {teacher.input_shape} to {teacher.output_shape}, "
            f"not images {images.shape[1:]} to {classes} classes"
        )
    return teacher


def images_fingerprint(images: np.ndarray) -> str:
    """A digest of an image array's shape, type and values (one part of a teacher cache file's name)."""
    digest = hashlib.sha256(f"{images.shape}/{images.dtype}".encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    return digest.hexdigest()


def teacher_cache_file(cache_dir: Path, model_path: Path, views: str, images_digest: str) -> Path:
    """Where one teacher model's view-averaged probabilities are cached: a name that changes with the model file's
    bytes, the views and the images (``images_digest``, :func:`images_fingerprint`)."""
    from fer_core.recognition.quantized_model import file_sha256

    digest = hashlib.sha256()
    for part in (file_sha256(model_path), views, images_digest):
        digest.update(part.encode() + b"\0")
    return Path(cache_dir) / f"teacher-{digest.hexdigest()[:24]}.npy"


def _teacher_probabilities(path: Path, images: np.ndarray, classes: int, views: str, cache_file: Path | None):
    """One teacher model's view-averaged probabilities (N, classes): read from ``cache_file`` when it holds them,
    else computed (and written there when it is given). The model file is known to exist."""
    if cache_file is not None and cache_file.is_file():
        cached = np.load(cache_file, allow_pickle=False)
        if cached.shape == (len(images), classes):
            logger.info("teacher %s (%s views): probabilities from %s", path, views, cache_file)
            return cached
        logger.warning("ignoring %s: shape %s, not %s", cache_file, cached.shape, (len(images), classes))
    probabilities = view_averaged_probabilities(load_teacher(path, images, classes), images, views)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        partial = cache_file.with_name(f"{cache_file.stem}.{os.getpid()}.tmp.npy")
        np.save(partial, probabilities)
        partial.replace(cache_file)
        logger.info("teacher %s (%s views): probabilities cached in %s", path, views, cache_file)
    return probabilities


def distillation_targets(
    teacher: Path | Sequence[Path],
    images: np.ndarray,
    one_hot: np.ndarray,
    weight: float,
    views: str = "flip",
    cache_dir: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """``weight`` x the teacher's view-averaged probabilities + ``1 - weight`` x the one-hot labels.

    ``teacher`` is one model file or several (an ensemble, whose probabilities are its members' mean); each one's
    probabilities are cached in ``cache_dir`` when it is given (:func:`teacher_cache_file`).
    ValueError when a teacher file is missing, does not fit the images and classes, or ``weight`` is
    outside [0, 1].
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"--distill-weight must be between 0 and 1, got {weight}")
    paths = [teacher] if isinstance(teacher, (str, Path)) else list(teacher)
    if not paths:
        raise ValueError("--distill-from names no model file")
    paths = [Path(path) for path in paths]
    for path in paths:  # every file is checked before the first (slow) teacher runs
        if not path.is_file():
            raise ValueError(f"--distill-from: no such model file: {path}")
    if cache_dir is None:
        cache_files = [None] * len(paths)
    else:
        images_digest = images_fingerprint(images)  # once: the images are the same for every teacher
        cache_files = [teacher_cache_file(Path(cache_dir), path, views, images_digest) for path in paths]
    probabilities = np.mean(
        [
            _teacher_probabilities(path, images, one_hot.shape[1], views, cache_file)
            for path, cache_file in zip(paths, cache_files, strict=True)
        ],
        axis=0,
    )
    agreement = float(np.mean(probabilities.argmax(axis=1) == one_hot.argmax(axis=1)))
    names = ", ".join(str(path) for path in paths)
    logger.info("teacher %s agrees with %.1f%% of the Training labels", names, 100 * agreement)
    return (weight * probabilities + (1.0 - weight) * one_hot).astype(np.float32)
