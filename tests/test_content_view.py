"""Tests for fer_core.sessions.content_view: the content panel's HTML, the accent CSS and content for a single photo."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from fer_core.labels import EMOTIONS
from fer_core.mood.content import ContentDecision, ContentItem, ContentPolicy, default_catalog_path, load_catalog
from fer_core.mood.tracker import MoodState
from fer_core.recognition.results import FaceResult
from fer_core.sessions.content_view import accent_css, decision_for_face, image_data_uri, render_panel


@pytest.fixture(scope="module")
def policy() -> ContentPolicy:
    return ContentPolicy(load_catalog(default_catalog_path()), max_items=3)


def face(emotion: str, p: float = 0.8) -> FaceResult:
    rest = (1 - p) / (len(EMOTIONS) - 1)
    return FaceResult((10, 10, 50, 50), tuple(p if name == emotion else rest for name in EMOTIONS))


def test_panel_shows_every_chosen_item_with_its_local_image(policy):
    decision = policy.choose(MoodState(mood="sad", since_s=5, smoothed={"sad": 0.7}, confidence=0.7))
    html = render_panel(decision, heading="sad")
    assert 'data-mood="sad"' in html and f"--fer-accent:{decision.accent}" in html
    assert html.count('class="fer-card ') == len(decision.items) > 0
    for item in decision.items:
        assert f'data-item="{item.id}"' in html
        if item.image is not None:
            encoded = base64.b64encode(item.image.read_bytes()).decode()
            assert f"data:image/svg+xml;base64,{encoded}" in html
    assert "http://" not in html and "https://" not in html.replace("http://www.w3.org", ""), "nothing remote"
    assert "\n" not in html, "one line, so Markdown cannot turn indented parts into code blocks"


def test_panel_escapes_catalog_text():
    item = ContentItem("x<1>", "<b>Bold</b> & co", "<script>alert(1)</script>", ("happy",), kind="ad")
    html = render_panel(ContentDecision([item], "#123456", "reason <i>", mood="happy"))
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;Bold&lt;/b&gt; &amp; co" in html
    assert "Sponsored" in html, "ads are labelled as such"


def test_no_mood_panel_and_a_bad_accent_fall_back_to_grey():
    html = render_panel(ContentDecision([], "red; } body { display:none", "no steady mood yet", mood=None))
    assert 'data-mood="none"' in html and "display:none" not in html
    css = accent_css("javascript:alert(1)")
    assert "javascript" not in css and "--fer-accent:#8a94a6" in css


def test_accent_css_sets_the_colour():
    css = accent_css("#d98e04")
    assert css.startswith("<style>") and css.endswith("</style>")
    assert re.search(r"--fer-accent:#d98e04", css)


def test_content_for_a_photo_follows_its_main_face(policy):
    decision = decision_for_face(policy, face("surprise", 0.83))
    assert decision.mood == "surprise"
    assert decision.accent == policy.catalog.accent("surprise")
    assert decision.reason == f"this photo looks surprise (83%): showing {policy.catalog.strategy('surprise')}"
    assert decision.items and all("surprise" in item.moods for item in decision.items)


def test_image_data_uri_refuses_unknown_or_missing_files(tmp_path):
    assert image_data_uri(tmp_path / "missing.svg") is None
    script = tmp_path / "evil.html"
    script.write_text("<script></script>")
    assert image_data_uri(script) is None
    svg = tmp_path / "dot.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    assert image_data_uri(Path(svg)).startswith("data:image/svg+xml;base64,")
