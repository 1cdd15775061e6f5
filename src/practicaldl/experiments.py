"""Studies: a grid of training configurations x seeds in, JSON-serialisable result records out.

A ``StudyConfig`` names a dataset, the network and either a grid
``init x l2 x keep_prob x learning_rate`` or an explicit list of ``configurations`` (each a dict
of overrides with an optional ``label``), and the ``seeds``. ``expand(config)`` turns it into
``RunConfig`` objects, one per (configuration, seed); ``run_one(run)`` trains one
``NeuralNetClassifier(random_state=seed)`` and returns a record::

    {"study", "configuration", "run_id", "seed", "config": {...RunConfig fields...},
     "train_accuracy", "test_accuracy", "gap" (= train - test), "final_cost", "n_iter",
     "cost_iterations", "cost_history" (at most ``MAX_COST_POINTS`` points, first and last kept),
     "time_s", "model_path" (or None), "decision_grid" (2-D data: class-1 probabilities on a
     ``grid_points`` x ``grid_points`` grid over the data's bounding box, or None),
     "diagnostics_init", "diagnostics" (``diagnostics.diagnose`` at initialization and after
     training, first seed of each configuration only, or None), "error" (None, or why it failed)}

``run_one`` is a pure function of its ``RunConfig`` (the dataset is loaded inside it, every draw
comes from ``random_state=seed``), so ``run_study(config, jobs=n)`` gives the same records as a
serial run apart from ``time_s``, and the same study can be sent to a Dask cluster with
``joblib.parallel_config(backend="dask")``. ``aggregate(records)`` gives mean and standard
deviation over seeds per configuration.
"""

from __future__ import annotations

import itertools
import math
import numbers
import re
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ._validation import check_choice, check_non_negative, check_positive
from .datasets import DATASETS, load_dataset
from .initializers import INITIALIZERS
from .training import NumericalError

MAX_COST_POINTS = 400
GRID_AXES = ("init", "l2", "keep_prob", "learning_rate")
OVERRIDABLE = ("init", "init_scale", "l2", "keep_prob", "learning_rate", "max_iter", "batch_size", "activation")
METRICS = ("train_accuracy", "test_accuracy", "gap", "final_cost", "time_s")


def _as_tuple(value) -> tuple:
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_dataset(dataset) -> str:
    """A built-in dataset name or an existing ``.csv`` / ``.npz`` / ``.mat`` file."""
    from .datasets import LOADERS

    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"dataset must be a name or a file path, got {dataset!r}")
    if dataset in DATASETS:
        return dataset
    path = Path(dataset)
    if path.suffix.lower() not in LOADERS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)} or a path ending in {sorted(LOADERS)}, got {dataset!r}")
    if not path.is_file():
        raise ValueError(f"dataset file {dataset!r} does not exist")
    return dataset


@dataclass(frozen=True)
class RunConfig:
    """One training run: everything ``run_one`` needs, and nothing else."""

    study: str
    configuration: str
    dataset: str
    hidden_layer_sizes: tuple
    activation: str = "relu"
    init: str = "he"
    init_scale: float = 1.0
    learning_rate: float = 0.01
    max_iter: int = 1000
    batch_size: Optional[int] = None
    l2: float = 0.0
    keep_prob: float = 1.0
    seed: int = 0
    grid_points: int = 80
    diagnose: bool = False

    @property
    def run_id(self) -> str:
        """A file-name-safe id: ``<study>-<configuration>-seed<seed>``."""
        slug = re.sub(r"[^A-Za-z0-9.]+", "-", f"{self.study}-{self.configuration}").strip("-")
        return f"{slug}-seed{self.seed}"

    def estimator_params(self) -> dict:
        """Keyword arguments of ``NeuralNetClassifier``."""
        return dict(hidden_layer_sizes=tuple(self.hidden_layer_sizes), activation=self.activation, init=self.init,
                    init_scale=self.init_scale, learning_rate=self.learning_rate, max_iter=self.max_iter,
                    batch_size=self.batch_size, l2=self.l2, keep_prob=self.keep_prob, random_state=self.seed)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden_layer_sizes"] = list(self.hidden_layer_sizes)
        return d


