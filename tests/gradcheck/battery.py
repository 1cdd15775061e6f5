"""Random correct and planted-bug backprops: the false-alarm and miss rates of a gradient check.

Two kinds of case:

* ``course``: a user's code written the way the course teaches, its cost from the sigmoid's
  output, ``J = -(1/m) sum(Y log A + (1 - Y) log(1 - A)) + (l2 / 2m) sum ||W_l||^2``, and
  ``dZ_L = A - Y``; checked with ``gradient_check`` (the loop) or ``directional_check``;
* ``practicaldl``: practicaldl's own network (its cost from Z_L), checked with ``check_backprop``
  (methods structured, loop, directional), dropout included.

Each case draws an architecture (1-3 hidden ReLU layers of 1-8 units, 1-6 inputs), a batch size
(1-64), a weight scale, biases ~ 0.1 N(0, 1), random 0/1 labels and ``l2`` in {0, 0.7}; the
output layer is rescaled so that the most confident output sits ``saturation`` from 0 or 1
(about half of the saturated outputs have the wrong label: the noisiest case for ``log(1 - A)``).
Cases whose whole gradient is below 1e-4 are drawn again: next to nothing to check, and the plain
loop's rounding noise (about 1e-9 per entry at epsilon 1e-7) is then as large as a parameter's
gradient, where the structured pass, far more precise, still sees it (the two then differ:
"right" against "inconclusive").

Planted bugs (``BUGS``), each in one randomly chosen gradient that it really changes: ``scale``
(x 1.001), ``no 1/m`` (dW or db without the 1/m), ``sign`` (one entry's sign flipped, an entry
with at least 1% of the parameter's largest |gradient|), ``no l2`` (the L2 term of one dW
dropped), ``transpose`` (a square dW transposed). A bug counts only where it changes the gradient
by more than 1e-6 of the whole gradient's norm (scaling a dead unit's zero gradient is no bug). A case is *caught* when that parameter fails
("look closer" or "bug"); a correct case is a *false alarm* when any parameter fails.

Used by ``tests/gradcheck/test_battery.py`` and ``benchmarks/bench_gradcheck.py --battery``; it
uses only ``gradient_check``, ``directional_check`` and ``check_backprop`` with ``backward=``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

import practicaldl as pdl

BUGS = ("scale", "no 1/m", "sign", "no l2", "transpose")
SATURATIONS = (1e-1, 1e-2, 1e-4, 1e-6)


# -- the course's code -------------------------------------------------------------------------
def course_forward(params, X, Y, l2=0.0):
    """The course's forward pass and cost, from the sigmoid's output A (ReLU hidden layers)."""
    L = len(params) // 2
    A = X
    for l in range(1, L):
        A = np.maximum(0, np.dot(params["W" + str(l)], A) + params["b" + str(l)])
    A = 1 / (1 + np.exp(-(np.dot(params["W" + str(L)], A) + params["b" + str(L)])))
    m = X.shape[1]
    cost = -1.0 / m * np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A))
    if l2:
        cost += l2 / (2 * m) * sum(np.sum(np.square(params["W" + str(l)])) for l in range(1, L + 1))
    return float(cost)


def course_backward(params, X, Y, l2=0.0):
    """The course's backward pass: dZ_L = A - Y, dW = dZ A_prev^T / m + (l2 / m) W, db = sum(dZ) / m."""
    L = len(params) // 2
    m = X.shape[1]
    caches, A = [X], X
    for l in range(1, L):
        A = np.maximum(0, np.dot(params["W" + str(l)], A) + params["b" + str(l)])
        caches.append(A)
    AL = 1 / (1 + np.exp(-(np.dot(params["W" + str(L)], A) + params["b" + str(L)])))
    grads, dZ = {}, AL - Y
    for l in range(L, 0, -1):
        grads["dW" + str(l)] = 1.0 / m * np.dot(dZ, caches[l - 1].T) + l2 / m * params["W" + str(l)]
        grads["db" + str(l)] = 1.0 / m * np.sum(dZ, axis=1, keepdims=True)
        if l > 1:
            dZ = np.dot(params["W" + str(l)].T, dZ) * (caches[l - 1] > 0)
    return grads


