"""Numerical gradients of any cost function: flattening, the plain centred loop, directional checks.

The course's check (centred differences, ``epsilon = 1e-7``)::

    gradapprox_i = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)
    difference   = ||grad - gradapprox||_2 / (||grad||_2 + ||gradapprox||_2)

with ``theta`` the parameters flattened in the order W1, b1, W2, b2, ..., each row-major
(``dictionary_to_vector``) and ``grad`` the gradients flattened the same way (dW1, db1, ...).
Everything is computed in float64 on copies, whatever the dtype of the inputs. How the verdict
is reached (the cost's noise measured, kinks, a second look) is ``judge``'s.

Parameters and gradients. ``params`` is any mapping of names to arrays: the course's "W1",
"b1", ... (then ordered W1, b1, W2, ... whatever the mapping's order), or any other names such
as PyTorch's "fc1.weight" (then in the mapping's order). The gradient of ``params[name]`` is
``grads["d" + name]`` ("dW1" for "W1", "dfc1.weight" for "fc1.weight"); a ``grads`` that has,
instead, every parameter's own name ("fc1.weight", as PyTorch's ``named_parameters`` gives them)
is accepted too. ``cost_fn`` receives a fresh dict with the same names, float64 copies.

Three ways to get the numerical gradient:

* ``gradient_check(cost_fn, ...)``: the plain loop, two evaluations of any ``cost_fn`` per entry;
* ``check_backprop(...)`` (``method="structured"``, the default, in ``network``): the same
  numbers for practicaldl's own network, to rounding, from a pass that perturbs each entry
  without a whole forward pass each (``fast``);
* ``directional_check``: random directions v, ``(J(theta + eps v) - J(theta - eps v)) / 2 eps``
  against ``grad . v``: ``n_directions`` over all parameters, and ``n_drill`` restricted to each
  parameter so that every parameter gets its own verdict; a parameter whose directions cross a
  kink is checked entry by entry (so the three methods agree at kinks).

Reference: Andrew Ng, Improving Deep Neural Networks, week 1, "Gradient Checking".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Callable, NamedTuple

import numpy as np

from ..core.randomness import as_generator
from ..core.validation import check_positive
from . import judge
from .report import DEFAULT_THRESHOLD, GradCheckReport, ParameterCheck, _check_threshold, _worst_verdict

_COURSE_KEY = re.compile(r"^([Wb])(\d+)$")


# -- flattening ---------------------------------------------------------------------------------
def _ordered_keys(d) -> list:
    """W1, b1, W2, b2, ... when every key is of that form; otherwise the mapping's own order."""
    keys = list(d)
    matches = [_COURSE_KEY.match(str(k)) for k in keys]
    if keys and all(matches):
        return [k for _, k in sorted(((int(mt.group(2)), mt.group(1) == "b"), k) for mt, k in zip(matches, keys))]
    return keys


def _check_params(params):
    if not isinstance(params, Mapping) or not params:
        raise ValueError(f"params must be a non-empty mapping of names to arrays, got {type(params).__name__}")
    for k in params:
        if not isinstance(k, str):
            raise ValueError(f"params must have string names such as 'W1' or 'fc1.weight', got the key {k!r}")


def dictionary_to_vector(params):
    """Flatten ``params`` into ``theta`` (n, 1) float64 in the order W1, b1, W2, b2, ..., each row-major.

    ``params`` is any mapping of names to arrays (other names keep the mapping's order). Returns
    ``(theta, shapes)`` where ``shapes`` is a dict ``name -> shape`` in that order;
    ``vector_to_dictionary(theta, shapes)`` inverts it. The input is not modified (a copy).
    """
    _check_params(params)
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


def vector_to_dictionary(theta, shapes) -> dict:
    """Unflatten ``theta`` (n, 1) or (n,) into a dict of C-contiguous float64 arrays of ``shapes``.

    ``shapes`` is the dict from ``dictionary_to_vector`` (or a list of ``(name, shape)`` pairs).
    """
    if not isinstance(shapes, Mapping):
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


def gradients_to_vector(grads) -> np.ndarray:
    """Flatten ``grads`` (dW1, db1, dW2, ...) into a float64 (n, 1) vector, in the order of the params."""
    if not isinstance(grads, Mapping) or not grads:
        raise ValueError(f"grads must be a non-empty mapping of arrays, got {type(grads).__name__}")
    stripped = {k[1:] if str(k).startswith("d") else k: k for k in grads}
    order = _ordered_keys(stripped)
    return np.concatenate([np.asarray(grads[stripped[k]], dtype=np.float64).reshape(-1) for k in order]).reshape(-1, 1)


