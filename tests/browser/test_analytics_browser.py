"""The live page's consent gate, mood analytics and session export in a real browser (fake camera, real face)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from fer_core.labels import EMOTIONS

from .app_driver import WEBRTC_IFRAME, click_stop, open_page, screenshot_full, start_stream
from .faces import astronaut_frame
from .paths import ARTIFACTS, SCREENSHOTS
from .y4m import write_y4m

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONSENT = "I agree: start the camera analysis"


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
