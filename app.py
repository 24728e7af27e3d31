"""Mood Lens, a local facial-emotion app. Run with ``streamlit run app.py``.

This entry point only declares the pages (each a thin script in ``app_pages/``); the logic is in ``fer_core``.
The folder is deliberately not called ``pages/``: Streamlit would also auto-register its files as a second,
legacy page list, which shows up as a stray "app" entry in the sidebar once the live page reruns.
"""

from __future__ import annotations

import streamlit as st

from fer_core.sessions.app_support import import_webrtc_crypto_first, keep_keras_session, quiet_tensorflow_logs
from fer_core.sessions.upload import keep_uploads_in_memory

# First, before anything imports TensorFlow (none of the imports above does; the first page loads the model):
# TensorFlow's logs off, and WebRTC's crypto (pylibsrtp) imported, which crashes the server if it comes after
# TensorFlow. Then the patches of Streamlit and Starlette, each a clear RuntimeError if an upgrade made it miss.
quiet_tensorflow_logs()
import_webrtc_crypto_first()
keep_keras_session()
keep_uploads_in_memory()

PAGES = [
    st.Page("app_pages/0_Home.py", title="Home", icon="🏠", url_path="home", default=True),
    st.Page("app_pages/1_Upload_photo.py", title="Upload photo", icon="🖼️"),
    st.Page("app_pages/2_Live_webcam.py", title="Live webcam", icon="🎥"),
    st.Page("app_pages/3_Model.py", title="Model", icon="📊"),
    st.Page("app_pages/4_Reactions.py", title="Reactions", icon="📋"),
    st.Page("app_pages/5_Video_file.py", title="Video file", icon="🎞️"),
]

st.navigation(PAGES).run()
