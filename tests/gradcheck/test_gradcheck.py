"""Gradient checking: course numbers, flattening, the structured pass against the loop, planted bugs,
kinks, the measured noise and the second look, the fourth verdict, named parameters, bad inputs."""

from __future__ import annotations

import dataclasses
import itertools
import hashlib
import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import practicaldl as pdl
from practicaldl import gradcheck as gc
from practicaldl.gradcheck import judge  # noqa: F401  (gc.judge)
from practicaldl.core.activations import hidden_activations
from practicaldl.core.network import backward_propagation, compute_cost, forward_propagation


def make_problem(dims=(4, 5, 3, 1), m=6, output="sigmoid", seed=1, bias_scale=0.1):
    """A small network with non-zero biases (so every db has a gradient worth checking); a sigmoid output
    with more than one unit has independent 0/1 labels (multi-label)."""
    rng = np.random.RandomState(seed)
    params = pdl.initialize_parameters(list(dims), rng=rng)
    for k in params:
        if k[0] == "b":
            params[k] = rng.standard_normal(params[k].shape) * bias_scale
    X = rng.standard_normal((dims[0], m))
    if output == "sigmoid":
        Y = (rng.random_sample((dims[-1], m)) < 0.5).astype(float)
    else:
        Y = np.eye(dims[-1])[rng.randint(0, dims[-1], m)].T
    return params, X, Y


# -- the course's numbers ---------------------------------------------------------------------
def test_one_dimensional_example_matches_course():
    # J(theta) = theta x; grad = x; gradapprox = ((4 + 1e-7) x - (4 - 1e-7) x) / 2e-7
    assert gc.one_dimensional_example(x=2.0, theta=4.0).difference == 2.919335883291695e-10
    assert gc.one_dimensional_example(x=3.0, theta=4.0).difference == 7.814075313343006e-11
    ex = gc.one_dimensional_example(x=2.0, theta=4.0)
    assert ex.J == 8.0 and ex.grad == 2.0 and abs(ex.gradapprox - 2.0) < 1e-8


def test_gradient_check_on_the_one_dimensional_example_gives_the_course_number():
    report = gc.gradient_check(lambda p: float(p["theta"][0, 0] * 2.0), {"theta": np.array([[4.0]])},
                               {"dtheta": np.array([[2.0]])})
    assert report.difference == 2.919335883291695e-10
    assert report.passed and report.verdict == "right"
    # J(theta), the noise (4 directions x 6 points), J(theta + eps), J(theta - eps)
    assert report.n_evaluations == 1 + 24 + 2
    assert report.noise == np.spacing(8.0) / 2  # J = 2 theta is exact: the floor, half an ulp of J


# -- flattening -------------------------------------------------------------------------------
def test_dictionary_to_vector_uses_course_order_row_major():
    params = {"b2": np.array([[9.0]]), "W2": np.array([[7.0, 8.0]]), "b1": np.array([[5.0], [6.0]]),
              "W1": np.array([[1.0, 2.0], [3.0, 4.0]])}
    theta, shapes = gc.dictionary_to_vector(params)
    assert theta.shape == (9, 1) and theta.dtype == np.float64
    assert theta[:, 0].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert list(shapes) == ["W1", "b1", "W2", "b2"]
    grads = {f"d{k}": v * 10 for k, v in params.items()}
    assert gc.gradients_to_vector(grads)[:, 0].tolist() == [10, 20, 30, 40, 50, 60, 70, 80, 90]
    back = gc.vector_to_gradients(gc.gradients_to_vector(grads), shapes)
    assert all(np.array_equal(back[k], grads[k]) for k in grads)


def test_layer_ten_comes_after_layer_two():
    params = {f"{c}{l}": np.full((1, 1), float(l)) for l in (1, 2, 10) for c in "Wb"}
    _, shapes = gc.dictionary_to_vector(params)
    assert list(shapes) == ["W1", "b1", "W2", "b2", "W10", "b10"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5)), min_size=1, max_size=4), st.integers(0, 2**31 - 1))
def test_vector_dictionary_round_trip(layer_shapes, seed):
    rng = np.random.default_rng(seed)
    params = {}
    for l, (n, k) in enumerate(layer_shapes, start=1):
        params[f"W{l}"] = rng.standard_normal((n, k)).astype(rng.choice([np.float32, np.float64]))
        params[f"b{l}"] = rng.standard_normal((n, 1))
    theta, shapes = gc.dictionary_to_vector(params)
    assert theta.shape == (sum(v.size for v in params.values()), 1)
    back = gc.vector_to_dictionary(theta, shapes)
    assert list(back) == [k for l in range(1, len(layer_shapes) + 1) for k in (f"W{l}", f"b{l}")]
    for k, v in params.items():
        assert back[k].dtype == np.float64 and back[k].shape == v.shape
        assert np.array_equal(back[k], v.astype(np.float64))
    theta2, _ = gc.dictionary_to_vector(back)
    assert np.array_equal(theta, theta2)


