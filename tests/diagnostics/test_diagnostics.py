"""Diagnostics: each finding fires where it must and not where it must not.

Every comparison is against ``THRESHOLDS`` (never a magic number), and the probe data is the
course's circles (X (2, 300)).
"""

import json

import numpy as np
import pytest
from rich.console import Console

import practicaldl as pdl
from practicaldl import THRESHOLDS, TrainingMonitor, diagnose, diagnose_fit
from practicaldl.diagnostics import (
    confident_wrong_fraction,
    dead_fraction,
    identical_unit_groups,
    monitor_findings,
    saturated_fraction,
)
from practicaldl.diagnostics.findings import RECOMMENDED_INIT
from practicaldl.diagnostics.plots import plot_activation_histograms, plot_training_diagnostics

COURSE_DIMS = [2, 10, 5, 1]
DEEP_DIMS = [2] + [20] * 9 + [1]  # 10 layers with weights, 9 hidden


@pytest.fixture(scope="module")
def circles():
    d = pdl.load_dataset("circles")
    return d.X_train.T, d.y_train[None, :].astype(float)  # (2, 300), (1, 300)


def params_for(dims, init, scale=1.0, seed=3):
    return pdl.initialize_parameters(dims, init=init, init_scale=scale, rng=np.random.RandomState(seed))


def of_kind(report, kind, metric=None):
    return [f for f in report.findings if f.kind == kind and (metric is None or f.metric == metric)]


def check_thresholds_named(report):
    """Every finding names its THRESHOLDS key and carries exactly that threshold."""
    for f in report.findings:
        assert f.metric in THRESHOLDS, f
        assert f.threshold == THRESHOLDS[f.metric], f


# -- symmetry ------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_zeros_init_breaks_no_symmetry(circles, activation):
    X, Y = circles
    report = diagnose(params_for(COURSE_DIMS, "zeros"), X, Y, activation=activation)
    sym = of_kind(report, "symmetry")
    assert [f.layer for f in sym] == [1, 2]  # every hidden layer
    assert [f.value for f in sym] == [10, 5]  # all units of each layer identical
    assert all(f.severity == "error" for f in sym)
    assert "symmetry not broken: layer 1 has 10 identical units" in sym[0].message
    assert RECOMMENDED_INIT[activation] in sym[0].suggestion
    assert not report.healthy
    check_thresholds_named(report)


def test_planted_twin_units_are_found_and_only_them(circles):
    X, Y = circles
    params = params_for(COURSE_DIMS, "he")
    assert not of_kind(diagnose(params, X, Y), "symmetry")
    # Copy unit 3 of layer 1 onto unit 7: incoming row, bias and outgoing column.
    params["W1"][7] = params["W1"][3]
    params["W2"][:, 7] = params["W2"][:, 3]
    assert identical_unit_groups(params, 1) == [[3, 7]]
    sym = of_kind(diagnose(params, X, Y), "symmetry")
    assert [(f.layer, f.value) for f in sym] == [(1, 2)]
    # Same incoming weights but different outgoing weights: they get different gradients, so
    # training breaks the tie and nothing is reported.
    params["W2"][:, 7] = params["W2"][:, 3] + 0.5
    assert identical_unit_groups(params, 1) == []


# -- saturation ----------------------------------------------------------------------------
def test_saturated_fraction_hand_worked():
    margin = THRESHOLDS["saturation_margin"]
    # tanh range [-1, 1]: u = (A + 1) / 2; A = -1 + margin (u = margin/2) and 1 - margin are saturated
    A = np.array([[-1 + margin, 0.0], [0.5, 1 - margin]])
    assert saturated_fraction(A, "tanh") == 2 / 4
    # sigmoid range [0, 1]: u = A
    A = np.array([[margin / 2, 0.5, 1 - margin / 2, 2 * margin]])
    assert saturated_fraction(A, "sigmoid") == 2 / 4
    assert saturated_fraction(A, "relu") is None


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_random_x10_saturates_sigmoid_and_tanh(circles, activation):
    X, Y = circles
    report = diagnose(params_for(COURSE_DIMS, "random", 10.0), X, Y, activation=activation)
    sat = {f.layer: f for f in of_kind(report, "saturation") if f.severity == "warning"}
    assert {1, 2} <= set(sat)  # both hidden layers
    assert all(f.value > THRESHOLDS["saturated_fraction"] for f in sat.values())
    assert not report.healthy
    # the same network with Xavier weights is not saturated
    good = diagnose(params_for(COURSE_DIMS, "xavier"), X, Y, activation=activation)
    assert not of_kind(good, "saturation")
    assert good.healthy
    check_thresholds_named(report)


