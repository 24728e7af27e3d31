"""Static checks of the Dockerfile (no Docker engine runs here), and its HEALTHCHECK command run for real."""

from __future__ import annotations

import ast
import fnmatch
import http.server
import json
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def ignored(path: str) -> bool:
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines() if p.strip()]
    patterns = [p for p in patterns if not p.startswith("#")]
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path.split("/")[0], p) for p in patterns)


def test_base_image_user_port_and_command():
    steps = instructions()
    bases = [args for keyword, args in steps if keyword == "FROM"]
    assert bases == ["node:20-slim AS web", "python:3.11-slim"], "Node.js only in the build stage"
    steps = steps[steps.index(("FROM", "python:3.11-slim")) :]  # the image itself
    keywords = [keyword for keyword, _ in steps]
    users = [args for keyword, args in steps if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "runs as a non-root user"
    assert keywords.index("USER") < keywords.index("CMD")
    assert ("EXPOSE", "8501") in steps
    command = json.loads(next(args for keyword, args in steps if keyword == "CMD"))
    assert command[:3] == ["streamlit", "run", "app.py"]
    assert command[command.index("--server.address") + 1] == "0.0.0.0"


def test_everything_copied_exists_and_is_in_the_build_context():
    sources = []
    for keyword, args in instructions():
        if keyword == "COPY" and "--from=" not in args:  # from the build context, not from a build stage
            parts = [part for part in args.split() if not part.startswith("--")]
            sources += parts[:-1]
    assert {
        "app.py",
        "app_pages/",
        "fer_core/",
        "content/",
        "models/",
        ".streamlit/",
        "requirements.txt",
        "web/",
    } <= set(sources)
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        assert not ignored(source.rstrip("/")), f"COPY {source}: excluded by .dockerignore"
    for private in (".venv", "runs", "artifacts", "tests", ".git", "web/on_device/node_modules"):
        assert ignored(private), f".dockerignore should exclude {private}"


def test_the_image_holds_the_photo_ensemble_and_leaves_other_members_out():
    from fer_core.recognition.ensemble import ensemble_path, read_ensemble

    model = REPO / "models" / "fer_model.keras"
    assert not ignored(ensemble_path(model).relative_to(REPO).as_posix())
    for member in read_ensemble(model):
        path = Path("models") / member
        for shipped in (path, path.with_name(path.stem + ".int8.tflite"), path.with_name(path.stem + ".int8.json")):
            assert (REPO / shipped).is_file() and not ignored(shipped.as_posix()), f"{shipped} must be in the image"
    trained = [path.name.removesuffix(".config.json") for path in (REPO / "models" / "members").glob("*.config.json")]
    unused = [
        f"models/members/{name}{end}"
        for name in trained
        if f"members/{name}.keras" not in read_ensemble(model)
        for end in (".keras", ".int8.tflite")
    ]  # every member's weights, in the tree or restored from history
    assert unused and all(ignored(path) for path in unused)


def test_app_code_in_the_image_imports_nothing_left_out_of_it():
    shipped = [REPO / "app.py", *sorted((REPO / "app_pages").glob("*.py")), *sorted((REPO / "fer_core").glob("*.py"))]
    for path in shipped:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in ("training", "tests"), f"{path.name} imports {name}"


def test_requirements_use_headless_opencv():
    requirements = (REPO / "requirements.txt").read_text().lower()
    packages = {re.split(r"[=<>~!\[ ]", line.strip())[0] for line in requirements.splitlines() if line.strip()}
    assert "opencv-python-headless" in packages
    assert not {"opencv-python", "opencv-contrib-python"} & packages, "the GUI builds need X11 libraries"


class _Health(http.server.BaseHTTPRequestHandler):
    body = b"ok"

    def do_GET(self):
        self.send_response(200 if self.path == "/_stcore/health" else 404)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(("body", "healthy"), [(b"ok", True), (b"starting", False)])
def test_healthcheck_command_works_without_curl(body, healthy):
    healthcheck = next(args for keyword, args in instructions() if keyword == "HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert command[:2] == ["python", "-c"]
    handler = type("Handler", (_Health,), {"body": body})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code = command[2].replace("127.0.0.1:8501", f"127.0.0.1:{server.server_port}")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    finally:
        server.shutdown()
    assert (result.returncode == 0) is healthy


def test_healthcheck_fails_when_nothing_listens():
    healthcheck = next(args for keyword, args in instructions() if keyword == "HEALTHCHECK")
    code = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())[2]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = subprocess.run([sys.executable, "-c", code.replace("8501", str(port))], capture_output=True, timeout=30)
    assert result.returncode != 0
