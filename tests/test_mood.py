"""Tests for fer_core.mood.tracker: time-based smoothing, hysteresis, staleness, validation, thread safety."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from fer_core.labels import EMOTIONS
from fer_core.mood.tracker import MoodConfig, MoodState, MoodTracker


class FakeClock:
    """A settable clock, so tests control time exactly."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def one_hot(name: str, p: float = 0.9) -> np.ndarray:
    """A probability vector with ``p`` on ``name`` and the rest spread evenly."""
    probs = np.full(len(EMOTIONS), (1.0 - p) / (len(EMOTIONS) - 1))
    probs[EMOTIONS.index(name)] = p
    return probs


def feed(tracker: MoodTracker, probs: np.ndarray | None, start: float, end: float, fps: float) -> MoodState:
    """Send ``probs`` at ``fps`` frames per second for timestamps in (start, end]; returns the last state."""
    frames = round((end - start) * fps)
    state = tracker.state(start)
    for i in range(1, frames + 1):
        state = tracker.update(probs, start + i / fps)
    return state


def steady_tracker(mood: str = "happy", **config: float) -> tuple[MoodTracker, float]:
    """A tracker that has reported ``mood`` steadily; returns it and the time of its last update."""
    tracker = MoodTracker(MoodConfig(**config), clock=FakeClock(0.0))
    state = feed(tracker, one_hot(mood), -1 / 30, 10.0, fps=30)
    assert state.mood == mood
    return tracker, 10.0


# --- smoothing -------------------------------------------------------------------------------------------------


def test_first_frame_initialises_smoothed_to_the_input() -> None:
    tracker = MoodTracker(clock=FakeClock())
    state = tracker.update(one_hot("sad", 0.7), timestamp=1.0)
    assert state.smoothed["sad"] == pytest.approx(0.7)
    assert list(state.smoothed) == list(EMOTIONS)
    assert sum(state.smoothed.values()) == pytest.approx(1.0)
    assert state.top == "sad"


@pytest.mark.parametrize("fps_a, fps_b", [(10, 100), (5, 60), (1, 30)])
def test_smoothing_depends_on_elapsed_time_not_frame_count(fps_a: int, fps_b: int) -> None:
    results = []
    for fps in (fps_a, fps_b):
        tracker = MoodTracker(MoodConfig(time_constant_s=1.5), clock=FakeClock())
        tracker.update(one_hot("neutral"), timestamp=0.0)
        results.append(feed(tracker, one_hot("happy"), 0.0, 1.0, fps).smoothed)
    for name in EMOTIONS:
        assert results[0][name] == pytest.approx(results[1][name], abs=1e-9)
    # and it is the continuous-time EMA: after t seconds, exp(-t / tau) of the old value remains
    remaining = math.exp(-1.0 / 1.5)
    assert results[0]["happy"] == pytest.approx(0.9 - (0.9 - one_hot("neutral")[3]) * remaining)


def test_ema_moves_63_percent_in_one_time_constant() -> None:
    tracker = MoodTracker(MoodConfig(time_constant_s=2.0), clock=FakeClock())
    tracker.update(one_hot("angry", 1.0), timestamp=0.0)
    state = tracker.update(one_hot("fear", 1.0), timestamp=2.0)
    assert state.smoothed["fear"] == pytest.approx(1 - math.exp(-1), rel=1e-9)
    assert state.smoothed["angry"] == pytest.approx(math.exp(-1), rel=1e-9)


def test_zero_time_constant_means_no_smoothing() -> None:
    tracker = MoodTracker(MoodConfig(time_constant_s=0.0), clock=FakeClock())
    tracker.update(one_hot("angry"), timestamp=0.0)
    state = tracker.update(one_hot("fear"), timestamp=0.01)
    assert state.smoothed["fear"] == pytest.approx(0.9)


