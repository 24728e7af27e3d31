"""Tests for fer_core.mood.calibration: recording the resting face, the correction, the gain."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.labels import EMOTIONS
from fer_core.mood.calibration import (
    MODEL_NEUTRAL_REFERENCE,
    Calibration,
    CalibrationConfig,
    Calibrator,
    reference_distribution,
)

SAD_REST = np.array([0.08, 0.02, 0.06, 0.03, 0.46, 0.03, 0.32])
NEUTRAL = EMOTIONS.index("neutral")


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def record(calibrator: Calibrator, clock: FakeClock, frames, fps: float = 10.0):
    status = None
    for frame in frames:
        status = calibrator.add(frame)
        clock.t += 1 / fps
    return status


def test_references_read_neutral() -> None:
    assert sum(MODEL_NEUTRAL_REFERENCE) == pytest.approx(1.0)
    assert EMOTIONS[int(np.argmax(MODEL_NEUTRAL_REFERENCE))] == "neutral"
    assert MODEL_NEUTRAL_REFERENCE[NEUTRAL] > 0.45  # above MoodTracker's confidence floor: a steady neutral
    confident = np.array(reference_distribution(0.7))
    assert confident.sum() == pytest.approx(1.0) and confident[NEUTRAL] == 0.7
    assert np.allclose(np.delete(confident, NEUTRAL), 0.05)
    assert CalibrationConfig(reference=tuple(2 * x for x in confident)).reference == pytest.approx(tuple(confident))


def test_recording_the_resting_face_over_three_seconds() -> None:
    clock = FakeClock()
    calibrator = Calibrator(CalibrationConfig(duration_s=3.0), clock=clock)
    assert calibrator.status().state == "idle" and calibrator.calibration is None
    calibrator.start()
    halfway = record(calibrator, clock, [SAD_REST] * 15)
    assert halfway.state == "recording" and halfway.progress == pytest.approx(1.4 / 3.0) and halfway.frames == 15
    assert calibrator.calibration is None
    done = record(calibrator, clock, [SAD_REST] * 16)  # the frame at t = 3.0 s finishes it
    assert done.state == "calibrated" and done.progress == 1.0 and done.frames == 31
    calibration = calibrator.calibration
    assert calibration is not None and np.allclose(calibration.rest, SAD_REST)
    resting = calibrator.apply(SAD_REST)
    assert np.allclose(resting, MODEL_NEUTRAL_REFERENCE)  # the resting face reads as the neutral reference
    assert EMOTIONS[int(np.argmax(SAD_REST))] == "sad" and EMOTIONS[int(np.argmax(resting))] == "neutral"


def test_the_correction_is_division_by_rest_times_reference_which_is_subtraction_in_log_space() -> None:
    rest = np.array([0.10, 0.01, 0.05, 0.04, 0.40, 0.05, 0.35])
    calibration = Calibration.from_rest(rest)
    p = np.array([0.05, 0.02, 0.03, 0.50, 0.20, 0.05, 0.15])
    floored = np.maximum(rest, 0.02)
    expected = p * np.array(MODEL_NEUTRAL_REFERENCE) / floored
    expected /= expected.sum()
    assert calibration.apply(p) == pytest.approx(expected)
    logits = np.log(p) - np.log(floored) + np.log(MODEL_NEUTRAL_REFERENCE)
    assert calibration.apply(p) == pytest.approx(np.exp(logits) / np.exp(logits).sum())
    batch = calibration.apply(np.stack([p, rest, p * 3]))
    assert batch.shape == (3, 7) and batch[0] == pytest.approx(expected) and batch[2] == pytest.approx(expected)


def test_the_floor_caps_the_gain_of_an_emotion_never_shown_at_rest() -> None:
    rest = np.array([0.001, 0.001, 0.001, 0.001, 0.496, 0.001, 0.499])
    calibration = Calibration.from_rest(rest, CalibrationConfig(rest_floor=0.02))
    flicker = rest.copy()
    flicker[EMOTIONS.index("angry")] += 0.01  # a 1% flicker of angry in one frame
    corrected = calibration.apply(flicker / flicker.sum())
    assert corrected[EMOTIONS.index("angry")] < 0.2  # without the floor: ~0.5 (20x the gain)
    assert EMOTIONS[int(np.argmax(corrected))] == "neutral"


def test_before_calibration_readings_pass_through_normalised() -> None:
    calibrator = Calibrator(clock=FakeClock())
    assert calibrator.apply(SAD_REST * 2) == pytest.approx(SAD_REST)


def test_frames_without_a_face_do_not_count_and_too_few_fail() -> None:
    clock = FakeClock()
    calibrator = Calibrator(CalibrationConfig(duration_s=1.0, min_frames=5), clock=clock)
    calibrator.start()
    status = record(calibrator, clock, [None] * 12 + [SAD_REST] * 3)  # 1.5 s, 3 face frames
    assert status.state == "recording" and status.frames == 3 and "Waiting for your face" in status.message
    status = record(calibrator, clock, [None] * 20)  # past 3 x duration
    assert status.state == "failed" and "only 3 frames" in status.message
    assert calibrator.calibration is None


def test_recalibrating_keeps_the_old_correction_until_the_new_one_is_done() -> None:
    clock = FakeClock()
    calibrator = Calibrator(CalibrationConfig(duration_s=1.0), clock=clock)
    calibrator.start()
    record(calibrator, clock, [SAD_REST] * 12)
    first = calibrator.calibration
    assert first is not None and np.allclose(first.rest, SAD_REST)
    calibrator.start()
    other = np.array([0.30, 0.02, 0.05, 0.03, 0.10, 0.05, 0.45])
    record(calibrator, clock, [other] * 5)
    assert calibrator.status().state == "recording" and calibrator.calibration is first
    record(calibrator, clock, [other] * 7)
    assert np.allclose(calibrator.calibration.rest, other)
    calibrator.reset()
    assert calibrator.calibration is None and calibrator.status().state == "idle"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"duration_s": 0},
        {"min_frames": 0},
        {"rest_floor": 0.2},
        {"reference": (0.5, 0.5)},
        {"reference": (0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2)},
        {"reference": (0.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.5)},
    ],
)
def test_bad_config_is_rejected(kwargs) -> None:
    with pytest.raises(ValueError, match="CalibrationConfig"):
        CalibrationConfig(**kwargs)
