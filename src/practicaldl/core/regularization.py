"""L2 regularization ("weight decay") of the weights, never the biases.

Convention (the course's)::

    J_reg = J + (l2 / (2 m)) * sum_l ||W_l||_F^2          cost
    dW_l  += (l2 / m) * W_l                              gradient

where m is the number of examples in the batch the cost is computed on.

How ``l2`` maps onto other libraries (same penalty, same optimum):

- scikit-learn ``MLPClassifier(alpha=a)`` adds ``(a / (2 m)) ||W||^2`` to the mean loss, so
  ``alpha == l2``.
- Keras ``kernel_regularizer=l2(k)`` adds ``k ||W||^2`` to the mean loss, so ``k = l2 / (2 m)``.
- PyTorch ``SGD(weight_decay=w)`` adds ``w W`` to the gradient of the mean loss, so
  ``w = l2 / m`` (with full-batch gradient descent; with minibatches m is the batch size).
"""

from __future__ import annotations

import numpy as np


def weight_keys(params: dict) -> list[str]:
    """The weight keys ``W1 .. WL`` of a parameter dict, in layer order."""
    return [f"W{l}" for l in range(1, len(params) // 2 + 1)]


def l2_penalty(params: dict, l2: float, m: int) -> float:
    """``(l2 / (2 m)) * sum_l ||W_l||_F^2`` (0.0 when l2 == 0)."""
    if l2 == 0:
        return 0.0
    total = sum(float(np.sum(np.square(params[k]), dtype=np.float64)) for k in weight_keys(params))
    return l2 / (2 * m) * total


def l2_gradient(W: np.ndarray, l2: float, m: int) -> np.ndarray:
    """``(l2 / m) * W``, the penalty's gradient with respect to one weight matrix."""
    return (l2 / m) * W
