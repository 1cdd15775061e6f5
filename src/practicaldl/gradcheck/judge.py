"""How a gradient check decides: the cost's noise measured, kinks told from noise, a second look.

A centred difference at step h, for an entry i (or a direction),
``gradapprox_i = (J(theta + h e_i) - J(theta - h e_i)) / (2 h)``, carries two errors: truncation,
about ``h^2 J''' / 6``, which shrinks with h, and the rounding noise of J, about
``sigma sqrt(2) / (2 h)``, which grows as h shrinks. ``sigma``, the standard deviation of the
cost function's own rounding noise, is measured here, never assumed: a cost computed as
``log(1 - A)`` with A within 1e-6 of 1 is about a million times noisier than its value's last bit.

**Noise** (``measure_noise``). theta moves along ``NOISE_DIRECTIONS`` random unit directions u
by ``t epsilon u``, t = -3 .. 3: each entry moves by about the first look's step spread over all
entries, so the intermediate values (A near 1 included) move by many of their ulps and their
rounding errors are drawn afresh, as they are for one entry moved by epsilon. Along the line J
is ``a + b t + c t^2 + d t^3`` to within ``(3 epsilon)^4`` times its fourth derivative, plus
``e |t|`` for a kink at theta (a unit exactly at 0); the residuals of that fit through the seven
values (2 degrees of freedom per direction) are rounding noise:
``sigma^2 = residual sum of squares / 2 r``, at least ``(spacing(J) / 2)^2``. Measured at a much
smaller step it would miss exactly that noise (A would not move by even one ulp).

**First look** at ``epsilon``, every entry: ``gradapprox`` (the course's formula) and the
one-sided disagreement ``fb = (J+ - J0) / h+ - (J0 - J-) / h-`` (h+- the steps as rounded in
theta +- h). Noise standard deviations: ``sd = sigma sqrt(2) / (h+ + h-)`` for gradapprox and
``sd_fb = sigma sqrt(1/h+^2 + 1/h-^2 + (1/h+ + 1/h-)^2)`` for fb. The step's rounding,
``|h+ + h- - 2 epsilon|``, enters each entry's ``slack`` exactly.

**Kinks** (a ReLU pre-activation at 0, a unit whose inputs dropout removed). A smooth J has
``fb = h J''``, which halves with the step; noise gives ``|fb| ~ sigma / h``, which doubles; a
kink keeps it (a jump Delta in slope at theta gives ``fb = Delta`` at every step). An entry with
``|fb| > K sd_fb`` is looked at again at ``epsilon / 2``: it is smooth when fb halved (curvature:
the first look stands) or vanished (a kink that the half step no longer reaches: the half step's
numbers are used), and a kink otherwise. Kinks are listed and not compared.

**Verdict** of a parameter, from its compared entries (``_judge``)::

    err = ||grad - gradapprox||,   difference = err / (||grad|| + ||gradapprox||)
    allowance  = K sqrt(sum sd_i^2) + ||slack||
    resolution = allowance / max(||grad|| + ||gradapprox||, SHARE_FLOOR share)

right: ``difference < threshold``, or ``err <= allowance`` with ``resolution <= MAX_RESOLUTION``
(so a relative error of 2 MAX_RESOLUTION could not have hidden in the noise); unresolved:
``err <= allowance`` but the noise could hide a bug; failing: ``err > allowance``, banded by
difference ("look closer" or "bug"). ``share`` is the parameter's share of the whole gradient,
``2 ||grad||_all sqrt(n_p / n)``: a parameter whose gradient is 0 or next to it (a dead unit) is
judged against a thousandth of the others' scale rather than its own 0, and any other against its
own, so that a gradient off by 0.1% cannot hide in the noise of a small parameter. It depends on
the analytic gradient alone, so it is the same for every method. When the whole gradient is 0 to
within the noise at the largest step (a dead network), a parameter that agrees within the noise
is inconclusive: there is nothing to compare.

**Second look**, before any verdict other than right (``_second_look``): the noise measured again
at the second look's step along the parameter's own entries, then three steps h, 2h, 4h, with h
the smallest step (and at least epsilon) at which the noise alone stays below a quarter of
``MAX_RESOLUTION``. Richardson's ``R(h) = (4 D(h) - D(2h)) / 3`` cancels the h^2 term of the
truncation, and ``|R(2h) - R(h)|`` (the slack) bounds what is left whether J is smooth (h^4) or
has a kink in a derivative (h). An entry whose fb does not double from h to 2h (``|fb(2h) -
2 fb(h)|`` beyond the noise and a quarter of ``|fb(2h)|``) crosses a kink at these steps and keeps
its first look. If the slack dominates, one more look where the measured truncation and noise
balance. A failure is then confirmed at a second scale (``PROBE_STEP``) before it is reported.
Unresolved after all that: **inconclusive**, with the cause.

The same procedure serves the plain loop, the structured pass and the directional check (an
"entry" is then a direction): an engine supplies ``deltas(index, step)`` and the verdicts follow
from the same numbers.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .report import EntryCheck, ParameterCheck, _band, _largest, _norm, _ratio

#: Noise allowance and kink tests, in standard deviations of the measured noise.
K_NOISE = 5.0
#: "right within noise" only when the noise and truncation hide nothing above this (relative).
MAX_RESOLUTION = 1e-4
#: A parameter's gradient is judged against at least this fraction of its share of the whole.
SHARE_FLOOR = 1e-3
#: Random directions of the noise measurement (6 evaluations each).
NOISE_DIRECTIONS = 4
#: A second look's largest step, and the step of the probe before a failing verdict, relative to
#: max(1, |theta|) of the parameter.
MAX_STEP = 1e-2
PROBE_STEP = 3e-4

REMEDY_NOISE = ("a cost computed from the sigmoid's output A loses precision where A is within about 1e-9 of "
                "0 or 1: compute it from the pre-activation Z (as practicaldl's compute_cost does), or check "
                "on inputs whose outputs are not that close to 0 or 1")
REMEDY_KINK = ("use other inputs (no example whose pre-activation is exactly 0, e.g. nonzero biases or inputs), "
               "or check with keep_prob=1")
REMEDY_NONFINITE = ("log(0) where an output is exactly 0 or 1? compute the cost from the pre-activation Z "
                    "(as practicaldl's compute_cost does)")


class BudgetExhausted(Exception):
    """An engine's evaluation budget (``directional_check(max_evaluations=...)``) is spent."""


