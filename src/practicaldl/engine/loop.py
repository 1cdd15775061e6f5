"""The training loop: epochs of (mini)batch steps, history, callbacks, early stopping, divergence.

One *iteration* is one pass over the training set (an epoch): with ``batch_size=None`` that is a
single full-batch step (the course's loop), otherwise one step per minibatch of a fresh shuffle
(``rng.permutation(m)`` cut into consecutive chunks, the last one shorter). The cost recorded for
an iteration is the cost *before* its updates (the course prints the same), averaged over the
minibatches weighted by their size.

Per iteration (epoch ``i = iteration - 1``) the loop calls, in this order::

    for each batch:  step(idx, rng)            forward, cost, backward (engine.steps)
                     step.update()             optimizer.step(theta, dtheta): t += 1, the update
    record the cost (and the learning rate the epoch used); callbacks(IterationInfo);
    the validation cost and early stopping; optimizer.end_epoch(i)

The step is ``steps.FastStep`` where it can run and ``steps.ReferenceStep`` (the public core
functions) otherwise, or when asked for (``step="reference"``): the same numbers, bit for bit;
``History.step`` says which ran, and why the fast one did not.

Numerical trouble stops training: a non-finite cost, a cost that explodes (above
``DIVERGENCE_FACTOR`` times the first cost + 1), or, after the last update, non-finite parameters
or a final cost that is non-finite or exploded, raise ``NumericalError`` with what to try,
instead of returning a network full of NaN.

``blas_threads`` caps the threads of the BLAS library behind the matrix products for the
duration of the run, through ``threadpoolctl`` (a scikit-learn dependency); None leaves the
library's default (usually one thread per core). Reproducibility is bit for bit for a given seed,
dtype *and* thread count: a BLAS library may split a large product differently across threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..core.activations import get_activation
from ..core.losses import OUTPUTS
from ..core.minibatches import minibatch_indices
from ..core.network import compute_cost, forward_propagation
from ..core.randomness import as_generator
from ..core.regularization import l2_penalty
from ..core.validation import check_choice, check_keep_prob, check_non_negative, check_positive
from .optimizers import Optimizer, get_optimizer
from .steps import FastStep, ReferenceStep, fast_step_problem


class NumericalError(FloatingPointError):
    """Training produced a non-finite cost or parameters."""


@dataclass
class History:
    """What a training run records, one entry per iteration."""

    cost: list = field(default_factory=list)  # regularized cost (cross-entropy + L2 term)
    cross_entropy: list = field(default_factory=list)  # cross-entropy alone
    validation_cost: list = field(default_factory=list)  # cross-entropy on the validation set
    learning_rate: list = field(default_factory=list)  # the rate each iteration's updates used
    n_iter: int = 0
    stop_reason: str = ""
    best_iteration: Optional[int] = None  # 1-based, with early stopping
    step: str = ""  # "fast", or "reference" and why


@dataclass
class IterationInfo:
    """Passed to every callback after each iteration (``grads`` are those of the last step).

    ``params`` is the dict being trained (updated in place: copy what you keep); ``grads``,
    ``cache`` and ``update`` (the change the last step made to each parameter array, whatever the
    optimizer) are those of the iteration's last (mini)batch and stay valid after the callback
    returns (the loop does not overwrite arrays it has handed to a callback).
    """

    iteration: int  # 1-based
    params: dict
    grads: dict
    cost: float
    cross_entropy: float
    cache: object
    learning_rate: float = 0.0  # the rate this iteration's updates used
    update: Optional[dict] = None  # W_l(after) - W_l(before) of the last step, keyed "W1", "b1", ...


Callback = Callable[[IterationInfo], Optional[bool]]

#: Training is declared divergent when an iteration's cost exceeds this many times (first cost + 1).
DIVERGENCE_FACTOR = 10.0

#: The final parameters' cost is measured on at most this many training examples (or one batch).
FINAL_CHECK_EXAMPLES = 256


def _numerical_error(what: str, iteration: int, learning_rate: float) -> NumericalError:
    return NumericalError(
        f"{what} at iteration {iteration} (learning_rate={learning_rate}): training diverged. "
        "Try a smaller learning_rate, a smaller init_scale, or standardize the features."
    )


def _exploded(cost: float, history: History) -> bool:
    """Non-finite, or above ``DIVERGENCE_FACTOR * (cost_1 + 1)``: gradient descent with a workable
    learning rate never climbs that far above its starting cost; overshooting steps do within a
    few iterations, long before the cost overflows."""
    return not math.isfinite(cost) or bool(history.cost) and cost > DIVERGENCE_FACTOR * (history.cost[0] + 1.0)


def _record(history: History, iteration: int, total: float, cross_entropy: float, learning_rate: float):
    """Append one iteration's costs; a non-finite or exploding cost stops training with NumericalError."""
    if _exploded(total, history):
        what = (f"the cost became {total}" if not math.isfinite(total)
                else f"the cost rose to {total:.4g} (from {history.cost[0]:.4g} at the start)")
        raise _numerical_error(what, iteration, learning_rate)
    history.cost.append(total)
    history.cross_entropy.append(cross_entropy)
    history.learning_rate.append(learning_rate)
    history.n_iter = iteration


