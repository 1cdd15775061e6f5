"""The results document that every report is rendered from, and its tables.

Reports read *data*, never a model. A results document is::

    {"format": "practicaldl-results", "format_version": 1, "title": str, "notes": [str, ...],
     "sections": [section, ...]}

where a section is a study (``studies.run_study``: ``{"kind": "study", "config", "records",
"aggregate", "data", "dataset"}``), a random search (``studies.search.run_search``: the same keys
with kind "search", plus ``"parameters"``), or a gradient-check section
(``studies.classic.gradcheck_study``: ``{"kind": "gradcheck", "title", "description", "checks":
[{"label", "expected", "report"}]}``). A study or search read from a half-finished study folder
has ``"partial": {"recorded", "total"}``. Tables are ``{"title", "columns", "rows"}`` dicts,
rendered by ``pages`` and the CLI; failed runs (diverged, raised, or lost with their workers) get
a table of their own.

``load_results(path)`` reads ``results.json``, or, in a study folder (``studies.store``: a
``study.json`` there), builds the document from the records written so far
(``results_from_folder``), so a report can be rendered while a study runs or after it stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..io.files import read_json_file
from ..studies.runner import aggregate
from .validate import FORMAT, FORMAT_VERSION, ReportError, check_results


# -- the document ------------------------------------------------------------------------------
def make_results(sections: list, *, title: str = "practicaldl report", notes: Optional[list] = None) -> dict:
    """A results document from study / gradcheck sections."""
    from .. import __version__

    return {"format": FORMAT, "format_version": FORMAT_VERSION, "title": title, "practicaldl": __version__,
            "notes": list(notes or []), "sections": list(sections)}


def study_results(section: dict) -> dict:
    """The results document of one study or search section (``practicaldl compare`` / ``search``):
    its title and notes, and a PARTIAL note when the section's runs are not all recorded."""
    config = section["config"]
    if section["kind"] == "search":
        title = f"practicaldl search: {config.get('title') or config['name']}"
        notes = [f"{config['trials']} trials drawn at random (seed {config['seed']}), {len(config['seeds'])} training "
                 f"seed(s) each; every trial is scored on a validation split ({config['validation_fraction']:.0%} of "
                 "the training set, drawn with the same seed): the test set plays no part in the choice."]
    else:
        title = f"practicaldl compare: {config.get('title') or config['name']}"
        notes = [f"{len(config['seeds'])} seeds per configuration: mean ± standard deviation over seeds."]
    failed = sum(r.get("error") is not None for r in section["records"])
    if failed:
        notes.append(f"{failed} of {len(section['records'])} runs failed: see the table of failed runs.")
    if section.get("partial"):
        part = section["partial"]
        notes.insert(0, f"PARTIAL: {part['recorded']} of {part['total']} runs recorded so far; run the study's "
                        "command again (or with --resume DIR) to finish it.")
    return make_results([section], title=title, notes=notes)


def results_from_folder(path) -> dict:
    """The results document of a study folder, from the records written there so far."""
    from ..studies.runner import section_from_folder
    from ..studies.store import StudyMismatch

    try:
        return study_results(section_from_folder(path))
    except StudyMismatch as exc:
        raise ReportError(str(exc)) from exc


def load_results(path) -> dict:
    """Read and check ``results.json`` (a file, or a report folder holding one); in a study
    folder, the document of the records there (``results_from_folder``)."""
    from ..studies.store import StudyFolder

    path = Path(path)
    if path.is_dir() and StudyFolder.holds_study(path):
        return check_results(results_from_folder(path))
    if path.is_dir():
        path = path / "results.json"
    return check_results(read_json_file(path, "results", ReportError))


def _section_name(section: dict) -> str:
    return section["config"]["name"] if section["kind"] in ("study", "search") else section.get("name", "gradcheck")


def _section_title(section: dict) -> str:
    if section["kind"] == "study":
        return section["config"].get("title") or f"Study {section['config']['name']}"
    if section["kind"] == "search":
        return section["config"].get("title") or f"Random search {section['config']['name']}"
    return section.get("title") or "Gradient checking"


