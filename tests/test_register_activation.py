"""``register_activation``: a registered activation works wherever an activation is chosen.

The ``registered_activations`` fixture (conftest.py) registers a leaky ReLU (with in-place forms)
and swish (without) for each test and removes them afterwards.
"""

import numpy as np
import pytest

import practicaldl as pdl
from practicaldl.core.activations import ACTIVATIONS
from practicaldl.engine import loop
from practicaldl.io.models import ModelFileError, load_model, save_model
from practicaldl.studies.config import StudyConfig


@pytest.fixture(scope="module")
def moons():
    return pdl.load_dataset("moons")


@pytest.mark.parametrize("name", ["leaky_relu", "swish"])
def test_core_and_train_use_the_registered_functions(name, moons, registered_activations):
    forward, derivative = ACTIVATIONS[name].forward, ACTIVATIONS[name].derivative
    X, Y = moons.X_train.T, moons.y_train[None, :].astype(float)
    params = pdl.initialize_parameters([2, 6, 1], rng=np.random.RandomState(0))
    _, cache = pdl.forward_propagation(params, X, activation=name)
    Z1 = params["W1"] @ X + params["b1"]
    assert np.array_equal(cache.G[0], forward(Z1))
    # backward: dZ_1 = (W_2^T dZ_2) * g'(Z_1), dZ_2 = (A_2 - Y) / m
    grads = pdl.backward_propagation(params, Y, cache)
    dZ1 = (params["W2"].T @ ((cache.AL - Y) / X.shape[1])) * derivative(Z1, cache.G[0])
    assert np.array_equal(grads["db1"], np.sum(dZ1, axis=1, keepdims=True))
    trained, history = loop.train(params, X, Y, learning_rate=0.3, max_iter=200, rng=0, activation=name)
    assert history.step == "fast" and history.cost[-1] < 0.5 * history.cost[0]


@pytest.mark.parametrize("name", ["leaky_relu", "swish"])
def test_the_estimator_fits_saves_and_loads_it(name, moons, tmp_path, registered_activations):
    clf = pdl.NeuralNetClassifier((8,), activation=name, learning_rate=0.3, max_iter=300, random_state=0)
    clf.fit(moons.X_train, moons.y_train)
    assert clf.score(moons.X_test, moons.y_test) > 0.85
    save_model(clf, tmp_path / "m")
    assert np.array_equal(load_model(tmp_path / "m").predict_proba(moons.X_test), clf.predict_proba(moons.X_test))
    ACTIVATIONS.pop(name)  # another process, where it is not registered: a clear refusal
    with pytest.raises(ModelFileError, match=rf"got '{name}': register it \(practicaldl.register_activation\)"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("method", ["structured", "loop"])
@pytest.mark.parametrize("name", ["leaky_relu", "swish"])
def test_gradient_checking_passes_and_finds_a_planted_bug(name, method, moons, registered_activations):
    X, Y = moons.X_train.T[:, :40], moons.y_train[None, :40].astype(float)
    params = pdl.initialize_parameters([2, 6, 4, 1], rng=np.random.RandomState(0))
    assert pdl.check_backprop(params, X, Y, activation=name, l2=0.3, method=method).passed

    def wrong_cost(p):
        _, cache = pdl.forward_propagation(p, X, activation=name)
        return pdl.compute_cost(cache, Y)

    _, grads = pdl.cost_and_gradients(params, X, Y, activation=name)
    grads["dW1"] = grads["dW1"] * 1.1
    report = pdl.gradient_check(wrong_cost, params, grads)
    assert not report.passed and report.per_parameter["W1"].verdict == "bug"


def test_diagnostics_use_the_registry(moons, registered_activations):
    """A registered activation without asymptotes has no saturation; one with them does."""
    X, Y = moons.X_train.T, moons.y_train[None, :].astype(float)
    params = pdl.initialize_parameters([2, 6, 4, 1], init="random", init_scale=20, rng=np.random.RandomState(0))
    report = pdl.diagnose(params, X, Y, activation="swish")
    assert report.layers[0]["saturated_fraction"] is None
    pdl.register_activation("scaled_tanh", lambda Z: 2 * np.tanh(Z), lambda Z, A: 2 * (1 - np.tanh(Z) ** 2),
                            bounds=(-2, 2))
    try:
        report = pdl.diagnose(params, X, Y, activation="scaled_tanh")
    finally:
        ACTIVATIONS.pop("scaled_tanh")
    assert report.layers[0]["saturated_fraction"] > 0.5
    assert any(f.kind == "saturation" for f in report.findings)
    clf = pdl.NeuralNetClassifier((6,), activation="leaky_relu", max_iter=20, monitor_every=10, random_state=0)
    clf.fit(moons.X_train, moons.y_train)
    assert len(clf.training_diagnostics_) == 2 and clf.training_diagnostics_[-1]["saturated_fraction"] == [None, None]


def test_studies_and_the_cli_validate_against_the_registry(registered_activations, cli):
    StudyConfig(dataset="circles", activation="swish").validate()
    with pytest.raises(ValueError, match=r"activation must be one of \['leaky_relu', 'relu', 'sigmoid', 'swish', "
                                         r"'tanh'\], got 'elu'"):
        StudyConfig(dataset="circles", activation="elu").validate()
    result = cli("train", "--activation", "elu", "--max-iter", "5")
    assert result.exit_code == 2 and "got 'elu'" in result.stderr and "'swish'" in result.stderr
