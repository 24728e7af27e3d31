"""Handle one uploaded photo end to end: safe decode -> analyze -> annotated copy; errors become messages.

Nothing here writes to disk or keeps the upload: the bytes are decoded in memory and the arrays returned
belong to the caller. Logs carry the file name, byte count and dimensions, never image data.

Importing this module (the upload page does, before its uploader can receive anything) also makes Streamlit's
web server keep uploads in memory: see :func:`keep_uploads_in_memory`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from fer_core.mood.affect import affect
from fer_core.recognition.drawing import draw_results
from fer_core.recognition.image_io import MIB, ImageLimits, ImageLoadError, display_name, load_image
from fer_core.recognition.recognizer import EmotionRecognizer
from fer_core.recognition.results import FaceResult
from fer_core.sessions.code_names import class_code_names

logger = logging.getLogger(__name__)


def keep_uploads_in_memory(max_bytes: int | None = None) -> bool:
    """Stop Streamlit's web server (Starlette) from writing uploads to disk while it receives them.

    Starlette parses each upload into a ``SpooledTemporaryFile`` that moves to an (unnamed) file in the temp
    folder once it passes ``MultiPartParser.spool_max_size`` (1 MB), so a typical phone photo would be written
    to disk for the duration of the request. Raising the threshold above the upload cap keeps every accepted
    upload in memory (Streamlit reads it whole into memory right after anyway). Returns whether Starlette was
    found. Checked by ``tests/browser/test_privacy_browser.py`` (strace sees no ``O_TMPFILE``).

    Raises ``RuntimeError`` naming the Starlette version when an upgrade moved or renamed what this patches (the
    class, its integer ``spool_max_size``, or the parser's use of it), instead of silently patching nothing.
    """
    try:
        import starlette
    except ImportError:  # not served by Starlette: nothing to do
        return False
    version = getattr(starlette, "__version__", "?")
    try:
        from starlette.formparsers import MultiPartParser
    except ImportError as error:
        raise RuntimeError(_starlette_changed(version, "has no starlette.formparsers.MultiPartParser")) from error
    current = getattr(MultiPartParser, "spool_max_size", None)
    if not isinstance(current, int) or isinstance(current, bool):
        raise RuntimeError(_starlette_changed(version, f"MultiPartParser.spool_max_size is {current!r}, not an int"))
    if "spool_max_size" not in class_code_names(MultiPartParser):  # no parsing: see fer_core.sessions.code_names
        raise RuntimeError(_starlette_changed(version, "MultiPartParser no longer reads self.spool_max_size"))
    needed = (max_bytes if max_bytes is not None else ImageLimits().max_bytes) + MIB  # + multipart framing
    if current < needed:
        MultiPartParser.spool_max_size = needed
    return True


def _starlette_changed(version: str, what: str) -> str:
    return (
        f"Starlette {version} {what}: fer_core.sessions.upload.keep_uploads_in_memory expected "
        "MultiPartParser.spool_max_size (Starlette 0.46-1.x), the size past which an upload is spooled to a "
        "temporary file on disk. Uploads could be written to disk: update keep_uploads_in_memory for this "
        "Starlette version, or install the versions in requirements.txt."
    )


keep_uploads_in_memory()


@dataclass(frozen=True)
class UploadAnalysis:
    """What the upload page shows: the annotated image and faces, or one user-facing error message."""

    name: str
    image: np.ndarray | None = None
    annotated: np.ndarray | None = None
    faces: list[FaceResult] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def dominant(self) -> FaceResult | None:
        """The largest face (results are sorted largest first)."""
        return self.faces[0] if self.faces else None


def describe_affect(face: FaceResult) -> str:
    """One line with the face's valence and arousal (:mod:`fer_core.mood.affect`), e.g.
    ``"Valence +0.62 (pleasant) · arousal +0.21 (activated)"``."""
    point = affect(face.probabilities)
    valence, arousal = point.as_tuple()
    feel = "pleasant" if valence > 0.1 else "unpleasant" if valence < -0.1 else "neutral"
    energy = "activated" if arousal > 0.1 else "deactivated" if arousal < -0.1 else "calm-neutral"
    return f"Valence {valence:+.2f} ({feel}) · arousal {arousal:+.2f} ({energy})"


def analyze_upload(
    data: bytes | bytearray | memoryview | None,
    name: str | None,
    recognizer: EmotionRecognizer,
    *,
    limits: ImageLimits | None = None,
) -> UploadAnalysis:
    """Decode ``data`` within ``limits`` and read the faces in it; never raises for bad input.

    Bad input (unreadable, too large, damaged...) gives ``UploadAnalysis(error=message)``; the message names
    the file and says what is wrong.
    """
    label = display_name(name)
    size = len(data) if data is not None else 0
    started = time.perf_counter()
    if data is None:
        logger.warning("rejected upload %r: no data", label)
        return UploadAnalysis(name=label, error=f"{label} is empty (0 bytes).")
    try:
        image = load_image(data, name=label, limits=limits)
    except ImageLoadError as error:
        logger.warning("rejected upload %r (%d bytes): %s", label, size, error)
        return UploadAnalysis(name=label, error=str(error))
    height, width = image.shape[:2]
    try:
        faces = recognizer.analyze(image)
        annotated = draw_results(image.copy(), faces)
    except (ValueError, cv2.error, MemoryError) as error:
        logger.warning(
            "could not analyse upload %r (%d bytes, %dx%d): %s: %s",
            label,
            size,
            width,
            height,
            type(error).__name__,
            str(error)[:200],
        )
        return UploadAnalysis(
            name=label, image=image, error=f"{label} could not be analysed; please try another photo."
        )
    logger.debug(
        "analysed upload %r (%d bytes, %dx%d): %d face(s) in %.0f ms",
        label,
        size,
        width,
        height,
        len(faces),
        (time.perf_counter() - started) * 1000,
    )
    return UploadAnalysis(name=label, image=image, annotated=annotated, faces=faces)
