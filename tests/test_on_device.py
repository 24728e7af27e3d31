"""On-device live mode, server side: the build manifest binds the shipped model and cascades, the browser's result
batches are checked, and they feed the same mood path as server-side frames (browser tests:
tests/browser/test_on_device_browser.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fer_core.labels import EMOTIONS
from fer_core.sessions.on_device import build as build_module
from fer_core.sessions.on_device.manifest import (
    MANIFEST_NAME,
    cascade_path,
    check_build,
    check_manifest,
    read_manifest,
    shipped_model,
)
from fer_core.sessions.on_device.params import cascade_names, pipeline_params, stream_views
from fer_core.sessions.on_device.results import parse_batch, server_times
from fer_core.sessions.on_device.tflite_shapes import FlatbufferError, dynamic_batch_offsets, fix_batch


def fake_vendor(tmp_path: Path, model: Path | None = None) -> tuple[Path, Path]:
    """A vendor folder as the build leaves it (no npm runtimes: the manifest's file list holds only what is here)."""
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    model = model or shipped_model()
    shutil.copyfile(model, vendor / model.name)
    params = pipeline_params()
    for name in cascade_names(params):
        shutil.copyfile(cascade_path(name), vendor / name)
    manifest = build_module.make_manifest(vendor, model, params, [])
    (vendor / MANIFEST_NAME).write_text(json.dumps(manifest))
    return vendor, model


def test_the_shipped_model_has_one_dynamic_batch_dimension_per_tensor_signature():
    data = shipped_model().read_bytes()
    offsets = dynamic_batch_offsets(data)
    assert offsets, "the int8 model's signature has a dynamic batch (LiteRT.js needs it fixed)"
    patched = fix_batch(data, offsets)
    assert len(patched) == len(data)
    assert dynamic_batch_offsets(patched) == []
    assert sum(a != b for a, b in zip(data, patched, strict=True)) == 4 * len(offsets)


def test_the_flatbuffer_reader_refuses_what_is_not_a_model():
    with pytest.raises(FlatbufferError):
        dynamic_batch_offsets(b"not a model at all")
    with pytest.raises(FlatbufferError):
        fix_batch(shipped_model().read_bytes(), [8])  # an offset that does not hold -1


def test_a_fresh_manifest_binds_the_shipped_model_and_cascades(tmp_path):
    vendor, model = fake_vendor(tmp_path)
    manifest = read_manifest(vendor)
    from fer_core.recognition.quantized_model import file_sha256

    assert manifest["model"]["sha256"] == file_sha256(model)
    assert manifest["cascades"] == {name: file_sha256(cascade_path(name)) for name in cascade_names(manifest["params"])}
    assert manifest["params"] == pipeline_params()
    assert check_manifest(manifest, vendor, model) is None
    assert check_build(vendor, model).usable


def test_a_model_other_than_the_shipped_one_is_refused_as_stale(tmp_path):
    other = tmp_path / "other" / "fer_model.int8.tflite"
    other.parent.mkdir()
    data = bytearray(shipped_model().read_bytes())
    data[-1] ^= 0xFF  # a retrained or damaged copy: any other bytes
    other.write_bytes(bytes(data))
    vendor, _ = fake_vendor(tmp_path, other)
    status = check_build(vendor, shipped_model())  # the server runs the shipped model
    assert not status.usable
    assert "stale" in status.reason and "python -m fer_core.sessions.on_device.build" in status.reason


def test_a_copy_changed_after_the_build_is_refused(tmp_path):
    vendor, model = fake_vendor(tmp_path)
    copy = vendor / model.name
    copy.write_bytes(copy.read_bytes()[:-1] + b"\0")
    assert "differs" in (check_manifest(read_manifest(vendor), vendor, model) or "")
    cascade = vendor / cascade_names(pipeline_params())[0]
    shutil.copyfile(model, copy)
    cascade.write_text(cascade.read_text().replace("<stages>", "<stages> "))
    assert "cascade" in (check_manifest(read_manifest(vendor), vendor, model) or "")


def test_changed_parameters_make_the_build_stale(tmp_path):
    vendor, model = fake_vendor(tmp_path)
    manifest = read_manifest(vendor)
    manifest["params"]["detector"]["min_neighbors"] += 1
    assert "parameters changed" in (check_manifest(manifest, vendor, model) or "")


def test_a_missing_build_says_how_to_build(tmp_path):
    status = check_build(tmp_path / "nothing", shipped_model())
    assert not status.usable
    assert "not built" in status.reason and "python -m fer_core.sessions.on_device.build" in status.reason


def test_the_parameters_come_from_the_config_objects():
    from fer_core.recognition.classifier import ClassifierConfig
    from fer_core.recognition.detector import DetectorConfig
    from fer_core.recognition.recognizer import RecognizerConfig
    from fer_core.recognition.stream_readings import StreamReadings

    params = pipeline_params()
    assert params["detector"]["scale_factor"] == DetectorConfig().scale_factor
    assert params["detector"]["verify_cascade"] == DetectorConfig().verify_cascade
    assert params["crop_margin"] == RecognizerConfig().crop_margin
    assert params["views"] == [{"mirror": False}, {"mirror": True}]  # the stream views, "flip"
    assert params["spread_views"] is ClassifierConfig().spread_stream_views
    assert params["stream_readings"] == {"min_overlap": StreamReadings().min_overlap}
    assert params["emotions"] == list(EMOTIONS)
    strict = pipeline_params(detector=DetectorConfig(scale_factor=1.2, min_neighbors=8))
    assert strict["detector"]["min_neighbors"] == 8
    from fer_core.recognition.classifier import ClassifierConfig

    with pytest.raises(ValueError, match="only mirrored views"):
        stream_views(ClassifierConfig(stream_views="multi"))


def test_the_browser_config_is_the_apps_with_the_model_alone_in_streams():
    from fer_core.measure.sample_frames import one_face_frame
    from fer_core.recognition.classifier import ClassifierConfig
    from fer_core.recognition.recognizer import EmotionRecognizer, RecognizerConfig
    from fer_core.recognition.tracking import TrackerConfig
    from fer_core.sessions.on_device.params import browser_recognizer_config

    app = RecognizerConfig(crop_margin=-0.1, classifier=ClassifierConfig(stream_views="none", stream_members=True))
    browser = browser_recognizer_config(app)
    assert browser.crop_margin == -0.1 and browser.classifier.stream_views == "none"
    assert not browser.classifier.stream_members and browser.classifier.spread_stream_views
    assert pipeline_params(app)["spread_views"] is True

    frame = one_face_frame().image
    alone = EmotionRecognizer(config=browser_recognizer_config())
    assert alone.classifier.members  # loaded for photos, not used for the stream
    model_alone = alone.classifier.classify(alone.face_crops(frame)[1], stream=True)
    tracker = alone.new_tracker(TrackerConfig(redetect_every=1))  # the same box each frame of a still clip
    for passes in (2, 1, 1):  # the main model alone: both views for a new face, then one a frame
        before = alone.classifier.faces_run
        (face,) = alone.analyze(frame, tracker=tracker)
        assert alone.classifier.faces_run - before == passes
        np.testing.assert_allclose(face.probabilities, model_alone[0], atol=1e-6)


def test_the_build_refuses_a_missing_runtime(tmp_path):
    web = tmp_path / "web"
    (web / "node_modules").mkdir(parents=True)
    config = build_module.BuildConfig(web_dir=web, vendor_dir=tmp_path / "vendor", run_npm=False)
    with pytest.raises(build_module.BuildError, match="missing"):
        build_module.build(config)


# --- result batches ---------------------------------------------------------------------------------------------
def batch(seq: int = 1, frames: int = 3, stream_id: str = "abc123", **extra) -> dict:
    p = [0.05, 0.01, 0.02, 0.8, 0.04, 0.03, 0.05]
    return {
        "stream_id": stream_id, "seq": seq, "sent_ms": 1000.0 + 100 * frames, "frames_total": frames, "fps": 15.0,
        "frames": [
            {"t": 1000.0 + 66.0 * i, "w": 640, "h": 480, "detect_ms": 8.0, "classify_ms": 2.0, "total_ms": 11.0,
             "faces": [{"box": [200, 100, 120, 120], "p": p}]}
            for i in range(frames)
        ],
        **extra,
    }  # fmt: skip


def test_a_batch_is_parsed_and_timed_on_the_server_clock():
    parsed = parse_batch(batch())
    assert len(parsed.frames) == 3 and parsed.frames[0].faces[0].emotion == "happy"
    times = server_times(parsed, received_at=50.0)
    assert times[-1] == pytest.approx(50.0 - (1300.0 - 1132.0) / 1000)
    assert times == sorted(times)


@pytest.mark.parametrize(
    "change",
    [
        {"stream_id": "../../etc"},
        {"seq": 0},
        {"frames": "x"},
        {"ended": "yes"},
        {"frames": [{"t": 1, "w": 640, "h": 480, "detect_ms": 1, "classify_ms": 1, "total_ms": 2,
                     "faces": [{"box": [600, 0, 100, 100], "p": [1 / 7] * 7}]}]},
        {"frames": [{"t": 1, "w": 640, "h": 480, "detect_ms": 1, "classify_ms": 1, "total_ms": 2,
                     "faces": [{"box": [0, 0, 10, 10], "p": [float("nan")] * 7}]}]},
        {"frames": [{"t": 1, "w": 640, "h": 480, "detect_ms": 1, "classify_ms": 1, "total_ms": 2,
                     "faces": [{"box": [0, 0, 10, 10], "p": [0.5] * 6}]}]},
    ],
)  # fmt: skip
def test_malformed_batches_are_refused(change):
    with pytest.raises(ValueError):
        parse_batch({**batch(), **change})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_device_batches_feed_the_same_mood_path_once(recognizer):
    from fer_core.mood.tracker import MoodConfig
    from fer_core.sessions.live import LiveProcessor

    clock = Clock()
    processor = LiveProcessor(recognizer, mood_config=MoodConfig(time_constant_s=0.2, dwell_s=0.5), clock=clock)
    for seq in range(1, 21):
        clock.now += 0.25
        taken = processor.ingest_device_results(parse_batch(batch(seq=seq, frames=4)))
        assert taken == 4
    assert processor.ingest_device_results(parse_batch(batch(seq=20, frames=4))) == 0  # the same batch again
    stats = processor.stats()
    assert stats.frames_processed == 80 and stats.frames_with_face == 80
    assert stats.streaming and stats.fps > 0
    assert stats.mood.mood == "happy"
    assert stats.faces[0].box == (200, 100, 120, 120)
    assert stats.lag_ms is not None and stats.process_ms == pytest.approx(10.0, abs=0.5)
    assert processor.timeline.chart_columns(clock.now)["seconds"]
    processor.ingest_device_results(parse_batch(batch(seq=21, frames=0, ended=True)))  # Stop in the browser
    assert processor.stats().mood.mood is None and processor.stats().faces == ()


def test_a_new_device_stream_starts_its_own_sequence(recognizer):
    from fer_core.sessions.live import LiveProcessor

    clock = Clock()
    processor = LiveProcessor(recognizer, clock=clock)
    processor.ingest_device_results(parse_batch(batch(seq=5, stream_id="first")))
    clock.now += 1
    assert processor.ingest_device_results(parse_batch(batch(seq=1, stream_id="second"))) == 3
    probabilities = np.array(processor.stats().faces[0].probabilities)
    assert probabilities.sum() == pytest.approx(1.0)


def test_a_device_value_that_is_malformed_is_ignored(recognizer, caplog):
    from fer_core.sessions.live import LiveProcessor
    from fer_core.sessions.on_device.component import take_in

    processor = LiveProcessor(recognizer, clock=Clock())
    assert take_in(processor, {"stream_id": 3}) == 0
    assert take_in(processor, None) == 0
    assert take_in(processor, batch()) == 3
    assert "ignored an on-device result batch" in caplog.text


def test_the_component_files_are_in_place_and_load_nothing_from_elsewhere():
    from fer_core.sessions.on_device.manifest import COMPONENT_DIR

    for name in ("index.html", "style.css", "main.js", "pipeline.js", "runtimes.js", "streamlit.js"):
        text = (COMPONENT_DIR / name).read_text()
        assert "http://" not in text and "https://" not in text, f"{name} names a remote URL"
    lock = json.loads((COMPONENT_DIR.parent / "package-lock.json").read_text())
    assert {"node_modules/@techstark/opencv-js", "node_modules/@litertjs/core"} <= set(lock["packages"])


def test_a_device_stream_left_without_stop_is_ended_once(recognizer):
    from fer_core.sessions.live import LiveProcessor

    clock = Clock()
    processor = LiveProcessor(recognizer, clock=clock)
    assert not processor.end_device_stream(), "nothing to end before any device batch"
    for seq in range(1, 9):
        clock.now += 0.25
        processor.ingest_device_results(parse_batch(batch(seq=seq, frames=4, skipped=seq)))
    assert processor.stats().frames_skipped_busy == 8
    assert processor.stats().faces
    assert processor.end_device_stream()  # switched to server processing mid-stream
    assert processor.stats().faces == () and processor.stats().mood.mood is None
    assert not processor.end_device_stream()
    clock.now += 0.25
    assert processor.ingest_device_results(parse_batch(batch(seq=8, frames=4))) == 0, "an old value is not retaken"


# --- the live page (AppTest; the component itself runs in tests/browser/test_on_device_browser.py) -----------------
LIVE_PAGE = str(Path(__file__).resolve().parents[1] / "app_pages" / "2_Live_webcam.py")


@pytest.fixture
def live_page(monkeypatch):
    """The live page under AppTest, past the consent gate, with streamlit-webrtc's player recorded, not run."""
    import streamlit_webrtc
    from streamlit.testing.v1 import AppTest

    from fer_core.sessions import analytics_view

    calls: list[dict] = []
    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(analytics_view, "consent_given", lambda: True)
    return AppTest.from_file(LIVE_PAGE, default_timeout=60), calls


def test_the_live_page_processes_on_the_server_by_default(live_page):
    at, calls = live_page
    at.run()
    assert not at.exception and not at.error
    (choice,) = [radio for radio in at.sidebar.radio if radio.label == "Processing"]
    assert choice.value == "server"
    assert len(calls) == 1, "the WebRTC player, as before"
    assert any(toggle.label == "Send video back" for toggle in at.sidebar.toggle)


def test_processing_device_from_the_url_shows_no_webrtc_player(live_page):
    at, calls = live_page
    at.query_params["processing"] = "device"
    at.run()
    assert not at.exception and not at.error
    assert [radio.value for radio in at.sidebar.radio if radio.label == "Processing"] == ["device"]
    assert calls == [], "on-device mode sends no video to the server"
    assert not any(toggle.label == "Send video back" for toggle in at.sidebar.toggle), "no video to send back"


def test_an_unbuilt_device_mode_says_how_to_build_it(live_page, monkeypatch):
    from fer_core.sessions.on_device import component
    from fer_core.sessions.on_device.manifest import BuildStatus

    monkeypatch.setattr(
        component, "check_build", lambda: BuildStatus(False, "the on-device files are not built (manifest.json)")
    )
    at, calls = live_page
    at.query_params["processing"] = "device"
    at.run()
    assert not at.exception and calls == []
    warnings = " ".join(w.value for w in at.warning)
    assert "not available" in warnings and "python -m fer_core.sessions.on_device.build" in warnings


def test_the_browser_rounds_like_python():
    """pipeline.js's pyRound (halves to even) is Python's round() on the values box arithmetic produces."""
    import subprocess

    from conftest import require_tool

    from fer_core.sessions.on_device.manifest import COMPONENT_DIR

    node = shutil.which("node")
    require_tool("node", node is not None, "apt-get install -y nodejs npm (it builds the on-device runtimes too)")
    values = [v / 4 for v in range(-40, 41)] + [w * -0.05 for w in range(20, 400, 7)] + [480 * 0.5, 123 * 0.5]
    script = (
        f"import('{(COMPONENT_DIR / 'pipeline.js').as_uri()}')"
        f".then(m => console.log(JSON.stringify({json.dumps(values)}.map(m.pyRound))))"
    )
    done = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, check=True)
    assert [int(v) for v in json.loads(done.stdout)] == [round(v) for v in values]


