"""Draw the overlay (box, label, confidence per face) on a frame, in place."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from fer_core.recognition.results import FaceResult

EMOTION_COLORS_RGB: dict[str, tuple[int, int, int]] = {
    "angry": (230, 57, 70),
    "disgust": (106, 153, 78),
    "fear": (123, 44, 191),
    "happy": (255, 183, 3),
    "sad": (33, 118, 174),
    "surprise": (247, 127, 0),
    "neutral": (141, 153, 174),
}


def draw_results(frame: np.ndarray, results: Sequence[FaceResult], *, bgr: bool = False) -> np.ndarray:
    """Draw each face's box and "label 87%" tag onto ``frame`` (uint8 H x W x 3) in place; return it."""
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"draw_results expects an H x W x 3 frame, got shape {frame.shape}")
    scale = max(0.4, min(frame.shape[:2]) / 600)
    thickness = max(1, round(2 * scale))
    for result in results:
        x, y, w, h = result.box
        color = EMOTION_COLORS_RGB.get(result.emotion, (255, 255, 255))
        if bgr:
            color = color[::-1]
        cv2.rectangle(frame, (x, y), (x + w, y + h), color, thickness)
        text = f"{result.emotion} {result.confidence:.0%}"
        (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, thickness)
        top = y - th - baseline - 4 if y - th - baseline - 4 >= 0 else y + h
        cv2.rectangle(frame, (x, top), (x + tw + 6, top + th + baseline + 4), color, cv2.FILLED)
        cv2.putText(
            frame,
            text,
            (x + 3, top + th + 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6 * scale,
            (20, 20, 20),
            thickness,
            cv2.LINE_AA,
        )
    return frame
