import numpy as np
import pytest

import practicaldl as pdl
from practicaldl.core.regularization import l2_gradient, l2_penalty


def test_course_unit_value():
    """The course's compute_cost_with_regularization test case: 1.7864859451590758."""
    rng = np.random.RandomState(1)
    Y = np.array([[1, 1, 0, 1, 0]])
    params = {"W1": rng.randn(2, 3), "b1": rng.randn(2, 1), "W2": rng.randn(3, 2), "b2": rng.randn(3, 1),
              "W3": rng.randn(1, 3), "b3": rng.randn(1, 1)}
    A3 = np.array([[0.40682402, 0.01629284, 0.16722898, 0.10118111, 0.40682402]])
    cross_entropy = float(-np.sum(Y * np.log(A3) + (1 - Y) * np.log(1 - A3)) / 5)
    assert cross_entropy + l2_penalty(params, 0.1, 5) == pytest.approx(1.7864859451590758, rel=1e-9)


def test_hand_worked_penalty_and_gradient():
    # ||W1||^2 = 1 + 4 = 5, ||W2||^2 = 9; biases ignored. (l2 / 2m) * 14 with l2 = 2, m = 7: 2.
    params = {"W1": np.array([[1.0, 2.0]]), "b1": np.array([[100.0]]), "W2": np.array([[3.0]]), "b2": np.array([[5.0]])}
    assert l2_penalty(params, 2.0, 7) == pytest.approx(2.0)
    np.testing.assert_allclose(l2_gradient(params["W1"], 2.0, 4), [[0.5, 1.0]])
    assert l2_penalty(params, 0.0, 7) == 0.0


def test_biases_never_penalised():
    rng = np.random.RandomState(0)
    params = pdl.initialize_parameters([3, 4, 1], rng=rng)
    params["b1"] = rng.randn(4, 1)
    X, Y = rng.randn(3, 6), (rng.rand(1, 6) > 0.5).astype(float)
    _, g0 = pdl.cost_and_gradients(params, X, Y, l2=0.0)
    _, g1 = pdl.cost_and_gradients(params, X, Y, l2=5.0)
    for key in ("db1", "db2"):
        np.testing.assert_array_equal(g0[key], g1[key])
    np.testing.assert_allclose(g1["dW1"] - g0["dW1"], (5.0 / 6) * params["W1"])


def test_larger_l2_gives_smaller_weights():
    data = pdl.load_dataset("noisy")
    norms = []
    for l2 in (0.0, 0.5, 3.0):
        clf = pdl.NeuralNetClassifier((20, 3), init="lecun", learning_rate=0.3, max_iter=1500, l2=l2,
                                      random_state=3).fit(data.X_train, data.y_train)
        norms.append(sum(np.sum(clf.parameters_[f"W{l}"] ** 2) for l in (1, 2, 3)))
    assert norms[0] > norms[1] > norms[2]
