"""A local event feed for integrating apps: mood changes and items shown, as JSON, to a local URL or a JSONL file.

**Opt-in, off by default.** Nothing is sent unless the operator configures a destination:
``EventFeedConfig(url=..., jsonl_path=...)`` or, from the environment, ``FER_EVENTS_URL`` (an ``http``/``https``
URL) and ``FER_EVENTS_FILE`` (a JSONL file the events are appended to, one JSON object per line). The URL's host
must be ``localhost``, a loopback address or a private LAN address (10/8, 172.16/12, 192.168/16, fc00::/7), given
as an IP address: other hosts, link-local addresses (169.254/16, cloud metadata) and host names that would need
DNS are refused with ``ValueError`` — the product is local and private. Requests go out directly (no proxy from
the environment) and redirects are not followed.

**Events** (``schema_version`` 1), each a JSON object with no image data, ever::

    {"schema_version": 1, "type": "mood_changed", "time": "2025-01-01T12:00:03.250000+00:00",
     "session_id": "3f2a9c0d1b7e", "from": "neutral", "to": "happy", "confidence": 0.72,
     "valence": 0.58, "arousal": 0.19}
    {"schema_version": 1, "type": "item_shown", "time": "...", "session_id": "3f2a9c0d1b7e",
     "item_id": "happy-dance-hits", "title": "Feel-good dance hits", "mood": "happy"}

``mood_changed`` fires when the steady mood changes, i.e. after the tracker's smoothing and dwell (``from``/``to``
may be ``null``: no steady mood); ``valence``/``arousal`` are ``null`` without a face. ``item_shown`` fires when an
item appears on screen. ``time`` is ISO 8601 with a UTC offset. Over HTTP each event is one ``POST`` with
``Content-Type: application/json``; any 2xx answer counts as delivered.

**Never stalls the video.** :meth:`EventFeed.publish` only puts the event on a bounded queue (full: the event is
dropped and counted) and returns; one daemon thread delivers, with ``timeout_s`` per request. A slow or dead
receiver costs failed or dropped events, never the caller's time. :meth:`EventFeed.stats` gives the counts.

API::

    EventFeedConfig(url=None, jsonl_path=None, queue_size=256, timeout_s=2.0); EventFeedConfig.from_env(environ=None)
    EventFeed(config: EventFeedConfig | None = None)
        .publish(event: dict) -> bool; .stats() -> EventFeedStats; .close(flush_s: float = 1.0); .enabled
    mood_changed_event(session_id, from_mood, to_mood, confidence, valence, arousal, *, time=None) -> dict
    item_shown_event(session_id, item_id, title, mood, *, time=None) -> dict
    EventWatcher(publish: Callable[[dict], object], session_id, *, titles=None, wall_clock=now in UTC)
        .observe(reading: FrameReading) -> list[dict]     # publishes and returns the events this frame caused
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import math
import numbers
import os
import queue
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from time import monotonic
from typing import Any

from fer_core.mood.readings import FrameReading

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
EVENT_TYPES: tuple[str, ...] = ("mood_changed", "item_shown")
ENV_URL = "FER_EVENTS_URL"
ENV_FILE = "FER_EVENTS_FILE"
_MAX_TEXT = 500
"""Longest string an event may carry (ids, titles): nothing the size of an image gets through."""


def _check_url(url: str) -> None:
    """``ValueError`` unless ``url`` is http(s) to localhost, a loopback or a private LAN IP address."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"event feed URL must start with http:// or https://, got {url!r}")
    host = parts.hostname
    if not host:
        raise ValueError(f"event feed URL has no host: {url!r}")
    try:
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError as exc:
        raise ValueError(f"event feed URL has a bad port: {url!r}") from exc
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"event feed URL host {host!r} must be localhost or an IP address on this machine or the LAN "
            "(host names are refused: events stay local and private)"
        ) from None
    local = address.is_loopback or (
        address.is_private and not (address.is_link_local or address.is_unspecified or address.is_multicast)
    )
    if not local:
        raise ValueError(
            f"event feed URL host {host} is not a loopback or private LAN address "
            "(allowed: 127.0.0.0/8, ::1, 10/8, 172.16/12, 192.168/16, fc00::/7): events stay local and private"
        )


