"""Tests for fer_core.mood.affect: the documented circumplex mapping and the time-based smoother."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from fer_core.labels import EMOTIONS
from fer_core.mood.affect import (
    COORDINATES,
    WARRINER_NORMS,
    Affect,
    AffectConfig,
    AffectSmoother,
    affect,
    affect_of_state,
)
from fer_core.mood.tracker import MoodConfig, MoodState, MoodTracker


def one_hot(name: str) -> np.ndarray:
    p = np.zeros(len(EMOTIONS))
    p[EMOTIONS.index(name)] = 1.0
    return p


class FakeClock:
    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# --- the mapping ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in EMOTIONS if n != "neutral"])
def test_each_emotion_sits_at_its_rescaled_warriner_norm(name: str) -> None:
    valence_1_9, arousal_1_9 = WARRINER_NORMS[name]
    point = affect(one_hot(name))
    assert point.as_tuple() == pytest.approx(((valence_1_9 - 5) / 4, (arousal_1_9 - 5) / 4))


def test_documented_values_and_circumplex_quadrants() -> None:
    """The table in the module docstring, and Russell's (1980) quadrants for these states."""
    expected = {
        "angry": (-0.6175, 0.3), "disgust": (-0.42, 0.0), "fear": (-0.5175, 0.285), "happy": (0.8675, 0.2625),
        "sad": (-0.725, -0.3775), "surprise": (0.61, 0.3925), "neutral": (0.0, 0.0),
    }  # fmt: skip
    for name, point in expected.items():
        assert affect(one_hot(name)).as_tuple() == pytest.approx(point), name
    v = {name: affect(one_hot(name)).valence for name in EMOTIONS}
    a = {name: affect(one_hot(name)).arousal for name in EMOTIONS}
    assert v["happy"] > v["surprise"] > 0 > v["disgust"] > v["fear"] > v["angry"] > v["sad"]
    assert a["angry"] > 0 and a["fear"] > 0 and a["happy"] > 0 and a["surprise"] == max(a.values())
    assert a["sad"] == min(a.values()) < 0
    assert np.all(np.abs(COORDINATES) <= 1)


def test_mixture_is_the_probability_weighted_mean() -> None:
    p = np.zeros(len(EMOTIONS))
    p[EMOTIONS.index("happy")], p[EMOTIONS.index("sad")] = 0.25, 0.75
    point = affect(p)
    assert point.valence == pytest.approx(0.25 * 0.8675 + 0.75 * -0.725)
    assert point.arousal == pytest.approx(0.25 * 0.2625 + 0.75 * -0.3775)
    assert affect(p * 4).as_tuple() == pytest.approx(point.as_tuple())  # unnormalised input is normalised


def test_batch_of_faces_gives_arrays() -> None:
    batch = np.stack([one_hot("happy"), one_hot("sad"), one_hot("neutral")])
    result = affect(batch)
    assert isinstance(result.valence, np.ndarray) and result.valence.shape == (3,)
    assert result.valence == pytest.approx([0.8675, -0.725, 0.0])
    assert result.arousal == pytest.approx([0.2625, -0.3775, 0.0])
    assert isinstance(affect(one_hot("sad")).valence, float)


def test_random_inputs_stay_in_range() -> None:
    rng = np.random.default_rng(0)
    result = affect(rng.dirichlet(np.full(len(EMOTIONS), 0.3), size=500))
    assert np.all(np.abs(result.valence) <= 1) and np.all(np.abs(result.arousal) <= 1)


@pytest.mark.parametrize(
    "bad", [[0.5, 0.5], [[0.1] * 6], [-0.1, 0.2, 0.2, 0.2, 0.2, 0.2, 0.1], [np.nan] * 7, [0.0] * 7, "happy"]
)
def test_malformed_probabilities_are_rejected(bad) -> None:
    with pytest.raises(ValueError):
        affect(bad)


def test_affect_of_state() -> None:
    assert affect_of_state(MoodState()) is None
    state = MoodState(mood="happy", smoothed={name: float(name == "happy") for name in EMOTIONS})
    assert affect_of_state(state) == affect(one_hot("happy"))


# --- the smoother -----------------------------------------------------------------------------------------------


