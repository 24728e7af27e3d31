"""fer_core.measure.timing: durations in seconds summarised in milliseconds."""

from __future__ import annotations

import pytest

from fer_core.measure.timing import summarize_ms


def test_median_p95_and_mean_in_milliseconds():
    summary = summarize_ms([0.001 * n for n in range(1, 101)])  # 1 ms .. 100 ms
    assert summary == {"median": 50.5, "p95": 95.05, "mean": 50.5}


def test_no_durations_is_an_error():
    with pytest.raises(ValueError, match="no durations"):
        summarize_ms([])
