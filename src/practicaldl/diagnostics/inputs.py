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


class SubnormalInputWarning(UserWarning):
    """The training inputs hold subnormal numbers (``subnormal_warning``)."""


def subnormal_warning(X, name: str = "X") -> Optional[str]:
    """A one-line warning when the float array ``X`` holds subnormal values, else None."""
    X = np.asarray(X)
    if X.dtype.kind != "f" or X.size == 0:
        return None
    tiny = np.finfo(X.dtype).tiny
    count = int(np.count_nonzero((np.abs(X) < tiny) & (X != 0)))
    if not count:
        return None
    return (f"{name} holds {count} subnormal value(s) (nonzero, below {tiny:.3g} in magnitude): arithmetic on them "
            "is many times slower on most CPUs; set them to 0 or rescale those features")