def test_vector_to_dictionary_rejects_wrong_length():
    _, shapes = gc.dictionary_to_vector({"W1": np.zeros((2, 3)), "b1": np.zeros((2, 1))})
    with pytest.raises(ValueError, match="8 entries"):
        gc.vector_to_dictionary(np.zeros((7, 1)), shapes)



def loop_cost(X, Y, l2=0.0, **kw):
    """practicaldl's cost as a black box, for gradient_check."""
    def cost_fn(p):
        return compute_cost(forward_propagation(p, X, **kw)[1], Y, p, l2)

    return cost_fn


def close_numbers(a, b, rtol=1e-6):
    """The structured pass (a) gives the loop's (b) centred differences: per parameter within ``rtol`` of its
    norm, or of the loop's own rounding noise (5 standard deviations: ``noise / (sqrt(2) epsilon)`` per entry)
    where that is larger (a gradient of 1e-4 carries the loop's 1e-9 noise, 1e-5 of it)."""
    sd = b.noise / (np.sqrt(2) * b.epsilon)
    for k in b.gradapprox:
        tol = rtol * np.linalg.norm(b.gradapprox[k]) + 5 * sd * np.sqrt(b.gradapprox[k].size)
        assert np.linalg.norm(a.gradapprox[k] - b.gradapprox[k]) <= tol, k


def verdicts(report):
    return {k: p.verdict for k, p in report.per_parameter.items()}


# -- correct backprop passes everywhere; the structured pass gives the loop's numbers ------------------
COMBOS = list(itertools.product(["relu", "tanh", "sigmoid"], ["sigmoid", "softmax"], [0.0, 0.7], [1.0, 0.8]))


@pytest.mark.parametrize("activation,output,l2,keep_prob", COMBOS)
def test_correct_backprop_passes_and_structured_gives_the_loops_numbers(activation, output, l2, keep_prob):
    params, X, Y = make_problem(dims=(4, 5, 3, 1 if output == "sigmoid" else 3), output=output)
    kw = dict(l2=l2, keep_prob=keep_prob, rng=np.random.RandomState(0), activation=activation, output=output)
    fast = gc.check_backprop(params, X, Y, **kw)
    kw["rng"] = np.random.RandomState(0)
    loop = gc.check_backprop(params, X, Y, method="loop", **kw)
    assert fast.method == "structured" and loop.method == "loop"
    assert fast.passed and fast.verdict == "right" and fast.failing == []
    assert loop.passed and verdicts(fast) == verdicts(loop)
    assert fast.difference < fast.threshold and loop.difference < loop.threshold
    close_numbers(fast, loop)
    if activation != "relu":  # smooth: nothing may be flagged as a kink
        assert fast.kinks == {} and loop.kinks == {}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=2, max_size=4), st.integers(1, 40),
       st.sampled_from(tuple(hidden_activations())), st.sampled_from(["sigmoid", "softmax"]), st.sampled_from([0.0, 0.4]),
       st.sampled_from([1.0, 0.6]), st.sampled_from([1e-7, 1e-4]), st.integers(0, 2**31 - 1))
def test_structured_pass_gives_the_plain_loops_numbers(dims, m, activation, output, l2, keep_prob, epsilon, seed):
    # any widths (1-unit layers included), batch sizes, sparse inputs (zeros, as pixels: which examples a
    # pass changes differs from pass to pass), dropout, and a large step (units cross 0: the explicit path)
    dims = dims + [(1, 2)[seed % 2] if output == "sigmoid" else 3]  # one sigmoid unit, or two (multi-label)
    params, X, Y = make_problem(dims=tuple(dims), m=m, output=output, seed=seed % 1000)
    X[np.random.RandomState(seed % 1000).random_sample(X.shape) < 0.3] = 0.0
    kw = dict(l2=l2, keep_prob=keep_prob, activation=activation, output=output, epsilon=epsilon, rng=seed)
    fast = gc.check_backprop(params, X, Y, **kw)
    loop = gc.check_backprop(params, X, Y, method="loop", **kw)
    assert fast.method == "structured"
    close_numbers(fast, loop)
    assert verdicts(fast) == verdicts(loop)


