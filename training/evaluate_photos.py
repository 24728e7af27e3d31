"""Evaluate the full pipeline on real photos: ``python -m training.evaluate_photos --data DIR``.

``DIR`` holds photos and a ``labels.csv`` with the columns ``file`` and ``emotion`` (one of the seven FER2013
classes; other columns are ignored). Every photo goes through what the app does with an upload: Haar detection,
crop, the classifier in the app's default configuration (its runtime and photo views); the largest face is
scored, and a photo where no face is found counts as wrong. Prints accuracy, macro-F1, per-class recall, the
faces not found, a confusion matrix and, with ``--group-by`` (:mod:`training.photo_groups`), the accuracy per
group of faces (e.g. per person), and (with ``--card``, the default) writes them into the model card under
``real_photos.<name>``, where the Model page shows them.

KDEF (``../shared/datasets/kdef/build_kdef.py``) is the first such set. Its terms allow research use only:
evaluate on it locally, never train on it, never commit its photos.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from fer_core.measure.photo_sets import LabelledPhoto, PhotoSetError, read_labels
from training.command_line import recorded_command, reporting_errors
from training.photo_groups import GroupSpec, describe_groups, group_keys, group_metrics

logger = logging.getLogger("training.evaluate_photos")

NO_FACE = -1
"""The prediction recorded for a photo in which no face was found."""


def predict_photos(recognizer, photos: list[LabelledPhoto]) -> np.ndarray:
    """(N, 7) probabilities of the largest face of each photo; a row of NaN where no face was found."""
    from fer_core.recognition.image_io import load_image

    rows = np.full((len(photos), 7), np.nan, np.float32)
    for index, photo in enumerate(photos):
        image = load_image(photo.path.read_bytes(), name=photo.path.name)
        faces = recognizer.analyze(image)
        if faces:
            rows[index] = faces[0].probabilities
    return rows


def photo_predictions(probabilities: np.ndarray) -> np.ndarray:
    """The class read from each photo, :data:`NO_FACE` where no face was found (a row of NaN)."""
    found = ~np.isnan(probabilities).any(axis=1)
    return np.where(found, np.nan_to_num(probabilities).argmax(axis=1), NO_FACE)


def photo_confusion(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """7 x 8 counts: rows the true class, columns the class read, the last column the photos without a face."""
    classes = probabilities.shape[1]
    predictions = photo_predictions(probabilities)
    columns = np.where(predictions == NO_FACE, classes, predictions)
    cells = np.bincount(labels * (classes + 1) + columns, minlength=classes * (classes + 1))
    return cells.reshape(classes, classes + 1)


def class_recall_f1(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recall and F1 per class of a :func:`photo_confusion` matrix (a photo without a face is a miss), 0 where
    undefined, as scikit-learn's ``zero_division=0``."""
    classes = confusion.shape[0]
    hits = np.diag(confusion[:, :classes]).astype(float)
    support, read = confusion.sum(axis=1), confusion[:, :classes].sum(axis=0)
    recall = np.divide(hits, support, out=np.zeros(classes), where=support > 0)
    precision = np.divide(hits, read, out=np.zeros(classes), where=read > 0)
    total = precision + recall
    return recall, np.divide(2 * precision * recall, total, out=np.zeros(classes), where=total > 0)


