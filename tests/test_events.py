"""Tests for fer_core.mood.events: config checks, the event schema, and delivery to real local receivers."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fer_core.labels import EMOTIONS
from fer_core.mood.events import (
    EventFeed,
    EventFeedConfig,
    EventWatcher,
    item_shown_event,
    make_event,
    mood_changed_event,
)
from fer_core.mood.readings import FrameReading

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


class Receiver:
    """A real HTTP server on 127.0.0.1 (port 0) in a thread, recording the JSON bodies it is POSTed."""

    def __init__(self, delay_s: float = 0.0, status: int = 204) -> None:
        self.bodies: list[dict] = []
        self.gets: list[str] = []
        self.paths: list[str] = []
        self.headers: list[str] = []
        self.got = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay_s)
                receiver.bodies.append(json.loads(body))
                receiver.paths.append(self.path)
                receiver.headers.append(self.headers["Content-Type"])
                receiver.got.set()
                self.send_response(status)
                self.end_headers()

            def do_GET(self) -> None:
                receiver.gets.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def wait_for(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def event(n: int = 0) -> dict:
    return item_shown_event("s1", f"item-{n}", "Title", "happy", time=NOW)


# --- configuration ----------------------------------------------------------------------------------------------


def test_off_by_default() -> None:
    config = EventFeedConfig()
    assert not config.enabled
    feed = EventFeed(config)
    assert not feed.enabled and feed.publish(event()) is False
    assert feed.stats().sent == feed.stats().dropped == 0
    assert EventFeedConfig.from_env({}) == EventFeedConfig()
    assert not EventFeedConfig.from_env({"FER_EVENTS_URL": " ", "FER_EVENTS_FILE": ""}).enabled


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000/hook", "http://127.0.0.1/x", "https://127.8.9.10:9443/", "http://[::1]:8080/",
        "http://10.1.2.3/", "http://172.16.0.5/", "http://192.168.1.20:3000/events", "http://[fd12:3456::1]/",
    ],
)  # fmt: skip
def test_local_and_lan_urls_are_allowed(url: str) -> None:
    assert EventFeedConfig(url=url).enabled


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://example.com/hook", "host names are refused"),
        ("http://8.8.8.8/", "not a loopback or private"),
        ("http://169.254.169.254/latest/meta-data", "not a loopback or private"),
        ("http://0.0.0.0:8000/", "not a loopback or private"),
        ("http://172.32.0.1/", "not a loopback or private"),
        ("ftp://127.0.0.1/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("http:///path", "no host"),
        ("http://127.0.0.1:99999/", "bad port"),
        ("http://mybox.lan/", "host names are refused"),
    ],
)
def test_remote_and_odd_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        EventFeedConfig(url=url)
    with pytest.raises(ValueError, match=problem):
        EventFeedConfig.from_env({"FER_EVENTS_URL": url})


def test_from_env_reads_both_variables(tmp_path) -> None:
    path = str(tmp_path / "events.jsonl")
    config = EventFeedConfig.from_env({"FER_EVENTS_URL": "http://127.0.0.1:9/x", "FER_EVENTS_FILE": path})
    assert (config.url, config.jsonl_path) == ("http://127.0.0.1:9/x", path)


@pytest.mark.parametrize("kwargs", [{"queue_size": 0}, {"timeout_s": 0}, {"timeout_s": float("inf")}, {"url": ""}])
def test_bad_config_is_rejected(kwargs) -> None:
    with pytest.raises(ValueError, match="EventFeedConfig"):
        EventFeedConfig(**kwargs)


# --- the schema -------------------------------------------------------------------------------------------------


def test_event_schema() -> None:
    changed = mood_changed_event("s1", "neutral", "happy", 0.72, 0.58, 0.19, time=NOW)
    assert changed == {
        "schema_version": 1, "type": "mood_changed", "time": "2025-03-01T12:00:00+00:00", "session_id": "s1",
        "from": "neutral", "to": "happy", "confidence": 0.72, "valence": 0.58, "arousal": 0.19,
    }  # fmt: skip
    shown = item_shown_event("s1", "x", "X", None, time=NOW)
    assert shown["type"] == "item_shown" and shown["item_id"] == "x" and shown["mood"] is None
    assert datetime.fromisoformat(make_event("item_shown", "s1")["time"]).tzinfo is not None


@pytest.mark.parametrize("payload", [b"\x89PNG", [1, 2, 3], {"pixels": 1}, "x" * 501, float("nan")])
def test_events_carry_no_image_data(payload) -> None:
    with pytest.raises(ValueError, match="event field image"):
        make_event("item_shown", "s1", image=payload)
    with pytest.raises(ValueError, match="unknown event type"):
        make_event("frame", "s1")


def test_watcher_emits_mood_changes_and_items_shown() -> None:
    published: list[dict] = []
    watcher = EventWatcher(published.append, "s1", titles={"a": "Item A"}, wall_clock=lambda: NOW)
    p = tuple(1 / len(EMOTIONS) for _ in EMOTIONS)
    assert watcher.observe(FrameReading(0.0)) == []
    first = watcher.observe(FrameReading(0.1, p, 0.5, 0.2, "happy", 0.7, 1, ("a",)))
    assert [e["type"] for e in first] == ["mood_changed", "item_shown"]
    assert (first[0]["from"], first[0]["to"], first[0]["valence"]) == (None, "happy", 0.5)
    assert (first[1]["item_id"], first[1]["title"], first[1]["mood"]) == ("a", "Item A", "happy")
    assert watcher.observe(FrameReading(0.2, p, 0.5, 0.2, "happy", 0.7, 1, ("a",))) == []  # nothing changed
    second = watcher.observe(FrameReading(0.3, mood="sad", confidence=0.6, items=("a", "b")))
    assert [(e["type"], e.get("to"), e.get("item_id")) for e in second] == [
        ("mood_changed", "sad", None), ("item_shown", None, "b"),
    ]  # fmt: skip
    assert second[0]["valence"] is None  # no face in that frame
    assert watcher.observe(FrameReading(0.4, mood="sad", items=("b",))) == []
    again = watcher.observe(FrameReading(0.5, mood="sad", items=("a", "b")))  # a comes back: shown again
    assert [e["item_id"] for e in again] == ["a"]
    assert published == first + second + again


# --- delivery ---------------------------------------------------------------------------------------------------


def test_events_reach_a_real_local_http_receiver(receiver: Receiver) -> None:
    feed = EventFeed(EventFeedConfig(url=receiver.url))
    events = [event(n) for n in range(5)]
    assert all(feed.publish(e) for e in events)
    wait_for(lambda: len(receiver.bodies) == 5)
    feed.close()
    assert receiver.bodies == events and receiver.paths == ["/hook"] * 5
    assert receiver.headers == ["application/json"] * 5
    assert feed.stats().sent == 5 and feed.stats().failed == feed.stats().dropped == 0
    assert feed.publish(event()) is False  # closed


def test_receiver_error_status_counts_as_failed() -> None:
    server = Receiver(status=500)
    try:
        feed = EventFeed(EventFeedConfig(url=server.url))
        feed.publish(event())
        wait_for(lambda: feed.stats().failed == 1)
        feed.close()
        assert feed.stats().sent == 0
    finally:
        server.close()


def test_dead_receiver_counts_failures_and_never_blocks_publish() -> None:
    feed = EventFeed(EventFeedConfig(url=f"http://127.0.0.1:{closed_port()}/hook", queue_size=64, timeout_s=0.5))
    started = time.perf_counter()
    for n in range(20):
        feed.publish(event(n))
    publish_s = time.perf_counter() - started
    wait_for(lambda: feed.stats().failed + feed.stats().dropped == 20)
    feed.close(flush_s=0.2)
    stats = feed.stats()
    assert stats.failed >= 1 and stats.sent == 0 and stats.failed + stats.dropped == 20
    assert publish_s < 0.2, f"20 publishes took {publish_s:.3f} s"


def test_hung_receiver_never_blocks_publish_or_close() -> None:
    """A receiver that accepts connections but never answers: publish stays instant, close stays brief."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)  # connections complete in the kernel's backlog; nothing ever reads or answers
        feed = EventFeed(EventFeedConfig(url=f"http://127.0.0.1:{hung.getsockname()[1]}/", timeout_s=1.0))
        started = time.perf_counter()
        for n in range(20):
            feed.publish(event(n))
        publish_s = time.perf_counter() - started
        started = time.perf_counter()
        feed.close(flush_s=0.2)
        close_s = time.perf_counter() - started
    assert publish_s < 0.2, f"20 publishes took {publish_s:.3f} s"  # a send would wait 1 s
    assert close_s < 0.6 and feed.stats().dropped >= 18 and feed.stats().sent == 0


