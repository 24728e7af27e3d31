"""fer_core.sessions.app_support: the Streamlit runtime tweaks the app applies at start-up."""

from __future__ import annotations

import sys
from pathlib import Path

import tomllib
from streamlit.runtime.scriptrunner import script_runner

from fer_core.sessions.app_support import keep_keras_session

REPO = Path(__file__).resolve().parent.parent


def test_keras_session_survives_streamlit_cleanup_but_figures_are_still_closed(monkeypatch):
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cleared = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: cleared.append(True))
    # Start from Streamlit's own cleanup even if an earlier test in this process already ran the app.
    current = script_runner._clean_problem_modules
    monkeypatch.setattr(script_runner, "_clean_problem_modules", getattr(current, "streamlit_original", current))
    script_runner._clean_problem_modules()
    assert cleared, "Streamlit's own cleanup should call keras.backend.clear_session (else this test is moot)"

    cleared.clear()
    keep_keras_session()
    keep_keras_session()  # idempotent
    plt.figure()
    script_runner._clean_problem_modules()
    assert not cleared
    assert plt.get_fignums() == []
    assert "keras" in sys.modules


def test_config_turns_off_the_full_gc_after_every_run():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