def vector_to_gradients(theta, shapes) -> dict:
    """Unflatten a gradient vector into ``{"dW1": ..., "db1": ...}`` given the *parameter* shapes."""
    return {f"d{k}": v for k, v in vector_to_dictionary(theta, shapes).items()}


# -- validation ---------------------------------------------------------------------------------
def _check_epsilon(epsilon):
    check_positive("epsilon", epsilon)
    return float(epsilon)


def _gradient_key(grads, shapes) -> Callable[[str], str]:
    """``name -> key`` of its gradient: "d" + name, or every name itself (see the module docstring)."""
    if all(f"d{k}" in grads for k in shapes):
        return lambda k: f"d{k}"
    if all(k in grads for k in shapes):
        return lambda k: k
    missing = next(k for k in shapes if f"d{k}" not in grads)
    raise ValueError(f"grads is missing 'd{missing}' (the gradient of params[{missing!r}]); it has {sorted(grads)} "
                     f"(gradient keys are 'd' + the parameter's name, or every parameter's own name)")


def _check_grads(grads, shapes) -> np.ndarray:
    """The analytic gradient flattened in the order of ``shapes``; every key present, shapes equal."""
    if not isinstance(grads, Mapping):
        raise ValueError(f"grads must be a mapping of arrays (dW1, db1, ...), got {type(grads).__name__}")
    key = _gradient_key(grads, shapes)
    parts = []
    for k, shape in shapes.items():
        g = np.asarray(grads[key(k)])
        if g.shape != shape:
            raise ValueError(f"grads[{key(k)!r}] must have the shape of params[{k!r}] {shape}, got {g.shape}")
        if g.dtype.kind not in "biuf":
            raise ValueError(f"grads[{key(k)!r}] must hold numbers, got dtype {g.dtype}")
        parts.append(g.astype(np.float64).reshape(-1))
    return np.concatenate(parts)


def _check_theta(theta: np.ndarray, shapes, epsilon: float):
    """Finite parameters, and a step that moves every one of them: ``theta +- epsilon != theta``."""
    start = 0
    for name, shape in shapes.items():
        size = int(np.prod(shape, dtype=np.int64))
        block = theta[start:start + size]
        if not np.all(np.isfinite(block)):
            raise ValueError(f"params[{name!r}] must be finite, got {int(np.sum(~np.isfinite(block)))} nan or inf "
                             f"entries")
        stuck = (block + epsilon == block) | (block - epsilon == block)
        if stuck.any():
            i = int(np.flatnonzero(stuck)[0])
            index = [int(v) for v in np.unravel_index(i, shape)] if shape else []
            need = float(np.spacing(np.max(np.abs(block))))
            raise ValueError(f"epsilon must move every parameter, got {epsilon:g}: params[{name!r}]{index} = "
                             f"{block[i]:.6g} +- epsilon rounds to itself; use epsilon of at least {need:.0e} "
                             f"(the default 1e-7 suits parameters of order 1)")
        start += size


# -- cost functions on flat vectors, and the engines that perturb them ----------------------------
class _Cost:
    """``cost_fn(params) -> float`` called on flat vectors (fresh float64 dicts); counts the calls."""

    def __init__(self, cost_fn, shapes, budget=None):
        if not callable(cost_fn):
            raise ValueError(f"cost_fn must be callable as cost_fn(params) -> float, got {type(cost_fn).__name__}")
        self.cost_fn, self.shapes, self.n_evaluations, self.budget = cost_fn, shapes, 0, budget

    def __call__(self, vec) -> float:
        if self.budget is not None and self.n_evaluations >= self.budget:
            raise judge.BudgetExhausted
        value = self.cost_fn(vector_to_dictionary(vec, self.shapes))
        self.n_evaluations += 1
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cost_fn must return a number, got {type(value).__name__}") from exc

    def reserve(self, n: int):
        """Raise ``BudgetExhausted`` unless ``n`` more evaluations fit in the budget."""
        if self.budget is not None and self.n_evaluations + n > self.budget:
            raise judge.BudgetExhausted