# -- planted bugs ------------------------------------------------------------------------------
def plant(bug, grads, params, m, l2, name, rng):
    """``grads`` with ``bug`` planted in the gradient of ``name``; None where the bug changes nothing."""
    g, W = grads["d" + name], params[name]
    if bug == "scale":
        new = g * 1.001
    elif bug == "no 1/m":
        reg = l2 / m * W if name[0] == "W" else 0.0
        new = (g - reg) * m + reg
    elif bug == "sign":
        big = np.flatnonzero(np.abs(g).ravel() >= 0.01 * np.abs(g).max())
        if g.size < 2 or not np.abs(g).max() > 0:
            return None
        new = g.copy().ravel()
        i = rng.choice(big)
        new[i] = -new[i]
        new = new.reshape(g.shape)
    elif bug == "no l2":
        new = g - l2 / m * W
    elif bug == "transpose":
        new = g.T
    else:
        raise ValueError(f"bug must be one of {list(BUGS)}, got {bug!r}")
    total = np.sqrt(sum(float(np.sum(np.square(v))) for v in grads.values()))
    if new.shape != g.shape or not np.linalg.norm(new - g) > 1e-6 * total:
        return None  # no change, or one too small to matter (below 1e-6 of the whole gradient)
    return {**grads, "d" + name: new}


def eligible(bug, params, m, l2):
    """Parameters in which ``bug`` can be planted."""
    names = list(params)
    if bug == "no 1/m" and m < 2:
        return []
    if bug == "no l2":
        return [k for k in names if k[0] == "W"] if l2 else []
    if bug == "transpose":
        return [k for k in names if k[0] == "W" and params[k].shape[0] == params[k].shape[1] > 1]
    return names


# -- cases -------------------------------------------------------------------------------------
@dataclass
class Case:
    seed: int
    kind: str
    params: dict
    X: np.ndarray
    Y: np.ndarray
    l2: float
    saturation: float
    keep_prob: float = 1.0
    bug: str | None = None
    target: str | None = None


def make_case(seed, kind="course", bug=None, saturation=None, keep_prob=1.0, kinky=False, l2=None):
    """A random network, data and (with ``bug``) a target parameter; the same seed, the same case.

    ``kinky``: zero biases and a third of the inputs zero, so that ReLU pre-activations sit exactly
    at 0 (a unit whose inputs are all 0, or all dropped) and perturbations cross kinks. ``l2``: None
    draws it from {0, 0.7}.
    """
    fixed_l2 = l2
    rng = np.random.RandomState(seed)
    for _ in range(100):
        n_hidden = int(rng.randint(1, 4))
        dims = [int(rng.randint(1, 7))] + [int(v) for v in rng.randint(1, 9, n_hidden)] + [1]
        if bug == "transpose":  # a square weight matrix somewhere below the output
            l = int(rng.randint(1, n_hidden + 1))
            dims[l] = dims[l - 1] = max(2, dims[l - 1])
        m = int(rng.choice([1, 2, 3, 8, 16, 32, 64]))
        l2 = float(rng.choice([0.0, 0.7])) if bug != "no l2" else 0.7
        l2 = l2 if fixed_l2 is None else float(fixed_l2)
        sat = float(rng.choice(SATURATIONS)) if saturation is None else float(saturation)
        params = pdl.initialize_parameters(dims, init="he", rng=rng)
        scale = float(rng.choice([0.5, 1.0, 2.0]))
        for k in params:
            params[k] = params[k] * scale if k[0] == "W" else 0.1 * rng.standard_normal(params[k].shape) * (not kinky)
        X = rng.standard_normal((dims[0], m))
        if kinky:
            X[rng.random_sample(X.shape) < 0.3] = 0.0
        Y = (rng.random_sample((1, m)) < 0.5).astype(np.float64)
        L = len(dims) - 1
        A = X
        for l in range(1, L):
            A = np.maximum(0, params[f"W{l}"] @ A + params[f"b{l}"])
        ZL = params[f"W{L}"] @ A + params[f"b{L}"]
        top = np.abs(ZL).max()
        if not top > 1e-3:
            continue  # a network whose output does not depend on its input: draw again
        factor = np.log(1 / sat - 1) / top  # |Z_L| up to log(1/s - 1): A within s of 0 or 1
        params[f"W{L}"] = params[f"W{L}"] * factor
        params[f"b{L}"] = params[f"b{L}"] * factor
        _, grads = pdl.cost_and_gradients(params, X, Y, l2, keep_prob, rng=seed)
        if not np.sqrt(sum(np.sum(g * g) for g in grads.values())) > 1e-4:
            continue  # next to nothing to check: every output confidently right, or every unit dead
        target = None
        if bug is not None:
            names = eligible(bug, params, m, l2)
            if not names:
                continue
            target = str(rng.choice(names))
        return Case(seed, kind, params, X, Y, l2, sat, keep_prob, bug, target)
    raise RuntimeError(f"no case for seed {seed} and bug {bug!r}")