def section_description(section: dict) -> str:
    """The section's description; for a search without one, what was searched and how."""
    if section["kind"] == "gradcheck":
        return section.get("description", "")
    config = section["config"]
    if config.get("description") or section["kind"] == "study":
        return config.get("description", "")
    names = ", ".join(p["name"] for p in section["parameters"]) or "nothing (every setting fixed)"
    return (f"Random search on {config['dataset']} over {names}: {config['trials']} trials x "
            f"{len(config['seeds'])} seed(s), {config['max_iter']} iterations each; validation accuracy is the "
            f"accuracy on {config['validation_fraction']:.0%} of the training set held out.")


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
    if "hidden_layer_sizes" in config.get("space", {}):
        return f"hidden layer widths searched (see the trials), {config.get('activation', 'relu')} hidden layers"
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


HYPERPARAMETERS = ("init", "init_scale", "learning_rate", "max_iter", "batch_size", "l2", "keep_prob", "optimizer",
                   "learning-rate decay")


def optimizer_text(name: str, settings: dict) -> str:
    """``"adam (beta1 0.9, beta2 0.999, epsilon 1e-08)"``: an optimizer and the settings it uses
    (``settings``: a run's config, or ``Optimizer.describe()``; those missing take their defaults)."""
    from ..engine.optimizers import DEFAULT_SETTINGS, OPTIMIZERS

    cls = OPTIMIZERS.get(name)
    used = [k for k in (cls.hyperparameters if cls else ()) if k in DEFAULT_SETTINGS]
    text = ", ".join(f"{k} {settings.get(k, DEFAULT_SETTINGS[k]):g}" for k in used)
    return f"{name} ({text})" if text else str(name)


def decay_text(decay_rate, decay_interval) -> str:
    """The learning-rate decay of a run, as its rule (``"lr0 / (1 + 1 floor(epoch / 1000))"``), or "none"."""
    from ..engine.schedules import make_schedule

    schedule = make_schedule(decay_rate, decay_interval)
    return "none" if schedule is None else schedule.describe()


def _hyperparameter(config: dict, key: str) -> str:
    if key == "batch_size" and config.get(key) is None:
        return "full batch"
    if key == "optimizer":
        return optimizer_text(config.get("optimizer", "gd"), config)
    if key == "learning-rate decay":
        return decay_text(config.get("decay_rate"), config.get("decay_interval"))
    return str(config.get(key))


def hyperparameter_table(section: dict) -> dict:
    """``{"title", "columns", "rows"}``: every hyperparameter of every configuration (from the records)."""
    rows = []
    for label, records in by_configuration(section["records"]).items():
        config = records[0]["config"]
        rows.append([label, *(_hyperparameter(config, k) for k in HYPERPARAMETERS),
                     ", ".join(str(r["seed"]) for r in records)])
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


def failed_runs_table(section: dict) -> Optional[dict]:
    """One row per failed run (status, the error's first line), or None when none failed."""
    failed = [r for r in section["records"] if r.get("error") is not None]
    if not failed:
        return None
    return {"title": f"{_section_title(section)}: failed runs ({len(failed)} of {len(section['records'])})",
            "columns": ["run", "configuration", "seed", "status", "error"],
            "rows": [[r["run_id"], r["configuration"], r["seed"], r.get("status") or "error",
                      str(r["error"]).splitlines()[0] if r["error"] else ""] for r in failed]}


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_value(v) for v in value)
    return str(value)


def trial_value(record: dict, parameter: dict):
    """The value of a search ``parameter`` in a trial's record (a layer's width for ``name[j]``)."""
    value = record["config"][parameter["setting"]]
    return value if parameter["layer"] is None else value[parameter["layer"]]


def best_trials(section: dict) -> list[tuple[dict, dict]]:
    """``(aggregate row, first record)`` per trial that trained, best validation accuracy first
    (ties: lower final cost, then trial order)."""
    firsts = {}
    for r in section["records"]:
        firsts.setdefault(r["configuration"], r)
    rows = [row for row in (section.get("aggregate") or aggregate(section["records"]))
            if row["test_accuracy_mean"] is not None]
    order = sorted(range(len(rows)), key=lambda i: (-rows[i]["test_accuracy_mean"], rows[i]["final_cost_mean"], i))
    return [(rows[i], firsts[rows[i]["configuration"]]) for i in order]