def test_structured_engine_computes_each_perturbed_cost_as_the_loop_does():
    # J(theta +- h e_i) - J(theta) entry by entry, against whole forward passes, at a small and a large step
    from practicaldl.gradcheck import fast as structured, network

    params, X, Y = make_problem(dims=(3, 6, 4, 1), m=9, seed=3)
    prob = network._network_problem(params, X, Y, 0.5, 0.7, 0, "relu", "sigmoid")
    theta, shapes = gc.dictionary_to_vector(prob.params)
    theta = theta[:, 0]
    cost_fn = network._network_cost_fn(prob)
    J0 = cost_fn(prob.params)
    engine = structured.Structured(prob.params, prob.X, prob.Y, l2=0.5, keep=prob.keep, masks=prob.masks,
                                   activation="relu", output="sigmoid", analytic=np.zeros_like(theta),
                                   cost_at=None, J0=J0)
    for h in (1e-7, 0.3):
        dp, dm, hp, hm, _ = engine.deltas(np.arange(theta.size), h)
        for i in range(theta.size):
            up, down = theta.copy(), theta.copy()
            up[i] += h
            down[i] -= h
            assert dp[i] == pytest.approx(cost_fn(gc.vector_to_dictionary(up, shapes)) - J0, abs=1e-14)
            assert dm[i] == pytest.approx(cost_fn(gc.vector_to_dictionary(down, shapes)) - J0, abs=1e-14)


def test_float32_params_are_checked_in_float64_and_not_modified():
    params, X, Y = make_problem()
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    before = {k: v.copy() for k, v in p32.items()}
    report = gc.check_backprop(p32, X.astype(np.float32), Y, l2=0.5)
    assert report.passed  # a float32 check at epsilon 1e-7 would be pure noise
    assert all(v.dtype == np.float32 and np.array_equal(v, before[k]) for k, v in p32.items())


def test_gradient_check_does_not_mutate_params_or_grads():
    params, X, Y = make_problem()
    cost, grads = pdl.cost_and_gradients(params, X, Y)
    p_before = {k: v.copy() for k, v in params.items()}
    g_before = {k: v.copy() for k, v in grads.items()}
    report = gc.gradient_check(loop_cost(X, Y), params, grads)
    assert report.passed
    assert all(np.array_equal(params[k], p_before[k]) for k in params)
    assert all(np.array_equal(grads[k], g_before[k]) for k in grads)


# -- planted bugs fail, on exactly the parameters they touch --------------------------------------
def touched(params, X, Y, backward, **kw):
    """Parameters whose gradient the planted bug changes (compared with the true backprop)."""
    prob = gc.network._network_problem(params, X, Y, kw.get("l2", 0.0), kw.get("keep_prob", 1.0), kw.get("rng"),
                               "relu", "sigmoid")
    _, cache = forward_propagation(prob.params, prob.X, prob.keep, masks=prob.masks)
    good = backward_propagation(prob.params, prob.Y, cache, prob.l2)
    bad = backward(prob.params, prob.Y, cache, prob.l2)
    return {k[1:] for k in good if not np.allclose(good[k], bad[k], rtol=1e-6, atol=1e-12)}


def double_dW2(params, Y, cache, l2=0.0):
    grads = backward_propagation(params, Y, cache, l2)
    grads["dW2"] = 2 * grads["dW2"]
    return grads


def scale_db1(params, Y, cache, l2=0.0):
    grads = backward_propagation(params, Y, cache, l2)
    grads["db1"] = 1.5 * grads["db1"]
    return grads


def no_l2_in_layer3(params, Y, cache, l2=0.0):
    grads = backward_propagation(params, Y, cache, l2)
    grads["dW3"] = grads["dW3"] - (l2 / Y.shape[1]) * params["W3"]
    return grads


def forget_mask(layer):
    def backward(params, Y, cache, l2=0.0):
        masks = list(cache.masks)
        masks[layer - 1] = None  # backward no longer drops (nor rescales) hidden layer `layer`
        return backward_propagation(params, Y, dataclasses.replace(cache, masks=masks), l2)

    return backward


@pytest.mark.parametrize("backward,kw,expected", [
    (double_dW2, {}, {"W2"}),
    (scale_db1, {}, {"b1"}),
    (no_l2_in_layer3, {"l2": 0.7}, {"W3"}),
    (forget_mask(1), {"keep_prob": 0.6, "rng": 4}, {"W1", "b1"}),
    (forget_mask(2), {"keep_prob": 0.6, "rng": 4}, {"W1", "b1", "W2", "b2"}),
])
@pytest.mark.parametrize("method", ["structured", "loop", "directional"])
def test_planted_bug_is_reported_on_exactly_the_parameters_it_touched(backward, kw, expected, method):
    params, X, Y = make_problem(m=8)
    assert touched(params, X, Y, backward, **kw) == expected
    report = gc.check_backprop(params, X, Y, backward=backward, method=method, **kw)
    assert not report.passed
    assert set(report.failing) == expected
    assert report.verdict == "bug"
    for name, p in report.per_parameter.items():
        assert p.passed == (name not in expected)
        assert p.second_look == (name in expected)  # a second look before every failing verdict
    if method != "directional":  # the worst entry of a failing parameter shows the disagreement
        worst = report.per_parameter[sorted(expected)[0]].worst[0]
        assert worst.error > 1e-6 and len(worst.index) == 2


