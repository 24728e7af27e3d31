"""The Streamlit pages, run headless with Streamlit's AppTest (the browser tests in tests/browser/ cover the rest)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data
from streamlit.testing.v1 import AppTest
from test_model_card import write_card

from fer_core.labels import EMOTIONS
from fer_core.sessions.model_card import format_percent

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
HOME = str(REPO / "app_pages" / "0_Home.py")
UPLOAD = str(REPO / "app_pages" / "1_Upload_photo.py")
LIVE = str(REPO / "app_pages" / "2_Live_webcam.py")
MODEL = str(REPO / "app_pages" / "3_Model.py")
TIMEOUT = 120


def run(script: str) -> AppTest:
    return AppTest.from_file(script, default_timeout=TIMEOUT).run()


def png_bytes(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    return buffer.getvalue()


def upload(at: AppTest, name: str, payload: bytes, mime: str = "image/png") -> AppTest:
    return at.file_uploader[0].set_value((name, payload, mime)).run()


def texts(elements) -> list[str]:
    return [element.value for element in elements]


@pytest.fixture
def card_path(tmp_path, monkeypatch) -> Path:
    path = write_card(tmp_path)
    monkeypatch.setenv("FER_MODEL_CARD", str(path))
    return path


@pytest.fixture
def no_card(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FER_MODEL_CARD", str(tmp_path / "not_there.json"))


# --- home -----------------------------------------------------------------------------------------------------------
def test_home_shows_the_measured_accuracy_from_the_card(card_path):
    at = run(APP)
    assert not at.exception and not at.error
    card = json.loads(card_path.read_text())
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["PrivateTest accuracy"] == format_percent(card["headline"]["accuracy"])
    assert metrics["PrivateTest macro-F1"] == format_percent(card["headline"]["macro_f1"])
    assert any("never stored or sent anywhere" in text for text in texts(at.info)), "privacy statement"


def test_home_says_not_evaluated_yet_without_a_card(no_card):
    at = run(APP)
    assert not at.exception and not at.error
    assert not at.metric
    assert any("not evaluated yet" in text for text in texts(at.info))


# --- upload ---------------------------------------------------------------------------------------------------------
def test_upload_a_real_face_shows_boxes_bars_and_content(recognizer):
    at = upload(run(UPLOAD), "astronaut.png", png_bytes(data.astronaut()))
    assert not at.exception and not at.error
    expected = recognizer.analyze(data.astronaut())
    assert len(expected) == 1
    assert len(at.get("image")) == 1
    assert len(at.get("progress")) == 7, "one bar per emotion for the one face"
    headline = next(text for text in texts(at.markdown) if text.startswith("**Main face:"))
    assert f"**Main face: {expected[0].emotion}**" in headline
    panel = next(text for text in texts(at.markdown) if 'class="fer-panel"' in text)
    assert f'data-mood="{expected[0].emotion}"' in panel


def test_upload_text_disguised_as_png_gives_a_clear_error():
    at = upload(run(UPLOAD), "holiday.png", b"this is not a picture\n" * 10)
    assert not at.exception
    assert len(at.error) == 1
    assert "holiday.png" in at.error[0].value
    assert not at.get("progress")


def test_upload_without_a_face_says_so():
    at = upload(run(UPLOAD), "wall.png", png_bytes(np.full((300, 400, 3), 200, np.uint8)))
    assert not at.exception and not at.error
    assert any("No face found" in text for text in texts(at.info))


def test_upload_page_still_works_after_an_error():
    at = upload(run(UPLOAD), "broken.jpg", b"\xff\xd8\xff\xe0 truncated", "image/jpeg")
    assert len(at.error) == 1
    at = upload(at, "astronaut.png", png_bytes(data.astronaut()))
    assert not at.error and not at.exception
    assert len(at.get("progress")) == 7


# --- model page -----------------------------------------------------------------------------------------------------
def test_model_page_shows_the_cards_metrics_and_tables(card_path):
    at = run(MODEL)
    assert not at.exception and not at.error
    card = json.loads(card_path.read_text())
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Accuracy"] == format_percent(card["headline"]["accuracy"])
    assert metrics["Macro-F1"] == format_percent(card["headline"]["macro_f1"])
    assert len(at.dataframe) == 2, "with/without flip TTA, and per class"
    assert list(at.dataframe[1].value["emotion"]) == list(EMOTIONS)
    assert len(at.get("image")) == 1, "only the report figure that exists is shown"
    assert [block.value for block in at.code] == ["\n".join(card["training"]["recipe"])]
    # this card was measured on the float model, but the app runs the shipped model's int8 copy: say so
    assert any("int8 copy, not the float32 Keras" in text for text in texts(at.warning))


def test_model_page_shows_the_shipped_cards_accuracy_by_group_of_faces(monkeypatch):
    """The shipped card's KDEF run grouped by person (README: for which faces the model is less reliable)."""
    card_path = REPO / "models" / "model_card.json"
    monkeypatch.setenv("FER_MODEL_CARD", str(card_path))
    at = run(MODEL)
    assert not at.exception and not at.error
    groups = json.loads(card_path.read_text())["real_photos"]["kdef"]["groups"]
    labels = [expander.label for expander in at.expander]
    for grouping in groups:
        assert f"Accuracy by group of faces: kdef, by {grouping} (least reliable first)" in labels, labels
    tables = [frame.value for frame in at.dataframe if "group" in frame.value.columns]
    people = next(table for table in tables if len(table) == len(groups["person"]))
    assert people["accuracy"].iloc[0] == min(group["accuracy"] for group in groups["person"].values())
    assert list(people["accuracy"]) == sorted(people["accuracy"]), "the least reliable person first"


