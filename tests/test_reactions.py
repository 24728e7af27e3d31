"""Tests for fer_core.mood.reactions: per-item time, attention, valence, mood mix, lift and the comparison."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from fer_core.labels import EMOTIONS
from fer_core.mood.reactions import ReactionConfig, ReactionRecorder, compare_samples, format_mood_mix
from fer_core.mood.readings import FrameReading

FPS = 10


def reading(t: float, items, valence: float | None = None, mood: str | None = None) -> FrameReading:
    """A frame; ``valence`` None = no face in view."""
    if valence is None:
        return FrameReading(t, mood=mood, items=items)
    probabilities = tuple(1 / len(EMOTIONS) for _ in EMOTIONS)
    return FrameReading(t, probabilities, valence=valence, arousal=0.1, mood=mood, faces=1, items=items)


def feed(recorder: ReactionRecorder, start: float, seconds: float, items, valence, mood=None) -> float:
    """Frames at FPS from ``start`` for ``seconds``; ``valence`` a number, None or a function of time."""
    n = round(seconds * FPS)
    for i in range(n):
        t = start + i / FPS
        value = valence(t - start) if callable(valence) else valence
        recorder.add(reading(t, items, value, mood))
    return start + n / FPS


def by_id(recorder: ReactionRecorder) -> dict:
    return {row.item_id: row for row in recorder.summary()}


def test_two_items_in_turn_get_their_own_time_attention_valence_and_moods() -> None:
    recorder = ReactionRecorder()
    t = feed(recorder, 0.0, 5.0, "a", 0.8, mood="happy")
    t = feed(recorder, t, 3.0, "b", -0.5, mood="sad")
    t = feed(recorder, t, 1.0, "b", None, mood="sad")  # face gone for 1 s of b's 4 s
    feed(recorder, t, 0.1, (), None)  # b leaves
    rows = by_id(recorder)
    assert list(rows) == ["a", "b"]
    a, b = rows["a"], rows["b"]
    assert a.seconds_on_screen == pytest.approx(5.0) and b.seconds_on_screen == pytest.approx(4.0)
    assert a.attention == pytest.approx(1.0) and b.attention == pytest.approx(0.75)
    assert a.mean_valence == pytest.approx(0.8) and b.mean_valence == pytest.approx(-0.5)
    assert a.mean_arousal == pytest.approx(0.1)
    assert a.mood_mix == pytest.approx({"happy": 1.0}) and b.mood_mix == pytest.approx({"sad": 1.0})
    assert a.times_shown == 1 and b.samples == 3  # b: three whole seconds with a face
    assert a.samples == 5


def test_peak_valence_lift_and_the_moods_at_both_ends() -> None:
    """Valence climbing from -0.5 to +0.5 over 6 s: lift = mean of the last second minus mean of the first."""
    recorder = ReactionRecorder(ReactionConfig(end_window_s=1.0))

    def rising(s: float) -> float:
        return -0.5 + s / 6.0

    def mood(t: float) -> str:
        return "sad" if t < 3 else "happy"

    for i in range(60):
        t = i / FPS
        recorder.add(reading(t, "x", rising(t), mood(t)))
    row = by_id(recorder)["x"]
    first = np.mean([rising(i / FPS) for i in range(11)])  # frames within 1 s of the start (0.0 .. 1.0)
    last = np.mean([rising(i / FPS) for i in range(49, 60)])  # frames within 1 s of the last (4.9 .. 5.9)
    assert row.valence_at_start == pytest.approx(first) and row.valence_at_end == pytest.approx(last)
    assert row.lift == pytest.approx(last - first) and row.lift > 0.7
    assert row.peak_valence == pytest.approx(rising(5.9))
    assert (row.mood_at_start, row.mood_at_end) == ("sad", "happy")
    assert row.mood_mix == pytest.approx({"sad": 3.0 / 5.9, "happy": 2.9 / 5.9})  # the last frame holds no time yet


def test_no_face_mood_none_and_mood_mix_text() -> None:
    recorder = ReactionRecorder()
    t = feed(recorder, 0.0, 2.0, "a", None)
    t = feed(recorder, t, 2.0, "a", 0.2, mood="neutral")
    feed(recorder, t, 0.1, (), None)
    row = by_id(recorder)["a"]
    assert row.mood_mix == pytest.approx({"none": 0.5, "neutral": 0.5})
    assert row.valence_at_start is None  # no face in the first second
    assert row.lift is None and row.mean_valence == pytest.approx(0.2)
    assert row.to_row()["mood_mix"] == format_mood_mix(row.mood_mix)
    assert format_mood_mix({"happy": 0.6, "none": 0.4}) == "happy 60%, none 40%"


def test_a_stalled_stream_counts_at_most_max_frame_gap() -> None:
    recorder = ReactionRecorder(ReactionConfig(max_frame_gap_s=1.0))
    recorder.add(reading(0.0, "a", 0.3))
    recorder.add(reading(30.0, "a", 0.3))  # 30 s without frames
    recorder.add(reading(30.5, (), None))
    assert by_id(recorder)["a"].seconds_on_screen == pytest.approx(1.5)


def test_items_on_screen_together_are_all_credited_and_reshowing_counts() -> None:
    recorder = ReactionRecorder()
    t = feed(recorder, 0.0, 2.0, ["a", "b"], 0.5)
    t = feed(recorder, t, 2.0, ["b"], -0.5)
    t = feed(recorder, t, 2.0, ["a"], 0.1)
    feed(recorder, t, 0.1, (), None)
    rows = by_id(recorder)
    assert rows["a"].seconds_on_screen == pytest.approx(4.0) and rows["b"].seconds_on_screen == pytest.approx(4.0)
    assert rows["a"].times_shown == 2 and rows["b"].times_shown == 1
    assert rows["a"].mean_valence == pytest.approx(0.3) and rows["b"].mean_valence == pytest.approx(0.0)
    assert rows["a"].samples == 4  # 2 whole seconds in each showing


def test_time_going_backwards_counts_as_no_time() -> None:
    recorder = ReactionRecorder()
    recorder.add(reading(10.0, "a", 0.1))
    recorder.add(reading(9.0, "a", 0.1))
    recorder.add(reading(9.5, (), None))
    assert by_id(recorder)["a"].seconds_on_screen == pytest.approx(0.0)


def test_titles_and_reset() -> None:
    recorder = ReactionRecorder()
    feed(recorder, 0.0, 1.0, "a", 0.1)
    assert recorder.summary({"a": "Item A"})[0].title == "Item A"
    assert recorder.summary()[0].title == "a"
    recorder.reset()
    assert recorder.summary() == []


# --- the comparison ---------------------------------------------------------------------------------------------


def test_too_few_samples_gives_a_message_not_a_number() -> None:
    recorder = ReactionRecorder()
    t = feed(recorder, 0.0, 2.0, "a", 0.1)  # 2 per-second samples
    feed(recorder, t, 5.0, "b", 0.6)
    result = recorder.compare("a", "b")
    assert not result.enough_samples
    assert (result.n_a, result.n_b) == (2, 5)
    assert result.difference is None and result.ci_low is None and result.p_value is None
    assert "Too few samples" in result.message and "'a' has 2" in result.message and "at least 3" in result.message
    never = recorder.compare("b", "never-shown")
    assert not never.enough_samples and never.n_b == 0


def test_comparison_of_clearly_different_items() -> None:
    rng = np.random.default_rng(3)
    a = list(rng.normal(0.0, 0.1, 12))
    b = list(rng.normal(0.4, 0.1, 15))
    result = compare_samples("a", a, "b", b)
    assert result.enough_samples and (result.n_a, result.n_b) == (12, 15)
    assert result.difference == pytest.approx(np.mean(b) - np.mean(a))
    assert 0 < result.ci_low < result.difference < result.ci_high
    welch = scipy_stats.ttest_ind(b, a, equal_var=False)
    assert result.t_statistic == pytest.approx(welch.statistic) and result.p_value == pytest.approx(welch.pvalue)
    assert result.p_value < 1e-4
    assert "n = 12 and 15" in result.message and "Welch" in result.message
    assert compare_samples("a", a, "b", b) == result  # seeded: reproducible


def test_bootstrap_interval_has_about_95_percent_coverage() -> None:
    """Same distribution, 200 experiments: the interval holds the true difference (0) about 95% of the time."""
    rng = np.random.default_rng(7)
    covered = 0
    for seed in range(200):
        a, b = list(rng.normal(0, 1, 40)), list(rng.normal(0, 1, 40))
        result = compare_samples("a", a, "b", b, ReactionConfig(bootstrap_resamples=400, seed=seed))
        covered += result.ci_low <= 0 <= result.ci_high
    assert 0.88 <= covered / 200 <= 0.99


def test_recorder_compare_uses_per_second_samples() -> None:
    recorder = ReactionRecorder()
    t = feed(recorder, 0.0, 4.0, "a", lambda s: 0.1 * int(s))  # seconds 0..3: 0.0, 0.1, 0.2, 0.3
    feed(recorder, t, 3.0, "b", 0.5)
    assert recorder.samples("a") == pytest.approx([0.0, 0.1, 0.2, 0.3])
    result = recorder.compare("a", "b")
    assert result.enough_samples and result.n_a == 4 and result.n_b == 3
    assert result.difference == pytest.approx(0.5 - 0.15)
    assert result.p_value is not None  # b is constant, a is not: Welch is defined
    constant = compare_samples("x", [0.2] * 3, "y", [0.2] * 4)
    assert constant.enough_samples and constant.p_value is None and "not defined" in constant.message


@pytest.mark.parametrize(
    "kwargs",
    [
        {"end_window_s": 0},
        {"max_frame_gap_s": -1},
        {"min_samples": 1},
        {"bootstrap_resamples": 10},
        {"end_window_s": "1"},
    ],
)
def test_bad_config_is_rejected(kwargs) -> None:
    with pytest.raises(ValueError, match="ReactionConfig"):
        ReactionConfig(**kwargs)
