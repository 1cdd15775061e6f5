"""Findings from per-layer statistics: the rules that ``diagnose`` and ``torch.diagnose_module`` share.

The input is the list of layer dicts of a ``DiagnosticReport`` (``report.layers``; the last one
is the output layer). Besides the statistics, each dict says how messages name things:
``label`` ("layer 2", or "layer 2 (fc2)" for a PyTorch module), ``weight_name`` ("W2",
"fc2.weight") and ``grad_name`` ("dW2", "fc2.weight.grad"). ``advice`` maps an activation to
the recommended initialization in the terms of the user's API (``RECOMMENDED_INIT`` for
practicaldl's networks; ``practicaldl.torch`` has its own for ``torch.nn.init``), with a
"linear" entry for any other activation.

The rules, each against ``THRESHOLDS`` (see ``probes`` for the formulas): symmetry (identical
units), dead ReLUs, saturation (hidden layers; the output layer by confident wrong answers),
vanishing / exploding activations over the hidden layers, vanishing / exploding relative
gradients, and, where a layer records ``init_ratio`` (its weights' rms over the recommended
standard deviation for its fan-in and activation), an initial weight scale far from it.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from .findings import RECOMMENDED_INIT, THRESHOLDS, Finding, _band, _fmt


def recommend(advice: Mapping[str, str], activation: str) -> str:
    """The recommended initialization for ``activation`` (the "linear" entry for one not listed)."""
    return advice.get(activation) or advice["linear"]


def layer_findings(layers: list, *, n_samples: int, activation: str, advice: Mapping[str, str] = RECOMMENDED_INIT):
    """Every rule over ``layers``: ``(findings, activation_growth)``.

    ``activation`` is the hidden layers' activation (the advice for network-wide findings).
    Gradient findings come from the layers whose ``relative_gradient`` is not None.
    """
    findings = symmetry_findings(layers, advice)
    findings += unit_findings(layers, n_samples, activation, advice)
    findings += init_scale_findings(layers, advice)
    growth, growth_findings = growth_findings_of(layers, activation, advice)
    findings += growth_findings
    findings += gradient_findings(layers, activation, advice)
    return findings, growth


def nonfinite_findings(activations, gradients=()) -> list:
    """An error for the first array with inf or NaN: ``activations`` and ``gradients`` are
    ``(layer, name, array)`` triples, in the order to look at them."""
    for layer, name, values in activations:
        if not np.isfinite(values).all():
            return [Finding("nonfinite", "error", layer, math.inf, 0.0,
                            f"activations overflowed: {name} has inf or NaN entries on the probe batch",
                            "the weights are far too large: use a standard initialization and standardize X",
                            "nonfinite")]
    for layer, name, values in gradients:
        if not np.isfinite(values).all():
            return [Finding("nonfinite", "error", layer, math.inf, 0.0,
                            f"gradients overflowed: {name} has inf or NaN entries",
                            "the weights are far too large: use a standard initialization", "nonfinite")]
    return []


def symmetry_findings(layers: list, advice: Mapping[str, str] = RECOMMENDED_INIT) -> list:
    out = []
    for s in layers[:-1]:
        k, n_groups = s["identical_units"], s["identical_groups"]
        if k >= THRESHOLDS["symmetry_min_units"]:
            groups = "" if n_groups == 1 else f" in {n_groups} groups"
            out.append(Finding(
                "symmetry", "error", s["layer"], float(k), float(THRESHOLDS["symmetry_min_units"]),
                f"symmetry not broken: {s['label']} has {k} identical units{groups} (all incoming and "
                f"outgoing weights equal): they compute the same output and receive the same gradient at every "
                f"step, so the layer learns no more than {s['n_units'] - k + n_groups} distinct unit(s)",
                f"initialize the weights randomly to break symmetry: {recommend(advice, s['activation'])}",
                "symmetry_min_units"))
    return out


def unit_findings(layers: list, m: int, activation: str, advice: Mapping[str, str] = RECOMMENDED_INIT) -> list:
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
                    f"dead ReLUs: {s['label']} has {n_dead} of {s['n_units']} units ({frac:.0%}) never "
                    f"positive on the {m} probe examples; a dead ReLU passes no gradient, so it cannot recover",
                    f"use {recommend(advice, 'relu')} with zero biases, standardize X, or lower the learning rate",
                    key))
        if s["role"] == "output":
            out += _output_findings(s, m, recommend(advice, activation))
            continue
        frac = s["saturated_fraction"]
        if frac is not None:
            hit = _band(frac, "saturated_fraction", above=True)
            if hit:
                band, key = hit
                out.append(Finding(
                    "saturation", band, s["layer"], frac, THRESHOLDS[key],
                    f"saturated {s['activation']}: {frac:.0%} of {s['label']}'s activations are within "
                    f"{THRESHOLDS['saturation_margin']:.0%} of an asymptote, where the derivative is nearly 0 "
                    f"and learning stalls (z rms {_fmt(s['z_rms'])})",
                    f"scale the weights down: {recommend(advice, s['activation'])} instead of large random weights",
                    key))
    return out


def _output_findings(s, m, init) -> list:
    """Output saturation: confident wrong predictions with labels; any saturation, as info, without."""
    fix = f"scale the weights down: {init} instead of large random weights"
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


def init_scale_findings(layers: list, advice: Mapping[str, str] = RECOMMENDED_INIT) -> list:
    """Initial weights far from the recommended scale: at most one finding for the smallest
    ``init_ratio`` (below ``init_scale_low``) and one for the largest (above ``init_scale_high``).

    ``init_ratio = rms(W_l) / std_l``, ``std_l`` the recommended standard deviation for the
    layer's fan-in and activation (``layer["init_scheme"]``: he, lecun or xavier). Layers without
    ``init_ratio`` (practicaldl's own networks) are skipped.
    """
    rated = [s for s in layers if s.get("init_ratio") is not None]
    if not rated:
        return []
    out = []
    lo, hi = min(rated, key=lambda s: s["init_ratio"]), max(rated, key=lambda s: s["init_ratio"])
    for s, above in ((lo, False), (hi, True)):
        ratio = s["init_ratio"]
        hit = _band(ratio, "init_scale_high" if above else "init_scale_low", above=above)
        if not hit:
            continue
        band, key = hit
        limit = THRESHOLDS[key]
        beyond = [t for t in rated if (t["init_ratio"] > limit if above else t["init_ratio"] < limit)]
        others = f" ({len(beyond)} of {len(rated)} layers are beyond {_fmt(limit)}x)" if len(beyond) > 1 else ""
        size, effect = (("large", "activations grow layer by layer (saturating tanh / sigmoid, exploding ReLU)")
                        if above else ("small", "activations and gradients shrink layer by layer"))
        out.append(Finding(
            "init_scale", band, s["layer"], ratio, THRESHOLDS[key],
            f"initial weights too {size}: rms({s['weight_name']}) = {_fmt(s['weight_rms'])} is {_fmt(ratio)}x the "
            f"{s['init_scheme']} scale {_fmt(s['init_std'])} for fan-in {s['fan_in']} and {s['activation']}{others}; "
            f"in a deep network {effect}",
            f"use {recommend(advice, s['activation'])}", key))
    return out


def growth_findings_of(layers: list, activation: str, advice: Mapping[str, str] = RECOMMENDED_INIT):
    """Vanishing/exploding activations: rms(Z) of the last hidden layer over that of the first."""
    hidden = layers[:-1]
    if len(hidden) < 2 or not hidden[0]["z_rms"] or hidden[-1]["z_rms"] is None:
        return None, []
    growth = hidden[-1]["z_rms"] / hidden[0]["z_rms"]
    steps = len(hidden) - 1
    per_layer = growth ** (1.0 / steps) if growth > 0 else 0.0
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
        f"{kind} activations: the scale of Z {verb} by a factor {factor} from {hidden[0]['label']} to "
        f"{hidden[-1]['label']} (x{per_layer:.3g} per layer): {effect}",
        f"the weights are too {size} for this depth: use {recommend(advice, activation)}", key)]


def gradient_findings(layers: list, activation: str, advice: Mapping[str, str] = RECOMMENDED_INIT) -> list:
    rel = [(s["relative_gradient"], i) for i, s in enumerate(layers) if s["relative_gradient"] is not None]
    if not rel:
        return []
    (lo, i_lo), (hi, i_hi) = min(rel), max(rel)
    lo_s, hi_s = layers[i_lo], layers[i_hi]
    init = recommend(advice, activation)
    checks = [  # (kind, value, layer, threshold key, above, message, suggestion)
        ("vanishing", lo, lo_s, "gradient_vanishing", False,
         f"vanishing gradients: ||{lo_s['grad_name']}|| / ||{lo_s['weight_name']}|| = {_fmt(lo)}, so a gradient "
         f"step barely changes {lo_s['label']} and it learns extremely slowly (on trained parameters a small "
         "gradient can also mean convergence)",
         f"use {init}; for deep sigmoid/tanh nets prefer ReLU with He"),
        ("exploding", hi, hi_s, "gradient_exploding", True,
         f"exploding gradients: ||{hi_s['grad_name']}|| / ||{hi_s['weight_name']}|| = {_fmt(hi)}: any usual "
         f"learning rate makes a step larger than the weights themselves, and training diverges",
         f"use {init}, standardize X, or a much smaller learning rate"),
    ]
    out = []
    for kind, value, s, key, above, message, suggestion in checks:
        hit = _band(value, key, above=above)
        if hit:
            band, key = hit
            out.append(Finding(kind, band, s["layer"], value, THRESHOLDS[key], message, suggestion, key))
    return out
