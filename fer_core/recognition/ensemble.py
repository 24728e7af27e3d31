"""A model's own photo ensemble: ``<model>.ensemble.json`` beside the ``.keras`` file names its further members.

The shipped model's photo ensemble travels with it, as its int8 copy does: a classifier built with the default
configuration (``ClassifierConfig.members`` left at ``None``) averages the members this file names, and one
pointed at another model file (``FER_MODEL_PATH``, ``--model``) uses that file's own, or none. The file is
written by ``python -m training.ensemble``, which records each member's SHA-256 so a changed member is noticed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from fer_core.recognition.quantized_model import file_sha256
from fer_core.recognition.runtimes import ModelLoadError

logger = logging.getLogger(__name__)

ENSEMBLE_SUFFIX = ".ensemble.json"


def ensemble_path(model_path: Path) -> Path:
    """Where a model's ensemble file lies: ``models/fer_model.keras`` -> ``models/fer_model.ensemble.json``."""
    return model_path.with_name(model_path.stem + ENSEMBLE_SUFFIX)


def read_ensemble(model_path: Path) -> tuple[str, ...]:
    """The members a model's ensemble file names (paths relative to the model's folder); none without a file.

    ModelLoadError, naming the file, when it cannot be read; a warning when a member changed since it was written.
    """
    path = ensemble_path(model_path)
    if not path.is_file():
        return ()
    try:
        record = json.loads(path.read_text())
        members = [(str(entry["file"]), str(entry.get("sha256", ""))) for entry in record["members"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelLoadError(
            f"The ensemble file {path} is unreadable ({error}). Write it again with `python -m training.ensemble` "
            "or delete it to run the model alone."
        ) from error
    for name, sha256 in members:
        member = model_path.parent / name
        if sha256 and member.is_file() and file_sha256(member) != sha256:
            logger.warning("ensemble member %s changed since %s was written", member, path.name)
    return tuple(name for name, _ in members)


def write_ensemble(model_path: Path, members: tuple[str, ...], note: str = "") -> Path | None:
    """Write (or, for no members, delete) a model's ensemble file; return its path (None when deleted).

    ValueError when a member file is missing or is the model itself.
    """
    path = ensemble_path(model_path)
    entries = []
    for name in members:
        member = model_path.parent / name
        if not member.is_file():
            raise ValueError(f"ensemble member not found: {member} (paths are relative to {model_path.parent})")
        if member.resolve() == model_path.resolve():
            raise ValueError(f"{name} is the model itself, not a further member")
        entries.append({"file": name, "sha256": file_sha256(member)})
    if not entries:
        path.unlink(missing_ok=True)
        return None
    path.write_text(json.dumps({"model": model_path.name, "members": entries, "note": note}, indent=2) + "\n")
    return path
