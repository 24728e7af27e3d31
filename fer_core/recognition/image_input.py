"""Turn what callers pass (RGB/BGR arrays, PIL images) into one RGB uint8 array and its grayscale."""

from __future__ import annotations

from typing import Any

import numpy as np

from fer_core.recognition.preprocessing import to_gray


def as_rgb_array(image: Any, *, bgr: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(pixels, gray)``: the image as a uint8 array in its own channel order, and its 2-D grayscale.

    ``image`` is a numpy array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) — RGB unless ``bgr=True`` — or a PIL
    image (converted to RGB; ``bgr`` is ignored).
    """
    if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL.Image.Image without importing PIL
        pil = image if image.mode in ("L", "RGB") else image.convert("RGB")
        pixels = np.asarray(pil)
        bgr = False
    elif isinstance(image, np.ndarray):
        pixels = image
    else:
        raise ValueError(f"expected a numpy array or a PIL image, got {type(image).__name__}")
    if pixels.ndim not in (2, 3) or pixels.size == 0:
        raise ValueError(f"expected a non-empty image of shape (H, W) or (H, W, C), got {pixels.shape}")
    return pixels, to_gray(pixels, bgr=bgr)
