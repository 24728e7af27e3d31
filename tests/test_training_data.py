"""training.data: the Kaggle zip, its unpacked folder and fer2013.csv load to the same splits."""

from __future__ import annotations

import csv
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fer_core.labels import EMOTIONS
from training.data import DatasetError, load_fer2013

FIXTURES = Path(__file__).parent / "fixtures" / "fer2013_tiny"


def _zip_folder(folder: Path, destination: Path) -> Path:
    with zipfile.ZipFile(destination, "w") as archive:
        for file in sorted(folder.rglob("*.jpg")):
            archive.write(file, file.relative_to(folder).as_posix())
    return destination


def test_folder_splits_by_usage_prefix(tmp_path):
    splits = load_fer2013(FIXTURES, cache_dir=tmp_path)
    expected = {usage: len(list(FIXTURES.rglob(f"{usage}_*.jpg"))) for usage in splits}
    assert {usage: len(split) for usage, split in splits.items()} == expected
    for usage, split in splits.items():
        assert split.images.shape == (len(split), 48, 48) and split.images.dtype == np.uint8
        assert all(name.startswith(usage + "_") for name in split.names)
    # labels come from the emotion folder of each file
    training = splits["Training"]
    for name, label in zip(training.names, training.labels, strict=True):
        assert (FIXTURES / "train" / EMOTIONS[label] / name).is_file()
    assert set(training.class_counts()) == set(EMOTIONS)


def test_zip_equals_folder_and_cache_round_trips(tmp_path):
    archive = _zip_folder(FIXTURES, tmp_path / "fer2013.zip")
    from_folder = load_fer2013(FIXTURES, cache_dir=None)
    from_zip = load_fer2013(archive, cache_dir=tmp_path / "cache")
    cached = load_fer2013(archive, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").glob("*.npz")), "a cache file should be written"
    for usage in from_folder:
        np.testing.assert_array_equal(from_zip[usage].images, from_folder[usage].images)
        np.testing.assert_array_equal(cached[usage].images, from_folder[usage].images)
        np.testing.assert_array_equal(cached[usage].labels, from_folder[usage].labels)


def test_csv_format_loads_same_pixels(tmp_path):
    folder = load_fer2013(FIXTURES, cache_dir=None)
    csv_path = tmp_path / "fer2013.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["emotion", "pixels", "Usage"])
        for usage, split in folder.items():
            for image, label in zip(split.images, split.labels, strict=True):
                writer.writerow([label, " ".join(map(str, image.ravel())), usage])
    from_csv = load_fer2013(csv_path, cache_dir=None)
    for usage, split in folder.items():
        assert len(from_csv[usage]) == len(split)
        assert sorted(from_csv[usage].labels.tolist()) == sorted(split.labels.tolist())
        assert from_csv[usage].images.sum() == split.images.sum()


def test_missing_dataset_names_the_path(tmp_path):
    with pytest.raises(DatasetError, match=r"not found at .*nowhere\.zip"):
        load_fer2013(tmp_path / "nowhere.zip", cache_dir=None)


def test_corrupt_image_names_the_file(tmp_path):
    folder = tmp_path / "fer"
    shutil.copytree(FIXTURES, folder)
    victim = next((folder / "train" / "happy").glob("*.jpg"))
    victim.write_bytes(b"not a jpeg at all")
    with pytest.raises(DatasetError, match=victim.name):
        load_fer2013(folder, cache_dir=None)


def test_bad_csv_row_names_the_line(tmp_path):
    path = tmp_path / "fer2013.csv"
    path.write_text("emotion,pixels,Usage\n3," + " ".join(["0"] * 2304) + ",Training\n9,1 2 3,Training\n")
    with pytest.raises(DatasetError, match="line 3"):
        load_fer2013(path, cache_dir=None)


def test_not_a_zip(tmp_path):
    path = tmp_path / "fer2013.zip"
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DatasetError, match="cannot open zip"):
        load_fer2013(path, cache_dir=None)
