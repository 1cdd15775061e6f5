"""Random search: hyperparameters drawn at random, not on a grid (the course's week 3).

A search space maps a run setting (any of ``config.OVERRIDABLE``) to a distribution
(``DISTRIBUTIONS``), written in TOML as a one-key table, a list, or a single value::

    learning_rate = {loguniform = [1e-4, 1.0]}   # log(value) uniform on [log 1e-4, log 1]
    l2 = [1e-3, 10.0]                             # a list: the setting's default distribution (DEFAULTS)
    beta = [0.9, 0.999]                           # one_minus_loguniform: log(1 - beta) uniform
    keep_prob = [0.5, 0.8, 1.0]                   # choice: each equally likely
    init = "he"                                   # a single value: fixed
    hidden_layer_sizes = [[4, 32], 8]             # per layer: a width range (int), a width, or a table

Distributions, for a uniform draw ``u`` in [0, 1):

- ``loguniform [a, b]``: ``exp(log a + u (log b - log a))``; each decade equally likely (learning
  rate, l2, epsilon, init_scale, decay_rate).
- ``one_minus_loguniform [a, b]`` (a < b < 1): ``1 - exp(log(1 - b) + u (log(1 - a) - log(1 - b)))``;
  for beta, beta1, beta2: 0.9 ... 0.99 as likely as 0.99 ... 0.999 (an average over about
  ``1 / (1 - beta)`` steps, the course's argument).
- ``uniform [a, b]``: ``a + u (b - a)``.
- ``int [a, b]``: ``a + floor(u (b - a + 1))``, each integer equally likely (layer widths).
- ``log_int [a, b]``: ``floor(exp(log a + u (log(b + 1) - log a)))``, integers log-uniformly.
- ``choice [v1, v2, ...]``: ``v[floor(u n)]`` (init, optimizer, keep_prob, activation, batch_size).

Seeding: the draw of setting ``name`` in trial ``t`` (from 1) uses its own generator,
``PCG64(SeedSequence(seed, spawn_key=(t, crc32(name))))``, so the same seed gives the same trials,
the first trials of a longer search are those of a shorter one (``--trials`` can grow a search
that has run), and adding a setting to the space leaves the other settings' draws alone.

A search runs as a study (``SearchConfig.to_study``: one configuration per trial, labelled
``trial t``, each over ``seeds``), on the same machinery (local or Dask, resumable). Every trial
trains on the training set less a held-out validation share (``validation_fraction``, drawn
with ``seed``) and is scored on that share: the test set plays no part in choosing. The
optimizer and its settings (``optimizer``, ``beta``, ``beta1``, ``beta2``, ``epsilon``,
``decay_rate``, ``decay_interval``) are settings like the others; a setting that no run takes is
refused by name.
"""

from __future__ import annotations

import math
import numbers
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..core.validation import from_settings
from ..io.tables import TableOptions
from .config import (OVERRIDABLE, StudyConfig, _beside, check_dataset, check_run_count, check_table, read_toml,
                     settings_dict)
from .executors import RETRIES


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class _Range:
    """A distribution over [low, high]; ``parse`` checks ``rule`` (``valid``)."""

    low: float
    high: float
    kind = ""
    rule = "low < high"
    log_axis = False
    integer = False

    @staticmethod
    def valid(low, high) -> bool:
        return low < high

    @classmethod
    def parse(cls, name, args):
        ok = isinstance(args, (list, tuple)) and len(args) == 2 and all(_is_number(a) for a in args)
        ok = ok and (not cls.integer or all(float(a).is_integer() for a in args)) and cls.valid(*args)
        if not ok:
            raise ValueError(f"space.{name}: {cls.kind} takes [low, high] with {cls.rule}, got {args!r}")
        return cls(*(int(a) if cls.integer else float(a) for a in args))


class LogUniform(_Range):
    kind, rule, log_axis = "loguniform", "0 < low < high", True
    valid = staticmethod(lambda low, high: 0 < low < high)

    def sample(self, u: float) -> float:
        return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))


class OneMinusLogUniform(_Range):
    # drawn on a log scale in 1 - value: plotted as 1 - value on a log axis
    kind, rule, log_axis = "one_minus_loguniform", "0 <= low < high < 1", True
    valid = staticmethod(lambda low, high: 0 <= low < high < 1)

    def sample(self, u: float) -> float:
        lo, hi = math.log(1.0 - self.high), math.log(1.0 - self.low)
        return 1.0 - math.exp(lo + u * (hi - lo))


class Uniform(_Range):
    kind = "uniform"

    def sample(self, u: float) -> float:
        return self.low + u * (self.high - self.low)


class IntUniform(_Range):
    kind, rule, integer = "int", "integers low <= high", True
    valid = staticmethod(lambda low, high: low <= high)

    def sample(self, u: float) -> int:
        return min(self.high, self.low + int(math.floor(u * (self.high - self.low + 1))))


