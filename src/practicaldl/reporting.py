"""Reports from result records: tables, PNG figures, a self-contained ``index.html`` and a Markdown summary.

Reports read *data*, never a model. The input is a results document::

    {"format": "practicaldl-results", "format_version": 1, "title": str, "notes": [str, ...],
     "sections": [section, ...]}

where a section is a study (``experiments.run_study``: ``{"kind": "study", "config", "records",
"aggregate", "data"}``) or a gradient-check section (``experiments.gradcheck_study``:
``{"kind": "gradcheck", "title", "description", "checks": [{"label", "expected", "report"}]}``).

``write_report(doc, out_dir)`` renders everything in memory first, then writes, each file
atomically (temporary file + ``os.replace``)::

    out_dir/results.json     the document itself (so the report can be re-rendered)
    out_dir/index.html       tables + figures embedded as base64 PNG, each linked to its file
    out_dir/summary.md       the tables in Markdown, figures linked
    out_dir/figures/*.png    <study>-cost.png        cost per iteration, every configuration, one axis
                             <study>-boundaries.png  decision boundaries, one panel per configuration (2-D data)
                             <study>-accuracy.png    train / test accuracy, mean +- std over seeds
                             <study>-activations.png activation histograms per layer at initialization
                             gradcheck.png           per-parameter differences against the verdict bands

``render_report(out_dir)`` re-renders from ``out_dir/results.json`` without retraining. Figures
use matplotlib's Agg canvas directly (no pyplot state, no display needed).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Optional

import numpy as np

from .experiments import aggregate
from .persistence import atomic_write_bytes, atomic_write_text, read_json_file

FORMAT = "practicaldl-results"
FORMAT_VERSION = 1


class ReportError(ValueError):
    """A results document that cannot be rendered (missing, not JSON, wrong format)."""


# -- the document ------------------------------------------------------------------------------
def make_results(sections: list, *, title: str = "practicaldl report", notes: Optional[list] = None) -> dict:
    """A results document from study / gradcheck sections."""
    from . import __version__

    return {"format": FORMAT, "format_version": FORMAT_VERSION, "title": title, "practicaldl": __version__,
            "notes": list(notes or []), "sections": list(sections)}


def check_results(doc) -> dict:
    """Check the document's shape; the message says what is wrong."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ReportError(f"a results document must be a JSON object with format {FORMAT!r}")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ReportError(f"results format_version must be {FORMAT_VERSION}, got {doc.get('format_version')!r}")
    if not isinstance(doc.get("sections"), list):
        raise ReportError("results must have a list of sections")
    for i, section in enumerate(doc["sections"]):
        kind = section.get("kind") if isinstance(section, dict) else None
        if kind == "study":
            if not isinstance(section.get("records"), list) or not isinstance(section.get("config"), dict):
                raise ReportError(f"section {i} (a study) must have config and records")
        elif kind == "gradcheck":
            if not isinstance(section.get("checks"), list):
                raise ReportError(f"section {i} (gradcheck) must have a list of checks")
        else:
            raise ReportError(f"section {i} must have kind 'study' or 'gradcheck', got {kind!r}")
    return doc


