"""Command line: ``python -m fer_core predict|video|bench|loadtest`` (also installed as ``fer-core``).

Exit codes: 0 success; 1 ``predict`` could read none of its images; 2 the model or the video cannot be loaded
(message on stderr) or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from fer_core.labels import EMOTIONS
from fer_core.mood.affect import affect
from fer_core.recognition.classifier import DEFAULT_STREAM_VIEWS, DEFAULT_VIEWS, RUNTIMES
from fer_core.recognition.image_io import SUPPORTED_FORMATS
from fer_core.recognition.views import view_set_option

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_ALL_FAILED, EXIT_LOAD_ERROR = 0, 1, 2

PREDICT_EPILOG = """\
output: a table per image, or with --json one JSON list (one object per file, in argument order):
  [{"file": "a.jpg", "faces": [{"box": [x, y, w, h], "emotion": "happy", "confidence": 0.91,
    "probabilities": {"angry": ..., ..., "neutral": ...}}], "error": null}, ...]
  Faces are listed largest first. A file that cannot be read gets "faces": [] and "error": "<why>".
exit code: 0 if at least one file was read (even with zero faces), 1 if none was, 2 if the model cannot be loaded.
"""

VIDEO_EPILOG = f"""\
CSV columns: frame, time_s, face, x, y, w, h, emotion, confidence, {", ".join(EMOTIONS)}, valence, arousal.
  One row per face per analysed frame (face = 0 for the largest). A frame with no face gets one row with
  frame and time_s filled in and every other field empty. time_s = frame / the video's frame rate.
  valence (unpleasant -1 .. +1 pleasant) and arousal (calm -1 .. +1 activated) are the row's probabilities
  mapped onto the circumplex (fer_core.mood.affect), not smoothed over time.
