"""Keep each live stream's media work small: one codec thread per stream, and no queue of stale frames.

What streamlit-webrtc 0.79 and aiortc 1.16 do by themselves, and what this module changes:

- **Newest frame only.** With ``async_processing=True`` streamlit-webrtc's worker drains its input queue before
  each call and hands the callback only the newest frame (older ones are dropped). But the frames reach that
  worker, and the processed frames reach the video encoder, through aiortc's ``MediaRelay`` with *buffered*
  (unbounded) queues: when the encoder or the event loop falls behind, decoded frames wait there in order and
  the video sent back lags further and further. :func:`install_latest_frame_relay` makes streamlit-webrtc use a
  relay whose video subscriptions keep only the latest frame (aiortc's ``buffered=False``), so a slow consumer
  skips frames instead of queueing them.
- **One codec thread per stream.** aiortc's VP8 and H.264 *decoders* are created with PyAV's default
  ``thread_count=0`` (FFmpeg picks one thread per core), its VP8 *encoder* uses 1-3 threads by frame size and
  core count. Many streams on a many-core server would then run far more codec threads than cores.
  :func:`limit_codec_threads` sets the decoders' ``thread_count`` and the VP8 encoder's thread rule to 1.
  aiortc's H.264 *encoder* (libx264) gets no thread setting from aiortc and none can be injected without
  copying its code, so it keeps x264's own default; Chromium offers VP8 first, which is what streams here use.

Both patch the libraries in this process once (idempotent), before the first stream starts: call
:func:`prepare_live_media` from the live page.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from typing import Any

logger = logging.getLogger(__name__)

CODEC_THREADS = 1
_lock = threading.Lock()
_patched_threads: int | None = None


def limit_codec_threads(threads: int = CODEC_THREADS) -> None:
    """Make aiortc's VP8/H.264 decoders and its VP8 encoder use ``threads`` threads each (this process)."""
    global _patched_threads
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    from aiortc.codecs import h264, vpx

    with _lock:
        if _patched_threads is None:
            for decoder_class in (vpx.Vp8Decoder, h264.H264Decoder):
                _wrap_decoder_init(decoder_class)
            vpx.number_of_threads = lambda pixels, cpus: _patched_threads or 1
        _patched_threads = threads
    logger.info("aiortc codecs limited to %d thread(s) per stream", threads)


def _wrap_decoder_init(decoder_class: type) -> None:
    original = decoder_class.__init__

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.codec.thread_count = _patched_threads or 1  # before the codec is opened by its first decode

    decoder_class.__init__ = __init__


@functools.cache
def latest_frame_relay_class() -> type:
    from aiortc.contrib.media import MediaRelay

    class LatestFrameRelay(MediaRelay):
        """A ``MediaRelay`` whose video subscribers see only the newest frame (``buffered=False``)."""

        def subscribe(self, track: Any, buffered: bool = True) -> Any:
            return super().subscribe(track, buffered=buffered and track.kind != "video")

    return LatestFrameRelay


_RELAY_ATTR = "streamlit-webrtc-global-relay"
"""Where ``streamlit_webrtc.relay.get_global_relay`` keeps its relay (on Streamlit's Runtime singleton)."""


def install_latest_frame_relay() -> bool:
    """Give streamlit-webrtc a latest-frame relay before it makes its own; ``True`` if ours is (now) in place.

    Needs a running Streamlit server (the relay lives on its Runtime). If streamlit-webrtc already made its
    default relay, that one is kept (streams may be using it) and ``False`` is returned.
    """
    from streamlit.runtime.runtime import Runtime
    from streamlit_webrtc import relay as webrtc_relay

    if not Runtime.exists():
        return False
    runtime = Runtime.instance()
    relay_class = latest_frame_relay_class()
    with _lock:
        current = getattr(runtime, _RELAY_ATTR, None)
        if current is not None:
            return isinstance(current, relay_class)
        try:
            loop = webrtc_relay.get_global_event_loop()
            if not isinstance(loop, asyncio.AbstractEventLoop):  # e.g. Streamlit's AppTest mocks the runtime
                return False
            with webrtc_relay.loop_context(loop):
                setattr(runtime, _RELAY_ATTR, relay_class())
        except Exception:  # never break the page over an optimisation: streamlit-webrtc makes its default relay
            logger.warning("no latest-frame relay: streamlit-webrtc keeps its default", exc_info=True)
            return False
        logger.info("streamlit-webrtc uses a latest-frame relay (no queue of stale video frames)")
        return True


def prepare_live_media(threads: int = CODEC_THREADS) -> None:
    """Both of the above, once per process (cheap to call on every page run)."""
    if _patched_threads != threads:
        limit_codec_threads(threads)
    install_latest_frame_relay()
