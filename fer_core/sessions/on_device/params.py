"""The on-device pipeline's parameters, taken from the Python configuration objects (one source for both sides).

The browser (``web/on_device/component/pipeline.js``) reads these names; it hard-codes nothing it could take
from here. A few constants live in ``fer_core.recognition``'s code rather than in a config object (the
verification cascade's search window, the tracker's scale step): they are repeated in :data:`DETECTOR_CONSTANTS`
and :data:`TRACKER_CONSTANTS`, next to where they are used, and the parity test
(``tests/browser/test_on_device_browser.py``) catches a drift.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from fer_core.labels import EMOTIONS
from fer_core.recognition.classifier import ClassifierConfig
from fer_core.recognition.detector import DetectorConfig
from fer_core.recognition.drawing import EMOTION_COLORS_RGB
from fer_core.recognition.preprocessing import INPUT_SIZE, PREPROCESSING_DESCRIPTION
from fer_core.recognition.recognizer import RecognizerConfig
from fer_core.recognition.stream_readings import StreamReadings
from fer_core.recognition.tracking import TrackerConfig
from fer_core.recognition.views import resolve_views

PARAMS_VERSION = 1
"""Bumped when the meaning of a parameter changes (the browser refuses a version it does not know)."""

DETECTOR_CONSTANTS: dict[str, float | int] = {
    "min_side_px": 24,  # FaceDetector.detect: faces below 24 detection pixels are not searched for
    "verify_pad_divisor": 5,  # FaceDetector._verified: pad = w // 5
    "verify_min_side_fraction": 0.6,  # ... side = max(24, int(w * 0.6))
    "verify_scale_factor": 1.1,
}
TRACKER_CONSTANTS: dict[str, float | int] = {
    "scale_factor": 1.08,  # FaceTracker._follow's detectMultiScale
    "min_window_px": 24,  # a search window smaller than this is a lost face
    "min_size_px": 20,  # the smallest search size
}


def _cascade_name(name: str | None) -> str | None:
    """The cascade's file name; ``ValueError`` for a path (the browser gets only the shipped OpenCV cascades)."""
    if name is None:
        return None
    if "/" in name or "\\" in name:
        raise ValueError(f"on-device mode needs a cascade from cv2.data.haarcascades, not a path: {name}")
    return name


def stream_views(classifier: ClassifierConfig) -> list[dict[str, bool]]:
    """The stream views as the browser runs them; ``ValueError`` for shifted or zoomed views (not ported)."""
    views = resolve_views(classifier.stream_views)
    if any(view.is_geometric for view in views):
        raise ValueError(f"on-device mode supports only mirrored views, not {classifier.stream_views!r}")
    return [{"mirror": view.mirror} for view in views]


def browser_recognizer_config(recognizer: RecognizerConfig | None = None) -> RecognizerConfig:
    """What the browser runs, as a fer_core configuration: ``recognizer`` (default: the app's) with the main model
    alone in streams, since the ensemble's members are not sent to the browser (``stream_members=False``)."""
    recognizer = recognizer or RecognizerConfig()
    classifier = replace(recognizer.classifier, stream_members=False)
    return replace(recognizer, classifier=classifier)


def pipeline_params(
    recognizer: RecognizerConfig | None = None,
    tracker: TrackerConfig | None = None,
    detector: DetectorConfig | None = None,
) -> dict[str, Any]:
    """Every parameter the browser pipeline needs, as JSON-ready values.

    ``detector`` overrides ``recognizer.detector`` (the live page's sensitivity setting).
    """
    recognizer = recognizer or RecognizerConfig()
    detector = detector or recognizer.detector
    if detector.equalize:
        raise ValueError("on-device mode does not port histogram equalisation (DetectorConfig.equalize)")
    detector_values = asdict(detector)
    detector_values["cascade"] = _cascade_name(detector.cascade)
    detector_values["verify_cascade"] = _cascade_name(detector.verify_cascade)
    return {
        "version": PARAMS_VERSION,
        "detector": {**detector_values, **DETECTOR_CONSTANTS},
        "tracker": {**asdict(tracker or TrackerConfig()), **TRACKER_CONSTANTS},
        "crop_margin": recognizer.crop_margin,
        "input_size": INPUT_SIZE,
        "preprocessing": PREPROCESSING_DESCRIPTION,
        "views": stream_views(recognizer.classifier),
        "spread_views": recognizer.classifier.spread_stream_views,
        "stream_readings": {"min_overlap": StreamReadings().min_overlap},
        "emotions": list(EMOTIONS),
        "colors": {name: list(rgb) for name, rgb in EMOTION_COLORS_RGB.items()},
    }


def cascade_names(params: dict[str, Any]) -> list[str]:
    """The cascade files ``params`` need (the detection cascade first)."""
    detector = params["detector"]
    return [name for name in (detector["cascade"], detector["verify_cascade"]) if name]
