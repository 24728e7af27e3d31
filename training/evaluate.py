"""Evaluate a model on PublicTest and PrivateTest and write the model card and report figures.

``python -m training.evaluate --model models/fer_model.keras --data ../shared/datasets/fer2013.zip --run-dir runs/main``

Metrics (scikit-learn) with and without horizontal-flip test-time augmentation: accuracy, macro-F1 and
per-class precision/recall/F1. Writes ``models/model_card.json`` and PNGs under ``models/reports/``. The
model is run through ``fer_core``'s own classifier, so the numbers are those of the app's inference path: the
int8 copy from ``python -m training.quantize`` when it matches the model (the float32 Keras model's numbers are
then recorded too, as ``metrics_float``), else the Keras model.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.command_line import model_command_parser, recorded_command, reporting_errors

logger = logging.getLogger("training.evaluate")

CARD_VERSION = 1


PROTOCOL = "trained on Training; checkpoint selected and early-stopped on PublicTest; reported on PrivateTest"
SWA_PROTOCOL = (
    "; the last stage's weight average (batch-norm statistics recomputed on Training) replaces its best checkpoint"
    " when it scores at least as well on PublicTest"
)
DISTILL_PROTOCOL = (
    "; stages run with --distill-from learn from a teacher model's view-averaged probabilities on the"
    " Training images (training.distill)"
)


def split_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    from fer_core.labels import EMOTIONS

    predictions = probabilities.argmax(axis=1)
    classes = list(range(len(EMOTIONS)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predictions, labels=classes, zero_division=0
    )
    return {
        "accuracy": round(float(accuracy_score(labels, predictions)), 4),
        "macro_f1": round(float(f1_score(labels, predictions, average="macro", labels=classes, zero_division=0)), 4),
        "count": int(labels.size),
        "per_class": {
            name: {
                "precision": round(float(p), 4),
                "recall": round(float(r), 4),
                "f1": round(float(f), 4),
                "support": int(s),
            }
            for name, p, r, f, s in zip(EMOTIONS, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": confusion_matrix(labels, predictions, labels=classes).tolist(),
    }


def predict_split(
    predictor,
    images: np.ndarray,
    *,
    views: Any = "none",
    flip: bool | None = None,
    batch_size: int = 256,
    members: bool = True,
) -> np.ndarray:
    """Probabilities for uint8 faces (N, 48, 48) through fer_core's shared preprocessing, averaged over ``views``.

    ``predictor``: an :class:`~fer_core.EmotionClassifier` (its ``predict_views``, the app's code path) or anything
    with a single-view ``predict_batch`` (the int8 copy alone). ``flip``: shorthand for ``views="flip"``/``"none"``.
    ``members=False``: a classifier's main model alone, without its ensemble members.
    """
    from fer_core.recognition.preprocessing import prepare_faces
    from fer_core.recognition.views import average_views, expand_views, resolve_views

    view_list = resolve_views(("flip" if flip else "none") if flip is not None else views)
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = prepare_faces(images[start : start + batch_size])
        if hasattr(predictor, "predict_views"):
            outputs.append(predictor.predict_views(batch, view_list, members=members))
        else:
            expanded = predictor.predict_batch(expand_views(batch, view_list))
            outputs.append(average_views(expanded, len(view_list)))
    return np.concatenate(outputs) if outputs else np.zeros((0, 7), np.float32)


def evaluated_views(headline_views: str) -> list[str]:
    """The view sets the card records: none, flip and the headline's (the app's default for photos)."""
    return list(dict.fromkeys(["none", "flip", headline_views]))


def _test_metrics(classifier, splits: dict, headline_views: str) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics on PublicTest and PrivateTest for each recorded view set; PrivateTest's headline probabilities.

    The headline views are measured as the app reads photos (with the ensemble's members, if any); the other view
    sets as it reads video frames (the main model alone unless ``ClassifierConfig.stream_members``)."""
    from fer_core.sessions.model_card import metrics_key

    metrics: dict[str, Any] = {}
    private_probabilities = np.zeros((0, 7), np.float32)
    for split_name in ("PublicTest", "PrivateTest"):
        split = splits[split_name]
        for views in evaluated_views(headline_views):
            members = views == headline_views or classifier.config.stream_members
            probabilities = predict_split(classifier, split.images, views=views, members=members)
            key = metrics_key(split_name, views)
            metrics[key] = split_metrics(split.labels, probabilities)
            logger.info(
                "%s (%s): accuracy %.4f macro-F1 %.4f",
                key,
                classifier.runtime,
                metrics[key]["accuracy"],
                metrics[key]["macro_f1"],
            )
            if split_name == "PrivateTest" and views == headline_views:
                private_probabilities = probabilities
    return metrics, private_probabilities


@dataclass
class TrainingRecord:
    """What the card says about how the model was trained."""

    config: dict[str, Any] = field(default_factory=dict)
    epochs_logged: int = 0
    averaged_accuracy: float | None = None
    """PublicTest accuracy of the last stage's weight average, when it made one."""
    distilled: bool = False
    """Whether a stage learnt from a teacher's probabilities."""
    curves: Path | None = None