def search_table(section: dict) -> dict:
    """The best trials (``config["top"]`` rows): their sampled values and scores (mean ± std over seeds)."""
    params = section["parameters"]
    top = section["config"].get("top", 10)
    columns = (["rank", "trial"] + [p["name"] for p in params] +
               ["validation accuracy", "train accuracy", "gap (train - validation)", "final cost", "seeds"])
    rows = []
    for rank, (row, record) in enumerate(best_trials(section)[:top], 1):
        failed = f" ({row['n_failed']} failed)" if row["n_failed"] else ""
        rows.append([rank, row["configuration"]] + [_value(trial_value(record, p)) for p in params] +
                    [_pm(row["test_accuracy_mean"], row["test_accuracy_std"]),
                     _pm(row["train_accuracy_mean"], row["train_accuracy_std"]), _pm(row["gap_mean"], row["gap_std"]),
                     _pm(row["final_cost_mean"], row["final_cost_std"], 4), f"{row['n_runs']}{failed}"])
    n_trials = len({r["configuration"] for r in section["records"]})
    return {"title": f"{_section_title(section)}: the best {len(rows)} of {n_trials} trials", "columns": columns,
            "rows": rows}


def section_tables(section: dict) -> list[dict]:
    """The result tables of one section, in order (the failed runs last, when there are any): what
    the command line shows; a page adds the data and hyperparameter tables (``pages``)."""
    if section["kind"] == "gradcheck":
        return gradcheck_tables(section)
    main = study_table(section) if section["kind"] == "study" else search_table(section)
    failed = failed_runs_table(section)
    return [main] if failed is None else [main, failed]


def _sci(x) -> str:
    return "-" if x is None else f"{x:.3g}"


def _as_expected(check: dict) -> bool:
    """A check expected to pass passed; one expected to fail (a planted bug) was caught: its verdict is
    "look closer" or "bug" ("inconclusive" is not a catch)."""
    rep = check["report"]
    if check.get("expected", "pass") == "pass":
        return bool(rep.get("passed"))
    return not rep.get("passed") and rep.get("verdict", "bug") in ("look closer", "bug")


def _why(p: dict) -> str:
    """The cause of a verdict other than right, and the step of a second look."""
    parts = [str(p["cause"])] if p.get("cause") else []
    if p.get("second_look") and p.get("step") is not None:
        parts.append(f"second look at step {p['step']:.1e}")
    return "; ".join(parts) or "-"


def gradcheck_tables(section: dict) -> list[dict]:
    """An overview table (one row per check) and a per-parameter table (one row per check x parameter).

    Verdicts are "right", "inconclusive", "look closer" and "bug"; the per-parameter table says why
    a parameter is not right (its cause) and when a second look was taken.
    """
    overview = {"title": section.get("title") or "Gradient checking",
                "columns": ["check", "expected", "difference", "verdict", "as expected", "failing parameters"],
                "rows": []}
    detail = {"title": "Gradient checking, per parameter",
              "columns": ["check", "parameter", "difference", "verdict", "passed", "why"], "rows": []}
    for check in section["checks"]:
        rep = check["report"]
        overview["rows"].append([check["label"], check.get("expected", "pass"), _sci(rep.get("difference")),
                                 str(rep.get("verdict", "")), "yes" if _as_expected(check) else "NO",
                                 ", ".join(rep.get("failing") or []) or "-"])
        unchecked = set(rep.get("unchecked") or ())
        for name, p in _per_parameter(rep).items():
            difference = "all kinks" if name in unchecked else _sci(p.get("difference"))
            detail["rows"].append([check["label"], name, difference, str(p.get("verdict", "")),
                                   "yes" if p.get("passed") else "no", _why(p)])
    return [overview, detail]


def _per_parameter(rep: dict) -> dict:
    per = rep.get("per_parameter") or {}
    if isinstance(per, list):  # a list of {"name": ..., ...}
        per = {p.get("name", str(i)): p for i, p in enumerate(per)}
    return per


def tables(doc: dict) -> list[dict]:
    """Every table of the report, in section order."""
    return [table for section in doc["sections"] for table in section_tables(section)]


def gradcheck_ok(doc: dict) -> bool:
    """True when every gradient check came out as expected (correct ones pass, planted bugs are caught)."""
    return all(_as_expected(check) for section in doc["sections"] if section["kind"] == "gradcheck"
               for check in section["checks"])
