"""fer_core.sessions.app_support: the Streamlit runtime tweaks the app applies at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import tomllib
from conftest import run_coroutine
from streamlit.runtime.scriptrunner import script_runner

from fer_core.sessions.app_support import (
    keep_keras_session,
    native_info_logs_dropped,
    quiet_tensorflow_logs,
)
from fer_core.sessions.upload import keep_uploads_in_memory

REPO = Path(__file__).resolve().parent.parent


def test_keras_session_survives_streamlit_cleanup_but_figures_are_still_closed(monkeypatch):
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cleared = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: cleared.append(True))
    # Start from Streamlit's own cleanup even if an earlier test in this process already ran the app.
    current = script_runner._clean_problem_modules
    monkeypatch.setattr(script_runner, "_clean_problem_modules", getattr(current, "streamlit_original", current))
    script_runner._clean_problem_modules()
    assert cleared, "Streamlit's own cleanup should call keras.backend.clear_session (else this test is moot)"

    cleared.clear()
    keep_keras_session()
    keep_keras_session()  # idempotent
    plt.figure()
    script_runner._clean_problem_modules()
    assert not cleared
    assert plt.get_fignums() == []
    assert "keras" in sys.modules


def test_config_turns_off_the_full_gc_after_every_run():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False


# --- patches of other libraries fail loudly when an upgrade makes them miss ------------------------------------------
class ScriptRunnerThatNoLongerCleansUp:
    """Stands in for a future Streamlit ScriptRunner that no longer calls the per-run cleanup by that name."""

    def _run_script(self) -> None:
        pass


def test_keras_session_patch_fails_loudly_when_streamlit_changed(monkeypatch):
    import streamlit

    monkeypatch.delattr(script_runner, "_clean_problem_modules")
    with pytest.raises(
        RuntimeError,
        match=rf"Streamlit {re.escape(streamlit.__version__)} changed: .*_clean_problem_modules.* but it is gone",
    ):
        keep_keras_session()
    monkeypatch.undo()

    current = script_runner._clean_problem_modules
    monkeypatch.setattr(script_runner, "_clean_problem_modules", getattr(current, "streamlit_original", current))
    monkeypatch.setattr(script_runner, "ScriptRunner", ScriptRunnerThatNoLongerCleansUp)
    with pytest.raises(RuntimeError, match=r"but it is not called any more\. .*keep_keras_session cannot stop"):
        keep_keras_session()


def test_upload_spooling_patch_fails_loudly_when_starlette_changed(monkeypatch):
    import starlette
    import starlette.formparsers
    from starlette.formparsers import MultiPartParser

    version = re.escape(starlette.__version__)
    monkeypatch.delattr(MultiPartParser, "spool_max_size")
    with pytest.raises(RuntimeError, match=rf"Starlette {version} MultiPartParser.spool_max_size is None"):
        keep_uploads_in_memory()
    monkeypatch.undo()

    monkeypatch.delattr(starlette.formparsers, "MultiPartParser")
    with pytest.raises(RuntimeError, match=rf"Starlette {version} has no starlette.formparsers.MultiPartParser"):
        keep_uploads_in_memory()
    monkeypatch.undo()

    class ParserThatNoLongerSpools(MultiPartParser):
        spool_max_size = 1024 * 1024

    monkeypatch.setattr(starlette.formparsers, "MultiPartParser", ParserThatNoLongerSpools)
    with pytest.raises(RuntimeError, match=r"no longer reads self\.spool_max_size"):
        keep_uploads_in_memory()


# --- a quiet start ---------------------------------------------------------------------------------------------------
NOISE = re.compile(r"inotify|cuda|onednn|absl|cpu_feature|tensorflow lite|xnnpack|rebuild tensorflow", re.IGNORECASE)
"""What Streamlit's file watcher and TensorFlow's native code printed on every start of the app."""


def test_quiet_tensorflow_logs_sets_a_default_the_user_can_override(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    quiet_tensorflow_logs()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    quiet_tensorflow_logs()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_native_info_lines_are_dropped_and_everything_else_passes(capfd, monkeypatch):
    lines = [
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
        b"I0000 00:00:1795801607.473492   14143 port.cc:153] oneDNN custom operations are on.\n",
        b"a line of the app's own\n",
        b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
        b"E0000 00:00:1795801636.026470   14377 some_kernel.cc:52] a real error\n",
    ]
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_info_logs_dropped(), native_info_logs_dropped():  # nested: one filter
        for line in lines:
            os.write(2, line)
    os.write(2, lines[1])  # after the block: not filtered any more
    err = capfd.readouterr().err
    assert err.splitlines() == [
        "a line of the app's own",
        "E0000 00:00:1795801636.026470   14377 some_kernel.cc:52] a real error",
        lines[1].decode().strip(),
    ]
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # INFO logs asked for: nothing is dropped
    with native_info_logs_dropped():
        os.write(2, lines[1])
    assert capfd.readouterr().err == lines[1].decode()


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _open_a_session(port: int, timeout_s: float) -> list[bytes]:
    """Do what a browser tab does: open Streamlit's websocket and ask for the first run; the raw messages back."""
    import websockets  # a dependency of Streamlit
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    async def session() -> list[bytes]:
        url = f"ws://127.0.0.1:{port}/_stcore/stream"
        async with websockets.connect(url, subprotocols=["streamlit"], max_size=None) as socket_:
            request = BackMsg()
            request.rerun_script.query_string = ""
            request.rerun_script.page_script_hash = ""
            await socket_.send(request.SerializeToString())
            received: list[bytes] = []
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                data = await asyncio.wait_for(socket_.recv(), timeout=deadline - time.monotonic())
                received.append(data)
                message = ForwardMsg()
                message.ParseFromString(data)
                if message.WhichOneof("type") == "script_finished":
                    return received
            raise AssertionError("the first page did not finish")

    return run_coroutine(session())


@pytest.mark.slow
def test_the_app_starts_and_serves_its_first_page_quietly(tmp_path):
    """scripts/run-app.sh's first run printed "Inotify queue overflowed" (the file watcher watched .venv/) and
    TensorFlow's CUDA, oneDNN, absl and CPU-feature lines. Start the app as a user does and open one page."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "streamlit.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "STREAMLIT_"))}  # as a user's shell
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
    ]  # fmt: skip
    with log.open("wb") as output:
        server = subprocess.Popen(command, cwd=REPO, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"streamlit exited with {server.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"streamlit did not become healthy:\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                pass  # not listening yet
            time.sleep(0.3)
        with urllib.request.urlopen(f"{url}/", timeout=10) as response:
            assert response.status == 200
        messages = _open_a_session(port, timeout_s=90)  # the home page: TensorFlow imported, the model loaded
        assert any(b"Try it" in message for message in messages), "the home page stopped before its links"
        time.sleep(3)  # anything printed late (the file watcher, the first interpreter) gets its chance
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
    output = log.read_text(errors="replace")
    assert f"URL: {url}" in output, output
    noise = [line for line in output.splitlines() if NOISE.search(line)]
    assert noise == [], "\n".join(noise[:20])
