import gzip
import struct

import numpy as np
import pytest

from mnistflow.idx import IDXError, encode_idx, parse_idx, read_idx, write_idx


def test_roundtrip_plain_and_gzip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a", images)
    write_idx(tmp_path / "a.gz", images)
    assert (tmp_path / "a").read_bytes()[:4] == b"\x00\x00\x08\x03"
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == (tmp_path / "a").read_bytes()
    for name in ("a", "a.gz"):
        back = read_idx(tmp_path / name)
        assert back.dtype == np.uint8 and back.shape == (2, 3, 4)
        np.testing.assert_array_equal(back, images)


def test_header_layout_matches_the_mnist_format():
    labels = np.array([5, 0, 4], dtype=np.uint8)
    data = encode_idx(labels)
    assert data == b"\x00\x00\x08\x01" + struct.pack(">I", 3) + bytes([5, 0, 4])


def test_big_endian_types_are_decoded():
    values = np.array([[1, -2], [300000, 7]], dtype=np.int32)
    back = parse_idx(encode_idx(values))
    assert back.dtype == np.int32
    np.testing.assert_array_equal(back, values)


def test_bad_magic_names_the_file():
    with pytest.raises(IDXError, match=r"labels\.idx: bad magic number 0x01020801"):
        parse_idx(b"\x01\x02\x08\x01" + struct.pack(">I", 1) + b"\x00", name="labels.idx")
    with pytest.raises(IDXError, match="bad magic number 0x00000701"):
        parse_idx(b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", name="x")


def test_truncated_data_and_header():
    data = encode_idx(np.zeros((4, 28, 28), np.uint8))
    with pytest.raises(IDXError, match=r"imgs: truncated: 3000 bytes, expected 3152 for shape \(4, 28, 28\)"):
        parse_idx(data[:3000], name="imgs")
    with pytest.raises(IDXError, match="truncated header"):
        parse_idx(data[:10], name="imgs")
    with pytest.raises(IDXError, match="too short"):
        parse_idx(b"\x00\x00", name="imgs")


def test_wrong_count_in_header():
    data = bytearray(encode_idx(np.zeros(5, np.uint8)))
    data[4:8] = struct.pack(">I", 3)  # header says 3 items, 5 follow
    with pytest.raises(IDXError, match="trailing bytes: 13 bytes, expected 11"):
        parse_idx(bytes(data), name="labels")
