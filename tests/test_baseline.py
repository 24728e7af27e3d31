"""fer_core.measure.baseline: the naive pipeline the bench compares against."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from fer_core.measure.baseline import NaiveHaarDetector, naive_analyze
from fer_core.measure.sample_frames import ASTRONAUT_FACE
from fer_core.recognition.detector import box_iou
from fer_core.recognition.preprocessing import to_gray


def test_naive_detector_finds_the_astronaut_at_full_resolution():
    boxes = NaiveHaarDetector().detect(to_gray(skimage.data.astronaut()))
    assert any(box_iou(box, ASTRONAUT_FACE) > 0.6 for box in boxes)
    areas = [w * h for _, _, w, h in boxes]
    assert areas == sorted(areas, reverse=True)


def test_naive_detector_settings_are_checked():
    with pytest.raises(ValueError):
        NaiveHaarDetector(scale_factor=1.0)
    with pytest.raises(ValueError):
        NaiveHaarDetector(min_neighbors=-1)
    assert NaiveHaarDetector().detect(np.full((480, 640), 128, np.uint8)) == []


def test_naive_analyze_classifies_each_box_with_model_predict(recognizer):
    photo = skimage.data.astronaut()
    detector = NaiveHaarDetector()
    results = naive_analyze(recognizer.classifier.model, detector, photo)
    assert [box for box, _ in results] == detector.detect(to_gray(photo))
    for box, probabilities in results:
        assert probabilities.shape == (7,) and abs(float(probabilities.sum()) - 1.0) < 1e-4
        x, y, w, h = box
        (ours,) = recognizer.classify_faces([photo[y : y + h, x : x + w]])
        # Same model; only the resize interpolation differs (linear here, area in fer_core).
        np.testing.assert_allclose(probabilities, ours.probabilities, atol=0.1)
