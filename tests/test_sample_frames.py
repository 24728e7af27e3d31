"""fer_core.measure.sample_frames: the real frames the bench and the tests share are what they say they are."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.measure.sample_frames import (
    FRAME_SIZE,
    astronaut_head,
    letterboxed,
    no_face_frame,
    one_face_frame,
    paste,
    sample_frames,
    three_face_frame,
)
from fer_core.recognition.detector import box_iou


def test_frames_are_640x480_rgb_and_deterministic():
    first, second = sample_frames(), sample_frames()
    assert [f.name for f in first] == ["one_face", "three_faces", "no_face"]
    assert [len(f.faces) for f in first] == [1, 3, 0]
    for a, b in zip(first, second, strict=True):
        assert a.image.shape == (FRAME_SIZE[1], FRAME_SIZE[0], 3) and a.image.dtype == np.uint8
        np.testing.assert_array_equal(a.image, b.image)
        assert a.faces == b.faces


def test_face_boxes_lie_inside_the_frame_and_do_not_overlap():
    for frame in (one_face_frame(), three_face_frame(), no_face_frame()):
        for x, y, w, h in frame.faces:
            assert x >= 0 and y >= 0 and x + w <= FRAME_SIZE[0] and y + h <= FRAME_SIZE[1] and w > 40
        for i, a in enumerate(frame.faces):
            assert all(box_iou(a, b) == 0 for b in frame.faces[i + 1 :])


def test_three_face_frame_lists_the_heads_largest_first_and_refuses_too_many():
    areas = [w * h for _, _, w, h in three_face_frame().faces]
    assert areas == sorted(areas, reverse=True)
    with pytest.raises(ValueError, match="do not fit"):
        three_face_frame((300, 300, 300))


def test_astronaut_head_keeps_the_face_centred():
    head, (x, y, w, h) = astronaut_head(200)
    assert head.shape == (200, 200, 3)
    assert abs((x + w / 2) - 100) <= 2 and abs((y + h / 2) - 100) <= 2 and 100 < w < 160


def test_paste_copies_pixels_and_refuses_what_does_not_fit():
    canvas = np.zeros((50, 60, 3), np.uint8)
    patch = np.full((10, 20, 3), 7, np.uint8)
    assert paste(canvas, patch, 40, 5) == (40, 5, 20, 10)
    assert canvas[5:15, 40:60].min() == 7 and canvas.sum() == patch.sum()
    with pytest.raises(ValueError, match="does not fit"):
        paste(canvas, patch, 41, 0)
    with pytest.raises(ValueError, match="does not fit"):
        paste(canvas, patch, -1, 0)


@pytest.mark.parametrize("size", [(1280, 720), (480, 640), (320, 240)])
def test_letterboxed_frames_keep_the_face_shape_and_are_still_detected(size):
    import cv2

    from fer_core.recognition.detector import FaceDetector

    frame = letterboxed(one_face_frame(), size)
    assert frame.image.shape == (size[1], size[0], 3)
    ((x, y, w, h),) = frame.faces
    assert abs(w - h) <= 1 and x >= 0 and y >= 0 and x + w <= size[0] and y + h <= size[1]
    gray = cv2.cvtColor(frame.image, cv2.COLOR_RGB2GRAY)
    found = FaceDetector().detect(gray)
    assert len(found) == 1 and box_iou(found[0], frame.faces[0]) > 0.5


def test_letterboxed_same_size_is_unchanged_and_bad_size_refused():
    frame = three_face_frame()
    assert letterboxed(frame, FRAME_SIZE) is frame
    with pytest.raises(ValueError, match="positive"):
        letterboxed(frame, (0, 480))
