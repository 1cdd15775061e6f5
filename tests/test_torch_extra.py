"""practicaldl.torch without PyTorch: importing it is fine, using it names the extra (runs with or without torch)."""

import sys

import pytest


def _without_torch(monkeypatch):
    """``import torch`` raises ImportError, and practicaldl.torch is imported afresh."""
    import practicaldl

    monkeypatch.setitem(sys.modules, "torch", None)
    for name in [m for m in sys.modules if m.startswith("practicaldl.torch")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delattr(practicaldl, "torch", raising=False)


def test_without_pytorch_the_error_names_the_extra(monkeypatch):
    _without_torch(monkeypatch)
    from practicaldl import torch as pdt

    assert "check_module" in dir(pdt)
    with pytest.raises(ImportError, match=r"pip install 'practicaldl\[torch\]'"):
        pdt.check_module
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pdt.nope


def test_without_pytorch_the_cli_exits_2_naming_the_extra(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import practicaldl.report  # noqa: F401  (scipy, imported by the CLI's error handling, probes sys.modules["torch"])
    from practicaldl.cli import app

    _without_torch(monkeypatch)
    (tmp_path / "f.py").write_text("model = None\n")
    result = CliRunner().invoke(app, ["gradcheck", "--torch", str(tmp_path / "f.py")])
    assert result.exit_code == 2 and "practicaldl[torch]" in result.stderr


def test_import_practicaldl_loads_no_torch():
    import subprocess

    code = "import sys, practicaldl; from practicaldl import torch; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
