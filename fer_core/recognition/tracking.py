"""Follow faces across the frames of one video stream, so most frames skip the full-frame Haar search.

A full-frame detection (``FaceDetector.detect``) runs every ``redetect_every`` frames, and whenever a face is
lost. In between, each known face is searched for again only in a window around its last box, on a copy scaled
so the face is about ``roi_face_px`` wide, at sizes within ``size_tolerance`` of its last size. This is a
fresh detection each frame (the classifier always sees the face where it is now), just a much smaller search.
New faces entering the frame are picked up at the next full detection.

One tracker per stream: it holds that stream's state, the faces' boxes and their recent readings
(:mod:`fer_core.recognition.stream_readings`). It is cheap to create.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from fer_core.recognition.detector import Box, FaceDetector
from fer_core.recognition.stream_readings import StreamReadings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackerConfig:
    """How faces are followed between full detections."""

    redetect_every: int = 10
    """Full-frame detection every N frames (1 turns tracking off)."""
    search_margin: float = 0.5
    """The search window extends this fraction of the face's size beyond its last box on each side."""
    roi_face_px: int = 48
    """The window is rescaled so the face is about this many pixels wide (smaller is faster)."""
    size_tolerance: float = 0.35
    """Search sizes from (1 - t) to (1 + t) times the last size."""
    min_neighbors: int = 3
    empty_redetect_every: int = 3
    """With no face in view, search the full frame only every N frames (a new face shows up N-1 frames later)."""

    def __post_init__(self) -> None:
        if self.redetect_every < 1 or self.empty_redetect_every < 1:
            raise ValueError("redetect_every and empty_redetect_every must be >= 1")
        if not 0 < self.size_tolerance < 1 or self.search_margin < 0 or self.roi_face_px < 24:
            raise ValueError("size_tolerance must be in (0, 1), search_margin >= 0 and roi_face_px >= 24")


class FaceTracker:
    """Per-stream face boxes: full detection now and then, cheap local re-detection in between."""

    def __init__(self, detector: FaceDetector, config: TrackerConfig | None = None) -> None:
        self.detector = detector
        self.config = config or TrackerConfig()
        self._boxes: list[Box] = []
        self._since_full = -1  # -1: no full detection yet, so the first frame gets one
        self._lock = threading.Lock()
        self.full_detections = 0
        self.tracked_frames = 0
        self.readings = StreamReadings()
        """The stream's faces between frames, for the classifier's spread views (``spread_stream_views``)."""

    def reset(self) -> None:
        with self._lock:
            self._boxes, self._since_full = [], -1
        self.readings.reset()

    def detect(self, gray: np.ndarray) -> list[Box]:
        """Face boxes for this frame of the stream, largest first (same contract as ``FaceDetector.detect``)."""
        with self._lock:
            if not self._boxes and 0 <= self._since_full < self.config.empty_redetect_every - 1:
                self._since_full += 1
                return []
            if self._boxes and self._since_full < self.config.redetect_every - 1:
                followed = [self._follow(gray, box) for box in self._boxes]
                if all(box is not None for box in followed):
                    self._since_full += 1
                    self.tracked_frames += 1
                    self._boxes = sorted(followed, key=lambda b: b[2] * b[3], reverse=True)  # type: ignore[arg-type]
                    return list(self._boxes)
            self._boxes = self.detector.detect(gray)
            self._since_full = 0
            self.full_detections += 1
            return list(self._boxes)

    def _follow(self, gray: np.ndarray, box: Box) -> Box | None:
        x, y, w, h = box
        config = self.config
        margin = round(max(w, h) * config.search_margin)
        x0, y0 = max(0, x - margin), max(0, y - margin)
        x1, y1 = min(gray.shape[1], x + w + margin), min(gray.shape[0], y + h + margin)
        if x1 - x0 < 24 or y1 - y0 < 24:
            return None
        scale = config.roi_face_px / max(w, 1)
        window = gray[y0:y1, x0:x1]
        if scale < 1.0:
            window = cv2.resize(window, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        else:
            scale = 1.0
        side = w * scale
        smallest = max(20, int(side * (1 - config.size_tolerance)))
        largest = max(smallest + 1, int(side * (1 + config.size_tolerance)))
        cascade, _ = self.detector._cascades()
        found = cascade.detectMultiScale(
            window,
            scaleFactor=1.08,
            minNeighbors=config.min_neighbors,
            minSize=(smallest, smallest),
            maxSize=(largest, largest),
        )
        if len(found) == 0:
            return None
        # the candidate closest to where the face was
        centre = np.array([(x + w / 2 - x0) * scale, (y + h / 2 - y0) * scale])
        best = min(found, key=lambda b: float(np.hypot(*(np.array([b[0] + b[2] / 2, b[1] + b[3] / 2]) - centre))))
        bx, by, bw, bh = (float(v) / scale for v in best)
        return (round(x0 + bx), round(y0 + by), max(1, round(bw)), max(1, round(bh)))
