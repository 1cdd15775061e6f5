"""The training loop: full-batch or minibatch gradient descent, history, callbacks, early stopping.

One *iteration* is one pass over the training set (an epoch): with ``batch_size=None`` that is a
single full-batch gradient step (the course's loop), otherwise one step per shuffled minibatch.
The cost recorded for an iteration is the cost *before* its update (the course prints the same),
averaged over the minibatches weighted by their size.

Numerical trouble stops training: a non-finite cost or parameters raise ``NumericalError`` with
what to try, instead of returning a network full of NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .network import backward_propagation, compute_cost, forward_propagation
from .optimizers import gradient_descent_step
from .regularization import l2_penalty


class NumericalError(FloatingPointError):
    """Training produced a non-finite cost or parameters."""


@dataclass
class History:
    """What a training run records, one entry per iteration."""

    cost: list = field(default_factory=list)  # regularized cost (cross-entropy + L2 term)
    cross_entropy: list = field(default_factory=list)  # cross-entropy alone
    validation_cost: list = field(default_factory=list)  # cross-entropy on the validation set
    n_iter: int = 0
    stop_reason: str = ""
    best_iteration: Optional[int] = None  # 1-based, with early stopping


@dataclass
class IterationInfo:
    """Passed to every callback after each iteration (``grads`` are those of the last step)."""

    iteration: int  # 1-based
    params: dict
    grads: dict
    cost: float
    cross_entropy: float
    cache: object


Callback = Callable[[IterationInfo], Optional[bool]]


def _numerical_error(what: str, iteration: int, learning_rate: float) -> NumericalError:
    return NumericalError(
        f"{what} at iteration {iteration} (learning_rate={learning_rate}): training diverged. "
        "Try a smaller learning_rate, a smaller init_scale, or standardize the features."
    )


def train(params: dict, X: np.ndarray, Y: np.ndarray, *, learning_rate: float, max_iter: int, rng,
          batch_size: Optional[int] = None, l2: float = 0.0, keep_prob=1.0, activation: str = "relu",
          output: str = "sigmoid", validation: Optional[tuple] = None, n_iter_no_change: int = 100,
          tol: float = 1e-6, callbacks: tuple = ()) -> tuple[dict, History]:
    """Train a copy of ``params`` on X (n_x, m), Y (n_L, m); return ``(params, history)``.

    With ``validation=(X_val, Y_val)`` training stops early when the validation cross-entropy has
    not improved by more than ``tol`` for ``n_iter_no_change`` iterations, and the parameters of
    the best iteration are restored. A callback returning True stops training too.
    """
    params = {k: v.copy() for k, v in params.items()}
    m = X.shape[1]
    history = History()
    best_cost, best_params, since_best = np.inf, None, 0
    for iteration in range(1, max_iter + 1):
        if batch_size is None or batch_size >= m:
            batches = [(X, Y)]
        else:
            order = rng.permutation(m)
            batches = [(X[:, idx], Y[:, idx]) for idx in np.array_split(order, np.arange(batch_size, m, batch_size))]
        total = cross_entropy = 0.0
        for Xb, Yb in batches:
            _, cache = forward_propagation(params, Xb, keep_prob, rng, activation=activation, output=output)
            ce = compute_cost(cache, Yb)
            grads = backward_propagation(params, Yb, cache, l2)
            weight = Yb.shape[1] / m
            cross_entropy += weight * ce
            total += weight * (ce + l2_penalty(params, l2, Yb.shape[1]))
            gradient_descent_step(params, grads, learning_rate, inplace=True)
        if not np.isfinite(total):
            raise _numerical_error(f"the cost became {total}", iteration, learning_rate)
        history.cost.append(total)
        history.cross_entropy.append(cross_entropy)
        history.n_iter = iteration
        stop = False
        for callback in callbacks:
            stop = bool(callback(IterationInfo(iteration, params, grads, total, cross_entropy, cache))) or stop
        if stop:
            history.stop_reason = f"stopped by a callback at iteration {iteration}"
            break
        if validation is not None:
            X_val, Y_val = validation
            _, val_cache = forward_propagation(params, X_val, 1.0, activation=activation, output=output)
            val_cost = compute_cost(val_cache, Y_val)
            history.validation_cost.append(val_cost)
            if val_cost < best_cost - tol:
                best_cost, since_best = val_cost, 0
                best_params = {k: v.copy() for k, v in params.items()}
                history.best_iteration = iteration
            else:
                since_best += 1
            if since_best >= n_iter_no_change:
                history.stop_reason = (
                    f"early stopping at iteration {iteration}: the validation cost did not improve by more "
                    f"than tol={tol} for n_iter_no_change={n_iter_no_change} iterations; restored the "
                    f"parameters of iteration {history.best_iteration} (validation cost {best_cost:.6g})"
                )
                break
    else:
        history.stop_reason = f"max_iter={max_iter} iterations done"
    if best_params is not None:
        params = best_params
        if "restored" not in history.stop_reason:
            history.stop_reason += (
                f"; restored the parameters of iteration {history.best_iteration} "
                f"(best validation cost {best_cost:.6g})"
            )
    if not all(np.isfinite(v).all() for v in params.values()):
        raise _numerical_error("the parameters overflowed", history.n_iter, learning_rate)
    return params, history
