"""Privacy of the processing itself, enforced with strace: analysing uploads and live frames writes no file and
sends nothing off this machine.

A fresh interpreter, traced with ``strace -f`` (every thread and child; the syscalls that create or open a file
for writing, and connect/sendto/sendmsg), loads the model, analyses uploaded photos (good and bad) with the
upload page's handler and streams webcam frames through the live page's processor. The trace must show no file
opened for writing outside a short allow-list of tool caches (none of which receives image data) and no network
destination other than this machine. A positive control (the script writes one file and opens one UDP "flow" to
a documentation address) proves the trace would show it.

The same check on the running Streamlit app, driven by a real browser, is in
``tests/browser/test_privacy_browser.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from conftest import require_tool
from reliability_support import TraceReport, model_path_for_tests, strace_available, strace_command

REPO = Path(__file__).resolve().parent.parent
HOME = Path.home()
TEMPFILE_PROBE = re.compile(re.escape(tempfile.gettempdir()) + r"/[a-z0-9_]{8}")
"""Python's tempfile checks once that the temp folder is writable: it writes b"blat" to a random 8-character name
and deletes it (TensorFlow's absl triggers it on import)."""


@pytest.fixture(scope="module", autouse=True)
def strace_is_installed() -> None:
    """Skip without strace; under CI=true fail instead (conftest.require_tool)."""
    require_tool("strace", strace_available(), "apt-get install strace (and a kernel that lets it trace)")


WORKLOAD = textwrap.dedent(
    """
    import socket, sys
    from fractions import Fraction
    sys.path.insert(0, "tests")
    import av
    from bad_input_corpus import build_corpus
    from fer_core.sessions.live import LiveProcessor
    from fer_core.recognition.recognizer import EmotionRecognizer
    from fer_core.measure.sample_frames import sample_frames
    from fer_core.sessions.upload import analyze_upload

    recognizer = EmotionRecognizer(sys.argv[1])
    results = [analyze_upload(case.data, case.name, recognizer) for case in build_corpus()]
    processor = LiveProcessor(recognizer)
    frames = [f.image[:, :, ::-1].copy() for f in sample_frames()]
    for index in range(60):
        frame = av.VideoFrame.from_ndarray(frames[index % len(frames)], format="bgr24")
        frame.pts, frame.time_base = index * 6000, Fraction(1, 90000)
        processor(frame)
    stats = processor.stats()
    print(f"uploads={len(results)} ok={sum(r.ok for r in results)} frames={stats.frames_processed}")
    # Positive controls: what a leak would look like in the trace.
    with open(sys.argv[2], "wb") as leak:
        leak.write(b"pretend frame")
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.sendto(b"x", ("192.0.2.7", 9))  # TEST-NET-1: reserved for documentation, goes nowhere
    probe.close()
    """
)


def allowed_write(path: str) -> bool:
    """Files a Python/TensorFlow process may write that never hold image data."""
    return (
        path in ("/dev/null", "/dev/tty")
        or path.startswith(("/proc/", "/sys/", "/dev/shm/sem."))  # multiprocessing semaphores live in shared memory
        or path.endswith((".pyc", ".pyc.tmp"))
        or "/__pycache__/" in path  # bytecode caches
        or path.startswith(str(HOME / ".keras"))  # Keras writes its default keras.json once
        or path.startswith(str(HOME / ".cache" / "matplotlib"))  # font cache
        or path.startswith(str(HOME / ".config" / "matplotlib"))
        or TEMPFILE_PROBE.fullmatch(path) is not None
    )


def test_processing_writes_no_file_and_sends_nothing_off_this_machine(tmp_path):
    model = model_path_for_tests(tmp_path)
    log = tmp_path / "trace.log"
    control = tmp_path / "control-leak.bin"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [*strace_command(log), sys.executable, "-c", WORKLOAD, str(model), str(control)]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "uploads=" in result.stdout and "frames=60" in result.stdout, result.stdout

    report = TraceReport(log.read_text(errors="replace"))
    # The positive controls show up, so the trace sees writes and sends.
    assert any(path == str(control) for path, _ in report.written), "the trace missed the control write"
    assert "192.0.2.7" in report.non_local_destinations(), "the trace missed the control packet"

    leaks = [(path, how) for path, how in report.written_outside(allowed_write) if path != str(control)]
    assert leaks == [], f"files opened for writing while processing images: {leaks}"
    assert report.tmpfiles == [], f"unnamed temporary files created in: {report.tmpfiles}"
    assert [a for a in report.non_local_destinations() if a != "192.0.2.7"] == []
