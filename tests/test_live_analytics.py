"""Tests for fer_core.sessions.live_analytics: one viewer session's analytics on the live page (fake clocks)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_live import FakeClock, ScriptedRecognizer, one_hot

from fer_core.labels import EMOTIONS
from fer_core.mood.affect import affect
from fer_core.mood.calibration import MODEL_NEUTRAL_REFERENCE
from fer_core.mood.content import ContentPolicy, default_catalog_path, load_catalog
from fer_core.mood.events import EventFeed, EventFeedConfig
from fer_core.mood.tracker import MoodConfig, MoodState
from fer_core.sessions.live import LiveProcessor
from fer_core.sessions.live_analytics import (
    LiveAnalytics,
    LiveAnalyticsConfig,
    affect_columns,
    circumplex_anchors,
    pretend_probabilities,
)

SAD_REST = [0.05, 0.02, 0.08, 0.03, 0.55, 0.02, 0.25]
"""A face that rests looking sad to the model."""


@pytest.fixture(scope="module")
def policy() -> ContentPolicy:
    return ContentPolicy(load_catalog(default_catalog_path()), max_items=2)


def processor_with(analytics: LiveAnalytics, probabilities, clock: FakeClock) -> LiveProcessor:
    processor = LiveProcessor(ScriptedRecognizer(probabilities), clock=clock)
    processor.set_mood_config(MoodConfig(time_constant_s=0.0, dwell_s=0.0))
    processor.analytics = analytics
    return processor


def frames(processor: LiveProcessor, clock: FakeClock, seconds: float, fps: float = 10.0) -> None:
    for _ in range(round(seconds * fps)):
        clock.now += 1.0 / fps
        processor.process_bgr(np.zeros((240, 320, 3), np.uint8))


# --- the live processor's hooks -------------------------------------------------------------------------------------
def test_each_frame_becomes_a_reading_with_the_items_on_screen(policy):
    clock = FakeClock()
    analytics = LiveAnalytics(clock=clock)
    processor = processor_with(analytics, one_hot("happy"), clock)
    frames(processor, clock, 1.0)
    decision = analytics.choose(policy, processor.stats().mood)
    assert decision.mood == "happy" and analytics.items == tuple(item.id for item in decision.items)
    frames(processor, clock, 3.0)
    export = analytics.export()
    assert [row.frames for row in export.seconds] == [10, 10, 10, 10]
    assert export.seconds[0].items == () and export.seconds[-1].items == analytics.items
    assert export.seconds[-1].mood == "happy" and export.seconds[-1].valence == pytest.approx(
        affect(one_hot("happy")).valence
    )
    first, _ = analytics.reaction_rows()
    assert first["item_id"] == decision.items[0].id and first["title"] == decision.items[0].title
    assert first["seconds_on_screen"] == pytest.approx(2.9)  # 30 frames: each counts until the next
    assert first["attention"] == 1.0
    assert first["mood_mix"] == "happy 100%"


def test_calibration_runs_on_the_raw_probabilities_before_the_tracker():
    clock = FakeClock()
    analytics = LiveAnalytics(clock=clock)
    processor = processor_with(analytics, SAD_REST, clock)
    frames(processor, clock, 1.0)
    assert processor.stats().mood.top == "sad", "uncalibrated: this resting face reads sad"
    analytics.start_calibration()
    frames(processor, clock, 3.2)
    status = analytics.calibration_status()
    assert status.state == "calibrated" and status.frames >= 30
    frames(processor, clock, 0.5)
    smoothed = processor.stats().mood.smoothed
    assert max(smoothed, key=smoothed.get) == "neutral", "calibrated: the resting face reads neutral"
    np.testing.assert_allclose([smoothed[name] for name in EMOTIONS], MODEL_NEUTRAL_REFERENCE, atol=1e-6)
    assert analytics.export().seconds[-1].mood == "neutral", "the analytics see the calibrated readings"


def test_a_frame_without_a_face_counts_on_screen_but_not_as_attention(policy):
    clock = FakeClock()
    analytics = LiveAnalytics(clock=clock)
    processor = processor_with(analytics, one_hot("happy"), clock)
    frames(processor, clock, 0.5)
    analytics.choose(policy, processor.stats().mood)
    frames(processor, clock, 2.0)
    processor._base_recognizer.probabilities = None  # the face leaves
    processor._recognizer.probabilities = None
    frames(processor, clock, 2.0)
    row = analytics.reaction_rows()[0]
    assert row["seconds_on_screen"] == pytest.approx(3.9)
    assert row["attention"] == pytest.approx(2.0 / 3.9)
    assert analytics.export().seconds[-1].faces == 0


def test_an_analytics_failure_never_ends_the_stream():
    def broken(event):
        raise RuntimeError("receiver exploded")

    clock = FakeClock()
    analytics = LiveAnalytics(publish=broken, clock=clock)
    processor = processor_with(analytics, one_hot("sad"), clock)
    frames(processor, clock, 1.0)
    assert processor.stats().frames_processed == 10 and processor.stats().errors == 0
    assert analytics.errors >= 1


# --- events ---------------------------------------------------------------------------------------------------------
def test_events_carry_the_export_session_id_and_no_image_data(tmp_path, policy):
    path = tmp_path / "events.jsonl"
    feed = EventFeed(EventFeedConfig(jsonl_path=str(path)))
    clock = FakeClock()
    analytics = LiveAnalytics(publish=feed.publish, clock=clock)
    processor = processor_with(analytics, one_hot("happy"), clock)
    frames(processor, clock, 0.5)
    decision = analytics.choose(policy, processor.stats().mood)
    frames(processor, clock, 0.5)
    feed.close(flush_s=5.0)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert {event["session_id"] for event in events} == {analytics.export().session_id}
    assert [(event["type"], event.get("to")) for event in events[:1]] == [("mood_changed", "happy")]
    shown = [event["item_id"] for event in events if event["type"] == "item_shown"]
    assert shown == [item.id for item in decision.items]
    assert max(len(line) for line in path.read_text().splitlines()) < 1000, "no image data"


# --- content per viewer ---------------------------------------------------------------------------------------------
def test_each_session_has_its_own_content_cool_down(policy):
    clock = FakeClock()
    happy = MoodState(mood="happy", since_s=5.0, smoothed=dict(zip(EMOTIONS, one_hot("happy"), strict=True)))
    sad = MoodState(mood="sad", since_s=5.0, smoothed=dict(zip(EMOTIONS, one_hot("sad"), strict=True)))
    viewer, other = LiveAnalytics(clock=clock), LiveAnalytics(clock=clock)
    first = analytics_ids(viewer.choose(policy, happy))
    viewer.choose(policy, sad)  # the happy items leave this viewer's screen
    clock.now += 5
    again = analytics_ids(viewer.choose(policy, happy))
    assert set(again).isdisjoint(first), "recently shown items wait for their cool-down"
    assert analytics_ids(other.choose(policy, happy)) == first, "another viewer's history is not shared"


def analytics_ids(decision) -> list[str]:
    return [item.id for item in decision.items]


# --- pretend mood ---------------------------------------------------------------------------------------------------
def test_pretend_mood_feeds_a_fixed_step_of_frames_through_the_same_pipeline(policy):
    clock = FakeClock()
    config = LiveAnalyticsConfig(pretend_step_s=1.0, pretend_fps=10.0)
    analytics = LiveAnalytics(clock=clock, config=config)
    processor = LiveProcessor(ScriptedRecognizer(None), clock=clock)
    state = analytics.pretend(processor, "sad")
    assert state.top == "sad" and state.mood is None, "one second is shorter than the 2 s dwell"
    assert len(analytics.log.rows()) == 1 and analytics.log.rows()[0].frames == 10
    analytics.pretend(processor, "sad")  # a rerun within the same second: one step ahead of the clock
    analytics.pretend(processor, "sad")  # but no further
    assert sum(row.frames for row in analytics.log.rows()) == 20
    for _ in range(3):
        clock.now += 1.0
        state = analytics.pretend(processor, "sad")
        analytics.choose(policy, state)
    assert state.mood == "sad" and processor.stats().mood.mood == "sad", "the page's mood follows"
    assert len(processor.timeline) > 0
    rows = analytics.reaction_rows()
    assert rows and rows[0]["mood_mix"].startswith("sad") and rows[0]["mean_valence"] < -0.4
    samples = analytics.reactions.samples(rows[0]["item_id"])
    assert np.ptp(samples) > 0, "a little noise, so two items can be compared"


def test_pretend_mood_rejects_an_unknown_emotion():
    with pytest.raises(ValueError, match="unknown emotion 'hapy'"):
        LiveAnalytics().pretend(LiveProcessor(ScriptedRecognizer(None)), "hapy")


def test_pretend_probabilities_and_config_checks():
    probabilities = pretend_probabilities("fear", 0.7)
    assert probabilities.sum() == pytest.approx(1.0) and EMOTIONS[int(np.argmax(probabilities))] == "fear"
    with pytest.raises(ValueError, match="pretend_confidence"):
        LiveAnalyticsConfig(pretend_confidence=0.1)
    with pytest.raises(ValueError, match="pretend_step_s"):
        LiveAnalyticsConfig(pretend_step_s=0)


def test_reset_forgets_the_session_but_keeps_its_id(policy):
    clock = FakeClock()
    analytics = LiveAnalytics(clock=clock)
    analytics.pretend(LiveProcessor(ScriptedRecognizer(None), clock=clock), "happy")
    session_id = analytics.session_id
    analytics.reset()
    assert analytics.export().seconds == [] and analytics.reaction_rows() == []
    assert analytics.session_id == session_id


# --- chart helpers --------------------------------------------------------------------------------------------------
def test_affect_columns_follow_the_timeline_with_gaps():
    columns = {"seconds": [-2.0, -1.0]} | {name: [p, None] for name, p in zip(EMOTIONS, one_hot("sad"), strict=True)}
    values = affect_columns(columns)
    assert values["seconds"] == [-2.0, -1.0]
    assert values["valence"][0] == pytest.approx(affect(one_hot("sad")).valence) and values["valence"][1] is None
    assert values["arousal"][1] is None


def test_circumplex_anchors_are_the_affect_coordinates():
    anchors = {row["emotion"]: (row["valence"], row["arousal"]) for row in circumplex_anchors()}
    assert anchors["neutral"] == (0.0, 0.0)
    assert anchors["happy"][0] > 0.8 and anchors["sad"] == pytest.approx((-0.725, -0.3775))


def test_circumplex_chart_puts_the_moods_dot_on_a_plane_built_once():
    from fer_core.mood.tracker import MoodConfig, MoodTracker
    from fer_core.sessions.analytics_view import circumplex_chart

    without = circumplex_chart(MoodTracker().state())
    assert len(without["layer"]) == 5, "axes, points, labels: no dot without a face"
    tracker = MoodTracker(MoodConfig(time_constant_s=0.0, dwell_s=0.0), clock=lambda: 0.0)
    state = tracker.update(one_hot("sad"), timestamp=0.0)
    spec = circumplex_chart(state)
    (dot,) = spec["layer"][5:]
    sad = affect(one_hot("sad"))
    assert dot["data"]["values"] == [{"valence": pytest.approx(sad.valence), "arousal": pytest.approx(sad.arousal)}]
    assert len(circumplex_chart(MoodTracker().state())["layer"]) == 5, "the cached plane is not changed by a dot"
    labels = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "text")
    assert {row["emotion"] for row in labels["data"]["values"]} == set(EMOTIONS)


def test_timeline_chart_fills_in_each_emotions_line_and_the_affect_lines_with_gaps():
    from fer_core.sessions.analytics_view import timeline_chart

    columns = {"seconds": [-2.0, -1.0]} | {name: [p, None] for name, p in zip(EMOTIONS, one_hot("sad"), strict=True)}
    spec = timeline_chart(columns, 60.0)
    emotions, affect_rows = (layer["data"]["values"] for layer in spec["layer"])
    sad_p = one_hot("sad")[EMOTIONS.index("sad")]
    assert len(emotions) == 14 and {"seconds": -2.0, "emotion": "sad", "probability": sad_p} in emotions
    assert {"seconds": -1.0, "emotion": "sad", "probability": None} in emotions, "a gap where no face was seen"
    sad = affect(one_hot("sad"))
    assert affect_rows == [
        {"seconds": -2.0, "measure": "valence", "value": pytest.approx(sad.valence)},
        {"seconds": -2.0, "measure": "arousal", "value": pytest.approx(sad.arousal)},
    ]
    assert spec["layer"][0]["encoding"]["x"]["scale"]["domain"] == [-60.0, 0]
    assert timeline_chart({"seconds": []} | {n: [] for n in EMOTIONS}, 60.0)["layer"][0]["data"] == {"values": []}