def _record_deferred(history: History, pending: list, step) -> None:
    """Record the full-batch iterations whose costs the step deferred (the loop's arithmetic)."""
    for (iteration, penalty, learning_rate), ce in zip(pending, step.flush_costs(), strict=True):
        _record(history, iteration, 0.0 + 1.0 * (ce + penalty), 0.0 + 1.0 * ce, learning_rate)
    pending.clear()


def _check_blas_threads(blas_threads):
    if blas_threads is None:
        return None
    if isinstance(blas_threads, bool) or not isinstance(blas_threads, (int, np.integer)) or blas_threads < 1:
        raise ValueError(f"blas_threads must be None or a positive integer, got {blas_threads!r}")
    return int(blas_threads)


def _check_network(params: dict, X, Y) -> None:
    """``W1, b1, ..., WL, bL`` of one float dtype, chained shapes, X (n_x, m) and Y (n_L, m)."""
    for name, arr in (("X", X), ("Y", Y)):
        if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.dtype.kind != "f":
            raise ValueError(f"{name} must be a 2-D float array, got {type(arr).__name__} "
                             f"{getattr(arr, 'dtype', '')} {getattr(arr, 'shape', '')}".rstrip())
    L = len(params) // 2
    keys = [k for l in range(1, L + 1) for k in (f"W{l}", f"b{l}")]
    if L < 1 or sorted(params) != sorted(keys):
        raise ValueError(f"params must hold W1, b1, ..., WL, bL, got keys {sorted(params)}")
    dtypes = {np.asarray(v).dtype for v in params.values()}
    if len(dtypes) != 1 or dtypes.pop().kind != "f":
        raise ValueError(f"params must be float arrays of one dtype, got {sorted(str(d) for d in dtypes)}")
    n_prev = X.shape[0]
    for l in range(1, L + 1):
        W, b = params[f"W{l}"], params[f"b{l}"]
        if W.ndim != 2 or W.shape[1] != n_prev or np.shape(b) != (W.shape[0], 1):
            raise ValueError(f"W{l} must be (n_{l}, {n_prev}) and b{l} (n_{l}, 1), got {W.shape} and {np.shape(b)}")
        n_prev = W.shape[0]
    if Y.shape != (n_prev, X.shape[1]):
        raise ValueError(f"Y must be (n_L, m) = ({n_prev}, {X.shape[1]}), got {Y.shape}")


def _make_optimizer(optimizer, learning_rate) -> Optimizer:
    if isinstance(optimizer, Optimizer):
        if learning_rate is not None:
            raise ValueError("learning_rate must be None when optimizer is an Optimizer (it has its own "
                             f"learning_rate={optimizer.initial_learning_rate}), got {learning_rate!r}")
        return optimizer
    cls = get_optimizer(optimizer)
    if learning_rate is None:
        raise ValueError(f"learning_rate is required with optimizer={optimizer!r}")
    return cls(learning_rate)


