"""Batteries of random correct and planted-bug backprops: false alarms, misses, agreement of the methods.

The cases come from ``battery.py`` (random architectures, batch sizes, weight scales and labels;
outputs pushed to within 1e-1 ... 1e-12 of 0 or 1; the course's cost from A, or practicaldl's from
Z). Each test prints its rates (``pytest -s`` shows them); ``benchmarks/bench_gradcheck.py
--battery`` runs the same rows with 100 cases each.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import practicaldl as pdl

_spec = importlib.util.spec_from_file_location("battery", Path(__file__).with_name("battery.py"))
battery = importlib.util.module_from_spec(_spec)
sys.modules["battery"] = battery
_spec.loader.exec_module(battery)


def rates(label, counts):
    n = sum(counts.values())
    print(f"\n{label}: {n} cases, right {counts['right']}, inconclusive {counts['inconclusive']}, "
          f"fail {counts['fail']}")
    return n


# -- correct backprops pass: no false alarm, and no "inconclusive" up to 1e-6 from 0 or 1 ------------
@pytest.mark.parametrize("saturation", battery.SATURATIONS)
@pytest.mark.parametrize("l2", [0.0, 0.7])
def test_course_style_correct_backprops_pass_with_outputs_near_0_or_1(saturation, l2):
    counts, _ = battery.run_battery(20, kind="course", saturation=saturation, l2=l2, seed0=1000)
    assert rates(f"course cost, loop, outputs {saturation:g} from 0/1, l2 {l2}", counts) == counts["right"]


@pytest.mark.parametrize("method", ["structured", "loop", "directional"])
def test_practicaldl_correct_backprops_pass(method):
    for kw in ({"saturation": 1e-6}, {"saturation": 1e-2}, {"keep_prob": 0.8}):
        counts, _ = battery.run_battery(15, kind="practicaldl", method=method, seed0=3000, **kw)
        assert rates(f"practicaldl, {method}, {kw}", counts) == counts["right"]


def test_course_style_directional_check_passes_correct_backprops():
    counts, _ = battery.run_battery(30, kind="course", method="directional", saturation=1e-6, seed0=1000)
    assert rates("course cost, directional, outputs 1e-6 from 0/1", counts) == counts["right"]


# -- planted bugs are caught and named -------------------------------------------------------------
@pytest.mark.parametrize("bug", battery.BUGS)
@pytest.mark.parametrize("kind,method,n", [("course", "loop", 20), ("course", "directional", 10),
                                           ("practicaldl", "structured", 20), ("practicaldl", "loop", 10)])
def test_planted_bugs_are_caught_and_named(bug, kind, method, n):
    counts, rows = battery.run_battery(n, kind=kind, method=method, bug=bug, seed0=2000)
    rates(f"{kind}, {method}, planted bug {bug!r}", counts)
    assert counts["right"] == 0, [s for s, o in rows if o == "right"]  # never a false pass
    assert counts["fail"] == n, [s for s, o in rows if o != "fail"]


# -- beyond 1e-6: never a false pass, never a false alarm; inconclusive allowed ------------------------
@pytest.mark.parametrize("saturation", [1e-9, 1e-12])
def test_outputs_very_close_to_0_or_1_never_pass_a_bug_nor_fail_a_correct_backprop(saturation):
    counts, _ = battery.run_battery(20, kind="course", saturation=saturation, seed0=1000)
    rates(f"course cost, correct, outputs {saturation:g} from 0/1", counts)
    assert counts["fail"] == 0
    for bug in battery.BUGS:
        counts, _ = battery.run_battery(5, kind="course", bug=bug, saturation=saturation, seed0=2000)
        rates(f"course cost, bug {bug!r}, outputs {saturation:g} from 0/1", counts)
        assert counts["right"] == 0


# -- the three methods agree, kinks included ------------------------------------------------------
@pytest.mark.parametrize("bug", [None, "scale"])
def test_the_three_methods_agree_on_random_kinky_networks(bug):
    n, differ = battery.run_agreement(60, seed0=5000, bug=bug)
    print(f"\nagreement, kinky networks with dropout 0.5, bug {bug}: {len(differ)} of {n} differ")
    assert differ == []


# -- the issue's scenario: every output within about 1e-6 of 0 or 1 ----------------------------------
def issue_scenario(l2):
    """A ReLU network whose outputs all sit within about 1e-6 of 1 (Z_L near 13.8), half of them with
    label 0: the noisiest case for the course's log(1 - A)."""
    rng = np.random.RandomState(7)
    params = pdl.initialize_parameters([3, 4, 4, 1], init="he", rng=rng)
    for k in ("b1", "b2"):
        params[k] = 0.1 * rng.standard_normal(params[k].shape)
    params["W3"] *= 0.01
    X = rng.standard_normal((3, 10))
    Y = (np.arange(10) % 2).astype(float)[None, :]
    A = X
    for l in (1, 2):
        A = np.maximum(0, params[f"W{l}"] @ A + params[f"b{l}"])
    params["b3"] = np.array([[13.8]]) - params["W3"] @ A.mean(axis=1, keepdims=True)
    return params, X, Y, l2


@pytest.mark.parametrize("l2", [0.0, 0.7])
def test_issue_scenario_correct_passes_and_planted_bugs_are_named(l2):
    params, X, Y, l2 = issue_scenario(l2)
    A = 1 / (1 + np.exp(-(params["W3"] @ np.maximum(0, params["W2"] @ np.maximum(0, params["W1"] @ X + params["b1"])
                                                          + params["b2"]) + params["b3"])))
    assert np.all(1 - A < 2e-6) and np.all(1 - A > 5e-7)  # the premise
    cost_fn = lambda p: battery.course_forward(p, X, Y, l2)  # noqa: E731
    grads = battery.course_backward(params, X, Y, l2)
    report = pdl.gradient_check(cost_fn, params, grads)
    assert report.passed, str(report)
    assert report.kinks == {}  # noise is not taken for kinks
    rng = np.random.RandomState(0)
    for bug, name in (("scale", "W2"), ("no 1/m", "b1"), ("sign", "W1"), ("transpose", "W2"), ("no l2", "W1")):
        if bug == "no l2" and not l2:
            continue
        bad = battery.plant(bug, grads, params, X.shape[1], l2, name, rng)
        assert bad is not None
        report = pdl.gradient_check(cost_fn, params, bad)
        assert report.failing == [name] and report.per_parameter[name].verdict in ("look closer", "bug"), (bug, report)
