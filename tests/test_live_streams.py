"""Cheaper live streams: what the page asks the camera for (StreamConfig), one codec thread per stream, and a
relay that hands the newest video frame to a slow consumer instead of a queue (fer_core.sessions.webrtc_media)."""

from __future__ import annotations

import asyncio
import fractions
from types import SimpleNamespace

import av
import cv2
import numpy as np
import pytest
from aiortc.codecs import vpx
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack, VideoStreamTrack
from conftest import run_coroutine

from fer_core.measure.sample_frames import one_face_frame
from fer_core.sessions import webrtc_media
from fer_core.sessions.rtc import STREAM_FPS_ENV, STREAM_SIZE_ENV, StreamConfig, StreamConfigError


# --- StreamConfig ----------------------------------------------------------------------------------------------
def test_default_stream_asks_for_640x480_at_15_fps_and_no_audio():
    constraints = StreamConfig().media_stream_constraints()
    assert constraints == {
        "video": {"width": {"ideal": 640}, "height": {"ideal": 480}, "frameRate": {"ideal": 15, "max": 15}},
        "audio": False,
    }


def test_stream_config_from_env():
    assert StreamConfig.from_env({}) == StreamConfig()
    config = StreamConfig.from_env({STREAM_SIZE_ENV: "320x240", STREAM_FPS_ENV: "10"})
    assert (config.width, config.height, config.fps) == (320, 240, 10)
    for env in ({STREAM_SIZE_ENV: "640"}, {STREAM_SIZE_ENV: "axb"}, {STREAM_FPS_ENV: "fast"}, {STREAM_FPS_ENV: "0"}):
        with pytest.raises(StreamConfigError):
            StreamConfig.from_env(env)


# --- codec threads ---------------------------------------------------------------------------------------------
def _yuv_frame(width: int, height: int, pts: int = 0) -> av.VideoFrame:
    bgr = cv2.resize(np.ascontiguousarray(one_face_frame().image[:, :, ::-1]), (width, height))
    frame = av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format="yuv420p")
    frame.pts, frame.time_base = pts, fractions.Fraction(1, 90_000)
    return frame


def test_codecs_use_one_thread_per_stream_and_still_work():
    # aiortc on its own: PyAV's thread_count 0 (one per core) for decoders, up to 8 encoder threads for big frames.
    assert av.CodecContext.create("libvpx", "r").thread_count == 0
    webrtc_media.limit_codec_threads(1)
    assert vpx.number_of_threads(1920 * 1080, 64) == 1
    decoder = vpx.Vp8Decoder()
    assert decoder.codec.thread_count == 1
    encoder = vpx.Vp8Encoder()
    payloads, timestamp = encoder.encode(_yuv_frame(1280, 720))
    assert encoder.codec.thread_count == 1
    # A VP8 round trip through aiortc's own packetizer and decoder still gives the picture back.
    from aiortc.jitterbuffer import JitterFrame

    data = b"".join(vpx.vp8_depayload(payload) for payload in payloads)
    frames = decoder.decode(JitterFrame(data=data, timestamp=timestamp))
    assert len(frames) == 1 and (frames[0].width, frames[0].height) == (1280, 720)


# --- newest frame only -----------------------------------------------------------------------------------------
class CountingTrack(MediaStreamTrack):
    """A video source that delivers frames 1..n, one every 5 ms, then ends."""

    kind = "video"

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.sent = n, 0

    async def recv(self):
        await asyncio.sleep(0.005)
        if self.sent >= self.n:
            raise MediaStreamError
        self.sent += 1
        return self.sent


async def _slow_consumer(relay: MediaRelay, n: int) -> list[int]:
    track = relay.subscribe(CountingTrack(n))
    received = []
    while True:
        try:
            received.append(await track.recv())
        except MediaStreamError:
            return received
        await asyncio.sleep(0.03)  # a consumer six times slower than the source


def test_latest_frame_relay_skips_stale_frames_where_aiortc_queues_them():
    n = 60
    queued = run_coroutine(_slow_consumer(MediaRelay(), n))
    assert queued == list(range(1, n + 1)), "aiortc's default relay should queue every frame (the old behaviour)"
    latest = run_coroutine(_slow_consumer(webrtc_media.latest_frame_relay_class()(), n))
    assert latest == sorted(set(latest)), latest
    assert len(latest) < n / 3, f"the slow consumer got {len(latest)} of {n} frames: they were queued"
    assert latest[-1] >= n - 6, f"the last frame seen ({latest[-1]}) was not one of the newest"


def test_latest_frame_relay_keeps_audio_buffered():
    relay = webrtc_media.latest_frame_relay_class()()
    audio, video = AudioStreamTrack(), VideoStreamTrack()
    assert relay.subscribe(audio)._buffered is True
    assert relay.subscribe(video)._buffered is False


def test_streamlit_webrtc_picks_up_the_installed_relay(monkeypatch):
    from streamlit.runtime.runtime import Runtime
    from streamlit_webrtc.relay import get_global_relay

    loop = asyncio.new_event_loop()
    runtime = SimpleNamespace(_get_async_objs=lambda: SimpleNamespace(eventloop=loop))
    monkeypatch.setattr(Runtime, "exists", lambda: True)
    monkeypatch.setattr(Runtime, "instance", lambda: runtime)
    try:
        assert webrtc_media.install_latest_frame_relay()
        relay = get_global_relay()  # what streamlit-webrtc itself uses for every stream
        assert isinstance(relay, webrtc_media.latest_frame_relay_class())
        assert webrtc_media.install_latest_frame_relay(), "a second call keeps the same relay"
        assert get_global_relay() is relay
    finally:
        loop.close()


def test_an_existing_default_relay_is_kept(monkeypatch):
    from streamlit.runtime.runtime import Runtime

    runtime = SimpleNamespace(**{"streamlit-webrtc-global-relay": MediaRelay()})
    monkeypatch.setattr(Runtime, "exists", lambda: True)
    monkeypatch.setattr(Runtime, "instance", lambda: runtime)
    assert not webrtc_media.install_latest_frame_relay()
    assert type(getattr(runtime, "streamlit-webrtc-global-relay")) is MediaRelay
