"""training.data_pack: FER2013's files packed losslessly, small enough to travel to the GPU machine with the repo."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from training.data import DatasetError, image_entries, load_fer2013
from training.data_pack import DEVICE_CALL_BYTES, FULL_PACK_BYTES, WHEELS_BYTES, main, split_header, write_pack

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "fer2013_tiny"
FULL_DATA = Path(os.environ.get("FER2013_PATH", REPO.parent / "shared" / "datasets" / "fer2013.zip"))


def test_a_pack_holds_the_same_files_byte_for_byte_in_fewer_bytes(tmp_path):
    pack = tmp_path / "pack.npz"
    assert write_pack(FIXTURES, pack) == {"Training": 42, "PublicTest": 21}
    files = {name: data for name, data in image_entries(FIXTURES) if "PrivateTest_" not in name}
    assert dict(image_entries(pack)) == files, "every Training and PublicTest file, unchanged"
    assert pack.stat().st_size < 0.85 * sum(map(len, files.values())), "one JPEG header for all the files"
    packed, original = load_fer2013(pack, cache_dir=None), load_fer2013(FIXTURES, cache_dir=None)
    for split in ("Training", "PublicTest"):
        assert np.array_equal(packed[split].images, original[split].images)
        assert np.array_equal(packed[split].labels, original[split].labels)
        assert list(packed[split].names) == list(original[split].names)
    assert len(packed["PrivateTest"]) == 0, "never needed to train"


def test_jpeg_headers_end_after_the_start_of_scan_and_other_files_pass_whole():
    jpeg = next(data for name, data in image_entries(FIXTURES))
    header, body = split_header(jpeg)
    assert header + body == jpeg and header.startswith(b"\xff\xd8") and b"\xff\xda" in header[-20:]
    png = b"\x89PNG\r\n\x1a\n" + b"\xff\xda" * 4
    assert split_header(png) == (b"", png)


def test_bad_requests_and_damaged_packs_say_what_is_wrong(tmp_path, caplog):
    with pytest.raises(ValueError, match=r"unknown split\(s\) \['Validation'\]"):
        write_pack(FIXTURES, tmp_path / "p.npz", ["Training", "Validation"])
    np.savez(tmp_path / "other.npz", images=np.zeros((2, 48, 48), np.uint8))
    with pytest.raises(DatasetError, match="not a FER2013 pack"):
        load_fer2013(tmp_path / "other.npz", cache_dir=None)
    write_pack(FIXTURES, tmp_path / "cut.npz")
    with np.load(tmp_path / "cut.npz") as arrays:
        kept = {key: arrays[key] for key in arrays.files}
    np.savez(tmp_path / "cut.npz", **(kept | {"names": kept["names"][:-1]}))
    with pytest.raises(DatasetError, match="disagree in length"):
        load_fer2013(tmp_path / "cut.npz", cache_dir=None)
    assert main(["--data", str(tmp_path / "missing.zip"), "--out", str(tmp_path / "x.npz")]) == 2
    assert "cannot open zip" in caplog.text and not (tmp_path / "x.npz").exists()


def test_the_repository_the_full_pack_and_the_wheels_fit_one_device_call():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    tree = sum((REPO / name).stat().st_size for name in listed.decode().split("\0") if (REPO / name).is_file())
    assert tree + FULL_PACK_BYTES + WHEELS_BYTES <= DEVICE_CALL_BYTES, (
        f"the tracked files take {tree / 2**20:.1f} MiB: with the data pack and Keras's wheels that is over the GPU "
        "machine's 64 MiB a call (docs/gpu-training.md); keep large files the app does not use out of the tree"
    )


@pytest.mark.skipif(not FULL_DATA.is_file(), reason=f"full FER2013 not found at {FULL_DATA} (set FER2013_PATH)")
def test_the_full_pack_is_as_small_as_budgeted_and_decodes_to_the_same_faces(tmp_path):
    pack = tmp_path / "fer2013-train.npz"
    assert write_pack(FULL_DATA, pack) == {"Training": 28709, "PublicTest": 3589}
    assert pack.stat().st_size <= FULL_PACK_BYTES
    packed, original = load_fer2013(pack, cache_dir=None), load_fer2013(FULL_DATA)
    for split in ("Training", "PublicTest"):
        assert np.array_equal(packed[split].images, original[split].images)
        assert np.array_equal(packed[split].labels, original[split].labels)


def test_evaluating_on_a_pack_says_it_needs_the_full_set(tmp_path):
    from conftest import save_small_random_model

    from training.evaluate import evaluate

    pack, model = tmp_path / "pack.npz", tmp_path / "model.keras"
    write_pack(FIXTURES, pack)
    save_small_random_model(model, seed=1)
    with pytest.raises(ValueError, match=r"no PrivateTest faces .* evaluate with the full FER2013 zip"):
        evaluate(model, pack, run_dir=None, card_path=tmp_path / "card.json", reports_dir=tmp_path / "r", views="flip")
    assert not (tmp_path / "card.json").exists()
