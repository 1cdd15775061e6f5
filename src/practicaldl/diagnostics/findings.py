"""What a diagnosis finds: ``Finding`` records, the ``DiagnosticReport`` and every threshold.

Each finding names the number that triggered it (``value``) and the threshold it crossed
(``threshold``); a finding fires when the value is strictly beyond the threshold. ``warning``
thresholds mark a network that will train badly; the ``*_info`` thresholds mark a milder case
reported with severity ``info``. Symmetry and non-finite values are errors. A report with no
warning and no error is ``healthy``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional

#: Every threshold the diagnostics use. A finding fires when its value is strictly beyond the
#: threshold (above it for fractions, growths and ratios named ``*_high``/``exploding``; below it
#: for ``vanishing`` and ``*_low``).
THRESHOLDS: dict[str, float] = {
    # symmetry: units whose incoming and outgoing weights agree to this relative tolerance are identical
    "symmetry_rtol": 1e-10,
    # symmetry fires when a hidden layer has at least this many identical units (error)
    "symmetry_min_units": 2,
    # dead ReLUs: fraction of a hidden layer's units never positive on the probe batch
    "dead_fraction": 0.5,
    "dead_fraction_info": 0.25,
    # saturation: distance to an asymptote, as a fraction of the activation's range, that counts as saturated
    "saturation_margin": 0.01,
    # saturation: fraction of a layer's (unit, example) activations that are saturated
    "saturated_fraction": 0.2,
    "saturated_fraction_info": 0.05,
    # output layer, with labels: fraction of examples predicted within saturation_margin of the wrong answer
    # (without labels the output's saturated_fraction is reported, at most as info)
    "confident_wrong_fraction": 0.1,
    "confident_wrong_fraction_info": 0.02,
    # activations: rms(Z_{L-1}) / rms(Z_1) over the hidden layers (needs >= 2 hidden layers)
    "activation_vanishing": 1e-2,  # below: vanishing (warning)
    "activation_vanishing_info": 1e-1,
    "activation_exploding": 1e2,  # above: exploding (warning)
    "activation_exploding_info": 1e1,
    # gradients: relative gradient ||dW_l|| / ||W_l||, smallest (vanishing) or largest (exploding) layer
    "gradient_vanishing": 1e-6,
    "gradient_vanishing_info": 1e-5,
    "gradient_exploding": 1e2,
    "gradient_exploding_info": 1e1,
    # after training (errors as fractions in [0, 1])
    "avoidable_bias": 0.05,  # train_error - target_error above this: high bias (warning)
    "avoidable_bias_info": 0.02,
    "variance": 0.05,  # test_error - train_error above this: high variance (warning)
    "variance_info": 0.02,
    # test accuracy at most this far above always predicting the most frequent test label (warning)
    "majority_margin": 0.01,
    # during training: the update-to-weight ratio learning_rate * ||dW|| / ||W|| (rule of thumb ~1e-3)
    "update_ratio_high": 1e-1,  # above: steps too large, training may diverge (warning)
    "update_ratio_low": 1e-7,  # below: the layer has stopped learning (info)
    # initial weights: rms(W_l) / the recommended std for the layer's fan-in and activation (PyTorch modules)
    "init_scale_low": 0.25,  # below: too small (warning)
    "init_scale_low_info": 0.5,  # below: small (info; PyTorch's default Linear init is 0.41x He)
    "init_scale_high": 4.0,  # above: too large (warning)
    "init_scale_high_info": 2.0,
}

#: Bins of the per-layer histograms stored in the report (for ``diagnostics.plots``).
HISTOGRAM_BINS = 40

SEVERITIES = ("info", "warning", "error")

#: The initialization that keeps Var(Z_l) constant for each hidden activation.
RECOMMENDED_INIT = {
    "relu": "He initialization (init='he', W ~ N(0, 2 / fan_in))",
    "tanh": "Xavier/LeCun initialization (init='xavier' or init='lecun', W ~ N(0, 1 / fan_in))",
    "sigmoid": "Xavier initialization (init='xavier', W ~ N(0, 2 / (fan_in + fan_out)))",
    "linear": "LeCun initialization (init='lecun', W ~ N(0, 1 / fan_in))",
}

#: The variance scheme (a key of ``core.initializers.VARIANCES``) that keeps Var(Z_l) constant
#: for the activation after a layer; "lecun" for any activation not listed.
RECOMMENDED_SCHEME = {"relu": "he", "leaky_relu": "he", "elu": "he", "gelu": "he", "silu": "he",
                      "tanh": "lecun", "sigmoid": "xavier"}


@dataclass
class Finding:
    """One diagnosis: what (``kind``), how bad (``severity``), where (``layer``, None for the
    whole network), the number that triggered it (``value``) and the threshold it crossed
    (``threshold``, a key of ``THRESHOLDS`` is named by ``metric``), a teaching ``message`` and a
    ``suggestion`` of what to try."""

    kind: str
    severity: str
    layer: Optional[int]
    value: float
    threshold: float
    message: str
    suggestion: str
    metric: str = ""

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (non-finite numbers become None)."""
        d = asdict(self)
        d["value"], d["threshold"] = _num(self.value), _num(self.threshold)
        return d