exit code: 0 on success, 2 if the video (or the model) cannot be read.
"""

CSV_COLUMNS: tuple[str, ...] = (
    "frame", "time_s", "face", "x", "y", "w", "h", "emotion", "confidence", *EMOTIONS, "valence", "arousal",
)  # fmt: skip


class VideoReadError(ValueError):
    """The video file is missing or no frame of it can be decoded."""


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", type=Path, default=None, help="a .keras model (default: models/fer_model.keras or $FER_MODEL_PATH)"
    )
    parser.add_argument(
        "--views",
        type=view_set_option,
        default=None,
        help=f"test-time views averaged per face (default: the app's, {DEFAULT_VIEWS!r} for photos and "
        f"{DEFAULT_STREAM_VIEWS!r} for video frames)",
    )
    parser.add_argument(
        "--prior-correction",
        type=float,
        default=0.0,
        metavar="T",
        help="divide by FER2013's training prior to the power T (0-1; 0, the default: off; 0.25 helps rare classes)",
    )
    parser.add_argument(
        "--threads",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="threads for the model: the int8 runtime's and TensorFlow's intra-op pool "
        "(0, the default: one for the int8 copy, all cores for the float model)",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="auto",
        help="the model's int8 copy or the float32 Keras model (auto: int8 when the copy matches the model)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fer_core", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    predict = commands.add_parser(
        "predict", help="read the emotions of the faces in images", epilog=PREDICT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    predict.add_argument("images", nargs="+", metavar="IMAGE", help=f"image files ({', '.join(SUPPORTED_FORMATS)})")
    predict.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    _add_model_options(predict)

    video = commands.add_parser(
        "video", help="read the emotions in a video file, frame by frame, into a CSV", epilog=VIDEO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    video.add_argument("video", metavar="FILE", type=Path, help="any video OpenCV can decode (mp4, avi, mkv, ...)")
    video.add_argument("--csv", required=True, type=Path, metavar="OUT.csv", help="where to write the rows")
    video.add_argument("--every", type=_positive_int, default=1, metavar="N", help="analyse every Nth frame (1)")
    video.add_argument(
        "--max-frames",
        type=_positive_int,
        default=None,
        metavar="N",
        help="stop after analysing N frames (default: the whole video)",
    )
    _add_model_options(video)

    from fer_core.measure import bench

    bench_parser = commands.add_parser(
        "bench", help="time detection, classification and the whole pipeline on real images",
        description=bench.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    bench.add_arguments(bench_parser)

    from fer_core.measure import loadtest

    loadtest_parser = commands.add_parser(
        "loadtest", help="stream N headless Chromium viewers to the live page and report fps, lag, server CPU",
        description=loadtest.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    loadtest.add_arguments(loadtest_parser)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _recognizer(args: argparse.Namespace):
    from fer_core.recognition.classifier import ClassifierConfig
    from fer_core.recognition.recognizer import EmotionRecognizer, RecognizerConfig

    # --threads N sizes both pools: the int8 runtime's (the default one) and TensorFlow's (the float model's)
    threads = {"intra_op_threads": args.threads, "int8_threads": args.threads} if args.threads else {}
    views = {"views": args.views, "stream_views": args.views} if args.views else {}
    classifier = ClassifierConfig(runtime=args.runtime, prior_correction=args.prior_correction, **views, **threads)
    config = RecognizerConfig(classifier=classifier)
    recognizer = EmotionRecognizer(args.model, config)
    # -v reports which copy of the model really runs (``auto`` resolves to int8 or float); tests/test_cli.py reads it
    logger.info("model %s: runtime %s", recognizer.model_path, recognizer.classifier.runtime)
    int8 = recognizer.classifier.quantized_model
    if int8 is not None:
        logger.info("threads: int8 runtime %d", int8.threads)
    else:
        import tensorflow as tf  # already loaded by the float model

        intra_op = tf.config.threading.get_intra_op_parallelism_threads()
        logger.info("threads: TensorFlow intra-op %s", intra_op or "default (all cores)")
    return recognizer


def predict_files(recognizer, paths: Sequence[str]) -> list[dict[str, Any]]:
    """One record per path: ``{"file", "faces": [FaceResult.to_dict()...], "error": None | message}``."""
    from fer_core.recognition.image_io import ImageLoadError, load_image

    records: list[dict[str, Any]] = []
    for path in paths:
        try:
            image = load_image(path)
        except ImageLoadError as error:
            records.append({"file": str(path), "faces": [], "error": str(error)})
            continue
        faces = recognizer.analyze(image)
        records.append({"file": str(path), "faces": [face.to_dict() for face in faces], "error": None})
    return records


def format_predictions(records: Sequence[dict[str, Any]]) -> str:
    """A readable table per file."""
    short = [name[:7] for name in EMOTIONS]
    lines = []
    for record in records:
        if record["error"]:
            lines.append(f"{record['file']}: ERROR {record['error']}")
            continue
        faces = record["faces"]
        lines.append(f"{record['file']}: {len(faces)} face{'' if len(faces) == 1 else 's'}")
        if not faces:
            continue
        header = " ".join(f"{name:>7}" for name in short)
        lines.append(f"  {'#':>2}  {'box x,y,w,h':<19} {'emotion':<8} {'conf':>5}  {header}")
        for index, face in enumerate(faces, 1):
            box = ",".join(str(v) for v in face["box"])
            probabilities = " ".join(f"{face['probabilities'][name]:>7.3f}" for name in EMOTIONS)
            lines.append(f"  {index:>2}  {box:<19} {face['emotion']:<8} {face['confidence']:>5.2f}  {probabilities}")
    return "\n".join(lines)


def run_predict(args: argparse.Namespace, out: TextIO) -> int:
    recognizer = _recognizer(args)
    records = predict_files(recognizer, args.images)
    if args.json:
        json.dump(records, out, indent=2)
        out.write("\n")
    else:
        out.write(format_predictions(records) + "\n")
    failed = sum(1 for record in records if record["error"])
    if failed:
        logger.info("%d of %d files could not be read", failed, len(records))
    return EXIT_ALL_FAILED if failed == len(records) else EXIT_OK


def analyze_video(
    recognizer, path: Path, csv_file: TextIO, *, every: int = 1, max_frames: int | None = None
) -> dict[str, int]:
    """Write :data:`CSV_COLUMNS` rows for every ``every``-th frame of ``path``; return counts.

    Raises :class:`VideoReadError` if the file is missing or not even its first frame decodes.
    """
    import cv2

    if not path.is_file():
        raise VideoReadError(f"{path}: no such file.")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoReadError(f"{path} is not a video OpenCV can open.")
        fps = capture.get(cv2.CAP_PROP_FPS)
        fps = fps if fps and math.isfinite(fps) and fps > 0 else 0.0
        writer = csv.writer(csv_file)
        writer.writerow(CSV_COLUMNS)
        counts = {"frames_read": 0, "frames_analysed": 0, "frames_with_faces": 0, "faces": 0}
        index = -1
        while max_frames is None or counts["frames_analysed"] < max_frames:
            index += 1
            if not capture.grab():
                break
            counts["frames_read"] += 1
            if index % every:
                continue
            ok, frame = capture.retrieve()
            if not ok or frame is None:
                break
            faces = recognizer.analyze(frame, bgr=True, stream=True)
            counts["frames_analysed"] += 1
            time_s = f"{index / fps:.3f}" if fps else ""
            if not faces:
                writer.writerow([index, time_s] + [""] * (len(CSV_COLUMNS) - 2))
                continue
            counts["frames_with_faces"] += 1
            counts["faces"] += len(faces)
            for number, face in enumerate(faces):
                point = affect(face.probabilities)
                writer.writerow(
                    [index, time_s, number, *face.box, face.emotion, f"{face.confidence:.6f}"]
                    + [f"{p:.6f}" for p in face.probabilities]
                    + [f"{point.valence:.6f}", f"{point.arousal:.6f}"]
                )
    finally:
        capture.release()
    if counts["frames_analysed"] == 0:
        raise VideoReadError(f"no frame of {path} could be decoded (is it a video file?).")
    return counts


def probe_video(path: Path) -> None:
    """Raise :class:`VideoReadError` unless ``path`` opens and its first frame decodes (cheap; before the model)."""
    import cv2

    if not path.is_file():
        raise VideoReadError(f"{path}: no such file.")
    capture = cv2.VideoCapture(str(path))
    try:
        ok = capture.isOpened() and capture.read()[0]
    finally:
        capture.release()
    if not ok:
        raise VideoReadError(f"{path} is not a video OpenCV can decode (is it a video file?).")


def run_video(args: argparse.Namespace, out: TextIO) -> int:
    probe_video(args.video)
    recognizer = _recognizer(args)
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    try:
        with args.csv.open("w", newline="", encoding="utf-8") as csv_file:
            counts = analyze_video(recognizer, args.video, csv_file, every=args.every, max_frames=args.max_frames)
    except VideoReadError:
        args.csv.unlink(missing_ok=True)
        raise
    out.write(
        f"{args.video}: analysed {counts['frames_analysed']} of {counts['frames_read']} frames read, "
        f"{counts['frames_with_faces']} with faces ({counts['faces']} faces) -> {args.csv}\n"
    )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    from fer_core.recognition.classifier import ModelLoadError

    try:
        if args.command == "predict":
            return run_predict(args, sys.stdout)
        if args.command == "video":
            return run_video(args, sys.stdout)
        if args.command == "loadtest":
            from fer_core.measure import loadtest

            return loadtest.run_command(args, sys.stdout)
        from fer_core.measure import bench

        return bench.run_command(args, sys.stdout)
    except (ModelLoadError, VideoReadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_LOAD_ERROR
