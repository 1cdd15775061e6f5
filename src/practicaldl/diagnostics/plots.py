"""Figures of diagnostics, drawn from their JSON-able records only (never from a model).

``plot_activation_histograms`` draws, for one report or for the configurations of a study (one
row each), the histogram of every layer's activations ``A_l`` (or pre-activations ``Z_l``) on
the probe batch: the picture of the course's lecture, where activations collapse to 0
(vanishing), pile up at +-1 (saturated tanh) or spread over orders of magnitude (exploding).
``plot_training_diagnostics`` draws ``TrainingMonitor`` records: gradient norm, update-to-weight
ratio and dead fraction per layer against the iteration.

Both use matplotlib's Agg canvas (no display, no pyplot global state) and write the PNG
atomically (``io.files.atomic_write_bytes``).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure

from ..io.files import atomic_write_bytes


def _check_png_path(path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"path must end in .png, got {str(path)!r}")
    return path


def png_bytes(fig: Figure) -> bytes:
    """The PNG of a matplotlib ``Figure`` (Agg canvas; no timestamp metadata, so the bytes repeat)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _write_png(fig: Figure, path: Path) -> Path:
    """Save ``fig`` to ``path`` atomically (``io.files.atomic_write_bytes``: never a half-written PNG)."""
    return atomic_write_bytes(path, png_bytes(fig))


def _as_configs(reports) -> list:
    """[(label, report_dict)] from one report (dict or object with ``to_dict``) or a mapping of them."""
    def as_dict(r):
        return r.to_dict() if hasattr(r, "to_dict") else r

    if hasattr(reports, "to_dict") or (isinstance(reports, Mapping) and "layers" in reports):
        configs = [("", as_dict(reports))]
    elif isinstance(reports, Mapping):
        configs = [(str(k), as_dict(v)) for k, v in reports.items()]
    else:
        configs = [(str(k), as_dict(v)) for k, v in reports]
    if not configs:
        raise ValueError("reports must hold at least one report, got none")
    for label, d in configs:
        if not isinstance(d, Mapping) or "layers" not in d:
            raise ValueError(f"each report must be a diagnose() report or its to_dict(), got {type(d).__name__} "
                             f"for {label!r}")
    return configs


def _flagged_layers(d) -> tuple[set, list]:
    """Layers to draw in red (a warning or an error there; every layer for a network-wide one),
    and the kinds of those findings (bias/variance findings are about the fit, not the layers)."""
    layers, kinds = set(), []
    for f in d.get("findings", []):
        if f.get("severity") not in ("warning", "error") or f.get("kind") in ("high_bias", "high_variance"):
            continue
        if f.get("layer") is None:
            layers.update(layer["layer"] for layer in d["layers"][:-1])
        else:
            layers.add(f["layer"])
        if f["kind"] not in kinds:
            kinds.append(f["kind"])
    return layers, kinds


def plot_activation_histograms(reports, path, *, quantity: str = "a", title: str | None = None) -> Path:
    """``activation_histograms_figure`` written to the PNG file ``path``; returns ``path``."""
    path = _check_png_path(path)
    return _write_png(activation_histograms_figure(reports, quantity=quantity, title=title), path)