class Noise(NamedTuple):
    """The cost's measured rounding noise: standard deviation ``sigma`` of J, the evaluations it took,
    and ``sigma`` in ulps of J."""

    sigma: float
    n_evaluations: int
    ulps: float


_NOISE_T = np.arange(-3.0, 4.0)
_NOISE_BASIS = np.stack([np.ones(7), _NOISE_T, _NOISE_T ** 2, _NOISE_T ** 3, np.abs(_NOISE_T)], axis=1)  # (7, 5)
_NOISE_RESIDUAL = np.eye(7) - _NOISE_BASIS @ np.linalg.pinv(_NOISE_BASIS)  # projects out the fit


def measure_noise(cost_at, theta: np.ndarray, J0: float, step: float, *, span: slice = slice(None),
                  n_directions: int = NOISE_DIRECTIONS, seed: int = 0) -> Noise:
    """``sigma`` of ``cost_at(theta') -> float`` near ``theta`` (n,), at ``step``, along directions
    supported on the entries ``span`` of theta: see the module docstring."""
    gen = np.random.default_rng(seed)
    t, residual = _NOISE_T, _NOISE_RESIDUAL
    rss, used = 0.0, 0
    for _ in range(n_directions):
        u = np.zeros(theta.size)
        u[span] = gen.standard_normal(u[span].size)
        u *= step / np.sqrt(u @ u)
        y = np.array([cost_at(theta + ti * u) - J0 if ti else 0.0 for ti in t])
        used += t.size - 1
        if not np.all(np.isfinite(y)):
            return Noise(math.inf, used, math.inf)
        r = residual @ y
        rss += float(r @ r)
    ulp = float(np.spacing(abs(J0)))
    sigma = max(math.sqrt(rss / (2 * n_directions)), ulp / 2)
    return Noise(sigma, used, sigma / ulp)


