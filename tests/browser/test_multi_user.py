"""Several users at once on one server: two webcams streaming different faces and a third user uploading a photo.

Each user is a separate Chromium process (the fake camera's clip is a launch flag). Each must see only its own
faces, mood, content and counters while the others are active: every session has its own ``LiveProcessor`` in
its own ``st.session_state``, sharing only the loaded model.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from PIL import Image

from .app_driver import (
    click_stop,
    frames_processed,
    metric_text,
    open_page,
    panel_mood,
    start_stream,
    wait_for_frames,
    webrtc_button,
)
from .faces import astronaut_frame, fixture_face_frames, read_candidates
from .paths import ARTIFACTS
from .y4m import from_i420, to_i420, write_y4m

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
]

FPS = 10
CLIP_SIZE = (320, 240)
"""Small clips: the server decodes and re-encodes (VP8) every frame of both streams on two cores."""
MIN_CONFIDENCE = float(os.environ.get("FER_TEST_MIN_CONFIDENCE", "0.55"))
OBSERVE_S = 120.0
"""Longest time to watch both streams. Two streams share two cores, so each gets fewer frames per second than alone;
the Faces metric shows a count only while frames arrive (one in the last 2 s)."""


@dataclass(frozen=True)
class Stream:
    """A webcam clip's frame and what the shipped model reads on it (as the clip shows it, after 4:2:0)."""

    name: str
    frame: np.ndarray
    faces: int
    upload_faces: int
    """Faces the upload page finds on the same picture uploaded as a PNG (no video compression)."""
    emotion: str
    confidence: float


@pytest.fixture(scope="module")
def streams() -> tuple[Stream, Stream]:
    """User A films one face, user B three faces: the face counts tell the sessions apart whatever the model;
    their moods do too: A's face is one the model reads confidently as another emotion than B's (when it has one)."""
    from fer_core.measure.sample_frames import three_face_frame
    from fer_core.recognition.recognizer import EmotionRecognizer

    recognizer = EmotionRecognizer()  # the default configuration, as the pages use it

    def read(name: str, frame: np.ndarray) -> Stream | None:
        frame = cv2.resize(np.ascontiguousarray(frame), CLIP_SIZE, interpolation=cv2.INTER_AREA)
        faces = recognizer.analyze(from_i420(to_i420(frame)), bgr=True, stream=True)  # what the live page sees
        if not faces:
            return None
        upload_faces = len(recognizer.analyze(frame, bgr=True))
        return Stream(name, frame, len(faces), upload_faces, faces[0].emotion, faces[0].confidence)

    b = read("three faces", three_face_frame().image[:, :, ::-1])
    assert b is not None and b.faces > 1, "the three-face clip shows fewer than two faces"
    # A: a FER2013 face the model reads confidently as another emotion than B's, else the astronaut (moods equal).
    singles = [read(c.name, c.frame) for c in read_candidates(recognizer, fixture_face_frames())]
    differing = [c for c in singles if c and c.faces == 1 and c.emotion != b.emotion and c.confidence >= MIN_CONFIDENCE]
    a = max(differing, key=lambda c: c.confidence) if differing else read("astronaut", astronaut_frame())
    assert a is not None and a.faces == 1
    return a, b


def _png(frame_bgr) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame_bgr[:, :, ::-1]).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class Observed:
    """How often a page showed its own / the other user's face count and mood while both streamed."""

    own_faces: int = 0
    other_faces: int = 0
    own_mood: int = 0
    other_mood: int = 0

    def enough(self, moods: bool) -> bool:
        return self.own_faces >= 2 and (not moods or self.own_mood >= 2)


def _shows(faces_metric: str, stream: Stream) -> bool:
    """Whether a page's Faces metric is ``stream``'s: one face, or several for the multi-face clip.

    A, one face, and B, several, never overlap this way. B's exact count is not required: the smallest of its
    heads is near the detector's limit, and when the machine is busy the WebRTC encoder lowers the video quality
    until that head is sometimes lost (seen once, with a training run holding both cores).
    """
    if not faces_metric.isdigit():
        return False
    shown = int(faces_metric)
    return shown == 1 if stream.faces == 1 else shown >= 2