def test_confident_wrong_fraction_hand_worked():
    margin = THRESHOLDS["saturation_margin"]
    AL = np.array([[1 - margin / 2, margin / 2, 1 - margin / 2, 0.5]])  # sure 1, sure 0, sure 1, unsure
    Y = np.array([[0.0, 0.0, 1.0, 0.0]])  # wrong, right, right, unsure
    assert confident_wrong_fraction(AL, Y, "sigmoid") == 1 / 4
    P = np.array([[1 - margin / 2, 1 - margin / 2, 0.4],
                  [margin / 2, margin / 2, 0.6]])  # (K=2, m=3)
    Yk = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])  # example 0 confidently wrong, 1 right, 2 unsure
    assert confident_wrong_fraction(P, Yk, "softmax") == 1 / 3


def test_output_saturation_is_about_wrong_answers(circles):
    X, Y = circles
    params = params_for(COURSE_DIMS, "random", 10.0)  # the course's random x10 on relu
    with_y = [f for f in diagnose(params, X, Y).findings if f.kind == "saturation" and f.layer == 3]
    assert len(with_y) == 1 and with_y[0].metric == "confident_wrong_fraction"
    assert with_y[0].value > THRESHOLDS["confident_wrong_fraction"] and with_y[0].severity == "warning"
    # without labels nobody can say the confident outputs are wrong: info at most
    without_y = [f for f in diagnose(params, X).findings if f.kind == "saturation" and f.layer == 3]
    assert [f.severity for f in without_y] == ["info"]
    # confident *right* answers are no problem: labels equal to the network's own predictions
    own = (pdl.predict_proba(params, X) > 0.5).astype(float)
    assert not [f for f in diagnose(params, X, own).findings if f.kind == "saturation" and f.layer == 3]


# -- vanishing / exploding ------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_deep_net_with_small_weights_vanishes(circles, activation):
    X, Y = circles
    report = diagnose(params_for(DEEP_DIMS, "random", 0.01), X, Y, activation=activation)
    acts = of_kind(report, "vanishing", "activation_vanishing")
    grads = of_kind(report, "vanishing", "gradient_vanishing")
    assert len(acts) == 1 and acts[0].value < THRESHOLDS["activation_vanishing"]
    assert len(grads) == 1 and grads[0].value < THRESHOLDS["gradient_vanishing"]
    assert acts[0].severity == grads[0].severity == "warning"
    assert not of_kind(report, "exploding")
    # the growth is what the layer stats say: rms(Z_9) / rms(Z_1)
    assert acts[0].value == pytest.approx(report.layers[8]["z_rms"] / report.layers[0]["z_rms"])
    check_thresholds_named(report)


def test_deep_relu_net_with_unit_weights_explodes(circles):
    X, Y = circles
    report = diagnose(params_for(DEEP_DIMS, "random", 1.0), X, Y, activation="relu")
    acts = of_kind(report, "exploding", "activation_exploding")
    grads = of_kind(report, "exploding", "gradient_exploding")
    assert len(acts) == 1 and acts[0].value > THRESHOLDS["activation_exploding"]
    assert len(grads) == 1 and grads[0].value > THRESHOLDS["gradient_exploding"]
    assert not of_kind(report, "vanishing")
    check_thresholds_named(report)


def test_without_labels_gradient_findings_are_skipped(circles):
    X, _ = circles
    report = diagnose(params_for(DEEP_DIMS, "random", 0.01), X, activation="tanh")
    assert not report.gradients
    assert all(layer["grad_norm"] is None for layer in report.layers)
    assert [f.metric for f in report.findings] == ["activation_vanishing"]


