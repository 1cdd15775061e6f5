"""Gradient checking: which parameter is wrong, with L2 and dropout, fast enough for every test suite.

The course's check (centred differences, ``epsilon = 1e-7``)::

    gradapprox_i = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)
    difference   = ||grad - gradapprox||_2 / (||grad||_2 + ||gradapprox||_2)

with ``theta`` the parameters flattened in the order W1, b1, W2, b2, ..., each row-major
(``dictionary_to_vector``) and ``grad`` the gradients flattened the same way (dW1, db1, ...).
Everything is computed in float64 on copies, whatever the dtype of the inputs.

Verdict bands (the course's): ``difference < threshold`` (default ``2e-7``, the course's later
edition) is **right**; ``difference >= 1e-3`` is a **bug**; in between, **look closer** (the
course: "around 1e-5, look closer"). The same bands apply to each parameter (W1, b1, ...) on its
own entries, so a wrong ``db3`` is named even when its share of the overall norm is small. A
correct backprop of a randomly initialised network passes at ``epsilon = 1e-7`` in float64 with
a wide margin (typically ``1e-9`` to ``1e-8``). One allowance: a parameter whose error is within
the rounding noise of the centred difference itself, ``||grad - gradapprox|| <= sqrt(n) * 16 *
spacing(max(1, |J|)) / epsilon``, is not failed even if its gradient is so small that the
relative number is large (a dead unit's zero gradient against a ``1e-10`` approximation).

Kinks. A centred difference across a point where J is not differentiable (a ReLU pre-activation
within epsilon of 0; with dropout, a unit whose inputs were all dropped sits exactly at 0 and its
bias moves it across) approximates neither one-sided derivative. Such entries are flagged in
``kinks`` and left out of the verdict and of ``difference``; ``raw_difference`` keeps the course's
number over all entries. For a black-box ``cost_fn`` a kink is detected from the disagreement of
the one-sided differences ``(J+ - J)/eps`` and ``(J - J-)/eps``: more than
``max(1e-5 (|fwd| + |bwd|), 10 eps)`` (a smooth J disagrees by ``eps |J''|``); for practicaldl's
own network from the pre-activations (see ``_gradcheck_fast``).

Three ways to compute the numerical gradient:

* ``gradient_check(cost_fn, ...)``: the plain loop, ``2 n + 1`` evaluations of any ``cost_fn``.
* ``check_backprop(...)`` (``method="structured"``, the default): the same numbers for
  practicaldl's network, bit for bit, from a structured pass that reuses the layers below a
  perturbed entry and carries only the examples a perturbation changes up through the layers
  above (``_gradcheck_fast``). On [20, 50, 50, 1] with m = 32 (3,651 parameters) it takes 15-20 ms
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

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np

from ._validation import check_choice, check_keep_prob, check_non_negative, check_positive
from .losses import OUTPUTS
from .network import backward_propagation, compute_cost, forward_propagation
from .randomness import as_generator

#: Below this the gradient is right (the course's later edition; its first said 1e-7).
DEFAULT_THRESHOLD = 2e-7
#: At or above this the gradient is almost certainly wrong.
BUG_THRESHOLD = 1e-3
#: Rounding allowance per entry, in units of spacing(max(1, |J|)) / epsilon.
NOISE_ULPS = 16
#: One-sided differences disagreeing by more than this (relative) mark a kink ...
KINK_RTOL = 1e-5
#: ... and by more than this many epsilons (absolute).
KINK_ATOL_EPS = 10.0

VERDICTS = ("right", "look closer", "bug")

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


# -- the report ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class EntryCheck:
    """One entry of a parameter: its index, the analytic and the numerical derivative."""

    index: tuple
    analytic: float
    numerical: float

    @property
    def error(self) -> float:
        return abs(self.analytic - self.numerical)

    def to_dict(self) -> dict:
        return {"index": list(self.index), "analytic": self.analytic, "numerical": self.numerical,
                "error": self.error}


@dataclass
class ParameterCheck:
    """The check of one parameter (W1, b1, ...): its own difference, verdict and worst entries."""

    name: str
    shape: tuple
    difference: float
    raw_difference: float
    verdict: str
    passed: bool
    worst: list
    kinks: list
    n_entries: int

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "difference": self.difference,
                "raw_difference": self.raw_difference, "verdict": self.verdict, "passed": self.passed,
                "worst": [e.to_dict() for e in self.worst], "kinks": [e.to_dict() for e in self.kinks],
                "n_entries": self.n_entries}


@dataclass
class GradCheckReport:
    """What a gradient check found: overall difference and verdict, one ``ParameterCheck`` per parameter.

    ``difference`` is the course's formula over every entry that is not a kink (with no kink it
    is exactly the course's number); ``raw_difference`` includes the kinks. ``passed`` is True
    when the overall verdict and every parameter's verdict is "right"; ``verdict`` is the worst
    of them. ``n_evaluations`` counts cost evaluations (a structured evaluation is a partial
    forward pass). ``method`` is "loop", "structured" or "directional".
    """

    difference: float
    raw_difference: float
    verdict: str
    passed: bool
    threshold: float
    epsilon: float
    per_parameter: dict
    n_evaluations: int
    method: str = "loop"
    cost: float = float("nan")
    notes: list = field(default_factory=list)

    @property
    def failing(self) -> list:
        """Names of the parameters whose verdict is not "right"."""
        return [name for name, p in self.per_parameter.items() if not p.passed]

    @property
    def kinks(self) -> dict:
        """``name -> [EntryCheck]`` for the parameters with flagged kinks."""
        return {name: p.kinks for name, p in self.per_parameter.items() if p.kinks}

    def to_dict(self) -> dict:
        return {"difference": self.difference, "raw_difference": self.raw_difference, "verdict": self.verdict,
                "passed": self.passed, "threshold": self.threshold, "bug_threshold": BUG_THRESHOLD,
                "epsilon": self.epsilon, "n_evaluations": self.n_evaluations, "method": self.method,
                "cost": self.cost, "failing": self.failing, "unchecked": self.unchecked, "notes": list(self.notes),
                "per_parameter": {k: p.to_dict() for k, p in self.per_parameter.items()}}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @property
    def unchecked(self) -> list:
        """Parameters every entry of which sits at a kink: nothing of theirs could be compared."""
        return [name for name, p in self.per_parameter.items() if p.kinks and len(p.kinks) == p.n_entries]

    def _rows(self):
        unchecked = self.unchecked
        for name, p in self.per_parameter.items():
            if p.worst:
                w = p.worst[0]
                worst = f"{name}{list(w.index)}: {w.analytic:.6g} vs {w.numerical:.6g}"
            else:
                worst = "-"
            difference = "all kinks" if name in unchecked else f"{p.difference:.3e}"
            yield name, "x".join(map(str, p.shape)), difference, p.verdict, worst, str(len(p.kinks))

    def _summary(self) -> str:
        n_kinks = sum(len(p.kinks) for p in self.per_parameter.values())
        line = (f"difference = {self.difference:.6e}  verdict: {self.verdict}  (threshold {self.threshold:g}, "
                f"epsilon {self.epsilon:g}, {self.n_evaluations} evaluations, {self.method})")
        if n_kinks:
            line += f"; {n_kinks} kink(s) left out, difference with them {self.raw_difference:.3e}"
        if self.unchecked:
            line += f"; every entry at a kink (not compared): {', '.join(self.unchecked)}"
        if self.failing:
            line += f"; failing: {', '.join(self.failing)}"
        return line

    def to_table(self):
        """A rich ``Table``: one row per parameter, the overall line as its caption."""
        from rich.table import Table

        table = Table(title="Gradient check", caption=self._summary())
        for col in ("parameter", "shape", "difference", "verdict", "worst entry (analytic vs numerical)", "kinks"):
            table.add_column(col)
        styles = {"right": "green", "look closer": "yellow", "bug": "bold red"}
        for row in self._rows():
            table.add_row(*row, style=styles.get(row[3]))
        return table

    def __rich__(self):
        return self.to_table()

    def __str__(self) -> str:
        header = ("parameter", "shape", "difference", "verdict", "worst entry (analytic vs numerical)", "kinks")
        rows = [header, *self._rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join([*lines, self._summary()])


# -- verdicts -----------------------------------------------------------------------------------
def _norm(x: np.ndarray) -> float:
    """``np.linalg.norm`` of a 1-D float64 vector (``sqrt(x . x)``, the same number), without its overhead."""
    return math.sqrt(float(x.dot(x)))


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else (0.0 if num == 0 else math.inf)


def _band(difference: float, threshold: float) -> str:
    if difference < threshold:
        return "right"
    return "bug" if not difference < BUG_THRESHOLD else "look closer"


def _judge(analytic, numerical, kink, threshold, noise_per_entry):
    """(difference without kinks, raw difference, verdict, passed) for one set of entries."""
    err = _norm(analytic - numerical)
    raw = _ratio(err, _norm(analytic) + _norm(numerical))
    diff, n_kept = raw, analytic.size
    if kink.any():
        keep = ~kink
        n_kept = int(keep.sum())
        a, g = analytic[keep], numerical[keep]
        err = _norm(a - g)
        diff = _ratio(err, _norm(a) + _norm(g)) if n_kept else 0.0
    passed = diff < threshold or err <= math.sqrt(max(n_kept, 1)) * noise_per_entry
    verdict = "right" if passed else _band(diff, threshold)
    return diff, raw, verdict, passed


def _noise_per_entry(cost: float, epsilon: float) -> float:
    scale = max(1.0, abs(cost)) if math.isfinite(cost) else 1.0
    return NOISE_ULPS * float(np.spacing(scale)) / epsilon


def _largest(values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest values, largest first, ties by index: ``np.argsort(-values,
    kind="stable")[:n]``, from a partition instead of a full sort."""
    if values.size <= n:
        return np.argsort(-values, kind="stable")[:n]
    nth = np.partition(values, values.size - n)[values.size - n]  # the n-th largest
    above = np.flatnonzero(values > nth)
    picks = np.concatenate([above, np.flatnonzero(values == nth)[:n - above.size]])
    return picks[np.argsort(-values[picks], kind="stable")]


