"""Video file page: upload a short video; it is analysed in memory (mood over time, valence and arousal, mood
segments, a few annotated frames, the CSV of ``python -m fer_core video``). Logic: fer_core.sessions.video_upload.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fer_core.sessions.analytics_view import video_timeline_chart
from fer_core.sessions.app_support import PRIVACY_NOTE, require_recognizer, setup_page
from fer_core.sessions.video_upload import VIDEO_TYPES, VideoLimits, VideoUploadError, analyze_video_upload

LIMITS = VideoLimits()
RESULT_KEY = "video_analysis"

setup_page("Video file", "🎞️")
st.title("Analyse a video file")
recognizer = require_recognizer()

uploaded = st.file_uploader(
    "A short video with faces (mp4, webm or mov)",
    type=list(VIDEO_TYPES),
    help=f"Up to {LIMITS.max_bytes // (1024 * 1024)} MB and {LIMITS.max_duration_s:.0f} s; "
    f"{LIMITS.sample_fps:.0f} frames per second are analysed.",
)
st.caption(f"{PRIVACY_NOTE} The video is decoded in memory and forgotten with your session.")
if uploaded is None:
    st.session_state.pop(RESULT_KEY, None)
    st.stop()

cached = st.session_state.get(RESULT_KEY)
if cached is not None and cached[0] == uploaded.file_id:
    analysis = cached[1]
else:
    bar = st.progress(0.0, text=f"Analysing {uploaded.name}…")
    try:
        analysis = analyze_video_upload(
            uploaded.getvalue(),
            uploaded.name,
            recognizer,
            limits=LIMITS,
            progress=lambda done: bar.progress(done, text=f"Analysing {uploaded.name}… {done:.0%}"),
        )
    except VideoUploadError as error:
        bar.empty()
        st.error(str(error), icon="❌")
        st.stop()
    bar.empty()
    st.session_state[RESULT_KEY] = (uploaded.file_id, analysis)

cols = st.columns(3)
cols[0].metric("Duration", f"{analysis.duration_s:.1f} s")
cols[1].metric("Frames analysed", f"{len(analysis.rows)}")
cols[2].metric("With a face", f"{analysis.frames_with_faces}")
if not analysis.frames_with_faces:
    st.info("No face was found in this video.", icon="🔍")

st.subheader("Mood over time")
st.altair_chart(video_timeline_chart(analysis.chart_columns()), width="stretch")

st.subheader("Mood segments")
st.dataframe(
    pd.DataFrame(
        [
            {"mood": segment.mood or "no steady mood", "from (s)": segment.start_s, "to (s)": segment.end_s,
             "seconds": segment.seconds}
            for segment in analysis.segments
        ]
    ),
    hide_index=True,
)  # fmt: skip

if analysis.annotated:
    st.subheader("Annotated frames")
    columns = st.columns(len(analysis.annotated))
    for column, (t, image) in zip(columns, analysis.annotated, strict=True):
        column.image(image, caption=f"at {t:.1f} s")

stem = analysis.name.rsplit(".", 1)[0] or "video"
st.download_button(
    "Download CSV", analysis.csv_bytes(), f"{stem}-emotions.csv", "text/csv", key="video_csv", on_click="ignore"
)
st.caption(
    "One row per face per analysed frame: the columns of `python -m fer_core video`, valence and arousal included."
)