class Look(NamedTuple):
    """Centred differences of some entries at one step, with what their noise allows."""

    num: np.ndarray     # gradapprox (k,)
    ana: np.ndarray     # the analytic values they compare with (k,)
    fb: np.ndarray      # one-sided disagreement (J+ - J0)/h+ - (J0 - J-)/h- (k,)
    sd: np.ndarray      # noise standard deviation of num (k,)
    fb_sd: np.ndarray   # ... of fb (k,)
    slack: np.ndarray   # deterministic error bound: the step's rounding (k,)
    finite: np.ndarray  # J+ and J- finite (k,) bool


def look(engine, index: np.ndarray, step: float, sigma: float, *, course: bool) -> Look:
    """``engine.deltas`` at ``step`` for the entries ``index``; ``course``: divide by ``2 step`` as the
    course does (the step's rounding goes into ``slack``), else by the actual steps ``h+ + h-``."""
    dp, dm, hp, hm, ana = engine.deltas(index, step)
    with np.errstate(invalid="ignore", over="ignore"):
        if course:
            num = (dp - dm) / (2 * step)
            slack = np.abs(num) * np.abs(hp + hm - 2 * step) / (2 * step)
        else:
            num = (dp - dm) / (hp + hm)
            slack = np.zeros_like(num)
        fb = dp / hp + dm / hm
    finite = np.isfinite(dp) & np.isfinite(dm)
    sd = sigma * math.sqrt(2) / (hp + hm)
    fb_sd = sigma * np.sqrt(1 / hp ** 2 + 1 / hm ** 2 + (1 / hp + 1 / hm) ** 2)
    return Look(num, np.asarray(ana, dtype=np.float64), fb, sd, fb_sd, np.nan_to_num(slack, nan=np.inf), finite)


class Block(NamedTuple):
    """The entries of one parameter: its name, shape, the indices of its entries among the engine's,
    and its place ``span`` in theta. ``entries``: True when the entries are the parameter's own
    (row-major), False for directions (supported on ``span``). ``second_look``: False for a block
    that only informs (the directional check's directions over all parameters)."""

    name: str
    shape: tuple
    index: np.ndarray
    span: slice
    entries: bool = True
    second_look: bool = True


class Outcome(NamedTuple):
    """A finished check: per-parameter results, the difference over compared entries, the course's
    number at epsilon over all entries, and the first look's centred differences (n,)."""

    per_parameter: dict
    difference: float
    raw_difference: float
    gradapprox: np.ndarray


def _course_difference(a, g) -> float:
    return _ratio(_norm(a - g), _norm(a) + _norm(g))


def _judge(ana, num, sd, slack, threshold, share):
    """``(state, difference, resolution)``: state "right", "unresolved", "look closer" or "bug"."""
    err = _norm(ana - num)
    scale = _norm(ana) + _norm(num)
    difference = _ratio(err, scale)
    allowance = K_NOISE * _norm(sd) + _norm(slack)
    resolution = _ratio(allowance, max(scale, share))
    if difference < threshold:
        return "right", difference, resolution
    if err <= allowance:
        return ("right" if resolution <= MAX_RESOLUTION else "unresolved"), difference, resolution
    return _band(difference, threshold), difference, resolution


class _State:
    """Per-entry numbers the verdicts are judged on, over all of the engine's entries."""

    def __init__(self, first: Look, epsilon: float):
        self.num, self.ana, self.sd, self.slack = first.num.copy(), first.ana.copy(), first.sd.copy(), first.slack.copy()
        self.step = np.full(first.num.size, epsilon)
        self.kink = np.zeros(first.num.size, dtype=bool)
        self.bad = ~first.finite
        self.unjudged = np.zeros(first.num.size, dtype=bool)  # the budget ran out before a needed look

    def take(self, where: np.ndarray, new: Look, values=None, step=None):
        """Replace the entries ``where`` by the look ``new`` (or by ``values = (num, ana, sd, slack)``)."""
        num, ana, sd, slack = values if values is not None else (new.num, new.ana, new.sd, new.slack)
        self.num[where], self.ana[where], self.sd[where], self.slack[where] = num, ana, sd, slack
        if step is not None:
            self.step[where] = step


