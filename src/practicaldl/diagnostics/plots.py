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
import textwrap
from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure

from ..io.files import atomic_write_bytes


def _check_png_path(path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"path must end in .png, got {str(path)!r}")
    return path


def wrap(text: str, width_inches: float, fontsize: float = 10) -> str:
    """``text`` broken into lines that fit ``width_inches`` at ``fontsize`` points (a glyph ~0.55 em),
    so that no title runs off its figure."""
    chars = max(16, int(width_inches * 72 / (0.55 * fontsize)))
    return "\n".join(textwrap.wrap(text, chars))


MAX_PIXELS = 40_000_000  # a figure with more at its dpi is drawn at a lower dpi (bounded memory)


def png_bytes(fig: Figure) -> bytes:
    """The PNG of a matplotlib ``Figure`` (Agg canvas; no timestamp metadata, so the bytes repeat),
    at the figure's dpi, or lower where that would give more than ``MAX_PIXELS`` pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    width, height = fig.get_size_inches()
    dpi = min(fig.dpi, (MAX_PIXELS / max(width * height, 1e-9)) ** 0.5)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
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


QUANTITIES = {"a": "A_l = g(Z_l)", "z": "Z_l", "w": "weights W_l"}


def activation_histograms_figure(reports, *, quantity: str = "a", title: str | None = None) -> Figure:
    """Histograms per layer, one row per configuration: activations, pre-activations or weights.

    ``reports``: a ``DiagnosticReport``, its ``to_dict()``, or a mapping label -> either (the
    configurations of a study). ``quantity``: "a" for ``A_l = g(Z_l)``, "z" for ``Z_l`` (over units x
    examples of the probe batch), "w" for the entries of ``W_l``. The y axes count entries. For "a"
    and "z" the hidden layers of a row share one x scale, so shrinking (vanishing) or spreading
    (exploding) activations show as such, and layers with a warning or an error are red (the row
    label lists the kinds found). For "w" each column (one layer across configurations) shares one
    x scale, so a configuration with smaller weights (L2) shows a narrower histogram. A legend says
    what the colours mean.
    """
    from matplotlib.patches import Patch

    if quantity not in QUANTITIES:
        raise ValueError(f"quantity must be one of {sorted(QUANTITIES)}, got {quantity!r}")
    configs = _as_configs(reports)
    n_cols = max(len(d["layers"]) for _, d in configs)
    n_rows = len(configs)
    width = 2.6 * n_cols + 1.0
    fig = Figure(figsize=(width, 2.1 * n_rows + 1.3), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    key = f"{quantity}_hist"
    column_edges = [[e for _, d in configs if col < len(d["layers"]) for e in d["layers"][col][key]["edges"]]
                    for col in range(n_cols)]
    any_flagged = False
    for row, (label, d) in enumerate(configs):
        bad_layers, kinds = _flagged_layers(d) if quantity != "w" else (set(), [])
        any_flagged |= bool(bad_layers)
        if kinds:
            label = f"{label}\n[{', '.join(kinds)}]" if label else f"[{', '.join(kinds)}]"
        hidden_edges = [e for layer in d["layers"][:-1] for e in layer[key]["edges"]]
        for col in range(n_cols):
            ax = axes[row][col]
            if col >= len(d["layers"]):
                ax.set_axis_off()
                continue
            layer = d["layers"][col]
            hist = layer[key]
            color = "tab:red" if layer["layer"] in bad_layers else "tab:blue"
            if hist["counts"]:
                ax.stairs(hist["counts"], hist["edges"], fill=True, color=color, alpha=0.75)
            if quantity == "w":
                norm = layer.get("weight_norm")
                stats = "" if norm is None else f"\n||W||_F = {norm:.3g}"
                scale_edges = column_edges[col]
            else:
                mean, std = layer[f"{quantity}_mean"], layer[f"{quantity}_std"]
                stats = "" if mean is None or std is None else f"\nmean {mean:.2g}, std {std:.2g}"
                scale_edges = hidden_edges if layer.get("role") == "hidden" else []
            ax.set_title(f"layer {layer['layer']} ({layer['activation']}){stats}", fontsize=8)
            if scale_edges and max(scale_edges) > min(scale_edges):
                lo, hi = min(scale_edges), max(scale_edges)
                ax.set_xlim(lo, hi)
                edges = hist["edges"]
                if edges and edges[-1] - edges[0] < 0.01 * (hi - lo):  # too narrow to see: mark where it is
                    ax.axvline((edges[0] + edges[-1]) / 2, color=color, linewidth=2)
                    ax.text(0.98, 0.9, f"width {edges[-1] - edges[0]:.1e}", transform=ax.transAxes,
                            ha="right", fontsize=7)
            ax.tick_params(labelsize=7)
            if col == 0:
                ax.set_ylabel(f"{label}\ncount" if label else "count", fontsize=8)
    handles = [Patch(color="tab:blue", alpha=0.75, label=f"{QUANTITIES[quantity]}: entries per bin" +
                     (" (no warning in the layer)" if quantity != "w" else ""))]
    if any_flagged:
        handles.append(Patch(color="tab:red", alpha=0.75, label="a layer with a warning or an error"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    text = title or f"{QUANTITIES[quantity]} per layer on the probe batch (red: a layer with a warning)"
    fig.suptitle(wrap(text, width), fontsize=10)
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
