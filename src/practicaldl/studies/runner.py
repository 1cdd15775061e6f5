"""Running a study: one record per run, JSON-serialisable, wherever the runs execute.

``StudyConfig.expand()`` (``studies.config``) gives one ``RunConfig`` per (configuration, seed);
``run_one(run, data=data)`` trains one ``NeuralNetClassifier(random_state=seed)`` and returns a record::

    {"study", "configuration", "run_id", "seed", "key" (``store.run_key``), "config": {...RunConfig fields...},
     "status": "ok" | "diverged" (NumericalError) | "error" (the run raised) | "lost" (its worker died
     more than the retry count), "train_accuracy", "test_accuracy", "gap" (= train - test),
     "final_cost", "n_iter", "cost_iterations", "cost_history" (at most ``MAX_COST_POINTS`` points,
     first and last kept), "learning_rate_history" (the rate of each of those iterations), "time_s", "model_path" (or None), "decision_grid" (2-D data: class-1
     probabilities on a ``grid_points`` x ``grid_points`` grid over the data's bounding box, or
     None), "diagnostics_init", "diagnostics" (``diagnostics.diagnose`` at initialization and
     after training, first seed of each configuration only, or None), "error" (None, or why it
     failed: one line), "traceback" (None, or the traceback of a run that raised)}

A run is a pure function of its ``RunConfig`` and its data (every draw comes from
``random_state=seed``), so its record is the same, apart from ``time_s``, wherever it runs.
``run_study(config, jobs=..., scheduler=..., out=...)`` loads the data once in this process
(``data.load_study_data``), runs every run through an executor (``executors``: joblib
processes, or a Dask cluster with the data scattered once per worker), writes each record to the
study folder ``out`` as it arrives (``store``: an interrupted study keeps its finished runs and
resumes) and returns the records in ``expand()`` order. ``aggregate(records)`` gives mean and
standard deviation over seeds per configuration.
"""

from __future__ import annotations

import time
import traceback
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..diagnostics.inputs import SubnormalInputWarning
from ..engine.loop import NumericalError
from .config import RunConfig, StudyConfig
from .data import data_checksum, dataset_points, load_study_data
from .executors import RETRIES, Crashed, Lost, check_jobs, make_executor
from .store import StudyFolder, run_key

MAX_COST_POINTS = 400
METRICS = ("train_accuracy", "test_accuracy", "gap", "final_cost", "time_s")


# -- one run ------------------------------------------------------------------------------------
def _downsample(history: list) -> tuple[list[int], list[float]]:
    n = len(history)
    if n <= MAX_COST_POINTS:
        idx = np.arange(n)
    else:
        idx = np.unique(np.linspace(0, n - 1, MAX_COST_POINTS).round().astype(int))
    return [int(i) + 1 for i in idx], [float(history[i]) for i in idx]


def decision_grid(clf, X_all: np.ndarray, n: int) -> dict:
    """Class-1 probability of ``clf`` on an ``n x n`` grid over the bounding box of ``X_all`` (2-D).

    ``z[i][j]`` is the probability at ``(x[j], y[i])``, rounded to 4 decimals; the box is the
    data's range widened by 10% on each side.
    """
    lo, hi = X_all.min(axis=0), X_all.max(axis=0)
    pad = 0.1 * np.maximum(hi - lo, 1e-9)
    lo, hi = lo - pad, hi + pad
    xs, ys = np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n)
    xx, yy = np.meshgrid(xs, ys)  # (n, n)
    proba = clf.predict_proba(np.column_stack([xx.ravel(), yy.ravel()]))  # (n*n, K)
    z = proba[:, 1] if proba.shape[1] == 2 else np.argmax(proba, axis=1).astype(float)
    return {"x_min": float(lo[0]), "x_max": float(hi[0]), "y_min": float(lo[1]), "y_max": float(hi[1]), "n": int(n),
            "kind": "probability" if proba.shape[1] == 2 else "class_index",
            "z": np.round(z.reshape(n, n), 4).tolist()}