def test_the_load_test_takes_a_processing_option():
    import argparse

    from fer_core.measure import loadtest

    parser = argparse.ArgumentParser()
    loadtest.add_arguments(parser)
    assert parser.parse_args([]).processing == "server"
    assert parser.parse_args(["--processing", "device"]).processing == "device"
    with pytest.raises(SystemExit):
        parser.parse_args(["--processing", "gpu"])
    report = {
        "viewers": 1, "seconds": 5.0, "lean": False, "processing": "device",
        "camera": {"size": "640x480", "fps": 30}, "url": "http://127.0.0.1:1", "server": {"pid": 1, "cpu_cores": 0.1},
        "viewers_chromium_cpu_cores": 0.7, "cpu_count": 2, "load_average_1min": [1.0, 1.0], "results": [],
    }  # fmt: skip
    assert "processing on the device" in loadtest.format_report(report)
    with pytest.raises(loadtest.LoadTestError, match="processing"):
        loadtest.run_load_test(viewers=1, seconds=1, processing="gpu")


def test_the_device_player_asks_for_the_full_camera_rate_at_the_servers_size():
    from fer_core.sessions.on_device.component import DEVICE_FPS, device_constraints
    from fer_core.sessions.rtc import StreamConfig

    video = device_constraints(StreamConfig())["video"]
    assert video["frameRate"] == {"ideal": DEVICE_FPS, "max": DEVICE_FPS} and DEVICE_FPS == 30
    assert (video["width"], video["height"]) == ({"ideal": 640}, {"ideal": 480})
    assert device_constraints(StreamConfig(320, 240, 60))["video"]["frameRate"]["max"] == 60, "never lower"
