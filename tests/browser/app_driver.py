"""The page driver moved to :mod:`fer_core.measure.live_page` (the load test drives the live page too)."""

from fer_core.measure.live_page import (
    WEBRTC_IFRAME,
    LiveFigures,
    click_start,
    click_stop,
    frames_processed,
    live_figures,
    metric_text,
    open_page,
    panel_mood,
    screenshot_full,
    start_stream,
    wait_for_frames,
    wait_for_mood,
    webrtc_button,
)

__all__ = [
    "WEBRTC_IFRAME",
    "LiveFigures",
    "click_start",
    "click_stop",
    "frames_processed",
    "live_figures",
    "metric_text",
    "open_page",
    "panel_mood",
    "screenshot_full",
    "start_stream",
    "wait_for_frames",
    "wait_for_mood",
    "webrtc_button",
]