def load_results(path) -> dict:
    """Read and check ``results.json`` (a file, or a report folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    return check_results(read_json_file(path, "results", ReportError))


def _section_name(section: dict) -> str:
    return section["config"]["name"] if section["kind"] == "study" else section.get("name", "gradcheck")


def _section_title(section: dict) -> str:
    if section["kind"] == "study":
        return section["config"].get("title") or f"Study {section['config']['name']}"
    return section.get("title") or "Gradient checking"


# -- tables ----------------------------------------------------------------------------------------
def _pm(mean, std, digits=3) -> str:
    if mean is None:
        return "failed"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _fit_diagnosis(row: dict, target_error: float) -> str:
    from .diagnostics import diagnose_fit

    if row["train_accuracy_mean"] is None:
        return "-"
    findings = diagnose_fit(row["train_accuracy_mean"], row["test_accuracy_mean"], target_error)
    return ", ".join(f"{f.kind} ({f.severity})" for f in findings)


def study_table(section: dict) -> dict:
    """``{"title", "columns", "rows"}``: one row per configuration, metrics as mean ± std over seeds."""
    rows_data = section.get("aggregate") or aggregate(section["records"])
    columns = ["configuration", "seeds", "train accuracy", "test accuracy", "gap (train - test)", "final cost",
               "fit time (s)", "bias / variance"]
    target_error = section["config"].get("target_error", 0.0)
    rows = []
    for r in rows_data:
        failed = f" ({r['n_failed']} failed)" if r["n_failed"] else ""
        row = [r["configuration"], f"{r['n_runs']}{failed}", _pm(r["train_accuracy_mean"], r["train_accuracy_std"]),
               _pm(r["test_accuracy_mean"], r["test_accuracy_std"]), _pm(r["gap_mean"], r["gap_std"]),
               _pm(r["final_cost_mean"], r["final_cost_std"], 4), _pm(r["time_s_mean"], r["time_s_std"], 2),
               _fit_diagnosis(r, target_error) or "-"]
        rows.append(row)
    return {"title": _section_title(section), "columns": columns, "rows": rows}


def _sci(x) -> str:
    return "-" if x is None else f"{x:.3g}"


def gradcheck_tables(section: dict) -> list[dict]:
    """An overview table (one row per check) and a per-parameter table (one row per check x parameter)."""
    overview = {"title": section.get("title") or "Gradient checking",
                "columns": ["check", "expected", "difference", "verdict", "as expected", "failing parameters"],
                "rows": []}
    detail = {"title": "Gradient checking, per parameter",
              "columns": ["check", "parameter", "difference", "verdict", "passed"], "rows": []}
    for check in section["checks"]:
        rep = check["report"]
        passed = bool(rep.get("passed"))
        as_expected = passed == (check.get("expected", "pass") == "pass")
        overview["rows"].append([check["label"], check.get("expected", "pass"), _sci(rep.get("difference")),
                                 str(rep.get("verdict", "")), "yes" if as_expected else "NO",
                                 ", ".join(rep.get("failing") or []) or "-"])
        unchecked = set(rep.get("unchecked") or ())
        for name, p in _per_parameter(rep).items():
            difference = "all kinks" if name in unchecked else _sci(p.get("difference"))
            detail["rows"].append([check["label"], name, difference, str(p.get("verdict", "")),
                                   "yes" if p.get("passed") else "no"])
    return [overview, detail]


def _per_parameter(rep: dict) -> dict:
    per = rep.get("per_parameter") or {}
    if isinstance(per, list):  # a list of {"name": ..., ...}
        per = {p.get("name", str(i)): p for i, p in enumerate(per)}
    return per


def tables(doc: dict) -> list[dict]:
    """Every table of the report, in section order."""
    out = []
    for section in doc["sections"]:
        if section["kind"] == "study":
            out.append(study_table(section))
        else:
            out.extend(gradcheck_tables(section))
    return out


def gradcheck_ok(doc: dict) -> bool:
    """True when every gradient check came out as expected (correct ones pass, planted bugs fail)."""
    for section in doc["sections"]:
        if section["kind"] == "gradcheck":
            for check in section["checks"]:
                if bool(check["report"].get("passed")) != (check.get("expected", "pass") == "pass"):
                    return False
    return True


# -- figures ---------------------------------------------------------------------------------------
def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def png_bytes(fig) -> bytes:
    """The PNG of a matplotlib ``Figure`` (Agg canvas; no timestamp metadata, so the bytes repeat)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _by_configuration(records: list) -> dict:
    groups: dict = {}
    for r in records:
        groups.setdefault(r["configuration"], []).append(r)
    return groups


def _colors(n: int):
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def figure_cost_curves(section: dict) -> bytes:
    """Cost per iteration of every configuration on one (log) axis, one thin line per seed."""
    fig = _figure(7.5, 4.2)
    ax = fig.add_subplot()
    groups = _by_configuration(section["records"])
    for color, (label, recs) in zip(_colors(len(groups)), groups.items()):
        first = True
        for r in recs:
            if not r["cost_history"]:
                continue
            ax.plot(r["cost_iterations"], r["cost_history"], color=color, lw=1.4, alpha=0.85,
                    label=label if first else None)
            first = False
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost (cross-entropy + L2 term)")
    ax.set_title(f"{_section_title(section)}: cost per iteration (one line per seed)")
    ax.grid(True, which="both", alpha=0.3)
    if groups:
        ax.legend()
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
    ax.set_xticks(x, [r["configuration"] for r in rows])
    ax.set_ylim(0, 1.2)
    ax.set_ylabel("accuracy")
    ax.set_title(f"{_section_title(section)}: accuracy (mean ± std over seeds)")
    ax.legend(loc="upper center", ncols=2)
    return png_bytes(fig)


