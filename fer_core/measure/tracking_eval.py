"""Does tracking keep accuracy? Compare the tracked stream with full detection on every frame of a moving clip.

The clip is a camera that pans and zooms over one of the bench's sample frames (a smooth affine motion, so the
true face boxes are known in every frame). Each frame is analysed twice: as a photo (full detection) and as the
next frame of a stream through a :class:`~fer_core.FaceTracker`. The report gives, for both, the share
of true faces found (IoU >= ``iou_threshold``), and how often the tracked stream gives the same emotion as full
detection on the faces both found, plus the time per frame of each path.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from fer_core.measure.sample_frames import Box, SampleFrame
from fer_core.measure.timing import summarize_ms
from fer_core.recognition.detector import box_iou
from fer_core.recognition.recognizer import EmotionRecognizer
from fer_core.recognition.results import FaceResult


@dataclass(frozen=True)
class CameraMotion:
    """A smooth pan and zoom: shifts of up to ``shift_px`` pixels and zoom of up to ``zoom`` (fraction)."""

    frames: int = 90
    shift_px: float = 40.0
    zoom: float = 0.1
    period_frames: float = 60.0

    def __post_init__(self) -> None:
        if self.frames < 1 or self.period_frames <= 0 or not 0 <= self.zoom < 0.5:
            raise ValueError("frames must be >= 1, period_frames > 0 and zoom in [0, 0.5)")


def _transform_box(box: Box, matrix: np.ndarray) -> Box:
    x, y, w, h = box
    corners = np.array([[x, y, 1.0], [x + w, y + h, 1.0]]) @ matrix.T
    (x0, y0), (x1, y1) = corners
    return (round(x0), round(y0), round(x1 - x0), round(y1 - y0))


def moving_clip(frame: SampleFrame, motion: CameraMotion | None = None) -> Iterator[tuple[np.ndarray, list[Box]]]:
    """The frames of a camera panning and zooming over ``frame``, each with its true face boxes."""
    motion = motion or CameraMotion()
    height, width = frame.image.shape[:2]
    centre = (width / 2, height / 2)
    for index in range(motion.frames):
        phase = 2 * math.pi * index / motion.period_frames
        scale = 1.0 + motion.zoom * math.sin(phase * 0.5)
        matrix = cv2.getRotationMatrix2D(centre, 0.0, scale)
        matrix[0, 2] += motion.shift_px * math.sin(phase)
        matrix[1, 2] += 0.5 * motion.shift_px * math.sin(phase * 0.75)
        image = cv2.warpAffine(frame.image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
        yield image, [_transform_box(box, matrix) for box in frame.faces]


def _match(truth: Box, results: list[FaceResult], iou_threshold: float) -> FaceResult | None:
    best = max(results, key=lambda result: box_iou(truth, result.box), default=None)
    return best if best is not None and box_iou(truth, best.box) >= iou_threshold else None


def compare_tracking(
    recognizer: EmotionRecognizer,
    frame: SampleFrame,
    *,
    motion: CameraMotion | None = None,
    iou_threshold: float = 0.4,
) -> dict[str, object]:
    """Analyse the moving clip with and without a tracker; return recall, agreement and timings (see module doc)."""
    if not frame.faces:
        raise ValueError(f"sample frame {frame.name!r} has no known faces to track")
    tracker = recognizer.new_tracker()
    truths = found_full = found_tracked = both = same = 0
    full_times: list[float] = []
    tracked_times: list[float] = []
    for image, boxes in moving_clip(frame, motion):
        started = time.perf_counter()
        tracked = recognizer.analyze(image, tracker=tracker)
        tracked_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        full = recognizer.analyze(image)
        full_times.append(time.perf_counter() - started)
        for box in boxes:
            truths += 1
            by_full, by_tracker = _match(box, full, iou_threshold), _match(box, tracked, iou_threshold)
            found_full += by_full is not None
            found_tracked += by_tracker is not None
            if by_full is not None and by_tracker is not None:
                both += 1
                same += by_full.emotion == by_tracker.emotion
    return {
        "frames": len(full_times),
        "true_faces": truths,
        "recall_full": round(found_full / truths, 4),
        "recall_tracked": round(found_tracked / truths, 4),
        "emotion_agreement": round(same / both, 4) if both else None,
        "full_ms": summarize_ms(full_times),
        "tracked_ms": summarize_ms(tracked_times),
    }
