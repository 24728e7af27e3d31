"""The upload page in a real browser: a real face photo gives results; a non-image gives a clear error."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from .app_driver import open_page, screenshot_full
from .faces import astronaut_rgb
from .paths import ARTIFACTS, SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _astronaut_png(folder: Path) -> Path:
    path = folder / "astronaut.png"
    buffer = io.BytesIO()
    Image.fromarray(astronaut_rgb()).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


def _wait_for_results(page) -> None:
    page.get_by_test_id("stImage").locator("img").first.wait_for(timeout=60_000)
    page.locator("div.fer-panel").first.wait_for(timeout=30_000)


def test_upload_face_then_non_image(server, launch, tmp_path):
    page = launch()
    open_page(page, server.url, "Upload_photo", "Upload a photo")
    dropzone = page.get_by_test_id("stFileUploaderDropzoneInput")

    dropzone.set_input_files(str(_astronaut_png(tmp_path)))
    _wait_for_results(page)
    assert page.get_by_test_id("stProgress").count() >= 7, "one probability bar per emotion"
    caption = page.get_by_test_id("stImageCaption").first.inner_text()
    assert "1 face found" in caption
    mood = page.locator("div.fer-panel").first.get_attribute("data-mood")
    assert mood in {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    heading = page.get_by_test_id("stMarkdownContainer").filter(has_text="Main face:").first.inner_text()
    assert mood in heading, "the panel follows the main face's emotion"
    assert page.locator("div.fer-card").count() >= 1
    assert page.get_by_test_id("stException").count() == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    screenshot_full(page, SCREENSHOTS / "upload.png")

    fake = tmp_path / "holiday.png"
    fake.write_text("this is a text file, not a picture\n")
    dropzone.set_input_files(str(fake))
    error = page.get_by_test_id("stAlertContentError").first
    error.wait_for(timeout=30_000)
    assert "holiday.png" in error.inner_text()
    assert page.get_by_test_id("stException").count() == 0, "a clear message, never a traceback"
    assert page.locator("div.fer-panel").count() == 0
    screenshot_full(page, ARTIFACTS / "upload_error.png")

    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    dropzone.set_input_files(str(text_file))
    page.get_by_text("not allowed", exact=False).first.wait_for(timeout=15_000)

    dropzone.set_input_files(str(_astronaut_png(tmp_path)))
    _wait_for_results(page)
    assert page.get_by_test_id("stAlertContentError").count() == 0, "the page works again after the error"
