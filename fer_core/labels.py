"""Emotion class names, in FER2013 label order."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""The seven FER2013 classes; index i is label i in ``fer2013.csv`` and in the model's output."""

NUM_CLASSES: int = len(EMOTIONS)


def emotion_index(name: str) -> int:
    """Return the label index of ``name`` (case-insensitive); ``ValueError`` if unknown."""
    key = name.strip().lower()
    if key not in EMOTIONS:
        raise ValueError(f"unknown emotion {name!r}; expected one of {', '.join(EMOTIONS)}")
    return EMOTIONS.index(key)


FER2013_TRAINING_COUNTS: tuple[int, ...] = (3995, 436, 4097, 7215, 4830, 3171, 4965)
"""Images per class in FER2013's Training split (28,709): the prior the model learnt (happy 25%, disgust 1.5%)."""