def photo_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class recall over all photos (no face = wrong); a 7 x 8 confusion matrix whose
    last column counts the photos without a face."""
    from fer_core.labels import EMOTIONS

    confusion = photo_confusion(labels, probabilities)
    recall, f1 = class_recall_f1(confusion)
    return {
        "accuracy": round(float(np.trace(confusion[:, : len(EMOTIONS)]) / labels.size), 4),
        "macro_f1": round(float(f1.mean()), 4),
        "count": int(labels.size),
        "faces_not_found": int(confusion[:, -1].sum()),
        "recall": {name: round(float(recall[index]), 4) for index, name in enumerate(EMOTIONS)},
        "confusion_matrix": confusion.tolist(),
        "confusion_columns": [*EMOTIONS, "no face"],
    }


def evaluate_photos(
    folder: Path,
    *,
    model_path: Path | None = None,
    views: str | None = None,
    prior_correction: float = 0.0,
    crop_margin: float | None = None,
    members: tuple[str, ...] | None = None,
    group_by: tuple[GroupSpec, ...] = (),
) -> dict[str, Any]:
    """Run the app's photo pipeline on every labelled photo of ``folder``; return the metrics and the settings.

    ``views`` / ``prior_correction`` / ``crop_margin`` / ``members`` (ensemble members, relative to the model's
    folder; ``()``: the model alone): other settings than the default configuration (the model's own ensemble
    file, if any), to compare. ``group_by``: also the accuracy per group of faces, under ``groups``."""
    from fer_core.recognition.classifier import ClassifierConfig
    from fer_core.recognition.quantized_model import file_sha256
    from fer_core.recognition.recognizer import EmotionRecognizer, RecognizerConfig

    photos = read_labels(folder)
    keys = {spec.name: group_keys(spec, [photo.columns for photo in photos]) for spec in group_by}
    settings: dict[str, Any] = {"prior_correction": prior_correction}
    if views is not None:
        settings["views"] = views
    if members is not None:
        settings["members"] = tuple(members)
    config = RecognizerConfig(classifier=ClassifierConfig(**settings))
    if crop_margin is not None:
        config = RecognizerConfig(config.detector, config.classifier, crop_margin)
    recognizer = EmotionRecognizer(model_path, config)
    labels = np.array([photo.label for photo in photos])
    probabilities = predict_photos(recognizer, photos)
    metrics = photo_metrics(labels, probabilities)
    if keys:
        predictions = photo_predictions(probabilities)
        metrics["groups"] = {name: group_metrics(labels, predictions, values) for name, values in keys.items()}
    return {
        **metrics,
        "views": recognizer.classifier.config.views_name,
        "prior_correction": prior_correction,
        "crop_margin": recognizer.config.crop_margin,
        "members": list(recognizer.classifier.members),
        "runtime": recognizer.classifier.runtime,
        "model_sha256": file_sha256(recognizer.model_path),
        "evaluated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write_to_card(card_path: Path, name: str, result: dict[str, Any]) -> None:
    """Put ``result`` under ``real_photos.<name>`` of the card (replacing an older one), atomically."""
    if not card_path.is_file():
        raise PhotoSetError(f"no model card at {card_path}: run python -m training.evaluate first")
    card = json.loads(card_path.read_text())
    if card.get("model_sha256") and card["model_sha256"] != result["model_sha256"]:
        raise PhotoSetError(f"{card_path} describes another model file; re-run python -m training.evaluate first")
    card.setdefault("real_photos", {})[name] = result
    scratch = card_path.with_suffix(".json.tmp")
    scratch.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(scratch, card_path)


def format_report(name: str, result: dict[str, Any]) -> str:
    from fer_core.labels import EMOTIONS

    lines = [
        f"{name}: {result['count']} photos, accuracy {result['accuracy']:.2%}, macro-F1 {result['macro_f1']:.2%}, "
        f"faces not found {result['faces_not_found']} (views {result['views']}, runtime {result['runtime']})",
        "recall: " + ", ".join(f"{emotion} {result['recall'][emotion]:.0%}" for emotion in EMOTIONS),
        "confusion (rows: true; columns: " + ", ".join(result["confusion_columns"]) + ")",
    ]
    for emotion, row in zip(EMOTIONS, result["confusion_matrix"], strict=True):
        lines.append(f"  {emotion:9s}" + "".join(f"{count:5d}" for count in row))
    for name, groups in result.get("groups", {}).items():
        lines.append(f"accuracy by {name}: {describe_groups(groups)}")
    return "\n".join(lines)


def _parser():
    import argparse

    from fer_core.recognition.views import view_set_option

    parser = argparse.ArgumentParser(prog="python -m training.evaluate_photos", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with the photos and labels.csv (file,emotion)")
    parser.add_argument("--name", default=None, help="the set's name in the card (default: the folder's name)")
    parser.add_argument("--model", default=None, help="a .keras model (default: the shipped one)")
    parser.add_argument(
        "--views",
        type=view_set_option,
        default=None,
        help="default: the app's photo views; a view-set name, or views written out (face,facem,r6,r6m)",
    )
    parser.add_argument("--prior-correction", type=float, default=0.0, metavar="T", help="default 0 (off)")
    parser.add_argument("--crop-margin", type=float, default=None, help="default: the app's (RecognizerConfig)")
    parser.add_argument(
        "--members",
        nargs="*",
        default=None,
        help="ensemble members, relative to the model's folder (default: the model's own ensemble file, if any; "
        "--members alone: the model alone)",
    )
    parser.add_argument(
        "--group-by",
        action="append",
        default=[],
        metavar="COLUMN[:N]",
        help="also the accuracy per group of faces, by a column of labels.csv (:N: its first N characters; "
        "KDEF: person, or person:1 for women and men); repeatable",
    )
    parser.add_argument("--card", default="models/model_card.json", help="model card to write the result into")
    parser.add_argument("--no-card", action="store_true", help="print only; do not write the card")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = _parser().parse_args(argv)
    folder = Path(args.data)
    name = args.name or folder.resolve().name
    result = reporting_errors(
        lambda: evaluate_photos(
            folder,
            model_path=Path(args.model) if args.model else None,
            views=args.views,
            prior_correction=args.prior_correction,
            crop_margin=args.crop_margin,
            members=None if args.members is None else tuple(args.members),
            group_by=tuple(GroupSpec.parse(text) for text in args.group_by),  # a GroupSpecError is a ValueError
        ),
        logger,
    )
    if result is None:
        return 2
    result["command"] = recorded_command("training.evaluate_photos", argv)
    print(format_report(name, result))
    if not args.no_card:
        try:
            write_to_card(Path(args.card), name, result)
        except PhotoSetError as error:
            logger.error("%s", error)
            return 2
        logger.info("wrote real_photos.%s into %s", name, args.card)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
