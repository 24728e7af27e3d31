"""Spread a video stream's test-time views over its frames: one model pass per followed face and frame.

Averaging a face with its mirror image (the ``flip`` stream views) makes the classifier read it better, but runs
the model twice a face. In a stream, the same face comes back a frame later. So a face that was in the last frame
(its box overlaps one of the last frame's boxes by ``min_overlap`` or more) is read with just the next of the stream
views, in turn, and its reading is the mean of its last ``len(views)`` one-view readings. For a face that holds still
that is exactly the all-views reading, from the second frame on, for one pass instead of two. A face that was not
in the last frame (the stream's first frame, a face coming in) is read with all the views at once.

:class:`StreamReadings` keeps one stream's faces between frames; the :class:`~fer_core.recognition.tracking.FaceTracker`
of the stream holds one (``FaceTracker.readings``).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fer_core.recognition.detector import Box, box_iou

ViewPlan = list[tuple[int, int]]
"""The passes of one frame: (face index, view index) pairs, in the order the model runs them."""


@dataclass
class _Face:
    box: Box
    readings: deque[np.ndarray]
    """The face's last one-view probabilities, newest last (at most as many as there are views)."""
    next_view: int
    """The view this face is read with in the next frame."""


@dataclass
class StreamReadings:
    """One stream's faces between frames: which view each one is read with next, and its recent readings."""

    min_overlap: float = 0.3
    """A face counts as the same as one in the last frame when their boxes overlap by this much (IoU) or more."""
    _faces: list[_Face] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.min_overlap <= 1.0:
            raise ValueError(f"min_overlap must be in (0, 1], not {self.min_overlap}")

    def reset(self) -> None:
        """Forget the stream's faces (the next frame reads every face with all views)."""
        with self._lock:
            self._faces = []

    def read(self, boxes: Sequence[Box], view_count: int, run: Callable[[ViewPlan], np.ndarray]) -> np.ndarray:
        """Each face's reading (N, C) for this frame's ``boxes`` (largest first, as the tracker gives them).

        ``run`` takes the frame's passes (:data:`ViewPlan`: one view for a face that was in the last frame, every
        view for a new one) and returns one row of probabilities per pass, in that order."""
        if view_count < 1:
            raise ValueError("view_count must be >= 1")
        with self._lock:
            matches = _match(boxes, self._faces, self.min_overlap)
            passes: ViewPlan = []
            for index, face in enumerate(matches):
                if face is None or face.next_view >= view_count:
                    passes.extend((index, view) for view in range(view_count))
                else:
                    passes.append((index, face.next_view))
            probabilities = np.asarray(run(passes))
            if probabilities.ndim != 2 or probabilities.shape[0] != len(passes):
                raise ValueError(f"readings of shape {probabilities.shape} for {len(passes)} planned passes")
            self._faces = [
                _remember(box, earlier, passes, index, probabilities, view_count)
                for index, (box, earlier) in enumerate(zip(boxes, matches, strict=True))
            ]
            readings = [np.mean(face.readings, axis=0) for face in self._faces]
        return np.asarray(readings, np.float32).reshape(len(readings), probabilities.shape[1])


def _remember(
    box: Box, earlier: _Face | None, passes: ViewPlan, index: int, probabilities: np.ndarray, view_count: int
) -> _Face:
    """Face ``index`` of this frame, with its readings from this frame's passes added to those it continues."""
    rows = [row for row, (face, _) in enumerate(passes) if face == index]
    readings: deque[np.ndarray] = deque(earlier.readings if earlier is not None and len(rows) == 1 else (), view_count)
    readings.extend(probabilities[row] for row in rows)
    return _Face(tuple(box), readings, (passes[rows[-1]][1] + 1) % view_count)  # type: ignore[arg-type]


def _match(boxes: Sequence[Box], earlier: Sequence[_Face], min_overlap: float) -> list[_Face | None]:
    """Pair each box with the last frame's face it overlaps most (each face at most once), greedily by overlap."""
    pairs = sorted(
        ((box_iou(box, face.box), index, slot) for index, box in enumerate(boxes) for slot, face in enumerate(earlier)),
        reverse=True,
    )
    matched: list[_Face | None] = [None] * len(boxes)
    taken: set[int] = set()
    for overlap, index, slot in pairs:
        if overlap < min_overlap:
            break
        if matched[index] is None and slot not in taken:
            matched[index] = earlier[slot]
            taken.add(slot)
    return matched
