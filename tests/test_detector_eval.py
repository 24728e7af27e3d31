"""fer_core.measure.detector_eval: the samples it builds and how it counts faces found and false positives."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FER_FIXTURES

from fer_core.measure.detector_eval import (
    FACE_SIDES,
    Sample,
    astronaut_samples,
    format_false_positives,
    format_table,
    load_fixture_faces,
    negative_samples,
    pasted_face_canvases,
    score_all,
)
from fer_core.measure.sample_frames import FRAME_SIZE
from fer_core.recognition.detector import box_iou


def test_every_fixture_face_is_pasted_once_per_size_where_its_box_says():
    faces = load_fixture_faces(FER_FIXTURES)
    assert len(faces) == 98
    samples = pasted_face_canvases(faces[:10], sides=(60, 200))
    assert sum(len(s.faces) for s in samples) == 20
    for sample in samples:
        assert sample.gray.shape == (FRAME_SIZE[1], FRAME_SIZE[0])
        side = int(sample.group.split()[-2])
        for i, (x, y, w, h) in enumerate(sample.faces):
            assert w == h == side and x + w <= FRAME_SIZE[0] and y + h <= FRAME_SIZE[1]
            assert all(box_iou((x, y, w, h), other) == 0 for other in sample.faces[i + 1 :])
    assert FACE_SIDES[0] == 60 and FACE_SIDES[-1] == 200


def test_astronaut_and_negative_samples():
    assert [len(s.faces) for s in astronaut_samples()] == [1, 1, 1, 1, 3]
    negatives = negative_samples(["coffee"])
    assert [s.name for s in negatives] == ["coffee", "coffee_mirrored", "blank", "noise"]
    assert all(not s.faces for s in negatives)
    np.testing.assert_array_equal(negatives[0].gray[:, ::-1], negatives[1].gray)


def test_scoring_counts_matches_duplicates_and_false_positives():
    samples = [
        Sample("two", np.zeros((480, 640), np.uint8), ((10, 10, 100, 100), (300, 10, 100, 100)), "faces"),
        Sample("none", np.zeros((480, 640), np.uint8), (), "no faces"),
    ]
    answers = {
        "two": [(12, 12, 100, 100), (14, 10, 98, 98), (500, 300, 50, 50)],  # a hit, a duplicate, a stray box
        "none": [(0, 0, 30, 30)],
    }
    scores = score_all({"fake": lambda gray: answers["two" if gray is samples[0].gray else "none"]}, samples, 0.4)
    result = scores["fake"]
    assert result.recall() == (1, 2) and result.recall("faces") == (1, 2)
    assert result.false_on_faces == 2 and result.false_on_negatives == 1 and result.negative_images_with_false == 1
    assert len(result.seconds) == 2 and len(result.frame_seconds) == 2
    assert format_false_positives(scores) == "- fake: two (2), none (1)"
    table = format_table(scores, samples).splitlines()
    assert len(table) == 3 and table[2].startswith("| fake | 1/2 (50%) | 1/2 | 1 (in 1 images) | 2 |")


def test_iou_threshold_decides_what_counts_as_found():
    sample = Sample("one", np.zeros((480, 640), np.uint8), ((100, 100, 100, 100),), "faces")
    shifted = [(150, 100, 100, 100)]  # IoU 1/3
    assert score_all({"f": lambda g: shifted}, [sample], 0.3)["f"].recall() == (1, 1)
    assert score_all({"f": lambda g: shifted}, [sample], 0.4)["f"].recall() == (0, 1)


@pytest.mark.parametrize("missing", ["no_such_folder"])
def test_missing_fixtures_are_a_clear_error(tmp_path, missing):
    from fer_core.measure.detector_eval import build_samples

    with pytest.raises(ValueError, match="no FER2013 fixture faces"):
        build_samples(tmp_path / missing)
