"""Streamlit glue shared by the app's pages: cached model and catalog loading, page setup, error display.

This is the only ``fer_core`` module that imports Streamlit; everything it shows is computed by the pure modules
(the other modules of :mod:`fer_core.sessions`).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import streamlit as st

from fer_core.mood.content import CatalogError, ContentPolicy, default_catalog_path, load_catalog
from fer_core.recognition.classifier import ClassifierConfig, ModelLoadError, default_model_path
from fer_core.recognition.recognizer import EmotionRecognizer, RecognizerConfig
from fer_core.sessions.content_view import PANEL_CSS, accent_css
from fer_core.sessions.model_card import ModelCard, ModelCardError, load_model_card

logger = logging.getLogger(__name__)

APP_TITLE = "Mood Lens"
PRIVACY_NOTE = (
    "Privacy: photos and webcam frames are processed in memory on this machine and are never stored or sent anywhere."
)


def keep_keras_session() -> None:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after every script and fragment run.

    Streamlit 1.67 does this (``script_runner._clean_problem_modules``) in case a script builds Keras models; this
    app only loads one, once, in a cached resource. The call holds the GIL for about a quarter of a second, and the
    live page reruns two fragments a second per user, so with two webcams streaming the video threads starved and
    WebRTC connections failed. matplotlib figures are still closed as Streamlit does. Idempotent.
    """
    from streamlit.runtime.scriptrunner import script_runner

    if hasattr(script_runner._clean_problem_modules, "streamlit_original"):
        return  # already replaced

    def clean_matplotlib_only() -> None:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            try:
                pyplot.close("all")
            except Exception:  # as in Streamlit: never fail a rerun over figure cleanup
                logger.debug("matplotlib cleanup failed", exc_info=True)

    clean_matplotlib_only.streamlit_original = script_runner._clean_problem_modules  # type: ignore[attr-defined]
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
def _load_recognizer(model_path: str, flip_tta: bool) -> EmotionRecognizer:
    config = RecognizerConfig(classifier=ClassifierConfig(flip_tta=flip_tta))
    return EmotionRecognizer(Path(model_path), config)


def require_recognizer() -> EmotionRecognizer:
    """The shared recognizer (loaded once per process); on a missing/corrupt model show one error and stop.

    Uses flip test-time augmentation when the model card's headline numbers were measured with it, so the app
    behaves as the numbers it shows. Failed loads are not cached: fixing the file and reloading the page works.
    """
    card, _ = model_card()
    flip = card.flip_tta if card is not None else False
    try:
        return _load_recognizer(str(default_model_path()), flip)
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
