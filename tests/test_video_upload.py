"""Tests for fer_core.sessions.video_upload: an uploaded video analysed in memory (clips encoded in memory)."""

from __future__ import annotations

import csv
import io

import av
import numpy as np
import pytest

from fer_core import cli
from fer_core.labels import EMOTIONS
from fer_core.mood.affect import affect
from fer_core.recognition.detector import DetectorConfig
from fer_core.recognition.results import FaceResult
from fer_core.sessions.video_upload import (
    CSV_COLUMNS,
    VideoLimits,
    VideoUploadError,
    analyze_video_upload,
)


def one_hot(emotion: str, p: float = 0.9) -> tuple[float, ...]:
    return tuple(p if name == emotion else (1 - p) / 6 for name in EMOTIONS)


class BrightnessRecognizer:
    """A face in bright frames reads happy, in dark frames sad; mid-grey frames have no face."""

    detector = type("Detector", (), {"config": DetectorConfig()})()

    def new_tracker(self, config=None):
        return None

    def analyze(self, image, *, bgr=False, tracker=None, stream=None):
        level = float(image.mean())
        if 100 < level < 160:
            return []
        return [FaceResult((10, 10, 40, 40), one_hot("happy" if level >= 160 else "sad"))]


def encode(frames: list[np.ndarray], fps: int = 10, codec: str = "libx264", container: str = "mp4") -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def clip(*parts: tuple[int, float], fps: int = 10) -> list[np.ndarray]:
    """``(grey level, seconds)`` parts as 160x120 frames."""
    return [np.full((120, 160, 3), level, np.uint8) for level, seconds in parts for _ in range(round(seconds * fps))]


def test_moods_over_time_segments_and_annotated_frames():
    data = encode(clip((230, 4.0), (20, 6.0)))
    seen: list[float] = []
    analysis = analyze_video_upload(data, "two moods.mp4", BrightnessRecognizer(), progress=seen.append)
    assert analysis.duration_s == pytest.approx(10.0, abs=0.15) and analysis.frames_read == 100
    assert len(analysis.rows) == 50, "5 analysed frames per second"
    assert [segment.mood for segment in analysis.segments] == [None, "happy", "sad"]
    happy, sad = analysis.segments[1:]
    assert happy.start_s == pytest.approx(2.0, abs=0.25), "after the 2 s dwell"
    assert 6.0 < sad.start_s < 7.5 and sad.end_s == pytest.approx(analysis.duration_s)
    assert seen == sorted(seen) and seen[-1] == 1.0, "progress goes up to 1"
    assert 3 <= len(analysis.annotated) <= 4 and all(image.shape == (120, 160, 3) for _, image in analysis.annotated)
    columns = analysis.chart_columns()
    assert columns["valence"][0] == pytest.approx(affect(one_hot("happy")).valence)
    assert columns["valence"][-1] < -0.3 and columns["arousal"][-1] < 0


def test_the_csv_has_the_command_lines_columns_and_a_row_per_frame():
    data = encode(clip((230, 1.0), (128, 1.0)))
    analysis = analyze_video_upload(data, "a.mp4", BrightnessRecognizer())
    rows = list(csv.DictReader(io.StringIO(analysis.csv_bytes().decode("utf-8"))))
    assert tuple(rows[0]) == CSV_COLUMNS == cli.CSV_COLUMNS
    assert len(rows) == 10
    assert rows[0]["emotion"] == "happy" and float(rows[0]["valence"]) == pytest.approx(
        affect(one_hot("happy")).valence, abs=1e-6
    )
    assert rows[-1]["emotion"] == "" and rows[-1]["time_s"] == "1.800", "a frame without a face"


def test_webm_is_read_too():
    analysis = analyze_video_upload(encode(clip((230, 1.0)), codec="libvpx", container="webm"), "a.webm",
                                    BrightnessRecognizer())  # fmt: skip
    assert len(analysis.rows) == 5 and analysis.frames_with_faces == 5


@pytest.mark.parametrize(
    ("data", "limits", "message"),
    [
        (b"", None, "clip.mp4 is empty"),
        (b"\x00" * 2048, VideoLimits(max_bytes=1024), "videos up to 0 MB"),
        (b"this is not a video at all" * 40, None, "not a video this app can read"),
    ],
    ids=["empty", "too big", "not a video"],
)
def test_bad_uploads_give_clear_messages(data, limits, message):
    with pytest.raises(VideoUploadError, match=message):
        analyze_video_upload(data, "clip.mp4", BrightnessRecognizer(), limits=limits)


def test_a_video_longer_than_the_cap_is_refused():
    data = encode(clip((230, 3.0)))
    with pytest.raises(VideoUploadError, match=r"clip\.mp4 is 3 s long; videos up to 2 s"):
        analyze_video_upload(data, "clip.mp4", BrightnessRecognizer(), limits=VideoLimits(max_duration_s=2.0))


def test_with_the_shipped_model(recognizer):
    from tests.browser.faces import astronaut_frame

    face = astronaut_frame((320, 240))
    expected = recognizer.analyze(face, bgr=True, stream=True)[0].emotion
    analysis = analyze_video_upload(encode([face] * 30), "astronaut.mp4", recognizer)
    assert analysis.frames_with_faces == len(analysis.rows) == 15
    assert analysis.segments[-1].mood == expected
