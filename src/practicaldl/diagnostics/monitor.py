"""Layer health during training: a callback that records gradient norms, update ratios, dead units."""

from __future__ import annotations

import numbers
from typing import Optional

import numpy as np

from ..core.network import n_layers
from .findings import THRESHOLDS, Finding, _num
from .probes import dead_fraction, saturated_fraction


class TrainingMonitor:
    """A ``engine.loop.train`` callback recording layer health every ``every`` iterations.

    Each record (``self.records``, JSON-serialisable) holds, for iteration t (1-based) and
    layers l = 1..L (lists indexed by l - 1)::

        iteration, cost
        grad_norm[l]     = ||dW_l||_F                 (the last step's gradient; last minibatch)
        weight_norm[l]   = ||W_l||_F                  (after the step)
        update_ratio[l]  = ||delta W_l||_F / ||W_l - delta W_l||_F     the last step's change
                           delta W_l (``IterationInfo.update``) against the weights it changed
        dead_fraction[l]      hidden ReLU layers: units never positive on the batch (else None)
        saturated_fraction[l] hidden sigmoid/tanh layers: see ``saturated_fraction`` (else None)

    The ratio is the step the optimizer took, whatever it is: ``lr ||dW|| / ||W||`` for gradient
    descent, but for momentum, RMSprop and Adam the step is not the gradient's (Adam's moves each
    entry by about lr, however small its gradient). ``every=0`` turns it off: the call returns at
    once. Off-iterations cost one modulo.
    """

    def __init__(self, every: int = 10):
        if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 0:
            raise ValueError(f"every must be a non-negative integer, got {every!r}")
        self.every = int(every)
        self.records: list = []

    def __call__(self, info) -> None:
        if not self.every or info.iteration % self.every:
            return None
        params, grads, cache = info.params, info.grads, info.cache
        L = n_layers(params)
        rec = {"iteration": int(info.iteration), "cost": _num(info.cost), "grad_norm": [], "weight_norm": [],
               "update_ratio": [], "dead_fraction": [], "saturated_fraction": []}
        for l in range(1, L + 1):
            W = params[f"W{l}"]
            w = float(np.linalg.norm(W))
            rec["grad_norm"].append(_num(float(np.linalg.norm(grads[f"dW{l}"]))))
            rec["weight_norm"].append(_num(w))
            rec["update_ratio"].append(_num(_update_ratio(W, info.update[f"W{l}"])) if info.update else None)
            hidden = l < L and cache is not None
            rec["dead_fraction"].append(dead_fraction(cache.Z[l - 1]) if hidden and cache.activation == "relu" else None)
            rec["saturated_fraction"].append(
                saturated_fraction(cache.G[l - 1], cache.activation) if hidden and cache.activation != "relu" else None)
        self.records.append(rec)
        return None

    def findings(self) -> list:
        """Findings from the last record: dead units, and update ratios too large or too small."""
        return monitor_findings(self.records)


def _update_ratio(W: np.ndarray, delta: np.ndarray) -> Optional[float]:
    """``||delta|| / ||W - delta||``: the step against the weights before it (None when those are 0)."""
    before = float(np.linalg.norm(W - delta))
    return float(np.linalg.norm(delta)) / before if before > 0 else None


def monitor_findings(records: list) -> list:
    """Findings from the last of ``TrainingMonitor`` records (dicts, as stored in a result file).

    ``update_ratio`` above ``update_ratio_high`` (warning: steps too big) or below
    ``update_ratio_low`` (info: the layer stopped learning), and ``dead_units`` as in ``diagnose``.
    Records with a ``layers`` list (``practicaldl.torch.TrainingMonitor``: module names, and the
    measured ``||W_t - W_{t-1}|| / ||W_{t-1}||`` as the ratio) are named by module.
    """
    if not records:
        return []
    rec, out = records[-1], []
    t = rec["iteration"]
    names = rec.get("layers")

    def weight(l):
        return f"{names[l - 1]}.weight" if names else f"W{l}"

    def label(l):
        return f"layer {l} ({names[l - 1]})" if names else f"layer {l}"

    for l, ratio in enumerate(rec.get("update_ratio", []), start=1):
        if ratio is None:
            continue
        if ratio > THRESHOLDS["update_ratio_high"]:
            out.append(Finding("update_ratio", "warning", l, ratio, THRESHOLDS["update_ratio_high"],
                               f"at iteration {t} a step changes {weight(l)} by {ratio:.1%} of its norm: too large, "
                               "training may oscillate or diverge (a rule of thumb is ~1e-3)",
                               "lower the learning rate", "update_ratio_high"))
        elif ratio < THRESHOLDS["update_ratio_low"]:
            out.append(Finding("update_ratio", "info", l, ratio, THRESHOLDS["update_ratio_low"],
                               f"at iteration {t} a step changes {weight(l)} by only {ratio:.1e} of its norm: the "
                               "layer has stopped learning (converged, or its gradient vanished)",
                               "if the cost is still high: raise the learning rate or use a better initialization",
                               "update_ratio_low"))
    for l, frac in enumerate(rec.get("dead_fraction", []), start=1):
        if frac is not None and frac > THRESHOLDS["dead_fraction"]:
            out.append(Finding("dead_units", "warning", l, frac, THRESHOLDS["dead_fraction"],
                               f"at iteration {t}, {frac:.0%} of {label(l)}'s ReLUs are dead on the batch",
                               "lower the learning rate; use He initialization", "dead_fraction"))
    return out
