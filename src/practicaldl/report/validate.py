"""Checks of a results document before anything is drawn: its shape, its types and its sizes.

A ``results.json`` (or a study folder's records) may come from anywhere, so ``check_results``
checks what the tables and figures read: the document's keys, every section's kind and keys, every
record's keys and types, and what a section asks to allocate, against ``io.limits``: at most
``MAX_RUNS`` records, decision grids of at most ``MAX_GRID_POINTS`` a side whose ``z`` is the
``n x n`` it claims, cost curves, data points, layers and histogram bins of bounded length. The
message names the section, the record and the key ("section 0, record 3: 'seed' must be an
integer, got 'x'"). A section's ``aggregate`` is recomputed from its records, so that the tables
never disagree with them.
"""

from __future__ import annotations

import math
import numbers

from ..io.limits import MAX_GRID_POINTS, MAX_RUNS

FORMAT = "practicaldl-results"
FORMAT_VERSION = 1
MAX_SECTIONS = 100
MAX_CURVE_POINTS = 100_000  # a cost curve's points (a study keeps 400)
MAX_POINTS = 1_000_000  # 2-D data points drawn under the decision boundaries
MAX_LAYERS = 100
MAX_BINS = 10_000
MAX_PARAMETERS = 10_000  # gradient-check parameters, searched hyperparameters
METRICS = ("train_accuracy", "test_accuracy", "gap", "final_cost", "time_s")


