"""Running a study: one record per run, JSON-serialisable, and the mean over seeds.

``StudyConfig.expand()`` (``studies.config``) gives one ``RunConfig`` per (configuration, seed);
``run_one(run)`` trains one ``NeuralNetClassifier(random_state=seed)`` and returns a record::

    {"study", "configuration", "run_id", "seed", "config": {...RunConfig fields...},
     "train_accuracy", "test_accuracy", "gap" (= train - test), "final_cost", "n_iter",
     "cost_iterations", "cost_history" (at most ``MAX_COST_POINTS`` points, first and last kept),
     "time_s", "model_path" (or None), "decision_grid" (2-D data: class-1 probabilities on a
     ``grid_points`` x ``grid_points`` grid over the data's bounding box, or None),
     "diagnostics_init", "diagnostics" (``diagnostics.diagnose`` at initialization and after
     training, first seed of each configuration only, or None), "error" (None, or why it failed)}

``run_one`` is a pure function of its ``RunConfig`` (the dataset is loaded inside it by
``io.datasets.load_dataset(run.dataset, run.table)``, the one data-loading function; every draw
comes from ``random_state=seed``), so ``run_study(config, jobs=n)`` gives the same records as a
serial run apart from ``time_s``, and the same study can be sent to a Dask cluster with
``joblib.parallel_config(backend="dask")``. ``aggregate(records)`` gives mean and standard
deviation over seeds per configuration.
"""

from __future__ import annotations

import numbers
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..engine.loop import NumericalError
from ..io.datasets import Dataset, load_dataset
from .config import RunConfig, StudyConfig

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


def run_one(run: RunConfig, model_dir=None) -> dict:
    """Train one network for ``run`` and return its result record (see the module docstring).

    With ``model_dir`` the fitted model is saved there as ``<run_id>.npz`` + ``.json`` and
    ``model_path`` is that path (relative to ``model_dir``'s parent).
    """
    from ..estimator import NeuralNetClassifier

    data = load_dataset(run.dataset, run.table)
    clf = NeuralNetClassifier(**run.estimator_params())
    record = {"study": run.study, "configuration": run.configuration, "run_id": run.run_id, "seed": run.seed,
              "config": run.to_dict(), "train_accuracy": None, "test_accuracy": None, "gap": None,
              "final_cost": None, "n_iter": None, "cost_iterations": [], "cost_history": [], "time_s": None,
              "model_path": None, "decision_grid": None, "diagnostics_init": None, "diagnostics": None, "error": None}
    start = time.perf_counter()
    try:
        clf.fit(data.X_train, data.y_train)
    except NumericalError as exc:
        record["time_s"] = time.perf_counter() - start
        record["error"] = str(exc)
        return record
    record["time_s"] = time.perf_counter() - start
    train_acc, test_acc = float(clf.score(data.X_train, data.y_train)), float(clf.score(data.X_test, data.y_test))
    iters, costs = _downsample(clf.cost_history_)
    record.update(train_accuracy=train_acc, test_accuracy=test_acc, gap=train_acc - test_acc,
                  final_cost=float(clf.cost_history_[-1]), n_iter=int(clf.n_iter_), cost_iterations=iters,
                  cost_history=costs)
    if data.X_train.shape[1] == 2 and run.grid_points:
        record["decision_grid"] = decision_grid(clf, np.vstack([data.X_train, data.X_test]), run.grid_points)
    if run.diagnose:
        record["diagnostics_init"], record["diagnostics"] = _diagnostics(clf, data)
    if model_dir is not None:
        from ..io.models import save_model

        npz_path, _ = save_model(clf, Path(model_dir) / run.run_id, data=data)
        record["model_path"] = str(Path(Path(model_dir).name) / npz_path.name)
    return record


# -- a study -------------------------------------------------------------------------------------
def dataset_points(data: Dataset) -> Optional[dict]:
    """The train and test points of a 2-D dataset (for decision-boundary panels), else None."""
    if data.X_train.shape[1] != 2:
        return None
    return {"X_train": data.X_train.tolist(), "y_train": data.y_train.tolist(),
            "X_test": data.X_test.tolist(), "y_test": data.y_test.tolist()}


def run_study(config: StudyConfig, *, jobs: int = 1, model_dir=None,
              on_result: Optional[Callable[[dict], None]] = None) -> dict:
    """Run every (configuration, seed) of ``config``; return the study dict for a report.

    ``{"kind": "study", "config", "records", "aggregate", "data", "dataset"}``, where ``dataset``
    describes the data (``io.datasets.describe_dataset``: source, rows, columns, target,
    preprocessing, split). ``jobs`` processes through joblib (``-1``: all cores); records come back in ``expand()`` order whatever ``jobs`` is.
    ``on_result(record)`` is called as each record arrives (for a progress bar).
    """
    from joblib import Parallel, delayed

    if not isinstance(jobs, numbers.Integral) or isinstance(jobs, bool) or jobs == 0 or jobs < -1:
        raise ValueError(f"jobs must be a positive integer or -1 (all cores), got {jobs!r}")
    # workers may run in another folder (loky reuses its processes; a Dask worker is elsewhere):
    # hand them absolute paths, for the dataset file and for the model folder
    runs = [r.with_absolute_paths() for r in config.expand()]
    model_dir = None if model_dir is None else Path(model_dir).resolve()
    records = []
    results = Parallel(n_jobs=jobs, return_as="generator")(delayed(run_one)(r, model_dir) for r in runs)
    for record in results:
        records.append(record)
        if on_result is not None:
            on_result(record)
    data = load_dataset(config.dataset, config.table)
    return {"kind": "study", "config": config.to_dict(), "records": records, "aggregate": aggregate(records),
            "data": dataset_points(data), "dataset": data.info}


def aggregate(records: list[dict]) -> list[dict]:
    """Mean and standard deviation (ddof=0) over seeds of each metric, per configuration.

    One row per (study, configuration) in first-seen order:
    ``{"study", "configuration", "n_runs", "n_failed", "<metric>_mean", "<metric>_std", ...}``
    for ``METRICS``; failed runs (``error`` set) are counted, not averaged.
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
