"""Admission control for the live page: a fixed number of stream slots, so a full server says so.

Without it every new viewer slows every other one down (one app process analyses and re-encodes every stream;
measured by ``python -m fer_core loadtest``), until some get no frames at all. With it the server holds at most
``capacity`` live streams, and the next viewer is told "full, try again shortly" instead.

- **Capacity**: ``FER_MAX_STREAMS`` (a positive integer) if set, else :func:`default_capacity`, which divides the
  cores one app process can use (at most :data:`PROCESS_CORES`: one Python process, one event loop; planned at
  :data:`TARGET_LOAD` of it) by the measured cost of one stream (:data:`STREAM_CORES`): 2 streams. Raise it on a
  dedicated machine after measuring with the load test.
- **A slot is taken by the first analysed frame** of a stream (:class:`StreamGate` is the frame callback), so a
  viewer who only opens the page takes none. Two viewers racing for the last slot: the later one's frames are
  not analysed, and its page shows the "full" message (and removes the player, which ends that stream).
- **A slot is given back** when the stream ends (STOP or a closed tab: streamlit-webrtc's ``on_video_ended``,
  :meth:`StreamGate.on_ended`), or when its stream has delivered no frame for ``stale_after_s`` seconds (a tab
  that vanished without the connection ending yet): such a stale slot is reclaimed by the next viewer.

:class:`Admission` is plain, thread-safe Python with an injectable clock (tests use a fake one); the page shares
one per server process (``st.cache_resource``).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

ENV_VAR = "FER_MAX_STREAMS"
STALE_AFTER_S = 10.0
"""A slot whose stream delivered no frame for this long is free for the next viewer."""

STREAM_CORES = 0.4
"""CPU cores one live stream costs the app server (640x480 at 15 fps, video sent back), measured with
``python -m fer_core loadtest``: 27 ms of server CPU per processed frame with the live page's analytics (2
viewers; 0.30 cores for one stream before them), times 15 frames a second (numbers in docs/deployment.md)."""
PROCESS_CORES = 1.0
"""The cores one app server process can keep busy: its WebRTC media (decode, encode, the event loop) and the
analysis share one Python interpreter, and the load test never saw it use much more than one core."""
TARGET_LOAD = 0.85
"""Plan for this share of :data:`PROCESS_CORES`: the rest absorbs page reruns, start-ups and other work."""

FULL_MESSAGE = "The live service is full"
"""How the page's "full" message starts (the load test and browser tests look for it)."""
SEND_BACK_LABEL = "Send video back"
"""The live page's switch for lean mode (off: the server receives video and sends none back)."""


class AdmissionConfigError(ValueError):
    """``FER_MAX_STREAMS`` is not a positive integer."""


def default_capacity(
    cpu_count: int | None = None,
    *,
    stream_cores: float = STREAM_CORES,
    process_cores: float = PROCESS_CORES,
    target_load: float = TARGET_LOAD,
) -> int:
    """Streams one app process holds at its target rate, at least 1:
    ``floor(min(cpu_count, process_cores) * target_load / stream_cores)`` (2 with the measured defaults)."""
    cores = min(float(cpu_count or os.cpu_count() or 1), process_cores)
    return max(1, math.floor(cores * target_load / stream_cores + 1e-9))


