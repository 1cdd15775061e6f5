"""The results document that every report is rendered from, and its tables.

Reports read *data*, never a model. A results document is::

    {"format": "practicaldl-results", "format_version": 1, "title": str, "notes": [str, ...],
     "sections": [section, ...]}

where a section is a study (``studies.run_study``: ``{"kind": "study", "config", "records",
"aggregate", "data", "dataset"}``) or a gradient-check section (``studies.classic.gradcheck_study``:
``{"kind": "gradcheck", "title", "description", "checks": [{"label", "expected", "report"}]}``).
Tables are ``{"title", "columns", "rows"}`` dicts, rendered by ``pages`` and the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..io.files import read_json_file
from ..studies.runner import aggregate

FORMAT = "practicaldl-results"
FORMAT_VERSION = 1


class ReportError(ValueError):
    """A results document that cannot be rendered (missing, not JSON, wrong format)."""


# -- the document ------------------------------------------------------------------------------
def make_results(sections: list, *, title: str = "practicaldl report", notes: Optional[list] = None) -> dict:
    """A results document from study / gradcheck sections."""
    from .. import __version__

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
def _join(values, limit: int = 12) -> str:
    values = [str(v) for v in values]
    return ", ".join(values[:limit]) + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _preprocessing_text(pre) -> str:
    if not isinstance(pre, dict):
        return str(pre or "none")
    parts = []
    if pre.get("numeric"):
        what = "standardized" if pre.get("standardize") else "as they are (not standardized)"
        parts.append(f"numeric columns {what}: {_join(pre['numeric'])}")
    if pre.get("categorical"):
        parts.append("categorical columns one-hot encoded: " + _join(
            f"{c} ({len(k)})" for c, k in (pre.get("categories") or {}).items()))
    if pre.get("impute"):
        parts.append(f"missing values imputed ({pre['impute']} of the training rows; text: most frequent)")
    return "; ".join(parts) + f"; {pre.get('n_features_out', '?')} network inputs"


def _network_text(section: dict) -> str:
    config, dataset = section["config"], section.get("dataset") or {}
    n_x = dataset.get("n_features")
    classes = dataset.get("classes") or {}
    n_out = (1 if len(classes) == 2 else len(classes)) if classes else None
    dims = [n_x if n_x is not None else "n_x", *config["hidden_layer_sizes"], n_out if n_out else "n_out"]
    output = "sigmoid output (2 classes)" if n_out == 1 else f"softmax output ({len(classes)} classes)" if n_out \
        else "sigmoid or softmax output"
    return f"layer sizes [{', '.join(str(d) for d in dims)}], {config.get('activation', 'relu')} hidden layers, {output}"


def data_table(section: dict) -> dict:
    """``{"title", "columns", "rows"}``: what the study's data and network are (from ``section["dataset"]``)."""
    d = section.get("dataset") or {}
    rows = [["data set", d.get("file") or d.get("name") or section["config"].get("dataset", "?")]]
    if d.get("kind") == "table":
        rows += [["rows", f"{d['rows']} in the file" + (f", {d['missing']['rows_dropped']} dropped for missing values"
                                                       if d.get("missing", {}).get("rows_dropped") else "")],
                 ["columns", f"{len(d['columns'])}: {_join(d['columns'])}"],
                 ["target", d["target"]],
                 ["features", f"{len(d['features'])}: {_join(d['features'])}"],
                 ["missing values", d.get("missing", {}).get("policy", "refuse")]]
    elif d:
        rows += [["rows", str(d.get("rows", "?"))], ["features", str(d.get("n_features", "?"))]]
    if d.get("classes"):
        rows.append(["classes (training rows)", _join(f"{c}: {n}" for c, n in d["classes"].items())])
    if d:
        rows.append(["preprocessing", _preprocessing_text(d.get("preprocessing"))])
        split = d.get("split") or {}
        rows.append(["train / test", f"{split.get('train_rows', '?')} / {split.get('test_rows', '?')} rows: "
                                     f"{split.get('description', '')}"])
        rows += [["warning", w] for w in d.get("warnings") or []]
    rows.append(["network", _network_text(section)])
    return {"title": "Data and network", "columns": ["item", "value"], "rows": rows}


HYPERPARAMETERS = ("init", "init_scale", "learning_rate", "max_iter", "batch_size", "l2", "keep_prob")


def hyperparameter_table(section: dict) -> dict:
    """``{"title", "columns", "rows"}``: every hyperparameter of every configuration (from the records)."""
    rows = []
    for label, records in by_configuration(section["records"]).items():
        config = records[0]["config"]
        rows.append([label, *("full batch" if k == "batch_size" and config.get(k) is None else str(config.get(k))
                              for k in HYPERPARAMETERS), ", ".join(str(r["seed"]) for r in records)])
    return {"title": "Hyperparameters (every configuration)", "columns": ["configuration", *HYPERPARAMETERS, "seeds"],
            "rows": rows}


def by_configuration(records: list) -> dict:
    """``{configuration: [records]}`` in first-seen order."""
    groups: dict = {}
    for r in records:
        groups.setdefault(r["configuration"], []).append(r)
    return groups


def fit_legend(section: dict) -> str:
    """What the bias / variance column's codes mean, with this study's numbers."""
    from ..diagnostics.findings import THRESHOLDS as T

    target = section["config"].get("target_error", 0.0)
    return (f"Bias / variance column: high_bias = avoidable bias (train error - target error) above "
            f"{T['avoidable_bias']:.0%} (warning) or {T['avoidable_bias_info']:.0%} (info): the network underfits; "
            f"try a bigger network, longer training or less regularization. high_variance = variance (test error - "
            f"train error) above {T['variance']:.0%} (warning) or {T['variance_info']:.0%} (info): it overfits; try "
            f"more data, L2, dropout or a smaller network. fit_ok = neither. The larger problem is named first. "
            f"Target error of this study (human-level or Bayes error): {target:.0%}.")


def _pm(mean, std, digits=3) -> str:
    if mean is None:
        return "failed"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _fit_diagnosis(row: dict, target_error: float) -> str:
    from ..diagnostics.fit import diagnose_fit

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