def activation_histograms_figure(reports, *, quantity: str = "a", title: str | None = None) -> Figure:
    """Histograms of each layer's activations, one row per configuration.

    ``reports``: a ``DiagnosticReport``, its ``to_dict()``, or a mapping label -> either (the
    configurations of a study). ``quantity``: "a" for ``A_l = g(Z_l)``, "z" for ``Z_l``.
    Each panel shows layer l's histogram over (units x examples) with its mean and std; the
    hidden layers of a row share one x scale, so shrinking (vanishing) or spreading (exploding)
    activations show as such. Layers with a warning or an error are red, and the row label lists
    the kinds found.
    """
    if quantity not in ("a", "z"):
        raise ValueError(f"quantity must be one of ['a', 'z'], got {quantity!r}")
    configs = _as_configs(reports)
    n_cols = max(len(d["layers"]) for _, d in configs)
    n_rows = len(configs)
    fig = Figure(figsize=(2.4 * n_cols + 0.6, 2.0 * n_rows + 0.8), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for row, (label, d) in enumerate(configs):
        bad_layers, kinds = _flagged_layers(d)
        if kinds:
            label = f"{label}\n[{', '.join(kinds)}]" if label else f"[{', '.join(kinds)}]"
        hidden_edges = [e for layer in d["layers"][:-1] for e in layer[f"{quantity}_hist"]["edges"]]
        for col in range(n_cols):
            ax = axes[row][col]
            if col >= len(d["layers"]):
                ax.set_axis_off()
                continue
            layer = d["layers"][col]
            hist = layer[f"{quantity}_hist"]
            color = "tab:red" if layer["layer"] in bad_layers else "tab:blue"
            if hist["counts"]:
                ax.stairs(hist["counts"], hist["edges"], fill=True, color=color, alpha=0.75)
            mean, std = layer[f"{quantity}_mean"], layer[f"{quantity}_std"]
            stats = "" if mean is None or std is None else f"\nmean {mean:.2g}, std {std:.2g}"
            ax.set_title(f"layer {layer['layer']} ({layer['activation']}){stats}", fontsize=8)
            if hidden_edges and layer.get("role") == "hidden" and max(hidden_edges) > min(hidden_edges):
                lo, hi = min(hidden_edges), max(hidden_edges)
                ax.set_xlim(lo, hi)  # one scale for the hidden layers of a row
                edges = hist["edges"]
                if edges and edges[-1] - edges[0] < 0.01 * (hi - lo):  # too narrow to see: mark where it is
                    ax.axvline((edges[0] + edges[-1]) / 2, color=color, linewidth=2)
                    ax.text(0.98, 0.9, f"width {edges[-1] - edges[0]:.1e}", transform=ax.transAxes,
                            ha="right", fontsize=7)
            ax.tick_params(labelsize=7)
            ax.set_yticks([])
            if col == 0 and label:
                ax.set_ylabel(label, fontsize=8)
    symbol = "A_l = g(Z_l)" if quantity == "a" else "Z_l"
    fig.suptitle(title or f"{symbol} per layer on the probe batch (red: a layer with a warning)", fontsize=10)
    return fig


def plot_training_diagnostics(records: list, path, *, title: str | None = None) -> Path:
    """Gradient norm, update-to-weight ratio and dead fraction per layer vs iteration; returns ``path``.

    ``records`` are ``TrainingMonitor.records`` (or ``NeuralNetClassifier.training_diagnostics_``,
    or ``practicaldl.torch.TrainingMonitor.records``, whose lines are named by module).
    """
    path = _check_png_path(path)
    if not records:
        raise ValueError("records must hold at least one TrainingMonitor record, got none")
    iterations = [r["iteration"] for r in records]
    n_layers = len(records[0]["grad_norm"])
    names = records[0].get("layers")  # module names (PyTorch records)
    panels = [("grad_norm", "||dW_l||", True), ("update_ratio", "update / weight: ||step|| / ||W_l||", True),
              ("dead_fraction", "dead fraction", False)]
    panels = [p for p in panels if any(v is not None for r in records for v in r.get(p[0], []))]
    fig = Figure(figsize=(4.2 * len(panels), 3.2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (key, ylabel, log) in zip(axes, panels):
        for l in range(n_layers):
            values = [r[key][l] for r in records]
            if all(v is None for v in values):
                continue
            pts = [(t, v) for t, v in zip(iterations, values) if v is not None and (v > 0 or not log)]
            if pts:
                ax.plot(*zip(*pts), label=f"layer {l + 1}" + (f" ({names[l]})" if names else ""))
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("iteration")
        ax.set_ylabel(ylabel)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.suptitle(title or "training diagnostics", fontsize=10)
    return _write_png(fig, path)
