"""Mood and content: what the app does with a stream of face readings.

It owns turning per-frame probabilities into a steady mood (``tracker``: smoothing, dwell, staleness), keeping
the recent history for the timeline chart (``timeline``), and the content catalog with the policy that picks
what to show for a mood (``content``). Plain Python and NumPy: no TensorFlow, no Streamlit, so it is cheap to
import and to test.
"""