def test_the_correct_backprop_on_the_same_problems_passes():
    params, X, Y = make_problem(m=8)
    for kw in ({}, {"l2": 0.7}, {"keep_prob": 0.6, "rng": 4}):
        assert gc.check_backprop(params, X, Y, **kw).passed


# -- kinks: flagged when the evidence says kink, never called right on their own --------------------
def test_relu_pre_activation_at_zero_is_a_kink_and_a_parameter_of_kinks_is_inconclusive():
    params, X, Y = make_problem(m=6)
    params["b1"] = np.zeros_like(params["b1"])
    X[:, 2] = 0.0  # Z1[:, 2] = W1 @ 0 + 0 = 0 exactly: every bias perturbation crosses a kink
    reports = {method: gc.check_backprop(params, X, Y, method=method) for method in gc.METHODS}
    for method, report in reports.items():
        b1 = report.per_parameter["b1"]
        assert b1.verdict == "inconclusive" and not b1.passed and not report.passed, method
        assert "every entry of b1 is at a kink" in b1.cause and "use other inputs" in b1.remedy
        assert report.unchecked == ["b1"] and report.verdict == "inconclusive"
        assert all(p.verdict == "right" for name, p in report.per_parameter.items() if name != "b1"), method
        assert "W1" not in report.kinks  # W1 perturbations are multiplied by X[:, 2] = 0
    flagged = reports["loop"].per_parameter["b1"].kinks
    assert [e.index for e in flagged] == [(j, 0) for j in range(5)]
    # the flagged entries really disagree: the centred difference straddles the kink
    assert max(abs(e.analytic - e.numerical) for e in flagged) > 1e-4
    assert "inconclusive: b1 (every entry of b1 is at a kink" in reports["loop"].message


def test_a_kink_in_some_entries_leaves_the_others_compared():
    params, X, Y = make_problem(m=6)
    params["b1"] = np.zeros_like(params["b1"])
    X[:, 2] = 0.0
    params["b1"][:2] = 0.5  # units 0 and 1 are on at example 2: their biases are smooth there
    report = gc.check_backprop(params, X, Y)
    b1 = report.per_parameter["b1"]
    assert {e.index[0] for e in b1.kinks} == {2, 3, 4} and b1.verdict == "right" and report.passed
    assert report.raw_difference > 1e-4 > report.difference  # the course's number sees the kinks


def test_issue_examples_three_methods_agree_at_kinks():
    # dims [2, 1, 2, 1, 1], m = 4, He init, seed 1 (its one unit of layer 1 is dead: units of layers 2 and 3
    # sit exactly at 0, db3 = 0), and dropout 0.8 on [1, 2, 2, 2, 2], seed 2: the loop, the structured pass
    # and the directional check give one verdict per parameter, the kinks' parameters included
    for dims, seed, kw in (([2, 1, 2, 1, 1], 1, {}), ([1, 2, 2, 2, 2], 2, {"keep_prob": 0.8})):
        params = pdl.initialize_parameters(dims, init="he", rng=np.random.RandomState(seed))
        data = np.random.RandomState(0)
        X = data.standard_normal((dims[0], 4))
        Y = (data.random_sample((dims[-1], 4)) < 0.5).astype(float)
        reports = {method: gc.check_backprop(params, X, Y, rng=seed, method=method, **kw) for method in gc.METHODS}
        got = {method: verdicts(report) for method, report in reports.items()}
        assert got["structured"] == got["loop"] == got["directional"], got
        assert "bug" not in got["loop"].values() and "look closer" not in got["loop"].values()
        assert reports["loop"].kinks  # the premise: kinks
    assert got["loop"]["b3"] == "inconclusive"  # every entry of b3 (one) at a kink