class ReportError(ValueError):
    """A results document that cannot be rendered (missing, not JSON, wrong format)."""


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class _Checker:
    """Raise ``ReportError`` naming where in the document (``where``) a rule is broken."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, rule: str, value=None):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ReportError(f"{self.where}: {rule}" + ("" if value is None else f", got {shown}"))

    def get(self, d: dict, key: str, kinds, rule: str, *, optional: bool = False):
        if key not in d:
            if optional:
                return None
            self.fail(f"the key {key!r} is missing")
        value = d[key]
        if optional and value is None:
            return None
        if not kinds(value):
            self.fail(f"{key!r} must be {rule}", value)
        return value

    def sized(self, d: dict, key: str, limit: int, *, optional: bool = False) -> list:
        value = self.get(d, key, lambda v: isinstance(v, list), "a list", optional=optional)
        if value is not None and len(value) > limit:
            self.fail(f"{key!r} has {len(value)} entries, more than the {limit} a report draws")
        return value or []


def check_results(doc) -> dict:
    """Check a results document (see the module docstring); return it, aggregates recomputed."""
    from ..studies.runner import aggregate

    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ReportError(f"a results document must be a JSON object with format {FORMAT!r}")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ReportError(f"results format_version must be {FORMAT_VERSION}, got {doc.get('format_version')!r}")
    top = _Checker("results")
    if not isinstance(doc.get("sections"), list):
        raise ReportError("results must have a list of sections")
    top.sized(doc, "sections", MAX_SECTIONS)
    top.get(doc, "title", lambda v: isinstance(v, str), "text", optional=True)
    notes = top.sized(doc, "notes", 1000, optional=True)
    if not all(isinstance(n, str) for n in notes):
        top.fail("'notes' must be a list of text")
    for i, section in enumerate(doc["sections"]):
        kind = section.get("kind") if isinstance(section, dict) else None
        if kind in ("study", "search"):
            _check_study(section, i, kind)
            section["aggregate"] = aggregate(section["records"])
        elif kind == "gradcheck":
            _check_gradcheck(section, i)
        else:
            raise ReportError(f"section {i} must have kind 'study', 'search' or 'gradcheck', got {kind!r}")
    return doc


def _text(v) -> bool:
    return isinstance(v, str)


def _check_study(section: dict, i: int, kind: str) -> None:
    c = _Checker(f"section {i} (a {kind})")
    if not isinstance(section.get("records"), list) or not isinstance(section.get("config"), dict):
        c.fail("it must have config and records")
    config = section["config"]
    c.get(config, "name", _text, "text")
    for key in ("title", "description"):
        c.get(config, key, _text, "text", optional=True)
    seeds = c.sized(config, "seeds", MAX_RUNS)
    c.get(config, "target_error", _is_number, "a number", optional=True)
    records = c.sized(section, "records", MAX_RUNS)
    for j, record in enumerate(records):
        _check_record(record, _Checker(f"section {i}, record {j}"))
    if section.get("data") is not None:
        _check_points(section["data"], c)
    if section.get("dataset") is not None and not isinstance(section["dataset"], dict):
        c.fail("'dataset' must be an object", section["dataset"])
    if section.get("partial") is not None:
        part = c.get(section, "partial", lambda v: isinstance(v, dict), "an object")
        c.get(part, "recorded", _is_int, "an integer")
        c.get(part, "total", _is_int, "an integer")
    if kind == "search":
        for key in ("trials", "seed", "top"):
            c.get(config, key, _is_int, "an integer")
        c.get(config, "validation_fraction", _is_number, "a number")
        if not seeds:
            c.fail("'seeds' must list at least one seed")
        parameters = c.sized(section, "parameters", MAX_PARAMETERS)
        for p in parameters:
            _check_parameter(p, c, records)
    elif not seeds:
        c.fail("'seeds' must list at least one seed")


def _check_record(record, c: _Checker) -> None:
    if not isinstance(record, dict):
        c.fail("a record must be an object", record)
    for key in ("study", "configuration", "run_id"):
        c.get(record, key, _text, "text")
    c.get(record, "seed", _is_int, "an integer")
    c.get(record, "config", lambda v: isinstance(v, dict), "an object")
    c.get(record, "error", _text, "text or null", optional=True)
    c.get(record, "status", _text, "text or null", optional=True)
    for key in METRICS:
        c.get(record, key, _is_number, "a number or null", optional=True)
    iterations = c.sized(record, "cost_iterations", MAX_CURVE_POINTS)
    history = c.sized(record, "cost_history", MAX_CURVE_POINTS)
    if len(iterations) != len(history) or not all(_is_number(v) for v in iterations) \
            or not all(v is None or _is_number(v) for v in history):
        c.fail("'cost_iterations' and 'cost_history' must be lists of numbers of the same length")
    if record.get("decision_grid") is not None:
        _check_grid(record["decision_grid"], c)
    for key in ("diagnostics", "diagnostics_init"):
        if record.get(key) is not None:
            _check_diagnostics(record[key], _Checker(f"{c.where}, {key}"))


def _finite(v) -> bool:
    return _is_number(v) and math.isfinite(v)


def _check_grid(grid, c: _Checker) -> None:
    c = _Checker(f"{c.where}, decision_grid")
    if not isinstance(grid, dict):
        c.fail("it must be an object", grid)
    n = c.get(grid, "n", _is_int, "an integer")
    if not 2 <= n <= MAX_GRID_POINTS:
        c.fail(f"'n' (points per side) must be in [2, {MAX_GRID_POINTS}]", n)
    for low, high in (("x_min", "x_max"), ("y_min", "y_max")):
        lo, hi = c.get(grid, low, _finite, "a finite number"), c.get(grid, high, _finite, "a finite number")
        if not lo < hi:
            c.fail(f"{low!r} must be below {high!r}", [lo, hi])
    if grid.get("kind", "probability") not in ("probability", "class_index"):
        c.fail("'kind' must be 'probability' or 'class_index'", grid.get("kind"))
    z = c.get(grid, "z", lambda v: isinstance(v, list), "a list")
    if len(z) != n or not all(isinstance(row, list) and len(row) == n and all(_finite(v) for v in row) for row in z):
        c.fail(f"'z' must be {n} rows of {n} finite numbers (n = {n})")


def _check_points(data, c: _Checker) -> None:
    if not isinstance(data, dict):
        c.fail("'data' must be an object of 2-D points", data)
    for split in ("train", "test"):
        X = c.sized(data, f"X_{split}", MAX_POINTS)
        y = c.sized(data, f"y_{split}", MAX_POINTS)
        if len(X) != len(y) or not all(isinstance(p, list) and len(p) == 2 and all(_finite(v) for v in p) for p in X):
            c.fail(f"'data.X_{split}' must be pairs of finite numbers, one per label in 'data.y_{split}'")
        if not all(isinstance(v, (numbers.Real, str)) for v in y):
            c.fail(f"'data.y_{split}' must hold numbers or text")


def _check_diagnostics(report, c: _Checker) -> None:
    if not isinstance(report, dict):
        c.fail("it must be an object", report)
    layers = c.sized(report, "layers", MAX_LAYERS)
    if not layers:
        c.fail("'layers' must list at least one layer")
    for layer in layers:
        if not isinstance(layer, dict):
            c.fail("each layer must be an object", layer)
        c.get(layer, "layer", _is_int, "an integer")
        for key in ("a_hist", "w_hist", "z_hist"):
            hist = c.get(layer, key, lambda v: isinstance(v, dict), "an object", optional=True)
            if hist is None:
                continue
            counts, edges = c.sized(hist, "counts", MAX_BINS), c.sized(hist, "edges", MAX_BINS + 1)
            if not all(_finite(v) for v in counts + edges) or (counts and len(edges) != len(counts) + 1):
                c.fail(f"{key!r} must hold finite counts and one more edge than counts")
    findings = c.sized(report, "findings", 10 * MAX_LAYERS, optional=True)
    if not all(isinstance(f, dict) for f in findings):
        c.fail("'findings' must be a list of objects")


def _check_parameter(p, c: _Checker, records: list) -> None:
    if not isinstance(p, dict):
        c.fail("each parameter must be an object", p)
    for key in ("name", "setting", "kind"):
        c.get(p, key, _text, "text")
    layer = c.get(p, "layer", _is_int, "an integer", optional=True)
    for key in ("one_minus", "log_axis"):
        c.get(p, key, lambda v: isinstance(v, bool), "true or false")
    for record in records:  # every trial must hold the value that the figures and tables read
        value = record["config"].get(p["setting"])
        if layer is not None:
            value = value[layer] if isinstance(value, list) and -len(value) <= layer < len(value) else None
        if value is None or (p["kind"] != "choice" and not _is_number(value)):
            c.fail(f"record {record['run_id']!r} has no value of the searched {p['name']!r}")


def _check_gradcheck(section: dict, i: int) -> None:
    c = _Checker(f"section {i} (gradcheck)")
    checks = c.sized(section, "checks", MAX_PARAMETERS)
    for key in ("name", "title", "description"):
        c.get(section, key, _text, "text", optional=True)
    for j, check in enumerate(checks):
        cc = _Checker(f"section {i}, check {j}")
        if not isinstance(check, dict):
            cc.fail("a check must be an object", check)
        cc.get(check, "label", _text, "text")
        cc.get(check, "expected", lambda v: v in ("pass", "fail"), "'pass' or 'fail'", optional=True)
        report = cc.get(check, "report", lambda v: isinstance(v, dict), "an object")
        cc.get(report, "difference", _is_number, "a number or null", optional=True)
        per = report.get("per_parameter") or {}
        if not isinstance(per, (dict, list)) or len(per) > MAX_PARAMETERS:
            cc.fail(f"'per_parameter' must be an object or a list of at most {MAX_PARAMETERS} entries")
        entries = per.values() if isinstance(per, dict) else per
        for p in entries:
            if not isinstance(p, dict):
                cc.fail("each 'per_parameter' entry must be an object", p)
            cc.get(p, "difference", _is_number, "a number or null", optional=True)
            cc.get(p, "step", _is_number, "a number or null", optional=True)
        for key in ("failing", "unchecked"):
            if not all(isinstance(v, str) for v in cc.sized(report, key, MAX_PARAMETERS, optional=True)):
                cc.fail(f"{key!r} must be a list of parameter names")
