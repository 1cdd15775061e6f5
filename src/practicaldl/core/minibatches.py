"""Minibatches: one shuffle of the examples, cut into consecutive chunks (the course's ``random_mini_batches``).

For m examples and a size b: ``order = rng.permutation(m)``, then the chunks ``order[0:b]``,
``order[b:2b]``, ..., the full ones first and the remainder (``m mod b`` examples, when there is
one) last. The training loop draws one such shuffle per epoch from its one generator
(``minibatch_indices``); ``random_mini_batches`` returns the batches themselves from a generator
of their own.
"""

from __future__ import annotations

import numpy as np

from .randomness import as_generator
from .validation import check_positive


def minibatch_indices(m: int, mini_batch_size: int, rng) -> list[np.ndarray]:
    """The example indices of each minibatch of one epoch: views of one ``rng.permutation(m)``."""
    order = rng.permutation(m)
    return np.array_split(order, np.arange(mini_batch_size, m, mini_batch_size))


def random_mini_batches(X: np.ndarray, Y: np.ndarray, mini_batch_size: int = 64, seed=0) -> list[tuple]:
    """``[(X_batch, Y_batch), ...]`` of X (n_x, m) and Y (n_y, m), shuffled with ``seed``.

    ``seed`` (an int, or a ``RandomState`` / ``Generator`` to draw from) seeds a generator of the
    function's own: an int gives the permutation of the course's ``np.random.seed(seed);
    np.random.permutation(m)``, and the global generator is left alone. Each ``X_batch`` is
    (n_x, mini_batch_size), the last one (n_x, m mod mini_batch_size) when m is not a multiple.
    """
    check_positive("mini_batch_size", mini_batch_size, integer=True)
    X, Y = np.asarray(X), np.asarray(Y)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y must be 2-D with one column per example, got shapes {X.shape} and {Y.shape}")
    rng = as_generator(seed)
    return [(X[:, idx], Y[:, idx]) for idx in minibatch_indices(X.shape[1], mini_batch_size, rng)]