@pytest.mark.parametrize("seed", range(8))
def test_random_narrow_networks_with_heavy_dropout_agree_with_the_loop(seed):
    # narrow layers, zero biases and keep_prob 0.5: units at exactly 0, dropped kinks, 1-unit layers
    rng = np.random.RandomState(seed)
    dims = [int(rng.randint(1, 4)) for _ in range(int(rng.randint(2, 5)))] + [1]
    params, X, Y = make_problem(dims=tuple(dims), m=int(rng.randint(1, 6)), seed=seed, bias_scale=0.0)
    kw = dict(l2=0.3, keep_prob=0.5, rng=seed)
    fast = gc.check_backprop(params, X, Y, **kw)
    loop = gc.check_backprop(params, X, Y, method="loop", **kw)
    assert verdicts(fast) == verdicts(loop)
    assert {k: [e.index for e in v] for k, v in fast.kinks.items()} == {k: [e.index for e in v]
                                                                        for k, v in loop.kinks.items()}
    assert all(v in ("right", "inconclusive") for v in verdicts(fast).values())  # a kink is not a bug


def test_dropout_unit_with_all_inputs_dropped_is_a_kink():
    # keep_prob small on layer 1 so that some example loses all of layer 2's inputs: Z2 = b2 = 0
    params, X, Y = make_problem(dims=(3, 2, 4, 1), m=13, bias_scale=0.0)
    report = gc.check_backprop(params, X, Y, keep_prob=(0.3, 1.0), rng=0)
    prob = gc.network._network_problem(params, X, Y, 0.0, (0.3, 1.0), 0, "relu", "sigmoid")
    assert (~prob.masks[0].any(axis=0)).any()  # the premise of the test
    assert "b2" in report.kinks and report.per_parameter["b2"].verdict in ("right", "inconclusive")


def test_black_box_kink_from_one_sided_differences():
    # J(w) = sum relu(3 w) + w1^2 at w = (0, 1): entry 0 sits on the kink (subgradient 0 chosen)
    def cost_fn(p):
        w = p["w"][0]
        return float(np.sum(np.maximum(3 * w, 0)) + w[1] ** 2)

    # d/dw1 = 3 + 2 w1 = 5: right; 4 is wrong
    report = gc.gradient_check(cost_fn, {"w": np.array([[0.0, 1.0]])}, {"dw": np.array([[0.0, 4.0]])})
    assert [e.index for e in report.per_parameter["w"].kinks] == [(0, 0)]
    assert not report.passed and report.failing == ["w"]
    right = gc.gradient_check(cost_fn, {"w": np.array([[0.0, 1.0]])}, {"dw": np.array([[0.0, 5.0]])})
    assert right.passed and right.raw_difference > 1e-3  # entry 0 not compared; entry 1 right


def test_black_box_bug_is_not_mistaken_for_a_kink():
    def cost_fn(p):
        return float(np.sum(p["w"] ** 2))

    report = gc.gradient_check(cost_fn, {"w": np.array([[1.0, -2.0]])}, {"dw": np.array([[2.0, -8.0]])})
    assert not report.passed and report.failing == ["w"] and report.kinks == {}
    assert report.per_parameter["w"].worst[0].index == (0, 1)


def _noisy(sigma, kink=False):
    """J(w) = sum w^2 (+ |w_0| for a kink at w_0 = 0) + deterministic noise of standard deviation sigma."""
    def cost_fn(p):
        w = p["w"].ravel()
        seed = int.from_bytes(hashlib.blake2b(w.tobytes(), digest_size=8).digest(), "little")
        u = np.random.default_rng(seed).uniform(-np.sqrt(3), np.sqrt(3))
        return float(np.sum(w ** 2) + (abs(w[0]) if kink else 0.0) + sigma * u)

    return cost_fn


def test_noise_is_not_mistaken_for_a_kink_and_a_kink_is_told_from_noise():
    # one-sided differences that disagree from noise alone (sigma / epsilon = 1e-3 >> epsilon J'') are
    # not kinks: the disagreement grows at half the step instead of staying
    w = np.array([[0.0, 0.5, -1.0]])
    smooth = gc.gradient_check(_noisy(1e-10), {"w": w}, {"dw": 2 * w})
    assert smooth.kinks == {} and smooth.passed
    kinked = gc.gradient_check(_noisy(1e-10, kink=True), {"w": w}, {"dw": 2 * w})
    assert [e.index for e in kinked.kinks["w"]] == [(0, 0)] and kinked.passed


# -- the cost's noise, measured; a second look before a failing verdict -------------------------------
@pytest.mark.parametrize("sigma", [1e-12, 1e-9, 1e-6])
def test_noise_is_measured_not_assumed(sigma):
    w = np.linspace(-1, 1, 6).reshape(2, 3)
    theta = w.ravel()
    noise = gc.judge.measure_noise(lambda t: _noisy(sigma)({"w": t.reshape(2, 3)}), theta,
                                   _noisy(sigma)({"w": w}), 1e-7)
    assert sigma / 3 < noise.sigma < 3 * sigma and noise.n_evaluations == 24  # 8 degrees of freedom


