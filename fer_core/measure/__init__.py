"""Measuring tools: how fast and how well the pipeline works, as commands that print numbers.

It owns the benchmark behind ``python -m fer_core bench`` (``bench``), the naive baseline it compares against
(``baseline``), the synthetic sample frames both use (``sample_frames``), the detector, tracking and stream-view
evaluations (``detector_eval``, ``tracking_eval``, ``stream_views_eval``; labelled photo folders: ``photo_sets``),
what per-person calibration does to the mood (``calibration_check``),
timing summaries (``timing``) and the live page's load test (``loadtest``, with the headless-Chromium, app-server,
page-driver and .y4m helpers it shares with the browser tests: ``browser``, ``live_page``, ``y4m``). The app never
imports this wing.
"""