def run_case(case, method="loop", **kwargs):
    """Check ``case`` with ``method``: ``(report, planted)``; ``planted`` is False where the bug changed nothing."""
    rng = np.random.RandomState(case.seed + 7)
    if case.kind == "course":
        grads = course_backward(case.params, case.X, case.Y, case.l2)
        if case.bug:
            grads = plant(case.bug, grads, case.params, case.X.shape[1], case.l2, case.target, rng)
            if grads is None:
                return None, False
        cost_fn = lambda p: course_forward(p, case.X, case.Y, case.l2)  # noqa: E731
        check = pdl.directional_check if method == "directional" else pdl.gradient_check
        return check(cost_fn, case.params, grads, **kwargs), True
    planted = [True]

    def backward(params, Y, cache, l2=0.0):
        grads = pdl.backward_propagation(params, Y, cache, l2)
        if case.bug:
            bad = plant(case.bug, grads, params, Y.shape[1], l2, case.target, np.random.RandomState(case.seed + 7))
            planted[0] = bad is not None
            grads = bad if bad is not None else grads
        return grads

    report = pdl.check_backprop(case.params, case.X, case.Y, l2=case.l2, keep_prob=case.keep_prob, rng=case.seed,
                                method=method, backward=backward, **kwargs)
    return report, planted[0]


def outcome(report, case):
    """"right", "inconclusive" or "fail": of the case's target parameter (bugs) or of the whole check."""
    if case.bug:
        p = report.per_parameter.get(case.target)
        verdict = p.verdict if p is not None else report.verdict
    else:
        verdict = "right" if report.passed else report.verdict
    if verdict in ("right", "inconclusive"):
        return verdict
    return "fail"


def run_battery(n, *, kind="course", bug=None, saturation=None, method="loop", seed0=0, keep_prob=1.0, kinky=False,
                l2=None, **kwargs):
    """Outcomes of ``n`` cases: a Counter of right / inconclusive / fail, and the list of (seed, outcome)."""
    counts, rows = Counter(), []
    seed = seed0
    while sum(counts.values()) < n:
        case = make_case(seed, kind, bug, saturation, keep_prob, kinky, l2)
        report, planted = run_case(case, method, **kwargs)
        seed += 1
        if not planted:
            continue
        result = outcome(report, case)
        counts[result] += 1
        rows.append((case.seed, result))
    return counts, rows


def verdicts(report):
    """``{name: verdict}``: what the methods must agree on."""
    return {name: p.verdict for name, p in report.per_parameter.items()}


def run_agreement(n, *, seed0=0, bug=None, keep_prob=0.5, methods=("structured", "loop", "directional")):
    """Cases (practicaldl's network, ``kinky``, dropout) on which the methods' per-parameter verdicts
    differ: ``(n_checked, [(seed, {method: verdicts})])``. Bands are compared as right /
    inconclusive / fail (a directional check measures along directions, so its band may differ)."""
    def coarse(v):
        return v if v in ("right", "inconclusive") else "fail"

    differ = []
    for seed in range(seed0, seed0 + n):
        case = make_case(seed, "practicaldl", bug, 1e-1, keep_prob, kinky=True)
        got = {}
        for method in methods:
            report, planted = run_case(case, method)
            got[method] = {k: coarse(v) for k, v in verdicts(report).items()}
        if any(v != got[methods[0]] for v in got.values()):
            differ.append((seed, got))
    return n, differ
