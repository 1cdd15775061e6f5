"""A study's configuration: a grid of training settings x seeds, expanded into runs.

A ``StudyConfig`` names a dataset (with ``table``, the ``io.tables.TableOptions`` of a table
file: label column, features, preprocessing, split), the network and either a grid
``init x l2 x keep_prob x learning_rate x optimizer`` or an explicit list of ``configurations``
(each a dict of overrides with an optional ``label``), and the ``seeds``. ``expand()`` turns it into
``RunConfig`` objects, one per (configuration, seed), configurations outermost.
"""

from __future__ import annotations

import itertools
import math
import numbers
import re
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional

from ..core.initializers import INITIALIZERS
from ..core.validation import check_choice, check_non_negative, check_positive, from_settings
from ..io.datasets import DATASETS
from ..io.tables import TableOptions, is_table_path

GRID_AXES = ("init", "l2", "keep_prob", "learning_rate", "optimizer")
OPTIMIZER_SETTINGS = ("beta", "beta1", "beta2", "epsilon", "decay_rate", "decay_interval")
OVERRIDABLE = ("init", "init_scale", "l2", "keep_prob", "learning_rate", "max_iter", "batch_size", "activation",
               "hidden_layer_sizes", "optimizer", *OPTIMIZER_SETTINGS)


def _as_tuple(value) -> tuple:
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,)


def _sizes(value) -> tuple:
    """Hidden layer sizes as a tuple (a single value is one layer)."""
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_dataset(dataset) -> str:
    """A built-in dataset name or an existing ``.csv`` / ``.tsv`` / ``.parquet`` / ``.npz`` / ``.mat`` file."""
    from ..io.datasets import SUFFIXES

    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"dataset must be a name or a file path, got {dataset!r}")
    if dataset in DATASETS:
        return dataset
    path = Path(dataset)
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)} or a path ending in {list(SUFFIXES)}, got {dataset!r}")
    if not path.is_file():
        raise ValueError(f"dataset file {dataset!r} does not exist")
    return dataset


def check_table(dataset: str, table) -> Optional[TableOptions]:
    """``table`` as checked ``TableOptions`` for a table file (default options when None); None otherwise."""
    options = None if table is None else TableOptions.from_dict(table)
    if not is_table_path(dataset):
        if options is not None and options != TableOptions():
            raise ValueError(f"table options (target, features, preprocessing, split) apply to table files "
                             f"(.csv, .tsv, .parquet), not to the dataset {dataset!r}")
        return None
    return (options or TableOptions()).check()


@dataclass(frozen=True)
class RunConfig:
    """One training run: everything ``run_one`` needs, and nothing else."""

    study: str
    configuration: str
    dataset: str
    hidden_layer_sizes: tuple
    table: Optional[TableOptions] = None
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
    optimizer: str = "gd"
    beta: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    decay_rate: Optional[float] = None
    decay_interval: Optional[int] = None

    @property
    def run_id(self) -> str:
        """A file-name-safe id: ``<study>-<configuration>-seed<seed>``."""
        return f"{_slug(self.study, self.configuration)}-seed{self.seed}"

    def with_absolute_paths(self) -> "RunConfig":
        """The same run with its data files (dataset, test table) as absolute paths, for workers
        that run in another folder (loky reuses its processes; a Dask worker is elsewhere)."""
        dataset = self.dataset if self.dataset in DATASETS else str(Path(self.dataset).resolve())
        table = self.table
        if table is not None and table.test is not None:
            table = replace(table, test=str(Path(table.test).resolve()))
        return replace(self, dataset=dataset, table=table)

    def estimator_params(self) -> dict:
        """Keyword arguments of ``NeuralNetClassifier``."""
        return dict(hidden_layer_sizes=tuple(self.hidden_layer_sizes), activation=self.activation, init=self.init,
                    init_scale=self.init_scale, learning_rate=self.learning_rate, max_iter=self.max_iter,
                    batch_size=self.batch_size, l2=self.l2, keep_prob=self.keep_prob, random_state=self.seed,
                    optimizer=self.optimizer, **{k: getattr(self, k) for k in OPTIMIZER_SETTINGS})

    def to_dict(self) -> dict:
        return settings_dict(self)


