"""Measure face-detector configurations on real photos: faces found, false positives, time per image.

Run ``python -m fer_core.measure.detector_eval`` (prints a Markdown table; ``--help`` for options). The images:

* faces: ``skimage.data.astronaut()`` as is, darkened and at low contrast; the astronaut on a 640x480 canvas;
  three astronaut heads on a 640x480 photo; and every FER2013 fixture face (``tests/fixtures/fer2013_tiny``, 98
  real 48x48 faces) pasted on 640x480 canvases (grey, coffee, brick, grass backgrounds) at sides 60-200 px;
* no faces: scikit-image's other photos (coffee, chelsea the cat, rocket, coins, moon, ...) and their mirror
  images, plus a blank and a noise image.

A detection matches a true face when their IoU is at least ``--iou`` (0.4); anything else (a second box on the same
face included) is a false positive. Needs scikit-image.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from fer_core.measure.baseline import NaiveHaarDetector
from fer_core.measure.sample_frames import ASTRONAUT_FACE, FRAME_SIZE, one_face_frame, paste, three_face_frame
from fer_core.recognition.detector import Box, DetectorConfig, FaceDetector, box_iou
from fer_core.recognition.preprocessing import to_gray

logger = logging.getLogger(__name__)

DEFAULT_FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "fer2013_tiny"
FACE_SIDES: tuple[int, ...] = (60, 80, 100, 130, 160, 200)
NEGATIVE_PHOTOS: tuple[str, ...] = (
    "coffee", "chelsea", "rocket", "coins", "moon", "immunohistochemistry", "page", "text", "brick", "grass",
    "gravel", "hubble_deep_field", "retina", "clock", "colorwheel", "cell",
)  # fmt: skip
"""scikit-image photos with no human face (``camera``, the cameraman in profile, is left out: it is ambiguous)."""


@dataclass(frozen=True)
class Sample:
    """One grayscale image and its true face boxes; ``group`` labels the rows of the table."""

    name: str
    gray: np.ndarray
    faces: tuple[Box, ...]
    group: str


@dataclass
class Score:
    """Counts and timings of one configuration over a set of samples."""

    found: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    false_on_faces: int = 0
    """False positives on the images that hold faces (background hits, second boxes)."""
    false_on_negatives: int = 0
    negative_images_with_false: int = 0
    false_images: dict[str, int] = field(default_factory=dict)
    """False positives by image name, for the photos (the FER2013 canvases are only counted)."""
    seconds: list[float] = field(default_factory=list)
    frame_seconds: list[float] = field(default_factory=list)
    """Times on the 640x480 images only."""

    def recall(self, group: str | None = None) -> tuple[int, int]:
        if group is None:
            return sum(self.found.values()), sum(self.total.values())
        return self.found.get(group, 0), self.total.get(group, 0)


def load_fixture_faces(root: Path = DEFAULT_FIXTURES) -> list[np.ndarray]:
    """The FER2013 fixture faces (48x48 grayscale), in a fixed order."""
    files = sorted(root.rglob("*.jpg"))
    faces = [cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) for path in files]
    return [face for face in faces if face is not None]


def _backgrounds() -> list[tuple[str, np.ndarray]]:
    import skimage.data

    width, height = FRAME_SIZE
    return [
        ("grey", np.full((height, width), 128, np.uint8)),
        ("coffee", cv2.resize(to_gray(skimage.data.coffee()), FRAME_SIZE, interpolation=cv2.INTER_AREA)),
        ("brick", cv2.resize(skimage.data.brick(), FRAME_SIZE, interpolation=cv2.INTER_AREA)),
        ("grass", cv2.resize(skimage.data.grass(), FRAME_SIZE, interpolation=cv2.INTER_AREA)),
    ]


def pasted_face_canvases(faces: Sequence[np.ndarray], sides: Sequence[int] = FACE_SIDES) -> list[Sample]:
    """Every face pasted once at every side, several per 640x480 canvas on a grid with a deterministic jitter."""
    width, height = FRAME_SIZE
    backgrounds = _backgrounds()
    rng = np.random.default_rng(0)
    samples: list[Sample] = []
    for side in sides:
        cell = side + side // 2
        slots = [(col * cell, row * cell) for row in range(height // cell) for col in range(width // cell)][:6]
        for start in range(0, len(faces), len(slots)):
            name, background = backgrounds[len(samples) % len(backgrounds)]
            canvas = background.copy()
            boxes = []
            for (x, y), face in zip(slots, faces[start : start + len(slots)], strict=False):
                jx, jy = (int(v) for v in rng.integers(0, cell - side + 1, size=2))
                resized = cv2.resize(face, (side, side), interpolation=cv2.INTER_LINEAR)
                boxes.append(paste(canvas, resized, x + jx, y + jy))
            samples.append(Sample(f"fer{side}_{start}_{name}", canvas, tuple(boxes), f"FER2013 faces, {side} px"))
    return samples


def astronaut_samples() -> list[Sample]:
    """The astronaut photo as is, darkened, at low contrast, on a 640x480 canvas; three heads on a photo."""
    import skimage.data

    gray = to_gray(skimage.data.astronaut())
    dim = (gray.astype(np.float32) * 0.3).astype(np.uint8)
    flat = (96 + gray.astype(np.float32) * 0.25).astype(np.uint8)
    group = "astronaut photos"
    one, three = one_face_frame(), three_face_frame()
    return [
        Sample("astronaut", gray, (ASTRONAUT_FACE,), group),
        Sample("astronaut_dim", dim, (ASTRONAUT_FACE,), group),
        Sample("astronaut_low_contrast", flat, (ASTRONAUT_FACE,), group),
        Sample(one.name, to_gray(one.image), one.faces, group),
        Sample(three.name, to_gray(three.image), three.faces, group),
    ]


def negative_samples(names: Sequence[str] = NEGATIVE_PHOTOS) -> list[Sample]:
    """Photos without faces, each also mirrored, plus a blank and a noise image (640x480)."""
    import skimage.data

    samples: list[Sample] = []
    for name in names:
        gray = to_gray(getattr(skimage.data, name)())
        samples.append(Sample(name, gray, (), "no-face photos"))
        samples.append(Sample(name + "_mirrored", np.ascontiguousarray(gray[:, ::-1]), (), "no-face photos"))
    width, height = FRAME_SIZE
    noise = np.random.default_rng(0).integers(0, 256, (height, width), dtype=np.uint8)
    samples.append(Sample("blank", np.full((height, width), 128, np.uint8), (), "no-face photos"))
    samples.append(Sample("noise", noise, (), "no-face photos"))
    return samples


def default_configurations() -> dict[str, Callable[[np.ndarray], list[Box]]]:
    """The configurations compared in docs/detector.md, by name."""

    def ours(**changes) -> Callable[[np.ndarray], list[Box]]:
        return FaceDetector(DetectorConfig(**changes)).detect

    old = {"equalize": True, "scale_factor": 1.15}
    return {
        "naive full-res, sf 1.1, mn 3": NaiveHaarDetector(1.1, 3).detect,
        "naive full-res, sf 1.1, mn 5": NaiveHaarDetector(1.1, 5).detect,
        "old default: 320 px, sf 1.15, mn 5, equalise, alt2 verify": ours(**old),
        "old default without verification": ours(**old, verify_cascade=None),
        "320 px, sf 1.15, mn 5, no equalise, alt2 verify": ours(equalize=False, scale_factor=1.15),
        "320 px, sf 1.1, mn 5, equalise, alt2 verify": ours(equalize=True, scale_factor=1.1),
        "320 px, sf 1.1, mn 5, no equalise, no verify": ours(equalize=False, scale_factor=1.1, verify_cascade=None),
        "320 px, sf 1.1, mn 5, no equalise, alt2 verify": ours(equalize=False, scale_factor=1.1),
        "320 px, sf 1.1, mn 4, no equalise, alt2 verify": ours(equalize=False, scale_factor=1.1, min_neighbors=4),
        "320 px, sf 1.1, mn 3, no equalise, alt2 verify": ours(equalize=False, scale_factor=1.1, min_neighbors=3),
        "320 px, sf 1.05, mn 5, no equalise, alt2 verify": ours(equalize=False, scale_factor=1.05),
        "480 px, sf 1.1, mn 5, no equalise, alt2 verify": ours(equalize=False, scale_factor=1.1, detect_width=480),
        "DetectorConfig() (the shipped defaults)": ours(),
    }


def score_all(
    configurations: dict[str, Callable[[np.ndarray], list[Box]]], samples: Sequence[Sample], iou_threshold: float
) -> dict[str, Score]:
    """Run every configuration on every sample, interleaved so background load hits all configurations alike.

    Detections are matched to true faces greedily by IoU.
    """
    scores = {name: Score() for name in configurations}
    for sample in samples:
        for name, detect in configurations.items():
            started = time.perf_counter()
            boxes = detect(sample.gray)
            elapsed = time.perf_counter() - started
            _tally(scores[name], sample, boxes, elapsed, iou_threshold)
    return scores


def _tally(result: Score, sample: Sample, boxes: list[Box], elapsed: float, iou_threshold: float) -> None:
    result.seconds.append(elapsed)
    if sample.gray.shape[::-1] == FRAME_SIZE:
        result.frame_seconds.append(elapsed)
    unmatched = list(sample.faces)
    false = 0
    for box in boxes:
        best = max(unmatched, key=partial(box_iou, box), default=None)
        if best is not None and box_iou(box, best) >= iou_threshold:
            unmatched.remove(best)
        else:
            false += 1
    if false and not sample.name.startswith("fer"):
        result.false_images[sample.name] = false
    if sample.faces:
        result.found[sample.group] = result.found.get(sample.group, 0) + len(sample.faces) - len(unmatched)
        result.total[sample.group] = result.total.get(sample.group, 0) + len(sample.faces)
        result.false_on_faces += false
    else:
        result.false_on_negatives += false
        result.negative_images_with_false += bool(false)


def format_table(scores: dict[str, Score], samples: Sequence[Sample]) -> str:
    """A Markdown table: one row per configuration."""
    groups = list(dict.fromkeys(sample.group for sample in samples if sample.faces))
    negatives = sum(1 for sample in samples if not sample.faces)
    short = [group.replace("FER2013 faces, ", "FER ") for group in groups]
    header = [
        "configuration", "faces found", *short, f"FP on {negatives} no-face images", "FP on face images",
        "median ms / 640x480 frame", "mean ms / image",
    ]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, result in scores.items():
        found, total = result.recall()
        cells = [name, f"{found}/{total} ({found / total:.0%})"]
        cells += [f"{result.found.get(group, 0)}/{result.total.get(group, 0)}" for group in groups]
        cells += [
            f"{result.false_on_negatives} (in {result.negative_images_with_false} images)",
            str(result.false_on_faces),
            f"{statistics.median(result.frame_seconds) * 1000:.1f}",
            f"{statistics.fmean(result.seconds) * 1000:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_false_positives(scores: dict[str, Score]) -> str:
    """Which photos (not FER2013 canvases) each configuration reported false positives in (a Markdown list)."""
    lines = []
    for name, result in scores.items():
        where = ", ".join(f"{image} ({count})" for image, count in result.false_images.items()) or "none"
        lines.append(f"- {name}: {where}")
    return "\n".join(lines)


def build_samples(fixtures: Path = DEFAULT_FIXTURES) -> list[Sample]:
    faces = load_fixture_faces(fixtures)
    if not faces:
        raise ValueError(f"no FER2013 fixture faces (*.jpg) under {fixtures}")
    return astronaut_samples() + pasted_face_canvases(faces) + negative_samples()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fer_core.measure.detector_eval", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES, help="FER2013 fixture folder (*.jpg)")
    parser.add_argument("--iou", type=float, default=0.4, help="IoU needed to count a detection as a true face")
    parser.add_argument("--threads", type=int, default=1, help="cv2.setNumThreads for the run (default 1)")
    args = parser.parse_args(argv)
    cv2.setNumThreads(args.threads)
    samples = build_samples(args.fixtures)
    scores = score_all(default_configurations(), samples, args.iou)
    print(format_table(scores, samples))
    print("\nFalse positives by photo (count; the FER2013 canvases are left out):\n")
    print(format_false_positives(scores))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