def test_slow_receiver_with_a_tiny_queue_drops_and_publish_stays_instant() -> None:
    server = Receiver(delay_s=0.3)
    try:
        feed = EventFeed(EventFeedConfig(url=server.url, queue_size=2, timeout_s=2.0))
        times = []
        for n in range(30):
            started = time.perf_counter()
            feed.publish(event(n))
            times.append(time.perf_counter() - started)
        stats = feed.stats()
        assert stats.dropped >= 25  # one in flight, two queued: the rest dropped
        assert max(times) < 0.05, f"slowest publish {max(times) * 1000:.1f} ms"  # the receiver takes 300 ms
        server.got.wait(2.0)
        feed.close(flush_s=0.1)
        final = feed.stats()
        assert final.sent + final.dropped + final.failed <= 30 and final.dropped >= stats.dropped
        assert final.pending == 0
    finally:
        server.close()


def test_close_waits_briefly_then_counts_the_rest_as_dropped() -> None:
    server = Receiver(delay_s=0.5)
    try:
        feed = EventFeed(EventFeedConfig(url=server.url, queue_size=10))
        for n in range(6):
            feed.publish(event(n))
        started = time.perf_counter()
        feed.close(flush_s=0.2)
        assert time.perf_counter() - started < 0.5
        stats = feed.stats()
        assert stats.dropped >= 4 and stats.pending == 0
    finally:
        server.close()


def test_jsonl_file_gets_one_json_object_per_line(tmp_path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"earlier": true}\n', encoding="utf-8")  # appended to, not overwritten
    feed = EventFeed(EventFeedConfig(jsonl_path=str(path)))
    events = [event(n) for n in range(3)] + [mood_changed_event("s1", None, "sad", 0.6, None, None, time=NOW)]
    for e in events:
        feed.publish(e)
    wait_for(lambda: feed.stats().sent == 4)
    feed.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [{"earlier": True}, *events]


def test_unwritable_jsonl_file_counts_failures(tmp_path) -> None:
    feed = EventFeed(EventFeedConfig(jsonl_path=str(tmp_path / "missing-dir" / "events.jsonl")))
    feed.publish(event())
    wait_for(lambda: feed.stats().failed == 1)
    feed.close()


def test_redirects_are_not_followed() -> None:
    target = Receiver()

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(303)  # urllib would follow it with a GET
            self.send_header("Location", target.url)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        feed = EventFeed(EventFeedConfig(url=f"http://127.0.0.1:{server.server_address[1]}/"))
        feed.publish(event())
        wait_for(lambda: feed.stats().failed == 1)
        feed.close()
        assert target.bodies == [] and target.gets == []
    finally:
        server.shutdown()
        server.server_close()
        target.close()
