"""Live webcam page: real-time overlay, smoothed mood, mood-adaptive content and a one-minute mood timeline.

Frames go browser -> this server over WebRTC, are analysed in memory by this session's LiveProcessor and come
back with the overlay drawn. The panels beside the video are Streamlit fragments that refresh themselves every
second, so the page itself is not rerun while the stream plays (full reruns during the WebRTC handshake can
reset streamlit-webrtc's state).
"""

from __future__ import annotations

import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from fer_core.mood.content import ContentPolicy
from fer_core.mood.tracker import MoodConfig
from fer_core.sessions.analytics_view import (
    calibration_panel,
    circumplex_chart,
    consent_gate,
    export_panel,
    pretend_controls,
    session_analytics,
    timeline_chart,
)
from fer_core.sessions.app_support import (
    PRIVACY_NOTE,
    apply_accent,
    content_policy,
    require_recognizer,
    secrets_or_none,
    setup_page,
)
from fer_core.sessions.content_view import render_panel
from fer_core.sessions.live import SENSITIVITY_PRESETS, LiveProcessor, describe_mood, detector_for_sensitivity
from fer_core.sessions.live_analytics import LiveAnalytics
from fer_core.sessions.live_gate import (
    live_gate,
    may_stream,
    no_server_player,
    send_back_toggle,
    stream_config,
    watch_admission,
)
from fer_core.sessions.on_device.component import on_device_player, processing_choice
from fer_core.sessions.rtc import IceConfigError, describe, ice_servers, ice_transport_policy, rtc_configurations

REFRESH_S = 1.0
CHART_REFRESH_S = 2.0
TIMELINE_S = 60.0

setup_page("Live webcam", "🎥")
st.title("Live webcam")
recognizer = require_recognizer()
policy = content_policy()

try:
    servers = ice_servers(secrets=secrets_or_none())
    policy_name = ice_transport_policy(servers)
except IceConfigError as error:
    st.error(f"WebRTC is misconfigured: {error}", icon="❌")
    st.stop()

with st.sidebar:
    st.header("Settings")
    processing = processing_choice()  # "server" (WebRTC to this server) or "device" (fer_core.sessions.on_device)
    sensitivity = st.select_slider(
        "Face detection sensitivity",
        options=list(SENSITIVITY_PRESETS),
        value="Balanced",
        help="Strict: fewer false faces, may miss small or tilted ones. Sensitive: finds more, risks false ones.",
    )
    time_constant = st.slider(
        "Smoothing time constant (s)",
        0.0,
        5.0,
        MoodConfig().time_constant_s,
        0.25,
        help="How slowly the smoothed emotion follows each frame (0: no smoothing).",
    )
    dwell = st.slider(
        "Dwell before the mood changes (s)",
        0.0,
        6.0,
        MoodConfig().dwell_s,
        0.5,
        help="A new emotion must stay on top this long before the mood (and the content) switches.",
    )

processor: LiveProcessor | None = st.session_state.get("live_processor")
if processor is None or processor.recognizer is not recognizer:
    processor = LiveProcessor(recognizer, timeline_window_s=TIMELINE_S)
    st.session_state["live_processor"] = processor
analytics = session_analytics(policy)  # calibration, reactions, session log, events: fer_core.sessions.live_analytics
processor.analytics = analytics
processor.set_detector(detector_for_sensitivity(sensitivity))
processor.set_mood_config(MoodConfig(time_constant_s=time_constant, dwell_s=dwell))
if processing == "server":
    processor.end_device_stream()  # an on-device stream whose player went away without Stop: forget its mood
# Admission (a stream slot while frames flow, "full" notice otherwise) and lean mode: fer_core.sessions.live_gate.
gate = live_gate(processor)
streaming = processor.stats().streaming
with st.sidebar:
    if processing == "server":  # on this device no video goes to the server, so none comes back
        send_back_toggle(gate, streaming=streaming)
    pretend = pretend_controls(streaming=streaming)


@st.fragment(run_every=REFRESH_S)
def live_status(
    processor: LiveProcessor, policy: ContentPolicy | None, analytics: LiveAnalytics, pretend: str | None
) -> None:
    if pretend is not None:
        analytics.pretend(processor, pretend)
    stats = processor.stats()
    watch_admission(streaming=stats.streaming)
    cols = st.columns(2) + st.columns(2)
    cols[0].metric("Frames processed", f"{stats.frames_processed}")
    cols[1].metric("FPS", f"{stats.fps:.1f}" if stats.streaming else "0")
    cols[2].metric(
        "Overlay lag",
        f"{stats.lag_ms:.0f} ms" if stats.lag_ms is not None else "n/a",
        help="Time from a frame's capture to its overlay, beyond the fixed network delay (mean of the last frames).",
    )
    cols[3].metric("Faces", f"{len(stats.faces)}" if stats.streaming else "0")
    st.caption(stats.speed_line())
    if not stats.streaming:
        st.info(
            "Press **START** and allow the camera. Frames are analysed in memory on this machine only.",
            icon="🎥",
        )
    st.markdown(describe_mood(stats.mood, processor.tracker.config.dwell_s))
    if policy is not None:
        decision = analytics.choose(policy, stats.mood)
        apply_accent(decision.accent)
        st.markdown(render_panel(decision, heading=stats.mood.mood), unsafe_allow_html=True)
    st.vega_lite_chart(circumplex_chart(stats.mood), width="content")
    calibration_panel(analytics, streaming=stats.streaming)


@st.fragment(run_every=CHART_REFRESH_S)
def mood_timeline(processor: LiveProcessor) -> None:
    columns = processor.timeline.chart_columns(processor.now())
    st.subheader("Mood over the last minute")
    if not columns["seconds"]:
        st.caption("The smoothed emotion probabilities appear here while the stream plays.")
        return
    st.vega_lite_chart(timeline_chart(columns, TIMELINE_S), width="stretch")


frontend_rtc, server_rtc = rtc_configurations(servers, policy_name)
left, right = st.columns([5, 4], gap="large")
with left:
    consented = consent_gate()
    if consented and processing == "device":
        no_server_player()
        on_device_player(processor, stream_config())  # the browser analyses; only results come here
    elif consented and may_stream(gate, streaming=streaming):
        webrtc_streamer(
            key="live",
            mode=WebRtcMode.SENDRECV if gate.send_back else WebRtcMode.SENDONLY,  # SENDONLY: lean mode
            frontend_rtc_configuration=frontend_rtc,
            server_rtc_configuration=server_rtc,
            video_frame_callback=gate,  # analyses with `processor` while this session holds a stream slot
            on_video_ended=gate.on_ended,  # STOP or a closed tab: forget its moods (end_stream), free the slot
            media_stream_constraints=stream_config().media_stream_constraints(),
            async_processing=True,
        )
    st.caption(f"{PRIVACY_NOTE} Connection: {describe(servers, policy_name)}.")
with right:
    live_status(processor, policy, analytics, pretend)
mood_timeline(processor)
export_panel(analytics)