def with_members(card_path: Path, members) -> Path:
    """The card, recording that its numbers averaged these ensemble members (as training.evaluate writes them)."""
    card = json.loads(card_path.read_text())
    card["inference"]["members"] = [{"file": f"/trained/models/{member}", "sha256": "0" * 64} for member in members]
    card_path.write_text(json.dumps(card))
    return card_path


def test_model_page_of_an_int8_card_shows_both_runtimes(tmp_path, monkeypatch):
    from fer_core.recognition.classifier import DEFAULT_MODEL_PATH, DEFAULT_VIEWS
    from fer_core.recognition.ensemble import read_ensemble

    card_path = with_members(write_card(tmp_path, int8=True, views=DEFAULT_VIEWS), read_ensemble(DEFAULT_MODEL_PATH))
    monkeypatch.setenv("FER_MODEL_CARD", str(card_path))
    at = run(MODEL)
    assert not at.exception and not at.error and not at.warning  # the app runs what the card measured
    runtimes = list(at.dataframe[0].value["runtime"])
    assert runtimes == ["int8 copy"] * 6 + ["float32 Keras"] * 6
    assert any("int8 copy, rotate TTA (8 views)" in text for text in texts(at.markdown))
    assert any("The live page runs the model alone" in text for text in texts(at.markdown))
    assert at.code[0].value.endswith("python -m training.quantize --model models/fer_model.keras")


def test_model_page_says_when_the_live_page_averages_the_members_too(tmp_path, monkeypatch):
    from fer_core.recognition.classifier import DEFAULT_MODEL_PATH, DEFAULT_VIEWS, ClassifierConfig
    from fer_core.recognition.ensemble import read_ensemble
    from fer_core.recognition.recognizer import RecognizerConfig
    from fer_core.sessions import app_support

    card_path = with_members(write_card(tmp_path, int8=True, views=DEFAULT_VIEWS), read_ensemble(DEFAULT_MODEL_PATH))
    monkeypatch.setenv("FER_MODEL_CARD", str(card_path))
    streaming = RecognizerConfig(classifier=ClassifierConfig(stream_members=True))
    monkeypatch.setattr(app_support, "RecognizerConfig", lambda: streaming)
    app_support._load_recognizer.clear()  # the page loads its recognizer with this configuration, not a cached one
    try:
        at = run(MODEL)
    finally:
        app_support._load_recognizer.clear()
    assert not at.exception and not at.error
    markdown = texts(at.markdown)
    assert any("The live page averages them too, one model on one view" in text for text in markdown), markdown
    assert not any("runs the model alone" in text for text in markdown)