class _Coordinates:
    """The plain loop: entry i moved by +-step, one whole evaluation of the cost each."""

    def __init__(self, cost: _Cost, theta: np.ndarray, analytic: np.ndarray, J0: float, offset: int = 0):
        self.cost, self.theta, self.analytic, self.J0, self.offset = cost, theta, analytic, J0, offset
        self.cost_at = cost  # J at any theta (the noise measurement)

    def deltas(self, index, step):
        self.cost.reserve(2 * len(index))
        work = self.theta.copy()
        k = len(index)
        dp, dm, hp, hm = np.empty(k), np.empty(k), np.empty(k), np.empty(k)
        for r, i in enumerate(np.asarray(index) + self.offset):
            t = self.theta[i]
            work[i] = t + step
            hp[r] = work[i] - t
            dp[r] = self.cost(work) - self.J0
            work[i] = t - step
            hm[r] = t - work[i]
            dm[r] = self.cost(work) - self.J0
            work[i] = t
        return dp, dm, hp, hm, self.analytic[np.asarray(index) + self.offset]


class _Directions:
    """Random directions: theta moved by +-step v; compared with ``grad . (d+ + d-) / (2 step)``, d+- the
    displacements as rounded in theta, so the step's rounding is no error."""

    def __init__(self, cost: _Cost, theta: np.ndarray, analytic: np.ndarray, J0: float, V: np.ndarray):
        self.cost, self.theta, self.analytic, self.J0, self.V = cost, theta, analytic, J0, V
        self.cost_at = cost

    def deltas(self, index, step):
        self.cost.reserve(2 * len(index))
        k = len(index)
        dp, dm, ana = np.empty(k), np.empty(k), np.empty(k)
        for r, d in enumerate(index):
            plus, minus = self.theta + step * self.V[d], self.theta - step * self.V[d]
            dp[r] = self.cost(plus) - self.J0
            dm[r] = self.cost(minus) - self.J0
            ana[r] = self.analytic @ ((plus - self.theta) + (self.theta - minus)) / (2 * step)
        steps = np.full(k, float(step))
        return dp, dm, steps, steps, ana


def _blocks(shapes, theta) -> list:
    """One ``judge.Block`` per parameter: its entries' positions in theta."""
    out, start = [], 0
    for name, shape in shapes.items():
        size = int(np.prod(shape, dtype=np.int64))
        out.append(judge.Block(name, tuple(shape), np.arange(start, start + size), slice(start, start + size)))
        start += size
    return out


def _prepare(cost_fn, params, grads, epsilon, budget=None):
    """Validated ``(theta (n,), shapes, analytic (n,), cost, J0)``."""
    epsilon = _check_epsilon(epsilon)
    theta, shapes = dictionary_to_vector(params)
    theta = theta[:, 0]
    analytic = _check_grads(grads, shapes) if grads is not None else None
    _check_theta(theta, shapes, epsilon)
    cost = _Cost(cost_fn, shapes, budget)
    return theta, shapes, analytic, cost, cost(theta)


def _check_cost(cost, theta, shapes, J0, *, method, epsilon, threshold):
    """``(noise, None)``, or ``(None, report)`` when the cost is not finite at or near theta (inconclusive)."""
    where = "at theta" if not math.isfinite(J0) else None
    noise = None
    if where is None:
        noise = judge.measure_noise(cost, theta, J0, epsilon)
        if not math.isfinite(noise.sigma):
            where = "within 3 epsilon of theta"
    if where is None:
        return noise, None
    cause = f"the cost is not finite {where} (J = {J0})"
    per = {name: ParameterCheck(name, tuple(shape), math.nan, math.nan, "inconclusive", False, [], [],
                                int(np.prod(shape, dtype=np.int64)), step=epsilon, cause=cause,
                                remedy=judge.REMEDY_NONFINITE) for name, shape in shapes.items()}
    return None, GradCheckReport(math.nan, math.nan, "inconclusive", False, threshold, epsilon, per,
                                 cost.n_evaluations, method, J0, noise=math.nan if noise is None else noise.sigma)


def _report(outcome: judge.Outcome, shapes, *, method, epsilon, threshold, n_evaluations, cost, noise):
    """The report of an entry-by-entry check (loop or structured)."""
    per = outcome.per_parameter
    verdict = _worst_verdict(p.verdict for p in per.values())
    return GradCheckReport(difference=outcome.difference, raw_difference=outcome.raw_difference, verdict=verdict,
                           passed=all(p.passed for p in per.values()), threshold=threshold, epsilon=epsilon,
                           per_parameter=per, n_evaluations=n_evaluations, method=method, cost=float(cost),
                           noise=noise, gradapprox=vector_to_dictionary(outcome.gradapprox, shapes))


