"""IDX files (the MNIST container format): strict reading and writing.

The reader checks the magic number, the dimensions and the file length, so a truncated or
foreign file is an error instead of a silently reshaped array.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from lenet_deploy.errors import LenetError

_UBYTE = 0x08


def encode_idx(array: np.ndarray) -> bytes:
    """The canonical IDX bytes of a uint8 array (what the MNIST files hold, uncompressed)."""
    if array.dtype != np.uint8:
        raise ValueError(f"IDX encoding here is for uint8 arrays, got {array.dtype}")
    header = bytes([0, 0, _UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def decode_idx(data: bytes, where: str, expect_ndim: int, expect_tail: tuple[int, ...] = ()) -> np.ndarray:
    """Parse IDX bytes; `where` names the source in errors."""
    if len(data) < 4:
        raise LenetError(f"{where}: not an IDX file (only {len(data)} bytes)")
    zero0, zero1, dtype_code, ndim = data[:4]
    if zero0 or zero1 or dtype_code != _UBYTE:
        raise LenetError(f"{where}: not an unsigned-byte IDX file (magic {data[:4].hex()})")
    if ndim != expect_ndim:
        raise LenetError(f"{where}: IDX file has {ndim} dimensions, expected {expect_ndim}")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise LenetError(f"{where}: truncated IDX header ({len(data)} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    if expect_tail and tuple(shape[1:]) != expect_tail:
        raise LenetError(f"{where}: item shape {tuple(shape[1:])}, expected {expect_tail}")
    expected = header_len + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "has trailing bytes"
        raise LenetError(f"{where}: {kind}: {len(data)} bytes, header {shape} needs {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(shape)


def read_idx_bytes(path: Path) -> bytes:
    """The uncompressed content of a raw or gzipped IDX file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LenetError(f"{path}: cannot read ({exc.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise LenetError(f"{path}: corrupt gzip ({exc})") from None
    return raw