class LogInt(_Range):
    kind, rule, log_axis, integer = "log_int", "integers 1 <= low <= high", True, True
    valid = staticmethod(lambda low, high: 1 <= low <= high)

    def sample(self, u: float) -> int:
        lo, hi = math.log(self.low), math.log(self.high + 1)
        return min(self.high, int(math.floor(math.exp(lo + u * (hi - lo)))))


@dataclass(frozen=True)
class Choice:
    values: tuple
    kind = "choice"
    log_axis = False

    @classmethod
    def parse(cls, name, args):
        if not isinstance(args, (list, tuple)) or not args or not all(
                isinstance(v, (str, numbers.Real)) and not isinstance(v, bool) for v in args):
            raise ValueError(f"space.{name}: choice takes a non-empty list of names or numbers, got {args!r}")
        return cls(tuple(args))

    def sample(self, u: float):
        return self.values[min(len(self.values) - 1, int(math.floor(u * len(self.values))))]


@dataclass(frozen=True)
class Fixed:
    value: object
    kind = "fixed"
    log_axis = False

    def sample(self, u: float):
        return self.value


DISTRIBUTIONS = {d.kind: d for d in (LogUniform, OneMinusLogUniform, Uniform, IntUniform, LogInt, Choice)}

#: the distribution a plain list means, per setting (a table names one explicitly)
DEFAULTS = {"learning_rate": "loguniform", "l2": "loguniform", "epsilon": "loguniform", "init_scale": "loguniform",
            "decay_rate": "loguniform", "beta": "one_minus_loguniform", "beta1": "one_minus_loguniform",
            "beta2": "one_minus_loguniform", "max_iter": "int", "decay_interval": "int",
            "keep_prob": "choice", "init": "choice", "optimizer": "choice", "activation": "choice",
            "batch_size": "choice"}


def parse_distribution(name: str, spec, default: Optional[str]):
    """One setting's distribution from its TOML spelling (see the module docstring)."""
    if isinstance(spec, dict):
        if len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
            raise ValueError(f"space.{name}: a table must name one distribution of {sorted(DISTRIBUTIONS)}, "
                             f"got {sorted(spec)}")
        kind, args = next(iter(spec.items()))
        return DISTRIBUTIONS[kind].parse(name, args)
    if isinstance(spec, (list, tuple)):
        if default is None:
            raise ValueError(f"space.{name}: a list needs a distribution here; write a table such as "
                             f"{{choice = {list(spec)!r}}} or {{uniform = [low, high]}}")
        return DISTRIBUTIONS[default].parse(name, spec)
    if isinstance(spec, (str, numbers.Real)):
        return Fixed(spec)
    raise ValueError(f"space.{name}: expected a value, a list or a one-key table, got {spec!r}")


def parse_space(space) -> dict:
    """``{setting: distribution}``; ``hidden_layer_sizes`` maps to a tuple, one distribution per layer."""
    if not isinstance(space, dict) or not space:
        raise ValueError(f"space must be a non-empty table of settings and their distributions, got {space!r}")
    parsed = {}
    for name, spec in space.items():
        if name == "hidden_layer_sizes":
            if not isinstance(spec, (list, tuple)) or not spec:
                raise ValueError(f"space.hidden_layer_sizes must list one width (or width range) per layer, got {spec!r}")
            parsed[name] = tuple(parse_distribution(f"hidden_layer_sizes[{j}]", s, "int") for j, s in enumerate(spec))
        else:
            parsed[name] = parse_distribution(name, spec, DEFAULTS.get(name))
    return parsed


def parameters(space: dict) -> list[dict]:
    """The sampled (not fixed) parameters, in order: ``{"name", "setting", "layer", "kind",
    "log_axis", "one_minus"}`` (a layer width is ``hidden_layer_sizes[j]``)."""
    out = []
    for setting, dist in space.items():
        for layer, d in (enumerate(dist) if isinstance(dist, tuple) else [(None, dist)]):
            if d.kind != "fixed":
                out.append({"name": setting if layer is None else f"{setting}[{layer}]", "setting": setting,
                            "layer": layer, "kind": d.kind, "log_axis": d.log_axis,
                            "one_minus": d.kind == "one_minus_loguniform"})
    return out


def _uniform(seed: int, trial: int, name: str) -> float:
    stream = np.random.SeedSequence(seed, spawn_key=(trial, zlib.crc32(name.encode("utf-8"))))
    return float(np.random.Generator(np.random.PCG64(stream)).random())


def sample_trials(space: dict, seed: int, trials: int) -> list[dict]:
    """The settings of trials 1 .. ``trials`` drawn from a parsed space (see the module docstring)."""
    out = []
    for t in range(1, trials + 1):
        values = {}
        for setting, dist in space.items():
            if isinstance(dist, tuple):
                values[setting] = tuple(d.sample(_uniform(seed, t, f"{setting}[{j}]")) for j, d in enumerate(dist))
            else:
                values[setting] = dist.sample(_uniform(seed, t, setting))
        out.append(values)
    return out


def trial_label(t: int) -> str:
    return f"trial {t}"


