"""The gradient-check report: per-parameter differences, worst entries, kinks, a verdict and its cause.

Four verdicts (``VERDICTS``, from best to worst):

* **right**: the analytic gradient agrees with the numerical one, either at the course's level
  (``difference < threshold``, default ``2e-7``) or within the measured noise of the cost while
  that noise is small (at most ``MAX_RESOLUTION`` of the gradient; see ``judge``);
* **inconclusive** (``passed`` False): the check cannot tell, and says why and what to do: the
  cost is too noisy at every usable step, every entry of a parameter sits at a kink, or the cost
  is not finite at or near the parameters;
* **look closer**: a disagreement beyond the noise, with ``threshold <= difference < 1e-3``
  (the course: "around 1e-5, look closer");
* **bug**: a disagreement beyond the noise with ``difference >= 1e-3``.

``difference`` is the course's ``||grad - gradapprox|| / (||grad|| + ||gradapprox||)``; each
parameter (W1, b1, ...) has its own, so a wrong ``db3`` is named even when its share of the whole
norm is small. ``passed`` is True only when every parameter is right; entries that were not
compared (kinks) are never called right on their own.
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
#: From best to worst: the overall verdict is the worst of the parameters'.
VERDICTS = ("right", "inconclusive", "look closer", "bug")

_STYLES = {"right": "green", "inconclusive": "magenta", "look closer": "yellow", "bug": "bold red"}


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
        return {"index": list(self.index), "analytic": _num(self.analytic), "numerical": _num(self.numerical),
                "error": _num(self.error)}


@dataclass
class ParameterCheck:
    """The check of one parameter (W1, b1, ...): its difference, verdict, worst entries and kinks.

    ``step`` is the step of the numbers judged (``epsilon``, or the second look's, then
    ``second_look`` is True); ``resolution`` the smallest relative difference the noise and the
    step's truncation let the check see; ``cause`` and ``remedy`` say why a verdict is not
    "right" (None when it is).
    """

    name: str
    shape: tuple
    difference: float
    raw_difference: float
    verdict: str
    passed: bool
    worst: list
    kinks: list
    n_entries: int
    step: float = float("nan")
    second_look: bool = False
    resolution: float = 0.0
    cause: str | None = None
    remedy: str | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "difference": _num(self.difference),
                "raw_difference": _num(self.raw_difference), "verdict": self.verdict, "passed": self.passed,
                "worst": [e.to_dict() for e in self.worst], "kinks": [e.to_dict() for e in self.kinks],
                "n_entries": self.n_entries, "step": _num(self.step), "second_look": self.second_look,
                "resolution": _num(self.resolution), "cause": self.cause, "remedy": self.remedy}


@dataclass
class GradCheckReport:
    """What a gradient check found: overall difference and verdict, one ``ParameterCheck`` per parameter.

    ``difference`` is the course's formula over every compared entry, with the numbers each
    parameter was judged on; ``raw_difference`` is the course's number at ``epsilon`` over all
    entries, kinks included. ``verdict`` is the worst of the parameters' (``VERDICTS``);
    ``passed`` is True when every parameter is right. ``noise`` is the measured rounding noise of
    the cost (standard deviation of J, absolute); ``n_evaluations`` counts cost evaluations (a
    structured evaluation is a partial forward pass); ``method`` is "loop", "structured" or
    "directional". ``gradapprox`` (loop and structured) is ``name -> array``: the course's centred
    differences at ``epsilon``, every entry (not in ``to_dict``).
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
    noise: float = float("nan")
    gradapprox: dict | None = None

    @property
    def failing(self) -> list:
        """Names of the parameters whose verdict is not "right" (inconclusive ones included)."""
        return [name for name, p in self.per_parameter.items() if not p.passed]

    @property
    def inconclusive(self) -> list:
        """Names of the parameters the check could not judge."""
        return [name for name, p in self.per_parameter.items() if p.verdict == "inconclusive"]

    @property
    def kinks(self) -> dict:
        """``name -> [EntryCheck]`` for the parameters with entries at kinks."""
        return {name: p.kinks for name, p in self.per_parameter.items() if p.kinks}

    @property
    def unchecked(self) -> list:
        """Parameters every entry of which sits at a kink: nothing of theirs could be compared."""
        return [name for name, p in self.per_parameter.items() if p.kinks and len(p.kinks) == p.n_entries]

    @property
    def second_looks(self) -> dict:
        """``name -> step`` for the parameters judged on a second look."""
        return {name: p.step for name, p in self.per_parameter.items() if p.second_look}

    @property
    def message(self) -> str:
        """One line: the verdict, and for a check that did not pass, which parameters and why."""
        if self.passed:
            return f"right: difference {self.difference:.3g}"
        bad = [p for p in self.per_parameter.values() if not p.passed]
        worst = max(bad, key=lambda p: VERDICTS.index(p.verdict))
        names = ", ".join(p.name for p in bad if p.verdict == worst.verdict)
        line = f"{worst.verdict}: {names}"
        if worst.cause:
            line += f" ({worst.cause}"
            line += f"; {worst.remedy})" if worst.remedy else ")"
        return line

    def to_dict(self) -> dict:
        """The report as strict JSON types (a number that is not finite, such as the difference of a
        parameter that was not compared, becomes None)."""
        return {"difference": _num(self.difference), "raw_difference": _num(self.raw_difference),
                "verdict": self.verdict, "passed": self.passed, "message": self.message, "threshold": self.threshold,
                "bug_threshold": BUG_THRESHOLD, "epsilon": self.epsilon, "noise": _num(self.noise),
                "n_evaluations": self.n_evaluations, "method": self.method, "cost": _num(self.cost),
                "failing": self.failing, "inconclusive": self.inconclusive, "unchecked": self.unchecked,
                "second_looks": self.second_looks, "notes": list(self.notes),
                "per_parameter": {k: p.to_dict() for k, p in self.per_parameter.items()}}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    _HEADER = ("parameter", "shape", "difference", "verdict", "step", "worst entry (analytic vs numerical)", "kinks")

    def _rows(self):
        unchecked = self.unchecked
        for name, p in self.per_parameter.items():
            worst = "-"
            if p.worst:
                w = p.worst[0]
                worst = f"{name}{list(w.index)}: {w.analytic:.6g} vs {w.numerical:.6g}"
            difference = "all kinks" if name in unchecked else f"{p.difference:.3e}"
            step = f"{p.step:.1e}" + (" (2nd look)" if p.second_look else "")
            yield name, "x".join(map(str, p.shape)), difference, p.verdict, step, worst, str(len(p.kinks))

    def _summary(self) -> list:
        n_kinks = sum(len(p.kinks) for p in self.per_parameter.values())
        line = (f"difference = {self.difference:.6e}  verdict: {self.verdict}  (threshold {self.threshold:g}, "
                f"epsilon {self.epsilon:g}, noise of J {self.noise:.1e}, {self.n_evaluations} evaluations, "
                f"{self.method})")
        if n_kinks:
            line += f"; {n_kinks} kink(s) not compared, difference with them at epsilon {self.raw_difference:.3e}"
        if self.unchecked:
            line += f"; every entry at a kink (not compared): {', '.join(self.unchecked)}"
        if self.second_looks:
            line += "; second look: " + ", ".join(f"{k} at step {v:.1e}" for k, v in self.second_looks.items())
        if self.failing:
            line += f"; failing: {', '.join(self.failing)}"
        lines = [line]
        for p in self.per_parameter.values():
            if p.cause:
                lines.append(f"{p.name} {p.verdict}: {p.cause}" + (f"; {p.remedy}" if p.remedy else ""))
        return lines + list(self.notes)

    def to_table(self):
        """A rich ``Table``: one row per parameter, the overall line and the causes as its caption."""
        from rich.table import Table

        table = Table(title="Gradient check", caption="\n".join(self._summary()))
        for col in self._HEADER:
            table.add_column(col)
        for row in self._rows():
            table.add_row(*row, style=_STYLES.get(row[3]))
        return table

    def __rich__(self):
        return self.to_table()

    def __str__(self) -> str:
        rows = [self._HEADER, *self._rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self._HEADER))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join([*lines, *self._summary()])


