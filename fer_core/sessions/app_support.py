"""Streamlit glue shared by the app's pages: cached model and catalog loading, page setup, error display.

This is the only ``fer_core`` module that imports Streamlit; everything it shows is computed by the pure modules
(the other modules of :mod:`fer_core.sessions`). It also holds what only the app process needs, which ``app.py``
calls first: :func:`quiet_tensorflow_logs`, :func:`import_webrtc_crypto_first` and :func:`keep_keras_session`.
Importing it does not import TensorFlow (the model is loaded on first use).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import streamlit as st

from fer_core.mood.content import CatalogError, ContentPolicy, default_catalog_path, load_catalog
from fer_core.recognition.classifier import ModelLoadError, default_model_path
from fer_core.recognition.recognizer import EmotionRecognizer, RecognizerConfig
from fer_core.sessions.code_names import class_code_names
from fer_core.sessions.content_view import PANEL_CSS, accent_css
from fer_core.sessions.model_card import ModelCard, ModelCardError, load_model_card

logger = logging.getLogger(__name__)

APP_TITLE = "Mood Lens"
PRIVACY_NOTE = (
    "Privacy: photos and webcam frames are processed in memory on this machine and are never stored or sent anywhere."
)


APP_TENSORFLOW_ENVIRONMENT: dict[str, str] = {"TF_CPP_MIN_LOG_LEVEL": "3"}
"""Set (unless already set) by :func:`quiet_tensorflow_logs`: TensorFlow's C++ logging off. Python errors, such
as a model that cannot be loaded, still raise and are shown; ``TF_CPP_MIN_LOG_LEVEL=0`` brings the logs back."""

_NATIVE_INFO_LINE = re.compile(
    rb"^(?:WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|I\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.-]+:\d+\] "  # an absl INFO line (oneDNN, CUDA stub, CPU features)
    rb"|To enable the following instructions: .* rebuild TensorFlow"  # the second line of the CPU-features one
    rb"|INFO: (?:Created|Initialized) TensorFlow Lite)"  # TensorFlow Lite's own INFO lines (XNNPACK delegate)
)
"""The INFO lines native TensorFlow code writes straight to file descriptor 2 however its log level is set (absl
prints everything logged before ``absl::InitializeLog()``, and that is every line TensorFlow logs while it loads)."""

_stderr_filter_lock = threading.Lock()
_stderr_filter_users = 0
_stderr_filter_restore: Any = None


def quiet_tensorflow_logs() -> None:
    """Set :data:`APP_TENSORFLOW_ENVIRONMENT` unless the environment already says otherwise.

    Call before TensorFlow is imported (``app.py`` does, first): TensorFlow reads it once, when it loads. Only
    the log level changes; the numerics (oneDNN, threads) stay as the library runs them everywhere else.
    """
    for name, value in APP_TENSORFLOW_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def _install_stderr_filter() -> Any:
    """Point file descriptor 2 at a pipe whose reader forwards every line but :data:`_NATIVE_INFO_LINE` ones."""
    sys.stderr.flush()
    original = os.dup(2)
    forward = os.dup(original)  # the reader's own copy, closed by the reader at the end of the pipe
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        dropped = 0
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if _NATIVE_INFO_LINE.match(line):
                    dropped += 1
                    continue
                with contextlib.suppress(OSError):
                    os.write(forward, line)
        os.close(forward)
        logger.debug("dropped %d native INFO lines from TensorFlow", dropped)

    reader = threading.Thread(target=pump, name="native-stderr-filter", daemon=True)
    reader.start()

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(original, 2)  # closes the pipe's last write end (unless a child process inherited one)
        os.close(original)
        reader.join(timeout=5.0)

    return restore


@contextlib.contextmanager
def native_info_logs_dropped() -> Iterator[None]:
    """While the block runs, drop TensorFlow's native INFO lines from this process's stderr; all else passes.

    TensorFlow (absl) and TensorFlow Lite write them straight to file descriptor 2 while they load, ignoring
    ``TF_CPP_MIN_LOG_LEVEL``, so file descriptor 2 goes through a pipe for the duration; every other line,
    from any thread (Streamlit's own log included), is passed on as it arrives. Nests and works across threads.
    Does nothing when ``TF_CPP_MIN_LOG_LEVEL`` is unset or 0, that is when TensorFlow's INFO lines are wanted.
    """
    global _stderr_filter_users, _stderr_filter_restore
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip() in ("", "0"):
        yield
        return
    with _stderr_filter_lock:
        if _stderr_filter_users == 0:
            _stderr_filter_restore = _install_stderr_filter()
        _stderr_filter_users += 1
    try:
        yield
    finally:
        with _stderr_filter_lock:
            _stderr_filter_users -= 1
            if _stderr_filter_users == 0:
                _stderr_filter_restore()
                _stderr_filter_restore = None


def import_webrtc_crypto_first() -> bool:
    """Import pylibsrtp (WebRTC's SRTP, used by the live page through streamlit-webrtc and aiortc) now.

    Imported after TensorFlow, pylibsrtp segfaults in ``srtp_init()`` (its bundled crypto clashes with
    TensorFlow's), which would kill the app server when someone opens the live page after a model was loaded.
    Only the app needs WebRTC, so ``app.py`` calls this before anything imports TensorFlow; ``fer_core``'s
    inference code never imports pylibsrtp. Returns whether pylibsrtp is installed (without it the live page
    cannot stream, but nothing crashes). Raises ``RuntimeError`` rather than crash the process if TensorFlow
    was imported first. Regression tests: ``tests/test_crash_regressions.py``.
    """
    if "pylibsrtp" in sys.modules:
        return True
    if importlib.util.find_spec("pylibsrtp") is None:
        logger.warning(
            "pylibsrtp is not installed: the live webcam page cannot stream (pip install -r requirements.txt)"
        )
        return False
    if "tensorflow" in sys.modules:
        raise RuntimeError(
            "TensorFlow was imported before pylibsrtp (WebRTC's SRTP): importing pylibsrtp now would crash the "
            "process. Call fer_core.sessions.app_support.import_webrtc_crypto_first() before anything imports "
            "TensorFlow (app.py does it first)."
        )
    import pylibsrtp  # noqa: F401

    return True


def _streamlit_cleanup_hook() -> Any:
    """Streamlit's per-run cleanup function, after checking the script runner still calls it by that name."""
    from streamlit.runtime.scriptrunner import script_runner

    target = "streamlit.runtime.scriptrunner.script_runner._clean_problem_modules"
    cleanup = getattr(script_runner, "_clean_problem_modules", None)
    runner = getattr(script_runner, "ScriptRunner", None)
    called = isinstance(runner, type) and "_clean_problem_modules" in class_code_names(runner)  # parses nothing
    if not callable(cleanup) or not called:
        raise RuntimeError(
            f"Streamlit {st.__version__} changed: expected {target}, a function ScriptRunner calls after every "
            f"script run (it calls keras.backend.clear_session(), as in Streamlit 1.67), but it is "
            f"{'not called any more' if callable(cleanup) else 'gone'}. "
            "fer_core.sessions.app_support.keep_keras_session cannot stop that call: update it for this "
            "Streamlit version, or install the version in requirements.txt."
        )
    return cleanup


def keep_keras_session() -> None:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after every script and fragment run.

    Streamlit 1.67 does this (``script_runner._clean_problem_modules``) in case a script builds Keras models; this
    app only loads one, once, in a cached resource. The call holds the GIL for about a quarter of a second, and the
    live page reruns two fragments a second per user, so with two webcams streaming the video threads starved and
    WebRTC connections failed. matplotlib figures are still closed as Streamlit does. Idempotent.

    Raises ``RuntimeError`` naming the Streamlit version when that function is gone or no longer called (an
    upgrade), instead of silently patching nothing.
    """
    from streamlit.runtime.scriptrunner import script_runner

    if hasattr(getattr(script_runner, "_clean_problem_modules", None), "streamlit_original"):
        return  # already replaced (app.py calls this on every rerun)
    original = _streamlit_cleanup_hook()

    def clean_matplotlib_only() -> None:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            try:
                pyplot.close("all")
            except Exception:  # as in Streamlit: never fail a rerun over figure cleanup
                logger.debug("matplotlib cleanup failed", exc_info=True)

    clean_matplotlib_only.streamlit_original = original  # type: ignore[attr-defined]
    script_runner._clean_problem_modules = clean_matplotlib_only
    logger.debug("disabled Streamlit's per-run keras.backend.clear_session()")


def setup_page(title: str, icon: str) -> None:
    """``st.set_page_config`` plus the content panel's CSS; call first on every page."""
    st.set_page_config(page_title=f"{title} · {APP_TITLE}", page_icon=icon, layout="wide")
    st.markdown(PANEL_CSS, unsafe_allow_html=True)


def apply_accent(accent: str) -> None:
    """Tint the page with the mood's accent colour."""
    st.markdown(accent_css(accent), unsafe_allow_html=True)


def model_card() -> tuple[ModelCard | None, str | None]:
    """The model card and ``None``, or ``None`` and a message saying why there is none."""
    try:
        card = load_model_card()
    except ModelCardError as error:
        return None, str(error)
    if card is None:
        return None, "Run `python -m training.evaluate` to measure the model (it writes models/model_card.json)."
    return card, None


@st.cache_resource(show_spinner="Loading the emotion model…")
def _load_recognizer(model_path: str) -> EmotionRecognizer:
    config = RecognizerConfig()  # the one default configuration: the library's, the CLI's, the card's headline
    with native_info_logs_dropped():  # TensorFlow is imported here, and prints its start-up banner
        return EmotionRecognizer(Path(model_path), config)


def require_recognizer() -> EmotionRecognizer:
    """The shared recognizer (loaded once per process); on a missing/corrupt model show one error and stop.

    It runs the default configuration (``RecognizerConfig()``), the one the model card headlines; the Model page
    warns when the card was measured otherwise. Failed loads are not cached: fixing the file and reloading the
    page works.
    """
    try:
        return _load_recognizer(str(default_model_path()))
    except ModelLoadError as error:
        logger.error("model load failed: %s", error)
        st.error(str(error), icon="❌")
        st.stop()
        raise  # unreachable: st.stop() raises


@st.cache_resource(show_spinner=False)
def _load_policy(path: str, max_items: int) -> ContentPolicy:
    return ContentPolicy(load_catalog(path), max_items=max_items)


def content_policy(max_items: int = 3) -> ContentPolicy | None:
    """The content policy over the shipped catalog, or ``None`` after showing a warning if it is invalid."""
    try:
        return _load_policy(str(default_catalog_path()), max_items)
    except CatalogError as error:
        st.warning(f"Content suggestions are off: {error}", icon="⚠️")
        return None


def secrets_or_none() -> Any:
    """``st.secrets`` when a secrets file exists, else ``None`` (reading missing secrets raises in Streamlit)."""
    try:
        secrets = st.secrets
        _ = list(secrets.keys())
    except Exception:  # no secrets.toml (FileNotFoundError / StreamlitSecretNotFoundError)
        return None
    return secrets