# -- healthy networks -----------------------------------------------------------------------
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("dims", [COURSE_DIMS, DEEP_DIMS], ids=["course", "deep"])
def test_he_on_relu_is_healthy(circles, dims, seed):
    X, Y = circles
    report = diagnose(params_for(dims, "he", seed=seed), X, Y, activation="relu")
    assert report.healthy, [f.message for f in report.findings]
    assert report.kinds("warning") == set()


# -- dead units -----------------------------------------------------------------------------
def test_dead_fraction_counts_units_never_positive():
    Z = np.array([[-1.0, -2.0, 0.0],   # never positive: dead
                  [-1.0, 3.0, -1.0],   # positive once: alive
                  [0.0, 0.0, 0.0]])    # never positive: dead
    assert dead_fraction(Z) == 2 / 3


def test_planted_negative_biases_kill_relus(circles):
    X, Y = circles
    params = params_for(COURSE_DIMS, "he")
    n_dead = int(np.floor(THRESHOLDS["dead_fraction"] * 10)) + 1  # just over the threshold of 10 units
    params["b1"][:n_dead] = -100.0  # W1 x + b1 < 0 for every example in [-1.5, 1.5]^2
    report = diagnose(params, X, Y)
    dead = of_kind(report, "dead_units")
    assert [(f.layer, f.severity, f.value) for f in dead] == [(1, "warning", n_dead / 10)]
    assert f"{n_dead} of 10 units" in dead[0].message
    assert report.layers[0]["dead_fraction"] == n_dead / 10


# -- report format --------------------------------------------------------------------------
@pytest.mark.parametrize("case", [("zeros", 1.0, "relu"), ("random", 1.0, "relu"), ("random", 0.01, "tanh")])
def test_report_is_json_and_renders(circles, case):
    X, Y = circles
    init, scale, activation = case
    report = diagnose(params_for(DEEP_DIMS, init, scale), X, Y, activation=activation)
    d = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert d["healthy"] is report.healthy is False
    assert len(d["layers"]) == 10 and d["layer_dims"] == DEEP_DIMS
    assert {f["kind"] for f in d["findings"]} == report.kinds()
    assert set(d["thresholds"]) == set(THRESHOLDS)
    console = Console(record=True, width=200)
    console.print(report)
    text = console.export_text()
    for f in report.findings:
        assert f.kind in text


def test_input_validation_names_the_argument(circles):
    X, Y = circles
    params = params_for(COURSE_DIMS, "he")
    with pytest.raises(ValueError, match=r"X must be \(n_x, m\) with n_x = 2"):
        diagnose(params, X.T)
    with pytest.raises(ValueError, match=r"Y must have shape \(n_L, m\) = \(1, 300\)"):
        diagnose(params, X, Y[:, :10])
    with pytest.raises(ValueError, match="activation must be one of"):
        diagnose(params, X, activation="gelu")
    with pytest.raises(ValueError, match="train_score and test_score must be given together"):
        diagnose(params, X, train_score=0.9)
    with pytest.raises(ValueError, match="params must hold"):
        diagnose({"W1": params["W1"]}, X)


# -- after training: bias and variance --------------------------------------------------------
def test_diagnose_fit_bands():
    v, b = THRESHOLDS["variance"], THRESHOLDS["avoidable_bias"]
    # train error 1%, test error 1% + just over the variance threshold: high variance only
    found = diagnose_fit(0.99, 0.99 - (v + 0.01))
    assert [(f.kind, f.severity) for f in found] == [("high_variance", "warning")]
    assert found[0].value == pytest.approx(v + 0.01)
    # mild variance: between the info and the warning thresholds
    mild = (THRESHOLDS["variance_info"] + v) / 2
    assert [(f.kind, f.severity) for f in diagnose_fit(0.99, 0.99 - mild)] == [("high_variance", "info")]
    # the target error moves the bias: train error b + 0.03 is high bias against 0, fine against 0.03
    assert [f.kind for f in diagnose_fit(1 - (b + 0.03), 1 - (b + 0.03))] == ["high_bias"]
    assert [f.kind for f in diagnose_fit(1 - (b + 0.03), 1 - (b + 0.03), target_error=b + 0.03)] == ["fit_ok"]
    # both: the larger gap comes first and says so
    both = diagnose_fit(1 - (b + 0.01), 1 - (b + 0.01) - (v + 0.10))
    assert [f.kind for f in both] == ["high_variance", "high_bias"]
    assert "fix this first" in both[0].message and "fix this first" not in both[1].message
    assert "L2" in both[0].suggestion and "bigger network" in both[1].suggestion
    for bad in (-0.1, 1.5, True, "0.9"):
        with pytest.raises(ValueError, match="train_accuracy must be a number in \\[0, 1\\]"):
            diagnose_fit(bad, 0.9)


