"""Tests for fer_core.mood.session_export: per-second resampling, the two CSVs and the JSON, all in memory."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from fer_core.labels import EMOTIONS
from fer_core.mood.affect import affect
from fer_core.mood.reactions import ReactionRecorder
from fer_core.mood.readings import FrameReading
from fer_core.mood.session_export import (
    ITEMS_COLUMNS,
    SCHEMA_VERSION,
    SECONDS_COLUMNS,
    SessionLog,
    SessionLogConfig,
    build_export,
)
from fer_core.mood.tracker import MoodState

START = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def probabilities(name: str, p: float = 0.7) -> tuple[float, ...]:
    rest = (1 - p) / (len(EMOTIONS) - 1)
    return tuple(p if emotion == name else rest for emotion in EMOTIONS)


def face(t: float, name: str, items=("a",), mood: str | None = None, faces: int = 1) -> FrameReading:
    p = probabilities(name)
    point = affect(p)
    return FrameReading(t, p, point.valence, point.arousal, mood, 0.7 if mood else 0.0, faces, items)


def no_face(t: float, items=("a",), mood: str | None = None) -> FrameReading:
    return FrameReading(t, mood=mood, items=items)


def session() -> tuple[SessionLog, ReactionRecorder]:
    """Second 0: happy (2 frames, two faces in the first); second 1: no face; second 3: sad (second 2 has no frames)."""
    log = SessionLog(session_id="s1", wall_clock=lambda: START)
    reactions = ReactionRecorder()
    frames = [
        face(100.0, "happy", mood="happy", faces=2),
        face(100.5, "happy", mood="happy"),
        no_face(101.2, mood="happy"),
        no_face(101.7, items=("a", "=b"), mood=None),
        face(103.1, "sad", items=("=b",), mood="sad"),
        face(103.6, "sad", items=("=b",), mood="sad"),
        no_face(103.9, items=()),
    ]
    for frame in frames:
        log.add(frame)
        reactions.add(frame)
    return log, reactions


def parse_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_frames_are_resampled_to_one_row_per_second_with_frames() -> None:
    log, _ = session()
    rows = log.rows()
    assert [row.second for row in rows] == [0, 1, 3]  # second 2 had no frame: no row
    zero, one, three = rows
    assert (zero.frames, zero.faces, one.frames, one.faces, three.frames) == (2, 2, 2, 0, 3)
    assert zero.probabilities == pytest.approx(probabilities("happy"))
    assert zero.valence == pytest.approx(affect(probabilities("happy")).valence)
    assert one.probabilities is None and one.valence is None and one.arousal is None
    assert one.mood is None and one.items == ("a", "=b")  # the state at the second's last frame
    assert three.mood is None and three.items == ()  # last frame of second 3 (103.9): nothing on screen
    assert three.valence == pytest.approx(affect(probabilities("sad")).valence)  # mean over its face frames only
    assert three.time == START + timedelta(seconds=3)


def test_seconds_csv_has_the_documented_columns_and_values() -> None:
    export = build_export(*session())
    data = export.seconds_csv()
    assert isinstance(data, bytes)
    assert data.decode("utf-8").splitlines()[0] == ",".join(SECONDS_COLUMNS)
    rows = parse_csv(data)
    assert [row["second"] for row in rows] == ["0", "1", "3"]
    assert float(rows[0]["happy"]) == pytest.approx(0.7) and rows[0]["mood"] == "happy"
    assert -1 <= float(rows[0]["valence"]) <= 1 and rows[0]["time"] == START.isoformat()
    assert rows[1]["happy"] == "" and rows[1]["valence"] == "" and rows[1]["faces"] == "0"
    assert rows[1]["items"] == "a;=b"  # ids joined with ';' (the cell does not start with '=')
    assert float(rows[2]["sad"]) == pytest.approx(0.7)


def test_items_csv_has_one_row_per_item_with_the_mood_mix() -> None:
    rows = parse_csv(build_export(*session(), titles={"a": "Item A"}).items_csv())
    assert list(rows[0]) == list(ITEMS_COLUMNS)
    assert [row["item_id"] for row in rows] == ["a", "'=b"]
    a = rows[0]
    assert a["title"] == "Item A" and a["times_shown"] == "1"
    assert float(a["seconds_on_screen"]) == pytest.approx(1.7 + 1.0)  # 100.0 .. 101.7, then the 1 s gap cap
    shares = [float(a[f"share_{mood}"]) for mood in (*EMOTIONS, "none")]
    assert sum(shares) == pytest.approx(1.0)
    assert float(a["share_happy"]) == pytest.approx(1.7 / 2.7)


def test_json_has_schema_version_rows_and_items() -> None:
    export = build_export(*session())
    document = json.loads(export.to_json().decode("utf-8"))
    assert document["schema_version"] == SCHEMA_VERSION == 1
    assert document["session_id"] == "s1" and document["started_at"] == START.isoformat()
    assert document["emotions"] == list(EMOTIONS)
    assert document["affect_coordinates"]["happy"] == pytest.approx([0.8675, 0.2625])
    seconds = document["seconds"]
    assert [s["second"] for s in seconds] == [0, 1, 3]
    assert seconds[0]["probabilities"]["happy"] == pytest.approx(0.7) and seconds[1]["probabilities"] is None
    assert seconds[1]["items"] == ["a", "=b"]  # JSON keeps the text as it is
    assert [item["item_id"] for item in document["items"]] == ["a", "=b"]
    assert document["items"][0]["mood_mix"]["happy"] == pytest.approx(1.7 / 2.7)
    assert document["dropped_seconds"] == 0


def test_downloads_name_three_files_and_nothing_is_written(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    files = build_export(*session()).downloads()
    assert set(files) == {"mood-session-s1-seconds.csv", "mood-session-s1-items.csv", "mood-session-s1.json"}
    assert files["mood-session-s1.json"][1] == "application/json"
    assert all(isinstance(data, bytes) and data for data, _ in files.values())
    assert list(tmp_path.iterdir()) == []


def test_empty_session_exports_headers_only() -> None:
    export = build_export(SessionLog(session_id="empty"))
    assert export.seconds_csv().decode() == ",".join(SECONDS_COLUMNS) + "\n"
    assert export.items_csv().decode() == ",".join(ITEMS_COLUMNS) + "\n"
    assert json.loads(export.to_json())["seconds"] == []


def test_log_is_bounded_and_counts_dropped_seconds() -> None:
    log = SessionLog(SessionLogConfig(max_seconds=3), session_id="x", wall_clock=lambda: START)
    for second in range(5):
        log.add(face(float(second), "neutral"))
    assert [row.second for row in log.rows()] == [2, 3, 4]
    assert log.dropped_seconds == 2
    assert json.loads(build_export(log).to_json())["dropped_seconds"] == 2


def test_from_state_readings_and_session_ids() -> None:
    state = MoodState(mood="happy", smoothed=dict(zip(EMOTIONS, probabilities("happy"), strict=True)), confidence=0.7)
    with_face = FrameReading.from_state(5.0, state, faces=1, items=["a", "a", "b"])
    assert with_face.items == ("a", "b") and with_face.valence == pytest.approx(affect(probabilities("happy")).valence)
    without = FrameReading.from_state(5.0, state, faces=0, items="a")
    assert without.probabilities is None and without.valence is None and without.mood == "happy"
    assert SessionLog().session_id != SessionLog().session_id
    with pytest.raises(ValueError, match="max_seconds"):
        SessionLogConfig(max_seconds=0)
    with pytest.raises(ValueError, match="valence"):
        FrameReading(0.0, valence=1.5)