def run(engine, blocks, *, epsilon: float, threshold: float, sigma: float, gradient: np.ndarray, n_worst: int = 3,
        second_look: bool = True) -> Outcome:
    """Judge every block (parameter) of ``engine``'s entries: see the module docstring. ``gradient``:
    the whole analytic gradient (n,), whose norm sets each parameter's ``share``."""
    n = sum(b.index.size for b in blocks)
    first = look(engine, np.arange(n), epsilon, sigma, course=True)
    state = _State(first, epsilon)
    _find_kinks(engine, state, first, epsilon, sigma)
    finite = gradient[np.isfinite(gradient)]
    total = 2 * _norm(finite)
    # the whole gradient within the noise of the largest step: nothing to compare (a dead network)
    flat = total <= K_NOISE * sigma / (math.sqrt(2) * MAX_STEP) * math.sqrt(finite.size)
    per = {}
    for block in blocks:
        size = engine.theta[block.span].size
        share = SHARE_FLOOR * total * math.sqrt(size / max(finite.size, 1))
        per[block.name] = _check_block(engine, state, first, block, epsilon=epsilon, threshold=threshold, sigma=sigma,
                                       share=share, n_worst=n_worst,
                                       second_look=second_look and block.second_look, flat=flat)
    compared = ~state.kink & ~state.bad & ~state.unjudged
    difference = _course_difference(state.ana[compared], state.num[compared]) if compared.any() else 0.0
    return Outcome(per, difference, _course_difference(first.ana, first.num), first.num)


def _find_kinks(engine, state: _State, first: Look, epsilon: float, sigma: float):
    """Mark kinks: |fb| beyond noise at epsilon and neither halved (curvature) nor gone at epsilon / 2."""
    with np.errstate(invalid="ignore"):
        cand = np.flatnonzero(first.finite & (np.abs(first.fb) > K_NOISE * first.fb_sd))
    if not cand.size:
        return
    try:
        half = look(engine, cand, epsilon / 2, sigma, course=True)
    except BudgetExhausted:
        state.unjudged[cand] = True
        return
    fb0, sd0 = first.fb[cand], first.fb_sd[cand]
    curvature = np.abs(half.fb - fb0 / 2) <= K_NOISE * (half.fb_sd + sd0 / 2)
    gone = np.abs(half.fb) <= K_NOISE * half.fb_sd
    state.bad[cand] |= ~half.finite
    use_half = gone & ~curvature & half.finite
    state.take(cand[use_half], half._replace(**{k: v[use_half] for k, v in half._asdict().items()}),
               step=epsilon / 2)
    state.kink[cand] = ~curvature & ~gone & half.finite


def _step_bounds(top: float, epsilon: float) -> tuple:
    """Steps of a second look for a parameter whose largest |entry| is ``top``: at least epsilon and
    1024 ulps of ``top`` (the steps' rounding below 1e-3 of them), at most ``MAX_STEP max(1, top)``."""
    return max(epsilon, 1024 * float(np.spacing(top))), MAX_STEP * max(1.0, top)


def _second_step(top: float, epsilon: float, sigma: float, ref: float, n: int) -> float:
    """The step of a second look: the smallest at which K times the noise of ``n`` extrapolated
    differences (each about ``1.35 sigma / (sqrt(2) h)``) stays below a quarter of
    ``MAX_RESOLUTION`` of ``ref``, within ``_step_bounds``: the smallest, since larger steps cross
    more kinks and bring more truncation."""
    lo, hi = _step_bounds(top, epsilon)
    h = 4 * K_NOISE * 1.35 * sigma / math.sqrt(2) * math.sqrt(n) / (MAX_RESOLUTION * ref) if ref > 0 else hi
    return min(max(h, lo), hi)


def _extrapolated(engine, idx, h, sigma):
    """Richardson's R(h) from steps h, 2h, 4h: values (num, ana, sd, slack) and the entries that
    cross a kink at these steps (their fb does not double) or are not finite."""
    l1, l2, l4 = (look(engine, idx, s, sigma, course=False) for s in (h, 2 * h, 4 * h))
    with np.errstate(invalid="ignore", over="ignore"):
        r1, r2 = (4 * l1.num - l2.num) / 3, (4 * l2.num - l4.num) / 3
        a1, a2 = (4 * l1.ana - l2.ana) / 3, (4 * l2.ana - l4.ana) / 3
        sd = np.sqrt(16 * l1.sd ** 2 + l2.sd ** 2) / 3
        slack = np.abs((r2 - a2) - (r1 - a1))
        drift = np.abs(l2.fb - 2 * l1.fb)
        kink = drift > np.maximum(K_NOISE * np.sqrt(l2.fb_sd ** 2 + 4 * l1.fb_sd ** 2), 0.25 * np.abs(l2.fb))
    unusable = kink | ~(l1.finite & l2.finite & l4.finite) | ~np.isfinite(slack)
    return (r1, a1, sd, slack), unusable


