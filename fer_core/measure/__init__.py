"""Measuring tools: how fast and how well the pipeline works, as commands that print numbers.

It owns the benchmark behind ``python -m fer_core bench`` (``bench``), the naive baseline it compares against
(``baseline``), the synthetic sample frames both use (``sample_frames``), the detector and tracking evaluations
(``detector_eval``, ``tracking_eval``) and timing summaries (``timing``). The app never imports this wing.
"""
