"""fer_core: local facial-emotion recognition (Haar face detection + a small Keras CNN) and mood-adaptive content.

Public API::

    from fer_core import EmotionRecognizer
    recognizer = EmotionRecognizer()            # loads models/fer_model.keras once
    faces = recognizer.analyze(rgb_array)       # [FaceResult(box, probabilities)], largest face first
    faces[0].emotion, faces[0].confidence

TensorFlow is imported only when a model is loaded, so the mood and content modules stay light.
"""

from __future__ import annotations

from fer_core.labels import EMOTIONS, NUM_CLASSES
from fer_core.recognition.classifier import (
    DEFAULT_MODEL_PATH,
    ClassifierConfig,
    EmotionClassifier,
    ModelLoadError,
    configure_threads,
    default_model_path,
)
from fer_core.recognition.detector import Box, DetectorConfig, FaceDetector
from fer_core.recognition.drawing import draw_results
from fer_core.recognition.preprocessing import INPUT_SIZE, prepare_faces
from fer_core.recognition.recognizer import EmotionRecognizer, RecognizerConfig
from fer_core.recognition.results import FaceResult
from fer_core.recognition.tracking import FaceTracker, TrackerConfig

__all__ = [
    "DEFAULT_MODEL_PATH",
    "EMOTIONS",
    "INPUT_SIZE",
    "NUM_CLASSES",
    "Box",
    "ClassifierConfig",
    "DetectorConfig",
    "EmotionClassifier",
    "EmotionRecognizer",
    "FaceDetector",
    "FaceResult",
    "FaceTracker",
    "ModelLoadError",
    "RecognizerConfig",
    "TrackerConfig",
    "configure_threads",
    "default_model_path",
    "draw_results",
    "prepare_faces",
]
__version__ = "0.1.0"
