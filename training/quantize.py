"""Make the int8 copy of a Keras emotion model that the app runs, and check it on PublicTest.

``python -m training.quantize --model models/fer_model.keras --data ../shared/datasets/fer2013.zip``

The model's batch norms are folded into its convolutions, then TensorFlow Lite quantizes weights (per channel)
and activations to int8, calibrated on Training faces and their mirror images. The int8 copy is kept only if
its PublicTest accuracy, with flip TTA, is at most ``--max-public-drop`` points below the float model's
(PrivateTest is never read here). Writes ``fer_model.int8.tflite`` and its record ``fer_model.int8.json``
(the Keras file's SHA-256, the calibration, the PublicTest comparison) next to the model; ``fer_core`` then
runs the int8 copy while it matches the Keras file.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from training.command_line import model_command_parser, recorded_command, reporting_errors

logger = logging.getLogger("training.quantize")

QUANTIZED_FORMAT = (
    "TensorFlow Lite: int8 weights (per output channel) and activations, float32 input and output; "
    "batch norms folded into the convolutions first"
)


class QuantizationRefused(RuntimeError):
    """The int8 copy loses more PublicTest accuracy than allowed; nothing was written."""


def calibration_faces(images: np.ndarray, *, count: int, seed: int) -> np.ndarray:
    """``count`` faces drawn (seeded, without replacement) from uint8 ``images``, prepared, plus their mirrors."""
    from fer_core.recognition.preprocessing import prepare_faces

    if count < 1:
        raise ValueError(f"calibration count must be >= 1, not {count}")
    if len(images) == 0:
        raise ValueError("no images to calibrate on")
    chosen = np.random.default_rng(seed).choice(len(images), size=min(count, len(images)), replace=False)
    faces = prepare_faces(images[np.sort(chosen)])
    return np.concatenate([faces, faces[:, :, ::-1, :]])


def convert_to_int8(model: Any, calibration: np.ndarray) -> bytes:
    """The TFLite int8 flatbuffer of a Keras model (batch norms folded), calibrated on prepared faces."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from fer_core.recognition.batch_norm_folding import fold_batch_norm

    folded, _ = fold_batch_norm(model)
    forward = tf.function(
        lambda x: folded(x, training=False),
        input_signature=[tf.TensorSpec((None, *calibration.shape[1:]), tf.float32)],
        autograph=False,
    )
    frozen = convert_variables_to_constants_v2(forward.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]

    def representative() -> Any:
        for index in range(len(calibration)):
            yield [calibration[index : index + 1]]

    converter.representative_dataset = representative
    with warnings.catch_warnings():  # "Statistics for quantized inputs were expected": the input stays float32
        warnings.simplefilter("ignore", UserWarning)
        return converter.convert()


