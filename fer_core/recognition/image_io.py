"""Read untrusted image files/bytes safely: size and pixel caps before decoding, EXIF orientation, RGB out.

What is accepted (see ``tests/test_image_io.py`` and ``tests/test_bad_inputs.py``):

* JPEG (also multi-picture "MPO" JPEGs from phones and cameras: the first picture), PNG, WEBP, BMP, GIF.
  Animated GIF/PNG/WEBP: the first frame.
* Any colour mode Pillow reads in those formats: grayscale, palette, CMYK (converted to RGB), 16-bit PNG
  (scaled to 8 bits: ``round(v / 257)``), transparency (composited onto white).
* EXIF orientation is applied; an unreadable EXIF block is ignored (the pixels are still used).

Everything else (empty, oversized, truncated, not an image, unsupported format, more than
``ImageLimits.max_pixels`` according to the header) raises :class:`ImageLoadError` with a message fit to
show to a user. The pixel cap is checked from the header, before any pixel is decoded, so a decompression
bomb costs neither time nor memory. Pillow's own cap (``Image.MAX_IMAGE_PIXELS``, about 89 MP, error above
twice that) is a hard upper bound on top of ``max_pixels``.
"""

from __future__ import annotations

import io
import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
SUPPORTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
_FORMAT_ALIASES = {"MPO": "JPEG"}
"""Pillow formats that are read as one of ``SUPPORTED_FORMATS``."""

