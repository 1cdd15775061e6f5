"""Folders written as a unit: a report, a demo's folder, the report files of a study folder.

A command that writes a set of entries (files and folders) into ``out`` opens a ``FolderUpdate``
on it: the new entries are written to a staging folder inside ``out``
(``.practicaldl-staging-<pid>-<token>``; ``out`` and its missing parents are created, and removed
again if the command fails), and only at the end are they moved into place, each entry of the set
swapped in turn: the old one moved into the staging folder, the new one moved into place (an
entry of the set that the new set lacks is removed: a stale ``figures/`` or ``models/`` never
outlives its report). The swaps run with Ctrl-C and SIGTERM held back
(``io.files.deferred_signals``) and with the folder locked against another practicaldl process
doing the same (``flock``); a swap that fails half-way is undone.

So an interrupt, a failure or a crash before the end leaves the old set untouched, and one after
it the new set: never ``results.json`` of one run with ``models/`` of another. A staging folder
that a killed process left behind is removed by the next update of the folder. Entries that are
not in the set (a study's ``study.json`` and ``runs/``, the user's own files) are left alone.

A folder that practicaldl did not write (no practicaldl ``results.json`` or ``study.json``) is
not overwritten: an update whose entries already exist there is refused (``FolderNotOurs``)
unless ``force``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path

from .files import UnsafePath, deferred_signals, has_format, inside, write_inside

REPORT_ENTRIES = ("results.json", "summary.md", "index.html", "figures")
STAGING_PREFIX = ".practicaldl-staging-"
_STAGING = re.compile(r"^\.practicaldl-staging-(\d+)-[0-9a-f]+$")
_OWN_FORMATS = {"results.json": "practicaldl-results", "study.json": "practicaldl-study"}


class FolderNotOurs(ValueError):
    """A folder whose entries practicaldl would replace, but did not write."""


def written_by_practicaldl(folder) -> bool:
    """True when ``folder`` holds a ``results.json`` or ``study.json`` that practicaldl wrote."""
    return any(has_format(Path(folder) / name, fmt) for name, fmt in _OWN_FORMATS.items())


def check_replaceable(out, entries, *, force: bool = False) -> None:
    """Refuse (``FolderNotOurs``) to replace ``entries`` of a folder practicaldl did not write,
    unless ``force``; a file where the folder should be is refused too (``UnsafePath``)."""
    out = Path(out)
    if os.path.lexists(out) and not out.is_dir():
        raise UnsafePath(f"{str(out)!r} is a file, not a folder")
    if force or not out.is_dir():
        return
    present = [e for e in entries if os.path.lexists(out / e)]
    if present and not written_by_practicaldl(out):
        raise FolderNotOurs(f"the folder {str(out)!r} holds {', '.join(present)}, which practicaldl did not write "
                            "(there is no practicaldl results.json or study.json in it); choose another folder, or "
                            "replace them with --force")


class FolderUpdate:
    """Replace ``entries`` of ``out`` as one (see the module docstring).

    ``with FolderUpdate(out, entries) as update:`` write with ``update.write(relative, data)`` or
    under ``update.path`` (``write_inside(update.path, ...)``); the set is moved into place when
    the block ends without an exception, and the staging folder removed when it raises.
    """

    def __init__(self, out, entries=REPORT_ENTRIES, *, force: bool = False):
        self.out, self.entries = Path(out), tuple(entries)
        check_replaceable(self.out, self.entries, force=force)
        self.path = None
        self._created: list[Path] = []  # folders this update made (removed again if it fails)

    def __enter__(self) -> "FolderUpdate":
        missing = [p for p in (self.out, *self.out.parents) if not os.path.lexists(p)]
        for folder in reversed(missing):
            folder.mkdir()
            self._created.append(folder)
        remove_stale_staging(self.out)
        self.path = self.out / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
        self.path.mkdir()
        return self

    def __exit__(self, exc_type, exc, tb):
        committed = False
        try:
            if exc_type is None:
                with deferred_signals(), _locked(self.out):
                    self._swap()
                committed = True
        finally:
            shutil.rmtree(self.path, ignore_errors=True)
            if not committed:
                for folder in reversed(self._created):
                    try:
                        folder.rmdir()
                    except OSError:
                        break
        return False

    def write(self, relative, data: bytes) -> Path:
        """Stage ``relative`` (inside the set's entries); return where it will be once in place."""
        if Path(relative).parts[:1] not in [(e,) for e in self.entries]:
            raise UnsafePath(f"{str(relative)!r} is not part of the entries {list(self.entries)} being written")
        write_inside(self.path, relative, data)
        return inside(self.out, relative)

    def _swap(self) -> None:
        replaced = self.path / ".replaced"
        replaced.mkdir()
        done = []
        try:
            for entry in self.entries:
                old, new = self.out / entry, self.path / entry
                if os.path.lexists(old):
                    os.rename(old, replaced / entry)
                    done.append((replaced / entry, old))
                if os.path.lexists(new):
                    os.rename(new, old)
                    done.append((old, new))
        except BaseException:
            for moved, origin in reversed(done):  # undo: the old set as it was
                os.rename(moved, origin)
            raise


def remove_stale_staging(folder) -> None:
    """Remove the staging folders in ``folder`` whose process is gone (a killed command's)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        match = _STAGING.match(name)
        if match and not _alive(int(match.group(1))):
            shutil.rmtree(Path(folder) / name, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True  # no cheap check: keep it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


@contextmanager
def _locked(folder: Path):
    """An exclusive ``flock`` on ``folder`` (POSIX) while its entries are swapped."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
