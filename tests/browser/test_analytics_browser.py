"""The live page's consent gate, mood analytics and session export in a real browser (fake camera, real face)."""

from __future__ import annotations

import csv
import io
import json
import os
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_events import Receiver

from fer_core.labels import EMOTIONS

from .app_driver import WEBRTC_IFRAME, click_stop, open_page, panel_mood, screenshot_full, start_stream, wait_for_mood
from .faces import astronaut_frame, confident_faces, two_face_clip, two_moods
from .paths import ARTIFACTS, SCREENSHOTS
from .servers import checked_app_server
from .y4m import write_y4m

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONSENT = "I agree: start the camera analysis"
MIN_CONFIDENCE = 0.55
"""Faces used must be read clearly above the mood's confidence floor, so video compression cannot flip them."""
EVENT_KEYS = {"schema_version", "type", "time", "session_id", "from", "to", "confidence", "valence", "arousal",
              "item_id", "title", "mood"}  # fmt: skip


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A real HTTP event receiver on loopback (the event feed's unit tests' one)."""
    running = Receiver()
    yield running
    running.close()


@pytest.fixture(scope="module")
def events_server(chromium, receiver):
    """The app with the event feed on (``FER_EVENTS_URL``), sending to the receiver."""
    environment = dict(os.environ, FER_EVENTS_URL=receiver.url)
    environment.pop("FER_EVENTS_FILE", None)
    with checked_app_server(ARTIFACTS / "streamlit-events.log", env=environment) as running:
        yield running


def _download(page, label: str) -> bytes:
    with page.expect_download(timeout=30_000) as info:
        page.get_by_role("button", name=label).click()
    path = info.value.path()
    return Path(path).read_bytes()


def test_consent_then_stream_then_the_export_downloads_and_parses(server, launch, tmp_path):
    clip = write_y4m(tmp_path / "face.y4m", [astronaut_frame()] * 30, fps=10)
    page = launch(clip)
    open_page(page, server.url, "Live_webcam", "Live webcam")

    consent = page.get_by_role("button", name=CONSENT)
    consent.wait_for(timeout=90_000)
    page.get_by_text("AI Act, art. 5(1)(f)", exact=False).first.wait_for()
    page.wait_for_timeout(1500)
    assert page.locator(WEBRTC_IFRAME).count() == 0, "no camera player before consent"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    screenshot_full(page, SCREENSHOTS / "live_consent.png")

    start_stream(page, first_frame_timeout_s=40, min_frames=20)  # clicks the consent button, then START
    assert page.get_by_role("button", name=CONSENT).count() == 0
    page.wait_for_timeout(4_000)  # a few seconds of readings
    page.get_by_test_id("stVegaLiteChart").nth(1).wait_for(timeout=20_000)  # circumplex and timeline
    screenshot_full(page, SCREENSHOTS / "live_analytics.png")
    click_stop(page)

    page.get_by_role("button", name="Export session").click()
    page.get_by_role("button", name="Download CSV (per second)").wait_for(timeout=30_000)
    seconds = list(csv.DictReader(io.StringIO(_download(page, "Download CSV (per second)").decode("utf-8"))))
    document = json.loads(_download(page, "Download JSON (seconds + items)"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "exported_session.json").write_text(json.dumps(document, indent=1))

    assert len(seconds) >= 3, "one row per second of the stream"
    with_face = [row for row in seconds if row["valence"]]
    assert with_face, "the face was read"
    assert all(-1 <= float(row["valence"]) <= 1 and -1 <= float(row["arousal"]) <= 1 for row in with_face)
    assert all(abs(sum(float(row[name]) for name in EMOTIONS) - 1) < 1e-3 for row in with_face)
    assert document["schema_version"] == 1 and len(document["seconds"]) == len(seconds)
    assert document["items"], "the content shown was recorded"
    assert any(row["items"] for row in seconds), "the item on screen is in the per-second rows"

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Reactions").click()
    page.get_by_role("heading", name="Reactions per content item").wait_for(timeout=60_000)
    page.get_by_test_id("stDataFrame").first.wait_for(timeout=30_000)
    assert page.get_by_test_id("stException").count() == 0
    page.wait_for_timeout(1000)
    screenshot_full(page, SCREENSHOTS / "reactions.png")


def test_video_file_page_shows_the_timeline_and_its_csv_downloads(server, launch, tmp_path):
    from tests.test_video_upload import encode

    video = tmp_path / "astronaut.mp4"
    video.write_bytes(encode([astronaut_frame((640, 480))] * 40, fps=10))
    page = launch()
    open_page(page, server.url, "Video_file", "Analyse a video file")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(video))
    page.get_by_role("heading", name="Mood over time").wait_for(timeout=90_000)
    page.get_by_test_id("stVegaLiteChart").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Download CSV").wait_for(timeout=30_000)
    rows = list(csv.DictReader(io.StringIO(_download(page, "Download CSV").decode("utf-8"))))
    assert len(rows) == 20, "5 analysed frames per second of a 4 s clip"
    assert all(row["emotion"] and -1 <= float(row["valence"]) <= 1 for row in rows)
    assert page.get_by_test_id("stImage").count() >= 1, "annotated frames"
    assert page.get_by_test_id("stException").count() == 0
    page.wait_for_timeout(1000)
    screenshot_full(page, SCREENSHOTS / "video.png")


def _mood_changes(receiver: Receiver) -> list[str | None]:
    return [event["to"] for event in list(receiver.bodies) if event["type"] == "mood_changed"]


def _top_mood(item: dict) -> str:
    return max(item["mood_mix"].items(), key=lambda entry: entry[1])[0]


def test_two_faces_in_turn_send_mood_events_and_give_two_items_different_reactions(
    events_server, receiver, launch, tmp_path
):
    from fer_core.recognition.recognizer import EmotionRecognizer

    first, second = two_moods(confident_faces(EmotionRecognizer(), MIN_CONFIDENCE))
    page = launch(two_face_clip(tmp_path / "two_faces.y4m", first, second))
    open_page(page, events_server.url, "Live_webcam", "Live webcam")
    start_stream(page)  # consent, then START
    settled = wait_for_mood(page, {first.emotion, second.emotion}, timeout_s=60)
    assert settled, f"mood {panel_mood(page)!r}, expected {first.emotion} or {second.emotion}"
    other = second.emotion if settled == first.emotion else first.emotion
    assert wait_for_mood(page, other, timeout_s=45), f"mood {panel_mood(page)!r}, expected {other} after {settled}"
    page.wait_for_timeout(3_000)  # a few seconds of the second item's reactions
    click_stop(page)

    # The receiver got each mood change after smoothing and dwell, in order, and the items shown; no image data.
    page.wait_for_timeout(1_000)
    changes = _mood_changes(receiver)
    assert settled in changes and other in changes[changes.index(settled) :], f"mood changes received: {changes}"
    events = list(receiver.bodies)
    assert set(receiver.paths) == {urllib.parse.urlsplit(receiver.url).path}, "POSTed to the configured URL"
    assert set(receiver.headers) == {"application/json"}
    assert all(set(event) <= EVENT_KEYS for event in events), "only the documented fields"
    assert all(event["schema_version"] == 1 for event in events)
    shown = {event["item_id"] for event in events if event["type"] == "item_shown"}
    assert len(shown) >= 2, f"items shown: {shown}"

    # The Reactions view compares the items; its export has one item read mostly as each mood.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Reactions").click()
    page.get_by_role("heading", name="Compare two items").wait_for(timeout=60_000)
    page.get_by_test_id("stAlert").first.wait_for(timeout=30_000)  # the comparison's result (or why there is none)
    assert page.get_by_test_id("stException").count() == 0
    page.get_by_role("button", name="Export session").click()
    items = json.loads(_download(page, "Download JSON (seconds + items)"))["items"]
    assert {item["item_id"] for item in items} >= shown, "every item the feed announced has its reactions"
    by_mood = {_top_mood(item): item for item in items if item["samples"] and item["mean_valence"] is not None}
    assert {settled, other} <= set(by_mood), f"items read mostly as each mood: {[_top_mood(i) for i in items]}"
    assert by_mood[settled]["item_id"] != by_mood[other]["item_id"]
    assert by_mood[settled]["mean_valence"] != by_mood[other]["mean_valence"]
    (ARTIFACTS / "two_faces_events.json").write_text(json.dumps({"events": events, "items": items}, indent=1))


def test_calibrating_on_a_smiling_resting_face_makes_it_read_neutral(server, launch, tmp_path):
    """The calibration button in a real browser: a face that rests smiling (the astronaut) is the person's baseline
    after "Calibrate", so it then reads neutral (the model's average neutral face) instead of happy."""
    clip = write_y4m(tmp_path / "face.y4m", [astronaut_frame()] * 30, fps=10)
    page = launch(clip)
    open_page(page, server.url, "Live_webcam", "Live webcam")
    start_stream(page)
    assert wait_for_mood(page, "happy", timeout_s=40), f"mood {panel_mood(page)!r} before calibration"
    page.get_by_role("button", name="Calibrate: look neutral for 3 seconds").click()
    page.get_by_text("Calibrated to your resting face.").wait_for(timeout=30_000)
    assert wait_for_mood(page, "neutral", timeout_s=30), f"mood {panel_mood(page)!r} after calibration"
    assert page.get_by_test_id("stException").count() == 0
    click_stop(page)


def test_pretend_mood_drives_the_content_and_the_reactions_without_a_camera(server, launch):
    page = launch()
    open_page(page, server.url, "Live_webcam", "Live webcam")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Pretend mood (no camera)").click()
    for emotion in ("sad", "happy"):
        sidebar.get_by_test_id("stSelectbox").filter(has_text="Pretend emotion").click()
        page.get_by_role("option", name=emotion, exact=True).click()
        assert wait_for_mood(page, emotion, timeout_s=30), f"mood {panel_mood(page)!r}, pretending {emotion}"
        page.wait_for_timeout(2_000)  # a couple of seconds of reactions for this item
    items = page.locator("div.fer-card").evaluate_all("cards => cards.map(c => c.dataset.item)")
    assert any(item.startswith("happy-") for item in items), f"content on screen: {items}"
    assert page.locator(WEBRTC_IFRAME).count() == 0, "no camera was started"

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Reactions").click()
    page.get_by_role("heading", name="Compare two items").wait_for(timeout=60_000)
    page.get_by_role("button", name="Export session").click()
    items = json.loads(_download(page, "Download JSON (seconds + items)"))["items"]
    moods = {_top_mood(item) for item in items}
    assert {"sad", "happy"} <= moods, f"items read mostly as each pretended mood: {moods}"
    assert page.get_by_test_id("stException").count() == 0