@dataclass
class StudyConfig:
    """A study: dataset, network, a grid (or explicit configurations) and seeds.

    The grid is the product ``init x l2 x keep_prob x learning_rate x optimizer`` (each a value or
    a list); the optimizer settings (``beta, beta1, beta2, epsilon, decay_rate, decay_interval``)
    apply to every configuration. ``configurations``, when given, replaces the grid: a list of
    dicts overriding any of ``OVERRIDABLE`` (``init, init_scale, l2, keep_prob, learning_rate,
    max_iter, batch_size, activation, hidden_layer_sizes``, ``optimizer`` and its settings) plus an
    optional ``label``. Every configuration runs once per seed.
    """

    name: str = "study"
    dataset: str = "circles"
    table: Optional[TableOptions] = None  # a table file's options (TOML: a [table] section)
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
    optimizer: tuple = ("gd",)
    beta: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    decay_rate: Optional[float] = None
    decay_interval: Optional[int] = None
    configurations: Optional[list] = None
    grid_points: int = 80  # decision-boundary grid of 2-D data (first seed of each configuration); 0: none
    diagnose: bool = True
    target_error: float = 0.0  # human-level / Bayes error: the baseline of "avoidable bias"
    title: str = ""
    description: str = ""

    def __post_init__(self):
        for axis in (*GRID_AXES, "seeds"):
            setattr(self, axis, _as_tuple(getattr(self, axis)))
        self.hidden_layer_sizes = _sizes(self.hidden_layer_sizes)
        if self.configurations is not None:
            if not isinstance(self.configurations, (list, tuple)) or \
                    not all(isinstance(c, dict) for c in self.configurations):
                raise ValueError(f"configurations must be a list of tables of settings, got {self.configurations!r}"[:300])
            self.configurations = [dict(c) for c in self.configurations]
        self.validate()

    @property
    def n_configurations(self) -> int:
        """Configurations of the study (the grid's product, or the explicit list), counted without
        building them."""
        if self.configurations is not None:
            return len(self.configurations)
        return math.prod(len(getattr(self, axis)) for axis in GRID_AXES)

    @property
    def n_runs(self) -> int:
        """Runs of the study: configurations x seeds."""
        return self.n_configurations * len(self.seeds)

    # -- validation at the boundary ----------------------------------------------------------
    def validate(self) -> "StudyConfig":
        """Check every field; the message names the field, the rule and the value. The number of
        runs is checked first (at most ``io.limits.MAX_RUNS``), before any configuration is built."""
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        for key in ("title", "description"):
            if not isinstance(getattr(self, key), str):
                raise ValueError(f"{key} must be text, got {getattr(self, key)!r}")
        check_run_count(self.n_configurations, len(self.seeds))
        check_dataset(self.dataset)
        self.table = check_table(self.dataset, self.table)
        if not self.seeds or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and 0 <= s < 2**32
                                     for s in self.seeds):
            raise ValueError(f"seeds must be integers in [0, 2**32), got {list(self.seeds)!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {list(self.seeds)!r}")
        if not _is_real(self.target_error) or not 0 <= self.target_error < 1:
            raise ValueError(f"target_error must be a number in [0, 1), got {self.target_error!r}")
        if not isinstance(self.grid_points, numbers.Integral) or not (self.grid_points == 0 or 2 <= self.grid_points <= 400):
            raise ValueError(f"grid_points must be 0 (no decision boundaries) or an integer in [2, 400], "
                             f"got {self.grid_points!r}")
        if self.configurations is not None:
            if not self.configurations:
                raise ValueError("configurations must list at least one configuration, got []")
            for c in self.configurations:
                unknown = sorted(set(c) - set(OVERRIDABLE) - {"label"})
                if unknown:
                    raise ValueError(f"configurations entries may set {sorted(OVERRIDABLE) + ['label']}, got {unknown}")
                if not isinstance(c.get("label", ""), str):
                    raise ValueError(f"configurations labels must be text, got {c['label']!r}")
        for values in self._settings():
            _check_setting(values)
        labels = [label for label, _ in self._labelled_settings()]
        if len(set(labels)) != len(labels):
            raise ValueError(f"configuration labels must be distinct, got {labels}")
        slugs: dict = {}
        for label in labels:  # run ids name the files of a study folder: two labels must not share one
            other = slugs.setdefault(_slug(self.name, label), label)
            if other != label:
                raise ValueError(f"configuration labels {other!r} and {label!r} give the same run id "
                                 f"{_slug(self.name, label)!r}; rename one")
        return self

    def _base(self) -> dict:
        return dict(init=self.init[0], init_scale=self.init_scale, l2=self.l2[0], keep_prob=self.keep_prob[0],
                    learning_rate=self.learning_rate[0], max_iter=self.max_iter, batch_size=self.batch_size,
                    activation=self.activation, hidden_layer_sizes=self.hidden_layer_sizes,
                    optimizer=self.optimizer[0], **{k: getattr(self, k) for k in OPTIMIZER_SETTINGS})

    def _settings(self) -> list[dict]:
        if self.configurations is not None:
            settings = [{**self._base(), **{k: v for k, v in c.items() if k != "label"}} for c in self.configurations]
            for setting in settings:
                setting["hidden_layer_sizes"] = _sizes(setting["hidden_layer_sizes"])
            return settings
        grid = itertools.product(*(getattr(self, axis) for axis in GRID_AXES))
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
        return [RunConfig(study=self.name, configuration=label, dataset=self.dataset, table=self.table, seed=int(seed),
                          grid_points=int(self.grid_points) if i == 0 else 0,
                          diagnose=bool(self.diagnose and i == 0),
                          **{**setting, "hidden_layer_sizes": tuple(int(s) for s in setting["hidden_layer_sizes"])})
                for label, setting in self._labelled_settings() for i, seed in enumerate(self.seeds)]

    @property
    def configuration_labels(self) -> list[str]:
        return [label for label, _ in self._labelled_settings()]

    def to_dict(self) -> dict:
        return settings_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "StudyConfig":
        """Build from a plain dict (a TOML table or ``to_dict()``); unknown keys are refused."""
        return from_settings(cls, data, "study")

    @classmethod
    def from_toml(cls, path) -> "StudyConfig":
        """Read a TOML file: settings at the top level or under ``[study]``, table options under ``[table]``
        (``read_toml``). Relative data paths (``dataset``, ``table.test``) are relative to the TOML file's folder.
        """
        return cls.from_dict(_beside(read_toml(path, "study"), Path(path).parent))


