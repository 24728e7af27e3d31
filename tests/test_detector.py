"""FaceDetector on real photos: where faces are found, where none are, and bad settings."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data
from conftest import fer_fixture_faces

from fer_core.measure.sample_frames import ASTRONAUT_FACE, paste, three_face_frame
from fer_core.recognition.detector import DetectorConfig, FaceDetector, box_iou
from fer_core.recognition.preprocessing import to_gray


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def test_astronaut_face_found_where_it_is_and_nothing_else(detector):
    boxes = detector.detect(to_gray(skimage.data.astronaut()))
    assert len(boxes) == 1, boxes  # the space shuttle on the right is not a face
    assert box_iou(boxes[0], ASTRONAUT_FACE) > 0.6, boxes


def test_boxes_map_back_from_the_downscaled_detection(detector):
    # A 1280x960 frame is detected at 320 px wide (a quarter): the box must come back in full-size pixels.
    photo = cv2.resize(skimage.data.astronaut(), (768, 768), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((960, 1280, 3), 90, np.uint8)
    paste(canvas, photo, 450, 150)
    x, y, w, h = (round(v * 1.5) for v in ASTRONAUT_FACE)
    boxes = detector.detect(to_gray(canvas))
    assert len(boxes) == 1, boxes
    assert box_iou(boxes[0], (x + 450, y + 150, w, h)) > 0.5, boxes


def test_pasted_fer2013_faces_are_found_where_pasted(detector):
    # Real FER2013 faces, upscaled to 150 px and pasted on a 640x480 grey canvas, one at a time.
    faces = fer_fixture_faces("test")
    found = 0
    for index, (path, _, face) in enumerate(faces):
        canvas = np.full((480, 640), 128, np.uint8)
        truth = paste(canvas, cv2.resize(face, (150, 150)), 40 + (index * 67) % 420, 30 + (index * 41) % 280)
        boxes = detector.detect(canvas)
        assert len(boxes) <= 1, (path.name, boxes)  # never a second box on a plain background
        if boxes:
            assert box_iou(boxes[0], truth) > 0.5, (path.name, boxes, truth)
            found += 1
    # docs/detector.md: the default configuration finds about 70% of these tightly cropped faces.
    assert found >= 0.6 * len(faces), f"found {found} of {len(faces)}"


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket", "coins", "immunohistochemistry", "brick"])
def test_no_face_in_photos_without_faces(detector, name):
    assert detector.detect(to_gray(getattr(skimage.data, name)())) == []


def test_no_face_in_blank_and_noise_images(detector):
    rng = np.random.default_rng(1)
    assert detector.detect(np.zeros((480, 640), np.uint8)) == []
    assert detector.detect(np.full((480, 640), 255, np.uint8)) == []
    assert detector.detect(rng.integers(0, 256, (480, 640), dtype=np.uint8)) == []
    smooth = cv2.GaussianBlur(rng.integers(0, 256, (480, 640), dtype=np.uint8), (0, 0), 6)
    assert detector.detect(cv2.normalize(smooth, None, 0, 255, cv2.NORM_MINMAX)) == []


def test_several_faces_give_several_boxes_largest_first(detector):
    frame = three_face_frame()
    boxes = detector.detect(to_gray(frame.image))
    assert len(boxes) == 3, boxes
    areas = [w * h for _, _, w, h in boxes]
    assert areas == sorted(areas, reverse=True)
    for box, truth in zip(boxes, frame.faces, strict=True):  # the pasted heads are largest first too
        assert box_iou(box, truth) > 0.5, (box, truth)


def test_max_faces_caps_the_list_keeping_the_largest():
    frame = three_face_frame()
    every = FaceDetector().detect(to_gray(frame.image))
    capped = FaceDetector(DetectorConfig(max_faces=2)).detect(to_gray(frame.image))
    assert capped == every[:2]


@pytest.mark.parametrize("shape", [(1, 1), (20, 20), (23, 640), (480, 10)])
def test_tiny_images_give_no_faces(detector, shape):
    assert detector.detect(np.full(shape, 128, np.uint8)) == []


def test_a_tiny_face_photo_gives_no_faces(detector):
    small = cv2.resize(to_gray(skimage.data.astronaut()), (22, 22), interpolation=cv2.INTER_AREA)
    assert detector.detect(small) == []


def test_colour_input_is_refused(detector):
    with pytest.raises(ValueError, match="2-D grayscale"):
        detector.detect(skimage.data.astronaut())


@pytest.mark.parametrize(
    "settings",
    [
        {"scale_factor": 1.0},
        {"scale_factor": 0.5},
        {"min_neighbors": -1},
        {"verify_min_neighbors": -1},
        {"min_size_fraction": 1.0},
        {"min_size_fraction": -0.1},
        {"detect_width": -1},
        {"max_faces": 0},
    ],
)
def test_bad_settings_are_refused(settings):
    with pytest.raises(ValueError):
        DetectorConfig(**settings)


def test_missing_cascade_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        FaceDetector(DetectorConfig(cascade="no_such_cascade.xml"))
    broken = tmp_path / "broken.xml"
    broken.write_text("<opencv_storage></opencv_storage>")
    with pytest.raises(ValueError, match="cannot load"):
        FaceDetector(DetectorConfig(verify_cascade=str(broken)))


def test_full_resolution_detection_finds_the_same_face():
    full = FaceDetector(DetectorConfig(detect_width=0)).detect(to_gray(skimage.data.astronaut()))
    assert len(full) == 1 and box_iou(full[0], ASTRONAUT_FACE) > 0.6


def test_threads_get_their_own_cascades_and_the_same_boxes(detector):
    import threading

    gray = to_gray(three_face_frame().image)
    expected = detector.detect(gray)
    results: list[list] = []

    def work() -> None:
        results.append([detector.detect(gray) for _ in range(3)])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [[expected] * 3] * 4


def test_box_iou():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0