def _diagnostics(clf, data) -> tuple[Optional[dict], Optional[dict]]:
    """``diagnostics.diagnose`` of the network at initialization and after training (as dicts)."""
    from sklearn.base import clone

    from .. import diagnostics

    at_init = diagnostics.diagnose(clone(clf), data.X_train, data.y_train).to_dict()
    trained = diagnostics.diagnose(clf, data.X_train, data.y_train).to_dict()
    return at_init, trained


def empty_record(run: RunConfig, key: str, status: str = "ok", error: Optional[str] = None,
                 trace: Optional[str] = None) -> dict:
    """A record with every field, the results unset (the shape of a failed run's record)."""
    return {"study": run.study, "configuration": run.configuration, "run_id": run.run_id, "seed": run.seed,
            "key": key, "config": run.to_dict(), "status": status, "train_accuracy": None, "test_accuracy": None,
            "gap": None, "final_cost": None, "n_iter": None, "cost_iterations": [], "cost_history": [],
            "learning_rate_history": [],
            "time_s": None, "model_path": None, "decision_grid": None, "diagnostics_init": None, "diagnostics": None,
            "error": error, "traceback": trace}


def _train(run: RunConfig, data, key: str):
    """``(record, fitted classifier or None)`` for one run on ``data``."""
    from ..estimator import NeuralNetClassifier

    clf = NeuralNetClassifier(**run.estimator_params())
    record = empty_record(run, key)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():  # the study's data description carries this warning, once
            warnings.simplefilter("ignore", SubnormalInputWarning)
            clf.fit(data.X_train, data.y_train)
    except NumericalError as exc:
        record.update(time_s=time.perf_counter() - start, status="diverged", error=str(exc))
        return record, None
    record["time_s"] = time.perf_counter() - start
    train_acc, test_acc = float(clf.score(data.X_train, data.y_train)), float(clf.score(data.X_test, data.y_test))
    iters, costs = _downsample(clf.cost_history_)
    record.update(train_accuracy=train_acc, test_accuracy=test_acc, gap=train_acc - test_acc,
                  final_cost=float(clf.cost_history_[-1]), n_iter=int(clf.n_iter_), cost_iterations=iters,
                  cost_history=costs, learning_rate_history=[float(clf.learning_rate_history_[i - 1]) for i in iters])
    if data.X_train.shape[1] == 2 and run.grid_points:
        record["decision_grid"] = decision_grid(clf, np.vstack([data.X_train, data.X_test]), run.grid_points)
    if run.diagnose:
        record["diagnostics_init"], record["diagnostics"] = _diagnostics(clf, data)
    return record, clf


def _model_path(model_dir: Path, npz_path: Path) -> str:
    return str(Path(model_dir.name) / npz_path.name)


def run_one(run: RunConfig, model_dir=None, *, data=None) -> dict:
    """Train one network for ``run`` and return its result record (see the module docstring).

    ``data`` (a ``Dataset``) is the data to train on, default ``load_study_data(run)``. With
    ``model_dir`` the fitted model is saved there as ``<run_id>.npz`` + ``.json`` and
    ``model_path`` is that path (relative to ``model_dir``'s parent). A run that diverges is
    recorded (``status="diverged"``); any other exception propagates.
    """
    data = load_study_data(run) if data is None else data
    record, clf = _train(run, data, run_key(run, data_checksum(data)))
    if model_dir is not None and clf is not None:
        from ..io.models import encode_model, write_model_files

        npz_path, _ = write_model_files(run.run_id, *encode_model(clf, run.run_id, data=data), root=model_dir)
        record["model_path"] = _model_path(Path(model_dir), npz_path)
    return record


def _attempt(item, data) -> dict:
    """What a worker does for one run: train it, encode its model; an exception becomes a record."""
    run, key, keep_model = item
    try:
        record, clf = _train(run, data, key)
        model = None
        if keep_model and clf is not None:
            from ..io.models import encode_model

            model = encode_model(clf, run.run_id, data=data)
    except Exception as exc:  # a run that raises is a result of its configuration: recorded, the study goes on
        first_line = (str(exc).splitlines() or [""])[0]
        record, model = empty_record(run, key, "error", f"{type(exc).__name__}: {first_line}",
                                     traceback.format_exc()), None
    return {"record": record, "model": model}


