"""``python -m fer_core loadtest``: its arguments, clip, report and CPU sampling, and (browser) real runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import psutil
import pytest
from conftest import process_running, require_tool

from fer_core import cli
from fer_core.measure import loadtest
from fer_core.measure.browser import CHROMIUM, CHROMIUM_HINT, playwright_available
from fer_core.measure.y4m import read_y4m_frame

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8501", "http://localhost:8501/", "http://[::1]:80", "http://127.0.0.2"]
)
def test_loopback_urls_are_accepted(url):
    assert loadtest.loopback_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url", ["http://example.com:8501", "http://10.0.0.5:8501", "http://0.0.0.0:8501", "ftp://127.0.0.1", "127.0.0.1"]
)
def test_other_hosts_are_refused(url):
    with pytest.raises(loadtest.LoadTestError):
        loadtest.loopback_url(url)


def test_command_refuses_a_remote_url_before_starting_anything(capsys):
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    assert cli.main(["loadtest", "--url", "http://192.168.1.10:8501", "--viewers", "1"]) == loadtest.EXIT_ERROR
    assert "loopback" in capsys.readouterr().err
    assert {p.pid for p in psutil.Process().children(recursive=True)} == before


def test_argument_bounds():
    parser = cli.build_parser()
    for bad in (["--viewers", "0"], ["--viewers", "17"], ["--seconds", "0"], ["--size", "641x480"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["loadtest", *bad])
    args = parser.parse_args(["loadtest", "--viewers", "3", "--size", "320x240", "--server-env", "FER_STREAM_FPS=30"])
    assert (args.viewers, args.size, args.server_env, args.fps) == (3, (320, 240), [("FER_STREAM_FPS", "30")], 30)


def test_face_clip_shows_one_face_the_recognizer_finds(tmp_path, recognizer):
    clip = loadtest.face_clip(tmp_path / "face.y4m", (640, 480), fps=15, seconds=2.0)
    header = clip.read_bytes()[:64].split(b"\n")[0]
    assert header.startswith(b"YUV4MPEG2 W640 H480 F15:1")
    first, later = read_y4m_frame(clip, 0), read_y4m_frame(clip, 7)
    assert first.shape == (480, 640, 3)
    assert (first != later).any(), "the clip should move a little, like a held camera"
    for frame in (first, later):
        assert len(recognizer.analyze(frame, bgr=True)) == 1


def test_process_sampler_measures_a_busy_child():
    busy_loop = "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"
    burner = subprocess.Popen([sys.executable, "-c", busy_loop])
    try:
        sampler = loadtest.ProcessSampler(os.getpid())
        sampler.start()
        time.sleep(1.0)
        figures = sampler.stop()
    finally:
        burner.wait(timeout=10)
    assert figures["cpu_cores"] is not None and figures["cpu_cores"] > 0.1, figures  # the child's CPU counts
    assert figures["rss_mb"] > 10 and figures["rss_mb_peak"] >= figures["rss_mb"]


def _report(*statuses: str) -> dict:
    results = [
        {**asdict(loadtest.ViewerResult(viewer=i + 1, status=status)), "fps": 12.5 if status == "streaming" else None}
        for i, status in enumerate(statuses)
    ]
    return {
        "viewers": len(statuses), "seconds": 8.0, "lean": False, "camera": {"size": "640x480", "fps": 30},
        "url": "http://127.0.0.1:1", "server": {"pid": 1, "cpu_cores": 0.5, "rss_mb": 900.0, "rss_mb_peak": 910.0,
        "cpu_ms_per_frame": 20.0}, "viewers_chromium_cpu_cores": 0.3, "cpu_count": 2, "load_average_1min": [1.0, 2.0],
        "results": results,
    }  # fmt: skip


def test_exit_code_and_table():
    assert loadtest.exit_code(_report("streaming", "full")) == loadtest.EXIT_OK, "a 'full' viewer is not a failure"
    assert loadtest.exit_code(_report("streaming", "starved")) == loadtest.EXIT_STARVED
    assert loadtest.exit_code({**_report("streaming"), "error": "timeout"}) == loadtest.EXIT_ERROR
    table = loadtest.format_report(_report("streaming", "full"))
    assert "12.5" in table and "full" in table and "0.50 cores of 2" in table and "20.0 ms CPU" in table


def test_a_traceback_in_the_server_log_is_reported_and_fails_the_run(tmp_path):
    report = _report("streaming")
    report["server"]["log"] = str(REPO / "tests" / "fixtures" / "server_logs" / "streamlit_script_error.log")
    loadtest.read_server_tracebacks(report)
    assert report["server"]["tracebacks"] == [
        "SystemError: AST constructor recursion depth mismatch (before=39, after=35)"
    ]
    assert loadtest.exit_code(report) == loadtest.EXIT_STARVED
    assert "server logged 1 traceback(s)" in loadtest.format_report(report)
    clean = tmp_path / "clean.log"
    clean.write_text("  You can now view your Streamlit app in your browser.\n")
    report["server"]["log"] = str(clean)
    loadtest.read_server_tracebacks(report)
    assert report["server"]["tracebacks"] == [] and loadtest.exit_code(report) == loadtest.EXIT_OK
    assert "traceback" not in loadtest.format_report(report)


# --- real runs (Chromium) --------------------------------------------------------------------------------------
def _require_browser() -> None:
    require_tool("Chromium", CHROMIUM.is_file(), f"not found at {CHROMIUM}: {CHROMIUM_HINT}")
    require_tool("playwright", playwright_available(), "pip install -r requirements-dev.txt (no browser download)")


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "fer_core", "loadtest", *args]


@pytest.mark.browser
@pytest.mark.slow
def test_one_viewer_for_8_seconds_reports_fps_and_server_cpu():
    _require_browser()
    run = subprocess.run(
        _command("--viewers", "1", "--seconds", "8", "--json"),
        cwd=REPO, capture_output=True, text=True, timeout=400, env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    report = json.loads(run.stdout)
    (viewer,) = report["results"]
    assert viewer["status"] == "streaming", viewer
    assert viewer["fps"] is not None and viewer["fps"] > 0, viewer
    assert viewer["frames_processed"] > 0 and viewer["lag_ms"] is not None
    assert viewer["frames_sent"] and viewer["frames_sent"] >= viewer["frames_processed"] * 0.8, viewer
    server = report["server"]
    assert server["cpu_cores"] is not None and server["cpu_cores"] > 0, server
    assert server["rss_mb"] > 100, server
    assert server["tracebacks"] == [], f"the app server logged tracebacks: see {server['log']}"
    assert not psutil.pid_exists(server["pid"]), "the load test left its app server running"


def _descendant_pids(pid: int) -> set[int]:
    """The ids of every process under ``pid`` (none once it has ended)."""
    with contextlib.suppress(psutil.Error):
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    return set()


@pytest.mark.browser
@pytest.mark.slow
def test_interrupted_run_stops_its_browsers_and_server(tmp_path):
    _require_browser()
    # Two defences stop what the run started: the server's process group (browser.stop_process_group) and then any
    # child still running (loadtest._kill_leftover_children); each has its own test above and in
    # test_measure_browser.py, and this one fails when both are off (a Streamlit server is left running).
    # Its output goes to a file, not a pipe nobody reads while it runs: a full pipe would block the load test (or
    # a Chromium writing to the same stderr) and read as a hang.
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w") as stderr:
        command = subprocess.Popen(
            _command("--viewers", "1", "--seconds", "60"), cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr,
            text=True, env=dict(os.environ, PYTHONPATH=str(REPO)),
        )  # fmt: skip
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        # Wait until the server and a Chromium are up, then press Ctrl-C (SIGINT) as a user would.
        while time.monotonic() < deadline and command.poll() is None:
            with contextlib.suppress(psutil.Error):
                children = psutil.Process(command.pid).children(recursive=True)
                started |= {child.pid for child in children}
                names = " ".join(child.name() for child in children)
                if "chrom" in names and "python" in names:
                    break
            time.sleep(0.5)
        assert command.poll() is None, f"the load test ended early:\n{stderr_path.read_text()[-3000:]}"
        time.sleep(3)
        started |= _descendant_pids(command.pid)
        command.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            command.wait(timeout=60)
        assert command.poll() is not None, f"still running 60 s after Ctrl-C:\n{stderr_path.read_text()[-3000:]}"
    finally:
        if command.poll() is None:  # a failure: leave no server or browser of it behind for the tests after it
            started |= _descendant_pids(command.pid)
            command.kill()
            for pid in started:
                with contextlib.suppress(psutil.Error):
                    psutil.Process(pid).kill()
    assert command.returncode == 130, stderr_path.read_text()[-3000:]
    time.sleep(1)
    alive = [pid for pid in started if process_running(pid)]
    assert not alive, f"processes left running after Ctrl-C: {alive}"


def test_leftover_children_are_killed_and_kept_ones_are_not():
    # The load test's last line of defence: what it started and did not stop (a browser Playwright left) is killed;
    # processes that ran before it (``keep``) are not.
    kept = subprocess.Popen(["sleep", "60"])
    try:
        keep = {kept.pid}
        leftover = subprocess.Popen(["bash", "-c", "sleep 60 & wait; sleep 60"])
        deadline = time.monotonic() + 10
        while not _descendant_pids(leftover.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        grandchildren = _descendant_pids(leftover.pid)
        assert grandchildren, "the leftover process did not start its child"
        loadtest._kill_leftover_children(keep)
        leftover.wait(timeout=5)  # TimeoutExpired: it was not killed
        time.sleep(0.2)
        assert not [pid for pid in grandchildren if process_running(pid)], "the leftover's child is still running"
        assert kept.poll() is None, "a process in keep was killed"
    finally:
        kept.kill()
        kept.wait()


def test_hard_timeout_interrupts_a_blocked_run():
    started = time.monotonic()
    with pytest.raises(loadtest.LoadTestTimeout), loadtest._hard_timeout(0.3):
        time.sleep(5)
    assert time.monotonic() - started < 2
