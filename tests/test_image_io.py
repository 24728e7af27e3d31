"""fer_core.recognition.image_io.load_image: what is decoded, how, and what is refused (before decoding)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from bad_input_corpus import (
    animated,
    astronaut,
    cmyk_jpeg,
    mpo,
    palette_png_with_transparency,
    portrait,
    sixteen_bit_gray_png,
    sixteen_bit_rgb_png,
    with_orientation,
)
from PIL import Image
from reliability_support import encode

from fer_core.recognition.detector import FaceDetector
from fer_core.recognition.image_io import SUPPORTED_FORMATS, ImageLimits, ImageLoadError, display_name, load_image
from fer_core.recognition.preprocessing import to_gray

REPO = Path(__file__).resolve().parent.parent


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.mark.parametrize(
    ("image_format", "options", "tolerance"),
    [("PNG", {}, 0.0), ("BMP", {}, 0.0), ("JPEG", {"quality": 95}, 3.0), ("WEBP", {"quality": 90}, 6.0)],
)
def test_real_photo_round_trips(image_format, options, tolerance):
    photo = astronaut()
    pixels = load_image(encode(photo, image_format, **options), name=f"photo.{image_format.lower()}")
    assert pixels.dtype == np.uint8 and pixels.shape == photo.shape and pixels.flags.c_contiguous
    assert mean_abs_diff(pixels, photo) <= tolerance


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied_to_a_real_photo(orientation):
    upright = portrait()
    data = with_orientation(upright, orientation)
    stored = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert stored.shape != upright.shape or mean_abs_diff(stored, upright) > 30  # really stored rotated

    pixels = load_image(data, name=f"exif-{orientation}.jpg")

    assert pixels.shape == upright.shape
    assert mean_abs_diff(pixels, upright) < 4.0
    # The face detector (frontal faces only) finds the astronaut's face only once the photo is upright.
    detector = FaceDetector()
    assert detector.detect(to_gray(pixels)), "no face in the rotated-back photo"
    if orientation in (6, 8):
        assert not detector.detect(to_gray(stored)), "the stored (sideways) photo should show no frontal face"


def test_broken_exif_keeps_the_photo():
    exif = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + bytes(range(256)) * 2
    pixels = load_image(encode(portrait(), "JPEG", quality=95, exif=exif), name="broken-exif.jpg")
    assert mean_abs_diff(pixels, portrait()) < 4.0


def test_sixteen_bit_grayscale_is_scaled_not_clipped():
    data, values = sixteen_bit_gray_png()
    pixels = load_image(data, name="16bit.png")
    expected = np.round(values / 257.0).astype(np.uint8)
    assert pixels.shape == (*values.shape, 3)
    assert np.array_equal(pixels[:, :, 0], expected)
    assert np.array_equal(pixels[:, :, 0], pixels[:, :, 1]) and np.array_equal(pixels[:, :, 1], pixels[:, :, 2])
    # Clipping 16-bit values to 255 would make almost everything white.
    assert (pixels[:, :, 0] == 255).mean() < 0.05 and pixels.std() > 30


def test_sixteen_bit_rgb_keeps_the_colours():
    pixels = load_image(sixteen_bit_rgb_png(), name="48bit.png")
    assert np.array_equal(pixels, astronaut()[::4, ::4])


def test_cmyk_jpeg_becomes_the_right_rgb():
    assert mean_abs_diff(load_image(cmyk_jpeg(), name="cmyk.jpg"), astronaut()) < 4.0


def test_transparency_is_composited_onto_white():
    rgba = np.zeros((32, 64, 4), np.uint8)
    rgba[:, :, :3] = (200, 30, 30)
    rgba[:, 32:, 3] = 255  # right half opaque, left half fully transparent
    pixels = load_image(encode(rgba, "PNG"), name="alpha.png")
    assert np.all(pixels[:, :32] == 255)
    assert np.all(pixels[:, 32:] == (200, 30, 30))
    palette = load_image(palette_png_with_transparency(), name="palette.png")
    assert palette.shape == (128, 128, 3)


@pytest.mark.parametrize("image_format", ["GIF", "PNG", "WEBP"])
def test_animated_files_give_their_first_frame(image_format):
    pixels = load_image(animated(image_format), name=f"animated.{image_format.lower()}")
    assert pixels.shape == (64, 64, 3)
    assert np.all(np.abs(pixels.astype(int) - (0, 255, 40)) <= 3)  # frame 0's colour, not frame 1's


def test_multi_picture_jpeg_gives_its_first_picture():
    pixels = load_image(mpo(), name="camera.jpg")
    assert mean_abs_diff(pixels, portrait()) < 4.0


@pytest.mark.parametrize("shape", [(1, 1), (50, 10000), (10000, 50), (24, 24)])
def test_extreme_shapes(shape):
    gray = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    pixels = load_image(encode(gray, "PNG"), name="odd.png")
    assert pixels.shape == (*shape, 3) and np.array_equal(pixels[:, :, 0], gray)


def test_content_decides_not_the_extension(tmp_path):
    path = tmp_path / "actually-a-png.jpg"
    path.write_bytes(encode(astronaut(), "PNG"))
    assert np.array_equal(load_image(path), astronaut())
    assert np.array_equal(load_image(str(path)), astronaut())


def test_bytes_like_inputs():
    data = encode(astronaut()[:32, :32], "PNG")
    for source in (data, bytearray(data), memoryview(data)):
        assert np.array_equal(load_image(source), astronaut()[:32, :32])
    with pytest.raises(TypeError):
        load_image(12345)  # type: ignore[arg-type]


def test_path_errors_name_the_file(tmp_path):
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageLoadError, match="is a folder"):
        load_image(tmp_path)
    sparse = tmp_path / "huge.jpg"
    with sparse.open("wb") as handle:
        handle.truncate(ImageLimits().max_bytes + 1)  # sparse: costs no disk
    with pytest.raises(ImageLoadError, match=r"huge\.jpg is 25\.0 MB; the limit is 25 MB"):
        load_image(sparse)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_special_files_are_refused_without_blocking_or_reading_forever(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    for special in (fifo, Path("/dev/zero")):
        started = time.perf_counter()
        with pytest.raises(ImageLoadError, match="not a regular file"):
            load_image(special)
        assert time.perf_counter() - started < 1.0


def test_limits_are_configurable():
    data = encode(astronaut()[:64, :64], "PNG")
    with pytest.raises(ImageLoadError, match=r"64x64 pixels .*the limit is 0 MP"):
        load_image(data, limits=ImageLimits(max_pixels=1000))
    with pytest.raises(ImageLoadError, match="the limit is 0 MB"):
        load_image(data, limits=ImageLimits(max_bytes=100))
    with pytest.raises(ImageLoadError, match="is a PNG file, which is not supported"):
        load_image(data, limits=ImageLimits(formats=("JPEG",)))
    for bad in ({"max_bytes": 0}, {"max_pixels": -1}, {"formats": ()}, {"formats": ("TIFF",)}):
        with pytest.raises(ValueError):
            ImageLimits(**bad)
    assert ImageLimits().max_upload_mb == 25 and "GIF" in SUPPORTED_FORMATS


def test_display_name_is_safe_for_messages_and_logs():
    assert display_name(None) == "the upload"
    assert display_name("") == "the upload"
    cleaned = display_name("evil\nname\x1b[31m.jpg")
    assert "\n" not in cleaned and "\x1b" not in cleaned and cleaned.endswith(".jpg")
    assert len(display_name("x" * 500)) == 80
    with pytest.raises(ImageLoadError) as error:
        load_image(b"not an image", name="line1\nline2.jpg")
    assert "\n" not in str(error.value)


BOMB_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, time
    sys.path.insert(0, "tests")
    from bad_input_corpus import bmp_with_size, gif_with_size, jpeg_with_size
    from reliability_support import png_bomb
    from fer_core.recognition.image_io import ImageLoadError, load_image

    bombs = {
        "png 20000x20000 (Pillow's cap)": png_bomb(20000, 20000, rows=64),
        "png 8000x8000 complete zlib stream (our cap)": png_bomb(8000, 8000),
        "png 6400x6400 (our cap, 41 MP)": png_bomb(6400, 6400, rows=64),
        "jpeg 65000x65000": jpeg_with_size(65000, 65000),
        "jpeg 8000x8000": jpeg_with_size(8000, 8000),
        "gif 65535x65535": gif_with_size(65535, 65535),
        "bmp 30000x30000": bmp_with_size(30000, 30000),
    }
    load_image(png_bomb(64, 64))  # warm up the decoders
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = {}
    for name, data in bombs.items():
        started = time.perf_counter()
        try:
            load_image(data, name=name)
            outcome = "decoded"
        except ImageLoadError as error:
            outcome = str(error)
        report[name] = {"seconds": time.perf_counter() - started, "outcome": outcome}
    growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({"peak_growth_mib": growth_kib / 1024, "bombs": report}))
    """
)


def test_decompression_bombs_are_refused_before_any_pixel_is_allocated():
    """In a fresh interpreter (so its peak RSS means something): each bomb is refused in milliseconds and the
    peak resident memory does not grow by even one decoded row band (the smallest bomb would need 41 MB)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", BOMB_SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for name, entry in report["bombs"].items():
        assert entry["outcome"] != "decoded", name
        assert "pixels" in entry["outcome"] and "the limit is 40 MP" in entry["outcome"], entry
        assert entry["seconds"] < 0.5, (name, entry)
    assert report["peak_growth_mib"] < 16, report
