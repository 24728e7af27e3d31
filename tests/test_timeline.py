"""Tests for fer_core.mood.timeline: the bounded one-minute mood record behind the live chart."""

from __future__ import annotations

import pytest

from fer_core.labels import EMOTIONS
from fer_core.mood.timeline import MoodTimeline
from fer_core.mood.tracker import MoodState


def state(top: str | None, p: float = 0.7) -> MoodState:
    if top is None:
        return MoodState()
    rest = (1 - p) / (len(EMOTIONS) - 1)
    return MoodState(mood=top, smoothed={name: p if name == top else rest for name in EMOTIONS}, confidence=p)


def test_one_sample_per_interval_and_only_the_window():
    timeline = MoodTimeline(window_s=10.0, min_interval_s=0.5)
    added = [timeline.add(t / 10, state("happy")) for t in range(0, 300)]  # 30 s at 10 Hz
    assert sum(added) == 60
    samples = timeline.samples()
    assert samples[-1].t - samples[0].t <= 10.0
    assert len(samples) == 21
    assert len(timeline) == 21


def test_samples_expire_as_time_passes_without_new_ones():
    timeline = MoodTimeline(window_s=5.0, min_interval_s=1.0)
    for t in range(5):
        timeline.add(float(t), state("sad"))
    assert len(timeline.samples(now=7.5)) == 2  # t = 3 and 4 are within 5 s of 7.5
    assert timeline.samples(now=100.0) == []


def test_chart_columns_put_gaps_where_no_face_was_tracked():
    timeline = MoodTimeline(window_s=60.0, min_interval_s=1.0)
    timeline.add(0.0, state("happy", 0.8))
    timeline.add(1.0, state(None))
    timeline.add(2.0, state("surprise", 0.6))
    columns = timeline.chart_columns(now=2.0)
    assert columns["seconds"] == [-2.0, -1.0, 0.0]
    assert columns["happy"][0] == pytest.approx(0.8)
    assert columns["happy"][1] is None
    assert columns["surprise"][2] == pytest.approx(0.6)
    assert set(columns) == {"seconds", *EMOTIONS}


def test_clear_and_bad_settings():
    timeline = MoodTimeline()
    timeline.add(1.0, state("neutral"))
    timeline.clear()
    assert timeline.samples() == []
    with pytest.raises(ValueError):
        MoodTimeline(window_s=0)
    with pytest.raises(ValueError):
        MoodTimeline(window_s=10, min_interval_s=20)