@dataclass
class StudyConfig:
    """A study: dataset, network, a grid (or explicit configurations) and seeds.

    The grid is the product ``init x l2 x keep_prob x learning_rate`` (each a value or a list);
    ``configurations``, when given, replaces it: a list of dicts overriding any of
    ``init, init_scale, l2, keep_prob, learning_rate, max_iter, batch_size, activation`` plus an
    optional ``label``. Every configuration runs once per seed.
    """

    name: str = "study"
    dataset: str = "circles"
    hidden_layer_sizes: tuple = (10, 5)
    activation: str = "relu"
    init: tuple = ("he",)
    init_scale: float = 1.0
    l2: tuple = (0.0,)
    keep_prob: tuple = (1.0,)
    learning_rate: tuple = (0.01,)
    seeds: tuple = (0,)
    max_iter: int = 1000
    batch_size: Optional[int] = None
    configurations: Optional[list] = None
    grid_points: int = 80
    diagnose: bool = True
    target_error: float = 0.0  # human-level / Bayes error: the baseline of "avoidable bias"
    title: str = ""
    description: str = ""

    def __post_init__(self):
        for axis in ("init", "l2", "keep_prob", "learning_rate", "seeds"):
            setattr(self, axis, _as_tuple(getattr(self, axis)))
        sizes = self.hidden_layer_sizes
        self.hidden_layer_sizes = (sizes,) if isinstance(sizes, numbers.Integral) else tuple(sizes)
        if self.configurations is not None:
            self.configurations = [dict(c) for c in self.configurations]
        self.validate()

    # -- validation at the boundary ----------------------------------------------------------
    def validate(self) -> "StudyConfig":
        """Check every field; the message names the field, the rule and the value."""
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        check_dataset(self.dataset)
        if not self.hidden_layer_sizes or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in self.hidden_layer_sizes
        ):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {list(self.hidden_layer_sizes)!r}")
        from .activations import HIDDEN_ACTIVATIONS

        if self.activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(HIDDEN_ACTIVATIONS)}, got {self.activation!r}")
        if not self.seeds or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and 0 <= s < 2**32
                                     for s in self.seeds):
            raise ValueError(f"seeds must be integers in [0, 2**32), got {list(self.seeds)!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {list(self.seeds)!r}")
        if not _is_real(self.target_error) or not 0 <= self.target_error < 1:
            raise ValueError(f"target_error must be a number in [0, 1), got {self.target_error!r}")
        if not isinstance(self.grid_points, numbers.Integral) or not 2 <= self.grid_points <= 400:
            raise ValueError(f"grid_points must be an integer in [2, 400], got {self.grid_points!r}")
        if self.configurations is not None:
            if not self.configurations:
                raise ValueError("configurations must list at least one configuration, got []")
            for c in self.configurations:
                unknown = sorted(set(c) - set(OVERRIDABLE) - {"label"})
                if unknown:
                    raise ValueError(f"configurations entries may set {sorted(OVERRIDABLE) + ['label']}, got {unknown}")
        for values in self._settings():
            _check_setting(values)
        labels = [label for label, _ in self._labelled_settings()]
        if len(set(labels)) != len(labels):
            raise ValueError(f"configuration labels must be distinct, got {labels}")
        return self

    def _base(self) -> dict:
        return dict(init=self.init[0], init_scale=self.init_scale, l2=self.l2[0], keep_prob=self.keep_prob[0],
                    learning_rate=self.learning_rate[0], max_iter=self.max_iter, batch_size=self.batch_size,
                    activation=self.activation)

    def _settings(self) -> list[dict]:
        if self.configurations is not None:
            return [{**self._base(), **{k: v for k, v in c.items() if k != "label"}} for c in self.configurations]
        grid = itertools.product(self.init, self.l2, self.keep_prob, self.learning_rate)
        return [{**self._base(), **dict(zip(GRID_AXES, values))} for values in grid]

    def _labelled_settings(self) -> list[tuple[str, dict]]:
        settings = self._settings()
        if self.configurations is not None:
            return [(c.get("label") or _label(s, OVERRIDABLE, self._base(), force=True), s)
                    for c, s in zip(self.configurations, settings)]
        varying = [a for a in GRID_AXES if len(getattr(self, a)) > 1] or ["init"]
        return [(_label(s, varying, {}, force=False), s) for s in settings]

    # -- expansion ---------------------------------------------------------------------------
    def expand(self) -> list[RunConfig]:
        """One ``RunConfig`` per configuration and seed, configurations outermost."""
        return [RunConfig(study=self.name, configuration=label, dataset=self.dataset,
                          hidden_layer_sizes=tuple(int(s) for s in self.hidden_layer_sizes), seed=int(seed),
                          grid_points=int(self.grid_points) if i == 0 else 0,
                          diagnose=bool(self.diagnose and i == 0), **setting)
                for label, setting in self._labelled_settings() for i, seed in enumerate(self.seeds)]

    @property
    def configuration_labels(self) -> list[str]:
        return [label for label, _ in self._labelled_settings()]

    def to_dict(self) -> dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "StudyConfig":
        """Build from a plain dict (a TOML table or ``to_dict()``); unknown keys are refused."""
        if not isinstance(data, dict):
            raise ValueError(f"a study config must be a table of settings, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown study settings {unknown}; valid settings are {sorted(names)}")
        return cls(**data)

    @classmethod
    def from_toml(cls, path) -> "StudyConfig":
        """Read a TOML file: settings at the top level or under ``[study]``.

        Python 3.11+ reads it with the standard library's ``tomllib``; 3.10 with ``tomli``, the
        same parser released on its own (a dependency on 3.10 only).
        """
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"config file {str(path)!r} does not exist")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"config file {path.name} is not valid TOML: {exc}") from exc
        if set(data) == {"study"} or ("study" in data and isinstance(data["study"], dict)):
            rest = {k: v for k, v in data.items() if k != "study"}
            data = {**data["study"], **rest}
        return cls.from_dict(data)


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _label(setting: dict, axes, base: dict, *, force: bool) -> str:
    parts = []
    for axis in axes:
        if axis == "init_scale" or (force and axis in base and setting[axis] == base[axis] and axis != "init"):
            continue
        value = setting[axis]
        if axis == "init":
            parts.append(f"{value} x{_fmt(setting['init_scale'])}" if setting["init_scale"] != 1 else str(value))
        else:
            parts.append(f"{axis}={_fmt(value)}")
    return " ".join(parts) or "default"


