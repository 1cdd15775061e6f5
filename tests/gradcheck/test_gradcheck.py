"""Gradient checking: course numbers, flattening, verdicts, localisation of planted bugs, kinks, dropout."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import practicaldl as pdl
from practicaldl import gradcheck as gc
from practicaldl.core.activations import HIDDEN_ACTIVATIONS
from practicaldl.core.network import backward_propagation, compute_cost, forward_propagation


def make_problem(dims=(4, 5, 3, 1), m=6, output="sigmoid", seed=1, bias_scale=0.1):
    """A small network with non-zero biases (so every db has a gradient worth checking)."""
    rng = np.random.RandomState(seed)
    params = pdl.initialize_parameters(list(dims), rng=rng)
    for k in params:
        if k[0] == "b":
            params[k] = rng.standard_normal(params[k].shape) * bias_scale
    X = rng.standard_normal((dims[0], m))
    if output == "sigmoid":
        Y = (rng.random_sample((1, m)) < 0.5).astype(float)
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
    assert report.n_evaluations == 3  # J(theta), J(theta + eps), J(theta - eps)


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


# -- correct backprop passes everywhere; structured == loop -------------------------------------
COMBOS = list(itertools.product(["relu", "tanh", "sigmoid"], ["sigmoid", "softmax"], [0.0, 0.7], [1.0, 0.8]))


@pytest.mark.parametrize("activation,output,l2,keep_prob", COMBOS)
def test_correct_backprop_passes_and_structured_equals_loop(activation, output, l2, keep_prob):
    params, X, Y = make_problem(dims=(4, 5, 3, 1 if output == "sigmoid" else 3), output=output)
    kw = dict(l2=l2, keep_prob=keep_prob, rng=np.random.RandomState(0), activation=activation, output=output)
    fast = gc.check_backprop(params, X, Y, **kw)
    kw["rng"] = np.random.RandomState(0)
    loop = gc.check_backprop(params, X, Y, method="loop", **kw)
    assert fast.method == "structured" and loop.method == "loop"
    assert fast.passed and fast.verdict == "right" and fast.failing == []
    assert fast.difference < fast.threshold
    # same numbers as the plain loop: the difference to 1e-6 relative (in fact bit for bit)
    assert abs(fast.difference - loop.difference) <= 1e-6 * loop.difference
    for name in fast.per_parameter:
        assert fast.per_parameter[name].difference == pytest.approx(loop.per_parameter[name].difference, rel=1e-6)
    assert fast.n_evaluations == loop.n_evaluations
    if activation != "relu":  # smooth: nothing may be flagged as a kink
        assert fast.kinks == {} and loop.kinks == {}


def test_structured_equals_loop_on_a_wider_network_with_l2_and_dropout():
    params, X, Y = make_problem(dims=(6, 12, 9, 1), m=17, seed=5)
    kw = dict(l2=0.3, keep_prob=(0.7, 0.9), rng=3)
    fast = gc.check_backprop(params, X, Y, n_jobs=1, **kw)
    loop = gc.check_backprop(params, X, Y, method="loop", **kw)
    assert fast.method == "structured" and fast.passed
    assert fast.difference == pytest.approx(loop.difference, rel=1e-6)
    threaded = gc.check_backprop(params, X, Y, n_jobs=2, **kw)
    assert threaded.difference == fast.difference


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=2, max_size=4), st.integers(1, 40),
       st.sampled_from(HIDDEN_ACTIVATIONS), st.sampled_from(["sigmoid", "softmax"]), st.sampled_from([0.0, 0.4]),
       st.sampled_from([1.0, 0.6]), st.booleans(), st.booleans(), st.integers(0, 2**31 - 1))
def test_structured_pass_is_the_plain_loop_bit_for_bit(dims, m, activation, output, l2, keep_prob, small_chunks,
                                                        threads, seed):
    # any widths (1-unit layers included), any batch size: the packed slots must give every perturbed
    # cost of the plain loop exactly, so the raw difference (over all entries) is the loop's number;
    # small chunks make every layer reuse its cached slots, which must be the reference's each time;
    # zeros in X (sparse inputs, as pixels) make which examples a pass changes differ from pass to pass;
    # two threads share the chunks (each with its own slot buffers)
    from practicaldl.gradcheck import fast as _gradcheck_fast

    dims = dims + [1 if output == "sigmoid" else 3]
    params, X, Y = make_problem(dims=tuple(dims), m=m, output=output, seed=seed % 1000)
    X[np.random.RandomState(seed % 1000).random_sample(X.shape) < 0.3] = 0.0
    kw = dict(l2=l2, keep_prob=keep_prob, activation=activation, output=output)
    chunk = _gradcheck_fast.CHUNK_ELEMENTS
    _gradcheck_fast.CHUNK_ELEMENTS = 1 if small_chunks else chunk
    try:
        fast = gc.check_backprop(params, X, Y, rng=seed, n_jobs=2 if threads else 1, **kw)
    finally:
        _gradcheck_fast.CHUNK_ELEMENTS = chunk
    loop = gc.check_backprop(params, X, Y, rng=seed, method="loop", **kw)
    assert fast.method == "structured"
    assert fast.raw_difference == loop.raw_difference
    assert fast.n_evaluations == loop.n_evaluations


def test_structured_pass_that_drifts_from_the_loop_falls_back_to_the_loop(monkeypatch):
    # plant a 1e-14 relative error in the structured pass's ReLU: its spot check must notice and hand over
    from practicaldl.gradcheck import fast as _gradcheck_fast

    monkeypatch.setitem(_gradcheck_fast._IN_PLACE, "relu", lambda Z: np.maximum(Z, 0, out=Z) * (1 + 1e-14))
    params, X, Y = make_problem()
    report = gc.check_backprop(params, X, Y)
    loop = gc.check_backprop(params, X, Y, method="loop")
    assert report.method == "loop" and any("bit for bit" in note for note in report.notes)
    assert report.difference == loop.difference


def test_l2_terms_that_drift_from_numpys_sum_make_the_check_fall_back_to_the_loop(monkeypatch):
    # plant a one-ulp error in the replayed pairwise sums of the L2 terms: the spot check must notice
    from practicaldl.gradcheck import _pairwise

    replaced = _pairwise.NumpySum.replaced
    monkeypatch.setattr(_pairwise.NumpySum, "replaced", lambda self, i, v: np.nextafter(replaced(self, i, v), np.inf))
    params, X, Y = make_problem()
    report = gc.check_backprop(params, X, Y, l2=0.5)
    assert report.method == "loop" and any("bit for bit" in note for note in report.notes)
    assert report.difference == gc.check_backprop(params, X, Y, l2=0.5, method="loop").difference


def test_an_error_in_a_thread_reaches_the_caller_and_stops_the_others(monkeypatch):
    from practicaldl.gradcheck import fast as _gradcheck_fast

    calls, fail_at = [], [None]
    up = _gradcheck_fast._Network._up

    def counted_up(self, l, slots):
        calls.append(l)
        if len(calls) == fail_at[0]:
            raise RuntimeError("planted failure")
        return up(self, l, slots)

    monkeypatch.setattr(_gradcheck_fast._Network, "_up", counted_up)
    monkeypatch.setattr(_gradcheck_fast, "CHUNK_ELEMENTS", 1)  # many chunks
    params, X, Y = make_problem(dims=(4, 6, 5, 1), m=8)
    gc.check_backprop(params, X, Y, n_jobs=2)
    n_calls, calls[:], fail_at[0] = len(calls), [], 2
    with pytest.raises(RuntimeError, match="planted failure"):
        gc.check_backprop(params, X, Y, n_jobs=2)
    assert len(calls) < n_calls / 2  # the queues were emptied, not worked through


def test_vector_to_dictionary_accepts_key_shape_pairs():
    theta = np.arange(8.0).reshape(-1, 1)
    out = gc.vector_to_dictionary(theta, [("W1", (2, 3)), ("b1", (2, 1))])
    assert out["W1"].tolist() == [[0, 1, 2], [3, 4, 5]] and out["b1"].tolist() == [[6], [7]]


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

    def cost_fn(p):
        _, cache = forward_propagation(p, X)
        return compute_cost(cache, Y)

    report = gc.gradient_check(cost_fn, params, grads)
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
@pytest.mark.parametrize("method", ["structured", "loop"])
def test_planted_bug_is_reported_on_exactly_the_parameters_it_touched(backward, kw, expected, method):
    params, X, Y = make_problem(m=8)
    assert touched(params, X, Y, backward, **kw) == expected
    report = gc.check_backprop(params, X, Y, backward=backward, method=method, **kw)
    assert not report.passed
    assert set(report.failing) == expected
    assert report.verdict == "bug"
    for name, p in report.per_parameter.items():
        assert p.passed == (name not in expected)
    # the worst entry of a failing parameter shows the analytic / numerical disagreement
    worst = report.per_parameter[sorted(expected)[0]].worst[0]
    assert worst.error > 1e-6 and len(worst.index) == 2


def test_the_correct_backprop_on_the_same_problems_passes():
    params, X, Y = make_problem(m=8)
    for kw in ({}, {"l2": 0.7}, {"keep_prob": 0.6, "rng": 4}):
        assert gc.check_backprop(params, X, Y, **kw).passed


# -- kinks ------------------------------------------------------------------------------------
def test_relu_pre_activation_at_zero_is_flagged_not_failed():
    params, X, Y = make_problem(m=6)
    params["b1"] = np.zeros_like(params["b1"])
    X[:, 2] = 0.0  # Z1[:, 2] = W1 @ 0 + 0 = 0 exactly: a bias perturbation crosses every unit's kink
    for method in ("structured", "loop"):
        report = gc.check_backprop(params, X, Y, method=method)
        assert report.passed, method
        b1 = report.per_parameter["b1"]
        assert len(b1.kinks) >= 1 and all(e.index[1] == 0 for e in b1.kinks)
        # the flagged entries really disagree: the centred difference straddles the kink
        assert max(abs(e.analytic - e.numerical) for e in b1.kinks) > 1e-4
        assert report.raw_difference > report.difference
        assert "W1" not in report.kinks  # W1 perturbations are multiplied by X[:, 2] = 0


def test_kink_cases_still_give_the_loops_raw_difference():
    params, X, Y = make_problem(m=6)
    params["b1"] = np.zeros_like(params["b1"])
    X[:, 2] = 0.0
    fast = gc.check_backprop(params, X, Y)
    loop = gc.check_backprop(params, X, Y, method="loop")
    assert fast.raw_difference == loop.raw_difference  # every J(theta +- eps e_i) bit for bit


@pytest.mark.parametrize("seed", range(8))
def test_random_narrow_networks_with_heavy_dropout_match_the_loop(seed):
    # narrow layers, zero biases and keep_prob 0.5: units at exactly 0, dropped kinks, K = 1 products
    rng = np.random.RandomState(seed)
    dims = [int(rng.randint(1, 4)) for _ in range(int(rng.randint(2, 5)))] + [1]
    params, X, Y = make_problem(dims=tuple(dims), m=int(rng.randint(1, 6)), seed=seed, bias_scale=0.0)
    kw = dict(l2=0.3, keep_prob=0.5, rng=seed)
    fast = gc.check_backprop(params, X, Y, **kw)
    loop = gc.check_backprop(params, X, Y, method="loop", **kw)
    assert fast.method == "structured"
    assert fast.raw_difference == loop.raw_difference
    assert fast.passed and loop.passed


def test_threads_give_the_same_report_kinks_found_above_included(monkeypatch):
    # zero biases and a zero example: Z1 and Z2 of that example sit exactly at 0, so passes of
    # layer 1 cross kinks in the layers above (the packed path's "crossed" search). One-column
    # chunks give the two threads many chunks of every layer to share.
    from practicaldl.gradcheck import fast as _gradcheck_fast

    monkeypatch.setattr(_gradcheck_fast, "CHUNK_ELEMENTS", 1)
    params, X, Y = make_problem(dims=(4, 5, 3, 3, 1), m=9, bias_scale=0.0)
    X[:, 2] = 0.0
    one = gc.check_backprop(params, X, Y, l2=0.2, n_jobs=1)
    two = gc.check_backprop(params, X, Y, l2=0.2, n_jobs=2)
    loop = gc.check_backprop(params, X, Y, l2=0.2, method="loop")
    assert one.method == two.method == "structured"
    assert two.raw_difference == one.raw_difference == loop.raw_difference
    assert two.difference == one.difference

    def flagged(report):
        return {name: [e.index for e in entries] for name, entries in report.kinks.items()}

    assert flagged(two) == flagged(one)
    assert "b1" in flagged(one)  # the premise: layer-1 passes cross kinks above


def test_dropout_unit_with_all_inputs_dropped_is_a_kink():
    # keep_prob small on layer 1 so that some example loses all of layer 2's inputs: Z2 = b2 = 0
    params, X, Y = make_problem(dims=(3, 2, 4, 1), m=12, bias_scale=0.0)
    report = gc.check_backprop(params, X, Y, keep_prob=(0.3, 1.0), rng=0)
    prob = gc.network._network_problem(params, X, Y, 0.0, (0.3, 1.0), 0, "relu", "sigmoid")
    all_dropped = ~prob.masks[0].any(axis=0)
    assert all_dropped.any()  # the premise of the test
    assert report.passed
    assert "b2" in report.kinks


def test_black_box_kink_from_one_sided_differences():
    # J(w) = sum relu(3 w) + w1^2 at w = (0, 1): entry 0 sits on the kink (subgradient 0 chosen)
    def cost_fn(p):
        w = p["w"][0]
        return float(np.sum(np.maximum(3 * w, 0)) + w[1] ** 2)

    report = gc.gradient_check(cost_fn, {"w": np.array([[0.0, 1.0]])}, {"dw": np.array([[0.0, 5.0]])})
    assert [e.index for e in report.per_parameter["w"].kinks] == [(0, 0)]
    assert report.passed and report.raw_difference > 1e-3


def test_black_box_bug_is_not_mistaken_for_a_kink():
    def cost_fn(p):
        return float(np.sum(p["w"] ** 2))

    report = gc.gradient_check(cost_fn, {"w": np.array([[1.0, -2.0]])}, {"dw": np.array([[2.0, -8.0]])})
    assert not report.passed and report.failing == ["w"] and report.kinks == {}
    assert report.per_parameter["w"].worst[0].index == (0, 1)


# -- directional mode -------------------------------------------------------------------------
def test_directional_passes_a_correct_backprop_in_few_evaluations():
    params, X, Y = make_problem(dims=(6, 12, 9, 1), m=10)
    report = gc.check_backprop(params, X, Y, l2=0.2, method="directional")
    assert report.passed and report.method == "directional"
    assert report.n_evaluations == 1 + 2 * 4


def test_directional_drills_down_to_the_faulty_parameter_within_budget():
    params, X, Y = make_problem(dims=(6, 12, 9, 1), m=10)
    report = gc.check_backprop(params, X, Y, method="directional", backward=double_dW2)
    assert not report.passed and report.failing == ["W2"]
    assert report.n_evaluations <= gc.directional_budget(len(params))


def test_directional_respects_max_evaluations():
    params, X, Y = make_problem()
    cost, grads = pdl.cost_and_gradients(params, X, Y)
    grads["db3"] = grads["db3"] + 1.0

    def cost_fn(p):
        return compute_cost(forward_propagation(p, X)[1], Y)

    report = gc.directional_check(cost_fn, params, grads, max_evaluations=1 + 8 + 4 * 2)
    assert report.n_evaluations <= 17 and not report.passed
    assert any("budget" in note for note in report.notes)
    with pytest.raises(ValueError, match="max_evaluations"):
        gc.directional_check(cost_fn, params, grads, max_evaluations=3)


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


# -- validation -------------------------------------------------------------------------------
@pytest.mark.parametrize("eps", [0, -1, float("nan"), float("inf")])
def test_epsilon_must_be_positive_finite(eps):
    params, X, Y = make_problem()
    with pytest.raises(ValueError, match="epsilon must be a positive finite number"):
        gc.check_backprop(params, X, Y, epsilon=eps)


@pytest.mark.parametrize("n_jobs", [0, -1, 1.5, True])
def test_n_jobs_must_be_a_positive_integer_or_none(n_jobs):
    params, X, Y = make_problem()
    with pytest.raises(ValueError, match="n_jobs"):
        gc.check_backprop(params, X, Y, n_jobs=n_jobs)
    assert gc.check_backprop(params, X, Y, n_jobs=None).method == "structured"  # None: the default


def test_grads_shapes_and_keys_are_checked_by_name():
    params, X, Y = make_problem()
    _, grads = pdl.cost_and_gradients(params, X, Y)
    bad = dict(grads, dW2=grads["dW2"].T)
    with pytest.raises(ValueError, match=r"grads\['dW2'\] must have the shape of params\['W2'\]"):
        gc.gradient_check(lambda p: 0.0, params, bad)
    missing = {k: v for k, v in grads.items() if k != "db1"}
    with pytest.raises(ValueError, match="missing 'db1'"):
        gc.gradient_check(lambda p: 0.0, params, missing)


def test_network_shapes_and_method_are_validated():
    params, X, Y = make_problem()
    with pytest.raises(ValueError, match="Y must have shape"):
        gc.check_backprop(params, X, Y[:, :3])
    with pytest.raises(ValueError, match="method must be one of"):
        gc.check_backprop(params, X, Y, method="fast")
    with pytest.raises(ValueError, match="W1"):
        gc.check_backprop(params, X[:3], Y)


# -- the report -------------------------------------------------------------------------------
def test_report_serialises_and_renders():
    from rich.console import Console

    params, X, Y = make_problem()
    report = gc.check_backprop(params, X, Y, backward=double_dW2)
    data = json.loads(report.to_json())
    assert data["failing"] == ["W2"] and data["verdict"] == "bug"
    assert data["per_parameter"]["W2"]["worst"][0]["index"] == list(report.per_parameter["W2"].worst[0].index)
    assert data["difference"] == report.difference
    console = Console(record=True, width=140)
    console.print(report)
    text = console.export_text()
    assert all(name in text for name in ("W1", "b1", "W2", "b2", "W3", "b3")) and "bug" in text
    plain = str(report)
    assert plain.count("\n") == 7 and "failing: W2" in plain


def test_verdict_bands_follow_the_course():
    assert gc.report._band(1e-8, 2e-7) == "right"
    assert gc.report._band(1e-5, 2e-7) == "look closer"
    assert gc.report._band(1e-3, 2e-7) == "bug"
    assert gc.report._band(0.5, 2e-7) == "bug"


def test_exported_from_package():
    for name in ("gradient_check", "check_backprop", "check_classifier_gradients", "dictionary_to_vector",
                 "vector_to_dictionary", "gradients_to_vector", "GradCheckReport", "directional_check"):
        assert hasattr(pdl, name), name


def test_a_parameter_whose_every_entry_is_a_kink_is_reported_unchecked():
    """An example whose hidden layer 1 is entirely dead has Z_2 = b_2 = 0 exactly: every entry of b2
    sits on a ReLU kink. The report says b2 was not compared, rather than showing a 0 difference."""
    params = {"W1": np.array([[1.0, 0.5], [0.5, 1.0]]), "b1": np.zeros((2, 1)),
              "W2": np.array([[1.0, -1.0], [0.5, 0.5]]), "b2": np.zeros((2, 1)),
              "W3": np.array([[1.0, -2.0]]), "b3": np.zeros((1, 1))}
    X = np.array([[-1.0, 2.0, 0.3], [-1.0, 1.0, 1.2]])  # column 0: Z_1 < 0, so A_1 = 0 and Z_2 = b_2 = 0
    Y = np.array([[1.0, 0.0, 1.0]])
    report = pdl.check_backprop(params, X, Y)
    assert report.unchecked == ["b2"] and len(report.per_parameter["b2"].kinks) == 2
    assert "every entry at a kink (not compared): b2" in str(report)
    assert "all kinks" in str(report) and report.to_dict()["unchecked"] == ["b2"]
    assert report.passed  # a kink is not a bug


# -- numpy's pairwise summation, replayed (the L2 terms of the structured check) ---------------------
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3000), st.integers(0, 2**31 - 1))
def test_pairwise_replay_is_numpys_sum_bit_for_bit(n, seed):
    from practicaldl.gradcheck._pairwise import NumpySum, Pairwise

    rng = np.random.RandomState(seed)
    a = np.square(rng.standard_normal(n) * 10.0 ** rng.uniform(-4, 4, n))  # squares over 16 decades
    index = np.concatenate([[0, n - 1], rng.randint(0, n, 40), np.arange(min(n, 200))])  # leaf edges included
    values = np.square(rng.standard_normal(index.size)) * 10.0 ** rng.uniform(-4, 4, index.size)
    assert Pairwise(a).total == np.sum(a)  # at most 3000 entries: one tree on every NumPy
    sums = NumpySum(a)
    for i, v, got in zip(index, values, sums.replaced(index, values)):
        changed = a.copy()
        changed[i] = v
        assert got == np.sum(changed), (n, i)


@pytest.mark.parametrize("shape", [(512, 256), (7, 40001 // 7), (128, 64), (1, 1), (3, 5), (129, 1)])
def test_pairwise_replay_on_weight_matrices(shape):
    # np.sum(np.square(W)) of a 2-D C-ordered W (what l2_penalty computes), wide ones included: beyond
    # NumPy's buffer size (8192) older NumPy sums in blocks, which NumpySum probes and replays
    from practicaldl.gradcheck._pairwise import NumpySum, numpy_sum_blocks

    assert numpy_sum_blocks(np.getbufsize()) in (0, np.getbufsize())
    rng = np.random.RandomState(sum(shape))
    W = rng.standard_normal(shape)
    sums = NumpySum(np.square(W))
    index = rng.randint(0, W.size, 300)
    values = W.ravel()[index] + rng.choice([-1e-7, 1e-7], index.size)
    got = sums.replaced(index, np.square(values))
    for i, v, g in zip(index, values, got):
        changed = W.copy().ravel()
        changed[i] = v
        assert g == float(np.sum(np.square(changed.reshape(shape)), dtype=np.float64))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0, np.inf]), min_size=1, max_size=40), st.integers(1, 5))
def test_worst_entries_are_a_stable_sort_with_ties_by_index(values, n):
    values = np.array(values)
    assert gc.report._largest(values, n).tolist() == np.argsort(-values, kind="stable")[:n].tolist()
