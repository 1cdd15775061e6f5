"""Gradient checks of practicaldl's own network (``check_backprop``) and of a fitted estimator.

The cost is ``compute_cost`` (cross-entropy + L2) with the dropout masks of one reference forward
pass replayed in every evaluation, so the check is exact with dropout on. Three methods: the
structured pass (``gradcheck.fast``), the plain loop (``numerical.gradient_check``) and random
directions (``numerical.directional_check``).
"""

from __future__ import annotations

import os
from typing import Callable, NamedTuple

import numpy as np

from ..core.losses import OUTPUTS
from ..core.network import backward_propagation, compute_cost, forward_propagation
from ..core.randomness import as_generator
from ..core.validation import check_choice, check_keep_prob, check_non_negative, check_positive
from .numerical import _check_epsilon, _check_grads, dictionary_to_vector, directional_check, gradient_check
from .report import DEFAULT_THRESHOLD, GradCheckReport, _assemble, _check_threshold

def _check_n_jobs(n_jobs) -> int:
    """``n_jobs`` as a thread count; None: 2 where this process may use two cores or more, else 1."""
    if n_jobs is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return min(2, cpus)
    check_positive("n_jobs", n_jobs, integer=True)
    return int(n_jobs)



# -- practicaldl's own network --------------------------------------------------------------------
METHODS = ("structured", "loop", "directional")


class _NetworkProblem(NamedTuple):
    params: dict
    X: np.ndarray
    Y: np.ndarray
    keep: tuple
    masks: list
    activation: str
    output: str
    l2: float


def _network_problem(params, X, Y, l2, keep_prob, rng, activation, output) -> _NetworkProblem:
    """Validated float64 copies, and the dropout masks of one reference forward pass (drawn once)."""
    if not isinstance(params, dict) or not params or len(params) % 2:
        got = list(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"params must be a dict W1, b1, ..., WL, bL, got {got}")
    L = len(params) // 2
    expected = [f"{c}{l}" for l in range(1, L + 1) for c in "Wb"]
    if sorted(params) != sorted(expected):
        raise ValueError(f"params must have the keys {expected}, got {sorted(params)}")
    p64 = {k: np.array(params[k], dtype=np.float64, order="C", copy=True) for k in expected}
    X = np.asarray(X)
    Y = np.asarray(Y)
    if X.ndim != 2 or Y.ndim != 2:
        raise ValueError(f"X and Y must be 2-D (n_x, m) and (n_L, m), got shapes {X.shape} and {Y.shape}")
    X, Y = X.astype(np.float64), np.ascontiguousarray(Y, dtype=np.float64)
    prev = X.shape[0]
    for l in range(1, L + 1):
        W, b = p64[f"W{l}"], p64[f"b{l}"]
        if W.ndim != 2 or W.shape[1] != prev:
            raise ValueError(f"params['W{l}'] must have shape (n_{l}, {prev}), got {W.shape}")
        if b.shape != (W.shape[0], 1):
            raise ValueError(f"params['b{l}'] must have shape ({W.shape[0]}, 1), got {b.shape}")
        prev = W.shape[0]
    if Y.shape != (prev, X.shape[1]):
        raise ValueError(f"Y must have shape ({prev}, {X.shape[1]}) (n_L, m), got {Y.shape}")
    l2 = check_non_negative("l2", l2)
    check_choice("output", output, OUTPUTS)
    keep = check_keep_prob(keep_prob, L - 1)
    masks = None
    if any(p < 1 for p in keep):
        gen = as_generator(0 if rng is None else rng)
        _, cache = forward_propagation(p64, X, keep, gen, activation=activation, output=output)
        masks = cache.masks
    else:
        forward_propagation(p64, X[:, :1], keep, activation=activation, output=output)  # validates activation
    return _NetworkProblem(p64, X, Y, keep, masks, activation, output, l2)


def _network_cost_fn(prob: _NetworkProblem):
    """``J(params)`` of the network with the recorded masks replayed (what the plain loop evaluates)."""

    def cost_fn(params):
        _, cache = forward_propagation(params, prob.X, prob.keep, masks=prob.masks, activation=prob.activation,
                                       output=prob.output)
        return compute_cost(cache, prob.Y, params, prob.l2)

    return cost_fn


