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

from ..core.activations import ACTIVATIONS, get_activation
from ..core.losses import OUTPUTS
from ..core.network import backward_propagation, forward_propagation, initialize_parameters
from ..core.randomness import as_generator
from ..core.validation import check_array_2d, check_choice
from .findings import HISTOGRAM_BINS, THRESHOLDS, DiagnosticReport, _num
from .fit import diagnose_fit
from .rules import layer_findings, nonfinite_findings


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


#: The activations with two asymptotes, and their range (lo, hi), for names outside practicaldl's
#: activation registry (PyTorch's modules); a registered activation gives its own ``bounds``.
SATURATING = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "hardtanh": (-1.0, 1.0), "hardsigmoid": (0.0, 1.0)}


def saturated_fraction(A: np.ndarray, activation: str) -> float:
    """Fraction of the entries of A (n_l, m) within ``saturation_margin`` of an asymptote.

    An activation with asymptotes ``(lo, hi)`` (a registered activation's ``bounds``, as sigmoid
    (0, 1) and tanh (-1, 1), or ``SATURATING``): ``u = (A - lo) / (hi - lo)`` in [0, 1];
    saturated when ``u < margin`` or ``u > 1 - margin``. softmax: an example is saturated when its
    largest probability exceeds ``1 - margin``. An activation without two asymptotes (ReLU, the
    identity, ...) returns None.
    """
    margin = THRESHOLDS["saturation_margin"]
    if activation == "softmax":
        return float(np.mean(np.max(A, axis=0) > 1 - margin))
    registered = ACTIVATIONS.get(activation)
    bounds = registered.bounds if registered is not None else SATURATING.get(activation)
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
    return identical_row_groups(np.hstack([W, b, params[f"W{l + 1}"].T]))  # (n_l, n_{l-1} + 1 + n_{l+1})


def identical_row_groups(*blocks: np.ndarray) -> list:
    """Groups (lists of row indices, each of size >= 2) of the rows equal in every block.

    Each block (n, k_b) is compared up to ``symmetry_rtol`` times its own largest entry (so that
    weights and activations of different scales are each judged at their own scale).
    """
    scaled = []
    for V in blocks:
        V = np.asarray(V, dtype=np.float64).reshape(len(V), -1)
        scale = float(np.max(np.abs(V))) if V.size else 0.0
        if not math.isfinite(scale):
            return []
        scaled.append(np.round(V / (scale * THRESHOLDS["symmetry_rtol"])) if scale > 0 else V)
    _, inverse, counts = np.unique(np.hstack(scaled), axis=0, return_inverse=True, return_counts=True)
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
    report.findings += nonfinite_findings([(l, f"Z{l}", cache.Z[l - 1]) for l in range(1, L + 1)],
                                          [(int(k[2:]), k, g) for k, g in (grads or {}).items()])
    report.layers = _layer_stats(params, cache, grads, Y, L, activation, output)
    findings, report.activation_growth = layer_findings(report.layers, n_samples=X.shape[1], activation=activation)
    report.findings += findings
    if train_score is not None:
        report.findings += diagnose_fit(train_score, test_score, 0.0 if target_error is None else target_error)
    return report


def unit_statistics(Z: np.ndarray, A: np.ndarray, activation: str, *, Y: Optional[np.ndarray] = None) -> dict:
    """The statistics of one layer's units, from Z (n_l, m) and A = g(Z) (n_l, m).

    ``z_mean``, ``z_std``, ``z_rms``, ``a_mean``, ``a_std``, ``dead_fraction`` (ReLU),
    ``saturated_fraction`` (sigmoid / tanh / softmax), ``confident_wrong_fraction`` (with the
    labels Y of an output layer) and the histograms ``z_hist`` / ``a_hist``.
    """
    return {
        "activation": activation,
        "n_units": int(Z.shape[0]),
        "z_mean": _num(np.mean(Z, dtype=np.float64)),
        "z_std": _num(np.std(Z, dtype=np.float64)),
        "z_rms": _num(_rms(Z)),
        "a_mean": _num(np.mean(A, dtype=np.float64)),
        "a_std": _num(np.std(A, dtype=np.float64)),
        "dead_fraction": dead_fraction(A) if activation == "relu" else None,  # A = relu(u) > 0 exactly where u > 0
        "saturated_fraction": saturated_fraction(A, activation),
        "confident_wrong_fraction": confident_wrong_fraction(A, Y, activation) if Y is not None else None,
        "z_hist": _histogram(Z),
        "a_hist": _histogram(A),
    }


def _layer_stats(params, cache, grads, Y, L, activation, output) -> list:
    layers = []
    prev_rms = None
    for l in range(1, L + 1):
        Z, A = cache.Z[l - 1], (cache.G[l - 1] if l < L else cache.A[L])
        W = params[f"W{l}"]
        weight_norm = float(np.linalg.norm(W))
        grad_norm = relative = None
        if grads is not None:
            grad_norm = float(np.linalg.norm(grads[f"dW{l}"]))
            relative = grad_norm / weight_norm if weight_norm > 0 else None
        groups = identical_unit_groups(params, l) if l < L else []
        stats = unit_statistics(Z, A, activation if l < L else output, Y=Y if l == L else None)
        layers.append({
            "layer": l, "label": f"layer {l}", "weight_name": f"W{l}", "grad_name": f"dW{l}",
            "role": "hidden" if l < L else "output",
            **stats,
            "scale_ratio": _num(stats["z_rms"] / prev_rms) if prev_rms and stats["z_rms"] is not None else None,
            "weight_norm": _num(weight_norm),
            "grad_norm": _num(grad_norm),
            "relative_gradient": _num(relative),
            "identical_units": int(sum(len(g) for g in groups)),
            "identical_groups": len(groups),
            "w_hist": _histogram(W),
        })
        prev_rms = stats["z_rms"]
    return layers