_FAILING = ("look closer", "bug")


def _check_block(engine, state: _State, first: Look, block: Block, *, epsilon, threshold, sigma, share, n_worst,
                 second_look, flat=False) -> ParameterCheck:
    idx = block.index
    kink, bad, unjudged = state.kink[idx], state.bad[idx], state.unjudged[idx]
    compared = idx[~kink & ~bad & ~unjudged]
    raw = _course_difference(first.ana[idx], first.num[idx])
    verdict, difference, resolution, second = "inconclusive", math.nan, 0.0, False
    cause = remedy = None
    nonfinite = int(np.sum(~np.isfinite(state.ana[idx])))
    if nonfinite:
        verdict, difference = "bug", math.inf
        cause = f"{nonfinite} of its analytic gradient entries are not finite"
    elif unjudged.any():
        cause, remedy = "the evaluation budget ran out before its kinks were confirmed", "raise max_evaluations"
    elif bad.any():
        cause = f"the cost is not finite at theta +- step for {int(bad.sum())} of its entries"
        remedy = REMEDY_NONFINITE
    elif not compared.size:
        cause = f"every entry of {block.name} is at a kink (the one-sided differences disagree at every step)"
        remedy = REMEDY_KINK
    elif flat and _norm(state.ana[compared] - state.num[compared]) <= K_NOISE * _norm(state.sd[compared]):
        cause = "the whole gradient is 0 to within the cost's rounding noise: nothing to compare"
        remedy = "use inputs or parameters where the network's gradient is not 0 (are all units dead?)"
    else:
        verdict, difference, resolution = _judge(state.ana[compared], state.num[compared], state.sd[compared],
                                                 state.slack[compared], threshold, share)
        if verdict != "right" and second_look:
            second = True
            try:
                verdict, difference, resolution, cause, remedy = _second_look(
                    engine, state, block, compared, epsilon=epsilon, sigma=sigma, share=share, threshold=threshold)
            except BudgetExhausted:
                verdict, cause = "unresolved", "the evaluation budget ran out before a second look"
                remedy = "raise max_evaluations"
        if verdict == "unresolved":
            verdict = "inconclusive"
    position = (lambda i: _unravel(i - idx[0], block.shape)) if block.entries else (lambda i: (int(i - idx[0]),))
    worst = _worst_entries(state, compared, n_worst, position) if block.entries else []
    kinks = [EntryCheck(position(i), float(first.ana[i]), float(first.num[i])) for i in idx[kink]]
    steps = state.step[compared]
    step = float(steps.max()) if steps.size else float(state.step[idx[0]])
    return ParameterCheck(block.name, tuple(block.shape), float(difference), raw, verdict, verdict == "right", worst,
                          kinks, int(idx.size), step=step, second_look=second, resolution=float(resolution),
                          cause=cause, remedy=remedy)


