"""The one preprocessing function shared by training and inference.

Training (``training/``) and inference (``fer_core.recognition.recognizer``) both call :func:`prepare_faces`,
so the pixels the model sees at run time are prepared exactly as during training.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

INPUT_SIZE: int = 48
"""Side of the square grayscale face the model takes (FER2013's native size)."""

PREPROCESSING_DESCRIPTION: str = (
    "grayscale (ITU-R BT.601 luma), resize to 48x48 (INTER_AREA when shrinking, INTER_LINEAR when "
    "enlarging), float32 scaled to [0, 1], shape (N, 48, 48, 1)"
)


def to_gray(image: np.ndarray, *, bgr: bool = False) -> np.ndarray:
    """Return a 2-D uint8 grayscale view/copy of an image (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.size and float(np.nanmax(array)) <= 1.0:
            array = array * 255.0
        array = np.clip(np.nan_to_num(array), 0, 255).astype(np.uint8)
    if array.ndim == 2:
        return array
    if array.ndim == 3 and array.shape[2] == 1:
        return array[:, :, 0]
    if array.ndim == 3 and array.shape[2] == 3:
        return cv2.cvtColor(array, cv2.COLOR_BGR2GRAY if bgr else cv2.COLOR_RGB2GRAY)
    if array.ndim == 3 and array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2GRAY if bgr else cv2.COLOR_RGBA2GRAY)
    raise ValueError(f"expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {array.shape}")


def resize_face(gray: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """Resize a 2-D grayscale face to ``size`` x ``size``."""
    if gray.ndim != 2 or gray.shape[0] == 0 or gray.shape[1] == 0:
        raise ValueError(f"expected a non-empty 2-D grayscale face, got shape {gray.shape}")
    if gray.shape == (size, size):
        return gray
    shrinking = gray.shape[0] > size or gray.shape[1] > size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(gray, (size, size), interpolation=interpolation)


def prepare_faces(faces: Sequence[np.ndarray] | np.ndarray, *, bgr: bool = False, size: int = INPUT_SIZE) -> np.ndarray:
    """Turn face crops (any size, grayscale or colour) into the model's input batch.

    ``faces`` is a sequence of images, or a uint8 array (N, H, W) / (N, H, W, 1) of grayscale faces.
    Returns float32 (N, size, size, 1) in [0, 1].
    """
    if isinstance(faces, np.ndarray) and faces.ndim in (3, 4) and (faces.ndim == 3 or faces.shape[3] == 1):
        stack = faces.reshape(faces.shape[0], faces.shape[1], faces.shape[2])
        if stack.shape[1:] == (size, size) and stack.dtype == np.uint8:
            return (stack.astype(np.float32) * (1.0 / 255.0))[..., None]
        faces = list(stack)
    batch = np.empty((len(faces), size, size, 1), dtype=np.float32)
    for index, face in enumerate(faces):
        gray = resize_face(to_gray(face, bgr=bgr), size)
        batch[index, :, :, 0] = gray
    batch *= 1.0 / 255.0
    return batch
