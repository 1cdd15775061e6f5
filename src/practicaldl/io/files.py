"""Atomic file writes and JSON reads: the one place that writes a file for practicaldl.

A write goes to a temporary file in the same folder, is flushed to disk, then ``os.replace``d over
the target, so a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    """``atomic_write_bytes`` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def read_json_file(path: Path, what: str, error: type[Exception]):
    """The parsed JSON of ``path``; ``error`` (naming ``what`` and the file) when missing or not JSON."""
    if not path.is_file():
        raise error(f"{what} file {str(path)!r} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{what} {path.name} is not valid JSON: {exc}") from exc


def finite_json(value):
    """A copy of a JSON-like value with NaN and infinities replaced by None (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value
