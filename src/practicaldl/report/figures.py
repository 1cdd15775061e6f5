"""The report's figures, drawn from a results document's sections (PNG bytes, matplotlib's Agg canvas).

Per study: ``<study>-cost.png`` (cost per iteration, every configuration, one axis),
``<study>-learning-rate.png`` (the learning rate of each epoch, per configuration: only when a
run's rate changes during training, as a decay makes it),
``<study>-boundaries.png`` (decision boundaries, one panel per configuration, 2-D data, with a
class legend and a colour bar), ``<study>-accuracy.png`` (train / test accuracy, mean +- std over
seeds), ``<study>-weights.png`` and ``<study>-activations.png`` (histograms of each layer's
weights W_l and activations A_l after training: what L2 and dropout change),
``<study>-activations-init.png`` (activations at initialization, only when they differ between
configurations, as they do between initializations); per random search ``<search>-scores.png``
(validation accuracy against each sampled hyperparameter, log axes where it was drawn on a log
scale) and ``<search>-cost.png`` (cost curves of the best trials); per gradient check section
``<name>-differences.png`` (per-parameter differences against the verdict bands). Titles are
wrapped to the figure's width.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..diagnostics.plots import png_bytes, wrap
from ..io.limits import MAX_FIGURE_CONFIGURATIONS
from ..studies.runner import aggregate
from .document import _per_parameter, _section_name, _section_title, best_trials, by_configuration, trial_value

BEST_CURVES = 5  # trials whose cost curves a search report draws
LINE_STYLES = ("-", "--", "-.", ":")  # configuration i's line style: i mod 4

# -- figures ---------------------------------------------------------------------------------------
def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")



def _colors(n: int):
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def figure_cost_curves(section: dict) -> bytes:
    """Cost per iteration of every configuration on one (log) axis: one line per configuration (the
    mean over its seeds where they share their iterations, else its first seed), and a thin line
    per seed when there are several."""
    fig = _figure(7.5, 4.2)
    ax = fig.add_subplot()
    groups = by_configuration(section["records"])
    for i, (color, (label, recs)) in enumerate(zip(_colors(len(groups)), groups.items())):
        runs = [r for r in recs if r["cost_history"]]
        if not runs:
            continue
        if len(runs) > 1:
            for r in runs:
                ax.plot(r["cost_iterations"], r["cost_history"], color=color, lw=0.7, alpha=0.35)
        same = all(r["cost_iterations"] == runs[0]["cost_iterations"] for r in runs)
        curve = np.mean([r["cost_history"] for r in runs], axis=0) if same else runs[0]["cost_history"]
        ax.plot(runs[0]["cost_iterations"], curve, color=color, lw=1.8, label=label,
                ls=LINE_STYLES[i % len(LINE_STYLES)])  # lines that coincide stay visible
    ax.set_yscale("log")
    ax.set_xlabel("iteration (an epoch with minibatches)")
    ax.set_ylabel("cost (cross-entropy + L2 term)")
    ax.set_title(wrap(f"{_section_title(section)}: cost per iteration (mean over seeds; thin: each seed)", 6.5, 11),
                 fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[1]:  # no line when every run failed
        ax.legend(fontsize=8)
    return png_bytes(fig)


def _changes(rates: list) -> bool:
    return len(set(rates)) > 1


def figure_learning_rates(section: dict) -> Optional[bytes]:
    """The learning rate of each iteration (epoch), one line per configuration (its first seed's
    record), on a log axis; None when no run's rate changes during training (nothing to show)."""
    groups = {label: next((r for r in recs if r.get("learning_rate_history")), None)
              for label, recs in by_configuration(section["records"]).items()}
    groups = {label: r for label, r in groups.items() if r is not None}
    if not any(_changes(r["learning_rate_history"]) for r in groups.values()):
        return None
    fig = _figure(7.5, 3.8)
    ax = fig.add_subplot()
    for i, (color, (label, r)) in enumerate(zip(_colors(len(groups)), groups.items())):
        ax.step(r["cost_iterations"], r["learning_rate_history"], where="post", color=color, lw=1.6, label=label,
                ls=LINE_STYLES[i % len(LINE_STYLES)])  # lines that coincide stay visible
    ax.set_yscale("log")
    ax.set_xlabel("iteration (an epoch with minibatches)")
    ax.set_ylabel("learning rate")
    ax.set_title(wrap(f"{_section_title(section)}: learning rate per epoch", 6.5, 11), fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return png_bytes(fig)


def figure_accuracy(section: dict) -> bytes:
    """Grouped bars: train and test accuracy per configuration, mean ± std over seeds."""
    rows = section.get("aggregate") or aggregate(section["records"])
    fig = _figure(max(5.0, 1.6 * len(rows) + 2), 4.0)
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    width = 0.38
    for offset, metric, color in ((-width / 2, "train_accuracy", "#4C72B0"), (width / 2, "test_accuracy", "#DD8452")):
        means = [r[f"{metric}_mean"] or 0.0 for r in rows]
        stds = [r[f"{metric}_std"] or 0.0 for r in rows]
        bars = ax.bar(x + offset, means, width, yerr=stds, capsize=4, color=color, label=metric.replace("_", " "))
        ax.bar_label(bars, labels=[f"{m:.3f}" for m in means], fontsize=8, padding=2)
    width_in = max(5.0, 1.6 * len(rows) + 2)
    ax.set_xticks(x, [wrap(r["configuration"], 1.5, 9) for r in rows], fontsize=9)
    ax.set_ylim(0, 1.2)
    ax.set_ylabel("accuracy")
    ax.set_title(wrap(f"{_section_title(section)}: accuracy (mean ± std over seeds)", width_in - 0.3, 11), fontsize=11)
    ax.legend(loc="upper center", ncols=2)
    return png_bytes(fig)


CLASS_COLORS = ("#b2182b", "#2166ac", "#1b9e77", "#7570b3", "#e6ab02", "#66a61e", "#e7298a", "#a6761d",
                 "#666666", "#d95f02")


def figure_decision_boundaries(section: dict) -> Optional[bytes]:
    """``decision_boundaries_figure`` as PNG bytes (None for non-2-D data)."""
    fig = decision_boundaries_figure(section)
    return None if fig is None else png_bytes(fig)


def decision_boundaries_figure(section: dict):
    """One panel per configuration (its first seed): the stored grid, the training points (filled)
    and the test points (hollow), a legend of the classes and a colour bar. None for non-2-D data.

    Two classes: the colour is P(y = second class), the black line its 0.5 contour. More classes:
    the colour is the predicted class, in the classes' colours.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.lines import Line2D

    data = section.get("data")
    groups = {k: next((r for r in v if r.get("decision_grid")), None) for k, v in by_configuration(section["records"]).items()}
    groups = {k: v for k, v in groups.items() if v is not None}
    if not data or not groups:
        return None
    n = len(groups)
    width = max(3.6 * n + 1.2, 6.0)
    fig = _figure(width, 4.6)
    axes = fig.subplots(1, n, squeeze=False)[0]
    X_tr, y_tr = np.asarray(data["X_train"]), np.asarray(data["y_train"])
    X_te, y_te = np.asarray(data["X_test"]), np.asarray(data["y_test"])
    classes = np.unique(np.concatenate([y_tr, y_te]))
    colors = [CLASS_COLORS[i % len(CLASS_COLORS)] for i in range(len(classes))]
    pre = (section.get("dataset") or {}).get("preprocessing")
    axis_names = []
    if isinstance(pre, dict):  # a table: name the network's two inputs
        scaled = " (standardized)" if pre.get("standardize") else ""
        axis_names = [f"{c}{scaled if c in pre.get('numeric', []) else ''}" for c in pre.get("features_out", [])]
    mappable = None
    for ax, (label, rec) in zip(axes, groups.items()):
        g = rec["decision_grid"]
        xs = np.linspace(g["x_min"], g["x_max"], g["n"])
        ys = np.linspace(g["y_min"], g["y_max"], g["n"])
        z = np.asarray(g["z"], dtype=float)  # (n, n): z[i, j] at (xs[j], ys[i])
        if g.get("kind", "probability") == "probability":
            mappable = ax.contourf(xs, ys, z, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.45, vmin=0, vmax=1)
            if z.min() < 0.5 < z.max():
                ax.contour(xs, ys, z, levels=[0.5], colors="k", linewidths=1.2)
        else:
            cmap = ListedColormap(colors)
            norm = BoundaryNorm(np.arange(len(classes) + 1) - 0.5, cmap.N)
            mappable = ax.contourf(xs, ys, z, levels=np.arange(len(classes) + 1) - 0.5, cmap=cmap, norm=norm,
                                   alpha=0.3)
        for color, cls in zip(colors, classes):
            ax.scatter(*X_tr[y_tr == cls].T, s=10, color=color, edgecolors="none")
            ax.scatter(*X_te[y_te == cls].T, s=14, facecolors="none", edgecolors=color, linewidths=0.8)
        ax.set_title(wrap(f"{label} (seed {rec['seed']})", 3.3, 9) +
                     f"\ntrain {rec['train_accuracy']:.3f}, test {rec['test_accuracy']:.3f}", fontsize=9)
        ax.set_xlim(g["x_min"], g["x_max"])
        ax.set_ylim(g["y_min"], g["y_max"])
        ax.set_xlabel(axis_names[0] if len(axis_names) == 2 else "x1", fontsize=8)
        ax.set_ylabel(axis_names[1] if len(axis_names) == 2 else "x2", fontsize=8)
        ax.tick_params(labelsize=7)
    handles = []  # one legend column per class: its train marker above its test marker
    for c, k in zip(colors, classes.tolist()):
        handles += [Line2D([], [], ls="", marker="o", color=c, markersize=6, label=f"class {k}: train"),
                    Line2D([], [], ls="", marker="o", markerfacecolor="none", markeredgecolor=c, markersize=6,
                           label=f"class {k}: test")]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(classes), fontsize=8, frameon=False)
    if mappable is not None and len(classes) == 2:
        fig.colorbar(mappable, ax=axes.tolist(), shrink=0.85, label=f"P(y = {classes[1]})")
    elif mappable is not None:
        bar = fig.colorbar(mappable, ax=axes.tolist(), shrink=0.85, label="predicted class")
        bar.set_ticks(np.arange(len(classes)), labels=[str(k) for k in classes.tolist()])
    fig.suptitle(wrap(f"{_section_title(section)}: decision boundaries (filled: train, hollow: test)", width, 10),
                 fontsize=10)
    return fig


def _layer_reports(section: dict, key: str) -> dict:
    """``{configuration: report dict}`` from the first record of each configuration that has ``key``."""
    reports = {}
    for label, recs in by_configuration(section["records"]).items():
        rec = next((r for r in recs if r.get(key)), None)
        if rec is not None:
            reports[label] = rec[key]
    return reports


def figure_layer_histograms(section: dict, key: str, quantity: str, when: str) -> Optional[bytes]:
    """Histograms per layer (``quantity`` "a": activations A_l, "w": weights W_l), one row per
    configuration, from the records' ``key`` reports ("diagnostics": after training,
    "diagnostics_init": at initialization). None when no record has them."""
    from ..diagnostics.plots import activation_histograms_figure

    reports = _layer_reports(section, key)
    if not reports:
        return None
    what = {"a": "activations A_l", "w": "weights W_l"}[quantity]
    title = f"{_section_title(section)}: {what} per layer {when}"
    return png_bytes(activation_histograms_figure(reports, quantity=quantity, title=title))


def _same_rows(section: dict, key: str) -> bool:
    """True when every configuration's activation histograms in ``key`` are the same (one seed, one init)."""
    hists = [[layer["a_hist"] for layer in report["layers"]] for report in _layer_reports(section, key).values()]
    return all(h == hists[0] for h in hists)