def _assemble(shapes, analytic, numerical, kinks, *, epsilon, threshold, n_evaluations, method, cost, n_worst=3,
              notes=()):
    """Build a report from flat float64 vectors (n,) in the order of ``shapes``."""
    noise = _noise_per_entry(cost, epsilon)
    per = {}
    start = 0
    for name, shape in shapes.items():
        size = int(np.prod(shape, dtype=np.int64))
        a, g, k = analytic[start:start + size], numerical[start:start + size], kinks[start:start + size]
        diff, raw, verdict, passed = _judge(a, g, k, threshold, noise)
        err = np.abs(a - g)
        err_ranked = np.where(k, -1.0, np.nan_to_num(err, nan=np.inf))
        order = _largest(err_ranked, n_worst)
        idx = lambda i: tuple(int(v) for v in np.unravel_index(i, shape)) if shape else ()  # noqa: E731
        worst = [EntryCheck(idx(i), float(a[i]), float(g[i])) for i in order if not k[i]]
        flagged = [EntryCheck(idx(i), float(a[i]), float(g[i])) for i in np.flatnonzero(k)]
        per[name] = ParameterCheck(name, tuple(shape), diff, raw, verdict, passed, worst, flagged, size)
        start += size
    diff, raw, verdict, passed = _judge(analytic, numerical, kinks, threshold, noise)
    worst_verdict = max([verdict, *(p.verdict for p in per.values())], key=VERDICTS.index)
    all_passed = passed and all(p.passed for p in per.values())
    return GradCheckReport(difference=diff, raw_difference=raw, verdict=worst_verdict, passed=all_passed,
                           threshold=threshold, epsilon=epsilon, per_parameter=per, n_evaluations=n_evaluations,
                           method=method, cost=float(cost), notes=list(notes))


# -- validation ---------------------------------------------------------------------------------
def _check_epsilon(epsilon):
    check_positive("epsilon", epsilon)
    return float(epsilon)


def _check_n_jobs(n_jobs) -> int:
    """``n_jobs`` as a thread count; None: 2 where this process may use two cores or more, else 1."""
    if n_jobs is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return min(2, cpus)
    check_positive("n_jobs", n_jobs, integer=True)
    return int(n_jobs)


def _check_threshold(threshold):
    check_positive("threshold", threshold)
    if not threshold < BUG_THRESHOLD:
        raise ValueError(f"threshold must be below the bug band {BUG_THRESHOLD:g}, got {threshold!r}")
    return float(threshold)


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
    from ._gradcheck_fast import structured_numerical_gradient

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
