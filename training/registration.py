"""How the app's face crops differ from FER2013's own registration: ``python -m training.registration``.

FER2013's faces were cut and registered by the data set's authors; in the app, a face is what the Haar detector
(and ``RecognizerConfig.crop_margin``) hands over. To see the difference, each FER2013 face is put back into a
larger picture (upscaled 4x onto a canvas of its own mean grey, so the detector meets it at a webcam-like size),
detected and cropped exactly as ``EmotionRecognizer.analyze`` does, and the crop is expressed in the face's own
48x48 frame:

* ``scale``: the crop's side over the frame's (1.0: the same framing; 1.2: the crop shows 20% more around the face);
* ``dx``, ``dy``: the crop's centre minus the frame's, as a fraction of the frame's side (positive: right, down).

Their spread is the jitter the classifier meets in the app beyond what it was trained on, so the command also
prints the ``--augment zoom=...,shift=...`` that covers 90% of it (``training.train --augment``). Tilt is not
measured: FER2013 has no landmarks to measure it against, and training rotates by up to 10 degrees already.
Reads PublicTest (never PrivateTest); ``--check`` re-measures and compares with the saved JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from fer_core.recognition.detector import DetectorConfig, FaceDetector
from fer_core.recognition.recognizer import RecognizerConfig, crop_box

logger = logging.getLogger(__name__)

UPSCALE = 4
"""FER2013's 48 px faces become 192 px: a face at arm's length from a 640x480 webcam."""
CANVAS = 480
DEFAULT_OUT = Path("docs/registration.json")


@dataclass(frozen=True)
class Framing:
    """Where the app's crop of one face lies in that face's FER2013 frame (see the module's docstring)."""

    scale: float
    dx: float
    dy: float


def place_on_canvas(face: np.ndarray, offset: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The face upscaled onto a ``CANVAS`` square of its mean grey; returns it and the frame ``(x, y, side)``.

    ``offset`` moves the face from the canvas centre by that many canvas pixels (x, y)."""
    if face.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale face, got shape {face.shape}")
    side = face.shape[0] * UPSCALE
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((CANVAS, CANVAS), int(face.mean()), np.uint8)
    x, y = (CANVAS - side) // 2 + offset[0], (CANVAS - side) // 2 + offset[1]
    if min(x, y) < 0 or max(x, y) + side > CANVAS:
        raise ValueError(f"offset {offset} moves the face off the {CANVAS} px canvas")
    canvas[y : y + side, x : x + side] = big
    return canvas, (x, y, side)


def framing_of(
    face: np.ndarray, detector: FaceDetector, crop_margin: float, offset: tuple[int, int] = (0, 0)
) -> Framing | None:
    """The app's crop of ``face`` in its own frame, or ``None`` when the detector does not find it."""
    canvas, (frame_x, frame_y, side) = place_on_canvas(face, offset)
    boxes = detector.detect(canvas)
    if not boxes:
        return None
    x, y, w, h = crop_box(boxes[0], crop_margin)
    return Framing(
        scale=round(float(np.sqrt(w * h)) / side, 4),
        dx=round((x + w / 2 - (frame_x + side / 2)) / side, 4),
        dy=round((y + h / 2 - (frame_y + side / 2)) / side, 4),
    )


def summarise(framings: list[Framing | None]) -> dict:
    """Found share, percentiles of scale/dx/dy, and the ``--augment`` that covers their 5th-95th percentiles."""
    found = [f for f in framings if f is not None]
    if not found:
        raise ValueError("the detector found none of the faces")
    summary: dict = {"faces": len(framings), "found": len(found), "found_share": round(len(found) / len(framings), 4)}
    for name in ("scale", "dx", "dy"):
        values = np.array([getattr(f, name) for f in found])
        p5, p50, p95 = np.percentile(values, [5, 50, 95])
        summary[name] = {
            "mean": round(float(values.mean()), 4),
            "sd": round(float(values.std()), 4),
            "p5": round(float(p5), 4),
            "median": round(float(p50), 4),
            "p95": round(float(p95), 4),
        }
    scale = summary["scale"]
    # Around the median framing (the crop margin's job), the spread the classifier must tolerate.
    zoom = max(scale["median"] - scale["p5"], scale["p95"] - scale["median"]) / scale["median"]
    shift = max(abs(summary[axis][bound] - summary[axis]["median"]) for axis in ("dx", "dy") for bound in ("p5", "p95"))
    summary["augment"] = f"zoom={zoom:.2f},shift={shift:.2f}"
    return summary


def measure(faces: np.ndarray, detector_config: DetectorConfig, crop_margin: float) -> dict:
    detector = FaceDetector(detector_config)
    return summarise([framing_of(face, detector, crop_margin) for face in faces])


def public_test_sample(data: str, count: int, seed: int) -> np.ndarray:
    """``count`` PublicTest faces drawn with ``seed`` (the selection split; PrivateTest is never read here)."""
    from training.data import load_fer2013

    public = load_fer2013(data)["PublicTest"]
    chosen = np.random.default_rng(seed).choice(len(public), size=min(count, len(public)), replace=False)
    return public.images[np.sort(chosen)]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m training.registration", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/fer2013.zip")
    parser.add_argument("--count", type=int, default=1000, help="PublicTest faces to measure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="re-measure and compare with --out instead of writing")
    args = parser.parse_args(argv)
    margin = RecognizerConfig().crop_margin
    summary = {
        "command": "python -m training.registration" + (f" --count {args.count}" if args.count != 1000 else ""),
        "crop_margin": margin,
        "detector": asdict(DetectorConfig()),
        **measure(public_test_sample(args.data, args.count, args.seed), DetectorConfig(), margin),
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "detector"}, indent=1))
    if args.check:
        saved = json.loads(args.out.read_text()) if args.out.exists() else None
        if saved != summary:
            print(f"{args.out} is out of date: run python -m training.registration", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    logger.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
