"""Inverted dropout on hidden layers: draw a mask, apply it, replay it.

Forward, training only, for hidden layer l with keep probability p::

    D_l = (U < p),  U ~ Uniform[0, 1) of A_l's shape       (n_l, m) boolean
    A_l = A_l * D_l / p

Backward applies the *same* mask and scale: ``dA_l = dA_l * D_l / p``. Dividing by p keeps the
expected activation unchanged, so prediction (no dropout) needs no rescaling. ``p == 1`` draws
nothing (the generator is not advanced). Masks are boolean so that float32 activations stay
float32.

The mask is drawn with ``rng.random(shape)``, the same stream as the course's
``rand(*A.shape)`` (the legacy global generator) for a ``np.random.RandomState``.
"""

from __future__ import annotations

import numpy as np


def draw_mask(shape: tuple[int, ...], keep_prob: float, rng) -> np.ndarray | None:
    """A boolean keep-mask of ``shape`` (``None`` when keep_prob == 1: nothing is drawn)."""
    if keep_prob >= 1.0:
        return None
    return rng.random(shape) < keep_prob


def apply_mask(A: np.ndarray, mask: np.ndarray | None, keep_prob: float) -> np.ndarray:
    """``A * D / keep_prob`` (A itself when there is no mask). Never mutates A."""
    if mask is None:
        return A
    return A * mask * A.dtype.type(1.0 / keep_prob)
