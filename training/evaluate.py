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
    "; stages run with --distill-from learn from a teacher model's mirror-averaged probabilities on the"
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


def predict_split(classifier, images: np.ndarray, *, flip: bool, batch_size: int = 512) -> np.ndarray:
    """Probabilities for uint8 faces (N, 48, 48) through fer_core's shared preprocessing."""
    from fer_core.recognition.preprocessing import prepare_faces

    outputs = []
    for start in range(0, len(images), batch_size):
        batch = prepare_faces(images[start : start + batch_size])
        probabilities = classifier.predict_batch(batch)
        if flip:
            probabilities = (probabilities + classifier.predict_batch(batch[:, :, ::-1, :].copy())) / 2.0
        outputs.append(probabilities)
    return np.concatenate(outputs) if outputs else np.zeros((0, 7), np.float32)


def _test_metrics(classifier, splits: dict, default_flip_tta: bool) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics on PublicTest and PrivateTest, with and without flip TTA; PrivateTest's headline probabilities."""
    metrics: dict[str, Any] = {}
    private_probabilities = np.zeros((0, 7), np.float32)
    for split_name in ("PublicTest", "PrivateTest"):
        split = splits[split_name]
        for flip in (False, True):
            probabilities = predict_split(classifier, split.images, flip=flip)
            key = f"{split_name}{'_flip_tta' if flip else ''}"
            metrics[key] = split_metrics(split.labels, probabilities)
            logger.info(
                "%s (%s): accuracy %.4f macro-F1 %.4f",
                key,
                classifier.runtime,
                metrics[key]["accuracy"],
                metrics[key]["macro_f1"],
            )
            if split_name == "PrivateTest" and flip == default_flip_tta:
                private_probabilities = probabilities
    return metrics, private_probabilities


def evaluate(
    model_path: Path,
    data: Path,
    *,
    run_dir: Path | None,
    card_path: Path,
    reports_dir: Path,
    default_flip_tta: bool = False,
    command: str = "",
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Evaluate ``model_path``; write the card and reports; return the card."""
    from fer_core.labels import EMOTIONS
    from fer_core.recognition.classifier import ClassifierConfig, EmotionClassifier
    from fer_core.recognition.preprocessing import INPUT_SIZE, PREPROCESSING_DESCRIPTION
    from training import reports
    from training.data import load_fer2013, source_fingerprint
    from training.stages import combined_log, training_stages

    classifier = EmotionClassifier(model_path)  # the app's runtime: the int8 copy when it matches, else float32
    splits = load_fer2013(data, **({"cache_dir": cache_dir} if cache_dir else {}))
    metrics, private_probabilities = _test_metrics(classifier, splits, default_flip_tta)
    inference: dict[str, Any] = {"flip_tta": default_flip_tta, "runtime": classifier.runtime}
    float_metrics = None
    if classifier.quantized_model is not None:
        inference["quantization"] = classifier.quantized_model.record
        float_metrics, _ = _test_metrics(
            EmotionClassifier(model_path, ClassifierConfig(runtime="float")), splits, default_flip_tta
        )

    reports_dir.mkdir(parents=True, exist_ok=True)
    suffix = " (flip TTA)" if default_flip_tta else ""
    private = splits["PrivateTest"]
    headline_key = "PrivateTest_flip_tta" if default_flip_tta else "PrivateTest"
    figures = {
        "confusion_matrix": reports.plot_confusion_matrix(
            np.asarray(metrics[headline_key]["confusion_matrix"]),
            reports_dir / "confusion_matrix.png",
            f"PrivateTest confusion matrix{suffix}, accuracy {metrics[headline_key]['accuracy']:.2%}",
        ),
        "misclassified": reports.plot_misclassified(
            private.images,
            private.labels,
            private_probabilities.argmax(1),
            private_probabilities.max(1),
            reports_dir / "misclassified.png",
        ),
    }
    training_config: dict[str, Any] = {}
    log: dict[str, list[float]] = {}
    averaged_accuracy = None  # PublicTest accuracy of the last stage's weight average, when it made one
    distilled = False  # whether a stage learnt from a teacher's probabilities
    if run_dir is not None:
        stages = training_stages(run_dir)
        summaries = [stage.summary() for stage in stages]
        training_config = dict(stages[-1].config)
        if stages[-1].state:
            training_config["run_state"] = stages[-1].state
        if len(stages) > 1:
            training_config["stages"] = summaries
        training_config["recipe"] = [summary["command"] for summary in summaries]
        log, stage_starts = combined_log(stages)
        averaged_accuracy = stages[-1].state.get("swa_public_accuracy")
        distilled = any(stage.config.get("distill_from") for stage in stages)
        curves = reports.plot_training_curves(
            log, reports_dir / "training_curves.png", stage_starts=stage_starts, averaged_accuracy=averaged_accuracy
        )
        if curves is not None:
            figures["training_curves"] = curves

    card = {
        "card_version": CARD_VERSION,
        "model_file": model_path.name,
        "model_sha256": source_fingerprint(model_path),
        "classes": list(EMOTIONS),
        "input_shape": [INPUT_SIZE, INPUT_SIZE, 1],
        "preprocessing": PREPROCESSING_DESCRIPTION + " (fer_core.recognition.preprocessing.prepare_faces)",
        "params": int(classifier.model.count_params()),
        "architecture": classifier.model.name,
        "inference": inference,
        "training": training_config,
        "training_epochs_logged": len(log.get("accuracy", [])),
        "data": {
            "source": data.name,
            "sha256": source_fingerprint(data),
            "counts": {name: len(split) for name, split in splits.items()},
        },
        "protocol": PROTOCOL
        + (SWA_PROTOCOL if averaged_accuracy is not None else "")
        + (DISTILL_PROTOCOL if distilled else ""),
        "headline": {
            "split": "PrivateTest",
            "flip_tta": default_flip_tta,
            "runtime": classifier.runtime,
            "accuracy": metrics[headline_key]["accuracy"],
            "macro_f1": metrics[headline_key]["macro_f1"],
        },
        "metrics": metrics,
        **({"metrics_float": float_metrics} if float_metrics is not None else {}),
        "reports": {
            name: str(path.relative_to(card_path.parent)) if path.is_relative_to(card_path.parent) else str(path)
            for name, path in figures.items()
        },
        "evaluation_command": command,
        "evaluated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    card_path.parent.mkdir(parents=True, exist_ok=True)
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    logger.info("wrote %s and %s", card_path, ", ".join(str(p) for p in figures.values()))
    return card


def main(argv: list[str] | None = None) -> int:
    parser = model_command_parser("training.evaluate", __doc__ or "")
    parser.add_argument("--run-dir", default=None, help="training run folder (config.json, log.csv) for the card")
    parser.add_argument("--card", default="models/model_card.json")
    parser.add_argument("--reports", default="models/reports")
    parser.add_argument("--flip-tta", action="store_true", help="headline numbers use flip test-time augmentation")
    args = parser.parse_args(argv)
    card = reporting_errors(
        lambda: evaluate(
            Path(args.model),
            Path(args.data),
            run_dir=Path(args.run_dir) if args.run_dir else None,
            card_path=Path(args.card),
            reports_dir=Path(args.reports),
            default_flip_tta=args.flip_tta,
            command=recorded_command("training.evaluate", argv),
        ),
        logger,
    )
    if card is None:
        return 2
    headline = card["headline"]
    print(
        f"PrivateTest accuracy {headline['accuracy']:.2%}, macro-F1 {headline['macro_f1']:.2%} "
        f"(flip TTA: {headline['flip_tta']}); card: {args.card}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
