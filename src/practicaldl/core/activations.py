"""Activation functions and their derivatives, in a name -> ``Activation`` registry.

Each activation ``g`` maps the pre-activation ``Z`` (n_l, m) to ``A = g(Z)`` (n_l, m); its
derivative is written in terms of ``Z`` and ``A`` so that backward never recomputes ``g``:

    dZ = dA * g'(Z)

==========  =============================  ==========================  ===========
name        g(Z)                           g'(Z) from (Z, A)           asymptotes
==========  =============================  ==========================  ===========
relu        max(0, Z)                      1[Z > 0]                    (none)
sigmoid     1 / (1 + exp(-Z))              A (1 - A)                   0, 1
tanh        tanh(Z)                        1 - A^2                     -1, 1
softmax     exp(Z_k) / sum_j exp(Z_j)      (output layer only; see losses)
==========  =============================  ==========================  ===========

Every function keeps the dtype of its input (float32 stays float32).

``register_activation(name, forward, derivative)`` adds one; from then on ``activation=name``
works wherever an activation is chosen (the core functions, ``engine.loop.train``, the estimator,
gradient checking, diagnostics, model files, study configurations, the CLI's validation), within
this Python process. An activation may also give *in-place forms*,
``forward_into(Z, out)`` and ``derivative_into(Z, A, out)``, which write the same numbers into a
preallocated ``out`` (of Z's shape, and of the dtype ``forward`` / ``derivative`` return: Z's, or
boolean for a derivative such as ReLU's); the training engine's fast step uses them to allocate
nothing per step, and calls ``forward`` / ``derivative`` where they are absent (``engine.steps``).
"""

from __future__ import annotations

import keyword
from typing import Callable, NamedTuple, Optional

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


# -- in-place forms: the same operations as the functions above, written into ``out`` ------------
def _relu_into(Z, out):
    return np.maximum(Z, 0, out=out)


def _relu_derivative_into(Z, A, out):
    return np.greater(Z, 0, out=out)  # out is boolean, as relu_derivative returns


def _sigmoid_derivative_into(Z, A, out):
    return np.multiply(A, np.subtract(1, A, out=out), out=out)


def _tanh_derivative_into(Z, A, out):
    return np.subtract(1, np.multiply(A, A, out=out), out=out)


class Activation(NamedTuple):
    """An activation, its derivative ``g'(Z)`` given ``(Z, A)``, and what else the tools use.

    ``forward_into(Z, out)`` / ``derivative_into(Z, A, out)``: optional in-place forms (the same
    numbers, into ``out`` of Z's shape and of the dtype the function returns). ``bounds``: the
    asymptotes ``(lo, hi)`` of a saturating activation (diagnostics measure saturation against
    them), None otherwise.
    ``hidden``: allowed on hidden layers (softmax is an output only).
    """

    forward: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]
    forward_into: Optional[Callable] = None
    derivative_into: Optional[Callable] = None
    bounds: Optional[tuple] = None
    hidden: bool = True


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(relu, relu_derivative, _relu_into, _relu_derivative_into),
    "sigmoid": Activation(sigmoid, sigmoid_derivative, lambda Z, out: expit(Z, out=out), _sigmoid_derivative_into,
                          bounds=(0.0, 1.0)),
    "tanh": Activation(tanh, tanh_derivative, lambda Z, out: np.tanh(Z, out=out), _tanh_derivative_into,
                       bounds=(-1.0, 1.0)),
    "softmax": Activation(softmax, softmax_derivative, hidden=False),
}

BUILT_IN = frozenset(ACTIVATIONS)


def hidden_activations() -> list[str]:
    """The names allowed on hidden layers, sorted (the built-in ones and those registered)."""
    return sorted(name for name, act in ACTIVATIONS.items() if act.hidden)


def get_activation(name: str) -> Activation:
    """Look up a hidden-layer activation by name; an unknown name lists the choices."""
    act = ACTIVATIONS.get(name) if isinstance(name, str) else None
    if act is None or not act.hidden:
        raise ValueError(f"activation must be one of {hidden_activations()}, got {name!r}")
    return act


def register_activation(name: str, forward: Callable, derivative: Callable, *, forward_into: Optional[Callable] = None,
                        derivative_into: Optional[Callable] = None, bounds: Optional[tuple] = None,
                        replace: bool = False) -> Activation:
    """Add a hidden-layer activation ``name``: ``forward(Z) -> g(Z)``, ``derivative(Z, A) -> g'(Z)``.

    Both take and return arrays of Z's shape (n_l, m), keeping its dtype (``derivative`` may also
    return a boolean array, as ReLU's does). ``forward_into(Z, out)`` and ``derivative_into(Z, A,
    out)``, when given, must write the same numbers into ``out`` (of Z's shape, and of the dtype
    their function returns) and return it. ``bounds=(lo, hi)``: the asymptotes of a saturating
    activation, for diagnostics. A name already registered is refused unless ``replace=True``;
    the built-in names never change.

    For example, swish ``g(Z) = Z sigmoid(Z)``, ``g'(Z) = s + Z s (1 - s)`` with ``s = sigmoid(Z)``::

        def swish(Z):
            return Z * expit(Z)

        def swish_derivative(Z, A):
            s = expit(Z)
            return s + Z * s * (1 - s)

        register_activation("swish", swish, swish_derivative)
        NeuralNetClassifier(activation="swish").fit(X, y)
    """
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"name must be an identifier such as 'swish', got {name!r}")
    if name in BUILT_IN:
        raise ValueError(f"name {name!r} is a built-in activation and cannot be replaced; choose another name")
    if name in ACTIVATIONS and not replace:
        raise ValueError(f"name {name!r} is already registered; pass replace=True to replace it")
    for arg, fn in (("forward", forward), ("derivative", derivative), ("forward_into", forward_into),
                    ("derivative_into", derivative_into)):
        if fn is not None and not callable(fn):
            raise ValueError(f"{arg} must be callable, got {fn!r}")
        if fn is None and arg in ("forward", "derivative"):
            raise ValueError(f"{arg} must be callable, got None")
    if bounds is not None:
        if (not isinstance(bounds, (tuple, list)) or len(bounds) != 2
                or not all(isinstance(v, (int, float)) and np.isfinite(v) for v in bounds)
                or not bounds[0] < bounds[1]):
            raise ValueError(f"bounds must be None or two finite numbers lo < hi, got {bounds!r}")
        bounds = (float(bounds[0]), float(bounds[1]))
    act = Activation(forward, derivative, forward_into, derivative_into, bounds)
    _check_shapes(name, act)
    ACTIVATIONS[name] = act
    return act


def _check_shapes(name: str, act: Activation) -> None:
    """Call the functions once on a small float64 array: each must return Z's shape."""
    Z = np.linspace(-2.0, 2.0, 6).reshape(2, 3)
    A = np.asarray(act.forward(Z))
    if A.shape != Z.shape:
        raise ValueError(f"forward of activation {name!r} must return an array of Z's shape {Z.shape}, got {A.shape}")
    D = np.asarray(act.derivative(Z, A))
    if D.shape != Z.shape:
        raise ValueError(f"derivative of activation {name!r} must return an array of Z's shape {Z.shape}, "
                         f"got {D.shape}")

