"""The naive pipeline our detector and recognizer are measured against (benchmarks and evaluation only).

What a first version typically does: full-resolution Haar (``haarcascade_frontalface_default``,
``scaleFactor=1.1``, ``minNeighbors=5``), no downscale, no verification, then ``model.predict`` once per face.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from fer_core.recognition.detector import Box
from fer_core.recognition.preprocessing import INPUT_SIZE, to_gray


class NaiveHaarDetector:
    """Full-resolution ``detectMultiScale`` with one cascade; boxes largest first."""

    def __init__(
        self,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        cascade: str = "haarcascade_frontalface_default.xml",
    ) -> None:
        if scale_factor <= 1.0 or min_neighbors < 0:
            raise ValueError("scale_factor must be > 1 and min_neighbors >= 0")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self._path = str(Path(cv2.data.haarcascades) / cascade)  # type: ignore[attr-defined]
        self._local = threading.local()

    def detect(self, gray: np.ndarray) -> list[Box]:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = self._local.cascade = cv2.CascadeClassifier(self._path)
        found = cascade.detectMultiScale(gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors)
        boxes = [tuple(int(v) for v in box) for box in (found if len(found) else [])]
        boxes.sort(key=lambda b: b[2] * b[3], reverse=True)
        return boxes  # type: ignore[return-value]


def naive_analyze(model, detector: NaiveHaarDetector, image: np.ndarray) -> list[tuple[Box, np.ndarray]]:
    """Detect with ``detector`` and call ``model.predict`` once per face (Keras's per-call overhead included)."""
    gray = to_gray(image)
    results = []
    for box in detector.detect(gray):
        x, y, w, h = box
        face = cv2.resize(gray[y : y + h, x : x + w], (INPUT_SIZE, INPUT_SIZE))
        batch = (face.astype(np.float32) / 255.0)[None, :, :, None]
        results.append((box, model.predict(batch, verbose=0)[0]))
    return results
