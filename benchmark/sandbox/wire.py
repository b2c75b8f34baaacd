"""The messages between the harness and a plugin's child process: JSON plus raw numeric arrays.

Never pickle: unpickling what an untrusted child sends would run its code in the harness. A frame
is an 8-byte big-endian length, a UTF-8 JSON header listing the arrays (name, dtype, shape), then
the arrays' bytes in that order. Only plain numeric dtypes are accepted, and a frame larger than
:data:`MAX_FRAME` is refused before anything is allocated.
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO, Dict, Tuple

import numpy as np

from ..core.errors import BenchmarkError

DTYPES = frozenset({"bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"})
MAX_HEADER = 64 << 20
MAX_FRAME = 16 << 30  # the largest pre-training set a cpu- or paper-tier hook is given, with room


class ChannelClosed(BenchmarkError):
    """The other side closed the pipe (a child that exited or was killed)."""


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise ChannelClosed("the channel closed mid-message")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def send(stream: BinaryIO, header: Dict[str, Any], arrays: Dict[str, np.ndarray]) -> None:
    """Write one frame: ``header`` (JSON-serialisable) and ``arrays`` (numeric numpy arrays)."""
    listing = []
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        if a.dtype.name not in DTYPES:
            raise BenchmarkError(f"array {name!r} of dtype {a.dtype} cannot cross the sandbox")
        arrays[name] = a
        listing.append([name, a.dtype.name, list(a.shape)])
    head = json.dumps(dict(header, arrays=listing), allow_nan=True).encode()
    stream.write(struct.pack(">Q", len(head)))
    stream.write(head)
    for name, _, _ in listing:
        stream.write(memoryview(arrays[name]).cast("B"))
    stream.flush()


def receive(stream: BinaryIO) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """Read one frame; anything malformed is a :class:`BenchmarkError`, never code."""
    raw = stream.read(8)
    if not raw:
        raise ChannelClosed("the channel closed")
    if len(raw) < 8:
        raw += _read_exact(stream, 8 - len(raw))
    (n,) = struct.unpack(">Q", raw)
    if n > MAX_HEADER:
        raise BenchmarkError(f"sandbox message header of {n} bytes refused")
    try:
        header = json.loads(_read_exact(stream, n))
        listing = header.pop("arrays")
        sizes = [(str(name), np.dtype(dtype), tuple(int(s) for s in shape)) for name, dtype, shape in listing]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BenchmarkError(f"malformed sandbox message: {type(exc).__name__}: {exc}") from exc
    if not isinstance(header, dict):
        raise BenchmarkError("malformed sandbox message: the header is not an object")
    total = 0
    for name, dtype, shape in sizes:
        if dtype.name not in DTYPES or any(s < 0 for s in shape):
            raise BenchmarkError(f"sandbox array {name!r}: dtype {dtype} shape {shape} refused")
        total += dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    if total > MAX_FRAME:
        raise BenchmarkError(f"sandbox message of {total} bytes refused")
    arrays = {}
    for name, dtype, shape in sizes:
        count = int(np.prod(shape, dtype=np.int64))
        arrays[name] = np.frombuffer(_read_exact(stream, count * dtype.itemsize), dtype=dtype).reshape(shape).copy()
    return header, arrays
