"""Two app workers behind nginx on loopback, as deployed (``deploy/nginx.conf``): TLS, a login, sticky sessions.

Starts two ``streamlit run app.py`` workers on free ports of 127.0.0.1 and Debian's nginx (as the current user,
everything under ``tmp_path``) with a self-signed certificate and an htpasswd file made by ``openssl``. Two
viewers (two Chromium contexts, so two cookie jars, both from 127.0.0.1) log in, open the live page and stream
through the proxy: only the page, the WebSocket and the WebRTC signalling pass through nginx; the media goes
between the browser and its worker directly over loopback. Checks: an unauthenticated request gets 401, the two
viewers land on different workers and every request of a viewer goes to its worker (nginx's access log), and
both keep streaming at once (each page's "Frames processed" keeps rising).
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import require_tool

from fer_core.measure.browser import (
    CHROMIUM_ARGS,
    fake_camera_args,
    free_port,
    stop_process_group,
    streamlit_command,
    wait_healthy,
)

from .app_driver import frames_processed, open_page, start_stream, wait_for_frames
from .faces import astronaut_frame
from .paths import ARTIFACTS, REPO
from .servers import assert_no_tracebacks
from .y4m import write_y4m

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEMPLATE = REPO / "deploy" / "nginx.conf"
USER, PASSWORD = "viewer", "test-only-password"
FPS = 10
CLIP_SIZE = (320, 240)
"""A small clip: both workers and both viewers share this machine's cores."""
ROUNDS = 3
"""How many times each page's counter must rise while both stream (the page refreshes it every second)."""


def fill_template(text: str, values: dict[str, str]) -> str:
    """Replace ``${NAME}`` placeholders (as the nginx image's envsubst does); every one must have a value."""
    missing = set(re.findall(r"\$\{(FER_[A-Z0-9_]+)\}", text)) - set(values)
    assert not missing, f"placeholders of deploy/nginx.conf without a value: {sorted(missing)}"
    return re.sub(r"\$\{(FER_[A-Z0-9_]+)\}", lambda m: values[m.group(1)], text)


