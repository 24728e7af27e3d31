"""Build the on-device component's vendor folder: ``python -m fer_core.sessions.on_device.build``.

Runs ``npm ci`` in ``web/on_device/`` (the versions pinned by ``package-lock.json``), then copies into the
git-ignored ``web/on_device/component/vendor/``: OpenCV.js, LiteRT.js with its wasm files, the Haar cascades
``fer_core`` loads (from ``cv2.data.haarcascades``), the shipped int8 model, the npm packages' licences, and last
``manifest.json`` (files and SHA-256, the pipeline parameters; see :mod:`fer_core.sessions.on_device.manifest`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fer_core.recognition.quantized_model import file_sha256
from fer_core.sessions.on_device.manifest import (
    MANIFEST_NAME,
    MANIFEST_VERSION,
    VENDOR_DIR,
    WEB_DIR,
    cascade_path,
    check_manifest,
    shipped_model,
)
from fer_core.sessions.on_device.params import cascade_names, pipeline_params
from fer_core.sessions.on_device.tflite_shapes import dynamic_batch_offsets

logger = logging.getLogger(__name__)

RUNTIME_FILES: dict[str, str] = {
    "opencv.js": "@techstark/opencv-js/dist/opencv.js",
    "litert/litert.js": "@litertjs/core/dist/index.js",
    "litert/wasm-utils.js": "@litertjs/wasm-utils/dist/index.js",
    "litert/wasm/litert_wasm_internal.js": "@litertjs/core/wasm/litert_wasm_internal.js",
    "litert/wasm/litert_wasm_internal.wasm": "@litertjs/core/wasm/litert_wasm_internal.wasm",
    "litert/wasm/litert_wasm_compat_internal.js": "@litertjs/core/wasm/litert_wasm_compat_internal.js",
    "litert/wasm/litert_wasm_compat_internal.wasm": "@litertjs/core/wasm/litert_wasm_compat_internal.wasm",
}
"""Vendor path -> path under ``node_modules``. LiteRT.js picks the plain or the compat (no SIMD) wasm itself; the
threaded and JSPI builds are not copied (they need cross-origin isolation or an experimental flag)."""
PACKAGES = ("@techstark/opencv-js", "@litertjs/core", "@litertjs/wasm-utils")
LICENSE_GLOBS = ("LICENSE*", "LICENCE*", "NOTICE*", "COPYING*")


class BuildError(RuntimeError):
    """A build step failed; the message says which and why."""


@dataclass(frozen=True)
class BuildConfig:
    """Where the build reads and writes."""

    web_dir: Path = WEB_DIR
    vendor_dir: Path = VENDOR_DIR
    model: Path | None = None
    """The int8 model to copy (default: the shipped one)."""
    run_npm: bool = True
    """Run ``npm ci`` first (off: use the ``node_modules`` already there)."""
    npm: str = "npm"


def npm_ci(config: BuildConfig) -> None:
    """``npm ci`` (exact versions of the lock file, no install scripts)."""
    if shutil.which(config.npm) is None:
        raise BuildError(f"{config.npm} not found: install Node.js and npm (Debian: apt-get install -y nodejs npm)")
    command = [config.npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
    logger.info("running %s in %s", " ".join(command), config.web_dir)
    done = subprocess.run(command, cwd=config.web_dir, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BuildError(f"npm ci failed ({done.returncode}):\n{done.stderr[-2000:]}")


def _copy(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BuildError(f"{source} is missing (did npm ci run? run the build without --skip-npm)")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _package_json(modules: Path, package: str) -> dict[str, Any]:
    try:
        return json.loads((modules / package / "package.json").read_text())
    except (OSError, ValueError) as error:
        raise BuildError(f"cannot read {package}/package.json ({error})") from error


def copy_licenses(modules: Path, vendor: Path) -> list[dict[str, Any]]:
    """Each package's licence files under ``vendor/licenses/<package>/``, and a summary of all of them."""
    summary = []
    apache_text: Path | None = None
    for package in PACKAGES:
        info = _package_json(modules, package)
        files = sorted({p for pattern in LICENSE_GLOBS for p in (modules / package).glob(pattern) if p.is_file()})
        target = vendor / "licenses" / package.lstrip("@").replace("/", "-")
        for path in files:
            _copy(path, target / path.name)
            if "Apache License" in path.read_text(errors="replace")[:300]:
                apache_text = apache_text or path
        summary.append(
            {
                "package": package,
                "version": info.get("version"),
                "license": info.get("license"),
                "repository": (info.get("repository") or {}).get("url")
                if isinstance(info.get("repository"), dict)
                else info.get("repository"),
                "files": [f"licenses/{target.name}/{path.name}" for path in files],
            }
        )
    for entry in summary:
        if not entry["files"] and entry["license"] == "Apache-2.0" and apache_text is not None:
            _copy(apache_text, vendor / "licenses" / "Apache-2.0.txt")
            entry["files"] = ["licenses/Apache-2.0.txt"]
            entry["note"] = "the npm package ships no licence file; its package.json declares Apache-2.0"
    return summary


