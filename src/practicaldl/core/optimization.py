"""The course's optimization methods on parameter dicts: momentum, RMSprop, Adam, learning-rate decay.

Per parameter array (``W_l`` with its gradient ``dW_l``, ``b_l`` with ``db_l``), elementwise, t
counting the updates from 1::

    momentum   v := beta v + (1 - beta) dW                     W := W - lr v
    RMSprop    s := beta2 s + (1 - beta2) dW^2                 W := W - lr (dW / (sqrt(s) + epsilon))
    Adam       v := beta1 v + (1 - beta1) dW,   s := beta2 s + (1 - beta2) dW^2
               v_hat = v / (1 - beta1^t),   s_hat = s / (1 - beta2^t)
               W := W - lr v_hat / (sqrt(s_hat) + epsilon)

The state dicts ``v`` (velocity, first moment) and ``s`` (second moment) are keyed as the
gradients (``"dW1", "db1", ...``) and shaped as the parameters; they start at zero
(``initialize_velocity``, ``initialize_rmsprop``, ``initialize_adam``). Momentum has no bias
correction; with ``beta = 0`` it is gradient descent. Each update returns new dicts and leaves
its arguments as they were. The training loop applies the same rules to one flat vector of all
the parameters (``engine.optimizers``); these functions are the reference it is tested against.

Learning-rate decay, applied at the end of epoch ``epoch_num`` = 0, 1, 2, ... (so epochs 0 and 1
both run at ``learning_rate0``)::

    update_lr           lr = learning_rate0 / (1 + decay_rate epoch_num)
    schedule_lr_decay   lr = learning_rate0 / (1 + decay_rate floor(epoch_num / time_interval))

References: deeplearning.ai, "Improving Deep Neural Networks", week 2 ("Optimization methods");
Kingma and Ba, "Adam: a method for stochastic optimization" (2015), algorithm 1; Hinton,
"Neural networks for machine learning", lecture 6e (RMSprop).
"""

from __future__ import annotations

import numbers

import numpy as np

from .validation import check_non_negative, check_positive


def check_beta(name: str, value) -> float:
    """A decay rate of a moving average: a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def _zeros_like(params: dict) -> dict:
    return {"d" + key: np.zeros_like(value) for key, value in params.items()}


def initialize_velocity(params: dict) -> dict:
    """Momentum's velocity: ``v["dW1"], v["db1"], ...`` zeros shaped as ``W1, b1, ...``."""
    return _zeros_like(params)


def initialize_rmsprop(params: dict) -> dict:
    """RMSprop's moving average of squared gradients: ``s["dW1"], ...`` zeros shaped as the parameters."""
    return _zeros_like(params)


def initialize_adam(params: dict) -> tuple[dict, dict]:
    """Adam's ``(v, s)``: the first and second moment estimates, zeros keyed ``"dW1", "db1", ...``."""
    return _zeros_like(params), _zeros_like(params)


def update_parameters_with_momentum(params: dict, grads: dict, v: dict, beta: float,
                                    learning_rate: float) -> tuple[dict, dict]:
    """One momentum step: ``v := beta v + (1 - beta) dW``; ``W := W - lr v``. Returns ``(params, v)``."""
    beta = check_beta("beta", beta)
    check_positive("learning_rate", learning_rate)
    v = {key: beta * v[key] + (1 - beta) * grads[key] for key in v}
    return {key: value - learning_rate * v["d" + key] for key, value in params.items()}, v


def update_parameters_with_rmsprop(params: dict, grads: dict, s: dict, learning_rate: float, beta2: float = 0.999,
                                   epsilon: float = 1e-8) -> tuple[dict, dict]:
    """One RMSprop step: ``s := beta2 s + (1 - beta2) dW^2``; ``W := W - lr (dW / (sqrt(s) + epsilon))``.
    Returns ``(params, s)``."""
    beta2 = check_beta("beta2", beta2)
    check_positive("learning_rate", learning_rate)
    check_positive("epsilon", epsilon)
    s = {key: beta2 * s[key] + (1 - beta2) * np.square(grads[key]) for key in s}
    return {key: value - learning_rate * (grads["d" + key] / (np.sqrt(s["d" + key]) + epsilon))
            for key, value in params.items()}, s


def update_parameters_with_adam(params: dict, grads: dict, v: dict, s: dict, t: int, learning_rate: float = 0.01,
                                beta1: float = 0.9, beta2: float = 0.999,
                                epsilon: float = 1e-8) -> tuple[dict, dict, dict]:
    """One Adam step at update ``t`` (from 1), as the course writes it; returns ``(params, v, s)``.

    ``v := beta1 v + (1 - beta1) dW``, ``s := beta2 s + (1 - beta2) dW^2``, the bias-corrected
    ``v_hat = v / (1 - beta1^t)`` and ``s_hat = s / (1 - beta2^t)``, then
    ``W := W - lr v_hat / (sqrt(s_hat) + epsilon)``. At t = 1, ``v_hat = dW`` and
    ``s_hat = dW^2``: every entry moves by about ``lr`` against the sign of its gradient.
    """
    check_positive("t", t, integer=True)
    beta1, beta2 = check_beta("beta1", beta1), check_beta("beta2", beta2)
    check_positive("learning_rate", learning_rate)
    check_positive("epsilon", epsilon)
    v = {key: beta1 * v[key] + (1 - beta1) * grads[key] for key in v}
    s = {key: beta2 * s[key] + (1 - beta2) * np.square(grads[key]) for key in s}
    out = {}
    for key, value in params.items():
        v_corrected = v["d" + key] / (1 - beta1 ** t)
        s_corrected = s["d" + key] / (1 - beta2 ** t)
        out[key] = value - learning_rate * v_corrected / (np.sqrt(s_corrected) + epsilon)
    return out, v, s


def _check_decay(learning_rate0, epoch_num, decay_rate) -> None:
    check_positive("learning_rate0", learning_rate0)
    if isinstance(epoch_num, bool) or not isinstance(epoch_num, numbers.Integral) or epoch_num < 0:
        raise ValueError(f"epoch_num must be a non-negative integer, got {epoch_num!r}")
    check_non_negative("decay_rate", decay_rate)


def update_lr(learning_rate0: float, epoch_num: int, decay_rate: float) -> float:
    """The rate after epoch ``epoch_num``: ``learning_rate0 / (1 + decay_rate epoch_num)`` (the course's
    expression, ``1 / (1 + decay_rate epoch_num) * learning_rate0``)."""
    _check_decay(learning_rate0, epoch_num, decay_rate)
    return float(1 / (1 + decay_rate * epoch_num) * learning_rate0)


def schedule_lr_decay(learning_rate0: float, epoch_num: int, decay_rate: float, time_interval: int = 1000) -> float:
    """The rate after epoch ``epoch_num``, decayed in steps of ``time_interval`` epochs:
    ``learning_rate0 / (1 + decay_rate floor(epoch_num / time_interval))``."""
    _check_decay(learning_rate0, epoch_num, decay_rate)
    check_positive("time_interval", time_interval, integer=True)
    return float(1 / (1 + decay_rate * (epoch_num // time_interval)) * learning_rate0)