def figure_decision_boundaries(section: dict) -> Optional[bytes]:
    """One panel per configuration (its first seed): the stored grid of class-1 probabilities,
    the 0.5 contour, training points (filled) and test points (hollow). None for non-2-D data."""
    data = section.get("data")
    groups = {k: next((r for r in v if r.get("decision_grid")), None) for k, v in _by_configuration(section["records"]).items()}
    groups = {k: v for k, v in groups.items() if v is not None}
    if not data or not groups:
        return None
    n = len(groups)
    fig = _figure(3.6 * n, 3.7)
    axes = fig.subplots(1, n, squeeze=False)[0]
    X_tr, y_tr = np.asarray(data["X_train"]), np.asarray(data["y_train"])
    X_te, y_te = np.asarray(data["X_test"]), np.asarray(data["y_test"])
    classes = np.unique(np.concatenate([y_tr, y_te]))
    for ax, (label, rec) in zip(axes, groups.items()):
        g = rec["decision_grid"]
        xs = np.linspace(g["x_min"], g["x_max"], g["n"])
        ys = np.linspace(g["y_min"], g["y_max"], g["n"])
        z = np.asarray(g["z"], dtype=float)  # (n, n): z[i, j] at (xs[j], ys[i])
        if g.get("kind", "probability") == "probability":
            ax.contourf(xs, ys, z, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.45, vmin=0, vmax=1)
            if z.min() < 0.5 < z.max():
                ax.contour(xs, ys, z, levels=[0.5], colors="k", linewidths=1.2)
        else:
            ax.contourf(xs, ys, z, cmap="tab10", alpha=0.35)
        for color, cls in zip(("#b2182b", "#2166ac", "#1b9e77", "#7570b3"), classes):
            ax.scatter(*X_tr[y_tr == cls].T, s=10, color=color, edgecolors="none")
            ax.scatter(*X_te[y_te == cls].T, s=14, facecolors="none", edgecolors=color, linewidths=0.8)
        ax.set_title(f"{label} (seed {rec['seed']})\ntrain {rec['train_accuracy']:.3f}, test {rec['test_accuracy']:.3f}",
                     fontsize=9)
        ax.set_xlim(g["x_min"], g["x_max"])
        ax.set_ylim(g["y_min"], g["y_max"])
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{_section_title(section)}: decision boundaries (filled: train, hollow: test)", fontsize=10)
    return png_bytes(fig)


def figure_activations(section: dict) -> Optional[bytes]:
    """Activation histograms per layer at initialization, one row per configuration (from the
    records' ``diagnostics_init``); None when no record has them."""
    from .diagnostic_plots import activation_histograms_figure

    reports = {}
    for label, recs in _by_configuration(section["records"]).items():
        rec = next((r for r in recs if r.get("diagnostics_init")), None)
        if rec is not None:
            reports[label] = rec["diagnostics_init"]
    if not reports:
        return None
    title = f"{_section_title(section)}: activations A_l per layer at initialization"
    return png_bytes(activation_histograms_figure(reports, title=title))


def figure_gradcheck(section: dict) -> bytes:
    """Per-parameter relative differences of every check (log scale) with the course's bands."""
    checks = section["checks"]
    names = list(dict.fromkeys(n for c in checks for n in _per_parameter(c["report"])))
    fig = _figure(max(6.0, 0.9 * len(names) * max(1, len(checks)) / 2 + 3), 4.0)
    ax = fig.add_subplot()
    x = np.arange(len(names))
    width = 0.8 / max(1, len(checks))
    for i, (color, check) in enumerate(zip(_colors(len(checks)), checks)):
        per = _per_parameter(check["report"])
        values = np.array([per.get(n, {}).get("difference") or 0.0 for n in names], dtype=float)
        positions = x - 0.4 + width * (i + 0.5)
        ax.bar(positions, np.where(values > 0, values, np.nan), width, color=color, label=check["label"])
        for pos in positions[values == 0]:  # exactly equal gradients: no bar on a log axis, say so
            ax.text(pos, 0.02, "0", ha="center", va="bottom", fontsize=9, color=color, transform=ax.get_xaxis_transform())
    ax.axhline(1e-7, color="green", ls="--", lw=1, label="1e-7: correct")
    ax.axhline(1e-3, color="red", ls="--", lw=1, label="1e-3: a bug")
    ax.set_yscale("log")
    ax.set_xticks(x, names)
    ax.set_ylabel("||g - g_num|| / (||g|| + ||g_num||)")
    ax.set_title(_section_title(section) + ": per-parameter difference")
    ax.legend(fontsize=8)
    return png_bytes(fig)


def figures(doc: dict) -> dict:
    """``{"figures/<name>.png": (caption, png bytes)}`` for the whole document, in order."""
    out = {}
    for section in doc["sections"]:
        name, title = _section_name(section), _section_title(section)
        if section["kind"] == "study":
            made = (("cost", "cost per iteration", figure_cost_curves(section)),
                    ("boundaries", "decision boundaries", figure_decision_boundaries(section)),
                    ("accuracy", "train and test accuracy", figure_accuracy(section)),
                    ("activations", "activations per layer at initialization", figure_activations(section)))
        else:
            made = (("differences", "per-parameter differences", figure_gradcheck(section)),)
        for suffix, caption, png in made:
            if png is not None:
                out[f"figures/{name}-{suffix}.png"] = (f"{title}: {caption}", png)
    return out