def test_timestamp_going_backwards_counts_as_no_time() -> None:
    tracker = MoodTracker(clock=FakeClock())
    tracker.update(one_hot("angry"), timestamp=10.0)
    state = tracker.update(one_hot("happy"), timestamp=5.0)
    assert state.smoothed["angry"] == pytest.approx(0.9)  # dt = 0: alpha = 0
    state = tracker.update(one_hot("happy"), timestamp=10.0 + 1.5)
    assert state.smoothed["happy"] == pytest.approx(0.9 - (0.9 - 0.1 / 6) * math.exp(-1))


def test_default_timestamp_comes_from_the_clock() -> None:
    clock = FakeClock(50.0)
    tracker = MoodTracker(MoodConfig(time_constant_s=1.0), clock=clock)
    tracker.update(one_hot("angry", 1.0))
    clock.now = 51.0
    state = tracker.update(one_hot("sad", 1.0))
    assert state.smoothed["sad"] == pytest.approx(1 - math.exp(-1))


def test_probabilities_are_normalised_and_accept_a_batch_of_one() -> None:
    tracker = MoodTracker(clock=FakeClock())
    state = tracker.update(np.array([[0, 0, 0, 2.0, 2.0, 0, 0]]), timestamp=0.0)
    assert state.smoothed["happy"] == pytest.approx(0.5)
    assert state.smoothed["sad"] == pytest.approx(0.5)


# --- hysteresis ------------------------------------------------------------------------------------------------


def test_first_mood_needs_the_dwell() -> None:
    tracker = MoodTracker(MoodConfig(dwell_s=2.0), clock=FakeClock())
    state = tracker.update(one_hot("happy"), timestamp=0.0)
    assert state.mood is None
    assert state.candidate == "happy"
    state = feed(tracker, one_hot("happy"), 0.0, 1.9, fps=30)
    assert state.mood is None
    assert state.candidate == "happy"
    assert state.candidate_held_s == pytest.approx(1.9)
    state = feed(tracker, one_hot("happy"), 1.9, 2.1, fps=30)
    assert state.mood == "happy"
    assert state.candidate is None
    assert state.confidence == pytest.approx(state.smoothed["happy"])
    assert state.since_s < 0.2


@pytest.mark.parametrize("time_constant_s", [1.5, 0.1])
def test_brief_flash_of_another_emotion_does_not_change_the_mood(time_constant_s: float) -> None:
    tracker, t = steady_tracker("happy", time_constant_s=time_constant_s)
    state = feed(tracker, one_hot("angry", 1.0), t, t + 0.5, fps=30)
    assert state.mood == "happy"
    if time_constant_s < 0.5:  # fast smoothing: the flash does become the smoothed top, but not for dwell_s
        assert state.top == "angry"
        assert state.candidate == "angry"
    state = feed(tracker, one_hot("happy"), t + 0.5, t + 5.0, fps=30)
    assert state.mood == "happy"
    assert state.since_s > 10.0  # the mood was never interrupted


def test_sustained_change_switches_after_dwell_and_not_before() -> None:
    tracker, t = steady_tracker("happy", dwell_s=2.0, time_constant_s=0.5)
    # the smoothed top flips to sad within ~0.5 s; the dwell starts then
    state = feed(tracker, one_hot("sad"), t, t + 1.0, fps=30)
    assert state.mood == "happy"
    assert state.candidate == "sad"
    flipped_at = t + 1.0 - state.candidate_held_s
    assert t < flipped_at < t + 1.0
    state = feed(tracker, one_hot("sad"), t + 1.0, flipped_at + 1.95, fps=100)
    assert state.mood == "happy"
    assert state.candidate == "sad"
    state = feed(tracker, one_hot("sad"), flipped_at + 1.95, flipped_at + 2.05, fps=100)
    assert state.mood == "sad"
    assert state.since_s < 0.1
    assert state.candidate is None


def test_candidate_must_be_the_same_emotion_continuously() -> None:
    tracker = MoodTracker(MoodConfig(dwell_s=2.0, time_constant_s=0.0), clock=FakeClock())
    t = 0.0
    # alternating 1.5 s of sad and 1.5 s of fear: each candidate restarts before its dwell is met
    for name in ("sad", "fear", "sad", "fear"):
        state = feed(tracker, one_hot(name), t, t + 1.5, fps=20)
        t += 1.5
        assert state.mood is None
        assert state.candidate == name
        assert state.candidate_held_s < 2.0


