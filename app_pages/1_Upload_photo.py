"""Upload page: read the emotions on every face in a photo and show picks for the main face's mood."""

from __future__ import annotations

import streamlit as st

from fer_core.recognition.image_io import ImageLimits
from fer_core.sessions.app_support import PRIVACY_NOTE, apply_accent, content_policy, require_recognizer, setup_page
from fer_core.sessions.content_view import decision_for_face, render_panel
from fer_core.sessions.upload import analyze_upload, describe_affect

LIMITS = ImageLimits()
FILE_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif"]

setup_page("Upload a photo", "🖼️")
st.title("Upload a photo")
recognizer = require_recognizer()
policy = content_policy()

uploaded = st.file_uploader(
    "A photo with one or more faces (JPEG, PNG, WebP, BMP or GIF)",
    type=FILE_TYPES,
    help=f"Up to {LIMITS.max_bytes // (1024 * 1024)} MB and {LIMITS.max_pixels / 1e6:.0f} megapixels.",
)
st.caption(PRIVACY_NOTE)
if uploaded is None:
    st.stop()

with st.spinner("Reading faces…"):
    analysis = analyze_upload(uploaded.getvalue(), uploaded.name, recognizer, limits=LIMITS)

if analysis.error is not None:
    st.error(analysis.error, icon="❌")
    st.stop()

if not analysis.faces:
    st.info(
        "No face found in this photo. Try one where a face is turned towards the camera, well lit and not too "
        "small (at least about a tenth of the picture's height).",
        icon="🔍",
    )
    st.image(analysis.image, caption=analysis.name, width=480)
    st.stop()

dominant = analysis.faces[0]  # the largest face
decision = decision_for_face(policy, dominant) if policy is not None else None
if decision is not None:
    apply_accent(decision.accent)

left, right = st.columns([3, 2], gap="large")
with left:
    count = len(analysis.faces)
    st.image(analysis.annotated, caption=f"{analysis.name}: {count} face{'s' if count > 1 else ''} found")
with right:
    for index, face in enumerate(analysis.faces, start=1):
        with st.container(border=True):
            label = "main face" if index == 1 else f"face {index}"
            st.markdown(f"**{label.capitalize()}: {face.emotion}** ({face.confidence:.0%})")
            st.caption(
                describe_affect(face),
                help="Valence: unpleasant -1 .. +1 pleasant; arousal: calm -1 .. +1 "
                "activated (Russell's circumplex; see the README's Mood analytics).",
            )
            ranked = sorted(face.probability_map.items(), key=lambda item: item[1], reverse=True)
            for name, probability in ranked:
                st.progress(min(1.0, max(0.0, probability)), text=f"{name} {probability:.0%}")

if decision is not None:
    st.subheader("Picked for this mood")
    st.markdown(render_panel(decision, heading=dominant.emotion), unsafe_allow_html=True)
