"""fer_core.measure.live_page: the page readers the browser tests and the load test time the live page with.

A small page with the markup of Streamlit's metric (``stMetric`` / ``stMetricValue``) and a "Frames processed"
counter that a script moves on, in a real Chromium.
"""

from __future__ import annotations

import time

import pytest

from fer_core.measure.live_page import frames_processed, settled_frames

COUNTER_PAGE = """
<div data-testid="stMetric">
  <label>Frames processed</label><div data-testid="stMetricValue" id="value">{start}</div>
</div>
<script>
  let value = {start}, ticks = 0;
  const timer = setInterval(() => {{
    value += 7; ticks += 1;
    document.getElementById("value").textContent = String(value);
    if ({ticks} > 0 && ticks >= {ticks}) clearInterval(timer);
  }}, {every_ms});
</script>
"""

pytestmark = pytest.mark.browser


def _counter(launch, *, start: int, ticks: int, every_ms: int):
    page = launch()
    page.set_content(COUNTER_PAGE.format(start=start, ticks=ticks, every_ms=every_ms))
    return page


def test_settled_frames_waits_for_a_lagging_counter_to_catch_up(launch):
    # The counter still moves on after a stream stopped (the page refreshes it every second): the value to count
    # the next stream's frames from is where it comes to rest, not the stale one shown first.
    page = _counter(launch, start=40, ticks=5, every_ms=400)
    assert frames_processed(page) < 75, "the page should still be catching up when it is first read"
    assert settled_frames(page, steady_s=1.0, timeout_s=10.0) == 40 + 5 * 7
    assert frames_processed(page) == 75


def test_settled_frames_gives_the_last_value_when_the_counter_never_rests(launch):
    page = _counter(launch, start=0, ticks=0, every_ms=200)
    started = time.monotonic()
    value = settled_frames(page, steady_s=1.0, timeout_s=2.0)
    assert time.monotonic() - started < 4.0, "settled_frames should give up after timeout_s"
    assert value > 0 and value % 7 == 0


def test_frames_processed_is_zero_before_the_counter_is_shown(launch):
    page = launch()
    page.set_content("<p>Loading the model...</p>")
    assert frames_processed(page) == 0
    assert settled_frames(page, steady_s=0.5, timeout_s=2.0) == 0
