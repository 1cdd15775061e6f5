"""Reading ``.npz`` and ``.npy`` files that anyone may have written: headers checked before the data.

An ``.npy`` header names a shape and a dtype; NumPy allocates what it names before it reads the
data. ``read_npz`` and ``read_npy`` read each header first and refuse, in one line naming the file
and the array (``ArrayFileError``): object arrays (never unpickled), a header NumPy cannot parse,
an array larger than ``io.limits.MAX_ARRAY_BYTES``, and an array whose header promises more (or
less) data than the file holds (a truncated or crafted file; for a compressed ``.npz``, the size
its zip directory declares). Only then are the arrays read, with ``allow_pickle=False``; any
other failure to read (a corrupt zip, a bad CRC) is an ``ArrayFileError`` as well.
"""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import numpy as np

from .limits import MAX_ARRAY_BYTES, size_text


class ArrayFileError(ValueError):
    """An ``.npz`` or ``.npy`` file that cannot be read safely: corrupt, truncated, crafted or too large."""


def _check_header(fp, stored_bytes: int, where: str) -> None:
    """Read an ``.npy`` header from ``fp`` and check it against ``stored_bytes`` (the member's size)."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise ArrayFileError(f"{where} uses .npy format {version[0]}.{version[1]}, which practicaldl does not read")
    except ArrayFileError:
        raise
    except Exception as exc:  # ValueError for a bad magic string or header
        raise ArrayFileError(f"{where} is not a readable .npy array: {_first_line(exc)}") from exc
    if dtype.hasobject:
        raise ArrayFileError(f"{where} holds Python objects (dtype {dtype}); practicaldl reads numbers and text only")
    n_bytes = math.prod(shape) * dtype.itemsize
    if n_bytes > MAX_ARRAY_BYTES:
        raise ArrayFileError(f"{where} has shape {shape} of {dtype}: {size_text(n_bytes)}, more than the "
                             f"{size_text(MAX_ARRAY_BYTES)} an array may take")
    data_bytes = stored_bytes - fp.tell()
    if n_bytes != data_bytes:
        raise ArrayFileError(f"{where} has shape {shape} of {dtype} ({n_bytes} bytes) but holds {data_bytes} bytes "
                             "of data: the file is truncated or corrupt")


def read_npz(source, name: str = "") -> dict:
    """``{array name: array}`` of an ``.npz`` (a path or the file's bytes), every header checked
    first (see the module docstring). ``name`` names the file in messages (default: the path)."""
    name = name or str(source)
    opened = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        with zipfile.ZipFile(opened) as archive:
            for info in archive.infolist():
                where = f"array {info.filename.removesuffix('.npy')!r} of {name}"
                with archive.open(info) as fp:
                    _check_header(fp, info.file_size, where)
        if not isinstance(opened, io.BytesIO):
            opened = Path(opened)
        else:
            opened.seek(0)
        with np.load(opened, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except ArrayFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError, NotImplementedError,
            RuntimeError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:  # the operating system's: permission, ...
            raise
        raise ArrayFileError(f"{name} is not a readable .npz file: {_first_line(exc)}") from exc


def read_npy(path) -> np.ndarray:
    """The array of an ``.npy`` file, its header checked first (see the module docstring)."""
    path = Path(path)
    try:
        with open(path, "rb") as fp:
            _check_header(fp, path.stat().st_size, str(path))
        return np.load(path, allow_pickle=False)
    except ArrayFileError:
        raise
    except (ValueError, EOFError) as exc:
        raise ArrayFileError(f"{path} is not a readable .npy file: {_first_line(exc)}") from exc


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]