def test_unregularized_overfit_on_noisy_is_high_variance():
    d = pdl.load_dataset("noisy")
    # Bayes error of this data: the fraction of test labels that disagree with the true boundary
    true = (d.X_test[:, 1] > 0.35 * np.sin(3.0 * d.X_test[:, 0])).astype(int)
    bayes = float(np.mean(d.y_test != true))
    clf = pdl.NeuralNetClassifier((20, 3), init="lecun", learning_rate=0.3, max_iter=20000, random_state=3)
    clf.fit(d.X_train, d.y_train)
    train_acc, test_acc = clf.score(d.X_train, d.y_train), clf.score(d.X_test, d.y_test)
    found = {f.kind: f for f in diagnose_fit(train_acc, test_acc, target_error=bayes)}
    assert "high_variance" in found and found["high_variance"].severity == "warning"
    assert found["high_variance"].value == pytest.approx(train_acc - test_acc)
    assert "high_bias" not in found
    # L2 closes the gap: the same network regularized is not high variance
    reg = pdl.NeuralNetClassifier((20, 3), init="lecun", learning_rate=0.3, max_iter=20000, l2=0.7, random_state=3)
    reg.fit(d.X_train, d.y_train)
    kinds = {f.kind for f in diagnose_fit(reg.score(d.X_train, d.y_train), reg.score(d.X_test, d.y_test), bayes)}
    assert "high_variance" not in kinds


def test_tiny_network_on_circles_is_high_bias():
    d = pdl.load_dataset("circles")
    clf = pdl.NeuralNetClassifier((1,), init="he", learning_rate=0.01, max_iter=300, random_state=3)
    clf.fit(d.X_train, d.y_train)
    report = diagnose(clf, d.X_test, d.y_test, train_score=clf.score(d.X_train, d.y_train),
                      test_score=clf.score(d.X_test, d.y_test), target_error=0.0)
    bias = of_kind(report, "high_bias")
    assert len(bias) == 1 and bias[0].value > THRESHOLDS["avoidable_bias"]
    assert not of_kind(report, "high_variance")
    assert "bigger network" in bias[0].suggestion


# -- estimators -----------------------------------------------------------------------------
def test_diagnose_accepts_estimators_fitted_or_not():
    d = pdl.load_dataset("circles")
    # unfitted: the parameters fit would start from (same draw as initialize_parameters)
    report = diagnose(pdl.NeuralNetClassifier((10, 5), init="zeros"), d.X_train, d.y_train)
    assert report.kinds("error") == {"symmetry"}
    assert report.layer_dims == COURSE_DIMS and report.gradients
    he = pdl.NeuralNetClassifier((10, 5), init="he", random_state=3)
    assert diagnose(he, d.X_train, d.y_train).layers[0]["weight_norm"] == pytest.approx(
        np.linalg.norm(params_for(COURSE_DIMS, "he")["W1"]))
    # fitted: its trained parameters, sklearn layout, labels of any type
    clf = pdl.NeuralNetClassifier((10, 5), max_iter=50, random_state=3).fit(d.X_train, np.where(d.y_train, "a", "b"))
    report = diagnose(clf, d.X_train, np.where(d.y_train, "a", "b"))
    assert report.layers[0]["weight_norm"] == pytest.approx(np.linalg.norm(clf.parameters_["W1"]))
    with pytest.raises(ValueError, match="X must have 2 features"):
        diagnose(clf, np.ones((3, 4)))
    with pytest.raises(ValueError, match="Y must contain only the estimator's classes"):
        diagnose(clf, d.X_train, d.y_train)