def test_smoother_follows_the_time_constant_whatever_the_frame_rate() -> None:
    """After tau seconds of a constant input, 63% of the way there, at 10 and at 100 frames per second."""
    for fps in (10, 100):
        clock = FakeClock()
        smoother = AffectSmoother(AffectConfig(time_constant_s=1.0), clock=clock)
        smoother.update(Affect(0.0, 0.0))
        for _ in range(fps):
            clock.t += 1 / fps
            value = smoother.update(Affect(1.0, -1.0))
        assert value is not None
        assert value.valence == pytest.approx(1 - np.exp(-1), abs=1e-9)
        assert value.arousal == pytest.approx(-(1 - np.exp(-1)), abs=1e-9)


def test_smoothed_affect_equals_affect_of_the_mood_trackers_smoothed_probabilities() -> None:
    """The mapping is linear: smoothing valence/arousal == mapping the tracker's smoothed probabilities."""
    rng = np.random.default_rng(1)
    smoother = AffectSmoother(AffectConfig(time_constant_s=1.5, stale_after_s=3.0), clock=FakeClock())
    tracker = MoodTracker(MoodConfig(time_constant_s=1.5, stale_after_s=3.0), clock=FakeClock())
    t = 0.0
    for step in range(200):
        t += rng.uniform(0.02, 0.2)
        p = None if step % 17 == 5 else rng.dirichlet(np.ones(len(EMOTIONS)))
        value = smoother.update(p, timestamp=t)
        state = tracker.update(p, timestamp=t)
        expected = affect_of_state(state)
        assert value is not None and expected is not None
        assert value.as_tuple() == pytest.approx(expected.as_tuple(), abs=1e-12)


def test_no_face_holds_then_goes_stale() -> None:
    clock = FakeClock()
    smoother = AffectSmoother(AffectConfig(time_constant_s=1.0, stale_after_s=2.0), clock=clock)
    assert smoother.update(None) is None
    first = smoother.update(one_hot("happy"))
    assert first is not None and first.valence == pytest.approx(0.8675)
    clock.t = 1.5
    assert smoother.update(None) == first  # held, unchanged
    clock.t = 1.99
    assert smoother.value() == first
    clock.t = 2.0
    assert smoother.value() is None  # stale: forgotten
    assert smoother.update(one_hot("sad")).valence == pytest.approx(-0.725)  # starts afresh, not blended


def test_zero_time_constant_means_no_smoothing_and_time_going_backwards_is_no_time() -> None:
    smoother = AffectSmoother(AffectConfig(time_constant_s=0.0), clock=FakeClock())
    smoother.update(one_hot("happy"), timestamp=5.0)
    assert smoother.update(one_hot("sad"), timestamp=5.1).valence == pytest.approx(-0.725)
    smoothing = AffectSmoother(AffectConfig(time_constant_s=1.0), clock=FakeClock())
    smoothing.update(Affect(0.0, 0.0), timestamp=5.0)
    assert smoothing.update(Affect(1.0, 1.0), timestamp=4.0).valence == 0.0  # dt = 0: no step


@pytest.mark.parametrize(
    "kwargs",
    [{"time_constant_s": -1}, {"stale_after_s": 0}, {"time_constant_s": float("nan")}, {"stale_after_s": True}],
)
def test_bad_config_is_rejected(kwargs) -> None:
    with pytest.raises(ValueError, match="AffectConfig"):
        AffectConfig(**kwargs)


def test_mood_wing_modules_import_neither_tensorflow_nor_streamlit() -> None:
    modules = ["affect", "readings", "reactions", "session_export", "events", "calibration"]
    code = (
        "import sys\n"
        + "".join(f"import fer_core.mood.{name}\n" for name in modules)
        + "heavy = [m for m in ('tensorflow', 'streamlit', 'keras') if m in sys.modules]\n"
        + "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_readme_coordinate_table_is_the_one_the_code_uses():
    from pathlib import Path

    from fer_core.mood.affect import COORDINATES

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()

    def cell(value: float) -> str:
        return f"{value:+.2f}".replace("+0.00", "0.00").replace("-0.00", "0.00")

    for axis, name in ((0, "valence"), (1, "arousal")):
        cells = [cell(float(v)) for v in COORDINATES[:6, axis]] + ["0"]  # neutral: the origin
        assert COORDINATES[6, axis] == 0.0
        row = f"| {name} | " + " | ".join(cells) + " |"
        assert row in readme, row
