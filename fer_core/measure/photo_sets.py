"""Labelled photo folders: photos and a ``labels.csv`` with the columns ``file`` and ``emotion``.

KDEF (``../shared/datasets/kdef/build_kdef.py``) is the first such set; ``training.evaluate_photos`` scores the
photo pipeline on one, :mod:`fer_core.measure.stream_views_eval` the stream path. :func:`read_labels` checks the
folder once for both: known emotions, files present inside the folder.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fer_core.labels import EMOTIONS


class PhotoSetError(ValueError):
    """The photo folder or its labels.csv cannot be used; the message says why."""


@dataclass(frozen=True)
class LabelledPhoto:
    path: Path
    label: int
    columns: Mapping[str, str] = field(default_factory=dict)
    """Every column of the photo's line in labels.csv (``--group-by`` reads them)."""


def read_labels(folder: Path) -> list[LabelledPhoto]:
    """The photos listed in ``folder/labels.csv`` (file, emotion), checked: known emotions, files present."""
    labels_path = folder / "labels.csv"
    if not labels_path.is_file():
        raise PhotoSetError(f"{folder} has no labels.csv (columns: file,emotion)")
    with labels_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"file", "emotion"} <= set(reader.fieldnames):
            raise PhotoSetError(f"{labels_path} needs the columns file and emotion, has {reader.fieldnames}")
        rows = list(reader)
    photos = []
    for line, row in enumerate(rows, start=2):
        emotion = (row["emotion"] or "").strip().lower()
        if emotion not in EMOTIONS:
            raise PhotoSetError(f"{labels_path} line {line}: unknown emotion {row['emotion']!r}")
        path = (folder / row["file"]).resolve()
        if not path.is_relative_to(folder.resolve()) or not path.is_file():
            raise PhotoSetError(f"{labels_path} line {line}: no photo {row['file']!r} in {folder}")
        photos.append(LabelledPhoto(path, EMOTIONS.index(emotion), dict(row)))
    if not photos:
        raise PhotoSetError(f"{labels_path} lists no photos")
    return photos
