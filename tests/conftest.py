"""Shared fixtures: the course's data files (skipped when ``../shared`` is absent), real tables
that nobody here wrote (palmerpenguins' penguins, scikit-learn's bundled CSVs), a seeded generator,
a guard that the training loop's fused step is the one that ran, and the command line run in a
temporary folder (``cli``)."""

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


@pytest.fixture(scope="session")
def penguins_csv() -> Path:
    """The Palmer penguins table as its package ships it: 344 rows, species first, NA for missing."""
    palmerpenguins = pytest.importorskip("palmerpenguins", reason="palmerpenguins (the test extra) is not installed")
    path = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent from the palmerpenguins package")
    return path


@pytest.fixture(scope="session")
def sklearn_csv():
    """``sklearn_csv(name)``: a CSV that scikit-learn ships (iris.csv, wine_data.csv,
    breast_cancer.csv): a first line of counts and class names, then rows of numbers, the integer
    label last."""
    import sklearn

    def path(name: str) -> Path:
        found = Path(sklearn.__file__).parent / "datasets" / "data" / name
        if not found.is_file():
            pytest.skip(f"scikit-learn no longer ships {name}")
        return found

    return path


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """``cli(*args)``: the command line through typer's runner, in ``tmp_path`` as the working folder."""
    from typer.testing import CliRunner

    from practicaldl.cli import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture
def fused_only(monkeypatch):
    """Make the plain step unusable, so a test passing proves the fused step ran."""
    def refuse(*args, **kwargs):
        raise AssertionError("the plain step ran where the fused step was expected")

    monkeypatch.setattr(training._PlainStep, "__call__", refuse)
