"""Diagnostics: why a network will not train, or will not generalise.

Three moments, one kind of record (``Finding``), every threshold in ``THRESHOLDS``:

**Before training** (``diagnose``): parameters and a probe batch X (n_x, m), optionally labels Y
(n_L, m). One forward pass (no dropout) gives, per layer l::

    Z_l = W_l A_{l-1} + b_l          mean, std, rms = sqrt(mean(Z_l^2))            (n_l, m)
    A_l = g(Z_l)                     mean, std, histogram
    dead_l      = #{units i : max_j Z_l[i, j] <= 0} / n_l          (ReLU: no gradient ever flows)
    saturated_l = #{(i, j) : u_ij < margin or u_ij > 1 - margin} / (n_l m)
                  with u = (A - lo) / (hi - lo) the activation rescaled to [0, 1]
                  (sigmoid: lo, hi = 0, 1; tanh: -1, 1; g'(Z) is then below ~2 margin of its peak)
    growth      = rms(Z_{L-1}) / rms(Z_1)   how much the activation scale changes over the hidden layers

With Y, one backward pass adds ``||dW_l||_F`` and the relative gradient
``rho_l = ||dW_l||_F / ||W_l||_F`` (the step ``learning_rate * rho_l`` is the fraction by which
gradient descent changes W_l). Without Y the gradient findings are skipped (no target is invented).

Symmetry: hidden units i != k of layer l are *identical* when their incoming weights
``(W_l[i, :], b_l[i])`` and outgoing weights ``W_{l+1}[:, i]`` are equal (up to a relative
``symmetry_rtol``). Such units compute the same output and receive the same gradient at every
step, so gradient descent can never tell them apart (zeros or constant initialization).

**During training** (``monitor.TrainingMonitor``): a callback of ``engine.loop.train`` that records, every
``every`` iterations, ``||dW_l||_F``, ``||W_l||_F``, the update-to-weight ratio
``learning_rate * ||dW_l||_F / ||W_l||_F`` and the dead / saturated fractions of the batch.

**After training** (``fit.diagnose_fit``), in the course's terms, with the target (human-level or
Bayes) error e*::

    avoidable bias = train_error - e*          too large: bigger network, train longer
    variance       = test_error - train_error  too large: more data, L2, dropout

Each finding names the number that triggered it (``value``) and the threshold it crossed
(``threshold``); a finding fires when the value is strictly beyond the threshold. ``warning``
thresholds mark a network that will train badly; the ``*_info`` thresholds mark a milder case
reported with severity ``info``. Symmetry and non-finite values are errors. A report with no
warning and no error is ``healthy``.

Nothing here prints or writes files: ``diagnostics.plots`` draws the report's dict and the CLI
prints ``DiagnosticReport.to_table()``.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ..core.activations import get_activation
from ..core.losses import OUTPUTS
from ..core.network import backward_propagation, forward_propagation, initialize_parameters
from ..core.randomness import as_generator
from ..core.validation import check_array_2d, check_choice
from .findings import (HISTOGRAM_BINS, RECOMMENDED_INIT, THRESHOLDS, DiagnosticReport, Finding, _band, _fmt, _num,
                       recommended_init)
from .fit import diagnose_fit


def _rms(A: np.ndarray) -> float:
    """sqrt(mean(A^2)), computed in float64."""
    return float(np.sqrt(np.mean(np.square(A, dtype=np.float64))))


def _histogram(values: np.ndarray) -> dict:
    finite = values[np.isfinite(values)].astype(np.float64, copy=False)
    if finite.size == 0:
        return {"counts": [], "edges": []}
    try:
        counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
    except ValueError:  # a range too narrow for HISTOGRAM_BINS representable bins: one bin
        counts, edges = np.array([finite.size]), np.array([finite.min(), finite.max()])
    return {"counts": counts.tolist(), "edges": edges.tolist()}




def dead_fraction(Z: np.ndarray) -> float:
    """Fraction of the rows (units) of Z (n_l, m) that are never positive: dead ReLUs on this batch."""
    return float(np.mean(np.max(Z, axis=1) <= 0))


def saturated_fraction(A: np.ndarray, activation: str) -> float:
    """Fraction of the entries of A (n_l, m) within ``saturation_margin`` of an asymptote.

    An activation with asymptotes ``(lo, hi)`` in the registry (sigmoid (0, 1), tanh (-1, 1)):
    ``u = (A - lo) / (hi - lo)`` in [0, 1]; saturated when ``u < margin`` or ``u > 1 - margin``.
    softmax: an example is saturated when its largest probability exceeds ``1 - margin``. An
    activation without asymptotes (ReLU): returns None.
    """
    margin = THRESHOLDS["saturation_margin"]
    if activation == "softmax":
        return float(np.mean(np.max(A, axis=0) > 1 - margin))
    bounds = get_activation(activation).bounds
    if bounds is None:
        return None
    lo, hi = bounds
    u = (A - lo) / (hi - lo)
    return float(np.mean((u < margin) | (u > 1 - margin)))


def confident_wrong_fraction(AL: np.ndarray, Y: np.ndarray, output: str) -> float:
    """Fraction of the m examples whose prediction is saturated on the wrong answer.

    sigmoid, AL and Y (1, m): ``AL > 1 - margin`` where y = 0, or ``AL < margin`` where y = 1.
    softmax, AL and Y (K, m): the largest probability exceeds ``1 - margin`` on a wrong class.
    Such an example costs ``-log(margin)`` or more (the course's ``log(0) = inf`` in the limit).
    """
    margin = THRESHOLDS["saturation_margin"]
    if output == "sigmoid":
        wrong = ((AL > 1 - margin) & (Y < 0.5)) | ((AL < margin) & (Y > 0.5))
        return float(np.mean(wrong))
    top = np.argmax(AL, axis=0)
    return float(np.mean((np.max(AL, axis=0) > 1 - margin) & (top != np.argmax(Y, axis=0))))


def identical_unit_groups(params: dict, l: int) -> list:
    """Groups (lists of unit indices, each of size >= 2) of identical hidden units of layer l.

    Unit i of layer l is described by ``[W_l[i, :], b_l[i], W_{l+1}[:, i]]`` (its incoming and
    outgoing weights); rows equal up to ``symmetry_rtol`` times the largest weight are grouped.
    """
    W, b = params[f"W{l}"], params[f"b{l}"]
    V = np.hstack([W, b, params[f"W{l + 1}"].T]).astype(np.float64)  # (n_l, n_{l-1} + 1 + n_{l+1})
    scale = float(np.max(np.abs(V))) if V.size else 0.0
    if not math.isfinite(scale):
        return []
    if scale > 0:
        V = np.round(V / (scale * THRESHOLDS["symmetry_rtol"]))
    _, inverse, counts = np.unique(V, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    return [np.flatnonzero(inverse == g).tolist() for g in np.flatnonzero(counts >= 2)]


# -- inputs ----------------------------------------------------------------------------------
def _check_params(params) -> int:
    if not isinstance(params, dict) or not params:
        raise ValueError(f"params must be a dict with keys W1, b1, ..., got {type(params).__name__}")
    L = sum(1 for k in params if isinstance(k, str) and k.startswith("W"))
    if L == 0 or len(params) != 2 * L:
        raise ValueError(f"params must hold W1, b1, ..., WL, bL (one W and one b per layer), got keys {sorted(params)}")
    for l in range(1, L + 1):
        for key in (f"W{l}", f"b{l}"):
            if key not in params:
                raise ValueError(f"params must hold W1, b1, ..., W{L}, b{L}; missing {key!r}")
        W, b = np.asarray(params[f"W{l}"]), np.asarray(params[f"b{l}"])
        if W.ndim != 2 or b.shape != (W.shape[0], 1):
            raise ValueError(f"W{l} must be (n_l, n_(l-1)) and b{l} (n_l, 1), got {W.shape} and {b.shape}")
        if l > 1 and W.shape[1] != params[f"W{l - 1}"].shape[0]:
            raise ValueError(f"W{l} must have {params[f'W{l - 1}'].shape[0]} columns (the units of layer {l - 1}), "
                             f"got shape {W.shape}")
    return L


def _check_Y(Y, n_out: int, m: int) -> np.ndarray:
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1 and n_out == 1:
        Y = Y[None, :]
    if Y.shape != (n_out, m):
        raise ValueError(f"Y must have shape (n_L, m) = ({n_out}, {m}) to match params and X, got {Y.shape}")
    if not np.isfinite(Y).all():
        raise ValueError("Y must be finite (no NaN or inf)")
    return Y


def _encode_labels(y, classes) -> np.ndarray:
    """Labels y (m,) -> Y in the core's layout: (1, m) of 0/1 for two classes, one-hot (K, m) else."""
    y = np.asarray(y).reshape(-1)
    classes = np.asarray(classes)
    index = {c: k for k, c in enumerate(classes.tolist())}
    try:
        idx = np.array([index[v] for v in y.tolist()])
    except KeyError as exc:
        raise ValueError(f"Y must contain only the estimator's classes {classes.tolist()}, got {exc.args[0]!r}") from None
    if len(classes) == 2:
        return idx[None, :].astype(np.float64)
    return np.eye(len(classes))[:, idx]


def _from_estimator(est, X, y):
    """(params, X (n_x, m), Y or None, activation, output) for a NeuralNetClassifier.

    A fitted estimator is diagnosed with its trained ``parameters_``; an unfitted one with the
    initial parameters its ``fit`` would draw (same ``init``, ``init_scale``, ``random_state``).
    """
    X = check_array_2d("X", X)
    activation = est.activation
    if hasattr(est, "parameters_"):
        params, output, classes = est.parameters_, est.output_, est.classes_
        if X.shape[1] != params["W1"].shape[1]:
            raise ValueError(f"X must have {params['W1'].shape[1]} features (as the estimator was fitted on), "
                             f"got {X.shape[1]}")
    else:
        sizes, _ = est._check_params()
        classes = np.unique(np.asarray(y).reshape(-1)) if y is not None else np.array([0, 1])
        if len(classes) < 2:
            raise ValueError(f"Y must contain at least 2 classes, got {classes.tolist()}")
        output = "sigmoid" if len(classes) == 2 else "softmax"
        n_out = 1 if output == "sigmoid" else len(classes)
        params = initialize_parameters([X.shape[1], *sizes, n_out], init=est.init, init_scale=est.init_scale,
                                       rng=as_generator(est.random_state), dtype=X.dtype)
    Y = None
    if y is not None:
        if len(np.asarray(y).reshape(-1)) != X.shape[0]:
            raise ValueError(f"Y must have one label per row of X ({X.shape[0]}), got {len(np.asarray(y).reshape(-1))}")
        Y = _encode_labels(y, classes)
    return params, X.T, Y, activation, output


# -- before training -------------------------------------------------------------------------
def diagnose(params_or_estimator, X, Y=None, *, activation: str = "relu", output: Optional[str] = None,
             train_score: Optional[float] = None, test_score: Optional[float] = None,
             target_error: Optional[float] = None) -> DiagnosticReport:
    """Diagnose a network on a probe batch: symmetry, dead units, saturation, vanishing/exploding.

    ``params_or_estimator`` is a parameter dict ``{"W1", "b1", ...}`` with X (n_x, m) and
    optionally Y (n_L, m) (or (m,) for one output unit) in the course's layout; or a
    ``NeuralNetClassifier`` with X (n_samples, n_features) and labels Y (n_samples,) in
    scikit-learn's layout (fitted: its trained parameters; unfitted: the parameters its ``fit``
    would start from). ``output`` defaults to "sigmoid" for one output unit, "softmax" for more.
    Without Y the gradient findings are skipped. With ``train_score`` and ``test_score``
    (accuracies) the bias/variance findings of ``diagnose_fit`` are added.
    """
    if hasattr(params_or_estimator, "get_params") and hasattr(params_or_estimator, "fit"):
        params, X, Y, activation, output = _from_estimator(params_or_estimator, X, Y)
    else:
        params = params_or_estimator
        L = _check_params(params)
        X = check_array_2d("X", X)
        if X.shape[0] != params["W1"].shape[1]:
            raise ValueError(f"X must be (n_x, m) with n_x = {params['W1'].shape[1]} rows (the columns of W1), "
                             f"got shape {X.shape}")
        n_out = params[f"W{L}"].shape[0]
        if output is None:
            output = "sigmoid" if n_out == 1 else "softmax"
        if Y is not None:
            Y = _check_Y(Y, n_out, X.shape[1])
    get_activation(activation)
    check_choice("output", output, OUTPUTS)
    L = _check_params(params)
    if (train_score is None) != (test_score is None):
        raise ValueError("train_score and test_score must be given together (both accuracies), "
                         f"got train_score={train_score!r}, test_score={test_score!r}")

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        _, cache = forward_propagation(params, X, 1.0, activation=activation, output=output)
        grads = backward_propagation(params, Y, cache) if Y is not None else None
    report = DiagnosticReport(activation=activation, output=output, n_samples=X.shape[1], gradients=Y is not None,
                              layer_dims=[int(X.shape[0])] + [int(params[f"W{l}"].shape[0]) for l in range(1, L + 1)])
    findings = report.findings
    findings += _nonfinite_findings(cache, grads, L)
    report.layers = _layer_stats(params, cache, grads, Y, L, activation, output)
    findings += _symmetry_findings(report.layers, L, activation)
    findings += _unit_findings(report.layers, X.shape[1], activation)
    report.activation_growth, growth_findings = _growth_findings(report.layers, L, activation)
    findings += growth_findings
    if grads is not None:
        findings += _gradient_findings(report.layers, activation)
    if train_score is not None:
        findings += diagnose_fit(train_score, test_score, 0.0 if target_error is None else target_error)
    return report


def _layer_stats(params, cache, grads, Y, L, activation, output) -> list:
    layers = []
    prev_rms = None
    for l in range(1, L + 1):
        Z, A = cache.Z[l - 1], (cache.G[l - 1] if l < L else cache.A[L])
        act = activation if l < L else output
        W = params[f"W{l}"]
        z_rms = _rms(Z)
        weight_norm = float(np.linalg.norm(W))
        grad_norm = relative = None
        if grads is not None:
            grad_norm = float(np.linalg.norm(grads[f"dW{l}"]))
            relative = grad_norm / weight_norm if weight_norm > 0 else None
        groups = identical_unit_groups(params, l) if l < L else []
        layers.append({
            "layer": l,
            "role": "hidden" if l < L else "output",
            "activation": act,
            "n_units": int(W.shape[0]),
            "z_mean": _num(np.mean(Z, dtype=np.float64)),
            "z_std": _num(np.std(Z, dtype=np.float64)),
            "z_rms": _num(z_rms),
            "a_mean": _num(np.mean(A, dtype=np.float64)),
            "a_std": _num(np.std(A, dtype=np.float64)),
            "dead_fraction": dead_fraction(Z) if act == "relu" else None,
            "saturated_fraction": saturated_fraction(A, act),
            "confident_wrong_fraction": confident_wrong_fraction(A, Y, act) if l == L and Y is not None else None,
            "scale_ratio": _num(z_rms / prev_rms) if prev_rms else None,
            "weight_norm": _num(weight_norm),
            "grad_norm": _num(grad_norm),
            "relative_gradient": _num(relative),
            "identical_units": int(sum(len(g) for g in groups)),
            "identical_groups": len(groups),
            "z_hist": _histogram(Z),
            "a_hist": _histogram(A),
        })
        prev_rms = z_rms
    return layers


def _nonfinite_findings(cache, grads, L) -> list:
    for l in range(1, L + 1):
        if not np.isfinite(cache.Z[l - 1]).all():
            return [Finding("nonfinite", "error", l, math.inf, 0.0,
                            f"activations overflowed: Z{l} has inf or NaN entries on the probe batch",
                            "the weights are far too large: use a standard initialization and standardize X",
                            "nonfinite")]
    if grads is not None:
        for key, g in grads.items():
            if not np.isfinite(g).all():
                return [Finding("nonfinite", "error", int(key[2:]), math.inf, 0.0,
                                f"gradients overflowed: {key} has inf or NaN entries",
                                "the weights are far too large: use a standard initialization", "nonfinite")]
    return []


def _symmetry_findings(layers, L, activation) -> list:
    out = []
    for s in layers[:-1]:
        k, n_groups = s["identical_units"], s["identical_groups"]
        if k >= THRESHOLDS["symmetry_min_units"]:
            groups = "" if n_groups == 1 else f" in {n_groups} groups"
            out.append(Finding(
                "symmetry", "error", s["layer"], float(k), float(THRESHOLDS["symmetry_min_units"]),
                f"symmetry not broken: layer {s['layer']} has {k} identical units{groups} (all incoming and "
                f"outgoing weights equal): they compute the same output and receive the same gradient at every "
                f"step, so the layer learns no more than {s['n_units'] - k + n_groups} distinct unit(s)",
                f"initialize the weights randomly to break symmetry: {recommended_init(activation)}",
                "symmetry_min_units"))
    return out


def _unit_findings(layers, m, activation) -> list:
    out = []
    for s in layers:
        frac = s["dead_fraction"]
        if frac is not None:
            hit = _band(frac, "dead_fraction", above=True)
            if hit:
                band, key = hit
                n_dead = int(round(frac * s["n_units"]))
                out.append(Finding(
                    "dead_units", band, s["layer"], frac, THRESHOLDS[key],
                    f"dead ReLUs: layer {s['layer']} has {n_dead} of {s['n_units']} units ({frac:.0%}) never "
                    f"positive on the {m} probe examples; a dead ReLU passes no gradient, so it cannot recover",
                    f"use {RECOMMENDED_INIT['relu']} with zero biases, standardize X, or lower the learning rate",
                    key))
        if s["role"] == "output":
            out += _output_findings(s, m, activation)
            continue
        frac = s["saturated_fraction"]
        if frac is not None:
            hit = _band(frac, "saturated_fraction", above=True)
            if hit:
                band, key = hit
                out.append(Finding(
                    "saturation", band, s["layer"], frac, THRESHOLDS[key],
                    f"saturated {s['activation']}: {frac:.0%} of layer {s['layer']}'s activations are within "
                    f"{THRESHOLDS['saturation_margin']:.0%} of an asymptote, where the derivative is nearly 0 "
                    f"and learning stalls (z rms {_fmt(s['z_rms'])})",
                    f"scale the weights down: {recommended_init(activation)} instead of large random weights", key))
    return out


def _output_findings(s, m, activation) -> list:
    """Output saturation: confident wrong predictions with labels; any saturation, as info, without."""
    fix = f"scale the weights down: {recommended_init(activation)} instead of large random weights"
    margin = THRESHOLDS["saturation_margin"]
    frac = s["confident_wrong_fraction"]
    if frac is not None:
        hit = _band(frac, "confident_wrong_fraction", above=True)
        if not hit:
            return []
        band, key = hit
        return [Finding(
            "saturation", band, s["layer"], frac, THRESHOLDS[key],
            f"confident and wrong: {frac:.0%} of the {m} examples get a {s['activation']} output within {margin:.0%} "
            f"of the wrong answer (z rms {_fmt(s['z_rms'])}); each costs more than -log({margin:g}) = "
            f"{-math.log(margin):.2g} (the course's log(0) = inf in the limit), so training starts by undoing them",
            fix + " (large weights make confident predictions before anything is learnt)", key)]
    frac = s["saturated_fraction"]
    hit = None if frac is None else _band(frac, "saturated_fraction", above=True)
    if not hit:
        return []
    key = hit[1]  # reported as info whatever the band: without labels, saturation may be confident and right
    return [Finding(
        "saturation", "info", s["layer"], frac, THRESHOLDS[key],
        f"saturated output: {frac:.0%} of the outputs are within {margin:.0%} of 0 or 1 (z rms {_fmt(s['z_rms'])}); "
        "fine for a trained network if they are right, costly if wrong (pass Y to tell which)",
        fix + " if this is an untrained network", key)]


def _growth_findings(layers, L, activation):
    """Vanishing/exploding activations: rms(Z) of the last hidden layer over that of the first."""
    hidden = layers[:-1]
    if len(hidden) < 2 or not hidden[0]["z_rms"] or hidden[-1]["z_rms"] is None:
        return None, []
    growth = hidden[-1]["z_rms"] / hidden[0]["z_rms"]
    steps = len(hidden) - 1
    per_layer = growth ** (1.0 / steps) if growth > 0 else 0.0
    last = hidden[-1]["layer"]
    vanishing = growth < 1
    kind = "vanishing" if vanishing else "exploding"
    hit = _band(growth, f"activation_{kind}", above=not vanishing)
    if not hit:
        return growth, []
    band, key = hit
    if vanishing:
        factor, verb, effect, size = (_fmt(1 / growth) if growth else "inf"), "shrinks", (
            "deep layers see almost no signal and their gradients vanish with it"), "small"
    else:
        factor, verb, effect, size = _fmt(growth), "grows", "outputs saturate and gradients blow up", "large"
    return growth, [Finding(
        kind, band, None, growth, THRESHOLDS[key],
        f"{kind} activations: the scale of Z {verb} by a factor {factor} from layer 1 to layer {last} "
        f"(x{per_layer:.3g} per layer): {effect}",
        f"the weights are too {size} for this depth: use {recommended_init(activation)}", key)]


def _gradient_findings(layers, activation) -> list:
    rel = [(s["relative_gradient"], s["layer"]) for s in layers if s["relative_gradient"] is not None]
    if not rel:
        return []
    (lo, lo_layer), (hi, hi_layer) = min(rel), max(rel)
    checks = [  # (kind, value, layer, threshold key, above, message, suggestion)
        ("vanishing", lo, lo_layer, "gradient_vanishing", False,
         f"vanishing gradients: ||dW{lo_layer}|| / ||W{lo_layer}|| = {_fmt(lo)}, so a gradient step barely "
         f"changes layer {lo_layer} and it learns extremely slowly (on trained parameters a small gradient "
         "can also mean convergence)",
         f"use {recommended_init(activation)}; for deep sigmoid/tanh nets prefer ReLU with He"),
        ("exploding", hi, hi_layer, "gradient_exploding", True,
         f"exploding gradients: ||dW{hi_layer}|| / ||W{hi_layer}|| = {_fmt(hi)}: any usual learning rate "
         f"makes a step larger than the weights themselves, and training diverges",
         f"use {recommended_init(activation)}, standardize X, or a much smaller learning rate"),
    ]
    out = []
    for kind, value, layer, key, above, message, suggestion in checks:
        hit = _band(value, key, above=above)
        if hit:
            band, key = hit
            out.append(Finding(kind, band, layer, value, THRESHOLDS[key], message, suggestion, key))
    return out
