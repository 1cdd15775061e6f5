"""One random generator for every draw.

``random_state`` may be None, an int, a ``np.random.RandomState`` or a ``np.random.Generator``,
as scikit-learn accepts. An int becomes a legacy ``RandomState(seed)`` so that
``random_state=3`` reproduces exactly the course's draws after it seeds the global generator
with 3. Every draw of a training run uses the one generator, in this order:

1. initialization: W_1, W_2, ..., W_L (``standard_normal`` or ``uniform``);
2. the early-stopping validation split, when there is one (a permutation);
3. per epoch: the minibatch shuffle (a permutation), when ``batch_size`` is set;
   then per iteration: the dropout masks, hidden layer 1, 2, ... (``random``).

Same seed, same draws, bit for bit.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_generator(random_state=None):
    """Return a ``RandomState`` or ``Generator`` for ``random_state`` (one is passed through)."""
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        return random_state
    if random_state is None:
        return np.random.RandomState()
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if not 0 <= random_state < 2**32:
            raise ValueError(f"random_state must be an int in [0, 2**32), got {random_state!r}")
        return np.random.RandomState(int(random_state))
    raise ValueError(
        f"random_state must be None, an int, a np.random.RandomState or a np.random.Generator, got {random_state!r}"
    )