def test_below_confidence_floor_never_switches() -> None:
    tracker, t = steady_tracker("happy", confidence_floor=0.45)
    uncertain = one_hot("surprise", 0.40)  # top emotion, but only 40%
    state = feed(tracker, uncertain, t, t + 30.0, fps=15)
    assert state.top == "surprise"
    assert state.smoothed["surprise"] < 0.45
    assert state.mood == "happy"
    assert state.candidate is None


def test_below_confidence_floor_never_sets_a_first_mood() -> None:
    tracker = MoodTracker(MoodConfig(confidence_floor=0.45), clock=FakeClock())
    state = feed(tracker, one_hot("sad", 0.44), 0.0, 20.0, fps=10)
    assert state.mood is None
    assert state.candidate is None
    assert state.confidence == 0.0


def test_dip_below_floor_restarts_the_dwell() -> None:
    tracker = MoodTracker(MoodConfig(dwell_s=2.0, time_constant_s=0.0), clock=FakeClock())
    state = feed(tracker, one_hot("fear", 0.9), 0.0, 1.5, fps=10)
    assert state.candidate == "fear"
    state = tracker.update(one_hot("fear", 0.3), timestamp=1.6)
    assert state.candidate is None
    state = feed(tracker, one_hot("fear", 0.9), 1.6, 3.5, fps=10)
    assert state.mood is None
    state = feed(tracker, one_hot("fear", 0.9), 3.5, 3.8, fps=10)
    assert state.mood == "fear"


# --- no face / staleness ----------------------------------------------------------------------------------------


def test_short_face_loss_keeps_the_mood() -> None:
    tracker, t = steady_tracker("sad", stale_after_s=3.0)
    state = feed(tracker, None, t, t + 2.5, fps=30)
    assert state.mood == "sad"
    assert state.smoothed["sad"] > 0.8
    state = tracker.update(one_hot("sad"), timestamp=t + 2.6)
    assert state.mood == "sad"


def test_no_face_for_stale_after_s_clears_the_mood() -> None:
    tracker, t = steady_tracker("sad", stale_after_s=3.0)
    state = feed(tracker, None, t, t + 2.9, fps=30)
    assert state.mood == "sad"
    state = feed(tracker, None, t + 2.9, t + 3.1, fps=30)
    assert state == MoodState()
    assert state.mood is None
    assert state.smoothed == {}


def test_state_expires_without_any_update() -> None:
    clock = FakeClock(0.0)
    tracker = MoodTracker(MoodConfig(stale_after_s=3.0, dwell_s=0.0), clock=clock)
    assert tracker.update(one_hot("happy")).mood == "happy"
    clock.now = 2.0
    assert tracker.state().mood == "happy"
    assert tracker.state().since_s == pytest.approx(2.0)
    clock.now = 3.5
    assert tracker.state().mood is None


def test_a_face_after_a_long_gap_starts_fresh() -> None:
    tracker, t = steady_tracker("happy", stale_after_s=3.0)
    state = tracker.update(one_hot("sad", 0.8), timestamp=t + 10.0)
    assert state.smoothed["sad"] == pytest.approx(0.8)  # not blended with the old happy state
    assert state.mood is None
    assert state.candidate == "sad"


def test_reset_clears_everything() -> None:
    tracker, _ = steady_tracker("happy")
    tracker.reset()
    assert tracker.state() == MoodState()