@dataclass
class DiagnosticReport:
    """Findings plus the per-layer statistics they were computed from.

    ``layers[l - 1]`` describes layer l (the last one is the output layer) with keys ``layer``,
    ``label``, ``weight_name`` and ``grad_name`` (how messages name it: "layer 2", "W2", "dW2"),
    ``role`` ("hidden"/"output"), ``activation``, ``n_units``, ``z_mean``, ``z_std``, ``z_rms``,
    ``a_mean``, ``a_std``, ``dead_fraction`` (ReLU hidden layers), ``saturated_fraction``
    (sigmoid/tanh/softmax), ``confident_wrong_fraction`` (output layer, with Y), ``scale_ratio``
    (rms(Z_l) / rms(Z_{l-1})), ``weight_norm``,
    ``grad_norm``, ``relative_gradient`` (None without Y), ``identical_units`` and the histograms
    ``z_hist`` / ``a_hist`` / ``w_hist`` (of the weights W_l) (``{"counts": [...], "edges": [...]}``).
    A PyTorch module's report (``practicaldl.torch.diagnose_module``) has more keys per layer and
    ``notes`` on what it could not look at.
    """

    findings: list = field(default_factory=list)
    layers: list = field(default_factory=list)
    activation: str = "relu"
    output: str = "sigmoid"
    layer_dims: list = field(default_factory=list)
    n_samples: int = 0
    gradients: bool = False
    activation_growth: Optional[float] = None
    notes: list = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """True when no finding is a warning or an error (info findings are allowed)."""
        return not any(f.severity in ("warning", "error") for f in self.findings)

    def kinds(self, severity: str = "info") -> set:
        """The kinds of the findings at ``severity`` or worse."""
        rank = SEVERITIES.index(severity)
        return {f.kind for f in self.findings if SEVERITIES.index(f.severity) >= rank}

    def to_dict(self) -> dict:
        """Everything as JSON-serialisable data (what plots and the CLI's ``--json`` read)."""
        return {
            "healthy": self.healthy,
            "activation": self.activation,
            "output": self.output,
            "layer_dims": list(self.layer_dims),
            "n_samples": int(self.n_samples),
            "gradients": bool(self.gradients),
            "activation_growth": _num(self.activation_growth),
            "findings": [f.to_dict() for f in self.findings],
            "layers": [dict(layer) for layer in self.layers],
            "thresholds": dict(THRESHOLDS),
            "notes": list(self.notes),
        }

    def to_table(self):
        """A rich ``Table`` of the findings, worst first (one row saying so when healthy)."""
        from rich.markup import escape
        from rich.table import Table

        table = Table(title=f"practicaldl diagnose: layers {self.layer_dims}, activation {self.activation}, "
                            f"{self.n_samples} probe examples", show_lines=True,
                      caption="\n".join(escape(note) for note in self.notes) or None)
        table.add_column("severity")
        table.add_column("kind")
        table.add_column("layer", justify="right")
        table.add_column("value vs threshold", justify="right")
        table.add_column("what it means, and what to try", overflow="fold", ratio=1, min_width=16)
        style = {"error": "bold red", "warning": "yellow", "info": "cyan"}
        for f in sorted(self.findings, key=lambda f: -SEVERITIES.index(f.severity)):
            op = ">=" if f.kind == "symmetry" else ("<" if f.value < f.threshold else ">")
            text = escape(f.message) + (f"\n[dim]try: {escape(f.suggestion)}[/]" if f.suggestion else "")
            table.add_row(f"[{style[f.severity]}]{f.severity}[/]", f.kind, "-" if f.layer is None else str(f.layer),
                          f"{_fmt(f.value)} {op} {_fmt(f.threshold)}", text)
        if not self.findings:
            table.add_row("[green]ok[/]", "healthy", "-", "-", "no finding: the network looks healthy")
        return table

    def __rich__(self):
        return self.to_table()


# -- helpers ---------------------------------------------------------------------------------
def _num(x):
    """A plain float, or None for None / NaN / inf (strict JSON has neither)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _fmt(x) -> str:
    if x is None or not math.isfinite(float(x)):
        return str(x)
    x = float(x)
    return f"{x:.3g}" if x == 0 or 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"



def _band(value, key: str, *, above: bool) -> Optional[tuple[str, str]]:
    """How far ``value`` lies beyond ``THRESHOLDS[key]`` (warning) or ``THRESHOLDS[key + "_info"]``:
    ``(severity, the THRESHOLDS key crossed)``, or None within both."""
    beyond = (lambda t: value > t) if above else (lambda t: value < t)
    if beyond(THRESHOLDS[key]):
        return "warning", key
    if beyond(THRESHOLDS[key + "_info"]):
        return "info", key + "_info"
    return None

