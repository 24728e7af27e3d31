"""The live page's admission and lean mode, run headless with Streamlit's AppTest (fer_core.sessions.live_gate).

streamlit-webrtc needs a real server session, so ``webrtc_streamer`` is replaced by a recorder (as in
test_app_pages.py); the browser test tests/browser/test_admission_browser.py drives the real thing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fer_core.sessions import live_gate
from fer_core.sessions.admission import ENV_VAR, FULL_MESSAGE, SEND_BACK_LABEL

LIVE = str(Path(__file__).resolve().parent.parent / "app_pages" / "2_Live_webcam.py")


@pytest.fixture
def webrtc_calls(monkeypatch) -> list[dict]:
    import streamlit_webrtc

    from fer_core.sessions import analytics_view

    calls: list[dict] = []
    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(analytics_view, "consent_given", lambda: True)
    live_gate.shared_admission.clear()
    yield calls
    live_gate.shared_admission.clear()


def run() -> AppTest:
    return AppTest.from_file(LIVE, default_timeout=120).run()


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def test_a_full_server_shows_the_notice_instead_of_the_player(webrtc_calls, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "1")
    live_gate.shared_admission(1).acquire("another viewer's stream")
    at = run()
    assert not at.exception and not at.error
    assert webrtc_calls == [], "the player was shown although the only slot is taken"
    (notice,) = [text for text in texts(at.warning) if FULL_MESSAGE in text]
    assert "its one live stream is in use" in notice and "Try again shortly" in notice


def test_the_player_is_shown_while_a_slot_is_free(webrtc_calls, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "2")
    live_gate.shared_admission(2).acquire("another viewer's stream")
    at = run()
    assert not at.exception and not at.error
    assert len(webrtc_calls) == 1
    assert not [text for text in texts(at.warning) if FULL_MESSAGE in text]
    gate = webrtc_calls[0]["video_frame_callback"]
    assert gate.admission.capacity == 2 and gate.admission.state().in_use == 1


def test_lean_mode_receives_video_only(webrtc_calls):
    from streamlit_webrtc import WebRtcMode

    at = run()
    assert webrtc_calls[-1]["mode"] == WebRtcMode.SENDRECV and webrtc_calls[-1]["video_frame_callback"].send_back
    (switch,) = [toggle for toggle in at.sidebar.toggle if toggle.label == SEND_BACK_LABEL]
    switch.set_value(False).run()
    assert not at.exception and not at.error
    call = webrtc_calls[-1]
    assert call["mode"] == WebRtcMode.SENDONLY, "lean mode: the browser sends, the server sends nothing back"
    assert call["video_frame_callback"].send_back is False
    assert any("Lean mode" in text for text in texts(at.caption))


def test_a_bad_capacity_setting_is_reported(webrtc_calls, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "lots")
    at = run()
    assert webrtc_calls == []
    assert any(ENV_VAR in text for text in texts(at.error))


def test_a_bad_stream_setting_is_reported(webrtc_calls, monkeypatch):
    monkeypatch.setenv("FER_STREAM_FPS", "fast")
    at = run()
    assert webrtc_calls == []
    assert any("FER_STREAM_FPS" in text for text in texts(at.error))