def train(params: dict, X: np.ndarray, Y: np.ndarray, *, learning_rate: Optional[float] = None, max_iter: int,
          rng=None, optimizer="gd", batch_size: Optional[int] = None, l2: float = 0.0, keep_prob=1.0,
          activation: str = "relu", output: str = "sigmoid", validation: Optional[tuple] = None,
          n_iter_no_change: int = 100, tol: float = 1e-6, callbacks: tuple = (),
          blas_threads: Optional[int] = None, step: str = "fast") -> tuple[dict, History]:
    """Train a copy of ``params`` on X (n_x, m), Y (n_L, m); return ``(params, history)``.

    ``optimizer``: a name from ``optimizers.OPTIMIZERS`` (built with ``learning_rate``) or an
    ``Optimizer`` (then ``learning_rate`` stays None); ``train`` binds it, which resets its state,
    and leaves it holding the final state. ``rng``: the one generator of every draw
    (``randomness.as_generator``: None, a seed, a RandomState or a Generator).

    With ``validation=(X_val, Y_val)`` training stops early when the validation cross-entropy has
    not improved by more than ``tol`` for ``n_iter_no_change`` iterations, and the parameters of
    the best iteration are restored. A callback returning True stops training too.

    ``blas_threads``: the number of threads the BLAS library may use during training (None: its
    default). ``step="reference"`` takes the step built from the public core functions (the fast
    step gives the same numbers, faster; see ``engine.steps``).
    """
    blas_threads = _check_blas_threads(blas_threads)
    opt = _make_optimizer(optimizer, learning_rate)
    check_positive("max_iter", max_iter, integer=True)
    if batch_size is not None:
        check_positive("batch_size", batch_size, integer=True)
    l2 = check_non_negative("l2", l2)
    check_choice("step", step, {"fast": 0, "reference": 0})
    _check_network(params, X, Y)
    get_activation(activation)
    check_choice("output", output, OUTPUTS)
    keep = check_keep_prob(keep_prob, len(params) // 2 - 1)
    args = (params, X, Y, opt, max_iter, as_generator(rng), batch_size, l2, keep, activation, output, validation,
            n_iter_no_change, tol, tuple(callbacks), step)
    # Overflow on the way to a divergence is reported once, as NumericalError, not as warnings.
    if blas_threads is None:
        with np.errstate(over="ignore", invalid="ignore"):
            return _train(*args)
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    with threadpool_limits(limits=blas_threads, user_api="blas"), np.errstate(over="ignore", invalid="ignore"):
        return _train(*args)


def _train(params, X, Y, optimizer, max_iter, rng, batch_size, l2, keep, activation, output, validation,
           n_iter_no_change, tol, callbacks, step_kind):
    m = X.shape[1]
    full_batch = batch_size is None or batch_size >= m
    history = History()
    problem = "asked for (step='reference')" if step_kind == "reference" else fast_step_problem(params, X, Y,
                                                                                               activation)
    settings = dict(l2=l2, keep_prob=keep, activation=activation, output=output, optimizer=optimizer)
    if problem is None:
        step = FastStep(params, X, Y, batch_capacity=m if full_batch else batch_size, defer_costs=not callbacks,
                        **settings)
        history.step = "fast"
    else:
        step = ReferenceStep(params, X, Y, **settings)
        history.step = f"reference: {problem}"
    params = step.params
    pending = []  # (iteration, L2 term, learning rate) of the iterations whose cost the step defers
    best_cost, best_params, since_best = np.inf, None, 0
    for iteration in range(1, max_iter + 1):
        total = cross_entropy = 0.0
        learning_rate = optimizer.learning_rate
        batches = (None,) if full_batch else minibatch_indices(m, batch_size, rng)  # views of one permutation
        for i, idx in enumerate(batches):
            if callbacks and i == len(batches) - 1:  # the epoch's last update, for IterationInfo.update
                before = step.theta.copy()
            ce = step(idx, rng)
            penalty = step.penalty  # the L2 term, from the weights before the update
            step.update()
            if ce is None:  # deferred (full batch only): recorded when the block is full
                pending.append((iteration, penalty, learning_rate))
                continue
            weight = 1.0 if idx is None else len(idx) / m
            cross_entropy += weight * ce
            total += weight * (ce + penalty)
        if not pending:
            _record(history, iteration, total, cross_entropy, learning_rate)
        elif len(pending) == step.defer_block:
            _record_deferred(history, pending, step)
        stop = False
        if callbacks:
            update = step.layout.views(np.subtract(step.theta, before, out=before))
            info = IterationInfo(iteration, params, step.grads, total, cross_entropy, step.last_cache(),
                                 learning_rate, update)
            for callback in callbacks:
                stop = bool(callback(info)) or stop
            step.release()
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
        optimizer.end_epoch(iteration - 1)
    else:
        history.stop_reason = f"max_iter={max_iter} iterations done"
    if pending:
        _record_deferred(history, pending, step)
    step = None  # free the step's gradient and work buffers before copying the parameters out
    if best_params is not None:
        params = best_params
        if "restored" not in history.stop_reason:
            history.stop_reason += (
                f"; restored the parameters of iteration {history.best_iteration} "
                f"(best validation cost {best_cost:.6g})"
            )
    else:
        params = {k: v.copy() for k, v in params.items()}  # own arrays, not views of the step's theta
    _check_final(params, X, Y, history, l2, m if full_batch else batch_size, activation, output,
                 optimizer.learning_rate)
    return params, history


def _check_final(params, X, Y, history, l2, batch, activation, output, learning_rate):
    """After the last update: the parameters are finite, and their cost (cross-entropy on the first
    ``max(batch, FINAL_CHECK_EXAMPLES)`` training examples, without dropout, plus the L2 term as
    the loop computes it for a batch) neither non-finite nor exploded."""
    if not all(np.isfinite(v).all() for v in params.values()):
        raise _numerical_error("the parameters overflowed", history.n_iter, learning_rate)
    n = min(X.shape[1], max(batch, FINAL_CHECK_EXAMPLES))
    _, cache = forward_propagation(params, X[:, :n], 1.0, activation=activation, output=output)
    cost = compute_cost(cache, Y[:, :n]) + l2_penalty(params, l2, batch)
    if _exploded(cost, history):
        raise _numerical_error(f"after the last update the cost became {cost:.4g} (from {history.cost[0]:.4g} "
                               f"at the start)", history.n_iter, learning_rate)
