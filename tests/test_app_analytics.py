"""The live page's consent gate, pretend mood and export, and the Reactions page, run headless with AppTest."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fer_core.sessions.analytics_view import ANALYTICS_KEY, CONSENT_BUTTON

REPO = Path(__file__).resolve().parents[1]
LIVE = str(REPO / "app_pages" / "2_Live_webcam.py")
REACTIONS = str(REPO / "app_pages" / "4_Reactions.py")
TIMEOUT = 120


@pytest.fixture
def webrtc_calls(monkeypatch) -> list[dict]:
    """streamlit-webrtc needs a real server session; under AppTest record what the page passes to it instead."""
    import streamlit_webrtc

    from fer_core.sessions import live_gate

    calls: list[dict] = []
    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(live_gate, "prepare_live_media", lambda *args, **kwargs: None)  # needs a real runtime
    monkeypatch.delenv("FER_EVENTS_URL", raising=False)
    monkeypatch.delenv("FER_EVENTS_FILE", raising=False)
    return calls


def run(script: str) -> AppTest:
    return AppTest.from_file(script, default_timeout=TIMEOUT).run()


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def pretend(at: AppTest, emotion: str, reruns: int) -> AppTest:
    """Switch the pretend mood on with ``emotion`` and rerun the page ``reruns`` times (one step per rerun)."""
    at.sidebar.selectbox(key="pretend_emotion").set_value(emotion)
    at.sidebar.toggle(key="pretend_mood_on").set_value(True).run()
    for _ in range(reruns):
        time.sleep(0.2)
        at.run()
    return at


def test_the_camera_starts_only_after_consent_and_the_page_says_why(webrtc_calls):
    at = run(LIVE)
    assert not at.exception and not at.error
    assert webrtc_calls == [], "no camera player before the person agrees"
    notice = " ".join(texts(at.info))
    assert "Nothing is stored" in notice
    assert "art. 5(1)(f)" in notice and "art. 50(3)" in notice, "the AI Act notice"
    assert "workplaces" in notice and "education" in notice
    at.button(key="live_consent_button").click().run()
    assert not at.exception and not at.error
    assert len(webrtc_calls) == 1, "the player appears after the one click"
    assert at.session_state["live_consent"] is True
    at.run()
    assert len(webrtc_calls) == 2, "consent is remembered for the session"
    assert not any(button.label == CONSENT_BUTTON for button in at.button)


@pytest.fixture
def media_files(monkeypatch) -> dict[str, bytes]:
    """The bytes of every media file (download) the pages hand to Streamlit, by file id."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    files: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def record(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        files[file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    return files


def downloads(at: AppTest, files: dict[str, bytes]) -> dict[str, bytes]:
    """Download button label -> the bytes it serves."""
    return {
        button.label: files[button.proto.url.rsplit("/", 1)[-1].split(".", 1)[0]]
        for button in at.get("download_button")
    }


def test_pretend_mood_drives_mood_content_reactions_and_a_parseable_export(webrtc_calls, media_files):
    at = pretend(run(LIVE), "happy", reruns=4)
    assert not at.exception and not at.error
    assert webrtc_calls == [], "no camera needed (and none without consent)"
    assert any(text.startswith("Mood: **happy**") for text in texts(at.markdown)), "the pretend mood is the mood"
    panel = next(text for text in texts(at.markdown) if 'class="fer-panel"' in text)
    assert 'data-mood="happy"' in panel, "the content follows it"
    rows = at.session_state[ANALYTICS_KEY].reaction_rows()
    assert rows and all(row["seconds_on_screen"] > 0 and row["attention"] == 1.0 for row in rows)
    assert any(row["mean_valence"] > 0.5 for row in rows), "happy reads as pleasant"

    at.button(key="export_prepare").click().run()
    assert not at.exception and not at.error
    files = downloads(at, media_files)
    rows = at.session_state[ANALYTICS_KEY].reaction_rows()  # that run fed one more step
    seconds = list(csv.DictReader(io.StringIO(files["Download CSV (per second)"].decode("utf-8"))))
    assert len(seconds) >= 4 and seconds[-1]["mood"] == "happy"
    assert all(-1 <= float(row["valence"]) <= 1 and row["faces"] == "1" for row in seconds)
    items = list(csv.DictReader(io.StringIO(files["Download CSV (per item)"].decode("utf-8"))))
    assert [row["item_id"] for row in items] == [row["item_id"] for row in rows]
    document = json.loads(files["Download JSON (seconds + items)"])
    assert document["schema_version"] == 1 and len(document["seconds"]) == len(seconds)
    assert document["session_id"] == at.session_state[ANALYTICS_KEY].session_id
    assert [item["item_id"] for item in document["items"]] == [row["item_id"] for row in rows]


def test_export_before_anything_was_recorded_says_so(webrtc_calls):
    at = run(LIVE)
    at.button(key="export_prepare").click().run()
    assert not at.exception and not at.error
    assert not at.get("download_button")
    assert any("Nothing recorded yet" in text for text in texts(at.info))


# --- the Reactions page ---------------------------------------------------------------------------------------------
def recorded_session():
    """A session with two items, 'calm' watched sad and 'fun' watched happy, 6 s each (synthetic readings)."""
    from fer_core.labels import EMOTIONS
    from fer_core.mood.affect import affect
    from fer_core.mood.readings import FrameReading
    from fer_core.sessions.live_analytics import LiveAnalytics, pretend_probabilities

    analytics = LiveAnalytics(titles={"calm": "Calm piano", "fun": "Fun facts"})
    t = 0.0
    for item, emotion in (("calm", "sad"), ("fun", "happy")):
        for frame in range(60):
            t += 0.1
            probabilities = pretend_probabilities(emotion, 0.6 + 0.3 * (frame % 7) / 7)
            point = affect(probabilities)
            reading = FrameReading(t, tuple(probabilities), point.valence, point.arousal, emotion,
                                   float(probabilities[EMOTIONS.index(emotion)]), 1, (item,))  # fmt: skip
            analytics.log.add(reading)
            analytics.reactions.add(reading)
    return analytics


