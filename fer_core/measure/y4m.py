"""Write .y4m clips (YUV 4:2:0) that Chromium plays as a fake webcam (``--use-file-for-fake-video-capture``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np


def to_i420(frame_bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 (H, W, 3) with even H and W -> planar I420 (H * 3 / 2, W)."""
    height, width = frame_bgr.shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"frame size must be even for 4:2:0, got {width}x{height}")
    return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2YUV_I420)


def from_i420(i420: np.ndarray) -> np.ndarray:
    """The BGR frame a viewer of the clip sees (chroma subsampling included)."""
    return cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)


def write_y4m(path: Path, frames: Iterable[np.ndarray], fps: int = 15) -> Path:
    """Write BGR frames (all the same even size) as an uncompressed 4:2:0 .y4m file; return ``path``."""
    path = Path(path)
    with path.open("wb") as out:
        size = None
        for frame in frames:
            height, width = frame.shape[:2]
            if size is None:
                size = (width, height)
                out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
            elif size != (width, height):
                raise ValueError(f"all frames must be {size[0]}x{size[1]}, got {width}x{height}")
            out.write(b"FRAME\n")
            out.write(to_i420(frame).tobytes())
        if size is None:
            raise ValueError("no frames to write")
    return path


def read_y4m_frame(path: Path, index: int = 0) -> np.ndarray:
    """Frame ``index`` of a clip written by :func:`write_y4m`, as BGR (for checks in tests)."""
    data = Path(path).read_bytes()
    header, _, rest = data.partition(b"\n")
    fields = {token[:1]: token[1:] for token in header.split()[1:]}
    width, height = int(fields[b"W"]), int(fields[b"H"])
    frame_bytes = width * height * 3 // 2
    offset = index * (len(b"FRAME\n") + frame_bytes) + len(b"FRAME\n")
    plane = np.frombuffer(rest[offset : offset + frame_bytes], np.uint8).reshape(height * 3 // 2, width)
    return from_i420(plane)
