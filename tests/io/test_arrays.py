"""Reading files anyone may have written: .npz / .npy headers checked before the data, JSON and
TOML sizes and nesting bounded (io.arrays, io.files, io.limits)."""

import io
import json
import zipfile

import numpy as np
import pytest

from practicaldl.io import arrays, files, limits
from practicaldl.io.arrays import ArrayFileError, read_npy, read_npz
from practicaldl.io.files import json_depth, read_json_file


def npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def crafted_npy(shape, dtype="<f8", data=b"") -> bytes:
    """An .npy header promising ``shape`` of ``dtype``, followed by ``data`` only."""
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + data  # the magic string, the header, then the data


def zipped(path, members: dict, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_plain_arrays_come_back(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.arange(6.0).reshape(3, 2), y=np.array(["a", "b", "a"]))
    got = read_npz(tmp_path / "d.npz")
    assert got["X"].shape == (3, 2) and got["y"].tolist() == ["a", "b", "a"]
    np.savez_compressed(tmp_path / "c.npz", X=np.ones((50, 4)))
    assert read_npz((tmp_path / "c.npz").read_bytes())["X"].sum() == 200
    np.save(tmp_path / "a.npy", np.eye(3))
    assert read_npy(tmp_path / "a.npy").trace() == 3


def test_a_header_asking_for_a_terabyte_is_refused_before_anything_is_allocated(tmp_path):
    huge = crafted_npy((10**6, 10**6), data=b"\0" * 64)  # 7.3 TiB promised, 64 bytes there
    path = zipped(tmp_path / "huge.npz", {"X.npy": huge, "y.npy": npy_bytes(np.zeros(2))})
    with pytest.raises(ArrayFileError, match=r"array 'X' of .*huge.npz has shape \(1000000, 1000000\).*more than"):
        read_npz(path)
    (tmp_path / "huge.npy").write_bytes(huge)
    with pytest.raises(ArrayFileError, match="more than the 4 GiB"):
        read_npy(tmp_path / "huge.npy")


def test_a_header_promising_more_than_the_file_holds_is_refused(tmp_path, monkeypatch):
    short = crafted_npy((1000,), data=b"\0" * 80)  # 8000 bytes promised, 80 there
    with pytest.raises(ArrayFileError, match=r"\(1000,\) of float64 \(8000 bytes\) but holds 80 bytes.*truncated"):
        read_npz(zipped(tmp_path / "t.npz", {"X.npy": short}))
    monkeypatch.setattr(arrays, "MAX_ARRAY_BYTES", 1000)  # a compressed member: its declared size counts
    bomb = zipped(tmp_path / "bomb.npz", {"X.npy": npy_bytes(np.zeros(10_000))}, zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 1000
    with pytest.raises(ArrayFileError, match="more than the 1000 bytes"):
        read_npz(bomb)


@pytest.mark.parametrize("content, message", [
    (b"not a zip at all", "not a readable .npz file"),
    (b"PK\x03\x04" + b"\0" * 40, "not a readable .npz file"),
])
def test_corrupt_files_are_one_error(tmp_path, content, message):
    (tmp_path / "bad.npz").write_bytes(content)
    with pytest.raises(ArrayFileError, match=message):
        read_npz(tmp_path / "bad.npz")


def test_object_arrays_and_bad_headers_are_refused(tmp_path):
    obj = npy_bytes(np.array([1, 2], dtype=np.int64)).replace(b"'<i8'", b"'|O' ")
    with pytest.raises(ArrayFileError, match="Python objects"):
        read_npz(zipped(tmp_path / "o.npz", {"X.npy": obj}))
    with pytest.raises(ArrayFileError, match="not a readable .npy array"):
        read_npz(zipped(tmp_path / "h.npz", {"X.npy": b"\x93NUMPY\x01\x00garbage"}))
    good = tmp_path / "g.npz"
    np.savez(good, X=np.ones(100))
    data = bytearray(good.read_bytes())
    data[200] ^= 0xFF  # a flipped bit in the stored data: the CRC says so
    (tmp_path / "crc.npz").write_bytes(bytes(data))
    with pytest.raises(ArrayFileError, match="crc.npz.*not a readable.*CRC"):
        read_npz(tmp_path / "crc.npz")


def test_json_nesting_and_size_are_bounded(tmp_path, monkeypatch):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=r"deep.json' is nested too deeply"):
        read_json_file(deep, "results", ValueError)
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 65 + "]" * 65)  # parses, but nests deeper than the limit
    with pytest.raises(ValueError, match="nested more than 64 levels"):
        read_json_file(nested, "results", ValueError)
    nested.write_text("[" * 64 + "]" * 64)
    assert json_depth(read_json_file(nested, "results", ValueError), 64) == 64
    monkeypatch.setattr(files, "MAX_JSON_BYTES", 10)
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"x": "y" * 20}))
    with pytest.raises(ValueError, match="more than the 10 bytes"):
        read_json_file(big, "results", ValueError)
    assert limits.size_text(3 * 2**30) == "3 GiB"


def test_json_that_is_not_json_names_the_file(tmp_path):
    for text in ("{", "\xff\xfe", "1" * 5000):
        (tmp_path / "r.json").write_bytes(text.encode("latin-1"))
        with pytest.raises(ValueError, match="r.json' is not valid JSON"):
            read_json_file(tmp_path / "r.json", "results", ValueError)
