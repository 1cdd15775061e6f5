"""The gradient-check report: per-parameter differences, worst entries, kinks and a verdict.

Verdict bands (the course's): ``difference < threshold`` (default ``2e-7``, the course's later
edition) is **right**; ``difference >= 1e-3`` is a **bug**; in between, **look closer** (the
course: "around 1e-5, look closer"). The same bands apply to each parameter (W1, b1, ...) on its
own entries, so a wrong ``db3`` is named even when its share of the overall norm is small. A
correct backprop of a randomly initialised network passes at ``epsilon = 1e-7`` in float64 with
a wide margin (typically ``1e-9`` to ``1e-8``). One allowance: a parameter whose error is within
the rounding noise of the centred difference itself, ``||grad - gradapprox|| <= sqrt(n) * 16 *
spacing(max(1, |J|)) / epsilon``, is not failed even if its gradient is so small that the
relative number is large (a dead unit's zero gradient against a ``1e-10`` approximation).

Kinks. A centred difference across a point where J is not differentiable (a ReLU pre-activation
within epsilon of 0; with dropout, a unit whose inputs were all dropped sits exactly at 0 and its
bias moves it across) approximates neither one-sided derivative. Such entries are flagged in
``kinks`` and left out of the verdict and of ``difference``; ``raw_difference`` keeps the course's
number over all entries. For a black-box ``cost_fn`` a kink is detected from the disagreement of
the one-sided differences ``(J+ - J)/eps`` and ``(J - J-)/eps``: more than
``max(1e-5 (|fwd| + |bwd|), 10 eps)`` (a smooth J disagrees by ``eps |J''|``); for practicaldl's
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from ..core.validation import check_positive

#: Below this the gradient is right (the course's later edition; its first said 1e-7).
DEFAULT_THRESHOLD = 2e-7
#: At or above this the gradient is almost certainly wrong.
BUG_THRESHOLD = 1e-3
#: Rounding allowance per entry, in units of spacing(max(1, |J|)) / epsilon.
NOISE_ULPS = 16
#: One-sided differences disagreeing by more than this (relative) mark a kink ...
KINK_RTOL = 1e-5
#: ... and by more than this many epsilons (absolute).
KINK_ATOL_EPS = 10.0

VERDICTS = ("right", "look closer", "bug")

# -- the report ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class EntryCheck:
    """One entry of a parameter: its index, the analytic and the numerical derivative."""

    index: tuple
    analytic: float
    numerical: float

    @property
    def error(self) -> float:
        return abs(self.analytic - self.numerical)

    def to_dict(self) -> dict:
        return {"index": list(self.index), "analytic": self.analytic, "numerical": self.numerical,
                "error": self.error}


@dataclass
class ParameterCheck:
    """The check of one parameter (W1, b1, ...): its own difference, verdict and worst entries."""

    name: str
    shape: tuple
    difference: float
    raw_difference: float
    verdict: str
    passed: bool
    worst: list
    kinks: list
    n_entries: int

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "difference": self.difference,
                "raw_difference": self.raw_difference, "verdict": self.verdict, "passed": self.passed,
                "worst": [e.to_dict() for e in self.worst], "kinks": [e.to_dict() for e in self.kinks],
                "n_entries": self.n_entries}


@dataclass
class GradCheckReport:
    """What a gradient check found: overall difference and verdict, one ``ParameterCheck`` per parameter.

    ``difference`` is the course's formula over every entry that is not a kink (with no kink it
    is exactly the course's number); ``raw_difference`` includes the kinks. ``passed`` is True
    when the overall verdict and every parameter's verdict is "right"; ``verdict`` is the worst
    of them. ``n_evaluations`` counts cost evaluations (a structured evaluation is a partial
    forward pass). ``method`` is "loop", "structured" or "directional".
    """

    difference: float
    raw_difference: float
    verdict: str
    passed: bool
    threshold: float
    epsilon: float
    per_parameter: dict
    n_evaluations: int
    method: str = "loop"
    cost: float = float("nan")
    notes: list = field(default_factory=list)

    @property
    def failing(self) -> list:
        """Names of the parameters whose verdict is not "right"."""
        return [name for name, p in self.per_parameter.items() if not p.passed]

    @property
    def kinks(self) -> dict:
        """``name -> [EntryCheck]`` for the parameters with flagged kinks."""
        return {name: p.kinks for name, p in self.per_parameter.items() if p.kinks}

    def to_dict(self) -> dict:
        return {"difference": self.difference, "raw_difference": self.raw_difference, "verdict": self.verdict,
                "passed": self.passed, "threshold": self.threshold, "bug_threshold": BUG_THRESHOLD,
                "epsilon": self.epsilon, "n_evaluations": self.n_evaluations, "method": self.method,
                "cost": self.cost, "failing": self.failing, "unchecked": self.unchecked, "notes": list(self.notes),
                "per_parameter": {k: p.to_dict() for k, p in self.per_parameter.items()}}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @property
    def unchecked(self) -> list:
        """Parameters every entry of which sits at a kink: nothing of theirs could be compared."""
        return [name for name, p in self.per_parameter.items() if p.kinks and len(p.kinks) == p.n_entries]

    def _rows(self):
        unchecked = self.unchecked
        for name, p in self.per_parameter.items():
            if p.worst:
                w = p.worst[0]
                worst = f"{name}{list(w.index)}: {w.analytic:.6g} vs {w.numerical:.6g}"
            else:
                worst = "-"
            difference = "all kinks" if name in unchecked else f"{p.difference:.3e}"
            yield name, "x".join(map(str, p.shape)), difference, p.verdict, worst, str(len(p.kinks))

    def _summary(self) -> str:
        n_kinks = sum(len(p.kinks) for p in self.per_parameter.values())
        line = (f"difference = {self.difference:.6e}  verdict: {self.verdict}  (threshold {self.threshold:g}, "
                f"epsilon {self.epsilon:g}, {self.n_evaluations} evaluations, {self.method})")
        if n_kinks:
            line += f"; {n_kinks} kink(s) left out, difference with them {self.raw_difference:.3e}"
        if self.unchecked:
            line += f"; every entry at a kink (not compared): {', '.join(self.unchecked)}"
        if self.failing:
            line += f"; failing: {', '.join(self.failing)}"
        return line

    def to_table(self):
        """A rich ``Table``: one row per parameter, the overall line as its caption."""
        from rich.table import Table

        table = Table(title="Gradient check", caption=self._summary())
        for col in ("parameter", "shape", "difference", "verdict", "worst entry (analytic vs numerical)", "kinks"):
            table.add_column(col)
        styles = {"right": "green", "look closer": "yellow", "bug": "bold red"}
        for row in self._rows():
            table.add_row(*row, style=styles.get(row[3]))
        return table

    def __rich__(self):
        return self.to_table()

    def __str__(self) -> str:
        header = ("parameter", "shape", "difference", "verdict", "worst entry (analytic vs numerical)", "kinks")
        rows = [header, *self._rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join([*lines, self._summary()])


# -- verdicts -----------------------------------------------------------------------------------
def _norm(x: np.ndarray) -> float:
    """``np.linalg.norm`` of a 1-D float64 vector (``sqrt(x . x)``, the same number), without its overhead."""
    return math.sqrt(float(x.dot(x)))


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else (0.0 if num == 0 else math.inf)


def _band(difference: float, threshold: float) -> str:
    if difference < threshold:
        return "right"
    return "bug" if not difference < BUG_THRESHOLD else "look closer"


def _judge(analytic, numerical, kink, threshold, noise_per_entry):
    """(difference without kinks, raw difference, verdict, passed) for one set of entries."""
    err = _norm(analytic - numerical)
    raw = _ratio(err, _norm(analytic) + _norm(numerical))
    diff, n_kept = raw, analytic.size
    if kink.any():
        keep = ~kink
        n_kept = int(keep.sum())
        a, g = analytic[keep], numerical[keep]
        err = _norm(a - g)
        diff = _ratio(err, _norm(a) + _norm(g)) if n_kept else 0.0
    passed = diff < threshold or err <= math.sqrt(max(n_kept, 1)) * noise_per_entry
    verdict = "right" if passed else _band(diff, threshold)
    return diff, raw, verdict, passed


def _noise_per_entry(cost: float, epsilon: float) -> float:
    scale = max(1.0, abs(cost)) if math.isfinite(cost) else 1.0
    return NOISE_ULPS * float(np.spacing(scale)) / epsilon


def _largest(values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest values, largest first, ties by index: ``np.argsort(-values,
    kind="stable")[:n]``, from a partition instead of a full sort."""
    if values.size <= n:
        return np.argsort(-values, kind="stable")[:n]
    nth = np.partition(values, values.size - n)[values.size - n]  # the n-th largest
    above = np.flatnonzero(values > nth)
    picks = np.concatenate([above, np.flatnonzero(values == nth)[:n - above.size]])
    return picks[np.argsort(-values[picks], kind="stable")]


