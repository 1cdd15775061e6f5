"""Gradient checks of practicaldl's own network (``check_backprop``) and of a fitted estimator.

The cost is ``compute_cost`` (cross-entropy from Z_L, + L2) with the dropout masks of one
reference forward pass replayed in every evaluation, so the check is exact with dropout on.
Three methods, one set of verdicts (``judge``): the structured pass (``fast``, the default), the
plain loop (``numerical.gradient_check``) and random directions (``numerical.directional_check``).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from ..core.losses import OUTPUTS
from ..core.network import backward_propagation, compute_cost, forward_propagation
from ..core.randomness import as_generator
from ..core.validation import check_choice, check_keep_prob, check_non_negative, check_positive
from . import judge
from .numerical import (_blocks, _check_cost, _check_epsilon, _check_grads, _check_theta, _Cost, _report,
                        dictionary_to_vector, directional_check, gradient_check)
from .report import DEFAULT_THRESHOLD, GradCheckReport, _check_threshold

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


def _check_data(X, Y, n_x, n_L, output):
    """X (n_x, m) and Y (n_L, m) as float64: at least one example, finite X, labels as the output needs."""
    X, Y = np.asarray(X), np.asarray(Y)
    if X.ndim != 2 or Y.ndim != 2:
        raise ValueError(f"X and Y must be 2-D (n_x, m) and (n_L, m), got shapes {X.shape} and {Y.shape}")
    if X.dtype.kind not in "biuf" or Y.dtype.kind not in "biuf":
        raise ValueError(f"X and Y must hold numbers, got dtypes {X.dtype} and {Y.dtype}")
    if X.shape[1] == 0:
        raise ValueError(f"X must have at least one example (column), got shape {X.shape}")
    if X.shape[0] != n_x:
        raise ValueError(f"X must have {n_x} rows (params['W1'] is (n_1, {n_x})), got shape {X.shape}")
    X, Y = X.astype(np.float64), np.ascontiguousarray(Y, dtype=np.float64)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"X must be finite, got {int(np.sum(~np.isfinite(X)))} nan or inf entries")
    if Y.shape != (n_L, X.shape[1]):
        raise ValueError(f"Y must have shape ({n_L}, {X.shape[1]}) (n_L, m), got {Y.shape}")
    labels = np.unique(Y)
    if not np.all(np.isin(labels, (0.0, 1.0))):
        raise ValueError(f"Y must hold 0/1 labels, got values {labels[~np.isin(labels, (0.0, 1.0))][:5].tolist()}")
    if output == "softmax" and not np.all(Y.sum(axis=0) == 1):
        raise ValueError("Y must be one-hot for a softmax output (a single 1 in each column)")
    return X, Y


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
    prev = p64["W1"].shape[1] if p64["W1"].ndim == 2 else None
    for l in range(1, L + 1):
        W, b = p64[f"W{l}"], p64[f"b{l}"]
        if W.ndim != 2 or W.shape[1] != prev:
            raise ValueError(f"params['W{l}'] must have shape (n_{l}, {prev}), got {W.shape}")
        if b.shape != (W.shape[0], 1):
            raise ValueError(f"params['b{l}'] must have shape ({W.shape[0]}, 1), got {b.shape}")
        for k in (f"W{l}", f"b{l}"):
            if not np.all(np.isfinite(p64[k])):
                raise ValueError(f"params[{k!r}] must be finite, got {int(np.sum(~np.isfinite(p64[k])))} nan or "
                                 f"inf entries")
        prev = W.shape[0]
    check_choice("output", output, OUTPUTS)
    X, Y = _check_data(X, Y, p64["W1"].shape[1], prev, output)
    l2 = check_non_negative("l2", l2)
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
                   n_directions: int = 4, n_drill: int = 2) -> GradCheckReport:
    """Check practicaldl's backprop (or ``backward``) for the network ``params`` on X (n_x, m), Y (n_L, m).

    The cost is ``compute_cost`` (cross-entropy + ``(l2/2m) sum ||W_l||^2``). Y holds 0/1 labels
    (one-hot columns for a softmax output); X is finite with at least one example. With
    ``keep_prob < 1`` one set of dropout masks is drawn from ``rng`` (None: seed 0) in a
    reference forward pass, and replayed in the analytic pass and in every perturbed evaluation,
    so the check is exact with dropout on. ``backward(params, Y, cache, l2) -> grads`` replaces
    ``backward_propagation`` (to check your own, or to plant a bug). ``method``: "structured"
    (default; the plain loop's numbers to rounding, much faster), "loop" (the plain loop over
    ``forward_propagation``), "directional" (``directional_check``; for large networks). The
    three give the same verdicts (``judge``). Params are checked as float64 copies; the caller's
    are not modified.
    """
    epsilon = _check_epsilon(epsilon)
    threshold = _check_threshold(threshold)
    check_positive("n_worst", n_worst, integer=True)
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
    from .fast import Structured

    theta, shapes = dictionary_to_vector(prob.params)
    theta = theta[:, 0]
    analytic = _check_grads(grads, shapes)
    _check_theta(theta, shapes, epsilon)
    cost = _Cost(cost_fn, shapes)
    J0 = cost(theta)
    noise, unjudged = _check_cost(cost, theta, shapes, J0, method="structured", epsilon=epsilon, threshold=threshold)
    if unjudged is not None:
        return unjudged
    engine = Structured(prob.params, prob.X, prob.Y, l2=prob.l2, keep=prob.keep, masks=prob.masks,
                        activation=activation, output=output, analytic=analytic, cost_at=cost, J0=J0)
    outcome = judge.run(engine, _blocks(shapes, theta), epsilon=epsilon, threshold=threshold, sigma=noise.sigma,
                        gradient=analytic, n_worst=n_worst)
    return _report(outcome, shapes, method="structured", epsilon=epsilon, threshold=threshold,
                   n_evaluations=cost.n_evaluations + engine.n_passes, cost=J0, noise=noise.sigma)


def check_classifier_gradients(clf, X, y, *, epsilon: float = 1e-7, max_samples: int | None = None, rng=None,
                               method: str = "structured", threshold: float = DEFAULT_THRESHOLD) -> GradCheckReport:
    """Check the gradients of a fitted ``NeuralNetClassifier`` on X (n_samples, n_features), labels y.

    Uses the classifier's ``parameters_`` (as float64), ``l2``, ``keep_prob``, ``activation`` and
    output layer. ``max_samples`` keeps the first that many samples. With dropout one set of masks
    is drawn from ``rng`` (None: ``clf.random_state`` if it is an int, else seed 0) and replayed.
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
                          threshold=threshold)
