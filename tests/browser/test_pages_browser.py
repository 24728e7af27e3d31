"""Home and model pages in a real browser: navigation works, the model card is shown, README screenshots."""

from __future__ import annotations

import pytest

from fer_core.sessions.model_card import format_percent, load_model_card

from .app_driver import metric_text, open_page, screenshot_full
from .paths import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_home_links_to_every_page_and_the_model_page_shows_the_card(server, launch):
    page = launch()
    open_page(page, server.url, "", "Mood Lens: facial emotion, on your machine")
    card = load_model_card()
    if card is not None:
        # the page renders incrementally: wait for the metric before reading it
        page.get_by_test_id("stMetric").filter(has_text="PrivateTest accuracy").first.wait_for(timeout=30_000)
        assert metric_text(page, "PrivateTest accuracy") == format_percent(card.accuracy)
    else:
        page.get_by_text("not evaluated yet", exact=False).first.wait_for()
    page.get_by_text("never stored or sent anywhere", exact=False).first.wait_for()
    assert page.get_by_test_id("stException").count() == 0

    main = page.get_by_test_id("stMain")
    for label, title in (("Upload a photo", "Upload a photo"), ("Live webcam", "Live webcam")):
        main.get_by_role("link", name=label).first.click()
        page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
        page.go_back()
        page.get_by_role("heading", name="Mood Lens: facial emotion, on your machine").first.wait_for()

    main.get_by_role("link", name="The model").first.click()
    page.get_by_role("heading", name="The model").first.wait_for(timeout=60_000)
    if card is not None:
        page.get_by_test_id("stMetric").filter(has_text="Accuracy").first.wait_for(timeout=30_000)
        assert metric_text(page, "Accuracy") == format_percent(card.accuracy)
        # runtimes x views, per class, and with real-photo sets their table plus one confusion matrix per set and
        # one table per grouping of its faces (evaluate_photos --group-by)
        photo_sets = len(card.real_photo_sets())
        groupings = sum(len(card.real_photo_groups(name)) for name in card.real_photo_sets())
        tables = 2 + (1 + photo_sets + groupings if photo_sets else 0)
        page.get_by_test_id("stDataFrame").nth(min(tables, 3) - 1).wait_for(timeout=30_000)  # the rest are folded
        assert page.get_by_test_id("stDataFrame").count() == tables
        if photo_sets:
            assert page.get_by_test_id("stExpander").filter(has_text="Confusion matrix: kdef").count() >= 1
            by_person = page.get_by_test_id("stExpander").filter(has_text="Accuracy by group of faces: kdef, by person")
            assert by_person.count() == groupings
        page.get_by_test_id("stImage").nth(len(card.reports()) - 1).wait_for(timeout=30_000)
        assert page.get_by_test_id("stImage").count() == len(card.reports())
    else:
        page.get_by_text("Not evaluated yet", exact=False).first.wait_for()
    assert page.get_by_test_id("stException").count() == 0
    page.wait_for_timeout(1500)  # let the images and tables finish drawing
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    screenshot_full(page, SCREENSHOTS / "model.png")
