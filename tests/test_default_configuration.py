"""One default configuration: the library, the command line and the app read the same photo the same way."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data
from streamlit.testing.v1 import AppTest

from fer_core import EmotionRecognizer
from fer_core.labels import EMOTIONS
from fer_core.recognition.classifier import ClassifierConfig

REPO = Path(__file__).resolve().parents[1]


def test_library_cli_and_upload_page_give_the_same_probabilities(tmp_path):
    photo = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    library = EmotionRecognizer().analyze(data.astronaut())[0].probabilities

    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "fer_core", "predict", str(photo), "--json"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    cli = json.loads(result.stdout)[0]["faces"][0]["probabilities"]
    np.testing.assert_allclose([cli[name] for name in EMOTIONS], library, atol=1e-4)

    page = AppTest.from_file(str(REPO / "app_pages" / "1_Upload_photo.py"), default_timeout=120).run()
    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="PNG")
    page = page.file_uploader[0].set_value(("astronaut.png", buffer.getvalue(), "image/png")).run()
    assert not page.exception and not page.error
    shown = {bar.proto.text.split()[0]: bar.value / 100 for bar in page.get("progress")}  # whole percents
    np.testing.assert_allclose([shown[name] for name in EMOTIONS], library, atol=0.011)


def test_the_default_configuration_is_the_one_the_card_headlines():
    card = json.loads((REPO / "models" / "model_card.json").read_text())
    default = ClassifierConfig()
    assert (card["headline"]["views"], card["headline"]["runtime"]) == (default.views, "int8")
    assert card["inference"]["stream_views"] == default.stream_views
    assert default.prior_correction == 0.0 and card["headline"].get("prior_correction", 0.0) == 0.0
