"""Home page: what the app does, how good the shipped model measurably is, where to go next."""

from __future__ import annotations

import streamlit as st

from fer_core.sessions.app_support import APP_TITLE, PRIVACY_NOTE, model_card, require_recognizer, setup_page
from fer_core.sessions.model_card import format_percent, views_label

setup_page("Home", "🙂")

st.title(f"{APP_TITLE}: facial emotion, on your machine")
st.markdown(
    "Mood Lens finds faces in a photo or in your webcam's live video, reads one of seven emotions on each "
    "(**angry, disgust, fear, happy, sad, surprise, neutral**) with a small neural network trained on "
    "FER2013, and adapts what it recommends to your mood once that mood has been steady for a moment."
)

require_recognizer()

card, card_message = model_card()
if card is not None:
    tta = f" ({views_label(card.views)})" if card.views != "none" else ""
    st.subheader("Measured accuracy")
    cols = st.columns(3)
    cols[0].metric(f"{card.split} accuracy", format_percent(card.accuracy))
    cols[1].metric(f"{card.split} macro-F1", format_percent(card.macro_f1))
    private = card.split_metrics(card.split)
    cols[2].metric("Test faces", f"{private['count']:,}" if private and "count" in private else "n/a")
    st.caption(
        f"Measured on the held-out FER2013 {card.split} split{tta}, which played no part in training or "
        "model selection. Human agreement on FER2013 is about 65%. Details on the Model page."
    )
else:
    st.info(f"Model accuracy: not evaluated yet. {card_message}", icon="ℹ️")

st.subheader("Try it")
PAGE_LINKS = [
    ("app_pages/1_Upload_photo.py", "Upload a photo", "🖼️",
     "Boxes, emotion probabilities per face and picks for the photo's mood."),
    ("app_pages/2_Live_webcam.py", "Live webcam", "🎥",
     "Real-time overlay, a smoothed mood, a one-minute mood timeline and mood-adaptive content."),
    ("app_pages/3_Model.py", "The model", "📊",
     "Per-class metrics, confusion matrix, training curves and mistakes it makes."),
    ("app_pages/4_Reactions.py", "Reactions", "📋",
     "How this session reacted to each content item, compared side by side, and the session export."),
    ("app_pages/5_Video_file.py", "Video file", "🎞️",
     "The mood over a short video: timeline, valence and arousal, segments, annotated frames, CSV."),
]  # fmt: skip
for row in range(0, len(PAGE_LINKS), 3):
    for column, (page, label, icon, caption) in zip(st.columns(3), PAGE_LINKS[row : row + 3], strict=False):
        with column, st.container(border=True):
            st.page_link(page, label=label, icon=icon)
            st.caption(caption)

st.info(PRIVACY_NOTE, icon="🔒")
st.caption(
    "Limits: FER2013 faces are frontal, 48x48 grayscale and labelled by crowd workers; expect mistakes on "
    "profile views, strong lighting and subtle expressions. Emotions are read from faces only and are a guess, "
    "not a fact about how anyone feels."
)
