"""Find the dynamic batch dimensions (-1 in ``shape_signature``) of a TensorFlow Lite flatbuffer.

The shipped int8 model takes a batch of any size (``shape_signature`` [-1, 48, 48, 1]). LiteRT.js 2.5 compiles a
model for fixed shapes only and refuses an input whose signature has -1 ("does not match expected ranked tensor
type Float32[-1, 48, 48, 1]"). The browser therefore sets those entries to 1 in its in-memory copy after checking
the file's SHA-256, at the byte offsets this module finds (recorded in the build manifest); the file served is
the shipped file itself. A minimal reader of the flatbuffer layout (tables, vtables, vectors), no dependency:
TFLite schema field numbers: Model.subgraphs = 2, SubGraph.tensors = 0, Tensor.shape = 0, Tensor.shape_signature = 7.
"""

from __future__ import annotations

import struct

_MODEL_SUBGRAPHS = 2
_SUBGRAPH_TENSORS = 0
_TENSOR_SHAPE = 0
_TENSOR_SHAPE_SIGNATURE = 7


class FlatbufferError(ValueError):
    """The bytes are not a TensorFlow Lite flatbuffer this reader understands."""


def _u32(data: bytes, at: int) -> int:
    if at < 0 or at + 4 > len(data):
        raise FlatbufferError(f"offset {at} is outside the {len(data)}-byte file")
    return int(struct.unpack_from("<I", data, at)[0])


def _i32(data: bytes, at: int) -> int:
    return int(struct.unpack_from("<i", data, at)[0]) if 0 <= at <= len(data) - 4 else _u32(data, at)


def _field(data: bytes, table: int, index: int) -> int | None:
    """Position of field ``index`` of the table at ``table``, or ``None`` when absent."""
    vtable = table - _i32(data, table)
    if vtable < 0 or vtable + 4 > len(data):
        raise FlatbufferError(f"bad vtable at {vtable}")
    vtable_size = struct.unpack_from("<H", data, vtable)[0]
    slot = 4 + 2 * index
    if slot + 2 > vtable_size:
        return None
    offset = struct.unpack_from("<H", data, vtable + slot)[0]
    return table + offset if offset else None


def _vector(data: bytes, at: int) -> tuple[int, int]:
    """(first element, length) of the vector referenced at ``at``."""
    start = at + _u32(data, at)
    length = _u32(data, start)
    if start + 4 + 4 * length > len(data):
        raise FlatbufferError(f"vector at {start} of {length} elements runs past the file")
    return start + 4, length


def _tables(data: bytes, at: int | None) -> list[int]:
    if at is None:
        return []
    first, length = _vector(data, at)
    return [first + 4 * i + _u32(data, first + 4 * i) for i in range(length)]


def dynamic_batch_offsets(data: bytes) -> list[int]:
    """Byte offsets of every -1 in every tensor's ``shape_signature``; ``FlatbufferError`` if unreadable.

    Only the batch dimension may be dynamic: a -1 in another position (or a ``shape`` of another batch size
    than 1 there) raises, because setting it to 1 would change the model's meaning.
    """
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise FlatbufferError("not a TensorFlow Lite model (no TFL3 identifier)")
    offsets: list[int] = []
    for subgraph in _tables(data, _field(data, _u32(data, 0), _MODEL_SUBGRAPHS)):
        for tensor in _tables(data, _field(data, subgraph, _SUBGRAPH_TENSORS)):
            signature = _field(data, tensor, _TENSOR_SHAPE_SIGNATURE)
            if signature is None:
                continue
            first, length = _vector(data, signature)
            for dim in range(length):
                if _i32(data, first + 4 * dim) != -1:
                    continue
                shape_at = _field(data, tensor, _TENSOR_SHAPE)
                shape_first, shape_length = _vector(data, shape_at) if shape_at is not None else (0, 0)
                if dim != 0 or shape_length < 1 or _i32(data, shape_first) != 1:
                    raise FlatbufferError(f"tensor at {tensor} has a dynamic dimension {dim} (only the batch may be)")
                offsets.append(first + 4 * dim)
    return sorted(offsets)


def fix_batch(data: bytes, offsets: list[int]) -> bytes:
    """A copy of ``data`` with the int32 at each offset (which must be -1) set to 1: what the browser runs."""
    patched = bytearray(data)
    for offset in offsets:
        if _i32(data, offset) != -1:
            raise FlatbufferError(f"offset {offset} does not hold -1")
        struct.pack_into("<i", patched, offset, 1)
    return bytes(patched)