# -- documents ------------------------------------------------------------------------------------
def _section_tables(section: dict) -> list[dict]:
    return [study_table(section)] if section["kind"] == "study" else gradcheck_tables(section)


def _description(section: dict) -> str:
    return section["config"].get("description", "") if section["kind"] == "study" else section.get("description", "")


def markdown_table(table: dict) -> str:
    def cell(v):
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(c) for c in table["columns"]) + " |",
             "|" + "---|" * len(table["columns"])]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table["rows"]]
    return "\n".join(lines)


def render_markdown(doc: dict, figs: dict) -> str:
    """The Markdown summary: notes, then per section its description, tables and figure links."""
    parts = [f"# {doc.get('title', 'practicaldl report')}", ""]
    parts += [f"- {note}" for note in doc.get("notes", [])]
    for section in doc["sections"]:
        name = _section_name(section)
        parts += ["", f"## {_section_title(section)}", "", _description(section), ""]
        for table in _section_tables(section):
            parts += [f"**{table['title']}**", "", markdown_table(table), ""]
        for path, (caption, _) in figs.items():
            if path.startswith(f"figures/{name}-"):
                parts.append(f"![{caption}]({path})")
    return "\n".join(parts).rstrip() + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f0f0f0}
tr:nth-child(even) td{background:#fafafa}
figure{margin:1.5em 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}.notes{background:#f6f8fa;padding:.6em 1.2em;border-radius:6px}
"""


def _html_table(table: dict) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(c))}</th>" for c in table["columns"])
    body = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>" for row in table["rows"])
    return f"<table><caption>{e(table['title'])}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(doc: dict, figs: dict) -> str:
    """A self-contained page: tables, and every figure embedded as a base64 PNG (linked to its file)."""
    e = html.escape
    title = doc.get("title", "practicaldl report")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{e(title)}</title><style>{_CSS}</style></head><body>", f"<h1>{e(title)}</h1>"]
    if doc.get("notes"):
        parts.append('<div class="notes"><ul>' + "".join(f"<li>{e(n)}</li>" for n in doc["notes"]) + "</ul></div>")
    for section in doc["sections"]:
        name = _section_name(section)
        parts.append(f'<section id="{e(name)}"><h2>{e(_section_title(section))}</h2><p>{e(_description(section))}</p>')
        parts += [_html_table(t) for t in _section_tables(section)]
        for path, (caption, png) in figs.items():
            if path.startswith(f"figures/{name}-"):
                data = base64.b64encode(png).decode("ascii")
                parts.append(f'<figure><a href="{e(path)}"><img src="data:image/png;base64,{data}" '
                             f'alt="{e(caption)}" data-file="{e(path)}"></a><figcaption>{e(caption)}</figcaption></figure>')
        parts.append("</section>")
    parts.append(f"<footer><p>Made by practicaldl {e(str(doc.get('practicaldl', '')))} from results.json; "
                 "re-render with <code>practicaldl report DIR</code>.</p></footer></body></html>")
    return "\n".join(parts) + "\n"


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _strict(value):
    """NaN / inf -> None so that results.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strict(v) for v in value]
    return value


def write_report(doc: dict, out_dir) -> dict:
    """Render ``doc`` and write the report folder (see the module docstring); return the paths.

    Everything is rendered before the first write, and each file is written atomically.
    """
    doc = check_results(_strict(json.loads(json.dumps(doc, default=_json_default))))
    figs = figures(doc)
    files = {"results.json": json.dumps(doc, indent=1, allow_nan=False).encode("utf-8") + b"\n"}
    files.update({path: png for path, (_, png) in figs.items()})
    files["summary.md"] = render_markdown(doc, figs).encode("utf-8")
    files["index.html"] = render_html(doc, figs).encode("utf-8")  # last: the page appears when all is there
    out_dir = Path(out_dir)
    written = {}
    for rel, data in files.items():
        written[rel] = atomic_write_bytes(out_dir / rel, data)
    return written


def render_report(source, out_dir=None) -> dict:
    """Re-render a report from ``source`` (a report folder or a ``results.json``) without retraining."""
    doc = load_results(source)
    source = Path(source)
    target = out_dir if out_dir is not None else (source if source.is_dir() else source.parent)
    return write_report(doc, target)