def _keep_streaming(page) -> int:
    """Restart a stream that ended (START shown again); return the retries it took (0 if it was running)."""
    if webrtc_button(page, "Stop").count() == 0 and webrtc_button(page, "Start").count() == 1:
        return 1 + start_stream(page, first_frame_timeout_s=40)
    return 0


def test_two_webcams_and_an_upload_at_once_each_see_only_their_own(server, launch, tmp_path, streams):
    a, b = streams
    page_a = launch(write_y4m(tmp_path / "a.y4m", [a.frame] * (2 * FPS), fps=FPS))
    page_b = launch(write_y4m(tmp_path / "b.y4m", [b.frame] * (2 * FPS), fps=FPS))
    for page in (page_a, page_b):
        open_page(page, server.url, "Live_webcam", "Live webcam")
    restarts = start_stream(page_a, first_frame_timeout_s=40) + start_stream(page_b, first_frame_timeout_s=40)

    # Both stream at once. Poll both pages: each must show its own face count (and mood) and never the other's.
    moods = a.confidence >= MIN_CONFIDENCE and b.confidence >= MIN_CONFIDENCE and a.emotion != b.emotion
    seen = {"A": Observed(), "B": Observed()}
    deadline = time.monotonic() + OBSERVE_S
    # With three faces the dominant face can change between frames, so only a one-face stream must settle a mood.
    need_mood = {"A": moods and a.faces == 1, "B": moods and b.faces == 1}
    while time.monotonic() < deadline and not all(o.enough(need_mood[k]) for k, o in seen.items()):
        for page, stream, other, label in ((page_a, a, b, "A"), (page_b, b, a, "B")):
            restarts += _keep_streaming(page)
            faces, mood = metric_text(page, "Faces"), panel_mood(page)
            observed = seen[label]
            observed.own_faces += _shows(faces, stream)
            observed.other_faces += _shows(faces, other)
            observed.own_mood += mood == stream.emotion
            observed.other_mood += moods and mood == other.emotion
        page_a.wait_for_timeout(250)
    for label, observed in seen.items():
        page = page_a if label == "A" else page_b
        page.screenshot(path=str(ARTIFACTS / f"multi_user_{label}.png"))
        assert observed.other_faces == 0 and observed.other_mood == 0, f"{label} showed the other user's: {observed}"
        assert observed.enough(need_mood[label]), (
            f"{label} did not show its own faces/mood in {OBSERVE_S:.0f} s: {observed}"
        )

    # A third user uploads B's picture while both stream: that session shows its result, the others are unmoved.
    photo = tmp_path / "b-faces.png"
    photo.write_bytes(_png(b.frame))
    page_c = launch()
    open_page(page_c, server.url, "Upload_photo", "Upload a photo")
    page_c.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(photo))
    caption = page_c.get_by_test_id("stImageCaption").filter(has_text="b-faces.png").first
    caption.wait_for(timeout=90_000)
    assert f"{b.upload_faces} face{'s' if b.upload_faces > 1 else ''} found" in caption.inner_text()
    assert page_c.get_by_test_id("stMetric").filter(has_text="Frames processed").count() == 0
    assert metric_text(page_a, "Faces") in ("0", str(a.faces)), "the upload changed another user's faces"
    assert "b-faces.png" not in page_a.content() and "b-faces.png" not in page_b.content()

    # Stopping A stops only A's processor: A's counter freezes, B's keeps counting with its own faces.
    restarts += _keep_streaming(page_a) + _keep_streaming(page_b)
    click_stop(page_a)
    page_a.wait_for_timeout(2_000)
    stopped_a, running_b = frames_processed(page_a), frames_processed(page_b)
    assert wait_for_frames(page_b, running_b, 30) is not None, "B stopped when A did"
    assert frames_processed(page_a) == stopped_a, "A's counter moved after A stopped"
    print(
        f"\n[multi-user] A: {a.faces} face ({a.emotion} {a.confidence:.0%}), B: {b.faces} faces ({b.emotion} "
        f"{b.confidence:.0%}); moods compared: {moods}; stream (re)starts needed {restarts}; frames A {stopped_a}, "
        f"B {frames_processed(page_b)}; observed {seen}"
    )
    click_stop(page_b)