# -- progress ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Progress:
    """Where a study stands; ``on_progress`` gets one when the runs start and after each run.

    ``done`` counts every run with a record, ``recorded_before`` those found in the study folder
    at the start; ``failed`` the done runs whose status is not "ok"; ``running`` the runs on the
    workers (at most their number); ``elapsed_s`` the time since the runs started (after the
    cluster, if any, came up).
    """

    total: int
    done: int
    failed: int
    running: int
    recorded_before: int
    elapsed_s: float

    @property
    def eta_s(self) -> Optional[float]:
        """Time left at the pace of the runs done since the start: ``elapsed / new * remaining``
        (None before the first new run finishes)."""
        new = self.done - self.recorded_before
        if new <= 0:
            return None
        return self.elapsed_s / new * (self.total - self.done)


# -- a study -------------------------------------------------------------------------------------
def execute_runs(runs: list[RunConfig], data, *, kind: str, config: dict, data_points: Optional[dict] = None,
                 dataset: Optional[dict] = None, jobs: Optional[int] = None, scheduler=None, out=None, model_dir=None, retries: int = RETRIES,
                 on_result: Optional[Callable[[dict], None]] = None,
                 on_progress: Optional[Callable[[Progress], None]] = None, force: bool = False) -> list[dict]:
    """The records of ``runs`` on ``data``, in ``runs`` order (the engine of ``run_study`` and
    ``run_search``). With ``out``, the study folder: opened (checked, resumed; a folder that
    practicaldl did not write is refused unless ``force``), every record written as it arrives,
    models in ``out/models``; ``kind``, ``config``, ``data_points`` and ``dataset`` (what
    ``study_section`` takes) go into its manifest. With ``model_dir``, models are written there."""
    if jobs is not None:
        check_jobs(jobs)
    if out is not None and model_dir is not None:
        raise ValueError("model_dir must not be given with out: a study folder keeps its models in out/models")
    checksum = data_checksum(data)
    keys = [run_key(run, checksum) for run in runs]
    folder = StudyFolder(out) if out is not None else None
    kept = {} if folder is None else folder.check(kind=kind, config=config, checksum=checksum, keys=keys, force=force)
    model_dir = folder.models_dir if folder is not None else (None if model_dir is None else Path(model_dir))
    results = {i: kept[k] for i, k in enumerate(keys) if k in kept}
    todo = [(i, (runs[i], keys[i], model_dir is not None)) for i in range(len(runs)) if i not in results]
    counts = {"recorded_before": len(results), "failed": sum(r.get("error") is not None for r in results.values())}

    def report(executor, started: float) -> None:
        if on_progress is not None:
            running = 0 if executor is None else min(executor.in_flight, executor.workers)
            on_progress(Progress(total=len(runs), done=len(results), failed=counts["failed"], running=running,
                                 recorded_before=counts["recorded_before"], elapsed_s=time.perf_counter() - started))

    with make_executor(scheduler, jobs, retries) if todo else nullcontext() as executor:
        if folder is not None:  # written once the runs can start: a bad scheduler leaves no files
            folder.write_manifest(kind=kind, config=config, checksum=checksum, runs=runs, keys=keys,
                                  data_points=data_points, dataset=dataset)
        started = time.perf_counter()
        report(executor, started)
        for i, outcome in executor.map(_attempt, todo, data) if todo else ():
            record = _finish(runs[i], keys[i], outcome, model_dir)
            if folder is not None:
                folder.write_record(record)
            results[i] = record
            counts["failed"] += record["error"] is not None
            if on_result is not None:
                on_result(record)
            report(executor, started)
    return [results[i] for i in range(len(runs))]


def _finish(run: RunConfig, key: str, outcome, model_dir: Optional[Path]) -> dict:
    """The record of an outcome; the model is written (before its record) where there is one."""
    if isinstance(outcome, Lost):
        return empty_record(run, key, "lost", f"not run: {outcome.reason}")
    if isinstance(outcome, Crashed):
        return empty_record(run, key, "error", outcome.error)
    record, model = outcome["record"], outcome["model"]
    if model is not None and model_dir is not None:
        from ..io.models import write_model_files

        npz_path, _ = write_model_files(run.run_id, *model, root=model_dir)
        record["model_path"] = _model_path(model_dir, npz_path)
    return record


