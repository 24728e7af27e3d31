"""Model page: the measured quality of the shipped model, from models/model_card.json and models/reports/."""

from __future__ import annotations

import streamlit as st

from fer_core.sessions.app_support import model_card, require_recognizer, setup_page
from fer_core.sessions.model_card import REPORT_TITLES, RUNTIME_NAMES, format_percent, live_reading_note, views_label

setup_page("Model", "📊")
st.title("The model")
recognizer = require_recognizer()

card, message = model_card()
if card is None:
    st.info(f"Not evaluated yet. {message}", icon="ℹ️")
    st.caption(f"Loaded model: {recognizer.model_path.name}")
    st.stop()

st.markdown(
    f"Numbers for **{card.details().get('model_file', recognizer.model_path.name)}** on FER2013's held-out "
    f"**{card.split}** split (its {RUNTIME_NAMES.get(card.runtime, card.runtime)}, {views_label(card.views)}, as "
    "the app reads photos). The checkpoint was chosen on PublicTest; PrivateTest was used for this report only."
)
running = recognizer.classifier.runtime
if running != card.runtime:
    st.warning(
        f"The app is running the {RUNTIME_NAMES.get(running, running)}, not the "
        f"{RUNTIME_NAMES.get(card.runtime, card.runtime)} these numbers were measured on: "
        "re-run `python -m training.quantize` (see README.md).",
        icon="⚠️",
    )
photo_views = recognizer.classifier.config.views_name
if photo_views != card.views:
    st.warning(
        f"The app reads photos with {views_label(photo_views)}, not the {views_label(card.views)} these numbers "
        "were measured with: re-run `python -m training.evaluate` (see README.md).",
        icon="⚠️",
    )
if card.members:
    live = live_reading_note(recognizer.classifier.config)
    st.markdown(
        f"Photos are read by an **ensemble**: the model's probabilities averaged with {', '.join(card.members)}'s. "
        + live
    )
app_members = [path.name for path in recognizer.classifier.member_paths]
if app_members != card.members:
    st.warning(
        f"The app averages {', '.join(app_members) or 'no further model'}, not the ensemble these numbers were "
        f"measured with ({', '.join(card.members) or 'the model alone'}): re-run `python -m training.evaluate`.",
        icon="⚠️",
    )
cols = st.columns(3)
cols[0].metric("Accuracy", format_percent(card.accuracy))
cols[1].metric("Macro-F1", format_percent(card.macro_f1))
details = card.details()
cols[2].metric("Parameters", f"{details['params']:,}" if isinstance(details.get("params"), int) else "n/a")

st.subheader("Both runtimes, each test-time view set")
summary = card.summary_rows()
if summary:
    st.dataframe(
        summary,
        hide_index=True,
        column_config={
            "accuracy": st.column_config.NumberColumn(format="percent"),
            "macro-F1": st.column_config.NumberColumn(format="percent"),
        },
    )

st.subheader(f"Per class ({card.split})")
per_class = card.per_class_rows()
if per_class:
    st.dataframe(
        per_class,
        hide_index=True,
        column_config={
            name: st.column_config.ProgressColumn(name, format="percent", min_value=0.0, max_value=1.0)
            for name in ("precision", "recall", "F1")
        },
    )

photo_rows = card.real_photo_rows()
if photo_rows:
    st.subheader("Real photos (the whole pipeline: detection, crop, classifier)")
    st.caption(
        "Each set is scored by `python -m training.evaluate_photos`: the largest face of each photo; a photo "
        "where no face is found counts as wrong. Recall per emotion shows which expressions the model misses."
    )
    st.dataframe(
        photo_rows,
        hide_index=True,
        column_config={
            name: st.column_config.NumberColumn(format="percent")
            for name in ("accuracy", "macro-F1", *card.data.get("classes", []))
        },
    )
    for name in card.real_photo_sets():
        with st.expander(f"Confusion matrix: {name} (rows: true emotion)"):
            st.dataframe(card.real_photo_confusion(name))
        for grouping, rows in card.real_photo_groups(name).items():
            with st.expander(f"Accuracy by group of faces: {name}, by {grouping} (least reliable first)"):
                st.caption(
                    "From a column of the set's labels.csv (`--group-by`; `:N` keeps its first N characters). "
                    "With few photos a group, one photo moves its accuracy a lot: read the spread, not one group."
                )
                st.dataframe(
                    rows,
                    hide_index=True,
                    column_config={"accuracy": st.column_config.NumberColumn(format="percent")},
                )

reports = card.reports()
if reports:
    st.subheader("Reports")
    for name in ("confusion_matrix", "training_curves", "misclassified"):
        if name in reports:
            st.image(str(reports[name]), caption=REPORT_TITLES.get(name, name))
else:
    st.caption("No report figures found under models/reports/.")

recipe = card.recipe()
if recipe:
    st.subheader("How it was trained")
    st.caption("From random weights, on this project's code, on CPU; each later command starts from the one before.")
    st.code("\n".join(recipe), language="bash")

facts = [f"{key.replace('_', ' ')}: {value}" for key, value in details.items() if key != "params"]
if facts:
    st.caption(" · ".join(facts))