# -- during training ------------------------------------------------------------------------
def test_training_monitor_records_every_k(circles):
    X, Y = circles
    lr, seen, weights = 0.01, {}, {}
    monitor = TrainingMonitor(every=10)

    def keep(info):  # an independent record of what the monitor saw, and of the weights before each step
        weights[info.iteration] = {k: v.copy() for k, v in info.params.items()}
        if info.iteration % 10 == 0:
            seen[info.iteration] = ({k: v.copy() for k, v in info.params.items()},
                                    {k: v.copy() for k, v in info.grads.items()}, info.cache)

    pdl.train(params_for(COURSE_DIMS, "he"), X, Y, learning_rate=lr, max_iter=25, rng=np.random.RandomState(0),
              callbacks=(monitor, keep))
    assert [r["iteration"] for r in monitor.records] == [10, 20]
    for rec in monitor.records:
        params, grads, cache = seen[rec["iteration"]]
        before = weights[rec["iteration"] - 1]  # full batch: one step an iteration
        for l in range(1, 4):
            g, w = np.linalg.norm(grads[f"dW{l}"]), np.linalg.norm(before[f"W{l}"])
            assert rec["grad_norm"][l - 1] == pytest.approx(g)
            assert rec["weight_norm"][l - 1] == pytest.approx(np.linalg.norm(params[f"W{l}"]))
            # gradient descent's step is lr dW: the measured ratio is lr ||dW|| / ||W before the step||
            assert rec["update_ratio"][l - 1] == pytest.approx(lr * g / w, rel=1e-9)
        assert rec["dead_fraction"][:2] == [dead_fraction(cache.Z[0]), dead_fraction(cache.Z[1])]
        assert rec["dead_fraction"][2] is None  # output layer
    json.dumps(monitor.records, allow_nan=False)


@pytest.mark.parametrize("batch_size", [None, 50])
def test_the_monitor_measures_adams_step_not_the_gradients(circles, batch_size):
    """Adam moves each entry by about lr whatever its gradient: the ratio is ||W_t - W_{t-1}|| / ||W_{t-1}||
    of the last step, measured (here against a copy taken before the epoch's last update, by a second
    monitor that watches every step), and far from lr ||dW|| / ||W||."""
    X, Y = circles
    lr, last_steps = 0.01, {}
    monitor = TrainingMonitor(every=5)
    opt = pdl.OPTIMIZERS["adam"](lr)
    real_step = opt.step

    def step(theta, dtheta):  # the optimizer's own view: theta before and after each update
        before = theta.copy()
        real_step(theta, dtheta)
        last_steps["delta"], last_steps["before"] = theta - before, before

    opt.step = step
    keep = {}

    def record(info):
        if info.iteration % 5 == 0:
            keep[info.iteration] = (last_steps["delta"].copy(), last_steps["before"].copy(),
                                    np.linalg.norm(info.grads["dW1"]))

    params0 = params_for(COURSE_DIMS, "he")
    pdl.train(params0, X, Y, optimizer=opt, max_iter=15, batch_size=batch_size, rng=np.random.RandomState(0),
              callbacks=(monitor, record))
    n1 = params0["W1"].size  # W1 is the first block of theta
    for rec in monitor.records:
        delta, before, g = keep[rec["iteration"]]
        measured = np.linalg.norm(delta[:n1]) / np.linalg.norm(before[:n1])
        assert rec["update_ratio"][0] == pytest.approx(measured, rel=1e-6)
        assert abs(np.log10(rec["update_ratio"][0] / (lr * g / np.linalg.norm(before[:n1])))) > 0.5


def test_training_monitor_off_and_validation(circles):
    X, Y = circles
    off = TrainingMonitor(every=0)
    pdl.train(params_for(COURSE_DIMS, "he"), X, Y, learning_rate=0.01, max_iter=5, rng=np.random.RandomState(0),
              callbacks=(off,))
    assert off.records == [] and off.findings() == []
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="every must be a non-negative integer"):
            TrainingMonitor(every=bad)


