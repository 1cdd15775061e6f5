"""Cross-entropy costs computed stably from the output pre-activation (the logits).

Binary (one sigmoid unit, Y in {0, 1} of shape (1, m))::

    J = (1/m) sum_i [ max(z_i, 0) - z_i y_i + log(1 + exp(-|z_i|)) ]

which equals the course's ``-(1/m) sum [y log a + (1 - y) log(1 - a)]`` with ``a = sigmoid(z)``
wherever that is finite, and stays finite for any finite z (the course's form gives ``log 0``
for |z| beyond about 37).

Categorical (softmax over K units, Y one-hot of shape (K, m))::

    J = (1/m) sum_i [ logsumexp(z_i) - sum_k y_ki z_ki ]

For both, the gradient with respect to the logits is ``dJ/dZ_L = (A_L - Y) / m``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import numpy as np
from scipy.special import expit, logsumexp

from .activations import sigmoid, softmax


def binary_cross_entropy_terms(ZL: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Per-example binary cross-entropy ``max(z, 0) - z y + log(1 + e^-|z|)``, (1, m) from logits (1, m)."""
    return np.maximum(ZL, 0) - ZL * Y + np.log1p(np.exp(-np.abs(ZL)))


def categorical_cross_entropy_terms(ZL: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Per-example categorical cross-entropy ``logsumexp(z) - y . z``, (m,) from logits (K, m)."""
    return logsumexp(ZL, axis=0) - np.sum(Y * ZL, axis=0)


def binary_cross_entropy(ZL: np.ndarray, Y: np.ndarray) -> float:
    """Mean binary cross-entropy of labels Y (1, m) given logits ZL (1, m)."""
    return float(np.sum(binary_cross_entropy_terms(ZL, Y), dtype=np.float64) / Y.shape[1])


def categorical_cross_entropy(ZL: np.ndarray, Y: np.ndarray) -> float:
    """Mean categorical cross-entropy of one-hot Y (K, m) given logits ZL (K, m)."""
    return float(np.sum(categorical_cross_entropy_terms(ZL, Y), dtype=np.float64) / Y.shape[1])


class Output(NamedTuple):
    """An output layer: its activation and the cross-entropy that pairs with it (mean and per example).

    ``activation_into(Z, out)``: optional in-place form of ``activation`` (the same numbers into
    ``out``), which the engine's fast step uses to allocate nothing per step. ``elementwise``:
    ``terms`` works entry by entry (and broadcasts), so the fast step may evaluate the terms of
    many batches' logits in one call.
    """

    activation: Callable[[np.ndarray], np.ndarray]
    cost: Callable[[np.ndarray, np.ndarray], float]
    terms: Callable[[np.ndarray, np.ndarray], np.ndarray]
    activation_into: Optional[Callable] = None
    elementwise: bool = False


OUTPUTS: dict[str, Output] = {
    "sigmoid": Output(sigmoid, binary_cross_entropy, binary_cross_entropy_terms, lambda Z, out: expit(Z, out=out),
                      elementwise=True),
    "softmax": Output(softmax, categorical_cross_entropy, categorical_cross_entropy_terms),
}