def test_model_page_names_the_ensemble_and_warns_when_the_app_runs_another(tmp_path, monkeypatch):
    from fer_core.recognition.classifier import DEFAULT_MODEL_PATH
    from fer_core.recognition.ensemble import read_ensemble

    card_path = with_members(write_card(tmp_path, int8=True, views="multi"), ["members/member_z.keras"])
    monkeypatch.setenv("FER_MODEL_CARD", str(card_path))
    at = run(MODEL)
    assert not at.exception and not at.error
    assert any("**ensemble**" in text and "member_z.keras" in text for text in texts(at.markdown))
    app = ", ".join(Path(member).name for member in read_ensemble(DEFAULT_MODEL_PATH)) or "no further model"
    warning = f"The app averages {app}, not the ensemble these numbers were measured with (member_z.keras)"
    assert [text for text in texts(at.warning) if warning in text], texts(at.warning)


def test_model_page_without_a_card(no_card):
    at = run(MODEL)
    assert not at.exception and not at.error
    assert any("Not evaluated yet" in text for text in texts(at.info))


# --- live page (the WebRTC part itself runs in the browser tests) --------------------------------------------------
@pytest.fixture
def webrtc_calls(monkeypatch) -> list[dict]:
    """streamlit-webrtc needs a real server session; under AppTest record what the page passes to it instead."""
    import streamlit_webrtc

    from fer_core.sessions import analytics_view

    calls: list[dict] = []
    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", lambda **kwargs: calls.append(kwargs))
    # past the consent gate (tested in test_app_analytics.py: no player before the click)
    monkeypatch.setattr(analytics_view, "consent_given", lambda: True)
    return calls


def test_live_page_renders_its_settings_and_idle_panels(webrtc_calls):
    at = run(LIVE)
    assert not at.exception and not at.error
    from streamlit_webrtc import WebRtcMode

    (call,) = webrtc_calls
    assert call["mode"] == WebRtcMode.SENDRECV
    assert call["frontend_rtc_configuration"] == {"iceServers": []}, "no STUN/TURN unless configured"
    assert call["server_rtc_configuration"] == {"iceServers": []}
    assert call["async_processing"] is True, "only the newest frame is processed"
    # 640x480 at 15 fps (fer_core.sessions.rtc.StreamConfig); frames reach this session's processor through its
    # admission gate (fer_core.sessions.admission.StreamGate), which ends the stream's moods and frees its slot
    assert call["media_stream_constraints"] == {
        "video": {"width": {"ideal": 640}, "height": {"ideal": 480}, "frameRate": {"ideal": 15, "max": 15}},
        "audio": False,
    }
    assert call["video_frame_callback"].processor is at.session_state["live_processor"]
    assert call["on_video_ended"] == call["video_frame_callback"].on_ended
    assert [slider.label for slider in at.sidebar.slider] == [
        "Smoothing time constant (s)", "Dwell before the mood changes (s)",
    ]  # fmt: skip
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Frames processed"] == "0"
    assert "live_processor" in at.session_state


def test_live_page_settings_reach_this_sessions_processor(webrtc_calls):
    at = run(LIVE)
    at.sidebar.slider[1].set_value(4.0).run()
    at.sidebar.select_slider[0].set_value("Strict").run()
    processor = at.session_state["live_processor"]
    assert processor.tracker.config.dwell_s == 4.0
    assert processor.detector_config.min_neighbors == 8


def test_live_page_forgets_the_sessions_moods_when_the_stream_ends(webrtc_calls):
    """README (Privacy): the live page's mood, timeline and faces are cleared as soon as the webcam stream stops;
    streamlit-webrtc calls ``on_video_ended`` then (STOP, or the connection closing with the tab)."""
    from fer_core.measure.sample_frames import one_face_frame
    from fer_core.mood.tracker import MoodConfig, MoodState

    at = run(LIVE)
    (call,) = webrtc_calls
    processor = at.session_state["live_processor"]
    processor.set_mood_config(MoodConfig(time_constant_s=0.0, dwell_s=0.0))
    processor.process_bgr(np.ascontiguousarray(one_face_frame().image[:, :, ::-1]))  # one webcam frame, BGR
    stats = processor.stats()
    assert stats.mood.mood is not None and len(stats.faces) == 1 and len(processor.timeline) == 1
    call["on_video_ended"]()
    stats = processor.stats()
    assert stats.mood == MoodState() and stats.faces == () and len(processor.timeline) == 0


