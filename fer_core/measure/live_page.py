"""Small helpers that drive the app's pages through Playwright (sync API).

With the sync API, browser events are processed only while Python is inside a Playwright call, so every wait
here is ``page.wait_for_timeout`` (never ``time.sleep``).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Collection
from dataclasses import dataclass

WEBRTC_IFRAME = "iframe[title='streamlit_webrtc.component.webrtc_streamer']"
CONSENT_BUTTON = "I agree: start the camera analysis"
"""The live page's consent button (:data:`fer_core.sessions.analytics_view.CONSENT_BUTTON`)."""


def open_page(page, base_url: str, path: str, title: str) -> None:
    """Go to ``base_url/path`` and wait until the page's title is shown (first render loads the model)."""
    page.goto(f"{base_url}/{path}", wait_until="domcontentloaded")
    page.get_by_role("heading", name=title).first.wait_for(timeout=90_000)


def metric_text(page, label: str) -> str | None:
    metric = page.get_by_test_id("stMetric").filter(has_text=label).first
    if metric.count() == 0:
        return None
    return metric.get_by_test_id("stMetricValue").inner_text(timeout=5_000).strip()


def frames_processed(page) -> int:
    """The page's "Frames processed" counter (0 before it is shown)."""
    text = metric_text(page, "Frames processed")
    return int(text) if text and text.isdigit() else 0


def webrtc_button(page, name: str):
    """The component's START/STOP button (its label's case differs between versions)."""
    pattern = re.compile(rf"^\s*{re.escape(name)}\s*$", re.IGNORECASE)
    return page.frame_locator(WEBRTC_IFRAME).get_by_role("button", name=pattern)


def give_consent(page, timeout_ms: int = 120_000) -> bool:
    """Click the live page's consent button if it is shown (once per browser session); ``True`` if clicked."""
    consent = page.get_by_role("button", name=CONSENT_BUTTON)
    consent.or_(page.locator(WEBRTC_IFRAME)).first.wait_for(timeout=timeout_ms)
    if consent.count() == 0:
        return False
    consent.click()
    page.locator(WEBRTC_IFRAME).first.wait_for(timeout=timeout_ms)
    return True


def click_start(page) -> None:
    # Generous: on the first visit the page shows the component only once the model has loaded.
    give_consent(page)
    webrtc_button(page, "Start").click(timeout=120_000)


def click_stop(page, *, attempts: int = 3, wait_s: float = 15.0) -> int:
    """Press STOP until the component shows START again; return how many extra presses it needed.

    On a loaded machine a press can land while the component re-renders and be lost: STOP is pressed again if it is
    still shown after ``wait_s``. Raises ``AssertionError`` naming the buttons shown if START never comes back.
    """
    from playwright.sync_api import Error as PlaywrightError

    stop, start = webrtc_button(page, "Stop"), webrtc_button(page, "Start")
    for attempt in range(attempts):
        if stop.count():
            with contextlib.suppress(PlaywrightError):  # re-rendered while pressed: the loop looks again
                stop.first.click(timeout=5_000)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if start.count():
                return attempt
            page.wait_for_timeout(250)
    shown = page.frame_locator(WEBRTC_IFRAME).get_by_role("button").all_inner_texts()
    raise AssertionError(f"START did not come back after {attempts} presses of STOP; buttons shown: {shown}")


def wait_for_frames(page, more_than: int, timeout_s: float) -> int | None:
    """Poll the counter until it exceeds ``more_than``; return it, or ``None`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        count = frames_processed(page)
        if count > more_than:
            return count
        page.wait_for_timeout(250)
    return None


def settled_frames(page, steady_s: float = 1.5, timeout_s: float = 10.0) -> int:
    """The "Frames processed" counter once it has stayed the same for ``steady_s`` (longer than the page's one
    second refresh), or its last value after ``timeout_s``.

    Right after a stream stops, the counter shown can still lag behind the frames the server processed: counting
    new frames from that stale value would credit the last stream's frames to the next one.
    """
    value, since = frames_processed(page), time.monotonic()
    deadline = since + timeout_s
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        current = frames_processed(page)
        if current != value:
            value, since = current, time.monotonic()
        elif time.monotonic() - since >= steady_s:
            break
    return value


def start_stream(
    page,
    *,
    first_frame_timeout_s: float = 15.0,
    max_retries: int = 3,
    timings: list[float] | None = None,
    min_frames: int = 1,
) -> int:
    """Click START until ``min_frames`` processed frames arrive; return how many retries (Stop, Start) it needed.

    ``timings`` (if given) gets the seconds from the successful click to the ``min_frames``-th processed frame on
    the page (the page refreshes its counter every second). Raises ``AssertionError`` if the frames do not arrive
    within ``first_frame_timeout_s`` after ``max_retries`` retries.
    """
    before = settled_frames(page)
    click_start(page)
    for retry in range(max_retries + 1):
        clicked = time.monotonic()
        if wait_for_frames(page, before + min_frames - 1, first_frame_timeout_s) is not None:
            if timings is not None:
                timings.append(round(time.monotonic() - clicked, 2))
            return retry
        if retry == max_retries:
            break
        # The known streamlit-webrtc start-up flake: the stream never delivers. Stop (if shown) and start again.
        if webrtc_button(page, "Stop").count():
            click_stop(page)
        before = settled_frames(page)
        click_start(page)
    raise AssertionError(f"fewer than {min_frames} processed frame(s) after {max_retries} retries of START")


def panel_mood(page) -> str | None:
    """The ``data-mood`` of the content panel (``"none"`` without a steady mood), or ``None`` if absent."""
    panel = page.locator("div.fer-panel").first
    if panel.count() == 0:
        return None
    return panel.get_attribute("data-mood")


def wait_for_mood(page, mood: str | Collection[str], timeout_s: float) -> str | None:
    """Wait until the content panel is for ``mood`` (or one of several); return that mood, ``None`` on timeout."""
    wanted = {mood} if isinstance(mood, str) else set(mood)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        current = panel_mood(page)
        if current in wanted:
            return current
        page.wait_for_timeout(250)
    return None


@dataclass(frozen=True)
class LiveFigures:
    """Speed figures shown in the live page's caption."""

    process_ms: float | None
    process_ms_p95: float | None
    lag_ms: float | None
    lag_ms_p95: float | None
    skipped: int | None


