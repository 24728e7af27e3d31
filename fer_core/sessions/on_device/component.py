"""The live page's on-device player: a Streamlit component that analyses the camera in the browser.

The component (``web/on_device/component/``) runs the pipeline with OpenCV.js and LiteRT.js and sends result
batches (:mod:`fer_core.sessions.on_device.results`) a few times a second; each one reruns only the
:func:`on_device_player` fragment, which hands it to :meth:`LiveProcessor.ingest_device_results`, so the mood,
timeline, analytics and readouts are the server mode's. Video never leaves the browser.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import streamlit as st
import streamlit.components.v1 as components

from fer_core.sessions.live import LiveProcessor
from fer_core.sessions.on_device.manifest import BUILD_COMMAND, COMPONENT_DIR, check_build
from fer_core.sessions.on_device.params import pipeline_params
from fer_core.sessions.on_device.results import parse_batch
from fer_core.sessions.rtc import StreamConfig

logger = logging.getLogger(__name__)

COMPONENT_NAME = "mood_lens_on_device"
PROCESSING_QUERY = "processing"
PROCESSING_LABELS: dict[str, str] = {"server": "on the server", "device": "on this device"}
"""``?processing=server|device`` -> the label of the live page's "Processing" choice."""
SEND_EVERY_MS = 1000
"""How often the browser sends its results: the panels refresh once a second anyway."""
DEVICE_FPS = 30
"""The camera rate asked for on this device: each frame costs the viewer's machine, not the server, so the
server's 15 fps cap (``StreamConfig``, for decoding and re-encoding) does not apply; the browser analyses the
newest frame whenever it is free."""

_component = components.declare_component(COMPONENT_NAME, path=str(COMPONENT_DIR))


def processing_choice() -> str:
    """The sidebar's "Processing" choice (``server`` or ``device``); the default comes from ``?processing=``."""
    asked = st.query_params.get(PROCESSING_QUERY, "server")
    options = list(PROCESSING_LABELS)
    choice = st.radio(
        "Processing",
        options,
        index=options.index(asked) if asked in options else 0,
        format_func=PROCESSING_LABELS.__getitem__,
        key="live_processing",
        help="On this device: your browser finds and reads the faces itself (OpenCV.js and LiteRT.js) and sends "
        "only boxes, emotion probabilities and timings; the video never leaves it.",
    )
    if st.query_params.get(PROCESSING_QUERY) != choice and (choice != "server" or PROCESSING_QUERY in st.query_params):
        st.query_params[PROCESSING_QUERY] = choice
    return str(choice)


def device_constraints(stream: StreamConfig) -> dict[str, Any]:
    """What the on-device player asks the camera for: the server mode's size, at least :data:`DEVICE_FPS`."""
    return dataclasses.replace(stream, fps=max(stream.fps, DEVICE_FPS)).media_stream_constraints()


def take_in(processor: LiveProcessor, value: Any) -> int:
    """Feed one component value to ``processor``; a malformed one is logged and ignored. Returns frames taken."""
    if value is None:
        return 0
    try:
        batch = parse_batch(value)
    except ValueError as error:
        logger.warning("ignored an on-device result batch: %s", error)
        return 0
    return processor.ingest_device_results(batch)


@st.fragment
def on_device_player(processor: LiveProcessor, stream: StreamConfig) -> None:
    """The component (or why it is unavailable); its result batches rerun only this fragment."""
    status = check_build()
    if not status.usable:
        st.warning(
            f"On-device processing is not available on this server: {status.reason}. "
            f"(The operator builds it with `{BUILD_COMMAND}`.) Choose **on the server** in the sidebar meanwhile.",
            icon="⚠️",
        )
        return
    value = _component(
        params=pipeline_params(detector=processor.detector_config),
        model_sha256=status.manifest["model"]["sha256"],
        constraints=device_constraints(stream),
        send_every_ms=SEND_EVERY_MS,
        key="on_device",
        default=None,
    )
    take_in(processor, value)