def test_live_page_uses_configured_ice_servers(webrtc_calls, monkeypatch):
    turn = [{"urls": ["turns:turn.example.org:443"], "username": "u", "credential": "p"}]
    monkeypatch.setenv("FER_ICE_SERVERS", json.dumps(turn))
    at = run(LIVE)
    assert not at.exception and not at.error
    assert webrtc_calls[0]["frontend_rtc_configuration"] == {"iceServers": turn}
    assert webrtc_calls[0]["server_rtc_configuration"] == {"iceServers": turn}


def test_relay_policy_sends_the_browsers_media_through_turn(webrtc_calls, monkeypatch):
    turn = [{"urls": ["turn:127.0.0.1:3478"], "username": "u", "credential": "p"}]
    monkeypatch.setenv("FER_ICE_SERVERS", json.dumps(turn))
    monkeypatch.setenv("FER_ICE_TRANSPORT_POLICY", "relay")
    at = run(LIVE)
    assert not at.exception and not at.error
    assert webrtc_calls[0]["frontend_rtc_configuration"] == {"iceServers": turn, "iceTransportPolicy": "relay"}
    assert webrtc_calls[0]["server_rtc_configuration"] == {"iceServers": turn}, "aiortc has no policy setting"
    assert any("all media relayed through TURN" in caption.value for caption in at.caption)


def test_relay_policy_without_a_turn_server_is_a_clear_error(webrtc_calls, monkeypatch):
    monkeypatch.setenv("FER_ICE_SERVERS", json.dumps([{"urls": ["stun:127.0.0.1:3478"]}]))
    monkeypatch.setenv("FER_ICE_TRANSPORT_POLICY", "relay")
    at = run(LIVE)
    assert not at.exception and not webrtc_calls
    assert len(at.error) == 1 and "FER_ICE_TRANSPORT_POLICY=relay needs a TURN server" in at.error[0].value


def test_live_page_reads_ice_servers_from_streamlit_secrets(webrtc_calls, monkeypatch):
    monkeypatch.delenv("FER_ICE_SERVERS", raising=False)
    at = AppTest.from_file(LIVE, default_timeout=TIMEOUT)
    at.secrets["ice_servers"] = [{"urls": ["stun:stun.example.org:3478"]}]
    at.run()
    assert not at.exception and not at.error
    assert webrtc_calls[0]["server_rtc_configuration"] == {"iceServers": [{"urls": ["stun:stun.example.org:3478"]}]}


def test_live_page_reports_bad_ice_settings(webrtc_calls, monkeypatch):
    monkeypatch.setenv("FER_ICE_SERVERS", "[{'urls': 'turn:x'}")
    at = run(LIVE)
    assert not at.exception
    assert len(at.error) == 1 and "FER_ICE_SERVERS is not valid JSON" in at.error[0].value


# --- a missing or corrupt model: one clear error on every page, the app keeps running ----------------------------
@pytest.mark.parametrize("script", [APP, UPLOAD, LIVE, MODEL], ids=["home", "upload", "live", "model"])
def test_missing_model_gives_one_clear_error_and_stops(script, monkeypatch, tmp_path, webrtc_calls):
    missing = tmp_path / "gone.keras"
    monkeypatch.setenv("FER_MODEL_PATH", str(missing))
    at = run(script)
    assert not at.exception
    assert len(at.error) == 1
    assert f"Emotion model not found at {missing}" in at.error[0].value
    assert not at.file_uploader and not at.metric and not webrtc_calls, "the page stops after the error"


def test_corrupt_model_gives_one_clear_error(monkeypatch, tmp_path):
    corrupt = tmp_path / "fer_model.keras"
    corrupt.write_bytes(b"PK\x03\x04 not really a keras archive")
    monkeypatch.setenv("FER_MODEL_PATH", str(corrupt))
    at = run(UPLOAD)
    assert not at.exception
    assert len(at.error) == 1 and "could not be loaded" in at.error[0].value
    monkeypatch.delenv("FER_MODEL_PATH")
    at = run(UPLOAD)
    assert not at.error and len(at.file_uploader) == 1, "once the model is back, the page works (no cached failure)"


def test_streamlit_upload_limit_matches_the_image_readers_limit():
    import tomllib

    from fer_core.recognition.image_io import ImageLimits

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 1024 * 1024 == ImageLimits().max_bytes
    assert config["browser"]["gatherUsageStats"] is False
