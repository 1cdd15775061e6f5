"""Weight initializers, in a name -> function registry.

Each initializer draws one weight matrix W_l of shape (n_l, n_{l-1}) = (fan_out, fan_in)::

    zeros            W = 0                       (fails: every unit of a layer stays identical)
    random           W ~ N(0, 1) * scale         (scale 10 is the course's "too large" example)
    he               W ~ N(0, 2 / fan_in)        (He et al. 2015; for ReLU)
    lecun            W ~ N(0, 1 / fan_in)        (LeCun 1998; the course calls this "Xavier")
    xavier, glorot   W ~ N(0, 2 / (fan_in + fan_out))   (Glorot & Bengio 2010; for tanh)

Every name also has a ``*_uniform`` form with the same variance: ``U(-a, a)`` has variance
``a^2 / 3``, so ``a = sqrt(3 * variance)``. ``init_scale`` multiplies the standard deviation of
any scheme (for ``random`` it *is* the standard deviation). Biases always start at zero.

Normal draws call ``rng.standard_normal((n_l, n_{l-1}))`` layer by layer, so a legacy
``np.random.RandomState(3)`` reproduces the course's draws (global seed 3, then ``randn`` layer by layer) exactly.
A custom scheme is any callable ``init(shape, rng) -> array of that shape``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

#: name -> variance of W_l given (fan_in, fan_out), before init_scale.
VARIANCES: dict[str, Callable[[int, int], float]] = {
    "random": lambda fan_in, fan_out: 1.0,
    "he": lambda fan_in, fan_out: 2.0 / fan_in,
    "lecun": lambda fan_in, fan_out: 1.0 / fan_in,
    "xavier": lambda fan_in, fan_out: 2.0 / (fan_in + fan_out),
}
VARIANCES["glorot"] = VARIANCES["xavier"]


def zeros(shape: tuple[int, int], rng=None, scale: float = 1.0) -> np.ndarray:
    """All-zero weights (draws nothing)."""
    return np.zeros(shape)


def _normal(variance: Callable[[int, int], float]):
    def init(shape: tuple[int, int], rng, scale: float = 1.0) -> np.ndarray:
        fan_out, fan_in = shape
        return rng.standard_normal(shape) * (scale * np.sqrt(variance(fan_in, fan_out)))

    return init


def _uniform(variance: Callable[[int, int], float]):
    def init(shape: tuple[int, int], rng, scale: float = 1.0) -> np.ndarray:
        fan_out, fan_in = shape
        limit = scale * np.sqrt(3.0 * variance(fan_in, fan_out))
        return rng.uniform(-limit, limit, size=shape)

    return init


INITIALIZERS: dict[str, Callable] = {"zeros": zeros}
for _name, _variance in VARIANCES.items():
    INITIALIZERS[_name] = _normal(_variance)
    INITIALIZERS[f"{_name}_normal"] = INITIALIZERS[_name]
    INITIALIZERS[f"{_name}_uniform"] = _uniform(_variance)
del _name, _variance