def test_a_noisy_cost_gets_a_second_look_and_passes_a_correct_gradient():
    # noise 1e-9 at epsilon 1e-7: centred differences off by about 1e-2; judged at a step suited to it
    w = np.array([[0.3, -0.7, 1.1, 0.05]])
    report = gc.gradient_check(_noisy(1e-9), {"w": w}, {"dw": 2 * w})
    p = report.per_parameter["w"]
    assert report.passed and p.second_look and p.step > 1e-5 and report.second_looks == {"w": p.step}
    assert 5e-10 < report.noise < 2e-9
    assert "second look: w at step" in str(report)
    bug = gc.gradient_check(_noisy(1e-9), {"w": w}, {"dw": 2.002 * w})  # x 1.001
    assert not bug.passed and bug.per_parameter["w"].verdict == "look closer" and bug.failing == ["w"]


def test_a_cost_too_noisy_for_any_step_is_inconclusive_with_cause_and_remedy():
    w = np.array([[0.3, -0.7, 1.1, 0.05]])
    report = gc.gradient_check(_noisy(1e-4), {"w": w}, {"dw": 2 * w})
    p = report.per_parameter["w"]
    assert report.verdict == p.verdict == "inconclusive" and not report.passed
    assert "rounding noise" in p.cause and "pre-activation Z" in p.remedy
    assert report.inconclusive == ["w"] and report.to_dict()["inconclusive"] == ["w"]
    assert "w inconclusive: the cost's rounding noise" in str(report)


def test_a_cost_that_is_not_finite_is_inconclusive():
    report = gc.gradient_check(lambda p: float("inf"), {"w": np.ones((1, 2))}, {"dw": np.ones((1, 2))})
    assert report.verdict == "inconclusive" and "not finite at theta" in report.per_parameter["w"].cause
    with np.errstate(invalid="ignore"):  # theta + epsilon > 1: the log of a negative number
        edge = gc.gradient_check(lambda p: float(np.log(1 - p["w"][0, 0])), {"w": np.array([[1 - 1e-9]])},
                                 {"dw": np.array([[-1e9]])}, epsilon=1e-7)
    assert edge.verdict == "inconclusive" and not edge.passed


# -- epsilon too small is refused or inconclusive, never passed ----------------------------------------
def test_an_epsilon_that_does_not_move_the_parameters_is_refused():
    message = "epsilon must move every parameter, got 1e-16: params['theta'][0, 0] = 4 +- epsilon rounds to itself"
    with pytest.raises(ValueError, match=re.escape(message)):
        gc.gradient_check(lambda p: float(p["theta"][0, 0] * 2.0), {"theta": np.array([[4.0]])},
                          {"dtheta": np.array([[4.0]])}, epsilon=1e-16)
    params, X, Y = make_problem()
    with pytest.raises(ValueError, match="epsilon must move every parameter"):
        gc.check_backprop(params, X, Y, epsilon=1e-18)


@pytest.mark.parametrize("epsilon", [1e-12, 1e-14])
def test_a_tiny_epsilon_never_passes_a_bug(epsilon):
    params, X, Y = make_problem()
    _, grads = pdl.cost_and_gradients(params, X, Y)
    doubled = {k: 2 * v for k, v in grads.items()}
    for report in (gc.gradient_check(loop_cost(X, Y), params, doubled, epsilon=epsilon),
                   gc.check_backprop(params, X, Y, epsilon=epsilon, backward=lambda p, Y, c, l2: {
                       k: 2 * v for k, v in backward_propagation(p, Y, c, l2).items()})):
        assert not report.passed and report.verdict == "bug"
    correct = gc.gradient_check(loop_cost(X, Y), params, grads, epsilon=epsilon)
    assert correct.verdict in ("right", "inconclusive")  # no false alarm either