def check_backprop(params: dict, X, Y, *, l2: float = 0.0, keep_prob=1.0, rng=None, epsilon: float = 1e-7,
                   activation: str = "relu", output: str = "sigmoid", backward: Callable | None = None,
                   method: str = "structured", threshold: float = DEFAULT_THRESHOLD, n_worst: int = 3,
                   n_directions: int = 4, n_drill: int = 2, n_jobs: int | None = None) -> GradCheckReport:
    """Check practicaldl's backprop (or ``backward``) for the network ``params`` on X (n_x, m), Y (n_L, m).

    The cost is ``compute_cost`` (cross-entropy + ``(l2/2m) sum ||W_l||^2``). With ``keep_prob <
    1`` one set of dropout masks is drawn from ``rng`` (None: seed 0) in a reference forward pass,
    and replayed in the analytic pass and in every perturbed evaluation, so the check is exact with
    dropout on. ``backward(params, Y, cache, l2) -> grads`` replaces ``backward_propagation`` (to
    check your own, or to plant a bug). ``method``: "structured" (default; bit-for-bit the plain
    loop's numbers, much faster, kinks found from the pre-activations), "loop" (the plain loop over
    ``forward_propagation``), "directional" (``directional_check``; for large networks).
    Params are checked as float64 copies; the caller's are not modified. ``n_jobs`` threads share
    the structured pass, the same numbers for any value (None: 2 where this process may use two
    cores or more, else 1; more threads rarely pay off, since the GIL serialises NumPy's short calls;
    on [20, 50, 50, 1], m = 32, two threads take about 0.7x the time of one). The threads, and
    their work buffers (a few times 8 MB at most, each), are kept for the next check.
    """
    epsilon = _check_epsilon(epsilon)
    n_jobs = _check_n_jobs(n_jobs)
    threshold = _check_threshold(threshold)
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    if backward is not None and not callable(backward):
        raise ValueError(f"backward must be callable as backward(params, Y, cache, l2), got {type(backward).__name__}")
    prob = _network_problem(params, X, Y, l2, keep_prob, rng, activation, output)
    _, cache = forward_propagation(prob.params, prob.X, prob.keep, masks=prob.masks, activation=activation,
                                   output=output)
    grads = (backward or backward_propagation)({k: v.copy() for k, v in prob.params.items()}, prob.Y, cache, prob.l2)
    cost_fn = _network_cost_fn(prob)
    if method == "directional":
        return directional_check(cost_fn, prob.params, grads, epsilon, n_directions=n_directions, n_drill=n_drill,
                                 rng=rng, threshold=threshold)
    if method == "loop":
        return gradient_check(cost_fn, prob.params, grads, epsilon, threshold=threshold, n_worst=n_worst)
    from .fast import structured_numerical_gradient

    _, shapes = dictionary_to_vector(prob.params)
    analytic = _check_grads(grads, shapes)
    res = structured_numerical_gradient(prob.params, prob.X, prob.Y, l2=prob.l2, keep=prob.keep, masks=prob.masks,
                                        activation=activation, output=output, epsilon=epsilon,
                                        reference_cost=cost_fn, n_jobs=n_jobs)
    if not res.exact:  # the BLAS or the core changed under us: the plain loop is always right
        report = gradient_check(cost_fn, prob.params, grads, epsilon, threshold=threshold, n_worst=n_worst)
        report.notes.append("structured pass did not reproduce the plain loop bit for bit; used the loop")
        return report
    numerical = np.concatenate([res.numerical[k].reshape(-1) for k in shapes])
    kinks = np.concatenate([res.kinks[k].reshape(-1) for k in shapes])
    return _assemble(shapes, analytic, numerical, kinks, epsilon=epsilon, threshold=threshold,
                     n_evaluations=res.n_evaluations, method="structured", cost=res.cost, n_worst=n_worst)


def check_classifier_gradients(clf, X, y, *, epsilon: float = 1e-7, max_samples: int | None = None, rng=None,
                               method: str = "structured", threshold: float = DEFAULT_THRESHOLD,
                               n_jobs: int | None = None) -> GradCheckReport:
    """Check the gradients of a fitted ``NeuralNetClassifier`` on X (n_samples, n_features), labels y.

    Uses the classifier's ``parameters_`` (as float64), ``l2``, ``keep_prob``, ``activation`` and
    output layer. ``max_samples`` keeps the first that many samples. With dropout one set of masks
    is drawn from ``rng`` (None: ``clf.random_state`` if it is an int, else seed 0) and replayed.
    ``n_jobs``: threads for the structured pass (see ``check_backprop``).
    """
    params = getattr(clf, "parameters_", None)
    if params is None:
        raise ValueError("clf must be a fitted NeuralNetClassifier (it has no parameters_; call fit first)")
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must be 1-D with one label per row of X ({X.shape[0]}), got shape {y.shape}")
    if max_samples is not None:
        check_positive("max_samples", max_samples, integer=True)
        X, y = X[:max_samples], y[:max_samples]
    classes = np.asarray(clf.classes_)
    unknown = np.setdiff1d(np.unique(y), classes)
    if unknown.size:
        raise ValueError(f"y has labels the classifier was not fitted on: {unknown.tolist()}")
    if clf.output_ == "sigmoid":
        Y = (y == classes[1]).astype(np.float64)[None, :]  # (1, m)
    else:
        Y = (y[None, :] == classes[:, None]).astype(np.float64)  # (K, m)
    if rng is None:
        rs = clf.random_state
        rng = rs if isinstance(rs, (int, np.integer)) and not isinstance(rs, bool) else 0
    return check_backprop(params, np.asarray(X, dtype=np.float64).T, Y, l2=clf.l2, keep_prob=clf.keep_prob,
                          rng=rng, epsilon=epsilon, activation=clf.activation, output=clf.output_, method=method,
                          threshold=threshold, n_jobs=n_jobs)