def _number(value) -> float:
    """A difference from the results: None (not judged, or not finite in JSON) -> nan, drawn as no bar."""
    return float("nan") if value is None else float(value)


def figure_gradcheck(section: dict) -> bytes:
    """Per-parameter relative differences of every check (log scale) with the course's bands; "?" marks
    a parameter the check could not judge (inconclusive)."""
    checks = section["checks"]
    names = list(dict.fromkeys(n for c in checks for n in _per_parameter(c["report"])))
    fig = _figure(max(6.0, 0.9 * len(names) * max(1, len(checks)) / 2 + 3), 4.0)
    ax = fig.add_subplot()
    x = np.arange(len(names))
    width = 0.8 / max(1, len(checks))
    for i, (color, check) in enumerate(zip(_colors(len(checks)), checks)):
        per = _per_parameter(check["report"])
        values = np.array([_number(per.get(n, {}).get("difference")) for n in names], dtype=float)
        positions = x - 0.4 + width * (i + 0.5)
        ax.bar(positions, np.where(values > 0, values, np.nan), width, color=color, label=check["label"])
        for pos in positions[values == 0]:  # exactly equal gradients: no bar on a log axis, say so
            ax.text(pos, 0.02, "0", ha="center", va="bottom", fontsize=9, color=color, transform=ax.get_xaxis_transform())
        verdicts = [per.get(n, {}).get("verdict") for n in names]
        for pos, verdict in zip(positions, verdicts):  # not judged: no number to draw
            if verdict == "inconclusive":
                ax.text(pos, 0.02, "?", ha="center", va="bottom", fontsize=11, color=color,
                        transform=ax.get_xaxis_transform())
    ax.axhline(2e-7, color="green", ls="--", lw=1, label="2e-7: right below")
    ax.axhline(1e-3, color="red", ls="--", lw=1, label="1e-3: a bug")
    ax.set_yscale("log")
    ax.set_xticks(x, names)
    ax.set_ylabel("||g - g_num|| / (||g|| + ||g_num||)")
    ax.set_title(wrap(_section_title(section) + ": per-parameter difference", fig.get_figwidth() - 0.3, 11),
                 fontsize=11)
    ax.legend(fontsize=8)
    return png_bytes(fig)