# -- parameters by any name; gradient keys ---------------------------------------------------------
def test_named_parameters_and_their_gradient_keys():
    rng = np.random.RandomState(0)
    X, y = rng.standard_normal((5, 3)), rng.standard_normal(5)
    params = {"fc1.weight": rng.standard_normal((3, 4)), "fc1.bias": np.zeros(4), "fc2.weight": rng.standard_normal(4)}

    def cost_fn(p):
        h = np.tanh(X @ p["fc1.weight"] + p["fc1.bias"])
        return float(np.mean((h @ p["fc2.weight"] - y) ** 2))

    h = np.tanh(X @ params["fc1.weight"] + params["fc1.bias"])
    r = 2 * (h @ params["fc2.weight"] - y) / len(y)
    dh = np.outer(r, params["fc2.weight"]) * (1 - h ** 2)
    grads = {"fc1.weight": X.T @ dh, "fc1.bias": dh.sum(axis=0), "fc2.weight": h.T @ r}
    for keyed in (grads, {"d" + k: v for k, v in grads.items()}):  # PyTorch's names, or "d" + name
        for check in (gc.gradient_check, gc.directional_check):
            report = check(cost_fn, params, keyed)
            assert report.passed and list(report.per_parameter) == ["fc1.weight", "fc1.bias", "fc2.weight"]
    report = gc.gradient_check(cost_fn, params, {**grads, "fc1.bias": grads["fc1.bias"] + [0.5, 0, 0, 0]})
    assert report.failing == ["fc1.bias"] and report.per_parameter["fc1.bias"].worst[0].index == (0,)
    assert list(report.gradapprox) == list(params) and report.gradapprox["fc2.weight"].shape == (4,)
    with pytest.raises(ValueError, match="grads is missing 'dfc1.bias'"):
        gc.gradient_check(cost_fn, params, {"dfc1.weight": 0, "fc1.bias": 0, "dfc2.weight": 0})


# -- directional mode ---------------------------------------------------------------------------
def test_directional_passes_a_correct_backprop_in_few_evaluations():
    params, X, Y = make_problem(dims=(6, 12, 9, 1), m=10)
    report = gc.check_backprop(params, X, Y, l2=0.2, method="directional")
    assert report.passed and report.method == "directional"
    assert gc.directional_budget(len(params)) == 1 + 24 + 2 * 4 + 2 * 2 * 6
    # and 2 for each direction whose one-sided differences disagree beyond the noise (curvature, here)
    assert gc.directional_budget(len(params)) <= report.n_evaluations <= gc.directional_budget(len(params)) + 2 * 16


def test_directional_names_the_faulty_parameter_within_budget():
    params, X, Y = make_problem(dims=(6, 12, 9, 1), m=10)
    report = gc.check_backprop(params, X, Y, method="directional", backward=double_dW2)
    assert not report.passed and report.failing == ["W2"]
    # + W2's second look: the noise at its step (24), three steps and a probe on its 2 directions (16)
    assert report.n_evaluations <= gc.directional_budget(len(params)) + 24 + 16 + 2 * 16


def test_directional_respects_max_evaluations():
    params, X, Y = make_problem()
    cost, grads = pdl.cost_and_gradients(params, X, Y)
    grads["db3"] = grads["db3"] + 1.0
    report = gc.directional_check(loop_cost(X, Y), params, grads, max_evaluations=1 + 24 + 8 + 4 * 2)
    assert report.n_evaluations <= 1 + 24 + 8 + 4 * 2 and not report.passed
    late = [p for p in report.per_parameter.values() if p.cause and "budget" in p.cause]
    assert late and all(p.verdict == "inconclusive" for p in late)
    with pytest.raises(ValueError, match="max_evaluations must be at least"):
        gc.directional_check(loop_cost(X, Y), params, grads, max_evaluations=3)


# -- the classifier ---------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{"l2": 0.5}, {"keep_prob": 0.8}])
def test_check_classifier_gradients(kw):
    data = pdl.load_dataset("moons")
    clf = pdl.NeuralNetClassifier(hidden_layer_sizes=(6, 4), max_iter=20, random_state=0, **kw)
    clf.fit(data.X_train, data.y_train)
    report = gc.check_classifier_gradients(clf, data.X_train, data.y_train, max_samples=25)
    assert report.passed and report.method == "structured"
    assert set(report.per_parameter) == {"W1", "b1", "W2", "b2", "W3", "b3"}


def test_check_classifier_gradients_multiclass_and_unfitted():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((30, 3))
    y = np.array(["a", "b", "c"])[rng.randint(0, 3, 30)]
    clf = pdl.NeuralNetClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0, activation="tanh")
    with pytest.raises(ValueError, match="fitted"):
        gc.check_classifier_gradients(clf, X, y)
    clf.fit(X, y)
    report = gc.check_classifier_gradients(clf, X, y)
    assert report.passed and report.per_parameter["W2"].shape == (3, 5)


# -- bad inputs: one clear error each -----------------------------------------------------------
@pytest.mark.parametrize("eps", [0, -1, float("nan"), float("inf")])
def test_epsilon_must_be_positive_finite(eps):
    params, X, Y = make_problem()
    with pytest.raises(ValueError, match="epsilon must be a positive finite number"):
        gc.check_backprop(params, X, Y, epsilon=eps)


