"""Folders written as a unit (io.folders): the old set or the new one, never a mix; folders that
practicaldl did not write are left alone unless forced; names made safe; writes kept inside."""

import os
import signal

import pytest

from practicaldl.io import folders
from practicaldl.io.files import UnsafePath, inside, safe_name, write_inside
from practicaldl.io.folders import FolderNotOurs, FolderUpdate, check_replaceable

ENTRIES = ("results.json", "index.html", "figures")
OURS = b'{"format": "practicaldl-results", "sections": []}'


def snapshot(root):
    """{relative path: bytes} of every file under root (folders by their files)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def write_set(out, tag, *, figures=("a",), force=False):
    with FolderUpdate(out, ENTRIES, force=force) as update:
        update.write("results.json", OURS[:-1] + f', "tag": "{tag}"}}'.encode())
        update.write("index.html", tag.encode())
        for name in figures:
            update.write(f"figures/{name}.png", tag.encode())


@pytest.mark.parametrize("text, name", [("../../ESCAPED", "ESCAPED"), ("/etc/passwd", "etc-passwd"),
                                        ("..", "unnamed"), (".hidden", "hidden"), ("a b/c\\d", "a-b-c-d"),
                                        ("-rf", "rf"), ("init x10", "init-x10"), ("l2=0.7", "l2-0.7"),
                                        ("é" * 3, "unnamed"), ("x" * 500, "x" * 100)])
def test_safe_name_keeps_a_name_inside_its_folder(text, name):
    assert safe_name(text) == name


def test_inside_refuses_paths_that_leave_the_folder(tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    assert inside(root, "figures/a.png") == root / "figures" / "a.png"
    for bad in ("../x", "figures/../../x", str(tmp_path / "abs"), "", "."):
        with pytest.raises(UnsafePath):
            inside(root, bad)
    (root / "link").symlink_to(tmp_path)  # a symbolic link planted in the folder, leading out
    with pytest.raises(UnsafePath, match="leads outside"):
        write_inside(root, "link/escaped.txt", b"x")
    assert not (tmp_path / "escaped.txt").exists()


def test_a_new_folder_appears_whole_and_a_failed_one_not_at_all(tmp_path):
    out = tmp_path / "deep" / "out"
    with pytest.raises(RuntimeError):
        with FolderUpdate(out, ENTRIES) as update:
            update.write("index.html", b"half")
            raise RuntimeError("fails before the end")
    assert not (tmp_path / "deep").exists()  # the folders it made are gone again
    write_set(out, "one")
    assert snapshot(out) == {"results.json": snapshot(out)["results.json"], "index.html": b"one",
                             "figures/a.png": b"one"}
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no staging left


def test_the_set_is_replaced_whole_and_stale_entries_go_other_entries_stay(tmp_path):
    out = tmp_path / "out"
    write_set(out, "old", figures=("a", "b"))
    (out / "runs").mkdir()
    (out / "runs" / "r.json").write_text("a record")  # not in the set: left alone
    write_set(out, "new", figures=("c",))
    files = snapshot(out)
    assert files["index.html"] == b"new" and b'"tag": "new"' in files["results.json"]
    assert sorted(k for k in files if k.startswith("figures")) == ["figures/c.png"]  # a and b went with the old set
    assert files["runs/r.json"] == b"a record"


def test_a_failure_before_the_end_leaves_the_old_set_byte_for_byte(tmp_path):
    out = tmp_path / "out"
    write_set(out, "old")
    before = snapshot(out)
    with pytest.raises(KeyboardInterrupt):
        with FolderUpdate(out, ENTRIES) as update:
            update.write("results.json", b"new")
            update.write("figures/z.png", b"new")
            raise KeyboardInterrupt
    assert snapshot(out) == before and sorted(p.name for p in out.iterdir()) == sorted(ENTRIES)


def test_a_swap_that_fails_half_way_is_undone(tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_set(out, "old")
    before = snapshot(out)
    real, calls = os.rename, []

    def rename(src, dst):
        calls.append(src)
        if len(calls) == 4:  # old results.json out, new in, old index.html out, then the disk says no
            raise OSError(28, "No space left on device", str(src))
        return real(src, dst)

    monkeypatch.setattr(folders.os, "rename", rename)
    with pytest.raises(OSError, match="No space"):
        write_set(out, "new")
    monkeypatch.undo()
    assert snapshot(out) == before


def test_an_interrupt_during_the_swap_waits_for_the_whole_new_set(tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_set(out, "old")
    real, calls = os.rename, []

    def rename(src, dst):
        calls.append(src)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the swap
        return real(src, dst)

    monkeypatch.setattr(folders.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):  # delivered once the set is in place
        write_set(out, "new")
    monkeypatch.undo()
    files = snapshot(out)
    assert files["index.html"] == b"new" and files["figures/a.png"] == b"new" and b'"new"' in files["results.json"]


def test_a_folder_practicaldl_did_not_write_is_refused_unless_forced(tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("my own page")
    (out / "notes.txt").write_text("mine too")
    with pytest.raises(FolderNotOurs, match="index.html, which practicaldl did not write.*--force"):
        write_set(out, "new")
    assert (out / "index.html").read_text() == "my own page"
    write_set(out, "new", force=True)
    assert (out / "index.html").read_bytes() == b"new" and (out / "notes.txt").read_text() == "mine too"
    write_set(out, "again")  # now a practicaldl folder: no --force needed
    check_replaceable(tmp_path / "empty-or-missing", ENTRIES)  # nothing to replace: fine
    (tmp_path / "f").write_text("x")
    with pytest.raises(UnsafePath, match="is a file"):
        FolderUpdate(tmp_path / "f", ENTRIES)


def test_staging_left_by_a_killed_process_is_removed(tmp_path):
    out = tmp_path / "out"
    write_set(out, "old")
    dead = 2**22 + 12345  # above the usual pid_max of a 64-bit Linux: no such process
    stale = out / f".practicaldl-staging-{dead}-abcdef012345"
    (stale / "figures").mkdir(parents=True)
    live = out / f".practicaldl-staging-{os.getppid()}-abcdef012345"  # a running process's: kept
    live.mkdir()
    write_set(out, "new")
    assert not stale.exists() and live.exists()


def test_unwritable_staging_is_an_os_error_and_nothing_changes(tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_set(out, "old")
    before = snapshot(out)

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(folders.Path, "mkdir", lambda self, *a, **k: refuse(self))
    with pytest.raises(PermissionError):
        write_set(out, "new")
    monkeypatch.undo()
    assert snapshot(out) == before