# -- the plain loop -----------------------------------------------------------------------------
def numerical_gradient(cost_fn: Callable[[dict], float], params, epsilon: float = 1e-7):
    """The plain centred loop over every entry: ``(gradapprox (n,), kinks (n,) bool, J, n_evaluations)``.

    ``gradapprox_i = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)`` (at ``eps / 2`` for an
    entry whose kink the half step no longer reaches); ``kinks_i`` where the one-sided differences
    disagree beyond the measured noise at both steps (``judge``).
    """
    theta, shapes, _, cost, J0 = _prepare(cost_fn, params, None, epsilon)
    finite = math.isfinite(J0)
    noise = judge.measure_noise(cost, theta, J0, float(epsilon)) if finite else judge.Noise(math.inf, 0, math.inf)
    engine = _Coordinates(cost, theta, np.zeros_like(theta), J0)
    first = judge.look(engine, np.arange(theta.size), float(epsilon), noise.sigma, course=True)
    state = judge._State(first, float(epsilon))
    judge._find_kinks(engine, state, first, float(epsilon), noise.sigma)
    return state.num, state.kink, J0, cost.n_evaluations


def gradient_check(cost_fn: Callable[[dict], float], params, grads, epsilon: float = 1e-7, *,
                   threshold: float = DEFAULT_THRESHOLD, n_worst: int = 3) -> GradCheckReport:
    """Check ``grads`` against centred differences of ``cost_fn(params) -> float``, entry by entry.

    ``params``: a mapping of names to arrays ("W1", "b1", ... or any names, such as
    "fc1.weight"); ``grads``: their gradients, ``grads["d" + name]`` ("dW1" for "W1",
    "dfc1.weight" for "fc1.weight"), or every parameter's own name. ``cost_fn`` gets a fresh
    dict of float64 copies with the same names; ``params`` and ``grads`` are not modified.
    ``epsilon`` must move every parameter (``theta +- epsilon != theta``; else ValueError).

    The course's loop, two evaluations per entry, plus the measurement of the cost's noise (24),
    kinks confirmed at ``epsilon / 2`` and a second look at failing or unresolved parameters
    (``judge``). ``difference = ||grad - gradapprox|| / (||grad|| + ||gradapprox||)``; the verdict
    is "right", "inconclusive", "look closer" or "bug" (``report.VERDICTS``).
    """
    threshold = _check_threshold(threshold)
    check_positive("n_worst", n_worst, integer=True)
    theta, shapes, analytic, cost, J0 = _prepare(cost_fn, params, grads, epsilon)
    noise, unjudged = _check_cost(cost, theta, shapes, J0, method="loop", epsilon=float(epsilon),
                                  threshold=threshold)
    if unjudged is not None:
        return unjudged
    engine = _Coordinates(cost, theta, analytic, J0)
    outcome = judge.run(engine, _blocks(shapes, theta), epsilon=float(epsilon), threshold=threshold,
                        sigma=noise.sigma, gradient=analytic, n_worst=n_worst)
    return _report(outcome, shapes, method="loop", epsilon=float(epsilon), threshold=threshold,
                   n_evaluations=cost.n_evaluations, cost=J0, noise=noise.sigma)


# -- directional mode ---------------------------------------------------------------------------
def directional_budget(n_parameters: int, n_directions: int = 4, n_drill: int = 2) -> int:
    """Evaluations ``directional_check`` uses when nothing needs a second look and no direction
    crosses a kink: ``1 + 24 + 2 n_directions + 2 n_drill n_parameters`` (24 measure the noise)."""
    return 1 + 6 * judge.NOISE_DIRECTIONS + 2 * n_directions + 2 * n_drill * n_parameters


