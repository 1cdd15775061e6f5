"""Numerical gradients of any cost function: flattening, the plain centred loop, directional checks.

The course's check (centred differences, ``epsilon = 1e-7``)::

    gradapprox_i = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)
    difference   = ||grad - gradapprox||_2 / (||grad||_2 + ||gradapprox||_2)

with ``theta`` the parameters flattened in the order W1, b1, W2, b2, ..., each row-major
(``dictionary_to_vector``) and ``grad`` the gradients flattened the same way (dW1, db1, ...).
Everything is computed in float64 on copies, whatever the dtype of the inputs.

Three ways to compute the numerical gradient:

* ``gradient_check(cost_fn, ...)``: the plain loop, ``2 n + 1`` evaluations of any ``cost_fn``.
* ``check_backprop(...)`` (``method="structured"``, the default): the same numbers for
  practicaldl's network, bit for bit, from a structured pass that reuses the layers below a
  perturbed entry and carries only the examples a perturbation changes up through the layers
  above (``gradcheck.fast``). On [20, 50, 50, 1] with m = 32 (3,651 parameters) it takes 15-20 ms
  against 250-280 ms for the course's loop and 310-350 ms for ``torch.autograd.gradcheck``
  (``benchmarks/bench_gradcheck.py``, 2-core machine: 14-16x and 16-20x). Its floor is the work
  that exactness requires: the 2,100 passes of layer 1 need about 1,200 products of 50 x 50 x 32
  in the reference's shape (1e8 multiply-adds, 5-6 ms on one core).
* ``directional_check`` / ``method="directional"``: ``n_directions`` random directions v,
  ``(J(theta + eps v) - J(theta - eps v)) / 2 eps`` against ``grad . v``. When it fails, it drills
  down with directions restricted to one parameter at a time, naming the faulty ones within
  ``directional_budget(n_parameters, n_directions, n_drill) = 1 + 2 n_directions +
  2 n_drill n_parameters`` evaluations.

Reference: Andrew Ng, Improving Deep Neural Networks, week 1, "Gradient Checking".
"""

from __future__ import annotations

import math
import re
from typing import Callable, NamedTuple

import numpy as np

from ..core.randomness import as_generator
from ..core.validation import check_positive
from .report import (
    DEFAULT_THRESHOLD,
    KINK_ATOL_EPS,
    KINK_RTOL,
    VERDICTS,
    GradCheckReport,
    ParameterCheck,
    _assemble,
    _check_threshold,
    _judge,
    _noise_per_entry,
)

_COURSE_KEY = re.compile(r"^([Wb])(\d+)$")


# -- flattening ---------------------------------------------------------------------------------
def _ordered_keys(d: dict) -> list:
    """W1, b1, W2, b2, ... when every key is of that form; otherwise the dict's own order."""
    keys = list(d)
    matches = [_COURSE_KEY.match(str(k)) for k in keys]
    if keys and all(matches):
        return [k for _, k in sorted(((int(mt.group(2)), mt.group(1) == "b"), k) for mt, k in zip(matches, keys))]
    return keys


def dictionary_to_vector(params: dict):
    """Flatten ``params`` into ``theta`` (n, 1) float64 in the order W1, b1, W2, b2, ..., each row-major.

    Returns ``(theta, shapes)`` where ``shapes`` is a dict ``key -> shape`` in that order;
    ``vector_to_dictionary(theta, shapes)`` inverts it. The input is not modified (a copy).
    """
    if not isinstance(params, dict) or not params:
        raise ValueError(f"params must be a non-empty dict of arrays, got {type(params).__name__}")
    shapes = {}
    parts = []
    for k in _ordered_keys(params):
        arr = np.asarray(params[k])
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"params[{k!r}] must hold numbers, got dtype {arr.dtype}")
        shapes[k] = tuple(arr.shape)
        parts.append(arr.astype(np.float64).reshape(-1))
    theta = np.concatenate(parts).reshape(-1, 1)  # (n, 1)
    return theta, shapes


