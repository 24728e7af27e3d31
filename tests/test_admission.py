"""fer_core.sessions.admission: stream slots with a fake clock, the capacity setting, and the per-session gate."""

from __future__ import annotations

import av
import numpy as np
import pytest

from fer_core.measure.sample_frames import one_face_frame
from fer_core.sessions.admission import (
    ENV_VAR,
    Admission,
    AdmissionConfigError,
    StreamGate,
    capacity_from_env,
    default_capacity,
)
from fer_core.sessions.live import LiveProcessor


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_slots_up_to_capacity_then_refused(clock):
    admission = Admission(2, clock=clock)
    assert admission.acquire("a") and admission.acquire("b")
    assert not admission.acquire("c"), "a third stream got a slot with capacity 2"
    state = admission.state()
    assert (state.capacity, state.in_use, state.refused, state.full) == (2, 2, 1, True)
    assert not admission.has_room("c") and admission.has_room("a")


def test_acquire_is_idempotent_for_the_holder(clock):
    admission = Admission(1, clock=clock)
    for _ in range(5):  # one call per frame
        assert admission.acquire("a")
    assert admission.state().in_use == 1
    assert not admission.acquire("b")


def test_release_on_stream_end_frees_the_slot_for_the_next_viewer(clock):
    admission = Admission(1, clock=clock)
    assert admission.acquire("a")
    assert not admission.acquire("b")
    assert admission.release("a")
    assert not admission.release("a"), "a second release of the same slot"
    assert admission.acquire("b")
    assert admission.holds("b") and not admission.holds("a")


def test_a_stale_session_loses_its_slot_to_the_next_viewer(clock):
    admission = Admission(1, stale_after_s=10.0, clock=clock)
    assert admission.acquire("a")
    clock.now += 9.0
    assert admission.acquire("a")  # a frame keeps the slot fresh
    clock.now += 9.5
    assert not admission.acquire("b"), "the slot was reclaimed while its stream still delivered frames"
    clock.now += 1.0  # 10.5 s since a's last frame: its tab vanished without the stream ending
    assert not admission.holds("a")
    assert admission.state().in_use == 0 and not admission.state().full
    assert admission.acquire("b")
    assert not admission.acquire("a"), "the stale holder came back and took the slot from the new one"


def test_capacity_from_env():
    assert capacity_from_env({ENV_VAR: "5"}) == 5
    assert capacity_from_env({ENV_VAR: " 1 "}) == 1
    assert capacity_from_env({}, cpu_count=2) == default_capacity(2)
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(AdmissionConfigError, match=ENV_VAR):
            capacity_from_env({ENV_VAR: bad})


def test_default_capacity_divides_the_process_cores_by_the_stream_cost():
    assert default_capacity(1, stream_cores=0.3, process_cores=1.0, target_load=1.0) == 3
    assert default_capacity(16, stream_cores=0.3, process_cores=1.0, target_load=1.0) == 3, "one process, not 16"
    assert default_capacity(16, stream_cores=0.25, process_cores=4.0, target_load=1.0) == 16
    assert default_capacity(1, stream_cores=5.0) == 1, "at least one stream"
    assert default_capacity() >= 1


# --- the gate --------------------------------------------------------------------------------------------------
class RecordingProcessor:
    def __init__(self) -> None:
        self.frames: list[object] = []
        self.ended = 0

    def __call__(self, frame):
        self.frames.append(frame)
        return "annotated"

    def end_stream(self) -> None:
        self.ended += 1


def test_gate_analyses_only_while_holding_a_slot(clock):
    admission = Admission(1, clock=clock)
    first, second = RecordingProcessor(), RecordingProcessor()
    gate_a = StreamGate(admission, "a", first)
    gate_b = StreamGate(admission, "b", second)
    assert gate_a("frame-a") == "annotated"
    assert gate_b("frame-b") == "frame-b", "a refused frame must come back untouched"
    assert second.frames == [] and gate_b.refused and not gate_a.refused
    # A stops: its slot is released and its moods forgotten; B's next frame is analysed.
    gate_a.on_ended()
    assert first.ended == 1 and not admission.holds("a")
    assert gate_b("frame-b2") == "annotated"
    assert second.frames == ["frame-b2"] and not gate_b.refused


def test_gate_releases_the_slot_even_if_end_stream_fails(clock):
    class Failing(RecordingProcessor):
        def end_stream(self) -> None:
            raise RuntimeError("boom")

    admission = Admission(1, clock=clock)
    gate = StreamGate(admission, "a", Failing())
    gate("frame")
    with pytest.raises(RuntimeError):
        gate.on_ended()
    assert admission.state().in_use == 0


def test_lean_gate_analyses_a_real_frame_without_drawing(recognizer, clock):
    processor = LiveProcessor(recognizer)
    gate = StreamGate(Admission(1, clock=clock), "a", processor, send_back=False)
    bgr = np.ascontiguousarray(one_face_frame().image[:, :, ::-1])
    frame = av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format="yuv420p")
    before = frame.to_ndarray(format="bgr24")
    calls = []
    analyse = processor.process_bgr
    processor.process_bgr = lambda image, **kwargs: calls.append(kwargs) or analyse(image, **kwargs)
    out = gate(frame)
    assert [call["draw"] for call in calls] == [False], "lean mode drew an overlay nobody sees"
    assert out is frame, "lean mode sends no video back: the frame is returned as it came"
    assert np.array_equal(out.to_ndarray(format="bgr24"), before), "lean mode drew on the frame"
    stats = processor.stats()
    assert stats.frames_processed == 1 and len(stats.faces) == 1, stats
    assert stats.frame_size == (640, 480)
    # The same frame with video sent back gets the overlay drawn.
    gate.send_back = True
    annotated = gate(frame).to_ndarray(format="bgr24")
    assert processor.stats().frames_processed == 2
    assert np.abs(annotated.astype(int) - before.astype(int)).sum() > 0, "no overlay with video sent back"


def test_process_bgr_draws_only_when_asked(recognizer):
    processor = LiveProcessor(recognizer)
    image = np.ascontiguousarray(one_face_frame().image[:, :, ::-1])
    untouched = image.copy()
    processor.process_bgr(image, draw=False)
    assert np.array_equal(image, untouched), "draw=False changed the frame"
    assert len(processor.stats().faces) == 1
    processor.process_bgr(image)
    assert not np.array_equal(image, untouched), "the overlay is drawn on the frame by default"
