"""Tests for fer_core.mood.calibration and its check: recording the resting face, the correction, the gain."""

from __future__ import annotations

import io

import numpy as np
import pytest

from fer_core.labels import EMOTIONS
from fer_core.mood import calibration_check as check
from fer_core.mood.calibration import (
    MODEL_NEUTRAL_REFERENCE,
    Calibration,
    CalibrationConfig,
    Calibrator,
    main,
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


# --- the measurement --------------------------------------------------------------------------------------------


def test_synthetic_check_catches_the_expression_sooner_and_the_rest_reads_neutral() -> None:
    results = check.synthetic_check()  # the numbers the check command prints: 20 clips per expression, seed 0
    assert results["happy"]["mean_frames"][0] - results["happy"]["mean_frames"][1] > 10  # 63.0 -> 48.5 frames
    for expression in ("happy", "surprise"):
        summary = results[expression]
        raw_neutral, calibrated_neutral = summary["rest_neutral_share"]
        assert raw_neutral == 0.0  # uncalibrated, the sad-leaning rest never reads neutral
        assert calibrated_neutral > 0.5  # the tracker's first 2 s of dwell excepted, mostly neutral
        assert summary["caught"] == (20, 20) and summary["caught_by_both"] == 20
        raw_frames, calibrated_frames = summary["mean_frames"]
        assert calibrated_frames < raw_frames and summary["sooner"] > 2 * summary["later"], (expression, summary)


def test_read_clip_counts_frames_from_onset_to_the_steady_mood() -> None:
    happy = np.full(7, 0.01)
    happy[EMOTIONS.index("happy")] = 0.94
    frames, onset = check._still_clip(SAD_REST, happy)
    result = check.read_clip(frames, onset, "happy", None)
    assert result.rest_neutral_share == 0.0 and not result.already and result.frames_to_detect is not None
    assert 30 <= result.frames_to_detect <= 45  # the 2 s dwell at 15 fps, plus the climb over the floor
    calibrated = check.read_clip(frames, onset, "happy", Calibration.from_rest(SAD_REST))
    assert calibrated.rest_neutral_share == pytest.approx(1 / 3, abs=0.02)  # neutral after the 2 s dwell of 3 s
    sad = check.read_clip(*check._still_clip(SAD_REST, SAD_REST), "sad", None)
    assert sad.already and sad.frames_to_detect is None  # read as sad at rest already: no change caught


def test_compare_clips_pairs_the_same_clips() -> None:
    raw = [check.ClipResult(0.0, False, 40), check.ClipResult(0.0, False, None), check.ClipResult(0.0, True, None)]
    calibrated = [check.ClipResult(0.5, False, 30), check.ClipResult(0.5, False, 50), check.ClipResult(1.0, False, 45)]
    summary = check.compare_clips(raw, calibrated)
    assert summary["caught"] == (1, 3) and summary["already"] == (1, 0) and summary["caught_by_both"] == 1
    assert summary["mean_frames"] == (40.0, 30.0) and (summary["sooner"], summary["later"]) == (1, 0)
    assert summary["rest_neutral_share"] == pytest.approx((0.0, 2 / 3))


def test_kdef_check_calibrates_on_one_session_and_measures_on_the_other() -> None:
    happy = np.array([0.02, 0.01, 0.02, 0.80, 0.05, 0.05, 0.05])
    outputs = {
        ("F01", "A", "neutral"): SAD_REST,
        ("F01", "B", "neutral"): SAD_REST * 0.9 + 0.1 * np.eye(7)[NEUTRAL],
        ("F01", "B", "happy"): happy,
        ("F01", "A", "happy"): happy,
        ("M01", "A", "neutral"): np.array(MODEL_NEUTRAL_REFERENCE),
        ("M01", "B", "neutral"): np.array(MODEL_NEUTRAL_REFERENCE),
    }
    results = check.kdef_check(outputs)
    everyone, off_neutral = results["all"], results["rest_off_neutral"]
    assert everyone["pairs"] == 4 and off_neutral["pairs"] == 2  # F01's two sessions rest off-neutral (sad)
    assert off_neutral["neutral_reads_neutral"] == (0, 2) and everyone["neutral_reads_neutral"] == (2, 4)
    assert off_neutral["clips"]["happy"]["clips"] == 2 and off_neutral["clips"]["sad"]["clips"] == 0
    assert off_neutral["clips"]["happy"]["photo_right"] == (2, 2)
    del outputs[("F01", "B", "neutral")]
    assert check.kdef_check(outputs)["rest_off_neutral"]["pairs"] == 0  # never measured on its own photo
    text = io.StringIO()
    check.print_kdef(results, text)
    assert "held-out neutral photo reads neutral 0 -> 2" in text.getvalue()


def test_check_command_prints_the_numbers(capsys) -> None:
    assert main(["--check", "--synthetic-only"]) == 0
    out = capsys.readouterr().out
    assert "Synthetic" in out and "rest reads neutral" in out and "caught by both" in out
    buffer = io.StringIO()
    check.calibration_check(kdef="/nonexistent", out=buffer)
    assert "KDEF: not found" in buffer.getvalue()


def test_readme_calibration_table_is_what_the_check_measures():
    """README's calibration numbers are re-measured by the synthetic check (seeded), not typed by hand."""
    from pathlib import Path

    from fer_core.mood.calibration_check import synthetic_check

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for expression, summary in synthetic_check().items():
        rest, caught, frames = summary["rest_neutral_share"], summary["caught"], summary["mean_frames"]
        row = (
            f"| {expression} | {rest[0]:.0%} -> {rest[1]:.0%} of resting frames | {caught[0]} -> {caught[1]} of "
            f"{summary['clips']} | {frames[0]:.1f} -> {frames[1]:.1f} | {summary['sooner']} / {summary['later']} |"
        )
        assert row in readme, row