_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"BM", "BMP"),
    (8, b"WEBP", "WEBP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"%PDF", "PDF"),
    (0, b"8BPS", "Photoshop (PSD)"),
    (4, b"ftypheic", "HEIC"),
    (4, b"ftypheix", "HEIC"),
    (4, b"ftypmif1", "HEIC"),
    (4, b"ftypavif", "AVIF"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
)
"""Magic numbers, only to say what an unreadable file is (Pillow decides what is read)."""

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MAX_LABEL = 80


class ImageLoadError(ValueError):
    """The input is not an image we can read (the message is fit to show to a user)."""


@dataclass(frozen=True)
class ImageLimits:
    """Caps applied before the full image is decoded."""

    max_bytes: int = 25 * MIB
    """Largest file accepted. The Streamlit upload cap (``server.maxUploadSize`` in ``.streamlit/config.toml``,
    in MiB) is the same number (``max_upload_mb``)."""
    max_pixels: int = 40_000_000
    """Width x height cap, checked from the header before decoding (decompression bombs)."""
    formats: tuple[str, ...] = SUPPORTED_FORMATS

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_pixels < 1:
            raise ValueError("max_bytes and max_pixels must be positive")
        unknown = set(self.formats) - set(SUPPORTED_FORMATS)
        if not self.formats or unknown:
            raise ValueError(f"formats must be a non-empty subset of {SUPPORTED_FORMATS}, got {self.formats}")

    @property
    def max_upload_mb(self) -> int:
        """``max_bytes`` in whole MiB, the unit of Streamlit's ``server.maxUploadSize``."""
        return self.max_bytes // MIB


def display_name(name: str | None, default: str = "the upload") -> str:
    """A file name safe to put in a message or a log line: no control characters, at most 80 characters."""
    if not name:
        return default
    cleaned = _CONTROL_CHARACTERS.sub("?", str(name)).strip()
    if len(cleaned) > _MAX_LABEL:
        cleaned = cleaned[: _MAX_LABEL - 1] + "…"
    return cleaned or default


def _sniff(data: bytes) -> str | None:
    for offset, magic, kind in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return kind
    return None


def _megabytes(size: int) -> str:
    return f"{size / MIB:.1f} MB"


def _open(data: bytes, label: str, limits: ImageLimits) -> Image.Image:
    """Parse the header only (Pillow decodes lazily) and enforce format and pixel limits."""
    if not data:
        raise ImageLoadError(f"{label} is empty (0 bytes).")
    if len(data) > limits.max_bytes:
        raise ImageLoadError(f"{label} is {_megabytes(len(data))}; the limit is {limits.max_upload_mb} MB.")
    supported = ", ".join(limits.formats)
    try:  # MPO files are opened by the JPEG plugin
        image = Image.open(io.BytesIO(data), formats=list(limits.formats))
    except Image.DecompressionBombError as error:
        found = re.search(r"\((\d+) pixels\)", str(error))
        size = f" ({int(found.group(1)) / 1e6:.0f} MP)" if found else ""
        raise ImageLoadError(
            f"{label} has too many pixels{size}; the limit is {limits.max_pixels / 1e6:.0f} MP."
        ) from error
    except UnidentifiedImageError as error:
        kind = _sniff(data)
        if kind is None:
            raise ImageLoadError(f"{label} is not an image file (supported formats: {supported}).") from error
        if kind not in limits.formats:
            raise ImageLoadError(
                f"{label} is a {kind} file, which is not supported; please convert it to one of: {supported}."
            ) from error
        raise ImageLoadError(f"{label} looks like a {kind} file but its header is damaged.") from error
    except Exception as error:  # Pillow raises many types on hostile headers
        raise ImageLoadError(f"{label} is damaged and cannot be read ({type(error).__name__}).") from error
    image_format = _FORMAT_ALIASES.get(image.format or "", image.format)
    if image_format not in limits.formats:  # cannot happen with formats= above, kept as a guard
        raise ImageLoadError(f"{label} is a {image.format} file; supported formats: {supported}.")
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageLoadError(f"{label} says it is {width}x{height} pixels, which is not an image.")
    if width * height > limits.max_pixels:
        raise ImageLoadError(
            f"{label} is {width}x{height} pixels ({width * height / 1e6:.0f} MP); "
            f"the limit is {limits.max_pixels / 1e6:.0f} MP."
        )
    return image


def _read_path(path: Path, label: str, limits: ImageLimits) -> bytes:
    """Read at most ``max_bytes + 1`` bytes of a regular file (never blocks on a FIFO, never reads /dev/zero)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as error:
        raise ImageLoadError(f"{label}: no such file.") from error
    except IsADirectoryError as error:
        raise ImageLoadError(f"{label} is a folder, not an image.") from error
    except OSError as error:
        raise ImageLoadError(f"{label} cannot be read ({error.strerror or error}).") from error
    try:
        info = os.fstat(descriptor)
        if stat.S_ISDIR(info.st_mode):
            raise ImageLoadError(f"{label} is a folder, not an image.")
        if not stat.S_ISREG(info.st_mode):
            raise ImageLoadError(f"{label} is not a regular file.")
        if info.st_size > limits.max_bytes:
            raise ImageLoadError(f"{label} is {_megabytes(info.st_size)}; the limit is {limits.max_upload_mb} MB.")
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            return handle.read(limits.max_bytes + 1)
    except OSError as error:
        raise ImageLoadError(f"{label} cannot be read ({error.strerror or error}).") from error
    finally:
        os.close(descriptor)


def _sixteen_to_eight(image: Image.Image) -> np.ndarray:
    """16-bit grayscale (Pillow modes I;16*, I) to 8-bit RGB by scaling, not clipping."""
    values = np.asarray(image).astype(np.int64)
    gray = ((np.clip(values, 0, 65535) + 128) // 257).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or (
        image.mode in ("P", "L", "RGB") and "transparency" in image.info
    )


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode.startswith("I"):
        return _sixteen_to_eight(image)
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def _apply_orientation(image: Image.Image, label: str) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception as error:  # a broken EXIF block must not cost the user the photo
        logger.warning("ignored unreadable EXIF orientation in %r (%s)", label, type(error).__name__)
        return image


def _decode(image: Image.Image, label: str) -> np.ndarray:
    try:
        image.load()  # the first frame of animated files
    except MemoryError as error:
        raise ImageLoadError(f"{label} is too large to decode.") from error
    except Exception as error:  # truncated/corrupt data surfaces here, in many types
        raise ImageLoadError(
            f"{label} is damaged or truncated and cannot be decoded ({type(error).__name__})."
        ) from error
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        logger.debug("%r has %d frames; using the first", label, frames)
    image = _apply_orientation(image, label)
    try:
        return _to_rgb(image)
    except MemoryError as error:
        raise ImageLoadError(f"{label} is too large to decode.") from error
    except Exception as error:  # an exotic colour mode Pillow cannot convert
        raise ImageLoadError(f"{label} uses a colour mode ({image.mode}) that cannot be converted to RGB.") from error


def load_image(
    source: bytes | bytearray | memoryview | str | os.PathLike[str],
    *,
    name: str | None = None,
    limits: ImageLimits | None = None,
) -> np.ndarray:
    """Decode ``source`` (bytes or a path) into an RGB uint8 array (H, W, 3), EXIF orientation applied.

    Raises :class:`ImageLoadError` with a user-facing message for anything that is not a readable image
    within ``limits``; ``name`` is how the message refers to the input (default: "the upload" or the path).
    """
    limits = limits or ImageLimits()
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = display_name(name)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = display_name(name, default=str(path))
        data = _read_path(path, label, limits)
    else:
        raise TypeError(f"load_image takes bytes or a path, got {type(source).__name__}")
    with _open(data, label, limits) as image:
        pixels = _decode(image, label)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or min(pixels.shape[:2]) < 1:
        raise ImageLoadError(f"{label} decoded to an unexpected shape {pixels.shape}.")
    logger.debug("decoded %r: %d bytes, %dx%d", label, len(data), pixels.shape[1], pixels.shape[0])
    return np.ascontiguousarray(pixels)