def vector_to_dictionary(theta, shapes: dict) -> dict:
    """Unflatten ``theta`` (n, 1) or (n,) into a dict of C-contiguous float64 arrays of ``shapes``.

    ``shapes`` is the dict from ``dictionary_to_vector`` (or a list of ``(key, shape)`` pairs).
    """
    if not isinstance(shapes, dict):
        shapes = {k: tuple(v) for k, v in shapes}
    flat = np.asarray(theta, dtype=np.float64).reshape(-1)
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes.values()]
    if sum(sizes) != flat.size:
        raise ValueError(f"theta must have {sum(sizes)} entries for these shapes, got {flat.size}")
    out, start = {}, 0
    for (k, shape), size in zip(shapes.items(), sizes):
        out[k] = flat[start:start + size].reshape(shape).copy()
        start += size
    return out


def gradients_to_vector(grads: dict) -> np.ndarray:
    """Flatten ``grads`` (dW1, db1, dW2, ...) into a float64 (n, 1) vector, in the order of the params."""
    if not isinstance(grads, dict) or not grads:
        raise ValueError(f"grads must be a non-empty dict of arrays, got {type(grads).__name__}")
    stripped = {k[1:] if str(k).startswith("d") else k: k for k in grads}
    order = _ordered_keys(stripped)
    return np.concatenate([np.asarray(grads[stripped[k]], dtype=np.float64).reshape(-1) for k in order]).reshape(-1, 1)


def vector_to_gradients(theta, shapes: dict) -> dict:
    """Unflatten a gradient vector into ``{"dW1": ..., "db1": ...}`` given the *parameter* shapes."""
    return {f"d{k}": v for k, v in vector_to_dictionary(theta, shapes).items()}


# -- validation ---------------------------------------------------------------------------------
def _check_epsilon(epsilon):
    check_positive("epsilon", epsilon)
    return float(epsilon)



def _check_grads(grads, shapes) -> np.ndarray:
    """The analytic gradient flattened in the order of ``shapes``; every key present, shapes equal."""
    if not isinstance(grads, dict):
        raise ValueError(f"grads must be a dict of arrays (dW1, db1, ...), got {type(grads).__name__}")
    parts = []
    for k, shape in shapes.items():
        gk = f"d{k}"
        if gk not in grads:
            raise ValueError(f"grads is missing {gk!r} (the gradient of params[{k!r}]); it has {sorted(grads)}")
        g = np.asarray(grads[gk])
        if g.shape != shape:
            raise ValueError(f"grads[{gk!r}] must have the shape of params[{k!r}] {shape}, got {g.shape}")
        if g.dtype.kind not in "biuf":
            raise ValueError(f"grads[{gk!r}] must hold numbers, got dtype {g.dtype}")
        parts.append(g.astype(np.float64).reshape(-1))
    return np.concatenate(parts)


# -- the plain loop -----------------------------------------------------------------------------
def _call_cost(cost_fn, params) -> float:
    value = cost_fn(params)
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cost_fn must return a number, got {type(value).__name__}") from exc


def numerical_gradient(cost_fn: Callable[[dict], float], params: dict, epsilon: float = 1e-7):
    """The plain centred loop over every entry: ``(gradapprox (n,), kinks (n,) bool, J, n_evaluations)``.

    ``gradapprox_i = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)``; ``kinks_i`` when the
    one-sided differences disagree (see the module docstring). ``cost_fn`` receives a fresh
    float64 dict each call.
    """
    epsilon = _check_epsilon(epsilon)
    theta, shapes = dictionary_to_vector(params)
    n = theta.shape[0]
    J0 = _call_cost(cost_fn, vector_to_dictionary(theta, shapes))
    gradapprox = np.empty(n)
    kinks = np.zeros(n, dtype=bool)
    atol = KINK_ATOL_EPS * epsilon
    for i in range(n):
        theta_plus = np.copy(theta)
        theta_plus[i, 0] = theta_plus[i, 0] + epsilon
        J_plus = _call_cost(cost_fn, vector_to_dictionary(theta_plus, shapes))
        theta_minus = np.copy(theta)
        theta_minus[i, 0] = theta_minus[i, 0] - epsilon
        J_minus = _call_cost(cost_fn, vector_to_dictionary(theta_minus, shapes))
        gradapprox[i] = (J_plus - J_minus) / (2 * epsilon)
        fwd, bwd = (J_plus - J0) / epsilon, (J0 - J_minus) / epsilon
        kinks[i] = abs(fwd - bwd) > max(KINK_RTOL * (abs(fwd) + abs(bwd)), atol)
    return gradapprox, kinks, J0, 2 * n + 1