def figure_search_scores(section: dict) -> Optional[bytes]:
    """One panel per sampled hyperparameter: each trial's validation accuracy (mean over seeds)
    against its value; log x axis where the value was drawn on a log scale (``1 - value`` for
    ``one_minus_loguniform``), categories side by side for choices; the best trial starred and
    failed trials marked on the axis. None when nothing was sampled or no trial trained."""
    params, ranked = section["parameters"][:MAX_FIGURE_CONFIGURATIONS], best_trials(section)
    if not params or not ranked:
        return None
    failed = [r for r in section["records"] if r.get("error") is not None]
    ncols = min(3, len(params))
    nrows = -(-len(params) // ncols)
    fig = _figure(4.2 * ncols, 3.4 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, p in zip(axes, params):
        def x_of(records, p=p):
            values = [trial_value(r, p) for r in records]
            if p["kind"] == "choice":
                categories = _categories(trial_value(r, p) for r in section["records"])
                return [categories.index(str(v)) for v in values], categories
            return [1.0 - v if p["one_minus"] else v for v in values], None

        xs, categories = x_of([r for _, r in ranked])
        ys = [row["test_accuracy_mean"] for row, _ in ranked]
        if categories is not None:  # spread the points of a category a little, deterministically
            xs = [x + 0.2 * ((i * 0.618) % 1.0 - 0.5) for i, x in enumerate(xs)]
        ax.scatter(xs, ys, s=22, color="#4C72B0", alpha=0.8, label="trial")
        ax.scatter(xs[:1], ys[:1], s=160, marker="*", color="#DD8452", zorder=3, label="best")
        fx, _ = x_of(failed)
        if fx:
            ax.scatter(fx, [0.0] * len(fx), marker="x", color="#C44E52", label="failed")
        if categories is not None:
            ax.set_xticks(range(len(categories)), categories)
        elif p["log_axis"]:
            _log_axis(ax, xs + fx)
        ax.set_xlabel(f"1 - {p['name']} (log)" if p["one_minus"] else p["name"] + (" (log)" if p["log_axis"] else ""))
        ax.set_ylabel("validation accuracy")
        ax.grid(True, which="both", alpha=0.3)
    for ax in axes[len(params):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8)
    fig.suptitle(wrap(f"{_section_title(section)}: validation accuracy against each hyperparameter", 4.2 * ncols, 10),
                 fontsize=10)
    return png_bytes(fig)


def _categories(values) -> list[str]:
    """The distinct values of a choice as labels: numbers in numeric order, names as first seen."""
    distinct = list(dict.fromkeys(values))
    if all(isinstance(v, (int, float)) for v in distinct):
        distinct.sort()
    return [str(v) for v in distinct]


def _log_axis(ax, values) -> None:
    """A log x axis labelled with plain numbers: decades only over many decades, 1-2-5 over a few."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    positive = [v for v in values if v > 0]
    decades = np.log10(max(positive) / min(positive)) if positive else 0.0
    subs = (1.0,) if decades > 2.5 else (1.0, 2.0, 5.0) if decades > 0.7 else tuple(range(1, 10))
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def figure_best_costs(section: dict) -> Optional[bytes]:
    """Cost curves of the ``BEST_CURVES`` best trials (``figure_cost_curves`` on them)."""
    best = {row["configuration"] for row, _ in best_trials(section)[:BEST_CURVES]}
    if not best:
        return None
    return figure_cost_curves({**section, "records": [r for r in section["records"] if r["configuration"] in best]})


def figure_stems(doc: dict) -> list[str]:
    """The file-name stem of each section's figures: its name made file-name safe
    (``io.files.safe_name``: ``"../../x"`` -> ``"x"``), ``-2``, ``-3``, ... added where two sections
    would share one."""
    from ..io.files import safe_name

    stems: list[str] = []
    for section in doc["sections"]:
        stem = base = safe_name(_section_name(section), fallback="section")
        k = 2
        while stem in stems:
            stem, k = f"{base}-{k}", k + 1
        stems.append(stem)
    return stems


def _first_configurations(section: dict) -> dict:
    """The section with the records of its first ``MAX_FIGURE_CONFIGURATIONS`` configurations
    (what the per-configuration figures draw), and a caption note when there are more."""
    groups = by_configuration(section["records"])
    if len(groups) <= MAX_FIGURE_CONFIGURATIONS:
        return section
    kept = set(list(groups)[:MAX_FIGURE_CONFIGURATIONS])
    return {**section, "records": [r for r in section["records"] if r["configuration"] in kept], "aggregate": None}


def figures(doc: dict) -> list[dict]:
    """Per section, ``{"figures/<stem>-<kind>.png": (caption, png bytes)}`` in order (``figure_stems``).

    Figures with a panel, bar or row per configuration draw the first ``MAX_FIGURE_CONFIGURATIONS``
    configurations of a larger study (their captions say so; the tables list every one).
    """
    out = []
    for stem, section in zip(figure_stems(doc), doc["sections"]):
        title = _section_title(section)
        n_configurations = len(by_configuration(section.get("records") or []))
        few = f" (the first {MAX_FIGURE_CONFIGURATIONS} of {n_configurations} configurations)" \
            if n_configurations > MAX_FIGURE_CONFIGURATIONS else ""
        if section["kind"] == "study":
            shown = _first_configurations(section)
            init = None if _same_rows(shown, "diagnostics_init") else \
                figure_layer_histograms(shown, "diagnostics_init", "a", "at initialization")
            made = (("cost", "cost per iteration" + few, figure_cost_curves(shown)),
                    ("learning-rate", "learning rate per epoch" + few, figure_learning_rates(shown)),
                    ("boundaries", "decision boundaries" + few, figure_decision_boundaries(shown)),
                    ("accuracy", "train and test accuracy" + few, figure_accuracy(shown)),
                    ("weights", "weights per layer after training" + few,
                     figure_layer_histograms(shown, "diagnostics", "w", "after training")),
                    ("activations", "activations per layer after training" + few,
                     figure_layer_histograms(shown, "diagnostics", "a", "after training")),
                    ("activations-init", "activations per layer at initialization" + few, init))
        elif section["kind"] == "search":
            made = (("scores", "validation accuracy against each hyperparameter", figure_search_scores(section)),
                    ("cost", f"cost per iteration of the best {BEST_CURVES} trials", figure_best_costs(section)))
        else:
            made = (("differences", "per-parameter differences", figure_gradcheck(section)),)
        out.append({f"figures/{stem}-{suffix}.png": (f"{title}: {caption}", png)
                    for suffix, caption, png in made if png is not None})
    return out
