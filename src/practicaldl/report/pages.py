"""Report pages: a self-contained ``index.html`` and a Markdown summary, written with the figures.

Reports read *data*, never a model: a results document (``report.document``: study, search and
gradient-check sections), checked first (``report.validate``). ``write_report(doc, out_dir)``
renders everything in memory, then writes the files as one set (``io.folders.FolderUpdate``:
staged, then moved into place together; an interrupt leaves the old report or the new one)::

    out_dir/results.json     the document itself (so the report can be re-rendered)
    out_dir/index.html       tables + figures embedded as base64 PNG, each linked to its file
    out_dir/summary.md       the tables in Markdown, figures linked
    out_dir/figures/*.png    (<study>: the section's name made file-name safe, io.files.safe_name)
                             <study>-cost.png        cost per iteration, every configuration, one axis
                             <study>-learning-rate.png  learning rate per epoch (when a schedule changes it)
                             <study>-boundaries.png  decision boundaries, one panel per configuration (2-D data)
                             <study>-accuracy.png    train / test accuracy, mean +- std over seeds
                             <study>-weights.png     histograms of each layer's weights after training
                             <study>-activations.png activation histograms per layer after training
                             <study>-activations-init.png  the same at initialization (when configurations differ there)
                             <search>-scores.png     validation accuracy against each sampled hyperparameter
                             <search>-cost.png       cost per iteration of the best trials
                             gradcheck-differences.png  per-parameter differences against the verdict bands

``render_report(out_dir)`` re-renders from ``out_dir/results.json`` (or, in a study folder, from
the records written there) without retraining. Figures use matplotlib's Agg canvas directly (no
pyplot state, no display needed).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from ..io.files import finite_json
from ..io.folders import REPORT_ENTRIES, FolderUpdate
from .document import (_section_title, check_results, data_table, fit_legend, hyperparameter_table, load_results,
                       section_description, section_tables)
from .figures import figure_stems, figures
from .validate import ReportError

# -- documents ------------------------------------------------------------------------------------
def _section_tables(section: dict) -> list[dict]:
    """The section's tables in page order: for a study, its data and network, every configuration's
    hyperparameters, then the results (and the failed runs); for a search, its data, then the best
    trials (their hyperparameters are in it)."""
    if section["kind"] == "study":
        return [data_table(section), hyperparameter_table(section), *section_tables(section)]
    if section["kind"] == "search":
        return [data_table(section), *section_tables(section)]
    return section_tables(section)


def _legend(section: dict) -> str:
    return fit_legend(section) if section["kind"] == "study" else ""


def markdown_table(table: dict) -> str:
    def cell(v):
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(c) for c in table["columns"]) + " |",
             "|" + "---|" * len(table["columns"])]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table["rows"]]
    return "\n".join(lines)


def render_markdown(doc: dict, figs: list) -> str:
    """The Markdown summary: notes, then per section its description, tables and figure links
    (``figs``: ``figures.figures(doc)``, one dict per section)."""
    parts = [f"# {doc.get('title', 'practicaldl report')}", ""]
    parts += [f"- {note}" for note in doc.get("notes", [])]
    for section, section_figs in zip(doc["sections"], figs):
        parts += ["", f"## {_section_title(section)}", "", section_description(section), ""]
        for table in _section_tables(section):
            parts += [f"**{table['title']}**", "", markdown_table(table), ""]
        if _legend(section):
            parts += [_legend(section), ""]
        parts += [f"![{caption}]({path})" for path, (caption, _) in section_figs.items()]
    return "\n".join(parts).rstrip() + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:.92em;max-width:100%}
caption{text-align:left;font-weight:600;padding:.2em 0}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top;overflow-wrap:break-word}
div.table{max-width:100%;overflow-x:auto}
th{background:#f0f0f0}.legend{color:#444;font-size:.9em}
@media (max-width:700px){body{margin:1em auto;padding:0 .5em}table{font-size:.8em}th,td{padding:.2em .3em}}
tr:nth-child(even) td{background:#fafafa}
figure{margin:1.5em 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}.notes{background:#f6f8fa;padding:.6em 1.2em;border-radius:6px}
"""


