"""Atomic writes: the old file or the new one, and the permissions the user's umask asks for."""

import os
import stat

import pytest

from practicaldl.io.files import atomic_write_bytes, atomic_write_text


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it after."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_mask(mask):
        os.umask(mask)

    yield set_mask
    os.umask(saved)


@pytest.mark.skipif(os.name != "posix", reason="permission bits are POSIX")
@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600), (0o027, 0o640)])
def test_new_files_get_the_mode_the_umask_gives(tmp_path, umask, mask, mode):
    umask(mask)
    path = atomic_write_bytes(tmp_path / "sub" / "f.bin", b"data")
    assert stat.S_IMODE(path.stat().st_mode) == mode
    again = atomic_write_text(path, "replaced")  # a replaced file too
    assert stat.S_IMODE(again.stat().st_mode) == mode and again.read_text() == "replaced"
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.bin"]  # no temporary file left


@pytest.mark.skipif(os.name != "posix", reason="permission bits are POSIX")
def test_a_saved_model_and_a_report_are_readable_by_others_under_umask_022(tmp_path, umask, cli):
    umask(0o022)
    assert cli("train", "--hidden", "3", "--max-iter", "5", "--model", "m", "--quiet").exit_code == 0
    for name in ("m.npz", "m.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
