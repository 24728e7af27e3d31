"""Do spread stream views read moving real faces as well as every view each frame? Labelled photos as short clips.

Each photo of a labelled folder (``labels.csv``: ``file,emotion``; KDEF is the one this project uses) is fitted
into a 640x480 frame, and a camera pans and zooms over it for ``frames`` frames
(:class:`~fer_core.measure.tracking_eval.CameraMotion`), so the face moves as a person's in front of a webcam does.
Every clip goes through the live page's path (a face tracker, the stream views), four ways:

- ``spread``: the stream views spread over the frames, one a frame (``ClassifierConfig.spread_stream_views``, the
  app's default);
- ``every view``: every stream view in every frame (the app before);
- ``face alone``: the face without its mirror image, one pass a frame, nothing averaged;
- ``spread, ensemble``: the photo ensemble's models (``models/fer_model.ensemble.json``) and the stream views, every
  pair of a model and a view spread over the frames (``stream_members=True``): still one pass a frame.

For each way it prints the share of frames whose largest face is read as labelled (no face found counts as wrong),
each class's recall, the model passes per face and frame, and the time per frame::

    python -m fer_core.measure.stream_views_eval --data ../kdef
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from fer_core.labels import EMOTIONS
from fer_core.measure.photo_sets import read_labels
from fer_core.measure.sample_frames import SampleFrame, letterboxed
from fer_core.measure.timing import summarize_ms
from fer_core.measure.tracking_eval import CameraMotion, moving_clip
from fer_core.recognition.classifier import ClassifierConfig
from fer_core.recognition.recognizer import EmotionRecognizer, RecognizerConfig

FRAME_SIZE = (640, 480)
DEFAULT_MOTION = CameraMotion(frames=10, shift_px=24.0, zoom=0.1, period_frames=20.0)
"""Ten frames (a third of a second at 30 fps) in which the face moves up to 24 px and grows or shrinks up to 7%."""

WAYS: dict[str, ClassifierConfig] = {
    "spread": ClassifierConfig(members=(), spread_stream_views=True),
    "every view": ClassifierConfig(members=(), spread_stream_views=False),
    "face alone": ClassifierConfig(members=(), stream_views="none"),
    "spread, ensemble": ClassifierConfig(stream_members=True, spread_stream_views=True),
}
"""The ways a stream's faces are read (the module's docstring)."""


def read_photos(folder: Path, limit: int = 0) -> list[tuple[str, int, np.ndarray]]:
    """``(file, label index, 640x480 RGB frame)`` for each photo of ``folder`` (:func:`read_labels`; the first
    ``limit``)."""
    from fer_core.recognition.image_io import load_image

    photos = read_labels(folder)[: limit or None]
    frames = []
    for photo in photos:
        frame = letterboxed(SampleFrame(photo.path.name, load_image(photo.path), ()), FRAME_SIZE)
        frames.append((photo.path.name, photo.label, frame.image))
    return frames


def read_clips(
    recognizer: EmotionRecognizer, photos: Sequence[tuple[str, int, np.ndarray]], motion: CameraMotion
) -> dict[str, Any]:
    """Run every photo's clip through ``recognizer`` as a stream; accuracy, recall, passes and time per frame."""
    correct = np.zeros(len(EMOTIONS), np.int64)
    total = np.zeros(len(EMOTIONS), np.int64)
    faces = 0
    times: list[float] = []
    before = recognizer.classifier.faces_run
    for name, label, image in photos:
        tracker = recognizer.new_tracker()
        for frame, _ in moving_clip(SampleFrame(name, image, ()), motion):
            started = time.perf_counter()
            found = recognizer.analyze(frame, tracker=tracker)
            times.append(time.perf_counter() - started)
            faces += len(found)
            total[label] += 1
            correct[label] += bool(found) and found[0].emotion == EMOTIONS[label]
    recall = {name: round(float(c / t), 4) for name, c, t in zip(EMOTIONS, correct, total, strict=True) if t}
    return {
        "frames": int(total.sum()),
        "accuracy": round(float(correct.sum() / max(total.sum(), 1)), 4),
        "recall": recall,
        "passes_per_face": round((recognizer.classifier.faces_run - before) / max(faces, 1), 3),
        "frame_ms": summarize_ms(times),
    }


def evaluate_ways(
    folder: Path,
    *,
    model_path: str | Path | None = None,
    motion: CameraMotion = DEFAULT_MOTION,
    limit: int = 0,
    ways: Sequence[str] = tuple(WAYS),
) -> dict[str, Any]:
    """Every way of :data:`WAYS` (or those named) on the photos of ``folder`` as moving clips."""
    unknown = [way for way in ways if way not in WAYS]
    if unknown:
        raise ValueError(f"unknown ways {unknown}: choose from {', '.join(WAYS)}")
    photos = read_photos(folder, limit)
    results = {}
    for way in ways:
        recognizer = EmotionRecognizer(model_path, RecognizerConfig(classifier=WAYS[way]))
        results[way] = read_clips(recognizer, photos, motion)
    return {
        "data": str(folder),
        "photos": len(photos),
        "motion": {"frames": motion.frames, "shift_px": motion.shift_px, "zoom": motion.zoom},
        "ways": results,
    }


def format_results(results: dict[str, Any]) -> str:
    """The report as text: one line a way, then each class's recall."""
    motion = results["motion"]
    lines = [
        f"{results['photos']} photos of {results['data']} as clips of {motion['frames']} frames (pan up to "
        f"{motion['shift_px']:g} px, zoom up to {motion['zoom']:g}), the live page's path",
        f"{'way':<17} {'accuracy':>9} {'passes/face':>12} {'ms/frame':>9}  "
        + " ".join(f"{emotion[:7]:>7}" for emotion in EMOTIONS),
    ]
    for way, row in results["ways"].items():
        recall = " ".join(f"{row['recall'].get(e, float('nan')):>7.1%}" for e in EMOTIONS)
        lines.append(
            f"{way:<17} {row['accuracy']:>9.2%} {row['passes_per_face']:>12.2f} {row['frame_ms']['median']:>9.1f}  "
            + recall
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a folder with labels.csv (file,emotion), e.g. KDEF")
    parser.add_argument("--model", default=None, help="the .keras model (default: the shipped one)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N photos (0: all)")
    parser.add_argument("--ways", nargs="+", default=list(WAYS), help=f"some of: {', '.join(WAYS)}")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    try:
        results = evaluate_ways(args.data, model_path=args.model, limit=args.limit, ways=args.ways)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_results(results), file=out)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