def _cell(value) -> str:
    """Escaped cell text that may also break after an underscore (``init_scale``, ``high_bias``)."""
    return html.escape(str(value)).replace("_", "_<wbr>")


def _html_table(table: dict) -> str:
    """A table that wraps its cells at spaces and underscores, and scrolls sideways when even that is too wide."""
    head = "".join(f"<th>{_cell(c)}</th>" for c in table["columns"])
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in table["rows"])
    return (f'<div class="table"><table><caption>{html.escape(table["title"])}</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def render_html(doc: dict, figs: list) -> str:
    """A self-contained page: tables, and every figure embedded as a base64 PNG (linked to its file)."""
    e = html.escape
    title = doc.get("title", "practicaldl report")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{e(title)}</title><style>{_CSS}</style></head><body>", f"<h1>{e(title)}</h1>"]
    if doc.get("notes"):
        parts.append('<div class="notes"><ul>' + "".join(f"<li>{e(n)}</li>" for n in doc["notes"]) + "</ul></div>")
    for stem, section, section_figs in zip(figure_stems(doc), doc["sections"], figs):
        parts.append(f'<section id="{e(stem)}"><h2>{e(_section_title(section))}</h2><p>{e(section_description(section))}</p>')
        parts += [_html_table(t) for t in _section_tables(section)]
        if _legend(section):
            parts.append(f'<p class="legend">{e(_legend(section))}</p>')
        for path, (caption, png) in section_figs.items():
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


def render_files(doc: dict, *, source=None) -> dict:
    """``{relative path: bytes}`` of the report of ``doc`` (see the module docstring), everything
    rendered in memory. ``source``: the file ``doc`` was read from; a document read from a file
    that cannot be rendered for a reason its checks did not foresee is then a ``ReportError``
    naming the file (a document practicaldl made itself is never blamed on a file)."""
    try:
        doc = check_results(finite_json(json.loads(json.dumps(doc, default=_json_default))))
        figs = figures(doc)
        files = {"results.json": json.dumps(doc, indent=1, allow_nan=False).encode("utf-8") + b"\n"}
        files.update({path: png for section_figs in figs for path, (_, png) in section_figs.items()})
        files["summary.md"] = render_markdown(doc, figs).encode("utf-8")
        files["index.html"] = render_html(doc, figs).encode("utf-8")
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
        if source is None or isinstance(exc, ReportError):
            raise
        what = f"the key {exc} is missing" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise ReportError(f"{source} cannot be rendered: {what} (a key is missing or holds the wrong kind of "
                          "value)") from exc
    return files


def write_report(doc: dict, out_dir, *, force: bool = False, source=None) -> dict:
    """Render ``doc`` and write its report into ``out_dir`` as a set (``io.folders.FolderUpdate``):
    ``results.json``, ``summary.md``, ``index.html`` and ``figures/`` replace the old ones together
    or not at all; other entries (a study's records, a demo's models) are left alone. A folder that
    practicaldl did not write is refused unless ``force``. Returns ``{relative path: final path}``.
    ``source``: as for ``render_files``.
    """
    files = render_files(doc, source=source)
    with FolderUpdate(out_dir, REPORT_ENTRIES, force=force) as update:
        return write_files(update, files)


def write_files(update: FolderUpdate, files: dict) -> dict:
    """Stage ``files`` (``render_files``) in an open ``FolderUpdate``; ``{relative path: final path}``."""
    return {rel: update.write(rel, data) for rel, data in files.items()}


def render_report(source, out_dir=None, *, force: bool = False) -> dict:
    """Re-render a report from ``source`` (a report folder or a ``results.json``) without retraining."""
    doc = load_results(source)
    source = Path(source)
    target = out_dir if out_dir is not None else (source if source.is_dir() else source.parent)
    return write_report(doc, target, force=force, source=source)
