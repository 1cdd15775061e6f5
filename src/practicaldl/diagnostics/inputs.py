"""Checks of a network's inputs that training would not report: subnormal numbers.

A subnormal (denormal) float is nonzero and smaller in magnitude than the dtype's smallest normal
number (``np.finfo(dtype).tiny``: 2.2e-308 in float64, 1.2e-38 in float32). Many CPUs handle
arithmetic on them in microcode, many times slower than on normal numbers, so features that hold
them (a column scaled by 1e-310, say) can make training far slower without changing its result
in any way that shows.
"""

from __future__ import annotations

from typing import Optional

import numpy as np


BLOCK_ENTRIES = 1 << 16  # entries looked at at a time: the temporaries stay small beside a large X


class SubnormalInputWarning(UserWarning):
    """The training inputs hold subnormal numbers (``subnormal_warning``)."""


def subnormal_warning(X, name: str = "X") -> Optional[str]:
    """A one-line warning when the float array ``X`` holds subnormal values, else None.

    ``0 < |x| < tiny`` is counted over blocks of about ``BLOCK_ENTRIES`` entries (rows of a 2-D X), so
    the check needs no temporary of X's size."""
    X = np.asarray(X)
    if X.dtype.kind != "f" or X.size == 0:
        return None
    tiny = np.finfo(X.dtype).tiny
    rows = X.reshape(len(X), -1) if X.ndim > 1 else X.reshape(-1, 1)
    step = max(1, BLOCK_ENTRIES // max(1, rows.shape[1]))
    count = sum(int(np.count_nonzero((np.abs(block) < tiny) & (block != 0)))
                for block in (rows[i:i + step] for i in range(0, len(rows), step)))
    if not count:
        return None
    return (f"{name} holds {count} subnormal value(s) (nonzero, below {tiny:.3g} in magnitude): arithmetic on them "
            "is many times slower on most CPUs; set them to 0 or rescale those features")