@dataclass(frozen=True)
class EventFeedConfig:
    """Where events go (both may be set; neither: the feed is off) and how hard to try."""

    url: str | None = None
    """An ``http``/``https`` URL on localhost, a loopback or a private LAN address."""
    jsonl_path: str | None = None
    """A file the events are appended to, one JSON object per line."""
    queue_size: int = 256
    """Events waiting to be sent; when full, new events are dropped (and counted)."""
    timeout_s: float = 2.0
    """Per request (connect and each read)."""

    def __post_init__(self) -> None:
        if self.url is not None:
            if not isinstance(self.url, str) or not self.url.strip():
                raise ValueError(f"EventFeedConfig.url must be a non-empty string or None, got {self.url!r}")
            _check_url(self.url.strip())
        if self.jsonl_path is not None and (not isinstance(self.jsonl_path, str) or not self.jsonl_path.strip()):
            raise ValueError(f"EventFeedConfig.jsonl_path must be a non-empty string or None, got {self.jsonl_path!r}")
        if isinstance(self.queue_size, bool) or not isinstance(self.queue_size, int) or self.queue_size < 1:
            raise ValueError(f"EventFeedConfig.queue_size must be an integer >= 1, got {self.queue_size!r}")
        timeout = self.timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not math.isfinite(timeout):
            raise ValueError(f"EventFeedConfig.timeout_s must be a finite number of seconds, got {timeout!r}")
        if timeout <= 0:
            raise ValueError(f"EventFeedConfig.timeout_s must be > 0 seconds, got {timeout!r}")

    @property
    def enabled(self) -> bool:
        return self.url is not None or self.jsonl_path is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EventFeedConfig:
        """``FER_EVENTS_URL`` and ``FER_EVENTS_FILE`` (unset or empty: off); ``ValueError`` for a refused URL."""
        env = os.environ if environ is None else environ
        url = env.get(ENV_URL, "").strip() or None
        path = env.get(ENV_FILE, "").strip() or None
        return cls(url=url, jsonl_path=path)


def _check_payload(value: Any, where: str) -> None:
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"event field {where} must be finite, got {value!r}")
        return
    if isinstance(value, str):
        if len(value) > _MAX_TEXT:
            raise ValueError(
                f"event field {where} is {len(value)} characters long (at most {_MAX_TEXT}: no image data)"
            )
        return
    raise ValueError(f"event field {where} must be a string, number, boolean or null, got {type(value).__name__}")


def make_event(event_type: str, session_id: str, *, time: datetime | None = None, **fields: Any) -> dict[str, Any]:
    """An event of ``event_type`` with the common fields; ``ValueError`` for anything but flat JSON scalars."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}; expected one of {', '.join(EVENT_TYPES)}")
    when = (time or datetime.now(timezone.utc)).astimezone(timezone.utc)
    event = {"schema_version": SCHEMA_VERSION, "type": event_type, "time": when.isoformat(), "session_id": session_id}
    event.update(fields)
    for key, value in event.items():
        _check_payload(value, key)
    return event


def mood_changed_event(
    session_id: str,
    from_mood: str | None,
    to_mood: str | None,
    confidence: float,
    valence: float | None,
    arousal: float | None,
    *,
    time: datetime | None = None,
) -> dict[str, Any]:
    """A ``mood_changed`` event (see the module docstring)."""
    fields = {"from": from_mood, "to": to_mood, "confidence": float(confidence), "valence": valence, "arousal": arousal}
    return make_event("mood_changed", session_id, time=time, **fields)


def item_shown_event(
    session_id: str, item_id: str, title: str, mood: str | None, *, time: datetime | None = None
) -> dict[str, Any]:
    """An ``item_shown`` event (see the module docstring)."""
    return make_event("item_shown", session_id, time=time, item_id=item_id, title=title, mood=mood)


@dataclass(frozen=True)
class EventFeedStats:
    sent: int = 0
    """Events delivered to every destination."""
    dropped: int = 0
    """Events dropped because the queue was full (or still queued when the feed closed)."""
    failed: int = 0
    """Events a destination refused, or that timed out or could not be written."""
    pending: int = 0
    """Events waiting in the queue now."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None  # a 3xx becomes an HTTPError: events never follow a redirect off the LAN


_STOP = object()