def training_record(run_dir: Path, reports_dir: Path) -> TrainingRecord:
    """The training stages behind ``run_dir`` (following ``--init-from`` back), and their curves figure."""
    from training import reports
    from training.stages import combined_log, training_stages

    stages = training_stages(run_dir)
    summaries = [stage.summary() for stage in stages]
    config = dict(stages[-1].config)
    if stages[-1].state:
        config["run_state"] = stages[-1].state
    if len(stages) > 1:
        config["stages"] = summaries
    config["recipe"] = [summary["command"] for summary in summaries]
    log, stage_starts = combined_log(stages)
    averaged = stages[-1].state.get("swa_public_accuracy")
    curves = reports.plot_training_curves(
        log, reports_dir / "training_curves.png", stage_starts=stage_starts, averaged_accuracy=averaged
    )
    return TrainingRecord(
        config=config,
        epochs_logged=len(log.get("accuracy", [])),
        averaged_accuracy=averaged,
        distilled=any(stage.config.get("distill_from") for stage in stages),
        curves=curves,
    )


def _previous_card(card_path: Path, model_sha256: str) -> dict[str, Any]:
    """The card at ``card_path`` when it describes the same model file, else ``{}``."""
    try:
        previous = json.loads(card_path.read_text())
    except (OSError, ValueError):
        return {}
    return previous if isinstance(previous, dict) and previous.get("model_sha256") == model_sha256 else {}


def _training_from_card(previous: dict[str, Any], card_path: Path) -> TrainingRecord:
    """Without ``--run-dir`` (the runs stay on the machine that trained), keep the card's training record."""
    config = previous.get("training") or {}
    if not config:
        return TrainingRecord()
    logger.info("no --run-dir: keeping the training record of %s (same model file)", card_path)
    stages = config.get("stages") or [config]
    curves = (previous.get("reports") or {}).get("training_curves")
    curves_path = card_path.parent / curves if isinstance(curves, str) else None
    return TrainingRecord(
        config=config,
        epochs_logged=int(previous.get("training_epochs_logged", 0)),
        averaged_accuracy=(config.get("run_state") or {}).get("swa_public_accuracy"),
        distilled=any(stage.get("distill_from") for stage in stages),
        curves=curves_path if curves_path is not None and curves_path.is_file() else None,
    )


def _inference_record(classifier, views: str) -> dict[str, Any]:
    """How the card's numbers were computed: views, runtime, ensemble members and the int8 copy's record."""
    from training.data import source_fingerprint

    inference: dict[str, Any] = {
        "views": views,
        "stream_views": classifier.config.stream_views,
        "spread_stream_views": classifier.config.spread_stream_views,
        "flip_tta": views == "flip",
        "runtime": classifier.runtime,
    }
    if classifier.member_paths:
        inference["members"] = [
            {"file": member, "sha256": source_fingerprint(path)}
            for member, path in zip(classifier.members, classifier.member_paths, strict=True)
        ]
        inference["stream_members"] = classifier.config.stream_members
    if classifier.quantized_model is not None:
        inference["quantization"] = classifier.quantized_model.record
    return inference


def _headline_figures(metrics: dict[str, Any], private, probabilities: np.ndarray, views: str, reports_dir: Path):
    """The PrivateTest confusion matrix and misclassified faces of the headline configuration."""
    from fer_core.sessions.model_card import metrics_key, views_label
    from training import reports

    reports_dir.mkdir(parents=True, exist_ok=True)
    suffix = f" ({views_label(views)})" if views != "none" else ""
    headline = metrics[metrics_key("PrivateTest", views)]
    return {
        "confusion_matrix": reports.plot_confusion_matrix(
            np.asarray(headline["confusion_matrix"]),
            reports_dir / "confusion_matrix.png",
            f"PrivateTest confusion matrix{suffix}, accuracy {headline['accuracy']:.2%}",
        ),
        "misclassified": reports.plot_misclassified(
            private.images,
            private.labels,
            probabilities.argmax(1),
            probabilities.max(1),
            reports_dir / "misclassified.png",
        ),
    }