def _check_setting(s: dict) -> None:
    """One configuration's estimator settings, checked before anything runs (the estimator's rules)."""
    check_choice("init", s["init"] if isinstance(s["init"], str) else repr(s["init"]), INITIALIZERS)  # names only
    check_positive("init_scale", s["init_scale"])
    check_non_negative("l2", s["l2"])
    if not _is_real(s["keep_prob"]) or not 0 < s["keep_prob"] <= 1:
        raise ValueError(f"keep_prob must be in (0, 1], got {s['keep_prob']!r}")
    check_positive("learning_rate", s["learning_rate"])
    check_positive("max_iter", s["max_iter"], integer=True)
    if s["batch_size"] is not None:
        check_positive("batch_size", s["batch_size"], integer=True)


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

    from . import diagnostics

    at_init = diagnostics.diagnose(clone(clf), data.X_train, data.y_train).to_dict()
    trained = diagnostics.diagnose(clf, data.X_train, data.y_train).to_dict()
    return at_init, trained


def run_one(run: RunConfig, model_dir=None) -> dict:
    """Train one network for ``run`` and return its result record (see the module docstring).

    With ``model_dir`` the fitted model is saved there as ``<run_id>.npz`` + ``.json`` and
    ``model_path`` is that path (relative to ``model_dir``'s parent).
    """
    from .estimator import NeuralNetClassifier

    data = load_dataset(run.dataset)
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
        from .persistence import save_model

        npz_path, _ = save_model(clf, Path(model_dir) / run.run_id)
        record["model_path"] = str(Path(Path(model_dir).name) / npz_path.name)
    return record


# -- a study -------------------------------------------------------------------------------------
def dataset_points(dataset: str) -> Optional[dict]:
    """The train and test points of a 2-D dataset (for decision-boundary panels), else None."""
    data = load_dataset(dataset)
    if data.X_train.shape[1] != 2:
        return None
    return {"X_train": data.X_train.tolist(), "y_train": data.y_train.tolist(),
            "X_test": data.X_test.tolist(), "y_test": data.y_test.tolist()}


def run_study(config: StudyConfig, *, jobs: int = 1, model_dir=None,
              on_result: Optional[Callable[[dict], None]] = None) -> dict:
    """Run every (configuration, seed) of ``config``; return the study dict for a report.

    ``{"kind": "study", "config", "records", "aggregate", "data"}``. ``jobs`` processes through
    joblib (``-1``: all cores); records come back in ``expand()`` order whatever ``jobs`` is.
    ``on_result(record)`` is called as each record arrives (for a progress bar).
    """
    from joblib import Parallel, delayed

    if not isinstance(jobs, numbers.Integral) or isinstance(jobs, bool) or jobs == 0 or jobs < -1:
        raise ValueError(f"jobs must be a positive integer or -1 (all cores), got {jobs!r}")
    # workers may run in another folder (loky reuses its processes; a Dask worker is elsewhere):
    # hand them absolute paths, for the dataset file and for the model folder
    runs = [r if r.dataset in DATASETS else replace(r, dataset=str(Path(r.dataset).resolve())) for r in config.expand()]
    model_dir = None if model_dir is None else Path(model_dir).resolve()
    records = []
    results = Parallel(n_jobs=jobs, return_as="generator")(delayed(run_one)(r, model_dir) for r in runs)
    for record in results:
        records.append(record)
        if on_result is not None:
            on_result(record)
    return {"kind": "study", "config": config.to_dict(), "records": records, "aggregate": aggregate(records),
            "data": dataset_points(config.dataset)}


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