def study_section(config: dict, records: list[dict], data_points: Optional[dict], dataset: Optional[dict], *,
                  expected: Optional[int] = None) -> dict:
    """A report section: ``{"kind": "study", "config", "records", "aggregate", "data", "dataset"}``
    (``data``: the points of 2-D data; ``dataset``: ``io.datasets.describe_dataset``'s description:
    source, rows, columns, target, preprocessing, split), plus ``"partial": {"recorded", "total"}``
    when fewer than ``expected`` runs are recorded."""
    section = {"kind": "study", "config": config, "records": records, "aggregate": aggregate(records),
               "data": data_points, "dataset": dataset}
    if expected is not None and len(records) < expected:
        section["partial"] = {"recorded": len(records), "total": expected}
    return section


def run_study(config: StudyConfig, *, jobs: Optional[int] = None, scheduler=None, out=None, model_dir=None,
              retries: int = RETRIES, on_result: Optional[Callable[[dict], None]] = None,
              on_progress: Optional[Callable[[Progress], None]] = None, force: bool = False) -> dict:
    """Run every (configuration, seed) of ``config``; return its report section (``study_section``).

    Where the runs execute: ``scheduler=None`` in ``jobs`` joblib processes (default 1; ``-1``:
    all cores); ``scheduler="local"`` on a Dask ``LocalCluster`` of ``jobs`` worker processes
    (default: all cores); ``scheduler="tcp://HOST:PORT"`` (or a ``dask.distributed.Client``) on
    that cluster. Records come back in ``expand()`` order and are the same whichever is used.
    ``out``: the study folder (``store``), which keeps every record as it arrives and resumes an
    interrupted study (a folder that practicaldl did not write is refused unless ``force``).
    ``retries``: attempts after the first for a run whose worker died.
    ``on_result(record)`` is called as each record arrives, ``on_progress(Progress)`` at the
    start and after each run (a progress bar).
    """
    data = load_study_data(config)
    points = dataset_points(data)
    records = execute_runs(config.expand(), data, kind="study", config=config.to_dict(), data_points=points,
                           dataset=data.info, jobs=jobs, scheduler=scheduler, out=out, model_dir=model_dir,
                           retries=retries, on_result=on_result, on_progress=on_progress, force=force)
    return study_section(config.to_dict(), records, points, data.info)


def section_from_folder(path) -> dict:
    """The report section of the study folder ``path``, from the records there so far (a
    ``"partial"`` entry says how many of how many)."""
    manifest, records = StudyFolder(path).recorded_in_order()
    if manifest["kind"] == "search":
        from .search import search_section

        return search_section(manifest["config"], records, manifest.get("dataset"), expected=len(manifest["runs"]))
    return study_section(manifest["config"], records, manifest.get("data"), manifest.get("dataset"),
                         expected=len(manifest["runs"]))


def aggregate(records: list[dict]) -> list[dict]:
    """Mean and standard deviation (ddof=0) over seeds of each metric, per configuration.

    One row per (study, configuration) in first-seen order:
    ``{"study", "configuration", "n_runs", "n_failed", "<metric>_mean", "<metric>_std", ...}``
    for ``METRICS``; failed runs (``error`` set: diverged, raised or lost) are counted, not averaged.
    """
    groups: dict = {}
    for r in records:
        groups.setdefault((r["study"], r["configuration"]), []).append(r)
    rows = []
    for (study, configuration), group in groups.items():
        ok = [r for r in group if r.get("error") is None]
        row = {"study": study, "configuration": configuration, "n_runs": len(group), "n_failed": len(group) - len(ok),
               "seeds": [r["seed"] for r in group]}
        for metric in METRICS:
            values = np.array([r[metric] for r in ok], dtype=float)
            row[f"{metric}_mean"] = float(values.mean()) if len(values) else None
            row[f"{metric}_std"] = float(values.std()) if len(values) else None
        rows.append(row)
    return rows
