"""The subnormal-input check: every subnormal counted, whatever the blocks and the layout."""

import numpy as np
import pytest

from practicaldl.diagnostics import inputs
from practicaldl.diagnostics.inputs import subnormal_warning


@pytest.mark.parametrize("block", [1, 5, 7, 1 << 16])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_subnormal_is_counted_across_blocks(monkeypatch, block, dtype):
    monkeypatch.setattr(inputs, "BLOCK_ENTRIES", block)
    tiny = np.finfo(dtype).tiny
    X = np.ones((23, 3), dtype)
    X[0, 0], X[11, 2], X[22, 1] = tiny / 4, -tiny / 8, tiny / 2
    X[5, 1] = 0.0  # zero is not subnormal
    X[6, 1] = tiny  # the smallest normal number is not either
    for arr in (X, X.T, np.asfortranarray(X), X[:, 1], X.reshape(23, 3, 1)):
        expected = int(np.count_nonzero((np.abs(arr) < tiny) & (arr != 0)))
        message = subnormal_warning(arr)
        assert message is not None and message.startswith(f"X holds {expected} subnormal")


def test_no_warning_without_subnormals_or_for_integers():
    assert subnormal_warning(np.array([[0.0, 1e-300, -2.5]])) is None
    assert subnormal_warning(np.arange(6).reshape(3, 2)) is None
    assert subnormal_warning(np.empty((0, 4))) is None