def _write_notice(vendor: Path, licenses: list[dict[str, Any]], cascades: list[str]) -> None:
    lines = ["Third-party files in this folder (copied by python -m fer_core.sessions.on_device.build)", ""]
    for entry in licenses:
        lines.append(f"- {entry['package']} {entry['version']}: {entry['license']} ({', '.join(entry['files'])})")
        if entry.get("note"):
            lines.append(f"  {entry['note']}")
    lines.append(f"- OpenCV Haar cascades {', '.join(cascades)}: their licence is at the top of each XML file")
    (vendor / "licenses" / "THIRD_PARTY.txt").write_text("\n".join(lines) + "\n")


def build(config: BuildConfig) -> dict[str, Any]:
    """Run the build; return the manifest written. ``BuildError`` on failure (the old build is gone then)."""
    if config.run_npm:
        npm_ci(config)
    modules = config.web_dir / "node_modules"
    vendor = config.vendor_dir
    if vendor.exists():
        shutil.rmtree(vendor)
    vendor.mkdir(parents=True)
    for target, source in RUNTIME_FILES.items():
        _copy(modules / source, vendor / target)
    params = pipeline_params()
    cascades = cascade_names(params)
    for name in cascades:
        _copy(cascade_path(name), vendor / name)
    model = config.model or shipped_model()
    _copy(model, vendor / model.name)
    licenses = copy_licenses(modules, vendor)
    _write_notice(vendor, licenses, cascades)
    manifest = make_manifest(vendor, model, params, licenses)
    problem = check_manifest(manifest, vendor, model, params)
    if problem:
        raise BuildError(f"the fresh build does not check out: {problem}")
    (vendor / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    logger.info("on-device build written to %s (%d files)", vendor, len(manifest["files"]))
    return manifest


def make_manifest(vendor: Path, model: Path, params: dict[str, Any], licenses: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest for the files now in ``vendor``."""
    files = {
        path.relative_to(vendor).as_posix(): file_sha256(path)
        for path in sorted(vendor.rglob("*"))
        if path.is_file() and path.name != MANIFEST_NAME
    }
    return {
        "manifest_version": MANIFEST_VERSION,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "model": {
            "file": model.name,
            "sha256": file_sha256(model),
            "batch_offsets": dynamic_batch_offsets(model.read_bytes()),
        },
        "cascades": {name: files[name] for name in cascade_names(params)},
        "runtimes": {"opencv": "opencv.js", "litert": "litert/litert.js", "litert_wasm": "litert/wasm/"},
        "packages": {entry["package"]: entry["version"] for entry in licenses},
        "licenses": licenses,
        "files": files,
        "params": params,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer_core.sessions.on_device.build", description=__doc__)
    parser.add_argument("--skip-npm", action="store_true", help="use the node_modules already there (no npm ci)")
    parser.add_argument("--npm", default="npm", help="the npm command (npm)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        manifest = build(BuildConfig(run_npm=not args.skip_npm, npm=args.npm))
    except BuildError as error:
        logger.error("on-device build failed: %s", error)
        return 1
    logger.info("model %s (SHA-256 %s...)", manifest["model"]["file"], manifest["model"]["sha256"][:12])
    return 0


if __name__ == "__main__":
    sys.exit(main())
