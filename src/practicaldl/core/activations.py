"""Activation functions and their derivatives, in a name -> function registry.

Each activation ``g`` maps the pre-activation ``Z`` (n_l, m) to ``A = g(Z)`` (n_l, m); its
derivative is written in terms of ``Z`` and ``A`` so that backward never recomputes ``g``:

    dZ = dA * g'(Z)

==========  =============================  ==========================
name        g(Z)                           g'(Z) from (Z, A)
==========  =============================  ==========================
relu        max(0, Z)                      1[Z > 0]
sigmoid     1 / (1 + exp(-Z))              A (1 - A)
tanh        tanh(Z)                        1 - A^2
softmax     exp(Z_k) / sum_j exp(Z_j)      (output layer only; see losses)
==========  =============================  ==========================

Every function keeps the dtype of its input (float32 stays float32).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
from scipy.special import expit, softmax as _softmax


def relu(Z: np.ndarray) -> np.ndarray:
    """``max(0, Z)``, elementwise."""
    return np.maximum(Z, 0)


def relu_derivative(Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``1[Z > 0]`` as a boolean array (multiplying by it keeps the float dtype)."""
    return Z > 0


def sigmoid(Z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-Z))``, computed without overflow for any finite Z."""
    return expit(Z)


def sigmoid_derivative(Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``A (1 - A)``."""
    return A * (1 - A)


def tanh(Z: np.ndarray) -> np.ndarray:
    """``tanh(Z)``."""
    return np.tanh(Z)


def tanh_derivative(Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``1 - A^2``."""
    return 1 - A * A


def softmax(Z: np.ndarray) -> np.ndarray:
    """``exp(Z_k) / sum_j exp(Z_j)`` over the class axis 0 of Z (K, m), shifted for stability."""
    return _softmax(Z, axis=0)


def softmax_derivative(Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Softmax is only used as an output: its Jacobian is folded into ``dZ = A - Y``."""
    raise ValueError("softmax is an output activation; use it with the categorical cross-entropy")


class Activation(NamedTuple):
    """An activation and its derivative ``g'(Z)`` given ``(Z, A)``."""

    forward: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(relu, relu_derivative),
    "sigmoid": Activation(sigmoid, sigmoid_derivative),
    "tanh": Activation(tanh, tanh_derivative),
    "softmax": Activation(softmax, softmax_derivative),
}

#: Activations allowed on hidden layers (softmax is an output only).
HIDDEN_ACTIVATIONS = ("relu", "sigmoid", "tanh")


def get_activation(name: str) -> Activation:
    """Look up a hidden-layer activation by name; an unknown name lists the choices."""
    if name not in HIDDEN_ACTIVATIONS:
        raise ValueError(f"activation must be one of {list(HIDDEN_ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]
