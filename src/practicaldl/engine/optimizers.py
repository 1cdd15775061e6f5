"""Optimizers: one function per update rule.

Gradient descent::

    W_l := W_l - learning_rate * dW_l
    b_l := b_l - learning_rate * db_l
"""

from __future__ import annotations

import numpy as np


def gradient_descent_step(params: dict, grads: dict, learning_rate: float, *, inplace: bool = False) -> dict:
    """One step of gradient descent; returns the updated dict (``params`` itself when inplace)."""
    if inplace:
        for key, value in params.items():
            value -= value.dtype.type(learning_rate) * grads["d" + key]
        return params
    return {key: value - learning_rate * grads["d" + key] for key, value in params.items()}


update_parameters = gradient_descent_step  # the course's name
