"""The live page's side of admission control and lean mode (Streamlit calls; the logic is in ``admission``).

- :func:`live_gate` gives this browser session its :class:`~fer_core.sessions.admission.StreamGate` (the frame
  callback and ``on_video_ended`` to hand to ``webrtc_streamer``), sharing one
  :class:`~fer_core.sessions.admission.Admission` per server process, and prepares the media settings
  (:mod:`fer_core.sessions.webrtc_media`).
- :func:`may_stream` decides whether the page shows the player: yes if this session streams or a slot is free;
  otherwise it shows the "full, try again shortly" notice, which checks every few seconds and brings the player
  back (a full page rerun) as soon as a slot is free. Not showing the player also ends a stream that lost the
  race for the last slot.
- :func:`watch_admission` goes into a fragment that refreshes every second: a page that shows the player but is
  not streaming swaps it for the notice once the server fills up (and after a lost race).
"""

from __future__ import annotations

import logging
import uuid

import streamlit as st

from fer_core.sessions.admission import (
    ENV_VAR,
    FULL_MESSAGE,
    SEND_BACK_LABEL,
    Admission,
    AdmissionConfigError,
    StreamGate,
    capacity_from_env,
)
from fer_core.sessions.rtc import StreamConfig, StreamConfigError
from fer_core.sessions.webrtc_media import prepare_live_media

logger = logging.getLogger(__name__)

NOTICE_REFRESH_S = 2.0
_GATE_KEY = "live_gate"
_HOLDER_KEY = "live_stream_holder"
_PLAYER_SHOWN_KEY = "live_player_shown"


@st.cache_resource(show_spinner=False)
def shared_admission(capacity: int) -> Admission:
    """One admission per server process (and capacity), shared by every session."""
    logger.info("live streams: capacity %d (%s or the default from this machine's cores)", capacity, ENV_VAR)
    return Admission(capacity)


def live_gate(processor) -> StreamGate:
    """This session's gate in front of ``processor`` (one per session; its slot id survives a new processor)."""
    try:
        capacity = capacity_from_env()
    except AdmissionConfigError as error:
        st.error(f"The live page is misconfigured: {error}", icon="❌")
        st.stop()
    prepare_live_media()
    holder = st.session_state.setdefault(_HOLDER_KEY, uuid.uuid4().hex)
    admission = shared_admission(capacity)
    gate: StreamGate | None = st.session_state.get(_GATE_KEY)
    if gate is None or gate.processor is not processor or gate.admission is not admission:
        gate = StreamGate(admission, holder, processor)
        st.session_state[_GATE_KEY] = gate
    return gate


def stream_config() -> StreamConfig:
    """:meth:`StreamConfig.from_env`, or an error on the page (and stop) if the variables are malformed."""
    try:
        return StreamConfig.from_env()
    except StreamConfigError as error:
        st.error(f"The live page is misconfigured: {error}", icon="❌")
        st.stop()


def send_back_toggle(gate: StreamGate, *, streaming: bool) -> bool:
    """The sidebar switch for lean mode; sets ``gate.send_back`` and returns it (fixed while streaming)."""
    gate.send_back = st.toggle(
        SEND_BACK_LABEL,
        value=True,
        key="live_send_back",
        disabled=streaming,
        help="Off (lean mode): the server receives your video and sends none back; the page shows the mood and "
        "readouts only. Saves the server encoding a video per viewer. Takes effect at the next START.",
    )
    return gate.send_back


@st.fragment(run_every=NOTICE_REFRESH_S)
def _full_notice(gate: StreamGate) -> None:
    state = gate.admission.state()
    if not state.full:
        st.rerun(scope="app")  # a slot is free: show the player again
    in_use = "its one live stream is in use" if state.capacity == 1 else f"all {state.capacity} live streams are in use"
    st.warning(
        f"{FULL_MESSAGE}: {in_use}. "
        "Try again shortly: this page checks every few seconds and shows the START button as soon as a stream "
        "ends. (Photos can still be analysed on the Upload page.)",
        icon="⏳",
    )


def may_stream(gate: StreamGate, *, streaming: bool) -> bool:
    """Whether to render the player now; if not, the "full" notice is rendered instead."""
    lost_race = gate.refused
    if lost_race:
        gate.clear_refusal()  # the player goes away below, which ends that stream
    shown = not lost_race and (streaming or gate.admission.has_room(gate.holder))
    st.session_state[_PLAYER_SHOWN_KEY] = shown
    if not shown:
        _full_notice(gate)
    elif not gate.send_back:
        st.caption(
            f"Lean mode ('{SEND_BACK_LABEL}' off): the server analyses your video and sends none back; "
            "your mood and the readouts are beside the player."
        )
    return shown


def watch_admission(*, streaming: bool) -> None:
    """In a fragment refreshing every second: rerun the page when its player must give way to the notice."""
    gate: StreamGate | None = st.session_state.get(_GATE_KEY)
    if gate is None or not st.session_state.get(_PLAYER_SHOWN_KEY):
        return
    if gate.refused or (not streaming and not gate.admission.has_room(gate.holder)):
        st.rerun(scope="app")


def no_server_player() -> None:
    """The page shows no WebRTC player (on-device processing): nothing for :func:`watch_admission` to watch."""
    st.session_state[_PLAYER_SHOWN_KEY] = False
