"""Checks shared by the mood wing's configuration dataclasses."""

from __future__ import annotations

import math
import numbers


def require_finite(config: object, *names: str, unit: str = "") -> None:
    """ValueError naming the field unless each of ``names`` on ``config`` is a finite real number (not a bool)."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"{type(config).__name__}.{name} must be a finite number{unit}, got {value!r}")