# -- helpers ------------------------------------------------------------------------------------
def _num(x):
    """A float for JSON: None when not finite."""
    x = float(x)
    return x if math.isfinite(x) else None


def _norm(x: np.ndarray) -> float:
    """``np.linalg.norm`` of a 1-D float64 vector (``sqrt(x . x)``), without its overhead."""
    return math.sqrt(float(x.dot(x)))


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else (0.0 if num == 0 else math.inf)


def _band(difference: float, threshold: float) -> str:
    """The course's bands: right below ``threshold``, bug from ``BUG_THRESHOLD``, look closer between."""
    if difference < threshold:
        return "right"
    return "bug" if not difference < BUG_THRESHOLD else "look closer"


def _worst_verdict(verdicts) -> str:
    return max(verdicts, key=VERDICTS.index, default="right")


def _largest(values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest values, largest first, ties by index: ``np.argsort(-values,
    kind="stable")[:n]``, from a partition instead of a full sort."""
    if values.size <= n:
        return np.argsort(-values, kind="stable")[:n]
    nth = np.partition(values, values.size - n)[values.size - n]  # the n-th largest
    above = np.flatnonzero(values > nth)
    picks = np.concatenate([above, np.flatnonzero(values == nth)[:n - above.size]])
    return picks[np.argsort(-values[picks], kind="stable")]


def _check_threshold(threshold):
    check_positive("threshold", threshold)
    if not threshold < BUG_THRESHOLD:
        raise ValueError(f"threshold must be below the bug band {BUG_THRESHOLD:g}, got {threshold!r}")
    return float(threshold)