# -- the demo's studies ------------------------------------------------------------------------
def demo_studies(*, quick: bool = False) -> list[StudyConfig]:
    """The initialization and regularization studies of ``practicaldl demo``.

    Initialization: circles, [2, 10, 5, 1], learning rate 0.01, 15000 iterations (the course's
    settings), zeros / random x10 / He, seeds 3 (the course's), 4, 5. Regularization: the noisy
    2-D set, [2, 20, 3, 1], LeCun init, learning rate 0.3, 20000 iterations (the course runs
    30000), none / L2 0.7 / dropout 0.86, seeds 0, 1, 2. ``quick`` cuts iterations and seeds
    (for smoke tests; the numbers then mean little).
    """
    init_iter, reg_iter, init_seeds, reg_seeds = (15000, 20000, (3, 4, 5), (0, 1, 2))
    if quick:
        init_iter, reg_iter, init_seeds, reg_seeds = (300, 300, (3,), (0,))
    init_study = StudyConfig(
        name="initialization", title="Initialization: zeros vs large random vs He", dataset="circles",
        hidden_layer_sizes=(10, 5), learning_rate=0.01, max_iter=init_iter, seeds=init_seeds,
        configurations=[{"label": "zeros", "init": "zeros"},
                        {"label": "random x10", "init": "random", "init_scale": 10.0},
                        {"label": "he", "init": "he"}],
        description=(
            "Circles (300 train / 100 test), network [2, 10, 5, 1], ReLU, learning rate 0.01, "
            f"{init_iter} full-batch iterations, seeds {list(init_seeds)} (seed 3 is the course's). "
            "Zeros never break symmetry (every unit of a layer stays identical: accuracy 0.5); "
            "weights drawn x10 too large start with a huge cost and train slowly; He trains well."),
    )
    reg_study = StudyConfig(
        name="regularization", title="Regularization: none vs L2 vs dropout", dataset="noisy",
        hidden_layer_sizes=(20, 3), init="lecun", learning_rate=0.3, max_iter=reg_iter, seeds=reg_seeds,
        target_error=0.15,  # the share of flipped labels: no classifier does better on average
        configurations=[{"label": "none"}, {"label": "L2 0.7", "l2": 0.7},
                        {"label": "dropout 0.86", "keep_prob": 0.86}],
        description=(
            "Noisy 2-D set (a wavy boundary with a share of labels flipped; see practicaldl.datasets.load_noisy), network [2, 20, 3, 1], LeCun init, "
            f"learning rate 0.3, {reg_iter} full-batch iterations (the course runs 30000; fewer here to keep "
            f"the demo short), seeds {list(reg_seeds)}. Without regularization the network fits the noise "
            "(largest train-test gap); L2 and dropout smooth the boundary and narrow the gap. Bias and "
            "variance are judged against a target error of 0.15, the share of flipped labels."),
    )
    return [init_study, reg_study]


def gradcheck_study(*, seed: int = 4) -> dict:
    """The demo's gradient checks: a correct backprop passes, a planted bug (dW2 doubled) is caught.

    Network [2, 5, 3, 1] (He init, seed ``seed``) on the first 40 circles points, L2 0.7, ReLU.
    Returns ``{"kind": "gradcheck", "checks": [{"label", "expected", "report"}, ...]}``.
    """
    from . import gradcheck
    from .network import backward_propagation, initialize_parameters

    data = load_dataset("circles")
    X, Y = data.X_train[:40].T, data.y_train[None, :40].astype(float)  # (2, 40), (1, 40)
    params = initialize_parameters([2, 5, 3, 1], init="he", rng=np.random.RandomState(seed))

    def buggy_backward(params, Y, cache, l2=0.0):
        grads = backward_propagation(params, Y, cache, l2)
        grads["dW2"] = 2.0 * grads["dW2"]  # the planted bug
        return grads

    checks = []
    for label, expected, kwargs in (
        ("correct backprop (L2 0.7)", "pass", {}),
        ("correct backprop (L2 0.7, dropout 0.8, masks replayed)", "pass",
         {"keep_prob": 0.8, "rng": np.random.RandomState(seed)}),
        ("planted bug: dW2 doubled", "fail", {"backward": buggy_backward}),
    ):
        report = gradcheck.check_backprop(params, X, Y, l2=0.7, **kwargs)
        checks.append({"label": label, "expected": expected, "report": report.to_dict()})
    return {"kind": "gradcheck", "title": "Gradient checking",
            "description": ("Network [2, 5, 3, 1] on 40 circles points, L2 0.7: the centred difference "
                            "(J(theta + eps) - J(theta - eps)) / (2 eps), eps = 1e-7, against backprop, overall "
                            "and per parameter. A correct backprop passes; doubling dW2 fails, and the "
                            "per-parameter lines point at W2."),
            "checks": checks}