def gradient_check(cost_fn: Callable[[dict], float], params: dict, grads: dict, epsilon: float = 1e-7, *,
                   threshold: float = DEFAULT_THRESHOLD, n_worst: int = 3) -> GradCheckReport:
    """Check ``grads`` (dW1, db1, ...) against centred differences of ``cost_fn(params) -> float``.

    The course's loop over every entry, ``2 n + 1`` evaluations (the extra one at theta itself
    finds kinks). ``params`` is neither modified nor passed to ``cost_fn`` (it gets float64
    copies). ``difference = ||grad - gradapprox|| / (||grad|| + ||gradapprox||)``.
    """
    epsilon = _check_epsilon(epsilon)
    threshold = _check_threshold(threshold)
    check_positive("n_worst", n_worst, integer=True)
    if not callable(cost_fn):
        raise ValueError(f"cost_fn must be callable as cost_fn(params) -> float, got {type(cost_fn).__name__}")
    _, shapes = dictionary_to_vector(params)
    analytic = _check_grads(grads, shapes)
    numerical, kinks, J0, n_eval = numerical_gradient(cost_fn, params, epsilon)
    return _assemble(shapes, analytic, numerical, kinks, epsilon=epsilon, threshold=threshold,
                     n_evaluations=n_eval, method="loop", cost=J0, n_worst=n_worst)


# -- directional mode ---------------------------------------------------------------------------
def directional_budget(n_parameters: int, n_directions: int = 4, n_drill: int = 2) -> int:
    """Most evaluations ``directional_check`` uses: ``1 + 2 n_directions + 2 n_drill n_parameters``."""
    return 1 + 2 * n_directions + 2 * n_drill * n_parameters


def _directional(cost_fn, theta, shapes, analytic, V, epsilon, J0=None):
    """Directional derivatives along the rows of V (d, n): numerical, analytic, kink flags, J(theta)."""
    if J0 is None:
        J0 = _call_cost(cost_fn, vector_to_dictionary(theta, shapes))
    num, kink = np.empty(V.shape[0]), np.zeros(V.shape[0], dtype=bool)
    for d, v in enumerate(V):
        J_plus = _call_cost(cost_fn, vector_to_dictionary(theta[:, 0] + epsilon * v, shapes))
        J_minus = _call_cost(cost_fn, vector_to_dictionary(theta[:, 0] - epsilon * v, shapes))
        num[d] = (J_plus - J_minus) / (2 * epsilon)
        fwd, bwd = (J_plus - J0) / epsilon, (J0 - J_minus) / epsilon
        kink[d] = abs(fwd - bwd) > max(KINK_RTOL * (abs(fwd) + abs(bwd)), KINK_ATOL_EPS * epsilon)
    return num, V @ analytic, kink, J0


