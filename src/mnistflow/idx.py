"""Reading and writing IDX files, the format of MNIST and its relatives.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the data in C order.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IDXError(ValueError):
    """A file is not a well-formed IDX file; the message names the file and the problem."""


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array, checking magic, dimensions and length."""
    if len(data) < 4:
        raise IDXError(f"{name}: {len(data)} bytes is too short for an IDX header")
    zero1, zero2, code, ndim = data[0], data[1], data[2], data[3]
    if zero1 != 0 or zero2 != 0 or code not in DTYPES:
        raise IDXError(
            f"{name}: bad magic number 0x{data[:4].hex()} "
            f"(expected 0x0000TTNN with type code TT in {sorted(f'{c:02x}' for c in DTYPES)})"
        )
    if ndim == 0:
        raise IDXError(f"{name}: magic number says 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{name}: truncated header ({len(data)} bytes, need {header} for {ndim} dims)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = DTYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "has trailing bytes"
        raise IDXError(
            f"{name}: {problem}: {len(data)} bytes, expected {expected} for shape {shape} of {dtype}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed when its name ends in ``.gz``."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    return parse_idx(data, name=str(path))


def encode_idx(array: np.ndarray) -> bytes:
    array = np.asarray(array)
    matches = [
        code
        for code, dtype in DTYPES.items()
        if (dtype.kind, dtype.itemsize) == (array.dtype.kind, array.dtype.itemsize)
    ]
    if not matches:
        raise TypeError(f"IDX has no type code for {array.dtype}")
    code = matches[0]
    big = DTYPES[code]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=big).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzip-compressed when the name ends in ``.gz``)."""
    data = encode_idx(array)
    path = Path(path)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
