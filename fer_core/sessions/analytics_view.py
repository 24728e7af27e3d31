"""The Streamlit side of the mood analytics (consent, export, calibration, pretend mood, reactions); the logic is in
:mod:`fer_core.sessions.live_analytics`.

- :func:`consent_gate`: the notice of what the live page analyses, and the one-click agreement (remembered in
  ``st.session_state`` for the session) without which the camera player is not shown.
- :func:`session_analytics`: this browser session's :class:`~fer_core.sessions.live_analytics.LiveAnalytics`,
  publishing to the one opt-in :class:`~fer_core.mood.events.EventFeed` of the server process.
- :func:`export_panel`, :func:`calibration_panel`, :func:`pretend_controls`, :func:`reactions_view`,
  :func:`circumplex_chart`, :func:`timeline_chart`: the pieces the pages place.
"""

from __future__ import annotations

import copy
import functools
import logging
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from fer_core.labels import EMOTIONS
from fer_core.mood.affect import affect_of_state
from fer_core.mood.content import ContentPolicy
from fer_core.mood.events import EventFeed, EventFeedConfig
from fer_core.mood.tracker import MoodState
from fer_core.recognition.drawing import EMOTION_COLORS_RGB
from fer_core.sessions.live_analytics import LiveAnalytics, affect_columns, circumplex_anchors

logger = logging.getLogger(__name__)

CONSENT_KEY = "live_consent"
ANALYTICS_KEY = "live_analytics"
PRETEND_KEY = "pretend_mood_on"
CONSENT_BUTTON = "I agree: start the camera analysis"
CONSENT_NOTICE = (
    "**What this page analyses.** When you press START, your webcam video is sent to this server and each frame's "
    "faces are analysed in memory: where the faces are, and an estimate of seven emotions (angry, disgust, fear, "
    "happy, sad, surprise, neutral) with the valence and arousal derived from them. **Nothing is stored**: no "
    "frame or image is saved or sent anywhere; the per-second mood numbers of this session stay in this server's "
    "memory for your browser session only, for the Reactions view and the export you may download.\n\n"
    "**The law.** In the EU, emotion recognition is prohibited in workplaces and education institutions "
    "(AI Act, art. 5(1)(f), except for medical or safety reasons), and everyone exposed to an emotion recognition "
    "system must be told about it (art. 50(3)): do not use this page on employees, pupils or students, and tell "
    "anyone who appears on the camera."
)
CONSENT_GIVEN_NOTE = (
    "You agreed to the camera analysis for this session. Frames are analysed in memory and never stored; "
    "emotion recognition is barred in EU workplaces and schools (AI Act art. 5(1)(f)) and people on camera must be "
    "told (art. 50(3))."
)


# --- consent ---------------------------------------------------------------------------------------------------------
def consent_given() -> bool:
    return bool(st.session_state.get(CONSENT_KEY))


def _agree() -> None:
    st.session_state[CONSENT_KEY] = True
    logger.info("live page: consent given for this session")


def consent_gate() -> bool:
    """Show the notice; ``True`` once this session agreed (one click), else the agreement button."""
    if consent_given():
        with st.expander("What is analysed, and your rights", expanded=False):
            st.markdown(CONSENT_NOTICE)
        st.caption(CONSENT_GIVEN_NOTE)
        return True
    st.info(CONSENT_NOTICE, icon="🔒")
    st.button(CONSENT_BUTTON, key="live_consent_button", type="primary", on_click=_agree)
    st.caption("The camera player appears after you agree. The pretend mood in the sidebar needs no camera.")
    return False


# --- the per-session analytics --------------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _shared_feed(url: str | None, jsonl_path: str | None) -> EventFeed:
    feed = EventFeed(EventFeedConfig(url=url, jsonl_path=jsonl_path))
    if feed.enabled:
        logger.info("mood event feed on (%s)", url or jsonl_path)
    return feed


def shared_event_feed() -> EventFeed | None:
    """The server's event feed when ``FER_EVENTS_URL``/``FER_EVENTS_FILE`` turn it on, else ``None``."""
    try:
        config = EventFeedConfig.from_env()
    except ValueError as error:
        st.warning(f"The event feed is off: {error}", icon="⚠️")
        return None
    if not config.enabled:
        return None
    return _shared_feed(config.url, config.jsonl_path)


