"""training.registration: where the app's crop of a real FER2013 face lies in that face's own frame."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import FER_FIXTURES, fer_fixture_faces

from fer_core.recognition.detector import DetectorConfig, FaceDetector
from fer_core.recognition.recognizer import crop_box
from training.registration import UPSCALE, Framing, framing_of, main, measure, place_on_canvas, summarise

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def found_faces():
    """Fixture faces the default detector finds on the canvas (most of them; the rest are not found)."""
    detector = FaceDetector()
    faces = [face for _, _, face in fer_fixture_faces("test")]
    return [face for face in faces if framing_of(face, detector, 0.0) is not None][:6]


def test_moving_the_face_moves_the_measured_centre_by_as_much(found_faces):
    detector = FaceDetector()
    side = 48 * UPSCALE
    for face in found_faces[:3]:
        still = framing_of(face, detector, 0.0)
        moved = framing_of(face, detector, 0.0, offset=(36, -24))
        assert moved is not None and still is not None
        # The frame moved with the face, so the crop's place in it must not change (within the detector's step).
        assert abs(moved.dx - still.dx) < 6 / side and abs(moved.dy - still.dy) < 6 / side
        assert abs(moved.scale - still.scale) < 0.05


def test_the_crop_margin_scales_the_measured_crop(found_faces):
    detector = FaceDetector()
    for face in found_faces[:3]:
        bare = framing_of(face, detector, 0.0)
        grown = framing_of(face, detector, 0.1)
        assert grown.scale == pytest.approx(bare.scale * 1.2, abs=0.01)
        assert grown.dx == pytest.approx(bare.dx, abs=0.01)


def test_the_measured_frame_is_where_the_face_was_put():
    face = fer_fixture_faces("test")[0][2]
    canvas, (x, y, side) = place_on_canvas(face, offset=(10, 5))
    assert side == 48 * UPSCALE
    assert canvas[y : y + side, x : x + side].mean() == pytest.approx(face.mean(), abs=2)
    assert canvas[0, 0] == int(face.mean())
    with pytest.raises(ValueError, match="off the"):
        place_on_canvas(face, offset=(300, 0))


def test_crop_box_grows_and_shrinks_around_the_centre():
    assert crop_box((100, 100, 100, 100), 0.1) == (90, 90, 120, 120)
    assert crop_box((100, 100, 100, 100), -0.05) == (105, 105, 90, 90)
    assert crop_box((100, 100, 100, 100), 0.0) == (100, 100, 100, 100)


def test_summary_gives_percentiles_and_the_augmentation_that_covers_them():
    scales, shifts = np.linspace(0.8, 1.0, 21), np.linspace(-0.1, 0.1, 21)
    framings = [Framing(scale=s, dx=d, dy=-d) for s, d in zip(scales, shifts, strict=True)]
    summary = summarise([*framings, None])
    assert summary["faces"] == 22 and summary["found"] == 21
    assert summary["scale"]["median"] == pytest.approx(0.9)
    assert summary["scale"]["p5"] == pytest.approx(0.81) and summary["scale"]["p95"] == pytest.approx(0.99)
    assert summary["augment"] == "zoom=0.10,shift=0.09"
    with pytest.raises(ValueError, match="none of the faces"):
        summarise([None, None])


def test_real_fer2013_faces_are_cropped_tighter_than_their_frame():
    """On the 98 fixture faces, as on PublicTest (docs/registration.json): most are found, and the app's crop
    (default margin) shows less than FER2013's frame, centred on it within a few percent."""
    faces = np.stack([face for _, _, face in fer_fixture_faces("test")])
    summary = measure(faces, DetectorConfig(), -0.05)
    assert summary["found_share"] > 0.6
    assert 0.75 < summary["scale"]["median"] < 0.95
    assert abs(summary["dx"]["median"]) < 0.03 and abs(summary["dy"]["median"]) < 0.03


def test_check_compares_with_the_saved_measurement(tmp_path, capsys):
    out = tmp_path / "registration.json"
    argv = ["--data", str(FER_FIXTURES), "--count", "20", "--out", str(out)]
    assert main(argv) == 0
    assert main([*argv, "--check"]) == 0
    saved = json.loads(out.read_text())
    saved["scale"]["median"] += 0.01
    out.write_text(json.dumps(saved))
    assert main([*argv, "--check"]) == 1
    assert "out of date" in capsys.readouterr().err


FULL_FER2013 = Path(os.environ.get("FER2013_PATH", REPO.parent / "shared" / "datasets" / "fer2013.zip"))


@pytest.mark.slow
@pytest.mark.skipif(not FULL_FER2013.is_file(), reason=f"full FER2013 not found at {FULL_FER2013} (set FER2013_PATH)")
def test_the_saved_publictest_measurement_is_current():
    """docs/registration.json (quoted in the README) is what the command measures on PublicTest today."""
    assert main(["--data", str(FULL_FER2013), "--out", str(REPO / "docs" / "registration.json"), "--check"]) == 0


def test_the_readme_quotes_the_saved_measurement():
    saved = json.loads((REPO / "docs" / "registration.json").read_text())
    readme = " ".join((REPO / "README.md").read_text().split())
    scale = saved["scale"]
    bound = max(abs(saved[axis][p]) for axis in ("dx", "dy") for p in ("p5", "p95"))
    for quoted in (
        f"found {saved['found']} of the {saved['faces']} faces",
        f"a median {scale['median']:.3f} of the frame's (5th-95th percentile {scale['p5']:.2f}-{scale['p95']:.2f})",
        f"its centre within {bound:.2f} of the frame's side",
        f"(`{saved['augment']}`)",
    ):
        assert quoted in readme, f"README does not say {quoted!r} (docs/registration.json)"
