"""The per-face result type returned by the recognizer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fer_core.labels import EMOTIONS


@dataclass(frozen=True)
class FaceResult:
    """One face: its box (x, y, w, h) in the input's pixels and its 7 probabilities in FER2013 order."""

    box: tuple[int, int, int, int]
    probabilities: tuple[float, ...]

    @classmethod
    def from_array(cls, box: tuple[int, int, int, int], probabilities: np.ndarray) -> FaceResult:
        return cls(tuple(int(v) for v in box), tuple(float(p) for p in probabilities))  # type: ignore[arg-type]

    @property
    def emotion(self) -> str:
        """The top label."""
        return EMOTIONS[int(np.argmax(self.probabilities))]

    @property
    def confidence(self) -> float:
        """The top label's probability."""
        return max(self.probabilities)

    @property
    def probability_map(self) -> dict[str, float]:
        return dict(zip(EMOTIONS, self.probabilities, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"box": [x, y, w, h], "emotion", "confidence", "probabilities": {...}}``."""
        return {
            "box": list(self.box),
            "emotion": self.emotion,
            "confidence": round(self.confidence, 6),
            "probabilities": {name: round(p, 6) for name, p in self.probability_map.items()},
        }
