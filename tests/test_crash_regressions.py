"""Process-killing crashes found while testing reliability, each checked in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from reliability_support import model_path_for_tests

REPO = Path(__file__).resolve().parent.parent

LIVE_AFTER_MODEL = textwrap.dedent(
    """
    import sys
    from fer_core.recognition.classifier import EmotionClassifier

    EmotionClassifier(sys.argv[1])  # what the Home and Upload pages do first: TensorFlow gets imported
    import streamlit_webrtc  # what the Live page does next (aiortc -> pylibsrtp)
    from pylibsrtp import Policy, Session

    key = bytes(range(30))
    sender = Session(policy=Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    receiver = Session(policy=Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND))
    packet = bytes.fromhex("8008000000000000000000aa") + b"frame" * 20
    assert receiver.unprotect(sender.protect(packet)) == packet
    print("srtp ok")
    """
)


def test_opening_the_live_page_after_a_model_was_loaded_does_not_kill_the_server(tmp_path):
    """pylibsrtp segfaulted (exit -11) when imported after TensorFlow: Home or Upload, then Live, killed the app."""
    model = model_path_for_tests(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", LIVE_AFTER_MODEL, str(model)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
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
