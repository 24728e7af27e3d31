"""Real faces for the browser tests: the astronaut photo and FER2013 fixture faces, as webcam-sized frames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .y4m import from_i420, to_i420

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fer2013_tiny"
FRAME_SIZE = (640, 480)


def astronaut_rgb() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def astronaut_frame(size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """The astronaut photo scaled to the frame's height, centred on a grey canvas (BGR)."""
    width, height = size
    photo = cv2.resize(astronaut_rgb()[:, :, ::-1], (height, height), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 128, np.uint8)
    left = (width - height) // 2
    canvas[:, left : left + height] = photo
    return canvas


def fer_face_frame(path: Path, face_px: int = 220, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """A 48x48 FER2013 face upscaled to ``face_px`` with a little replicated border, centred on grey (BGR)."""
    width, height = size
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise ValueError(f"cannot read {path}")
    face = cv2.resize(gray, (face_px, face_px), interpolation=cv2.INTER_CUBIC)
    pad = face_px // 6
    face = cv2.copyMakeBorder(face, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    canvas = np.full((height, width), 128, np.uint8)
    top, left = (height - face.shape[0]) // 2, (width - face.shape[1]) // 2
    canvas[top : top + face.shape[0], left : left + face.shape[1]] = face
    return cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR)


@dataclass(frozen=True)
class Candidate:
    """A frame and what the recognizer reads on it (as the clip shows it, after 4:2:0 chroma subsampling)."""

    name: str
    frame: np.ndarray
    emotion: str
    confidence: float


def read_candidates(recognizer, frames: dict[str, np.ndarray]) -> list[Candidate]:
    """Frames on which the recognizer finds exactly one face, most confident first, read as the live page reads
    video frames (the stream views)."""
    found = []
    for name, frame in frames.items():
        shown = from_i420(to_i420(frame))
        faces = recognizer.analyze(shown, bgr=True, stream=True)
        if len(faces) == 1:
            found.append(Candidate(name, frame, faces[0].emotion, faces[0].confidence))
    return sorted(found, key=lambda c: c.confidence, reverse=True)


def fixture_face_frames() -> dict[str, np.ndarray]:
    return {path.name: fer_face_frame(path) for path in sorted(FIXTURES.glob("*/*/*.jpg"))}


def confident_faces(recognizer, min_confidence: float) -> list[Candidate]:
    """The astronaut and the fixture faces the recognizer reads with at least ``min_confidence``, most confident
    first; fails the test when there is none (an untrained model)."""
    import pytest

    frames = {"astronaut": astronaut_frame(), **fixture_face_frames()}
    found = [c for c in read_candidates(recognizer, frames) if c.confidence >= min_confidence]
    if not found:
        pytest.fail(f"the model reads no test face with confidence >= {min_confidence}; is it trained?")
    return found


def two_moods(candidates: list[Candidate]) -> tuple[Candidate, Candidate]:
    """The most confident face and the most confident one read as another emotion."""
    import pytest

    first = candidates[0]
    second = next((c for c in candidates if c.emotion != first.emotion), None)
    if second is None:
        pytest.fail(f"the model reads every confident test face as {first.emotion}")
    return first, second


def two_face_clip(path: Path, first: Candidate, second: Candidate, *, fps: int = 5, seconds: int = 12) -> Path:
    """``seconds`` of each face at ``fps`` (a small file; the page needs few frames), far longer than smoothing
    plus dwell (about 4 s with the defaults). Chromium loops the clip, so a slow start only delays the first switch."""
    from .y4m import write_y4m

    return write_y4m(path, [first.frame] * (fps * seconds) + [second.frame] * (fps * seconds), fps=fps)