def settings_dict(config) -> dict:
    """A configuration dataclass as plain values (tuples as lists, table options as
    ``TableOptions.to_dict()``): what JSON and TOML hold."""
    d = asdict(config)
    for k, v in d.items():
        if isinstance(v, tuple):
            d[k] = list(v)
    if getattr(config, "table", None) is not None:
        d["table"] = config.table.to_dict()
    return d


def read_toml(path, table: str) -> dict:
    """The settings of a TOML file: its top level, with the keys of ``[table]`` (if any) merged in.

    Python 3.11+ reads it with the standard library's ``tomllib``; 3.10 with ``tomli``, the
    same parser released on its own (a dependency on 3.10 only).
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    from ..io.files import json_depth
    from ..io.limits import MAX_CONFIG_BYTES, MAX_JSON_DEPTH, size_text

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} does not exist")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ValueError(f"config file {str(path)!r} is {size_text(path.stat().st_size)}, more than the "
                         f"{size_text(MAX_CONFIG_BYTES)} a study's settings may take")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError, ValueError) as exc:
        reason = "it nests too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ValueError(f"config file {str(path)!r} is not valid TOML: {reason}") from exc
    if json_depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ValueError(f"config file {str(path)!r} nests more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(data.get(table), dict):
        data = {**data[table], **{k: v for k, v in data.items() if k != table}}
    return data


def _beside(data: dict, folder: Path) -> dict:
    """``data`` with its relative data file paths made relative to ``folder`` (a TOML file's)."""
    def place(value):
        if isinstance(value, str) and value not in DATASETS and not Path(value).is_absolute():
            return str(folder / value)
        return value

    data = dict(data)
    if "dataset" in data:
        data["dataset"] = place(data["dataset"])
    if isinstance(data.get("table"), dict) and data["table"].get("test") is not None:
        data["table"] = {**data["table"], "test": place(data["table"]["test"])}
    return data


def check_run_count(n_configurations: int, n_seeds: int) -> int:
    """``n_configurations x n_seeds`` runs, refused above ``io.limits.MAX_RUNS``."""
    from ..io.limits import MAX_RUNS

    n = n_configurations * n_seeds
    if n > MAX_RUNS:
        raise ValueError(f"the study has {n:,} runs ({n_configurations:,} configurations x {n_seeds:,} seeds), more "
                         f"than the {MAX_RUNS:,} practicaldl runs in one study or search")
    return n


def _slug(study: str, configuration: str) -> str:
    """``<study>-<configuration>`` as a file name: runs of characters other than letters, digits
    and ``.`` become ``-``; no leading or trailing ``-`` or ``.`` (no hidden file)."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", f"{study}-{configuration}").strip("-.")


def _fmt(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(_fmt(v) for v in value)
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
    from ..core.activations import get_activation
    from ..estimator import check_int64, check_network_memory
    from ..engine.optimizers import check_settings, get_optimizer

    sizes = s["hidden_layer_sizes"]
    if not sizes or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0 for n in sizes):
        raise ValueError(f"hidden_layer_sizes must be positive integers, got {list(sizes)!r}")
    for name in ("max_iter", "batch_size"):
        check_int64(name, s[name])
    check_network_memory([1, *sizes, 1])
    get_activation(s["activation"])  # the registry: built-in names and those registered
    check_choice("init", s["init"] if isinstance(s["init"], str) else repr(s["init"]), INITIALIZERS)  # names only
    check_positive("init_scale", s["init_scale"])
    check_non_negative("l2", s["l2"])
    if not _is_real(s["keep_prob"]) or not 0 < s["keep_prob"] <= 1:
        raise ValueError(f"keep_prob must be in (0, 1], got {s['keep_prob']!r}")
    check_positive("learning_rate", s["learning_rate"])
    check_positive("max_iter", s["max_iter"], integer=True)
    if s["batch_size"] is not None:
        check_positive("batch_size", s["batch_size"], integer=True)
    get_optimizer(s["optimizer"])  # names only: a study's configuration is JSON
    check_settings(**{k: s[k] for k in OPTIMIZER_SETTINGS})