# --- validation -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "probs, message",
    [
        ([0.5, 0.5], r"expected 7 probabilities"),
        (np.ones(8) / 8, r"expected 7 probabilities"),
        (np.ones((2, 7)) / 7, r"expected 7 probabilities"),
        ([0.5, -0.1, 0.2, 0.2, 0.1, 0.05, 0.05], r">= 0"),
        ([0.5, float("nan"), 0.2, 0.2, 0.1, 0.0, 0.0], r"finite"),
        ([0.5, float("inf"), 0.2, 0.2, 0.1, 0.0, 0.0], r"finite"),
        ([0.0] * 7, r"all be zero"),
        (["a"] * 7, r"must be numbers"),
    ],
)
def test_bad_probabilities_raise_value_error(probs: object, message: str) -> None:
    tracker = MoodTracker(clock=FakeClock())
    with pytest.raises(ValueError, match=message):
        tracker.update(probs, timestamp=0.0)  # type: ignore[arg-type]
    assert tracker.state(0.0) == MoodState()  # a rejected frame changes nothing


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"time_constant_s": -1.0}, "time_constant_s must be >= 0"),
        ({"dwell_s": float("nan")}, "dwell_s must be a finite number"),
        ({"stale_after_s": -0.5}, "stale_after_s must be > 0"),
        ({"stale_after_s": 0}, r"stale_after_s must be > 0 seconds, got 0 \(0 would forget the mood at every frame"),
        ({"stale_after_s": float("inf")}, "stale_after_s must be a finite number"),
        ({"time_constant_s": "1.5"}, "time_constant_s must be a finite number, got '1.5'"),
        ({"dwell_s": True}, "dwell_s must be a finite number, got True"),
        ({"confidence_floor": 1.0}, r"confidence_floor must be in \[0, 1\)"),
        ({"confidence_floor": -0.1}, r"confidence_floor must be in \[0, 1\)"),
        ({"confidence_floor": None}, "confidence_floor must be a finite number"),
    ],
)
def test_bad_config_raises_value_error(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=rf"MoodConfig\.{message}"):
        MoodConfig(**config)  # type: ignore[arg-type]


def test_zero_smoothing_and_dwell_are_valid_settings() -> None:
    """0 s is what the live page's sliders offer at their left end: no smoothing, an immediate mood change."""
    assert MoodConfig(time_constant_s=0.0, dwell_s=0.0, confidence_floor=0.0) == MoodConfig(0.0, 0.0, 0.0)
    assert MoodConfig(stale_after_s=np.float32(0.5)).stale_after_s == 0.5  # numpy numbers are numbers too


# --- threads ----------------------------------------------------------------------------------------------------


def test_concurrent_updates_resets_and_reads_are_consistent() -> None:
    clock_lock = threading.Lock()
    ticks = [0.0]

    def clock() -> float:
        with clock_lock:
            ticks[0] += 0.001
            return ticks[0]

    tracker = MoodTracker(MoodConfig(dwell_s=0.05, time_constant_s=0.02), clock=clock)
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def worker(name: str) -> None:
        try:
            start.wait()
            for _ in range(400):
                state = tracker.update(one_hot(name))
                assert state.smoothed, "an update always leaves smoothed probabilities"
                assert sum(state.smoothed.values()) == pytest.approx(1.0)
                assert state.mood is None or state.confidence == state.smoothed[state.mood]
        except BaseException as exc:
            errors.append(exc)

    def resetter() -> None:
        try:
            start.wait()
            for _ in range(200):
                tracker.reset()
                state = tracker.state()
                assert state.mood is None or state.mood in EMOTIONS
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("happy", "sad", "fear", "happy", "angry")]
    threads.append(threading.Thread(target=resetter))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors[0]
    assert not any(thread.is_alive() for thread in threads)


def test_reset_waits_for_an_update_in_progress() -> None:
    """While one thread is inside update(), another thread's reset() must wait for it, not interleave."""
    reset_started = threading.Event()
    reset_done = threading.Event()
    calls = [0]

    def slow_clock() -> float:
        calls[0] += 1
        if calls[0] == 1:  # the first update: let the other thread try to reset in the middle of it
            reset_started.set()
            reset_done.wait(timeout=0.3)
        return float(calls[0])

    tracker = MoodTracker(clock=slow_clock)

    def resetter() -> None:
        reset_started.wait(timeout=5)
        tracker.reset()
        reset_done.set()

    thread = threading.Thread(target=resetter)
    thread.start()
    state = tracker.update(one_hot("happy"))
    thread.join(timeout=5)
    assert state.smoothed["happy"] == pytest.approx(0.9)
    assert reset_done.is_set()
    # the reset ran after the update finished, so it wiped the update's data
    assert tracker.state() == MoodState()
