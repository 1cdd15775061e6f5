"""Writes that land inside their folder, whole, with the user's permissions; JSON reads with limits.

- ``atomic_write_bytes(path, data)``: the data goes to a temporary file in the same folder, is
  flushed to disk, then ``os.replace``d over the target, so a reader sees the old file or the new
  one, never half of one. The temporary file is created with mode 0o666 and the process's umask
  applies, as for any file that ``open`` creates (umask 022 gives 0o644: others can read a shared
  report).
- ``write_inside(root, relative, data)``: the one helper every writer of a folder (a report, a
  study, its models, a staged folder) uses: ``relative`` is checked to land inside ``root``
  (``inside``: no absolute path, no ``..``, no symbolic link leading out), then written atomically.
  Names that come from flags or files become file names through ``safe_name``.
- ``replace_together({path: data})``: several files (a model's ``.npz`` and ``.json``) written to
  temporary files first, then moved into place one after the other with Ctrl-C and SIGTERM held
  back (``deferred_signals``), so an interrupt leaves the old set or the new one.
- ``check_writable_folder(folder, what)``: before any work, a folder that cannot be created or
  written (a file in the way, no permission) is refused.
- ``read_json_file``: JSON with the limits of ``io.limits`` (size, nesting), errors in one line.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

from .limits import MAX_JSON_BYTES, MAX_JSON_DEPTH, size_text


class UnsafePath(ValueError):
    """A write that would land outside its folder, or a folder that cannot be written."""


# -- names and containment ----------------------------------------------------------------------
_UNSAFE_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")
NAME_LIMIT = 100  # characters of a file name made from a name


def safe_name(text, *, fallback: str = "unnamed") -> str:
    """A file name made from ``text``: letters, digits, ``.``, ``_`` and ``-`` kept, every run of
    other characters (``/``, ``\\``, spaces, ...) one ``-``, no leading or trailing ``.`` or ``-``
    (no hidden file, no ``..``, no option-like name), at most ``NAME_LIMIT`` characters;
    ``fallback`` when nothing is left. ``"../../ESCAPED"`` -> ``"ESCAPED"``."""
    name = _UNSAFE_CHARACTERS.sub("-", str(text)).strip(".-")
    return name[:NAME_LIMIT].rstrip(".-") or fallback


def inside(root, relative) -> Path:
    """``root / relative``, refused (``UnsafePath``) unless it lands inside ``root``: ``relative``
    must not be absolute or hold ``..``, and no symbolic link on the way may lead out of ``root``."""
    root, rel = Path(root), Path(relative)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise UnsafePath(f"refusing to write {str(relative)!r}: a file of the folder {str(root)!r} must be a "
                         "relative path without '..'")
    target = root / rel
    real_root, real_target = os.path.realpath(root), os.path.realpath(target)
    if real_target == real_root or os.path.commonpath([real_root, real_target]) != real_root:
        raise UnsafePath(f"refusing to write {str(target)!r}: it leads outside the folder {str(root)!r} "
                         f"(to {real_target!r})")
    return target


def write_inside(root, relative, data: bytes) -> Path:
    """``atomic_write_bytes(inside(root, relative), data)``: the write every folder writer uses."""
    return atomic_write_bytes(inside(root, relative), data)


def check_writable_folder(folder, what: str) -> Path:
    """Refuse (``UnsafePath``), before any work, a ``folder`` that cannot be created or written:
    a file where it or one of its parents should be, or a nearest existing folder without write
    permission. ``what`` names it in the message (``--out``)."""
    folder = Path(folder)
    probe = folder
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    if os.path.lexists(probe) and not probe.is_dir():
        where = "is a file" if probe == folder else f"cannot be created: {str(probe)!r} is a file"
        raise UnsafePath(f"invalid value for {what}: {str(folder)!r} {where}, not a folder")
    if os.path.lexists(probe) and not os.access(probe, os.W_OK | os.X_OK):
        raise UnsafePath(f"invalid value for {what}: {str(folder)!r} cannot be written: permission denied "
                         f"on {str(probe)!r}")
    return folder


# -- atomic writes ----------------------------------------------------------------------------
def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    tmp = _write_temporary(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise
    return path


def _write_temporary(path: Path, data: bytes) -> str:
    """A temporary file beside ``path`` holding ``data``, flushed to disk; its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new, exclusively created ``.<name>.<random>.tmp`` beside ``path``: (descriptor, path).

    ``os.open`` with mode 0o666 lets the umask decide the permissions (``tempfile.mkstemp`` would
    always give 0o600).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = str(path.parent / f".{path.name[:NAME_LIMIT]}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # a name drawn twice: draw again
            continue


def atomic_write_text(path, text: str) -> Path:
    """``atomic_write_bytes`` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def replace_together(files: dict) -> list[Path]:
    """Write ``{path: bytes}`` as a set: every temporary file first, then each moved into place
    with interrupts held back (``deferred_signals``); a failure before the moves leaves every
    old file as it was."""
    temporaries = {}
    try:
        for path, data in files.items():
            temporaries[Path(path)] = _write_temporary(Path(path), data)
        with deferred_signals():
            for path, tmp in temporaries.items():
                os.replace(tmp, path)
    except BaseException:
        for tmp in temporaries.values():
            _unlink(tmp)
        raise
    return list(temporaries)


@contextmanager
def deferred_signals(signals=(signal.SIGINT, signal.SIGTERM)):
    """Hold Ctrl-C and SIGTERM back for the duration (a few renames that must happen together),
    then deliver the first one that came. Only the main thread can set handlers; elsewhere this
    does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = {}
    try:
        for signum in signals:
            if signal.getsignal(signum) is not None:  # None: a handler set outside Python, which we leave alone
                previous[signum] = signal.signal(signum, lambda n, frame: received.append(n))
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            signal.raise_signal(received[0])


# -- JSON ------------------------------------------------------------------------------------------
def has_format(path, fmt: str) -> bool:
    """True when the JSON file ``path`` opens with practicaldl's ``{"format": fmt`` (its first key,
    as practicaldl writes it): how a file practicaldl wrote is told from one it did not, without
    reading all of it."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).decode("utf-8", "replace")
    except OSError:
        return False
    return re.match(r'\s*\{\s*"format"\s*:\s*"' + re.escape(fmt) + '"', head) is not None


def read_json_file(path, what: str, error: type[Exception]):
    """The parsed JSON of ``path``; ``error`` (naming ``what`` and the file) when it is missing, not
    JSON, larger than ``MAX_JSON_BYTES`` or nested deeper than ``MAX_JSON_DEPTH``."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} file {str(path)!r} does not exist")
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise error(f"{what} {str(path)!r} is {size_text(size)}, more than the {size_text(MAX_JSON_BYTES)} "
                    "practicaldl reads")
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except RecursionError as exc:
        raise error(f"{what} {str(path)!r} is nested too deeply to be read (at most {MAX_JSON_DEPTH} levels)") from exc
    except (UnicodeDecodeError, ValueError) as exc:  # json.JSONDecodeError, an integer of too many digits
        raise error(f"{what} {str(path)!r} is not valid JSON: {_first_line(exc)}") from exc
    if json_depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise error(f"{what} {str(path)!r} is nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def json_depth(value, limit: int) -> int:
    """How deeply lists and objects nest in ``value`` (a scalar: 0), counted up to ``limit + 1``
    without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, (dict, list)):
            continue
        deepest = max(deepest, depth)
        if depth > limit:
            return depth
        stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def finite_json(value):
    """A copy of a JSON-like value with NaN and infinities replaced by None (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value
