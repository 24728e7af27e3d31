"""Real test frames for benchmarks and detector checks, built from scikit-image's bundled photos.

scikit-image is needed only here (``pip install scikit-image``); the app itself does not import this module.
All frames are 640x480 RGB uint8 and deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from fer_core.recognition.detector import Box

FRAME_SIZE: tuple[int, int] = (640, 480)
"""(width, height) of every sample frame."""

ASTRONAUT_FACE: Box = (176, 66, 96, 96)
"""Where Eileen Collins's face is in ``skimage.data.astronaut()`` (512x512), measured once by hand and by Haar."""


@dataclass(frozen=True)
class SampleFrame:
    """A frame and the boxes of the faces pasted or known in it (empty for a frame without faces)."""

    name: str
    image: np.ndarray
    faces: tuple[Box, ...]


def _skimage_data():
    try:
        import skimage.data
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise RuntimeError("the sample frames need scikit-image: pip install scikit-image") from error
    return skimage.data


def _scale_box(box: Box, scale: float, dx: int = 0, dy: int = 0) -> Box:
    x, y, w, h = box
    return (round(x * scale) + dx, round(y * scale) + dy, round(w * scale), round(h * scale))


def letterboxed(frame: SampleFrame, size: tuple[int, int], fill: int = 128) -> SampleFrame:
    """``frame`` scaled to fit ``size`` (width, height) without distortion, centred on a grey canvas.

    Stretching would squash the faces (a stretched astronaut is not detected at 1280x720); the face boxes are
    scaled and moved with the image.
    """
    width, height = size
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    source_height, source_width = frame.image.shape[:2]
    if (source_width, source_height) == (width, height):
        return frame
    scale = min(width / source_width, height / source_height)
    new_width, new_height = max(1, round(source_width * scale)), max(1, round(source_height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    image = cv2.resize(frame.image, (new_width, new_height), interpolation=interpolation)
    canvas = np.full((height, width, *frame.image.shape[2:]), fill, frame.image.dtype)
    left, top = (width - new_width) // 2, (height - new_height) // 2
    canvas[top : top + new_height, left : left + new_width] = image
    faces = tuple(_scale_box(box, scale, dx=left, dy=top) for box in frame.faces)
    return SampleFrame(frame.name, canvas, faces)


def one_face_frame() -> SampleFrame:
    """The astronaut photo scaled to 480x480 and centred on a 640x480 grey canvas: one face."""
    return letterboxed(SampleFrame("one_face", _skimage_data().astronaut(), (ASTRONAUT_FACE,)), FRAME_SIZE)


def no_face_frame() -> SampleFrame:
    """``skimage.data.coffee()`` (a cup of coffee) resized to 640x480: no face."""
    return SampleFrame("no_face", cv2.resize(_skimage_data().coffee(), FRAME_SIZE, interpolation=cv2.INTER_AREA), ())


def astronaut_head(side: int, *, margin: float = 0.35) -> tuple[np.ndarray, Box]:
    """The astronaut's face with ``margin`` (fraction of the face side) of context, resized to ``side`` x ``side``.

    Returns the RGB crop and the face box inside it.
    """
    x, y, w, h = ASTRONAUT_FACE
    pad = round(w * margin)
    crop = _skimage_data().astronaut()[y - pad : y + h + pad, x - pad : x + w + pad]
    scale = side / crop.shape[0]
    resized = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    return resized, _scale_box((pad, pad, w, h), scale)


def paste(canvas: np.ndarray, patch: np.ndarray, x: int, y: int) -> Box:
    """Copy ``patch`` into ``canvas`` (same channel layout) with its top-left corner at (x, y); return its box."""
    height, width = patch.shape[:2]
    if x < 0 or y < 0 or x + width > canvas.shape[1] or y + height > canvas.shape[0]:
        size = f"{canvas.shape[1]}x{canvas.shape[0]}"
        raise ValueError(f"a {width}x{height} patch at ({x}, {y}) does not fit in a {size} canvas")
    canvas[y : y + height, x : x + width] = patch
    return (x, y, width, height)


def three_face_frame(sides: Sequence[int] = (200, 160, 130)) -> SampleFrame:
    """Three astronaut heads of different sizes pasted side by side on the rocket photo (640x480): three faces."""
    width, height = FRAME_SIZE
    canvas = cv2.resize(_skimage_data().rocket(), (width, height), interpolation=cv2.INTER_AREA)
    gap = (width - sum(sides)) // (len(sides) + 1)
    if gap < 0:
        raise ValueError(f"heads of sides {tuple(sides)} do not fit side by side in {width} px")
    faces = []
    x = gap
    for side in sides:
        head, (fx, fy, fw, fh) = astronaut_head(side)
        y = (height - side) // 2
        paste(canvas, head, x, y)
        faces.append((x + fx, y + fy, fw, fh))
        x += side + gap
    return SampleFrame("three_faces", canvas, tuple(faces))


def sample_frames() -> list[SampleFrame]:
    """The bench's frames: one face, three faces, no face."""
    return [one_face_frame(), three_face_frame(), no_face_frame()]