def session_analytics(policy: ContentPolicy | None) -> LiveAnalytics:
    """This browser session's analytics (created on first use, kept in ``st.session_state``)."""
    analytics: LiveAnalytics | None = st.session_state.get(ANALYTICS_KEY)
    if analytics is None:
        feed = shared_event_feed()
        titles = {item.id: item.title for item in policy.catalog.items} if policy is not None else {}
        analytics = LiveAnalytics(publish=feed.publish if feed is not None else None, titles=titles)
        st.session_state[ANALYTICS_KEY] = analytics
        logger.info("live analytics for session %s", analytics.session_id)
    return analytics


# --- charts ---------------------------------------------------------------------------------------------------------
def circumplex_chart(state: MoodState, size: int = 230) -> dict[str, Any]:
    """The [-1, 1]² valence/arousal plane with the seven emotions' points and this mood's dot (if a face is read),
    as a Vega-Lite spec for ``st.vega_lite_chart``. The plane is built (and validated) once; each refresh only
    adds the dot, which keeps the live page's once-a-second panel cheap for the server."""
    spec = copy.deepcopy(_circumplex_plane(size))
    point = affect_of_state(state)
    if point is not None:
        scale = {"domain": [-1, 1]}
        spec["layer"].append(
            {
                "data": {"values": [{"valence": float(point.valence), "arousal": float(point.arousal)}]},
                "mark": {"type": "circle", "size": 220, "color": "#e4572e"},
                "encoding": {
                    "x": {"field": "valence", "type": "quantitative", "scale": scale},
                    "y": {"field": "arousal", "type": "quantitative", "scale": scale},
                },
            }
        )
    return spec


@functools.lru_cache(maxsize=4)
def _circumplex_plane(size: int) -> dict[str, Any]:
    """The chart without the dot: axes through 0 and the emotions' points and labels (a Vega-Lite dict)."""
    scale = alt.Scale(domain=[-1, 1])
    base = alt.Chart(alt.Data(values=circumplex_anchors())).encode(
        x=alt.X("valence:Q", scale=scale, title="valence"), y=alt.Y("arousal:Q", scale=scale, title="arousal")
    )
    zero = alt.Data(values=[{"zero": 0.0}])
    layers: list[Any] = [
        alt.Chart(zero).mark_rule(opacity=0.3).encode(x="zero:Q"),
        alt.Chart(zero).mark_rule(opacity=0.3).encode(y="zero:Q"),
        base.mark_point(opacity=0.4, size=30),
        # fear sits just below angry: its label goes under its point
        base.transform_filter(alt.datum.emotion != "fear")
        .mark_text(dy=-9, fontSize=10, opacity=0.7)
        .encode(text="emotion:N"),
        base.transform_filter(alt.datum.emotion == "fear")
        .mark_text(dy=10, fontSize=10, opacity=0.7)
        .encode(text="emotion:N"),
    ]
    spec = alt.layer(*layers).properties(width=size, height=size).to_dict()
    spec.pop("$schema", None)
    spec.pop("config", None)
    return spec


def timeline_chart(columns: dict[str, list[float | None]], window_s: float) -> dict[str, Any]:
    """The smoothed probabilities over the last ``window_s`` seconds (:meth:`MoodTimeline.chart_columns`), with
    valence and arousal on their own [-1, 1] axis, as a Vega-Lite spec for ``st.vega_lite_chart``. The encodings
    are built (and validated) once per window; each refresh only fills in the rows."""
    spec = copy.deepcopy(_timeline_layout(window_s))
    seconds = columns["seconds"]
    spec["layer"][0]["data"] = {
        "values": [
            {"seconds": t, "emotion": name, "probability": columns[name][row]}
            for name in EMOTIONS
            for row, t in enumerate(seconds)
        ]
    }
    affect = affect_columns(columns)
    spec["layer"][1]["data"] = {
        "values": [
            {"seconds": t, "measure": measure, "value": affect[measure][row]}
            for measure in ("valence", "arousal")
            for row, t in enumerate(seconds)
            if affect[measure][row] is not None
        ]
    }
    return spec


