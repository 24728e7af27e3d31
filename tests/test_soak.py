"""Long-stream soak of the webcam path: the live page's per-session processor fed frames for a while.

``FER_SOAK_SECONDS`` sets the duration (default 20 s, the CI run; ``FER_SOAK_SECONDS=600`` by hand), and
``FER_SOAK_FPS`` the frame rate (default 15, the fake camera's). Frames go through ``LiveProcessor.__call__``
exactly as streamlit-webrtc hands them over (``av.VideoFrame`` in and out), cycling through a face that moves,
three faces and no face, so detection, classification, drawing, mood smoothing and the timeline all run.
The process's RSS is sampled every few seconds; the test fails if it grows more than 10% after the warm-up.
Run with ``-s`` to see the RSS curve summary.
"""

from __future__ import annotations

import gc
import os
import time
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from reliability_support import model_path_for_tests, rss_bytes

from fer_core.measure.sample_frames import no_face_frame, one_face_frame, three_face_frame
from fer_core.recognition.recognizer import EmotionRecognizer
from fer_core.sessions.live import LiveProcessor

SOAK_SECONDS = float(os.environ.get("FER_SOAK_SECONDS", "20"))
SOAK_FPS = float(os.environ.get("FER_SOAK_FPS", "15"))
WARMUP_SECONDS = min(60.0, max(5.0, 0.2 * SOAK_SECONDS))
SAMPLE_EVERY_S = min(10.0, max(1.0, SOAK_SECONDS / 40))
MAX_GROWTH = 0.10


def frame_variants() -> list[np.ndarray]:
    """BGR 640x480 frames: the one-face frame shifted along a path, with three faces and no face in between."""
    one = one_face_frame().image
    others = [three_face_frame().image, no_face_frame().image]
    frames = []
    for step, dx in enumerate(range(-40, 41, 10)):
        matrix = np.float32([[1, 0, dx], [0, 1, dx // 4]])
        shifted = cv2.warpAffine(one, matrix, (one.shape[1], one.shape[0]), borderValue=(128, 128, 128))
        frames += [shifted, others[step % 2]]
    return [cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) for frame in frames]


@pytest.mark.soak
def test_live_stream_memory_stays_flat(tmp_path, capsys):
    recognizer = EmotionRecognizer(model_path_for_tests(tmp_path))
    processor = LiveProcessor(recognizer)
    variants = frame_variants()
    time_base = Fraction(1, 90_000)
    interval = 1.0 / SOAK_FPS
    noise = np.random.default_rng(0)

    samples: list[tuple[float, int]] = []
    started = time.monotonic()
    next_sample = started
    index = 0
    while (now := time.monotonic()) - started < SOAK_SECONDS:
        image = variants[(index // 4) % len(variants)].copy()  # each pose held for 4 frames
        image[:: 7 + index % 5, ::11] ^= noise.integers(0, 8, dtype=np.uint8)  # sensor-like noise
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts, frame.time_base = round((now - started) * 90_000), time_base
        out = processor(frame)
        assert isinstance(out, av.VideoFrame) and (out.width, out.height) == (640, 480)
        index += 1
        if now >= next_sample:
            samples.append((now - started, rss_bytes()))
            next_sample += SAMPLE_EVERY_S
        delay = started + index * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    elapsed = time.monotonic() - started
    gc.collect()
    samples.append((elapsed, rss_bytes()))

    stats = processor.stats()
    assert stats.errors == 0 and stats.frames_processed == index
    assert stats.frames_with_face > 0 and stats.frames_with_face < stats.frames_processed
    assert len(processor.timeline) <= processor.timeline.window_s / processor.timeline.min_interval_s + 1

    after_warmup = [(t, rss) for t, rss in samples if t >= WARMUP_SECONDS]
    assert len(after_warmup) >= 3, f"too few samples after warm-up: {samples}"
    reference = after_warmup[0][1]
    peak = max(rss for _, rss in after_warmup)
    final = after_warmup[-1][1]
    growth = (peak - reference) / reference
    times = np.array([t for t, _ in after_warmup])
    slope = np.polyfit(times, np.array([rss for _, rss in after_warmup]) / 2**20, 1)[0] * 60
    mib = [f"{t:.0f}s:{rss / 2**20:.0f}" for t, rss in samples]
    with capsys.disabled():
        print(
            f"\n[soak] {elapsed:.0f} s, {index} frames ({index / elapsed:.1f} fps fed, {stats.frames_with_face} with a "
            f"face, {stats.frames_skipped_busy} skipped busy), process {stats.process_ms or 0:.0f} ms/frame mean\n"
            f"[soak] RSS MiB: start {samples[0][1] / 2**20:.0f}, after warm-up ({WARMUP_SECONDS:.0f} s) "
            f"{reference / 2**20:.0f}, peak {peak / 2**20:.0f}, final {final / 2**20:.0f}; growth after warm-up "
            f"{growth:+.1%} (limit {MAX_GROWTH:.0%}), trend {slope:+.2f} MiB/min\n[soak] curve: {' '.join(mib)}"
        )
    assert growth <= MAX_GROWTH, f"RSS grew {growth:.1%} after warm-up: {mib}"
