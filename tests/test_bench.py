"""fer_core.measure.bench: ``python -m fer_core bench --json`` runs end to end and reports every documented number."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fer_core.measure.bench import REPORT_KEYS, format_report

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def report() -> dict:
    # A fresh interpreter: TensorFlow's import is timed and its thread pools are set before it starts.
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [
        sys.executable,
        "-m",
        "fer_core",
        "bench",
        "--runs",
        "2",
        "--warmup",
        "1",
        "--json",
        "--parallel",
        "2",
        "--clip-frames",
        "12",
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def positive_numbers(value, where="report"):
    """Yield (where, number) for every number in a nested report, skipping counts of faces."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in ("config",) and not key.endswith("faces_detected"):
                yield from positive_numbers(item, f"{where}.{key}")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield where, value


@pytest.mark.slow
def test_bench_reports_every_key_with_positive_numbers(report):
    assert set(REPORT_KEYS) <= set(report)
    assert set(report["frames"]) == {"one_face", "three_faces", "no_face"}
    for frame in report["frames"].values():
        assert set(frame) == {
            "faces_detected", "detection_ms", "end_to_end_ms", "stream_end_to_end_ms", "baseline_faces_detected",
            "baseline_end_to_end_ms", "speedup",
        }  # fmt: skip
        for timing in ("detection_ms", "end_to_end_ms", "stream_end_to_end_ms", "baseline_end_to_end_ms"):
            assert set(frame[timing]) == {"median", "p95", "mean"} and frame[timing]["p95"] >= frame[timing]["median"]
    assert set(report["classification_ms_per_face"]) == {"batch_1", "batch_8"}
    numbers = list(positive_numbers(report))
    assert len(numbers) >= 25
    for where, number in numbers:
        assert number > 0, where
    assert report["config"]["runs"] == 2 and report["config"]["threads"] == 1
    assert report["config"]["tensorflow_already_imported"] is False
    assert report["parallel_threads"] == 2
    assert set(report["tracking"]) == {"one_face", "three_faces"}
    assert all(row["frames"] == 12 for row in report["tracking"].values())


@pytest.mark.slow
def test_bench_frames_hold_one_three_and_no_face(report):
    assert report["frames"]["one_face"]["faces_detected"] == 1
    assert report["frames"]["three_faces"]["faces_detected"] == 3
    assert report["frames"]["no_face"]["faces_detected"] == 0


@pytest.mark.slow
def test_human_report_names_every_frame_and_number(report):
    text = format_report(report)
    for name in (
        "one_face",
        "three_faces",
        "no_face",
        "batch 1",
        "batch 8",
        "frames/s",
        "peak RSS",
        "speed-up",
        "tracking",
    ):
        assert name in text
    assert f"{report['fps_1_thread']:.1f}" in text


def test_bad_size_is_refused():
    from fer_core.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--size", "640by480"])
    assert build_parser().parse_args(["bench", "--size", "320x240"]).size == (320, 240)