def _tool(name: str, hint: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").is_file() else None)
    require_tool(name, path is not None, hint)
    return str(path)


def _credentials(directory: Path, openssl: str) -> tuple[Path, Path, Path]:
    """A self-signed certificate for 127.0.0.1, its key, and an htpasswd file (``openssl passwd -apr1``)."""
    cert, key, htpasswd = directory / "cert.pem", directory / "key.pem", directory / "htpasswd"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    hashed = subprocess.run(
        [openssl, "passwd", "-apr1", PASSWORD], check=True, capture_output=True, text=True
    ).stdout.strip()
    htpasswd.write_text(f"{USER}:{hashed}\n")
    return cert, key, htpasswd


def _get(url: str, *, auth: bool) -> tuple[int, str, dict[str, str]]:
    """``(status, body, headers)`` of a GET that trusts the self-signed certificate, with or without the login."""
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = ssl._create_unverified_context()  # our own self-signed certificate, loopback
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, response.read().decode(errors="replace"), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace"), dict(error.headers)


def _wait_proxy(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(OSError):
            if _get(f"{url}/_stcore/health", auth=False)[:2] == (200, "ok"):
                return
        time.sleep(0.2)
    raise RuntimeError(f"nginx did not answer in {timeout_s:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


def _stop_nginx(process: subprocess.Popen) -> None:
    """Graceful stop (SIGQUIT): open WebSockets are closed and logged first."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            stop_process_group(process)


def _close_quietly(browser) -> None:
    with contextlib.suppress(Exception):
        browser.close()


def _start_workers(stack: contextlib.ExitStack) -> list[tuple[str, subprocess.Popen, Path]]:
    """Two ``streamlit run app.py`` workers, started at once (each loads the model), each its own process group."""
    ports, workers = [free_port(), free_port()], []
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    for index, port in enumerate(ports, start=1):
        log = ARTIFACTS / f"two-workers-w{index}.log"
        with log.open("w") as log_file:
            process = subprocess.Popen(
                streamlit_command(port), cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT,
                env=env, start_new_session=True,
            )  # fmt: skip
        stack.callback(stop_process_group, process)
        workers.append((f"http://127.0.0.1:{port}", process, log))
    assert ports[0] != ports[1]
    for url, process, log in workers:
        wait_healthy(url, process, log)
    return workers


def _start_nginx(
    stack: contextlib.ExitStack, nginx: str, run_dir: Path, credentials: tuple[Path, Path, Path], ports: list[int]
) -> tuple[str, subprocess.Popen]:
    """Debian's nginx with ``deploy/nginx.conf`` in front of the workers; ``(its https address, the process)``."""
    cert, key, htpasswd = credentials
    listen = free_port()
    values = {
        "FER_NGINX_RUN_DIR": str(run_dir),
        "FER_NGINX_LISTEN": f"127.0.0.1:{listen}",
        "FER_TLS_CERT": str(cert),
        "FER_TLS_KEY": str(key),
        "FER_HTPASSWD": str(htpasswd),
        "FER_WORKER_1_HOST": "127.0.0.1",
        "FER_WORKER_1_PORT": str(ports[0]),
        "FER_WORKER_2_HOST": "127.0.0.1",
        "FER_WORKER_2_PORT": str(ports[1]),
    }
    config = run_dir / "nginx.conf"
    config.write_text(fill_template(TEMPLATE.read_text(), values))
    error_log = run_dir / "error.log"
    command = [nginx, "-p", str(run_dir), "-c", str(config), "-e", str(error_log)]
    checked = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
    assert checked.returncode == 0, f"nginx -t refused deploy/nginx.conf:\n{checked.stderr}"
    # Started as root, nginx's worker processes would switch to "nobody", who cannot read tmp_path.
    directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    proxy = subprocess.Popen([*command, "-g", directives], start_new_session=True)
    stack.callback(_stop_nginx, proxy)
    base = f"https://127.0.0.1:{listen}"
    _wait_proxy(base, proxy, error_log)
    return base, proxy


def _assert_login_required(base: str) -> None:
    """(c) The login: nothing but the health check answers without it."""
    status, _, headers = _get(f"{base}/", auth=False)
    assert status == 401, f"an unauthenticated request got {status}"
    assert "Basic" in headers.get("WWW-Authenticate", "")
    assert _get(f"{base}/Live_webcam", auth=False)[0] == 401
    assert _get(f"{base}/", auth=True)[0] == 200


def _open_viewers(browser, base: str) -> tuple[list, list[str]]:
    """Two viewers from the same address, each with its own cookie jar, one after the other, both streaming."""
    pages, routes = [], []
    for _ in range(2):
        context = browser.new_context(
            viewport={"width": 1200, "height": 900},
            ignore_https_errors=True,
            http_credentials={"username": USER, "password": PASSWORD},
        )
        context.grant_permissions(["camera"])
        page = context.new_page()
        page.set_default_timeout(30_000)
        open_page(page, base, "Live_webcam", "Live webcam")
        route = {c["name"]: c["value"] for c in context.cookies()}.get("fer_worker")
        # Without a route, the page's requests and its WebSocket scatter over the workers: it never works.
        assert route in ("w1", "w2"), f"nginx gave the viewer no route cookie (fer_worker={route!r})"
        start_stream(page, first_frame_timeout_s=40)
        assert {c["name"]: c["value"] for c in context.cookies()}.get("fer_worker") == route, "the route moved"
        routes.append(route)
        pages.append(page)
    return pages, routes


def _frames_while_both_stream(pages: list) -> list[list[int]]:
    """(b) Both keep streaming at once: every page's counter rises, round after round."""
    counts = [[frames_processed(page)] for page in pages]
    for _ in range(ROUNDS):
        for page, seen in zip(pages, counts, strict=True):
            now = wait_for_frames(page, seen[-1], timeout_s=15)
            assert now is not None, f"a viewer stopped streaming: frames {counts}"
            seen.append(now)
    return counts


def _websockets_by_route(access: str, by_route: dict[str, str]) -> dict[str, str]:
    """(a) nginx's access log: every request with a route cookie went to that worker; returns which worker held
    each viewer's WebSocket (the session and its WebRTC signalling)."""
    sockets = {}
    for line in access.splitlines():
        route = re.search(r"route=(\S*)", line).group(1)
        upstream = re.search(r"upstream=(\S*)", line).group(1)
        if route in by_route and upstream != "-":
            assert upstream == by_route[route], f"a request of viewer {route} went to {upstream}: {line}"
        if '"GET /_stcore/stream ' in line and " 101 " in line:
            sockets[route] = upstream
    return sockets


def test_two_viewers_land_on_different_workers_and_each_keeps_streaming(
    chromium, chromium_launcher, playwright_instance, tmp_path
):
    nginx = _tool("nginx", "apt-get install -y --no-install-recommends nginx-light")
    openssl = _tool("openssl", "apt-get install -y --no-install-recommends openssl")
    credentials = _credentials(tmp_path, openssl)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    run_dir = tmp_path / "nginx"
    run_dir.mkdir()

    with contextlib.ExitStack() as stack:
        workers = _start_workers(stack)
        ports = [int(url.rsplit(":", 1)[1]) for url, _, _ in workers]
        base, proxy = _start_nginx(stack, nginx, run_dir, credentials, ports)
        _assert_login_required(base)

        clip = write_y4m(tmp_path / "camera.y4m", [astronaut_frame(CLIP_SIZE)] * (2 * FPS), fps=FPS)
        browser = playwright_instance.chromium.launch(
            executable_path=str(chromium_launcher), args=CHROMIUM_ARGS + fake_camera_args(clip), headless=True
        )
        stack.callback(_close_quietly, browser)
        pages, routes = _open_viewers(browser, base)
        # (a) Different workers: the route cookies nginx gave them differ.
        assert sorted(routes) == ["w1", "w2"], f"both viewers were routed alike: {routes}"
        counts = _frames_while_both_stream(pages)
        for index, page in enumerate(pages):
            page.screenshot(path=str(ARTIFACTS / f"two_workers_viewer{index}.png"))
        browser.close()
        _stop_nginx(proxy)  # closes and logs the WebSockets

    by_route = {"w1": f"127.0.0.1:{ports[0]}", "w2": f"127.0.0.1:{ports[1]}"}
    access = (run_dir / "access.log").read_text()
    (ARTIFACTS / "two_workers_access.log").write_text(access)
    sockets = _websockets_by_route(access, by_route)
    assert sockets == by_route, f"WebSockets by route: {sockets} (expected {by_route})"
    for _, _, log in workers:
        assert_no_tracebacks(log)
    print(f"\n[two workers] routes {routes}; frames per round {counts}; WebSockets {sockets}")
