"""Shared fixtures: the course's data files (skipped when ``../shared`` is absent), a seeded
generator, a guard that the training loop's fused step is the one that ran, and the command line
run in a temporary folder (``cli``)."""

from pathlib import Path

import numpy as np
import pytest

from practicaldl.engine import loop as training

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FOOTBALL = SHARED / "datasets" / "football.mat"


@pytest.fixture
def football_path():
    if not FOOTBALL.is_file():
        pytest.skip(f"{FOOTBALL} is absent (a user's clone has no ../shared)")
    return FOOTBALL


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture
def fused_only(monkeypatch):
    """Make the plain step unusable, so a test passing proves the fused step ran."""
    def refuse(*args, **kwargs):
        raise AssertionError("the plain step ran where the fused step was expected")

    monkeypatch.setattr(training._PlainStep, "__call__", refuse)


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """``cli("compare", "--out", "rep")``: the command line through typer's runner, in ``tmp_path``."""
    from typer.testing import CliRunner

    from practicaldl.cli import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args])

    return invoke
