"""Tests for fer_core.measure.calibration_check: what per-person calibration does to the mood, measured."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer_core.labels import EMOTIONS
from fer_core.measure import calibration_check as check
from fer_core.measure.photo_sets import PhotoSetError
from fer_core.mood.calibration import MODEL_NEUTRAL_REFERENCE, Calibration

SAD_REST = np.array([0.08, 0.02, 0.06, 0.03, 0.46, 0.03, 0.32])
NEUTRAL = EMOTIONS.index("neutral")


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
    assert check.main(["--check", "--synthetic-only"]) == 0
    out = capsys.readouterr().out
    assert "Synthetic" in out and "rest reads neutral" in out and "caught by both" in out
    buffer = io.StringIO()
    check.calibration_check(kdef="/nonexistent", out=buffer)
    assert "KDEF: not found" in buffer.getvalue()


def test_readme_calibration_table_is_what_the_check_measures():
    """README's calibration numbers are re-measured by the synthetic check (seeded), not typed by hand."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for expression, summary in check.synthetic_check().items():
        rest, caught, frames = summary["rest_neutral_share"], summary["caught"], summary["mean_frames"]
        row = (
            f"| {expression} | {rest[0]:.0%} -> {rest[1]:.0%} of resting frames | {caught[0]} -> {caught[1]} of "
            f"{summary['clips']} | {frames[0]:.1f} -> {frames[1]:.1f} | {summary['sooner']} / {summary['later']} |"
        )
        assert row in readme, row


class _Face:
    def __init__(self, probabilities) -> None:
        self.probabilities = probabilities


class _Recognizer:
    """Reads each photo's mean grey level as the index of the top emotion; an all-black photo has no face."""

    def __init__(self) -> None:
        self.stream_flags: list[bool] = []

    def analyze(self, image: np.ndarray, *, stream: bool = False) -> list[_Face]:
        self.stream_flags.append(stream)
        level = round(float(np.mean(image)) / 30)
        if level == 0:
            return []
        return [_Face(np.eye(7)[level - 1] * 0.9 + 0.1 / 7)]


def _photo_set(folder: Path, rows: list[tuple[str, str, str, int]], header: str = "file,emotion,person,session"):
    lines = [header]
    for index, (emotion, person, session, level) in enumerate(rows):
        name = f"{person}{session}{emotion[:2].upper()}{index}.png"
        Image.fromarray(np.full((24, 24, 3), 30 * level, np.uint8)).save(folder / name)
        lines.append(f"{name},{emotion},{person},{session}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")


def test_kdef_probabilities_reads_the_labelled_folder_and_leaves_out_photos_without_a_face(tmp_path) -> None:
    _photo_set(
        tmp_path,
        [("neutral", "F01", "A", 7), ("Happy", "F01", "B", 4), ("sad", "M02", "A", 5), ("fear", "M02", "B", 0)],
    )
    recognizer = _Recognizer()
    outputs = check.kdef_probabilities(check.kdef_photos(tmp_path), recognizer)
    assert set(outputs) == {("F01", "A", "neutral"), ("F01", "B", "happy"), ("M02", "A", "sad")}  # fear: no face
    assert EMOTIONS[int(np.argmax(outputs[("F01", "B", "happy")]))] == "happy"
    assert recognizer.stream_flags == [True] * 4  # read as the live page reads frames


def test_a_folder_that_is_not_kdefs_is_refused_with_a_message(tmp_path, capsys) -> None:
    _photo_set(tmp_path, [("neutral", "F01", "A", 7)], header="file,emotion,who,session")
    with pytest.raises(PhotoSetError, match="person and session"):
        check.kdef_photos(tmp_path)
    assert check.main(["--check", "--kdef", str(tmp_path)]) == 2  # a message, not a KeyError after the model loads
    assert "lacks ['person']" in capsys.readouterr().err
    (tmp_path / "labels.csv").write_text("file,emotion,person,session\nmissing.png,happy,F01,A\n")
    with pytest.raises(PhotoSetError, match=r"no photo 'missing\.png'"):
        check.kdef_photos(tmp_path)