class EventFeed:
    """Delivers events from a bounded queue on one daemon thread (see the module docstring)."""

    def __init__(self, config: EventFeedConfig | None = None) -> None:
        self.config = config if config is not None else EventFeedConfig()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=self.config.queue_size)
        self._lock = threading.Lock()
        self._counts = {"sent": 0, "dropped": 0, "failed": 0}
        self._closed = False
        self._failing = False
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
        self._thread: threading.Thread | None = None
        if self.config.enabled:
            self._thread = threading.Thread(target=self._run, name="mood-event-feed", daemon=True)
            self._thread.start()
            logger.info("event feed on: %s", self._destinations())

    @property
    def enabled(self) -> bool:
        return self._thread is not None

    def _destinations(self) -> str:
        where = []
        if self.config.url:
            parts = urllib.parse.urlsplit(self.config.url)
            where.append(f"{parts.scheme}://{parts.hostname}:{parts.port or ''}{parts.path}")
        if self.config.jsonl_path:
            where.append(f"file {self.config.jsonl_path}")
        return ", ".join(where)

    def publish(self, event: Mapping[str, Any]) -> bool:
        """Queue ``event`` for delivery without ever waiting; ``False`` if the feed is off, closed or full."""
        if self._thread is None or self._closed:
            return False
        try:
            self._queue.put_nowait(dict(event))
        except queue.Full:
            self._count("dropped")
            return False
        return True

    def stats(self) -> EventFeedStats:
        with self._lock:
            pending = 0 if self._closed else self._queue.qsize()  # once closed, only the stop marker is left
            return EventFeedStats(**self._counts, pending=pending)

    def close(self, flush_s: float = 1.0) -> None:
        """Deliver what is queued for up to ``flush_s`` seconds, then stop; events still queued count as dropped."""
        if self._thread is None or self._closed:
            return
        self._closed = True
        deadline = monotonic() + flush_s
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=flush_s)
        self._thread.join(max(0.0, deadline - monotonic()))
        left = 0
        while True:
            try:
                left += self._queue.get_nowait() is not _STOP
            except queue.Empty:
                break
        if left:
            self._count("dropped", left)
        self._queue.put_nowait(_STOP)  # the queue is empty now: a thread still sending stops after that event
        logger.info("event feed closed: %s", self.stats())

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def _run(self) -> None:
        while (event := self._queue.get()) is not _STOP:
            self._deliver(event)

    def _deliver(self, event: dict[str, Any]) -> None:
        data = json.dumps(event, ensure_ascii=False, allow_nan=False)
        try:
            if self.config.url:
                self._post(data.encode("utf-8"))
            if self.config.jsonl_path:
                with Path(self.config.jsonl_path).open("a", encoding="utf-8") as file:
                    file.write(data + "\n")
        except (OSError, urllib.error.URLError, ValueError) as error:
            self._count("failed")
            if not self._failing:
                logger.warning("event feed: cannot deliver to %s: %s", self._destinations(), error)
            self._failing = True
            return
        if self._failing:
            logger.info("event feed: delivering again")
        self._failing = False
        self._count("sent")

    def _post(self, body: bytes) -> None:
        assert self.config.url is not None
        request = urllib.request.Request(
            self.config.url.strip(),
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "mood-lens-events/1"},
        )
        # urllib raises HTTPError for any answer but 2xx (3xx too, as redirects are not followed)
        with self._opener.open(request, timeout=self.config.timeout_s) as response:
            response.read(1024)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class EventWatcher:
    """Turns a stream of frame readings into events: a ``mood_changed`` when the steady mood changes and an
    ``item_shown`` when an item appears on screen. ``publish`` is typically :meth:`EventFeed.publish`."""

    def __init__(
        self,
        publish: Callable[[dict[str, Any]], object],
        session_id: str,
        *,
        titles: Mapping[str, str] | None = None,
        wall_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._publish = publish
        self.session_id = session_id
        self._titles = dict(titles or {})
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._mood: str | None = None
        self._items: tuple[str, ...] = ()

    def observe(self, reading: FrameReading) -> list[dict[str, Any]]:
        """Publish (and return) the events this frame causes."""
        with self._lock:
            events: list[dict[str, Any]] = []
            now = self._wall_clock()
            if reading.mood != self._mood:
                events.append(
                    mood_changed_event(
                        self.session_id,
                        self._mood,
                        reading.mood,
                        reading.confidence,
                        reading.valence,
                        reading.arousal,
                        time=now,
                    )
                )
                self._mood = reading.mood
            for item_id in reading.items:
                if item_id not in self._items:
                    title = self._titles.get(item_id, item_id)
                    events.append(item_shown_event(self.session_id, item_id, title, reading.mood, time=now))
            self._items = reading.items
        for event in events:
            self._publish(event)
        return events