@pytest.mark.parametrize("change, message", [
    (lambda p, X, Y: (p, X[:, :0], Y[:, :0]), r"X must have at least one example \(column\), got shape \(4, 0\)"),
    (lambda p, X, Y: (p, np.where(X > 1, np.nan, X), Y), "X must be finite, got .* nan or inf entries"),
    (lambda p, X, Y: (p, X, Y * 2), r"Y must hold 0/1 labels, got values \[2.0\]"),
    (lambda p, X, Y: (p, X, Y - 0.5), "Y must hold 0/1 labels"),
    (lambda p, X, Y: ({**p, "W2": p["W2"] * np.nan}, X, Y), r"params\['W2'\] must be finite"),
    (lambda p, X, Y: (p, X[:3], Y), r"X must have 4 rows"),
    (lambda p, X, Y: (p, X, Y[:, :3]), "Y must have shape"),
    (lambda p, X, Y: ({k: v for k, v in p.items() if k != "b2"}, X, Y), "params must be a dict W1, b1"),
])
def test_check_backprop_refuses_bad_inputs(change, message):
    params, X, Y = make_problem()
    with pytest.raises(ValueError, match=message):
        gc.check_backprop(*change(params, X, Y))


def test_softmax_labels_must_be_one_hot_and_method_is_checked():
    params, X, Y = make_problem(dims=(4, 5, 3), output="softmax")
    with pytest.raises(ValueError, match="Y must be one-hot for a softmax output"):
        gc.check_backprop(params, X, np.ones_like(Y), output="softmax")
    with pytest.raises(ValueError, match=r"method must be one of \['structured', 'loop', 'directional'\], got 'fast'"):
        gc.check_backprop(params, X, Y, method="fast", output="softmax")


def test_grads_shapes_keys_and_values_are_checked_by_name():
    params, X, Y = make_problem()
    _, grads = pdl.cost_and_gradients(params, X, Y)
    with pytest.raises(ValueError, match=r"grads\['dW2'\] must have the shape of params\['W2'\]"):
        gc.gradient_check(lambda p: 0.0, params, dict(grads, dW2=grads["dW2"].T))
    with pytest.raises(ValueError, match="missing 'db1'"):
        gc.gradient_check(lambda p: 0.0, params, {k: v for k, v in grads.items() if k != "db1"})
    with pytest.raises(ValueError, match="cost_fn must return a number, got str"):
        gc.gradient_check(lambda p: "cost", params, grads)
    with pytest.raises(ValueError, match="params must be a non-empty mapping of names to arrays, got list"):
        gc.gradient_check(lambda p: 0.0, [1.0], grads)
    nan = gc.gradient_check(loop_cost(X, Y), params, dict(grads, db2=grads["db2"] * np.nan))
    assert nan.per_parameter["b2"].verdict == "bug" and "not finite" in nan.per_parameter["b2"].cause


# -- the report -------------------------------------------------------------------------------
def test_report_serialises_and_renders():
    from rich.console import Console

    params, X, Y = make_problem()
    report = gc.check_backprop(params, X, Y, backward=double_dW2)
    data = json.loads(report.to_json())
    assert data["failing"] == ["W2"] and data["verdict"] == "bug" and data["message"] == "bug: W2"
    assert data["per_parameter"]["W2"]["worst"][0]["index"] == list(report.per_parameter["W2"].worst[0].index)
    assert data["per_parameter"]["W2"]["second_look"] and data["second_looks"] == {"W2": report.epsilon}
    assert data["difference"] == report.difference and data["noise"] == report.noise
    console = Console(record=True, width=160)
    console.print(report)
    text = console.export_text()
    assert all(name in text for name in ("W1", "b1", "W2", "b2", "W3", "b3")) and "bug" in text
    plain = str(report)
    assert plain.count("\n") == 7 and "failing: W2" in plain and "2nd look" in plain


def test_verdict_bands_follow_the_course():
    assert gc.VERDICTS == ("right", "inconclusive", "look closer", "bug")
    assert gc.report._band(1e-8, 2e-7) == "right"
    assert gc.report._band(1e-5, 2e-7) == "look closer"
    assert gc.report._band(1e-3, 2e-7) == "bug"
    assert gc.report._band(0.5, 2e-7) == "bug"


def test_exported_from_package():
    for name in ("gradient_check", "check_backprop", "check_classifier_gradients", "dictionary_to_vector",
                 "vector_to_dictionary", "gradients_to_vector", "GradCheckReport", "directional_check"):
        assert hasattr(pdl, name), name


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0, np.inf]), min_size=1, max_size=40), st.integers(1, 5))
def test_worst_entries_are_a_stable_sort_with_ties_by_index(values, n):
    values = np.array(values)
    assert gc.report._largest(values, n).tolist() == np.argsort(-values, kind="stable")[:n].tolist()
