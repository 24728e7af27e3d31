"""fer_core.sessions.upload.analyze_upload (the upload page's handler) and the upload size limit's configuration."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from bad_input_corpus import astronaut, portrait, with_orientation
from reliability_support import encode, model_path_for_tests

from fer_core.recognition.image_io import ImageLimits, ImageLoadError, load_image
from fer_core.recognition.recognizer import EmotionRecognizer
from fer_core.sessions.upload import analyze_upload

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory) -> EmotionRecognizer:
    return EmotionRecognizer(model_path_for_tests(tmp_path_factory.mktemp("model")))


def test_a_face_photo_gives_faces_and_an_annotated_copy(recognizer):
    data = encode(astronaut(), "JPEG", quality=92)
    analysis = analyze_upload(data, "astronaut.jpg", recognizer)

    assert analysis.ok and analysis.error is None and analysis.name == "astronaut.jpg"
    decoded = load_image(data)
    assert np.array_equal(analysis.image, decoded)  # the original is returned untouched
    expected = recognizer.analyze(decoded)
    assert [f.box for f in analysis.faces] == [f.box for f in expected] and len(expected) == 1
    np.testing.assert_allclose(analysis.faces[0].probabilities, expected[0].probabilities, atol=1e-5)
    assert abs(sum(analysis.dominant.probabilities) - 1.0) < 1e-3
    x, y, w, h = analysis.dominant.box
    assert 150 < x + w / 2 < 330 and 40 < y + h / 2 < 200  # the astronaut's head, not the shuttle
    changed = np.any(analysis.annotated != analysis.image, axis=2)
    assert changed.any()
    rows, cols = np.nonzero(changed)
    assert cols.min() >= x - 5 and cols.max() <= x + w + 200 and rows.min() >= y - 60 and rows.max() <= y + h + 60


def test_an_exif_rotated_portrait_is_analysed_upright(recognizer):
    analysis = analyze_upload(with_orientation(portrait(), 6), "phone.jpg", recognizer)
    assert analysis.ok and analysis.image.shape == portrait().shape and len(analysis.faces) == 1


def test_no_face_is_a_result_not_an_error(recognizer):
    from skimage import data

    analysis = analyze_upload(encode(data.coffee(), "PNG"), "coffee.png", recognizer)
    assert analysis.ok and analysis.faces == [] and analysis.dominant is None
    assert np.array_equal(analysis.annotated, analysis.image)


def test_bad_input_is_a_message_not_an_exception(recognizer, caplog):
    caplog.set_level(logging.INFO)
    data = b"GIF89a but not really"
    analysis = analyze_upload(data, "broken.gif", recognizer)
    with pytest.raises(ImageLoadError) as error:
        load_image(data, name="broken.gif")
    assert not analysis.ok and analysis.error == str(error.value)
    assert analysis.image is None and analysis.annotated is None and analysis.faces == []
    assert any("broken.gif" in r.getMessage() and f"{len(data)} bytes" in r.getMessage() for r in caplog.records)

    empty = analyze_upload(None, None, recognizer)
    assert not empty.ok and empty.error == "the upload is empty (0 bytes)."


def test_limits_are_passed_through(recognizer):
    data = encode(astronaut(), "PNG")
    analysis = analyze_upload(bytearray(data), "big.png", recognizer, limits=ImageLimits(max_pixels=100_000))
    assert not analysis.ok and "512x512 pixels" in analysis.error


def test_a_failing_analysis_is_reported_with_context(recognizer, caplog):
    class BrokenDetector:
        def detect(self, gray):
            raise cv2.error("synthetic OpenCV failure")

    broken = EmotionRecognizer(classifier=recognizer.classifier)
    broken.detector = BrokenDetector()
    data = encode(astronaut()[:64, :80], "PNG")
    analysis = analyze_upload(data, "odd.png", broken)
    assert not analysis.ok and analysis.error == "odd.png could not be analysed; please try another photo."
    assert analysis.image is not None and analysis.annotated is None
    record = next(r for r in caplog.records if r.levelno == logging.WARNING)
    assert "odd.png" in record.getMessage() and f"{len(data)} bytes, 80x64" in record.getMessage()
    assert "synthetic OpenCV failure" in record.getMessage()


def test_streamlit_upload_cap_matches_image_limits():
    """Streamlit refuses bigger uploads itself (HTTP 413) before any byte reaches the page; the cap must be
    the same number as the one load_image enforces, or users see two different limits."""
    config_file = REPO / ".streamlit" / "config.toml"
    assert config_file.is_file(), "the app's .streamlit/config.toml is missing"
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads(config_file.read_text())
    assert config["server"]["maxUploadSize"] == ImageLimits().max_upload_mb == 25


def test_streamlit_keeps_uploads_in_memory(monkeypatch):
    """Importing sessions.upload (the upload page does) raises Starlette's spool threshold above the upload cap, so
    an accepted upload is never written to a temporary file (the browser privacy test checks it with strace)."""
    from starlette.formparsers import MultiPartParser

    from fer_core.sessions.upload import keep_uploads_in_memory

    assert MultiPartParser.spool_max_size > ImageLimits().max_bytes
    monkeypatch.setattr(MultiPartParser, "spool_max_size", MultiPartParser.spool_max_size)  # restored afterwards
    assert keep_uploads_in_memory(100 * 1024 * 1024) and MultiPartParser.spool_max_size > 100 * 1024 * 1024


def test_each_face_gets_its_valence_and_arousal_line():
    from fer_core.labels import EMOTIONS
    from fer_core.recognition.results import FaceResult
    from fer_core.sessions.upload import describe_affect

    def face(emotion: str) -> FaceResult:
        probabilities = [0.9 if name == emotion else 0.1 / 6 for name in EMOTIONS]
        return FaceResult((0, 0, 10, 10), tuple(probabilities))

    # 0.9 x its point + 1/60 of each other point (fer_core.mood.affect.COORDINATES)
    assert describe_affect(face("happy")) == "Valence +0.75 (pleasant) · arousal +0.25 (activated)"
    assert describe_affect(face("sad")) == "Valence -0.65 (unpleasant) · arousal -0.32 (deactivated)"
    assert describe_affect(face("neutral")) == "Valence -0.01 (neutral) · arousal +0.01 (calm-neutral)"