def directional_check(cost_fn: Callable[[dict], float], params: dict, grads: dict, epsilon: float = 1e-7, *,
                      n_directions: int = 4, n_drill: int = 2, rng=None, threshold: float = DEFAULT_THRESHOLD,
                      max_evaluations: int | None = None) -> GradCheckReport:
    """Check ``grads`` along ``n_directions`` random directions ``v ~ N(0, I)``, drilling down on failure.

    Per direction: numerical ``(J(theta + eps v) - J(theta - eps v)) / 2 eps`` against analytic
    ``grad . v``; ``difference`` is the course's formula over the vector of directions. If the
    verdict is not "right", each parameter is checked with ``n_drill`` directions supported on its
    entries only, and its own verdict tells which parameter is wrong. At most
    ``directional_budget(len(params), n_directions, n_drill)`` evaluations, or ``max_evaluations``
    (parameters left unchecked are then absent from ``per_parameter`` and named in ``notes``).
    Without a drill-down (the check passed) every parameter's row repeats the overall result, and
    no row has worst entries: a directional check does not look at entries.
    """
    epsilon = _check_epsilon(epsilon)
    threshold = _check_threshold(threshold)
    check_positive("n_directions", n_directions, integer=True)
    check_positive("n_drill", n_drill, integer=True)
    theta, shapes = dictionary_to_vector(params)
    analytic = _check_grads(grads, shapes)
    budget = directional_budget(len(shapes), n_directions, n_drill)
    if max_evaluations is not None:
        check_positive("max_evaluations", max_evaluations, integer=True)
        if max_evaluations < 1 + 2 * n_directions:
            raise ValueError(f"max_evaluations must be at least 1 + 2 n_directions = {1 + 2 * n_directions}, "
                             f"got {max_evaluations}")
        budget = min(budget, max_evaluations)
    gen = as_generator(0 if rng is None else rng)
    n = theta.shape[0]
    V = gen.standard_normal((n_directions, n))  # (d, n)
    num, ana, kink, J0 = _directional(cost_fn, theta, shapes, analytic, V, epsilon)
    used = 1 + 2 * n_directions
    noise = _noise_per_entry(J0, epsilon) * math.sqrt(n)
    diff, raw, verdict, passed = _judge(ana, num, kink, threshold, noise)
    per, notes = {}, []
    if kink.any():
        notes.append(f"{int(kink.sum())} direction(s) crossed a kink and were left out")
    if not passed:
        start = 0
        for name, shape in shapes.items():
            size = int(np.prod(shape, dtype=np.int64))
            if used + 2 * n_drill > budget:
                notes.append(f"budget of {budget} evaluations reached before checking {name}")
                start += size
                continue
            Vp = np.zeros((n_drill, n))
            Vp[:, start:start + size] = gen.standard_normal((n_drill, size))
            pn, pa, pk, _ = _directional(cost_fn, theta, shapes, analytic, Vp, epsilon, J0)
            used += 2 * n_drill
            d, r, v, ok = _judge(pa, pn, pk, threshold, _noise_per_entry(J0, epsilon) * math.sqrt(size))
            per[name] = ParameterCheck(name, tuple(shape), d, r, v, ok, [], [], size)
            start += size
    else:
        for name, shape in shapes.items():
            size = int(np.prod(shape, dtype=np.int64))
            per[name] = ParameterCheck(name, tuple(shape), diff, raw, "right", True, [], [], size)
    worst_verdict = max([verdict, *(p.verdict for p in per.values())], key=VERDICTS.index)
    return GradCheckReport(difference=diff, raw_difference=raw, verdict=worst_verdict,
                           passed=passed and all(p.passed for p in per.values()), threshold=threshold,
                           epsilon=epsilon, per_parameter=per, n_evaluations=used, method="directional",
                           cost=J0, notes=notes)


# -- the course's one-dimensional example ---------------------------------------------------------
class OneDimensionalCheck(NamedTuple):
    """The course's 1-D example: ``J``, ``grad``, ``gradapprox`` and ``difference``."""

    J: float
    grad: float
    gradapprox: float
    difference: float


def one_dimensional_example(x: float = 2.0, theta: float = 4.0, epsilon: float = 1e-7) -> OneDimensionalCheck:
    """``J(theta) = theta x``, ``dJ/dtheta = x``, checked by a centred difference exactly as the course does.

    ``gradapprox = (J(theta + eps) - J(theta - eps)) / (2 eps)``,
    ``difference = |grad - gradapprox| / (|grad| + |gradapprox|)``. With x = 2, theta = 4 the
    course prints ``2.919335883291695e-10``; with x = 3, ``7.814075313343006e-11``.
    """
    epsilon = _check_epsilon(epsilon)
    J = theta * x
    theta_plus, theta_minus = theta + epsilon, theta - epsilon
    gradapprox = (theta_plus * x - theta_minus * x) / (2 * epsilon)
    grad = x
    difference = float(np.linalg.norm(grad - gradapprox) / (np.linalg.norm(grad) + np.linalg.norm(gradapprox)))
    return OneDimensionalCheck(float(J), float(grad), float(gradapprox), difference)
