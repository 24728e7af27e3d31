"""Fair when full: with room for one live stream (``FER_MAX_STREAMS=1``) a second viewer is told the service is
full, instead of getting a silent 0 fps, and can stream as soon as the first one stops.

Two users, each in their own Chromium with a fake camera, on a server of their own (the capacity is read from the
environment when the server starts).
"""

from __future__ import annotations

import contextlib
import os
import time

import pytest

from fer_core.measure.live_page import (
    CONSENT_BUTTON,
    click_stop,
    frames_processed,
    metric_text,
    open_page,
    start_stream,
    wait_for_frames,
    webrtc_button,
)
from fer_core.measure.loadtest import face_clip
from fer_core.sessions.admission import FULL_MESSAGE

from .paths import ARTIFACTS
from .servers import checked_app_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FREED_WITHIN_S = 8.0
"""After the first viewer's STOP, the second one's START must be back sooner than a stale slot would be reclaimed
(10 s without frames), so this checks that STOP itself gives the slot back."""


@pytest.fixture(scope="module")
def one_slot_server(chromium):
    env = dict(os.environ, FER_MAX_STREAMS="1")
    with checked_app_server(ARTIFACTS / "streamlit-one-slot.log", env=env) as server:
        yield server


def _agree(page) -> None:
    """Press the live page's consent button if it asks (the player, or the notice, comes after it)."""
    from playwright.sync_api import Error as PlaywrightError

    consent = page.get_by_role("button", name=CONSENT_BUTTON)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if webrtc_button(page, "Start").count() or page.get_by_text(FULL_MESSAGE).count():
            return
        if consent.count():
            with contextlib.suppress(PlaywrightError):  # re-rendered while clicked: try again
                consent.first.click(timeout=3_000)
        page.wait_for_timeout(250)


def _wait_until(page, check, timeout_s: float) -> float | None:
    """Poll ``check()`` until true; the seconds it took, or ``None`` on timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if check():
            return time.monotonic() - started
        page.wait_for_timeout(200)
    return None


def test_second_viewer_is_told_full_and_streams_after_the_first_stops(one_slot_server, launch, tmp_path):
    clip = face_clip(tmp_path / "face.y4m", (320, 240), fps=10)
    page_a, page_b = launch(clip), launch(clip)
    for page in (page_a, page_b):
        open_page(page, one_slot_server.url, "Live_webcam", "Live webcam")
        _agree(page)
    full_a, full_b = page_a.get_by_text(FULL_MESSAGE).first, page_b.get_by_text(FULL_MESSAGE).first
    start_b = webrtc_button(page_b, "Start")
    assert _wait_until(page_b, lambda: start_b.count() > 0, 60) is not None, "B never saw the player while free"

    # A takes the only slot; B, idle with the player on its page, is switched to the "full" notice.
    start_stream(page_a, first_frame_timeout_s=40)
    took = _wait_until(page_b, lambda: full_b.count() > 0, 20)
    page_b.screenshot(path=str(ARTIFACTS / "admission_full.png"))
    assert took is not None, "B was not told that the live service is full"
    assert "Try again shortly" in full_b.inner_text()
    assert start_b.count() == 0, "B still has a START button while the only slot is taken"
    assert full_a.count() == 0, "A, who streams, was told the service is full"
    # A keeps streaming at its own rate while B waits; B gets no frames and says so (not a silent 0 fps).
    running = frames_processed(page_a)
    assert wait_for_frames(page_a, running, 15) is not None, "A stopped streaming"
    assert frames_processed(page_b) == 0

    # A stops: its slot is given back at once and B's page brings the player back; B streams.
    click_stop(page_a)
    freed = _wait_until(page_b, lambda: start_b.count() > 0, FREED_WITHIN_S)
    assert freed is not None, f"B's START did not come back within {FREED_WITHIN_S} s of A's STOP"
    assert full_b.count() == 0
    start_stream(page_b, first_frame_timeout_s=40)
    assert frames_processed(page_b) > 0 and metric_text(page_b, "FPS") not in (None, "0")
    # Now A, idle, is the one told to wait.
    assert _wait_until(page_a, lambda: full_a.count() > 0, 20) is not None, "A was not told the service is full"
    page_a.screenshot(path=str(ARTIFACTS / "admission_full_a.png"))
    print(f"\n[admission] B told 'full' {took:.1f} s after A started; B's START back {freed:.1f} s after A's STOP")
    click_stop(page_b)


def test_two_starts_at_once_one_streams_and_the_other_is_told_full(one_slot_server, launch, tmp_path):
    """Both press START before either stream delivers: the first frame to arrive takes the slot, the other stream
    is refused frame by frame (never analysed), and its page swaps the player for the notice."""
    clip = face_clip(tmp_path / "face.y4m", (320, 240), fps=10)
    pages = [launch(clip), launch(clip)]
    for page in pages:
        open_page(page, one_slot_server.url, "Live_webcam", "Live webcam")
        _agree(page)
        assert _wait_until(page, lambda p=page: webrtc_button(p, "Start").count() > 0, 60) is not None
    notices = [page.get_by_text(FULL_MESSAGE).first for page in pages]

    def settled() -> bool:
        return any(frames_processed(page) > 0 for page in pages) and any(notice.count() for notice in notices)

    for attempt in range(2):
        for page in pages:
            webrtc_button(page, "Start").click()  # back to back, no waiting
        if _wait_until(pages[0], settled, 45) is not None:
            break
        if any(frames_processed(page) > 0 for page in pages) or any(notice.count() for notice in notices):
            break  # one side settled: the assertion below says which half is missing
        # Neither stream delivered (the known streamlit-webrtc start-up flake, twice at once): stop both, try again.
        print(f"\n[admission race] attempt {attempt + 1}: neither stream delivered in 45 s; starting both again")
        for page in pages:
            if webrtc_button(page, "Stop").count():
                click_stop(page)
    assert _wait_until(pages[0], settled, 15) is not None, (
        f"frames {[frames_processed(p) for p in pages]}, notices {[n.count() for n in notices]}"
    )
    winner = 0 if frames_processed(pages[0]) > 0 else 1
    loser = 1 - winner
    assert notices[loser].count() and not notices[winner].count()
    assert frames_processed(pages[loser]) == 0, "the refused stream was analysed"
    assert webrtc_button(pages[loser], "Start").count() == 0 and webrtc_button(pages[loser], "Stop").count() == 0
    running = frames_processed(pages[winner])
    assert wait_for_frames(pages[winner], running, 15) is not None, "the stream that got the slot stopped"
    pages[loser].screenshot(path=str(ARTIFACTS / "admission_race_loser.png"))
    click_stop(pages[winner])