def evaluate(
    model_path: Path,
    data: Path,
    *,
    run_dir: Path | None,
    card_path: Path,
    reports_dir: Path,
    views: str = "none",
    command: str = "",
    cache_dir: Path | None = None,
    classifier_config: Any = None,
) -> dict[str, Any]:
    """Evaluate ``model_path``; write the card and reports; return the card.

    ``classifier_config``: a :class:`~fer_core.ClassifierConfig` (default: the app's, ensemble members included)."""
    import dataclasses

    from fer_core.recognition.classifier import ClassifierConfig, EmotionClassifier
    from training.data import load_fer2013, source_fingerprint

    splits = load_fer2013(data, **({"cache_dir": cache_dir} if cache_dir else {}))
    empty = [name for name in ("PublicTest", "PrivateTest") if not len(splits[name])]
    if empty:
        raise ValueError(
            f"{data} has no {' or '.join(empty)} faces (a training.data_pack pack holds Training and PublicTest "
            "only): evaluate with the full FER2013 zip"
        )
    config = classifier_config or ClassifierConfig()
    classifier = EmotionClassifier(model_path, config)  # the app's runtime: the int8 copy when it matches, else float
    metrics, private_probabilities = _test_metrics(classifier, splits, views)
    float_metrics = None
    if classifier.quantized_model is not None:
        as_float = EmotionClassifier(model_path, dataclasses.replace(config, runtime="float"))
        float_metrics, _ = _test_metrics(as_float, splits, views)
    figures = _headline_figures(metrics, splits["PrivateTest"], private_probabilities, views, reports_dir)
    model_sha256 = source_fingerprint(model_path)
    previous = _previous_card(card_path, model_sha256)
    record = training_record(run_dir, reports_dir) if run_dir is not None else _training_from_card(previous, card_path)
    if record.curves is not None:
        figures["training_curves"] = record.curves
    card = _card(classifier, model_sha256, data, splits, record, metrics, float_metrics, views)
    card.update(
        reports={
            name: str(path.relative_to(card_path.parent)) if path.is_relative_to(card_path.parent) else str(path)
            for name, path in figures.items()
        },
        evaluation_command=command,
        evaluated_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **({"real_photos": previous["real_photos"]} if "real_photos" in previous else {}),
    )
    card_path.parent.mkdir(parents=True, exist_ok=True)
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    logger.info("wrote %s and %s", card_path, ", ".join(str(p) for p in figures.values()))
    return card


def _card(
    classifier, model_sha256: str, data: Path, splits: dict, record: TrainingRecord, metrics, float_metrics, views
):
    """The card's fields that do not depend on where the figures went."""
    from fer_core.labels import EMOTIONS
    from fer_core.recognition.preprocessing import INPUT_SIZE, PREPROCESSING_DESCRIPTION
    from fer_core.sessions.model_card import metrics_key
    from training.data import source_fingerprint

    headline = metrics[metrics_key("PrivateTest", views)]
    return {
        "card_version": CARD_VERSION,
        "model_file": classifier.model_path.name,
        "model_sha256": model_sha256,
        "classes": list(EMOTIONS),
        "input_shape": [INPUT_SIZE, INPUT_SIZE, 1],
        "preprocessing": PREPROCESSING_DESCRIPTION + " (fer_core.recognition.preprocessing.prepare_faces)",
        "params": int(classifier.model.count_params()),
        "architecture": classifier.model.name,
        "inference": _inference_record(classifier, views),
        "training": record.config,
        "training_epochs_logged": record.epochs_logged,
        "data": {
            "source": data.name,
            "sha256": source_fingerprint(data),
            "counts": {name: len(split) for name, split in splits.items()},
        },
        "protocol": PROTOCOL
        + (SWA_PROTOCOL if record.averaged_accuracy is not None else "")
        + (DISTILL_PROTOCOL if record.distilled else ""),
        "headline": {
            "split": "PrivateTest",
            "views": views,
            "flip_tta": views == "flip",
            "runtime": classifier.runtime,
            "accuracy": headline["accuracy"],
            "macro_f1": headline["macro_f1"],
        },
        "metrics": metrics,
        **({"metrics_float": float_metrics} if float_metrics is not None else {}),
    }


def main(argv: list[str] | None = None) -> int:
    from fer_core.recognition.classifier import DEFAULT_VIEWS
    from fer_core.recognition.views import view_set_option

    parser = model_command_parser("training.evaluate", __doc__ or "")
    parser.add_argument("--run-dir", default=None, help="training run folder (config.json, log.csv) for the card")
    parser.add_argument("--card", default="models/model_card.json")
    parser.add_argument("--reports", default="models/reports")
    parser.add_argument(
        "--views",
        type=view_set_option,
        default=DEFAULT_VIEWS,
        help=f"test-time views of the headline numbers (default {DEFAULT_VIEWS!r}, the app's for photos)",
    )
    parser.add_argument("--flip-tta", action="store_true", help="older spelling of --views flip")
    args = parser.parse_args(argv)
    card = reporting_errors(
        lambda: evaluate(
            Path(args.model),
            Path(args.data),
            run_dir=Path(args.run_dir) if args.run_dir else None,
            card_path=Path(args.card),
            reports_dir=Path(args.reports),
            views="flip" if args.flip_tta else args.views,
            command=recorded_command("training.evaluate", argv),
        ),
        logger,
    )
    if card is None:
        return 2
    headline = card["headline"]
    print(
        f"PrivateTest accuracy {headline['accuracy']:.2%}, macro-F1 {headline['macro_f1']:.2%} "
        f"(views: {headline['views']}, runtime {headline['runtime']}); card: {args.card}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