@dataclass
class SearchConfig:
    """A random search: a space, a number of trials and a seed, on a dataset (see the module docstring).

    Settings the space leaves out take these fields (``hidden_layer_sizes``, ``activation``,
    ``max_iter``, ``batch_size``) or ``StudyConfig``'s defaults. ``seeds``: training seeds per trial
    (the mean over them is the trial's score); ``seed``: draws the trials and the validation split.
    ``top``: rows of the best-trials table.
    """

    name: str = "search"
    dataset: str = "circles"
    table: Optional[TableOptions] = None  # a table file's options (TOML: a [table] section)
    space: dict = field(default_factory=lambda: {"learning_rate": {"loguniform": [1e-4, 1.0]}})
    trials: int = 20
    seed: int = 0
    seeds: tuple = (0,)
    validation_fraction: float = 0.25
    hidden_layer_sizes: tuple = (10, 5)
    activation: str = "relu"
    max_iter: int = 1000
    batch_size: Optional[int] = None
    top: int = 10
    target_error: float = 0.0
    title: str = ""
    description: str = ""

    def __post_init__(self):
        self.seeds = tuple(self.seeds) if isinstance(self.seeds, (list, tuple)) else (self.seeds,)
        if isinstance(self.hidden_layer_sizes, (list, tuple)):
            self.hidden_layer_sizes = tuple(self.hidden_layer_sizes)
        self.validate()

    def validate(self) -> "SearchConfig":
        for name in ("trials", "top"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        check_run_count(self.trials, len(self.seeds))  # before any trial is drawn
        if not isinstance(self.seed, numbers.Integral) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be an integer in [0, 2**32), got {self.seed!r}")
        fraction = self.validation_fraction
        if not isinstance(fraction, numbers.Real) or isinstance(fraction, bool) or not 0 < fraction < 1:
            raise ValueError(f"validation_fraction must be a number in (0, 1), got {fraction!r}")
        space = parse_space(self.space)
        unknown = [k for k in space if k not in OVERRIDABLE]
        if unknown:
            raise ValueError(f"space.{unknown[0]} is not a setting a run takes; the space may set {sorted(OVERRIDABLE)}")
        check_dataset(self.dataset)
        self.table = check_table(self.dataset, self.table)
        self.to_study()  # every other setting, with the study's rules
        return self

    def parsed_space(self) -> dict:
        return parse_space(self.space)

    def sample(self) -> list[dict]:
        """The settings of every trial, in order."""
        return sample_trials(self.parsed_space(), self.seed, self.trials)

    def to_study(self) -> StudyConfig:
        """The study that runs the trials: one configuration per trial, over ``seeds``."""
        configurations = [{"label": trial_label(t), **values} for t, values in enumerate(self.sample(), 1)]
        return StudyConfig(name=self.name, dataset=self.dataset, table=self.table, hidden_layer_sizes=self.hidden_layer_sizes,
                           activation=self.activation, max_iter=self.max_iter, batch_size=self.batch_size,
                           seeds=self.seeds, configurations=configurations, grid_points=0, diagnose=False,
                           target_error=self.target_error, title=self.title, description=self.description)

    def to_dict(self) -> dict:
        return settings_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SearchConfig":
        """Build from a plain dict (a TOML table or ``to_dict()``); unknown keys are refused."""
        return from_settings(cls, data, "search")

    @classmethod
    def from_toml(cls, path) -> "SearchConfig":
        """Read a TOML file: settings at the top level or under ``[search]``, the space under
        ``[space]`` or ``[search.space]``, table options under ``[table]``; relative data paths are
        relative to the file's folder (as ``StudyConfig.from_toml``)."""
        return cls.from_dict(_beside(read_toml(path, "search"), Path(path).parent))


def search_section(config: dict, records: list[dict], dataset: Optional[dict] = None, *,
                   expected: Optional[int] = None) -> dict:
    """A report section: ``study_section``'s keys with kind "search", plus ``"parameters"`` (the
    sampled ones, ``parameters(space)``). The trials' values are read from the records' ``config``."""
    from .runner import study_section

    section = study_section(config, records, None, dataset, expected=expected)
    return {"kind": "search", **{k: v for k, v in section.items() if k != "kind"},
            "parameters": parameters(parse_space(config["space"]))}


def run_search(search: SearchConfig, *, jobs: Optional[int] = None, scheduler=None, out=None,
               retries: int = RETRIES, on_result=None, on_progress=None, force: bool = False) -> dict:
    """Run every trial of ``search`` (as ``run_study`` runs a study: local or Dask, resumable
    in ``out``); return its report section (``search_section``)."""
    from .data import load_study_data, validation_split
    from .runner import execute_runs

    data = validation_split(load_study_data(search), search.validation_fraction, search.seed)
    records = execute_runs(search.to_study().expand(), data, kind="search", config=search.to_dict(),
                           dataset=data.info, jobs=jobs, scheduler=scheduler, out=out, retries=retries,
                           on_result=on_result, on_progress=on_progress, force=force)
    return search_section(search.to_dict(), records, data.info)