def _assemble(shapes, analytic, numerical, kinks, *, epsilon, threshold, n_evaluations, method, cost, n_worst=3,
              notes=()):
    """Build a report from flat float64 vectors (n,) in the order of ``shapes``."""
    noise = _noise_per_entry(cost, epsilon)
    per = {}
    start = 0
    for name, shape in shapes.items():
        size = int(np.prod(shape, dtype=np.int64))
        a, g, k = analytic[start:start + size], numerical[start:start + size], kinks[start:start + size]
        diff, raw, verdict, passed = _judge(a, g, k, threshold, noise)
        err = np.abs(a - g)
        err_ranked = np.where(k, -1.0, np.nan_to_num(err, nan=np.inf))
        order = _largest(err_ranked, n_worst)
        idx = lambda i: tuple(int(v) for v in np.unravel_index(i, shape)) if shape else ()  # noqa: E731
        worst = [EntryCheck(idx(i), float(a[i]), float(g[i])) for i in order if not k[i]]
        flagged = [EntryCheck(idx(i), float(a[i]), float(g[i])) for i in np.flatnonzero(k)]
        per[name] = ParameterCheck(name, tuple(shape), diff, raw, verdict, passed, worst, flagged, size)
        start += size
    diff, raw, verdict, passed = _judge(analytic, numerical, kinks, threshold, noise)
    worst_verdict = max([verdict, *(p.verdict for p in per.values())], key=VERDICTS.index)
    all_passed = passed and all(p.passed for p in per.values())
    return GradCheckReport(difference=diff, raw_difference=raw, verdict=worst_verdict, passed=all_passed,
                           threshold=threshold, epsilon=epsilon, per_parameter=per, n_evaluations=n_evaluations,
                           method=method, cost=float(cost), notes=list(notes))


def _check_threshold(threshold):
    check_positive("threshold", threshold)
    if not threshold < BUG_THRESHOLD:
        raise ValueError(f"threshold must be below the bug band {BUG_THRESHOLD:g}, got {threshold!r}")
    return float(threshold)