def test_reactions_page_shows_the_table_chart_and_comparison(webrtc_calls):
    at = AppTest.from_file(REACTIONS, default_timeout=TIMEOUT)
    at.session_state[ANALYTICS_KEY] = recorded_session()
    at.run()
    assert not at.exception and not at.error
    (table,) = at.dataframe
    frame = table.value
    assert list(frame["item"]) == ["Calm piano", "Fun facts"]
    assert frame["mean valence"].iloc[0] < 0 < frame["mean valence"].iloc[1]
    assert list(frame["seconds on screen"].round(1)) == [6.0, 5.9]
    assert all(frame["attention share"] == 1.0)
    assert "sad 100%" in frame["mood mix"].iloc[0]
    (chart,) = at.get("vega_lite_chart")
    assert "mean_valence" in chart.proto.spec, "a chart of the items' mean valence"
    message = " ".join(texts(at.success))
    assert "'fun' minus 'calm'" in message and "95% bootstrap interval" in message and "Welch t" in message
    assert "n = 6 and 6" in message, "the sample sizes"
    metrics = {metric.label: metric.value for metric in at.metric}
    assert float(metrics["Valence difference (B - A)"]) > 1.0


def test_clearing_the_session_forgets_its_seconds_and_reactions(webrtc_calls):
    at = AppTest.from_file(REACTIONS, default_timeout=TIMEOUT)
    analytics = recorded_session()
    at.session_state[ANALYTICS_KEY] = analytics
    at.run()
    assert at.dataframe, "the recorded reactions are shown first"
    at.button(key="clear_session_data").click().run()
    assert not at.exception and not at.error
    assert any("Cleared" in text for text in texts(at.success))
    assert any("No reactions yet" in text for text in texts(at.info)) and not at.dataframe
    assert not analytics.reaction_rows() and not analytics.export().seconds


def test_reactions_page_without_reactions_points_to_the_live_page(webrtc_calls):
    at = run(REACTIONS)
    assert not at.exception and not at.error
    assert any("No reactions yet" in text for text in texts(at.info))
    assert not at.dataframe


# --- the upload page ------------------------------------------------------------------------------------------------
def test_upload_shows_valence_and_arousal_for_each_face():
    from skimage import data
    from test_app_pages import png_bytes, upload

    at = upload(run(str(REPO / "app_pages" / "1_Upload_photo.py")), "astronaut.png", png_bytes(data.astronaut()))
    assert not at.exception and not at.error
    lines = [text for text in texts(at.caption) if text.startswith("Valence ")]
    assert len(lines) == 1, "one line for the one face"
    assert " · arousal " in lines[0]


def test_the_browser_driver_clicks_the_pages_consent_button():
    from fer_core.measure import live_page

    assert live_page.CONSENT_BUTTON == CONSENT_BUTTON


# --- the video file page --------------------------------------------------------------------------------------------
def test_video_page_analyses_an_upload_and_offers_its_csv(media_files):
    from test_video_upload import encode

    from tests.browser.faces import astronaut_frame

    at = run(str(REPO / "app_pages" / "5_Video_file.py"))
    clip = encode([astronaut_frame((320, 240))] * 30)
    at = at.file_uploader[0].set_value(("astronaut.mp4", clip, "video/mp4")).run()
    assert not at.exception and not at.error
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics == {"Duration": "3.0 s", "Frames analysed": "15", "With a face": "15"}
    assert len(at.get("vega_lite_chart")) == 1 and len(at.dataframe) == 1
    assert len(at.get("image")) >= 1, "annotated frames"
    rows = list(csv.DictReader(io.StringIO(downloads(at, media_files)["Download CSV"].decode("utf-8"))))
    assert len(rows) == 15 and all(row["valence"] and row["arousal"] for row in rows)


def test_video_page_says_what_is_wrong_with_a_bad_file():
    at = run(str(REPO / "app_pages" / "5_Video_file.py"))
    at = at.file_uploader[0].set_value(("holiday.mp4", b"not a video, honest" * 50, "video/mp4")).run()
    assert not at.exception
    assert len(at.error) == 1 and "holiday.mp4 is not a video this app can read" in at.error[0].value
    assert not at.metric


def test_the_event_feed_is_opt_in_and_gets_the_pretend_moods_events(webrtc_calls, monkeypatch, tmp_path):
    path = tmp_path / "events.jsonl"
    at = pretend(run(LIVE), "sad", reruns=3)
    assert at.session_state[ANALYTICS_KEY].watcher is None, "off without FER_EVENTS_URL / FER_EVENTS_FILE"

    monkeypatch.setenv("FER_EVENTS_FILE", str(path))
    at = pretend(run(LIVE), "sad", reruns=3)
    assert not at.exception and not at.error
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "mood_changed" not in (path.read_text() if path.exists() else ""):
        time.sleep(0.1)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert {event["session_id"] for event in events} == {at.session_state[ANALYTICS_KEY].session_id}
    assert ("mood_changed", "sad") in [(event["type"], event.get("to")) for event in events]
    assert any(event["type"] == "item_shown" for event in events)


def test_a_refused_event_url_is_a_warning_not_a_crash(webrtc_calls, monkeypatch):
    monkeypatch.setenv("FER_EVENTS_URL", "http://example.com/hook")
    at = run(LIVE)
    assert not at.exception and not at.error
    assert any("The event feed is off" in text and "example.com" in text for text in texts(at.warning))
