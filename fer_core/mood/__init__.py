"""Mood and content: what the app does with a stream of face readings.

It owns turning per-frame probabilities into a steady mood (``tracker``: smoothing, dwell, staleness), keeping
the recent history for the timeline chart (``timeline``), and the content catalog with the policy that picks
what to show for a mood (``content``, with its rules and cool-down in ``content_rules``). The analytics: valence
and arousal (``affect``), per-person calibration (``calibration``; measured by
``fer_core.measure.calibration_check``), the per-frame record they share (``readings``), reactions per content
item (``reactions``), the session export (``session_export``) and the opt-in local event feed (``events``). Plain
Python and NumPy (SciPy for one statistic): no TensorFlow, no Streamlit, so it is cheap to import and to test.
"""
