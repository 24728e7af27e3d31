"""A compact, lossless copy of FER2013's image files, small enough to travel to a GPU machine.

The Kaggle zip holds 35,887 JPEG files of 48x48 faces; about a fifth of their bytes is the same JPEG header
(quantisation and Huffman tables) repeated in every file. A pack keeps each distinct header once and each file's
remaining bytes, for the splits asked for (Training and PublicTest by default: PrivateTest is never needed to train):
the 61 MB zip becomes a 40 MB ``.npz`` that ``training.data.load_fer2013`` reads like the zip, byte for byte the
same files, so the same decoded faces. It exists because the GPU machine takes at most 64 MiB a call, repository
included (``scripts/device-train.sh``).

``python -m training.data_pack --data ../shared/datasets/fer2013.zip --out .devdata/fer2013-train.npz``
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

PACK_FORMAT = "fer2013-jpeg-pack-1"
START_OF_SCAN = b"\xff\xda"
TRAINING_SPLITS: tuple[str, ...] = ("Training", "PublicTest")
DEVICE_CALL_BYTES = 64 * 2**20
"""What one call to the GPU machine takes: the repository's tracked files and what it carries (the pack, wheels)."""
FULL_PACK_BYTES = 41_300_000
"""The pack of the full set's Training and PublicTest (41,248,194 bytes when written, 2026-12-06)."""
WHEELS_BYTES = 3_000_000
"""Keras 3.15.1, optree and namex as wheels for the GPU machine's Python 3.12 (2.9 MB; docs/gpu-training.md)."""


def split_header(data: bytes) -> tuple[bytes, bytes]:
    """A JPEG file as (header up to the end of its start-of-scan segment, the rest); other files: (b"", data)."""
    start = data.find(START_OF_SCAN)
    if not data.startswith(b"\xff\xd8") or start < 0 or start + 4 > len(data):
        return b"", data
    end = start + 2 + int.from_bytes(data[start + 2 : start + 4], "big")
    return data[:end], data[end:]


def pack_arrays(entries: Iterable[tuple[str, bytes]]) -> dict[str, np.ndarray]:
    """The pack's arrays for (name, file bytes) entries: distinct headers once, then every file's remainder."""
    headers: dict[bytes, int] = {}
    names, header_of, bodies = [], [], []
    for name, data in entries:
        header, body = split_header(data)
        header_of.append(headers.setdefault(header, len(headers)))
        names.append(name)
        bodies.append(body)
    if not names:
        raise ValueError("nothing to pack: no image files for the splits asked for")
    header_list = list(headers)
    return {
        "format": np.asarray(PACK_FORMAT),
        "names": np.asarray([name.encode() for name in names], dtype=np.bytes_),
        "header_of": np.asarray(header_of, dtype=np.int32),
        "headers": np.frombuffer(b"".join(header_list), dtype=np.uint8),
        "header_offsets": np.cumsum([0, *map(len, header_list)], dtype=np.int64),
        "bodies": np.frombuffer(b"".join(bodies), dtype=np.uint8),
        "body_offsets": np.cumsum([0, *map(len, bodies)], dtype=np.int64),
    }


def unpack_entries(path: Path) -> list[tuple[str, bytes]]:
    """The (name, file bytes) entries of a pack, the bytes exactly as they were in the source."""
    with np.load(path, allow_pickle=False) as arrays:
        if "format" not in arrays.files or str(arrays["format"]) != PACK_FORMAT:
            raise ValueError(f"not a FER2013 pack ({PACK_FORMAT}): write one with python -m training.data_pack")
        headers, header_offsets = arrays["headers"].tobytes(), arrays["header_offsets"]
        bodies, body_offsets = arrays["bodies"].tobytes(), arrays["body_offsets"]
        header_of, names = arrays["header_of"], arrays["names"]
    if not len(names) + 1 == len(body_offsets) == len(header_of) + 1:
        raise ValueError("the pack's arrays disagree in length (a cut or edited file)")
    heads = [headers[header_offsets[i] : header_offsets[i + 1]] for i in range(len(header_offsets) - 1)]
    starts, ends = body_offsets[:-1], body_offsets[1:]
    return [(name.decode(), heads[header_of[i]] + bodies[starts[i] : ends[i]]) for i, name in enumerate(names)]


def write_pack(source: Path, out: Path, splits: Sequence[str] = TRAINING_SPLITS) -> dict[str, int]:
    """Pack the image files of ``splits`` from a Kaggle zip or folder into ``out``; return counts per split."""
    from training.data import SPLITS, image_entries, save_npz, usage_of

    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}: choose from {list(SPLITS)}")
    chosen = [(name, data) for name, data in image_entries(source) if usage_of(name) in splits]
    save_npz(out, pack_arrays(chosen))
    counts = {split: sum(usage_of(name) == split for name, _ in chosen) for split in splits}
    logger.info("packed %s into %s (%.1f MB): %s", source, out, out.stat().st_size / 1e6, counts)
    return counts


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m training.data_pack", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/fer2013.zip", help="Kaggle zip or its folder")
    parser.add_argument("--out", default=".devdata/fer2013-train.npz")
    parser.add_argument("--splits", nargs="+", default=list(TRAINING_SPLITS))
    args = parser.parse_args(argv)
    try:
        write_pack(Path(args.data), Path(args.out), args.splits)
    except (OSError, ValueError) as error:
        logger.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
