"""The build manifest of the on-device component: what was copied, its SHA-256, and the pipeline parameters.

``python -m fer_core.sessions.on_device.build`` writes ``manifest.json`` last, into the component's git-ignored
``vendor/`` folder. :func:`check_build` decides whether that build may be used: it must name the shipped int8
model (same SHA-256 as ``models/fer_model.int8.tflite``, the copy in ``vendor/`` too), the cascades ``fer_core``
loads from ``cv2.data.haarcascades`` and today's parameters; anything else is a stale copy and is refused. The
browser checks the bytes it fetches against the manifest and against the model SHA-256 the page passes it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from fer_core.recognition.classifier import default_model_path
from fer_core.recognition.quantized_model import file_sha256, quantized_paths
from fer_core.sessions.on_device.params import cascade_names, pipeline_params

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[3]
WEB_DIR = REPO / "web" / "on_device"
"""The npm project (``package.json``, ``package-lock.json``)."""
COMPONENT_DIR = WEB_DIR / "component"
"""The Streamlit component's static files (``index.html`` and its scripts)."""
VENDOR_DIR = COMPONENT_DIR / "vendor"
"""What the build copies (git-ignored)."""
MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
BUILD_COMMAND = "python -m fer_core.sessions.on_device.build"


def shipped_model() -> Path:
    """The int8 model the server runs (``fer_model.int8.tflite`` next to the Keras model)."""
    return quantized_paths(default_model_path())[0]


def cascade_path(name: str) -> Path:
    """A cascade file of ``cv2.data.haarcascades`` (the ones ``FaceDetector`` loads by name)."""
    return Path(cv2.data.haarcascades) / name  # type: ignore[attr-defined]


@dataclass(frozen=True)
class BuildStatus:
    """Whether the on-device build may be used; ``reason`` says why not (shown on the page)."""

    usable: bool
    reason: str
    manifest: dict[str, Any] = field(default_factory=dict)


def read_manifest(vendor: Path = VENDOR_DIR) -> dict[str, Any]:
    """The manifest as written; ``ValueError`` when it is missing or not a JSON object."""
    path = vendor / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"the on-device files are not built ({path} is missing): run {BUILD_COMMAND}") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is unreadable ({error}): run {BUILD_COMMAND} again") from error
    if not isinstance(manifest, dict) or manifest.get("manifest_version") != MANIFEST_VERSION:
        raise ValueError(f"{path} is not a version-{MANIFEST_VERSION} manifest: run {BUILD_COMMAND} again")
    return manifest


def _stale(what: str) -> str:
    return f"the on-device build is stale ({what}): run {BUILD_COMMAND} again"


def _check_model(manifest: dict[str, Any], vendor: Path, model: Path) -> str | None:
    entry = manifest.get("model") or {}
    if not model.is_file():
        return f"the server has no int8 model ({model.name}) for the browser to run"
    shipped = file_sha256(model)
    if entry.get("sha256") != shipped:
        return _stale(f"its model is not the shipped {model.name}, SHA-256 {shipped[:12]}...")
    copy = vendor / str(entry.get("file", ""))
    if not copy.is_file() or file_sha256(copy) != shipped:
        return _stale(f"the copied model {copy.name} differs from the shipped one")
    return None


def _check_cascades(manifest: dict[str, Any], vendor: Path, params: dict[str, Any]) -> str | None:
    cascades = manifest.get("cascades") or {}
    for name in cascade_names(params):
        expected = file_sha256(cascade_path(name))
        if cascades.get(name) != expected:
            return _stale(f"cascade {name} is not the one fer_core loads")
        if not (vendor / name).is_file() or file_sha256(vendor / name) != expected:
            return _stale(f"the copied cascade {name} differs")
    return None


def check_manifest(
    manifest: dict[str, Any], vendor: Path = VENDOR_DIR, model: Path | None = None, params: dict[str, Any] | None = None
) -> str | None:
    """``None`` when ``manifest`` matches the shipped model, cascades and parameters, else the reason."""
    params = pipeline_params() if params is None else params
    if manifest.get("params") != params:
        return _stale("the detector or preprocessing parameters changed")
    missing = [name for name in manifest.get("files", {}) if not (vendor / name).is_file()]
    if missing:
        return _stale(f"{len(missing)} file(s) missing, e.g. {missing[0]}")
    return _check_model(manifest, vendor, model or shipped_model()) or _check_cascades(manifest, vendor, params)


_cache: dict[tuple[Any, ...], BuildStatus] = {}


def _signature(vendor: Path, model: Path) -> tuple[Any, ...]:
    def stat(path: Path) -> tuple[int, int] | None:
        try:
            info = os.stat(path)
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    return (str(vendor), str(model), stat(vendor / MANIFEST_NAME), stat(model))


def check_build(vendor: Path = VENDOR_DIR, model: Path | None = None) -> BuildStatus:
    """Whether the build in ``vendor`` may be used (cached until the manifest or the model file changes)."""
    model = model or shipped_model()
    key = _signature(vendor, model)
    if key not in _cache:
        try:
            manifest = read_manifest(vendor)
            reason = check_manifest(manifest, vendor, model)
        except ValueError as error:
            manifest, reason = {}, str(error)
        if reason:
            logger.warning("on-device mode unavailable: %s", reason)
        _cache.clear()
        _cache[key] = BuildStatus(reason is None, reason or "ok", manifest)
    return _cache[key]
