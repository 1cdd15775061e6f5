"""Shared fixtures: the course's data files (skipped when ``../shared`` is absent)."""

from pathlib import Path

import numpy as np
import pytest

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