def live_figures(page) -> LiveFigures:
    """Parse the caption ``Analysis 23 ms/frame (p95 41 ms) · overlay lag 40 ms (p95 80 ms) · 0 skipped``."""
    caption = page.get_by_test_id("stCaptionContainer").filter(has_text="overlay lag").first
    text = caption.inner_text(timeout=5_000) if caption.count() else ""

    def number(pattern: str) -> float | None:
        match = re.search(pattern, text)
        return float(match.group(1)) if match else None

    skipped = number(r"(\d+) skipped")
    return LiveFigures(
        process_ms=number(r"Analysis (\d+(?:\.\d+)?) ms/frame"),
        process_ms_p95=number(r"ms/frame \(p95 (\d+(?:\.\d+)?) ms\)"),
        lag_ms=number(r"overlay lag (\d+(?:\.\d+)?) ms"),
        lag_ms_p95=number(r"overlay lag \d+(?:\.\d+)? ms \(p95 (\d+(?:\.\d+)?) ms\)"),
        skipped=None if skipped is None else int(skipped),
    )


def screenshot_full(page, path, *, width: int | None = None) -> None:
    """Screenshot the whole app: Streamlit scrolls inside its main block, so grow the viewport to fit it first."""
    size = page.viewport_size or {"width": 1400, "height": 1000}
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]'); return m ? m.scrollHeight : 0 }"
    )
    page.set_viewport_size({"width": width or size["width"], "height": max(size["height"], int(height) + 40)})
    page.wait_for_timeout(800)
    # Streamlit greys out elements while a (fragment) rerun is in flight: wait for a moment without any.
    deadline = time.monotonic() + 10
    while page.locator("[data-stale='true']").count() and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


# --- on-device processing (fer_core.sessions.on_device) --------------------------------------------------------------
ON_DEVICE_COMPONENT = "fer_core.sessions.on_device.component.mood_lens_on_device"
ON_DEVICE_IFRAME = f"iframe[title='{ON_DEVICE_COMPONENT}']"


def on_device_frame(page, timeout_s: float = 60.0):
    """The on-device component's frame (to evaluate ``window.__moodLensStats`` in), once it is on the page."""
    page.locator(ON_DEVICE_IFRAME).first.wait_for(timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for frame in page.frames:
            if "mood_lens_on_device" in frame.url:
                return frame
        page.wait_for_timeout(200)
    raise AssertionError("the on-device component's frame did not load")


def start_on_device(page, timeout_s: float = 120.0) -> float:
    """Consent, wait for the component's runtimes, press its Start; return the seconds the runtimes took to load.

    Raises ``AssertionError`` with the component's own message when it cannot start (e.g. not built)."""
    consent = page.get_by_role("button", name=CONSENT_BUTTON)
    consent.or_(page.locator(ON_DEVICE_IFRAME)).first.wait_for(timeout=timeout_s * 1000)
    if consent.count():
        consent.click()
    frame = on_device_frame(page, timeout_s)
    started = time.monotonic()
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        stats = frame.evaluate("() => window.__moodLensStats || null")
        if stats and stats.get("error"):
            raise AssertionError(f"the on-device component says: {stats['error']}")
        if stats and stats.get("ready"):
            break
        page.wait_for_timeout(250)
    else:
        raise AssertionError(f"the on-device runtimes did not load in {timeout_s:.0f} s")
    loaded = time.monotonic() - started
    page.frame_locator(ON_DEVICE_IFRAME).get_by_role("button", name="Start").click()
    return loaded


def on_device_stats(page) -> dict:
    """``window.__moodLensStats`` of the component: frames processed, fps, the last faces, batches sent."""
    return on_device_frame(page).evaluate("() => window.__moodLensStats")