def directional_check(cost_fn: Callable[[dict], float], params, grads, epsilon: float = 1e-7, *,
                      n_directions: int = 4, n_drill: int = 2, rng=None, threshold: float = DEFAULT_THRESHOLD,
                      max_evaluations: int | None = None) -> GradCheckReport:
    """Check ``grads`` along random directions ``v ~ N(0, I)``: a few evaluations instead of two per entry.

    Per direction: numerical ``(J(theta + eps v) - J(theta - eps v)) / 2 eps`` against analytic
    ``grad . v``. ``n_directions`` directions over all parameters, and ``n_drill`` directions
    supported on each parameter's entries only, so each parameter (W1, b1, ...) gets its own
    verdict; ``difference`` is the course's formula over the directions. Noise, kinks and second
    looks as in ``gradient_check``; a parameter whose directions cross a kink is checked entry by
    entry. Parameters, names and gradient keys as in ``gradient_check``. ``rng`` (None: seed 0)
    draws the directions. At most ``max_evaluations`` evaluations (None: no limit; without kinks
    or second looks ``directional_budget(len(params), n_directions, n_drill)``): a parameter the
    budget does not reach is "inconclusive". Rows have no worst entries unless checked entry by
    entry: a direction is not an entry.
    """
    epsilon = _check_epsilon(epsilon)
    threshold = _check_threshold(threshold)
    check_positive("n_directions", n_directions, integer=True)
    check_positive("n_drill", n_drill, integer=True)
    if max_evaluations is not None:
        check_positive("max_evaluations", max_evaluations, integer=True)
        least = 1 + 6 * judge.NOISE_DIRECTIONS + 2 * n_directions
        if max_evaluations < least:
            raise ValueError(f"max_evaluations must be at least 1 + 24 + 2 n_directions = {least} (J(theta), the "
                             f"noise, the directions over all parameters), got {max_evaluations}")
    theta, shapes, analytic, cost, J0 = _prepare(cost_fn, params, grads, epsilon, budget=max_evaluations)
    noise, unjudged = _check_cost(cost, theta, shapes, J0, method="directional", epsilon=epsilon,
                                  threshold=threshold)
    if unjudged is not None:
        return unjudged
    gen = as_generator(0 if rng is None else rng)
    n = theta.size
    rows = [_unit(gen.standard_normal((n_directions, n)))]  # over all parameters
    param_blocks, start, notes = [], 0, []
    first_look = 2 * n_directions
    for block in _blocks(shapes, theta):
        size = block.index.size
        fits = max_evaluations is None or cost.n_evaluations + first_look + 2 * n_drill <= max_evaluations
        if fits:
            V = np.zeros((n_drill, n))
            V[:, start:start + size] = _unit(gen.standard_normal((n_drill, size)))
            rows.append(V)
            first = n_directions + n_drill * len(param_blocks)
            param_blocks.append(block._replace(index=np.arange(first, first + n_drill), entries=False))
            first_look += 2 * n_drill
        start += size
    V = np.concatenate(rows)
    overall = judge.Block("(all parameters)", (n_directions,), np.arange(n_directions), slice(None), entries=False,
                          second_look=False)  # informs; each parameter is judged on its own directions
    engine = _Directions(cost, theta, analytic, J0, V)
    outcome = judge.run(engine, [overall, *param_blocks], epsilon=epsilon, threshold=threshold, sigma=noise.sigma,
                        gradient=analytic)
    per = {}
    offsets = dict(zip(shapes, np.cumsum([0] + [int(np.prod(s, dtype=np.int64)) for s in shapes.values()])))
    for name, shape in shapes.items():
        p = outcome.per_parameter.get(name)
        if p is not None and p.kinks:  # its directions cross a kink: entry by entry
            p = _entry_by_entry(cost, theta, analytic, J0, name, shape, offsets[name], epsilon, threshold,
                                noise.sigma) or p
        if p is None:
            p = ParameterCheck(name, tuple(shape), math.nan, math.nan, "inconclusive", False, [], [],
                               int(np.prod(shape, dtype=np.int64)), step=epsilon,
                               cause=f"the budget of {max_evaluations} evaluations ran out before {name}",
                               remedy="raise max_evaluations")
        per[name] = p
    overall_check = outcome.per_parameter["(all parameters)"]
    if overall_check.verdict in ("look closer", "bug"):
        notes.append(f"the directions over all parameters disagree: difference {overall_check.difference:.3e}")
        per_verdicts = [p.verdict for p in per.values()] + [overall_check.verdict]
    else:
        per_verdicts = [p.verdict for p in per.values()]
    verdict = _worst_verdict(per_verdicts)
    return GradCheckReport(difference=outcome.difference, raw_difference=outcome.raw_difference, verdict=verdict,
                           passed=verdict == "right", threshold=threshold, epsilon=epsilon, per_parameter=per,
                           n_evaluations=cost.n_evaluations, method="directional", cost=J0, notes=notes,
                           noise=noise.sigma)


def _unit(V):
    """The rows of V scaled to unit length: a step h along one moves theta by h, as for one entry."""
    return V / np.sqrt(np.sum(V * V, axis=1, keepdims=True))


def _entry_by_entry(cost, theta, analytic, J0, name, shape, offset, epsilon, threshold, sigma):
    """The check of one parameter entry by entry (its directions crossed a kink); None past the budget."""
    size = int(np.prod(shape, dtype=np.int64))
    try:
        cost.reserve(2 * size)
        engine = _Coordinates(cost, theta, analytic, J0, offset=offset)
        block = judge.Block(name, tuple(shape), np.arange(size), slice(offset, offset + size))
        return judge.run(engine, [block], epsilon=epsilon, threshold=threshold, sigma=sigma,
                         gradient=analytic).per_parameter[name]
    except judge.BudgetExhausted:
        return None


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
