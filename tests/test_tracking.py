"""fer_core.recognition.tracking: faces followed between full detections stay where the detector would put them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_core.measure.sample_frames import no_face_frame, one_face_frame, three_face_frame
from fer_core.recognition.detector import FaceDetector, box_iou
from fer_core.recognition.tracking import FaceTracker, TrackerConfig


def _gray(frame) -> np.ndarray:
    return cv2.cvtColor(frame.image, cv2.COLOR_RGB2GRAY)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


@pytest.mark.parametrize("make_frame", [one_face_frame, three_face_frame])
def test_tracked_boxes_match_full_detection(detector, make_frame):
    gray = _gray(make_frame())
    expected = detector.detect(gray)
    tracker = FaceTracker(detector, TrackerConfig(redetect_every=5))
    for _ in range(12):
        boxes = tracker.detect(gray)
        assert len(boxes) == len(expected)
        for box in boxes:
            assert max(box_iou(box, other) for other in expected) > 0.7
    assert tracker.full_detections == 3  # frames 1, 6 and 11
    assert tracker.tracked_frames == 9


def test_follows_a_moving_face(detector):
    gray = _gray(one_face_frame())
    tracker = FaceTracker(detector, TrackerConfig(redetect_every=100))
    first = tracker.detect(gray)
    assert len(first) == 1
    for shift in range(4, 40, 4):  # the face moves 4 px right per frame
        moved = np.roll(gray, shift, axis=1)
        (box,) = tracker.detect(moved)
        assert abs(box[0] - (first[0][0] + shift)) <= 6
    assert tracker.full_detections == 1


def test_lost_face_falls_back_to_full_detection(detector):
    tracker = FaceTracker(detector, TrackerConfig(redetect_every=100))
    assert len(tracker.detect(_gray(one_face_frame()))) == 1
    assert tracker.detect(_gray(no_face_frame())) == []
    assert tracker.full_detections == 2


def test_recognizer_with_tracker_gives_the_same_emotions(recognizer):
    frame = three_face_frame().image
    plain = recognizer.analyze(frame)
    tracker = recognizer.new_tracker(TrackerConfig(redetect_every=4))
    for _ in range(6):
        tracked = recognizer.analyze(frame, tracker=tracker)
        assert [face.emotion for face in tracked] == [face.emotion for face in plain]


def test_empty_view_is_searched_every_few_frames(detector):
    tracker = FaceTracker(detector, TrackerConfig(empty_redetect_every=3))
    empty, face = _gray(no_face_frame()), _gray(one_face_frame())
    assert [tracker.detect(empty) for _ in range(6)] == [[]] * 6
    assert tracker.full_detections == 2  # frames 1 and 4
    # a face that appears is found at the next full search, at most two frames later
    found_after = next(i for i in range(3) if tracker.detect(face))
    assert found_after <= 2


def test_bad_config():
    with pytest.raises(ValueError):
        TrackerConfig(redetect_every=0)
    with pytest.raises(ValueError):
        TrackerConfig(size_tolerance=1.5)
