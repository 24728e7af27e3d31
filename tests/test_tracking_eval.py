"""fer_core.measure.tracking_eval: the moving clip's true boxes follow the faces, and tracking keeps accuracy on it."""

from __future__ import annotations

import pytest

from fer_core.measure.sample_frames import no_face_frame, one_face_frame, three_face_frame
from fer_core.measure.tracking_eval import CameraMotion, compare_tracking, moving_clip
from fer_core.recognition.detector import box_iou


def test_clip_moves_the_camera_and_the_true_boxes_with_it(recognizer):
    frames = list(moving_clip(one_face_frame(), CameraMotion(frames=30)))
    assert len(frames) == 30
    boxes = [boxes[0] for _, boxes in frames]
    assert len({box[:2] for box in boxes}) > 10, "the face should move across the clip"
    for image, (box,) in frames[::7]:
        found = recognizer.analyze(image)
        assert found and box_iou(found[0].box, box) >= 0.4, "the true box must be where the detector sees the face"


@pytest.mark.parametrize("frame", [one_face_frame(), three_face_frame()], ids=["one_face", "three_faces"])
def test_tracked_stream_finds_the_same_faces_and_emotions_as_full_detection(recognizer, frame):
    report = compare_tracking(recognizer, frame, motion=CameraMotion(frames=40))
    assert report["frames"] == 40 and report["true_faces"] == 40 * len(frame.faces)
    assert report["recall_full"] >= 0.9
    assert report["recall_tracked"] >= report["recall_full"] - 0.05
    assert report["emotion_agreement"] is not None and report["emotion_agreement"] >= 0.9


def test_bad_arguments():
    with pytest.raises(ValueError, match="no known faces"):
        compare_tracking(None, no_face_frame())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CameraMotion(frames=0)