@functools.lru_cache(maxsize=4)
def _timeline_layout(window_s: float) -> dict[str, Any]:
    """The timeline's two layers (emotion lines; dashed valence and arousal) without their rows."""
    colours = ["#{:02x}{:02x}{:02x}".format(*EMOTION_COLORS_RGB[name]) for name in EMOTIONS]
    x = alt.X("seconds:Q", title="seconds ago", scale=alt.Scale(domain=[-window_s, 0]))
    emotions = (
        alt.Chart(alt.Data(values=[]))
        .mark_line(interpolate="monotone")
        .encode(
            x=x,
            y=alt.Y("probability:Q", title="smoothed probability", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("emotion:N", sort=list(EMOTIONS), scale=alt.Scale(domain=list(EMOTIONS), range=colours)),
        )
    )
    affect = (
        alt.Chart(alt.Data(values=[]))
        .mark_line(strokeDash=[6, 3], strokeWidth=2.5)
        .encode(
            x=x,
            y=alt.Y("value:Q", title="valence / arousal", scale=alt.Scale(domain=[-1, 1])),
            strokeDash=alt.StrokeDash("measure:N", title="affect", legend=alt.Legend(orient="top")),
            color=alt.value("#333333"),
        )
    )
    chart = alt.layer(emotions, affect).resolve_scale(y="independent", color="independent").properties(height=220)
    spec = chart.to_dict()
    spec.pop("$schema", None)
    spec.pop("config", None)
    return spec


# --- export, calibration, pretend -----------------------------------------------------------------------------------
@st.fragment
def export_panel(analytics: LiveAnalytics) -> None:
    """ "Export session": the per-second rows and per-item reactions as CSV and JSON, built in memory."""
    st.subheader("Export session")
    if not st.button("Export session", key="export_prepare", help="Builds the files from this session so far."):
        st.caption("Per second: smoothed probabilities, valence, arousal, faces, mood, item on screen; per item: "
                   "its reactions. Built in memory; nothing is written on the server.")  # fmt: skip
        return
    export = analytics.export()
    if not export.seconds:
        st.info("Nothing recorded yet: start the camera (or the pretend mood) first.")
        return
    stem = f"mood-session-{export.session_id}"
    left, right = st.columns(2)
    left.download_button(
        "Download CSV (per second)", export.seconds_csv(), f"{stem}-seconds.csv", "text/csv",
        key="export_csv", on_click="ignore",
    )  # fmt: skip
    right.download_button(
        "Download JSON (seconds + items)", export.to_json(), f"{stem}.json", "application/json",
        key="export_json", on_click="ignore",
    )  # fmt: skip
    if export.items:
        st.download_button(
            "Download CSV (per item)", export.items_csv(), f"{stem}-items.csv", "text/csv",
            key="export_items_csv", on_click="ignore",
        )  # fmt: skip
    st.caption(f"{len(export.seconds)} seconds, {len(export.items)} items · session {export.session_id}")


def clear_panel(analytics: LiveAnalytics) -> None:
    """ "Clear this session's data": forgets the per-second log and the reactions (kept in memory only) now,
    rather than when the browser session ends."""
    if st.button(
        "Clear this session's data",
        key="clear_session_data",
        help="Forgets the recorded seconds and reactions of this browser session now. The calibration stays.",
    ):
        analytics.reset()
        st.success("Cleared: this session's recorded seconds and reactions are gone from the server's memory.")


def calibration_panel(analytics: LiveAnalytics, *, streaming: bool) -> None:
    """The calibration button and its status (call inside the refreshing status fragment)."""
    status = analytics.calibration_status()
    if st.button(
        "Calibrate: look neutral for 3 seconds",
        key="calibrate",
        disabled=not streaming,
        help="Records your resting face and reads your expressions relative to it. Needs the camera running.",
    ):
        analytics.start_calibration()
        status = analytics.calibration_status()
    if status.state == "recording":
        st.progress(status.progress, text=status.message)
    elif status.state != "idle":
        st.caption(status.message)


def pretend_controls(*, streaming: bool) -> str | None:
    """Sidebar: the pretend-mood switch and emotion; returns the emotion to pretend, or ``None``."""
    st.subheader("Pretend mood")
    on = st.toggle(
        "Pretend mood (no camera)",
        key=PRETEND_KEY,
        disabled=streaming,
        help="Drives the mood, the content and the reactions with synthetic readings, for demos and for testing "
        "the catalog. Off while the camera streams.",
    )
    emotion = st.selectbox("Pretend emotion", EMOTIONS, index=EMOTIONS.index("happy"), key="pretend_emotion")
    return emotion if on and not streaming else None


# --- reactions ------------------------------------------------------------------------------------------------------
_TABLE_COLUMNS = {
    "title": "item", "seconds_on_screen": "seconds on screen", "attention": "attention share",
    "mean_valence": "mean valence", "peak_valence": "peak valence", "mood_mix": "mood mix", "lift": "lift",
    "times_shown": "times shown", "samples": "samples",
}  # fmt: skip


def reactions_view(analytics: LiveAnalytics) -> None:
    """The per-item table and chart, and the two-item comparison."""
    rows = analytics.reaction_rows()
    if not rows:
        st.info(
            "No reactions yet: open the **Live webcam** page and start the camera (or switch on the pretend mood "
            "in its sidebar); every content item shown is recorded here.",
            icon="📋",
        )
        return
    table = pd.DataFrame(rows)
    st.dataframe(
        table[list(_TABLE_COLUMNS)].rename(columns=_TABLE_COLUMNS),
        hide_index=True,
        column_config={
            "attention share": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent"),
            "seconds on screen": st.column_config.NumberColumn(format="%.1f"),
            "mean valence": st.column_config.NumberColumn(format="%+.2f"),
            "peak valence": st.column_config.NumberColumn(format="%+.2f"),
            "lift": st.column_config.NumberColumn(format="%+.2f"),
        },
    )
    chart = (
        alt.Chart(table.dropna(subset=["mean_valence"]))
        .mark_bar()
        .encode(
            x=alt.X("mean_valence:Q", title="mean valence", scale=alt.Scale(domain=[-1, 1])),
            y=alt.Y("title:N", title=None, sort="-x", axis=alt.Axis(labelLimit=260)),
            color=alt.Color("seconds_on_screen:Q", title="seconds on screen"),
            tooltip=["title", "seconds_on_screen", "attention", "mean_valence", "lift", "mood_mix"],
        )
        .properties(height=alt.Step(26))
    )
    st.altair_chart(chart, width="stretch")
    st.subheader("Compare two items")
    ids = [row["item_id"] for row in rows]
    if len(ids) < 2:
        st.caption("Two items are needed to compare.")
        return
    titles = {row["item_id"]: row["title"] for row in rows}
    left, right = st.columns(2)
    item_a = left.selectbox("Item A", ids, index=0, format_func=titles.get, key="compare_a")
    item_b = right.selectbox("Item B", ids, index=1, format_func=titles.get, key="compare_b")
    if item_a == item_b:
        st.warning("Pick two different items.")
        return
    comparison = analytics.compare(item_a, item_b)
    (st.success if comparison.enough_samples else st.info)(comparison.message)
    if comparison.enough_samples:
        cols = st.columns(3)
        cols[0].metric("Valence difference (B - A)", f"{comparison.difference:+.3f}")
        cols[1].metric("95% bootstrap interval", f"{comparison.ci_low:+.3f} to {comparison.ci_high:+.3f}")
        cols[2].metric("Welch p-value", "n/a" if comparison.p_value is None else f"{comparison.p_value:.3g}")
        st.caption(f"n = {comparison.n_a} (A) and {comparison.n_b} (B) per-second samples. {comparison.note}")


# --- video files ----------------------------------------------------------------------------------------------------
def video_timeline_chart(columns: dict[str, list[Any]]) -> alt.LayerChart:
    """The smoothed probabilities over the video's time, with valence and arousal on their own [-1, 1] axis."""
    from fer_core.recognition.drawing import EMOTION_COLORS_RGB

    probabilities = pd.DataFrame({key: columns[key] for key in ("seconds", *EMOTIONS)}).melt(
        id_vars="seconds", var_name="emotion", value_name="probability"
    )
    colours = ["#{:02x}{:02x}{:02x}".format(*EMOTION_COLORS_RGB[name]) for name in EMOTIONS]
    lines = (
        alt.Chart(probabilities)
        .mark_line(interpolate="monotone")
        .encode(
            x=alt.X("seconds:Q", title="seconds into the video"),
            y=alt.Y("probability:Q", title="smoothed probability", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("emotion:N", sort=list(EMOTIONS), scale=alt.Scale(domain=list(EMOTIONS), range=colours)),
        )
        .properties(height=240)
    )
    affect_frame = pd.DataFrame({key: columns[key] for key in ("seconds", "valence", "arousal")}).melt(
        id_vars="seconds", var_name="measure", value_name="value"
    )
    affect_lines = (
        alt.Chart(affect_frame)
        .mark_line(strokeWidth=2.5)
        .encode(
            x="seconds:Q",
            y=alt.Y("value:Q", title="valence / arousal", scale=alt.Scale(domain=[-1, 1])),
            strokeDash=alt.StrokeDash("measure:N", title="affect", legend=alt.Legend(orient="top")),
            color=alt.value("#333333"),
        )
    )
    return alt.layer(lines, affect_lines).resolve_scale(y="independent", color="independent")
