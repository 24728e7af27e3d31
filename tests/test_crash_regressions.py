"""Process-killing crashes found while testing reliability, each checked in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from reliability_support import model_path_for_tests

REPO = Path(__file__).resolve().parent.parent

SRTP_ROUND_TRIP = """
from pylibsrtp import Policy, Session

key = bytes(range(30))
sender = Session(policy=Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
receiver = Session(policy=Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND))
packet = bytes.fromhex("8008000000000000000000aa") + b"frame" * 20
assert receiver.unprotect(sender.protect(packet)) == packet
print("srtp ok")
"""

ONE_FACE = """
from fer_core.measure.sample_frames import one_face_frame

faces = recognizer.analyze(one_face_frame().image)
assert len(faces) == 1, faces
print("faces", len(faces))
"""

WEBRTC_MODULES = ("pylibsrtp", "aiortc", "streamlit_webrtc")

TENSORFLOW_FIRST = (
    textwrap.dedent(
        """
        import sys
        import tensorflow as tf  # a user's program that imports TensorFlow before fer_core

        from fer_core import EmotionRecognizer

        recognizer = EmotionRecognizer()
        """
    )
    + ONE_FACE
    + textwrap.dedent(
        """
        assert "pylibsrtp" not in sys.modules, "fer_core imported WebRTC's crypto"
        from fer_core.sessions.app_support import import_webrtc_crypto_first

        try:
            import_webrtc_crypto_first()  # too late: a clear error, not the segfault importing pylibsrtp would be
        except RuntimeError as error:
            assert "TensorFlow was imported before pylibsrtp" in str(error), error
            print("refused")
        assert "pylibsrtp" not in sys.modules
        """
    )
)

LIBRARY_ONLY = (
    textwrap.dedent(
        """
        import sys

        from fer_core import EmotionRecognizer
        import fer_core.cli, fer_core.measure.bench, fer_core.sessions.live, fer_core.sessions.upload  # noqa: F401

        recognizer = EmotionRecognizer()
        """
    )
    + ONE_FACE
    + textwrap.dedent(
        """
        print("webrtc modules:", sorted(name for name in sys.modules if name.split(".")[0] in {modules!r}))
        """
    ).format(modules=set(WEBRTC_MODULES))
)

APP_PATH = (
    textwrap.dedent(
        """
    import runpy, sys, types

    import streamlit as st

    st.navigation = lambda pages, **kwargs: types.SimpleNamespace(run=lambda: None)  # the pages run below
    runpy.run_path("app.py", run_name="__main__")  # what `streamlit run app.py` runs first, in every session
    assert "pylibsrtp" in sys.modules and "tensorflow" not in sys.modules, "app.py must import pylibsrtp first"

    from fer_core.recognition.classifier import EmotionClassifier

    EmotionClassifier(sys.argv[1])  # what the Home and Upload pages do first: TensorFlow gets imported
    import streamlit_webrtc  # what the Live page does next (aiortc -> pylibsrtp)
    """
    )
    + SRTP_ROUND_TRIP
)


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_tensorflow_imported_before_fer_core_does_not_crash_the_recognizer():
    """``import tensorflow; EmotionRecognizer()`` segfaulted (exit -11) in pylibsrtp, which the library imported
    on purpose before TensorFlow; fer_core no longer imports WebRTC's crypto, and the app's helper refuses clearly."""
    result = run_python(TENSORFLOW_FIRST)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert "faces 1" in result.stdout and "refused" in result.stdout


def test_the_inference_library_never_imports_webrtc():
    result = run_python(LIBRARY_ONLY)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert "faces 1" in result.stdout
    assert "webrtc modules: []" in result.stdout, result.stdout


def test_opening_the_live_page_after_a_model_was_loaded_does_not_kill_the_server(tmp_path):
    """pylibsrtp segfaulted (exit -11) when imported after TensorFlow: Home or Upload, then Live, killed the app.
    app.py imports it first (app_support.import_webrtc_crypto_first), before any page can load the model."""
    model = model_path_for_tests(tmp_path)
    result = run_python(APP_PATH, str(model))
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert "srtp ok" in result.stdout


def test_this_test_session_imported_pylibsrtp_before_tensorflow():
    """AppTest runs the live page inside the pytest process: if TensorFlow came first (test modules import Keras at
    collection), the first live-page test would segfault the whole run. tests/conftest.py imports pylibsrtp first."""
    import sys

    import tensorflow  # noqa: F401 - make sure both are loaded, in whatever order the session already has

    order = list(sys.modules)
    assert "pylibsrtp" in order, "tests/conftest.py no longer imports pylibsrtp before the test modules"
    assert order.index("pylibsrtp") < order.index("tensorflow")
