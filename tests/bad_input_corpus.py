"""The bad-input corpus, generated in memory (nothing checked in): hostile, broken and unusual image files.

Every case says what :func:`fer_core.recognition.image_io.load_image` must do with it: decode it (``shape``: the
expected array shape) or reject it with an :class:`ImageLoadError` whose message contains ``message``.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image
from reliability_support import encode, png_bomb, png_chunk

EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    shape: tuple[int, ...] | None = None
    """Expected decoded shape; None: the input must be rejected."""
    message: str = ""
    """Expected substring of the rejection message (case-insensitive)."""

    @property
    def accepted(self) -> bool:
        return self.shape is not None


@cache
def astronaut() -> np.ndarray:
    """A real photo of a face (512 x 512 RGB, from scikit-image's bundled data)."""
    from skimage import data

    return data.astronaut()


def portrait() -> np.ndarray:
    """A non-square crop of the astronaut photo (400 high, 300 wide) with the face in it."""
    return astronaut()[0:400, 60:360]


def with_orientation(pixels: np.ndarray, orientation: int) -> bytes:
    """A JPEG as a camera stores it: pixels rotated, EXIF orientation telling viewers how to undo it.

    Orientation 6 means "rotate 90 degrees clockwise to display", so the stored pixels are the upright
    picture rotated 90 degrees counter-clockwise; orientation 8 is the opposite.
    """
    stored = {6: np.rot90(pixels, k=1), 8: np.rot90(pixels, k=-1), 3: np.rot90(pixels, k=2), 1: pixels}[orientation]
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    return encode(np.ascontiguousarray(stored), "JPEG", quality=95, exif=exif.tobytes())


def _patch(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


def jpeg_with_size(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF0 header is patched to claim ``width`` x ``height``."""
    data = encode(np.full((16, 16, 3), 90, np.uint8), "JPEG")
    sof = data.index(b"\xff\xc0")
    return _patch(data, sof + 5, struct.pack(">HH", height, width))


def gif_with_size(width: int, height: int) -> bytes:
    """A small real GIF whose logical screen and first image descriptor claim ``width`` x ``height``."""
    data = encode(Image.new("P", (8, 8)), "GIF")
    data = _patch(data, 6, struct.pack("<HH", width, height))
    descriptor = data.index(b"\x2c", 13)
    return _patch(data, descriptor + 5, struct.pack("<HH", width, height))


def bmp_with_size(width: int, height: int) -> bytes:
    data = encode(np.zeros((8, 8, 3), np.uint8), "BMP")
    return _patch(data, 18, struct.pack("<ii", width, height))


def png_with_ihdr(width: int, height: int) -> bytes:
    """A real 8x8 PNG whose IHDR (CRC fixed) claims another size."""
    data = encode(np.zeros((8, 8), np.uint8), "PNG")
    ihdr = data.index(b"IHDR") - 4
    payload = struct.pack(">II", width, height) + data[ihdr + 16 : ihdr + 21]
    return data[:ihdr] + png_chunk(b"IHDR", payload) + data[ihdr + 25 :]


def png_bad_crc() -> bytes:
    data = bytearray(encode(astronaut()[:64, :64], "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF
    return bytes(data)


def sixteen_bit_gray_png() -> tuple[bytes, np.ndarray]:
    """A 16-bit grayscale PNG (a real photo's luma scaled to 0..65535) and its 16-bit values."""
    gray = astronaut().astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    values = np.round(gray / 255.0 * 65535).astype(np.uint16)[::4, ::4]
    return encode(Image.fromarray(values), "PNG"), values


def sixteen_bit_rgb_png() -> bytes:
    """A 48-bit RGB PNG written by OpenCV (Pillow cannot write one)."""
    import cv2

    rgb16 = astronaut()[::4, ::4].astype(np.uint16) * 257
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb16[:, :, ::-1]))
    assert ok
    return encoded.tobytes()


def animated(image_format: str, frames: int = 4, size: int = 64) -> bytes:
    images = [Image.new("RGB", (size, size), (60 * i, 255 - 60 * i, 40)) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, image_format, save_all=True, append_images=images[1:], duration=100, loop=0)
    return buffer.getvalue()


def palette_png_with_transparency() -> bytes:
    image = Image.fromarray(astronaut()[:128, :128]).convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    return encode(image, "PNG", transparency=0)


def cmyk_jpeg() -> bytes:
    return encode(Image.fromarray(astronaut()).convert("CMYK"), "JPEG", quality=90)


def jpeg_with_broken_exif() -> bytes:
    """A valid JPEG whose APP1 EXIF block is garbage after the TIFF header."""
    exif = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + bytes(range(256)) * 2
    return encode(portrait(), "JPEG", exif=exif)


def mpo() -> bytes:
    """A multi-picture JPEG (what some phones and 3-D cameras write): two pictures of different sizes."""
    first, second = Image.fromarray(portrait()), Image.fromarray(astronaut()[:64, :64])
    buffer = io.BytesIO()
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    return buffer.getvalue()


def build_corpus() -> list[Case]:
    photo = astronaut()
    jpeg = encode(photo, "JPEG", quality=90)
    png = encode(photo[:256, :256], "PNG")
    return _refused_cases(photo, jpeg, png) + _read_cases(photo, jpeg, png)


def _refused_cases(photo: np.ndarray, jpeg: bytes, png: bytes) -> list[Case]:
    """Inputs the app refuses, each with (part of) the message the user must see."""
    return [
        Case("empty.jpg", b"", message="empty"),
        Case("notes.jpg", b"These are my notes, not a photo.\n" * 20, message="not an image"),
        Case("page.png", b"<!doctype html><html><body>hello</body></html>", message="not an image"),
        Case(
            "drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', message="not an image"
        ),
        Case("zeros.jpg", bytes(4096), message="not an image"),
        Case("truncated-half.jpg", jpeg[: len(jpeg) // 2], message="truncated"),
        Case("truncated-header.jpg", jpeg[:120], message=""),
        Case("truncated-2-bytes.jpg", jpeg[:2], message=""),
        Case("truncated-half.png", png[: len(png) // 2], message="truncated"),
        Case("truncated-after-ihdr.png", png[:33], message=""),
        Case("bad-crc.png", png_bad_crc(), message=""),
        Case("bomb-20000x20000.png", png_bomb(20000, 20000, rows=64), message="too many pixels"),
        Case("bomb-8000x8000.png", png_bomb(8000, 8000), message="8000x8000"),
        Case("bomb-65000x65000.jpg", jpeg_with_size(65000, 65000), message="too many pixels"),
        Case("bomb-8000x8000.jpg", jpeg_with_size(8000, 8000), message="8000x8000"),
        Case("bomb-65535x65535.gif", gif_with_size(65535, 65535), message="pixels"),
        Case("bomb-30000x30000.bmp", bmp_with_size(30000, 30000), message="pixels"),
        Case("ihdr-0x0.png", png_with_ihdr(0, 0), message=""),
        Case("too-big.jpg", jpeg + bytes(25 * 1024 * 1024), message="the limit is 25 MB"),
        Case("image.tiff", encode(photo[:64, :64], "TIFF"), message="TIFF"),
        Case("photo.heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64), message="HEIC"),
        Case("scan.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", message="PDF"),
    ]


def _read_cases(photo: np.ndarray, jpeg: bytes, png: bytes) -> list[Case]:
    """Unusual but valid inputs the app reads, each with the RGB shape it must come out as."""
    sixteen, values = sixteen_bit_gray_png()
    height, width = portrait().shape[:2]
    return [
        Case("16bit-gray.png", sixteen, shape=(*values.shape, 3)),
        Case("16bit-rgb.png", sixteen_bit_rgb_png(), shape=(128, 128, 3)),
        Case("cmyk.jpg", cmyk_jpeg(), shape=(512, 512, 3)),
        Case(
            "rgba.png", encode(np.dstack([photo, np.full(photo.shape[:2], 128, np.uint8)]), "PNG"), shape=(512, 512, 3)
        ),
        Case("la.png", encode(Image.fromarray(photo).convert("LA"), "PNG"), shape=(512, 512, 3)),
        Case("palette.png", palette_png_with_transparency(), shape=(128, 128, 3)),
        Case("bilevel.png", encode(Image.fromarray(photo).convert("1"), "PNG"), shape=(512, 512, 3)),
        Case("animated.gif", animated("GIF"), shape=(64, 64, 3)),
        Case("animated.png", animated("PNG"), shape=(64, 64, 3)),
        Case("animated.webp", animated("WEBP"), shape=(64, 64, 3)),
        Case("gray.jpg", encode(Image.fromarray(photo).convert("L"), "JPEG"), shape=(512, 512, 3)),
        Case("1x1.png", encode(np.zeros((1, 1, 3), np.uint8), "PNG"), shape=(1, 1, 3)),
        Case("1x1.jpg", encode(np.zeros((1, 1, 3), np.uint8), "JPEG"), shape=(1, 1, 3)),
        Case("10000x50.png", encode(np.tile(photo[:50, :100], (1, 100, 1)), "PNG"), shape=(50, 10000, 3)),
        Case("50x10000.jpg", encode(np.tile(photo[:100, :50], (100, 1, 1)), "JPEG"), shape=(10000, 50, 3)),
        Case("exif-6.jpg", with_orientation(portrait(), 6), shape=(height, width, 3)),
        Case("exif-8.jpg", with_orientation(portrait(), 8), shape=(height, width, 3)),
        Case("broken-exif.jpg", jpeg_with_broken_exif(), shape=(height, width, 3)),
        Case("png-named.jpg", png, shape=(256, 256, 3)),
        Case("jpeg-named.png", jpeg, shape=(512, 512, 3)),
        Case("no-extension", jpeg, shape=(512, 512, 3)),
        Case("trailing-garbage.jpg", jpeg + b"\x00garbage" * 100, shape=(512, 512, 3)),
        Case("progressive.jpg", encode(photo, "JPEG", progressive=True), shape=(512, 512, 3)),
        Case("camera.jpg", mpo(), shape=(height, width, 3)),
        Case("photo.webp", encode(photo, "WEBP", quality=80), shape=(512, 512, 3)),
        Case(
            "lossless-alpha.webp",
            encode(np.dstack([photo, photo[:, :, 0]]), "WEBP", lossless=True),
            shape=(512, 512, 3),
        ),
        Case("photo.bmp", encode(photo, "BMP"), shape=(512, 512, 3)),
        Case("gray.bmp", encode(Image.fromarray(photo).convert("L"), "BMP"), shape=(512, 512, 3)),
        Case("../../etc/passwd\n\x1b[31m.jpg", jpeg, shape=(512, 512, 3)),
    ]