def _second_look(engine, state: _State, block: Block, compared, *, epsilon, sigma, share, threshold):
    """A second look at the parameter's entries ``compared``: ``(state, difference, resolution, cause,
    remedy)``, state "right", "unresolved" or a failing band.

    1. The noise is measured again at the second look's step, along directions in this
       parameter, and the step re-chosen (once) if it grew.
    2. Richardson at that step; if the truncation then dominates, once more at the balanced step.
    3. Before convicting: the entries are looked at once more at ``PROBE_STEP`` (or 8 times the
       step; an eighth of it where that would pass ``MAX_STEP``, and then the probe must fail on
       its own too), and the failure must stand on entries whose extrapolated differences agree
       at both steps. A cost that is flat at small steps and wrong there (``log(1 - A)`` with A
       too close to 1 to move by one ulp) fails that; a bug agrees at every scale (but a single
       wrong entry that crosses a kink at the probe's step cannot be confirmed: inconclusive).
       A failure that rests only on entries the second look could not use (they cross a kink at
       its steps), or that the probe does not confirm, is "unresolved": the first look alone
       does not convict.
    """
    ref = max(_norm(state.ana[compared]) + _norm(state.num[compared]), share)
    top = float(np.max(np.abs(engine.theta[block.span])))
    lo, hi = _step_bounds(top, epsilon)
    h = _second_step(top, epsilon, sigma, ref, compared.size)
    for _ in range(2):
        noise = measure_noise(engine.cost_at, engine.theta, engine.J0, h, span=block.span, seed=1)
        if not math.isfinite(noise.sigma):
            return ("unresolved", math.nan, math.inf, f"the cost is not finite within {3 * h:.1e} of theta along "
                    f"{block.name}", REMEDY_NONFINITE)
        if noise.sigma <= 2 * sigma:
            break
        sigma = noise.sigma
        wider = _second_step(top, epsilon, sigma, ref, compared.size)
        if not wider > h:
            break
        h = wider

    def judge(entries):
        return _judge(state.ana[entries], state.num[entries], state.sd[entries], state.slack[entries], threshold,
                      share)

    for _ in range(2):
        values, unusable = _extrapolated(engine, compared, h, sigma)
        use = compared[~unusable]
        state.take(use, None, values=tuple(v[~unusable] for v in values), step=h)
        result = judge(compared)
        if result[0] in _FAILING and not (use.size and judge(use)[0] in _FAILING):
            return ("unresolved",) + result[1:] + (
                f"it disagrees only in {int(unusable.sum())} entries that cross a kink at the second look's steps "
                f"(from {h:.1e}): a bug cannot be told from a kink there", REMEDY_KINK)
        noise, truncation = K_NOISE * _norm(values[2][~unusable]), _norm(values[3][~unusable])
        if result[0] != "unresolved" or not truncation > 2 * noise:
            break
        balanced = h * (noise / truncation) ** (1 / 3)  # truncation ~ h^2 at worst, noise ~ 1 / h
        if not (lo <= balanced < h / 2):
            break
        h = balanced
    if result[0] == "unresolved":
        return result + (f"the cost's rounding noise ({sigma:.1e} at step {h:.1e}) hides differences below "
                         f"{result[2]:.1e} of the gradient at every usable step", REMEDY_NOISE)
    if result[0] not in _FAILING or not use.size:
        return result + (None, None)
    H = max(PROBE_STEP * max(1.0, top), 8 * h)
    if H > hi:
        H = h / 8  # no room above: confirm below (noisier, so the probe must fail on its own too)
    if H < lo:
        return ("unresolved",) + result[1:] + (
            f"the cost's rounding noise ({sigma:.1e}) leaves no second step to confirm the failure at step {h:.1e}",
            REMEDY_NOISE)
    probe, unusable = _extrapolated(engine, use, H, sigma)
    num, ana, sd, slack = probe
    with np.errstate(invalid="ignore"):
        agree = ~unusable & (np.abs((num - ana) - (state.num[use] - state.ana[use]))
                             <= K_NOISE * (sd + state.sd[use]) + slack + state.slack[use])
    confirmed = agree.any() and judge(use[agree])[0] in _FAILING
    if confirmed and H < h:  # a smaller, noisier step agrees easily: it must fail on its own as well
        confirmed = _judge(ana[agree], num[agree], sd[agree], slack[agree], threshold, share)[0] in _FAILING
    if confirmed:
        return result + (None, None)
    return ("unresolved",) + result[1:] + (
        f"its differences at step {h:.1e} and at {H:.1e} do not confirm each other: the cost is not smooth at "
        f"these scales (flat at small steps and wrong there?), or its disagreeing entries cross a kink", REMEDY_NOISE)


def _unravel(i, shape) -> tuple:
    return tuple(int(v) for v in np.unravel_index(int(i), shape)) if shape else ()


def _worst_entries(state: _State, compared, n_worst, position) -> list:
    if not compared.size:
        return []
    err = np.nan_to_num(np.abs(state.ana[compared] - state.num[compared]), nan=np.inf)
    return [EntryCheck(position(compared[i]), float(state.ana[compared[i]]), float(state.num[compared[i]]))
            for i in _largest(err, n_worst)]