def capacity_from_env(environ: Mapping[str, str] | None = None, cpu_count: int | None = None) -> int:
    """``FER_MAX_STREAMS`` if set (``AdmissionConfigError`` unless a positive integer), else the default."""
    environ = os.environ if environ is None else environ
    raw = environ.get(ENV_VAR, "").strip()
    if not raw:
        return default_capacity(cpu_count)
    try:
        value = int(raw)
    except ValueError:
        raise AdmissionConfigError(f"{ENV_VAR} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise AdmissionConfigError(f"{ENV_VAR} must be a positive integer, got {value}")
    return value


@dataclass(frozen=True)
class AdmissionState:
    """A snapshot for the page: slots in use (stale ones not counted), the capacity and refusals so far."""

    capacity: int
    in_use: int
    refused: int

    @property
    def full(self) -> bool:
        return self.in_use >= self.capacity


class Admission:
    """At most ``capacity`` holders at once; each holder keeps its slot by using it (:meth:`acquire` per frame)."""

    def __init__(
        self, capacity: int, *, stale_after_s: float = STALE_AFTER_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.stale_after_s = stale_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last_seen: dict[Hashable, float] = {}
        self._refused = 0

    def _drop_stale(self, now: float) -> None:
        for holder, seen in list(self._last_seen.items()):
            if now - seen > self.stale_after_s:
                del self._last_seen[holder]
                logger.info("live slot of a stream silent for %.0f s reclaimed", now - seen)

    def acquire(self, holder: Hashable) -> bool:
        """Take (or keep) a slot for ``holder``; ``False`` if every slot is held by someone else."""
        with self._lock:
            now = self._clock()
            if holder in self._last_seen:
                self._last_seen[holder] = now
                return True
            self._drop_stale(now)
            if len(self._last_seen) < self.capacity:
                self._last_seen[holder] = now
                logger.info("live slot taken: %d of %d in use", len(self._last_seen), self.capacity)
                return True
            self._refused += 1
            return False

    def release(self, holder: Hashable) -> bool:
        """Give ``holder``'s slot back; ``False`` if it held none."""
        with self._lock:
            held = self._last_seen.pop(holder, None) is not None
            if held:
                logger.info("live slot released: %d of %d in use", len(self._last_seen), self.capacity)
            return held

    def holds(self, holder: Hashable) -> bool:
        """Whether ``holder`` has a slot that is not stale."""
        with self._lock:
            seen = self._last_seen.get(holder)
            return seen is not None and self._clock() - seen <= self.stale_after_s

    def has_room(self, holder: Hashable | None = None) -> bool:
        """Whether ``holder`` could stream now: it holds a slot, or one is free (counting stale ones as free)."""
        return (holder is not None and self.holds(holder)) or not self.state().full

    def state(self) -> AdmissionState:
        with self._lock:
            now = self._clock()
            in_use = sum(now - seen <= self.stale_after_s for seen in self._last_seen.values())
            return AdmissionState(self.capacity, in_use, self._refused)


class StreamGate:
    """One session's ``video_frame_callback`` and ``on_video_ended`` in front of its :class:`LiveProcessor`.

    A frame is analysed only while the session holds a slot (the first frame takes it); a frame that finds the
    server full is returned untouched and marks the gate refused, which the page shows. ``send_back=False``
    (lean mode) analyses the frame exactly as with video sent back but draws no overlay and makes no new frame:
    it returns the frame as it came, since no video goes back to the browser. (Analysing the decoder's luma
    plane directly would skip a colour conversion, but Haar detection then differs on borderline faces.)
    """

    def __init__(self, admission: Admission, holder: Hashable, processor: Any, *, send_back: bool = True) -> None:
        self.admission = admission
        self.holder = holder
        self.processor = processor
        self.send_back = send_back
        self._refused = False

    @property
    def refused(self) -> bool:
        """The last frame found every slot taken (cleared by an admitted frame or the stream's end)."""
        return self._refused

    def clear_refusal(self) -> None:
        """Forget a refusal (the page has shown it and removed the player)."""
        self._refused = False

    def __call__(self, frame: Any) -> Any:
        if not self.admission.acquire(self.holder):
            if not self._refused:
                logger.info("live stream refused: all %d slots in use", self.admission.capacity)
            self._refused = True
            return frame
        self._refused = False
        if self.send_back:
            return self.processor(frame)
        self.processor.process_bgr(frame.to_ndarray(format="bgr24"), capture_time=frame.time, draw=False)
        return frame

    def on_ended(self) -> None:
        """The stream stopped (STOP, or the tab closed): forget its moods and give its slot back."""
        try:
            self.processor.end_stream()
        finally:
            self.admission.release(self.holder)
            self._refused = False
