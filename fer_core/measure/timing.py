"""Summaries of measured durations, shared by the benchmark and the tracking check."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def summarize_ms(seconds: Sequence[float]) -> dict[str, float]:
    """Median, 95th percentile and mean of durations given in seconds, in milliseconds (3 decimals)."""
    if not seconds:
        raise ValueError("no durations to summarise")
    values = np.asarray(seconds, dtype=float) * 1000.0
    return {
        "median": round(float(np.median(values)), 3),
        "p95": round(float(np.percentile(values, 95)), 3),
        "mean": round(float(np.mean(values)), 3),
    }