def _accuracies(predictor: Any, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from training.evaluate import predict_split, split_metrics

    scores = {}
    for flip in (False, True):
        probabilities = predict_split(predictor, images, flip=flip)
        scores[f"accuracy{'_flip_tta' if flip else ''}"] = split_metrics(labels, probabilities)["accuracy"]
    return scores


def quantize(
    model_path: Path,
    data: Path,
    *,
    calibration_count: int = 500,
    seed: int = 0,
    max_public_drop: float = 0.3,
    command: str = "",
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Write ``model_path``'s int8 copy and record if PublicTest allows; return the record."""
    from fer_core.recognition.classifier import ClassifierConfig, EmotionClassifier
    from fer_core.recognition.quantized_model import QuantizedModel, file_sha256, quantized_paths
    from training.data import load_fer2013

    classifier = EmotionClassifier(model_path, ClassifierConfig(runtime="float"))  # imports TF safely, checks shapes
    splits = load_fer2013(data, **({"cache_dir": cache_dir} if cache_dir else {}))
    calibration = calibration_faces(splits["Training"].images, count=calibration_count, seed=seed)
    logger.info("calibrating on %d Training faces and their mirrors", len(calibration) // 2)
    content = convert_to_int8(classifier.model, calibration)
    public = splits["PublicTest"]
    quantized_path, record_path = quantized_paths(model_path)
    with tempfile.TemporaryDirectory() as scratch:
        candidate = Path(scratch) / quantized_path.name
        candidate.write_bytes(content)
        scores = {
            "float": _accuracies(classifier, public.images, public.labels),
            "int8": _accuracies(QuantizedModel(candidate), public.images, public.labels),
        }
        drop = 100 * (scores["float"]["accuracy_flip_tta"] - scores["int8"]["accuracy_flip_tta"])
        logger.info("PublicTest float %s, int8 %s", scores["float"], scores["int8"])
        if drop > max_public_drop:
            raise QuantizationRefused(
                f"the int8 copy scores {drop:.2f} points below the float model on PublicTest with flip TTA "
                f"(allowed: {max_public_drop}); nothing written"
            )
        record = {
            "source_file": model_path.name,
            "source_sha256": file_sha256(model_path),
            "quantized_file": quantized_path.name,
            "quantized_sha256": file_sha256(candidate),
            "format": QUANTIZED_FORMAT,
            "calibration": {"split": "Training", "faces": len(calibration) // 2, "mirrored": True, "seed": seed},
            "public_test": {**scores, "max_drop_points": max_public_drop},
            "command": command,
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
    write_int8_copy(quantized_path, content, record_path, record)
    logger.info("wrote %s (%d bytes) and %s", quantized_path, len(content), record_path)
    return record


def _staged(target: Path, data: bytes) -> Path:
    """``data`` written and synced to a new temporary file next to ``target`` (same folder: same file system)."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    staged = Path(name)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        # mkstemp makes the file private (0600): give it the mode of the file it replaces, or an ordinary one
        os.chmod(staged, target.stat().st_mode & 0o777 if target.exists() else 0o644)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return staged


def write_int8_copy(quantized_path: Path, content: bytes, record_path: Path, record: dict[str, Any]) -> None:
    """Replace the int8 copy and its record so that no crash leaves a pair that runs the wrong file.

    Both new files are written in full to temporary files in the same folder first: a failure there leaves the
    old pair untouched. Then each replaces its file with ``os.replace`` (atomic), the ``.tflite`` first and the
    record last. A crash between the two leaves the new ``.tflite`` with the old record, whose
    ``quantized_sha256`` no longer matches it, so ``fer_core`` refuses that copy (and runs the float model)
    until this command runs again; it never runs a copy its record does not name.
    """
    staged: list[Path] = []
    try:
        staged.append(_staged(quantized_path, content))
        staged.append(_staged(record_path, (json.dumps(record, indent=2) + "\n").encode()))
        os.replace(staged[0], quantized_path)
        os.replace(staged[1], record_path)
    finally:
        for path in staged:
            path.unlink(missing_ok=True)  # only left when something failed


def main(argv: list[str] | None = None) -> int:
    parser = model_command_parser("training.quantize", __doc__ or "")
    parser.add_argument("--calibration-count", type=int, default=500, help="Training faces to calibrate on")
    parser.add_argument("--seed", type=int, default=0, help="which Training faces calibrate")
    parser.add_argument(
        "--max-public-drop",
        type=float,
        default=0.3,
        help="largest PublicTest accuracy loss (points, flip TTA) the int8 copy may have",
    )
    args = parser.parse_args(argv)
    command = recorded_command("training.quantize", argv)
    record = reporting_errors(
        lambda: quantize(
            Path(args.model),
            Path(args.data),
            calibration_count=args.calibration_count,
            seed=args.seed,
            max_public_drop=args.max_public_drop,
            command=command,
        ),
        logger,
    )
    if record is None:
        return 2
    scores = record["public_test"]
    print(
        f"PublicTest accuracy with flip TTA: float {scores['float']['accuracy_flip_tta']:.2%}, "
        f"int8 {scores['int8']['accuracy_flip_tta']:.2%}; wrote {record['quantized_file']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