def test_monitor_findings_flag_large_steps(circles):
    X, Y = circles
    # random x10 on relu with a large learning rate: each step moves W by far more than 10%
    lr = 1.0
    monitor = TrainingMonitor(every=1)
    pdl.train(params_for(COURSE_DIMS, "random", 10.0), X, Y, learning_rate=lr, max_iter=1,
              rng=np.random.RandomState(0), callbacks=(monitor,))
    ratios = monitor.records[-1]["update_ratio"]
    found = monitor.findings()
    flagged = {f.layer for f in found if f.kind == "update_ratio"}
    assert flagged == {l for l, r in enumerate(ratios, start=1) if r > THRESHOLDS["update_ratio_high"]}
    assert flagged  # the scenario does produce large steps
    assert monitor_findings([]) == []


def test_estimator_monitor_every():
    d = pdl.load_dataset("circles")
    clf = pdl.NeuralNetClassifier((10, 5), max_iter=30, monitor_every=10, random_state=3).fit(d.X_train, d.y_train)
    assert [r["iteration"] for r in clf.training_diagnostics_] == [10, 20, 30]
    assert len(clf.training_diagnostics_[0]["update_ratio"]) == 3
    assert clf.get_params()["monitor_every"] == 10
    plain = pdl.NeuralNetClassifier((10, 5), max_iter=30, random_state=3).fit(d.X_train, d.y_train)
    assert plain.training_diagnostics_ == []
    np.testing.assert_array_equal(plain.parameters_["W1"], clf.parameters_["W1"])  # monitoring changes nothing
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="monitor_every must be a non-negative integer"):
            pdl.NeuralNetClassifier(max_iter=5, monitor_every=bad).fit(d.X_train, d.y_train)


# -- plots ----------------------------------------------------------------------------------
def test_histogram_figure_from_records(circles, tmp_path):
    X, Y = circles
    study = {
        f"{init} x{scale}": json.loads(json.dumps(
            diagnose(params_for(COURSE_DIMS, init, scale), X, Y, activation="tanh").to_dict()))
        for init, scale in [("xavier", 1.0), ("random", 0.01), ("random", 10.0), ("zeros", 1.0)]
    }
    path = plot_activation_histograms(study, tmp_path / "figs" / "activations.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    one = plot_activation_histograms(diagnose(params_for(COURSE_DIMS, "he"), X), tmp_path / "one.png", quantity="z")
    assert one.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figs", "one.png"]  # no temporary file left
    with pytest.raises(ValueError, match="path must end in .png"):
        plot_activation_histograms(study, tmp_path / "a.pdf")
    with pytest.raises(ValueError, match="quantity must be one of"):
        plot_activation_histograms(study, tmp_path / "a.png", quantity="g")


def test_training_figure(tmp_path):
    d = pdl.load_dataset("circles")
    clf = pdl.NeuralNetClassifier((10, 5), max_iter=20, monitor_every=5, random_state=3).fit(d.X_train, d.y_train)
    path = plot_training_diagnostics(clf.training_diagnostics_, tmp_path / "training.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="records must hold at least one"):
        plot_training_diagnostics([], tmp_path / "empty.png")


# -- thresholds -----------------------------------------------------------------------------
def test_findings_read_the_live_thresholds(circles, monkeypatch):
    """Moving a threshold past the measured value silences its finding: nothing is hard-coded."""
    X, Y = circles
    params = params_for(DEEP_DIMS, "random", 0.01)
    report = diagnose(params, X, Y, activation="tanh")
    growth = of_kind(report, "vanishing", "activation_vanishing")[0].value
    monkeypatch.setitem(THRESHOLDS, "activation_vanishing", growth / 2)
    monkeypatch.setitem(THRESHOLDS, "activation_vanishing_info", growth / 2)
    assert not of_kind(diagnose(params, X, Y, activation="tanh"), "vanishing", "activation_vanishing")
    gap = 0.99 - 0.80
    assert [f.kind for f in diagnose_fit(0.99, 0.80)] == ["high_variance"]
    monkeypatch.setitem(THRESHOLDS, "variance", gap + 0.01)
    monkeypatch.setitem(THRESHOLDS, "variance_info", gap + 0.01)
    assert [f.kind for f in diagnose_fit(0.99, 0.80)] == ["fit_ok"]
