"""A viewer whose browser may only use relayed candidates streams through Debian's coturn, as deployed.

coturn runs with ``deploy/turnserver.conf`` (the compose file's relay, long-term credentials) on a free port of
127.0.0.1, as the current user, everything under ``tmp_path``. The app gets it through ``FER_ICE_SERVERS`` and
``FER_ICE_TRANSPORT_POLICY=relay``, so the browser offers only candidates relayed by coturn: if the stream runs at
all, the media went through the TURN server. coturn's own log must show the allocation and the bytes it relayed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_tool

from fer_core.measure.browser import free_port, stop_process_group

from .app_driver import click_stop, open_page, start_stream, wait_for_frames
from .faces import astronaut_frame
from .paths import ARTIFACTS, REPO
from .servers import checked_app_server
from .y4m import write_y4m

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TURNSERVER = Path("/usr/bin/turnserver")
USER, PASSWORD = "mood-lens", "test-only-turn-password"


def turn_command(config: Path, port: int, pid_file: Path, user: str = USER, password: str = PASSWORD) -> list[str]:
    """``turnserver`` with the deployment's configuration, on loopback, without TLS (the test has no certificate)."""
    return [
        str(TURNSERVER), "-c", str(config), "--listening-ip=127.0.0.1", f"--listening-port={port}",
        "--relay-ip=127.0.0.1", "--no-tls", "--no-dtls", f"--user={user}:{password}", f"--pidfile={pid_file}",
        "--verbose",
    ]  # fmt: skip


@pytest.fixture
def turn(tmp_path) -> Iterator[tuple[str, Path]]:
    """coturn running; yields its ``turn:`` URL and its log file."""
    require_tool("coturn", TURNSERVER.exists(), "apt-get install coturn (scripts/run-tests.sh installs it)")
    port = free_port()
    log = ARTIFACTS / "coturn.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = turn_command(REPO / "deploy" / "turnserver.conf", port, tmp_path / "turnserver.pid")
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield f"turn:127.0.0.1:{port}?transport=udp", log
    finally:
        stop_process_group(process)


def relayed_bytes(log_text: str) -> int:
    """Bytes coturn relayed to and from peers, from its per-session usage lines (``rb=``/``sb=``)."""
    return sum(int(value) for value in re.findall(r"\b(?:rb|sb)=(\d+)", log_text))


def test_a_relay_only_viewer_streams_through_coturn(turn, launch, tmp_path):
    url, log = turn
    servers = [{"urls": [url], "username": USER, "credential": PASSWORD}]
    environment = dict(os.environ, FER_ICE_SERVERS=json.dumps(servers), FER_ICE_TRANSPORT_POLICY="relay")
    clip = write_y4m(tmp_path / "face.y4m", [astronaut_frame((320, 240))] * 20, fps=10)
    with checked_app_server(ARTIFACTS / "streamlit-turn.log", env=environment) as server:
        page = launch(clip)
        open_page(page, server.url, "Live_webcam", "Live webcam")
        page.get_by_text("all media relayed through TURN").wait_for(timeout=30_000)
        start_stream(page, first_frame_timeout_s=40, min_frames=10)
        assert wait_for_frames(page, 30, timeout_s=60), "the relayed stream keeps coming"
        click_stop(page)
        page.wait_for_timeout(2_000)
    text = log.read_text(errors="replace")
    assert re.search(r"ALLOCATE processed, success", text), "the browser allocated a relay on coturn"
    assert f"username=<{USER}>" in text, "with the configured long-term credential"
    assert relayed_bytes(text) > 100_000, "the video went through the relay"
