"""Load FER2013 as Kaggle ships it (zip or unpacked folder), as the original ``fer2013.csv``, or as a pack.

Splits come from the Usage encoded in the data: ``Training_*``, ``PublicTest_*`` and ``PrivateTest_*`` file
names (image layout, or a ``training.data_pack`` pack of those files) or the ``Usage`` column (CSV). Decoded
arrays are cached as ``.npz`` next to a hash of the source so a second run starts in seconds.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer_core.labels import EMOTIONS, NUM_CLASSES
from fer_core.recognition.quantized_model import file_sha256

logger = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png")
DEFAULT_CACHE_DIR = Path(os.environ.get("FER_CACHE_DIR", Path.home() / ".cache" / "fer_app"))


class DatasetError(ValueError):
    """The dataset is missing, malformed or holds an unreadable file (the message names the path)."""


@dataclass(frozen=True)
class Split:
    """One FER2013 split: uint8 faces (N, 48, 48), int labels (N,), and the source names."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    names: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=NUM_CLASSES)
        return {emotion: int(count) for emotion, count in zip(EMOTIONS, counts, strict=True)}


def usage_of(file_name: str) -> str | None:
    """The FER2013 split a file belongs to, from its name (``Training_*``, ...), or None."""
    base = os.path.basename(file_name)
    for usage in SPLITS:
        if base.startswith(usage + "_"):
            return usage
    return None


def _decode(data: bytes, where: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DatasetError(f"cannot decode image {where}")
    if image.shape != (48, 48):
        image = cv2.resize(image, (48, 48), interpolation=cv2.INTER_AREA)
    return image


def _emotion_of(parts: list[str], where: str) -> int:
    if len(parts) < 2 or parts[-2].lower() not in EMOTIONS:
        raise DatasetError(f"{where}: expected <split>/<emotion>/<file>.jpg with emotion in {EMOTIONS}")
    return EMOTIONS.index(parts[-2].lower())


def _collect(entries: list[tuple[str, bytes]], source: str) -> dict[str, Split]:
    buckets: dict[str, tuple[list[np.ndarray], list[int], list[str]]] = {s: ([], [], []) for s in SPLITS}
    for name, data in entries:
        usage = usage_of(name)
        if usage is None:
            logger.warning("skipping %s in %s: file name does not start with a FER2013 usage", name, source)
            continue
        where = f"{name} in {source}"
        label = _emotion_of(name.replace("\\", "/").split("/"), where)
        images, labels, names = buckets[usage]
        images.append(_decode(data, where))
        labels.append(label)
        names.append(os.path.basename(name))
    return _to_splits(buckets, source)


def _to_splits(buckets: dict[str, tuple[list[np.ndarray], list[int], list[str]]], source: str) -> dict[str, Split]:
    splits = {}
    for usage, (images, labels, names) in buckets.items():
        order = np.argsort(np.asarray(names)) if names else np.zeros(0, dtype=int)
        splits[usage] = Split(
            name=usage,
            images=np.stack(images)[order] if images else np.zeros((0, 48, 48), np.uint8),
            labels=np.asarray(labels, dtype=np.int64)[order],
            names=np.asarray(names)[order] if names else np.zeros(0, dtype="<U1"),
        )
    if not any(len(split) for split in splits.values()):
        raise DatasetError(f"no FER2013 images found in {source}")
    return splits


def _zip_entries(path: Path) -> list[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise DatasetError(f"cannot open zip {path}: {error}") from error
    with archive:
        return [
            (info.filename, archive.read(info))
            for info in archive.infolist()
            if not info.is_dir() and info.filename.lower().endswith(IMAGE_SUFFIXES)
        ]


def _folder_entries(path: Path) -> list[tuple[str, bytes]]:
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    entries = []
    for file in files:
        try:
            entries.append((file.relative_to(path).as_posix(), file.read_bytes()))
        except OSError as error:
            raise DatasetError(f"cannot read {file}: {error}") from error
    return entries


def _pack_entries(path: Path) -> list[tuple[str, bytes]]:
    from training.data_pack import unpack_entries

    try:
        return unpack_entries(path)
    except (OSError, ValueError, KeyError) as error:
        raise DatasetError(f"cannot read the pack {path}: {error}") from error


def image_entries(source: Path) -> list[tuple[str, bytes]]:
    """(name, file bytes) of every image in a Kaggle zip, its folder or a pack (``training.data_pack``)."""
    if source.is_dir():
        return _folder_entries(source)
    if source.suffix.lower() == ".npz":
        return _pack_entries(source)
    return _zip_entries(source)


def _read_csv(path: Path) -> dict[str, Split]:
    buckets: dict[str, tuple[list[np.ndarray], list[int], list[str]]] = {s: ([], [], []) for s in SPLITS}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"emotion", "pixels", "Usage"} - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(f"{path}: missing column(s) {sorted(missing)}")
        for row_number, row in enumerate(reader, start=2):
            try:
                pixels = np.array(row["pixels"].split(), dtype=np.uint8)
                label = int(row["emotion"])
                if pixels.size != 48 * 48 or not 0 <= label < NUM_CLASSES or row["Usage"] not in SPLITS:
                    raise ValueError("bad row")
            except ValueError as error:
                raise DatasetError(f"{path}, line {row_number}: malformed row ({error})") from error
            images, labels, names = buckets[row["Usage"]]
            images.append(pixels.reshape(48, 48))
            labels.append(label)
            names.append(f"{row['Usage']}_{row_number:06d}")
    return _to_splits(buckets, str(path))


def source_fingerprint(path: Path) -> str:
    """A cheap, stable fingerprint of a dataset source: SHA-256 of the file, or of the folder's listing."""
    if path.is_file():
        return file_sha256(path)
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*")):
        if file.is_file():
            digest.update(f"{file.relative_to(path).as_posix()}:{file.stat().st_size}\n".encode())
    return digest.hexdigest()


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to the ``.npz`` file ``path`` whole or not at all (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)


def load_fer2013(
    path: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = DEFAULT_CACHE_DIR
) -> dict[str, Split]:
    """Load FER2013 from the Kaggle zip, its unpacked folder, ``fer2013.csv`` or a pack (``training.data_pack``);
    return splits by Usage (a pack of Training and PublicTest gives an empty PrivateTest)."""
    source = Path(path)
    if not source.exists():
        raise DatasetError(
            f"dataset not found at {source}: download msambare/fer2013 from Kaggle (or fer2013.csv) and pass its path"
        )
    fingerprint = source_fingerprint(source)
    cache_file = Path(cache_dir) / f"fer2013-{fingerprint[:16]}.npz" if cache_dir is not None else None
    if cache_file is not None and cache_file.exists():
        with np.load(cache_file, allow_pickle=False) as cached:
            return {s: Split(s, cached[f"{s}_images"], cached[f"{s}_labels"], cached[f"{s}_names"]) for s in SPLITS}
    if source.suffix.lower() == ".csv" and source.is_file():
        splits = _read_csv(source)
    else:
        splits = _collect(image_entries(source), str(source))
    if cache_file is not None:
        arrays = {}
        for s, split in splits.items():
            arrays.update({f"{s}_images": split.images, f"{s}_labels": split.labels, f"{s}_names": split.names})
        save_npz(cache_file, arrays)
    for s, split in splits.items():
        logger.info("%s: %d images %s", s, len(split), split.class_counts())
    return splits
