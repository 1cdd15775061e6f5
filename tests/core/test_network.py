import itertools

import numpy as np
import pytest

import practicaldl as pdl


def numerical_gradients(params, X, Y, l2, keep_prob, masks, activation, output, eps=1e-6):
    """Centred differences, entry by entry, with the dropout masks fixed (replayed)."""
    grads = {}
    for key, value in params.items():
        approx = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            costs = []
            for sign in (1, -1):
                shifted = {k: v.copy() for k, v in params.items()}
                shifted[key][idx] += sign * eps
                _, cache = pdl.forward_propagation(shifted, X, keep_prob, activation=activation, output=output,
                                                   masks=masks)
                costs.append(pdl.compute_cost(cache, Y, shifted, l2))
            approx[idx] = (costs[0] - costs[1]) / (2 * eps)
        grads["d" + key] = approx
    return grads


def test_hand_worked_forward_backward():
    # One input, one hidden ReLU unit, one sigmoid output; x = 2, y = 1.
    # W1 = 0.5, b1 = 0 -> z1 = 1, a1 = 1; W2 = 1, b2 = -1 -> z2 = 0, a2 = 1/2.
    params = {"W1": np.array([[0.5]]), "b1": np.array([[0.0]]), "W2": np.array([[1.0]]), "b2": np.array([[-1.0]])}
    X, Y = np.array([[2.0]]), np.array([[1.0]])
    AL, cache = pdl.forward_propagation(params, X)
    assert AL[0, 0] == 0.5
    assert pdl.compute_cost(cache, Y) == pytest.approx(np.log(2))  # -log(1/2)
    g = pdl.backward_propagation(params, Y, cache)
    # dZ2 = a2 - y = -1/2; dW2 = dZ2 a1 = -1/2; db2 = -1/2
    # dA1 = W2 dZ2 = -1/2; dZ1 = dA1 * 1[z1 > 0] = -1/2; dW1 = dZ1 x = -1; db1 = -1/2
    assert g == {"dW1": [[-1.0]], "db1": [[-0.5]], "dW2": [[-0.5]], "db2": [[-0.5]]}
    assert list(g) == ["dW1", "db1", "dW2", "db2"]
    # With l2 = 4 and m = 1: cost += (4/2)(0.25 + 1) = 2.5, dW1 += 4 * 0.5 = 2, dW2 += 4
    assert pdl.compute_cost(cache, Y, params, l2=4.0) == pytest.approx(np.log(2) + 2.5)
    g = pdl.backward_propagation(params, Y, cache, l2=4.0)
    assert g["dW1"][0, 0] == pytest.approx(1.0) and g["dW2"][0, 0] == pytest.approx(3.5)


@pytest.mark.parametrize(
    "activation, output, l2, keep_prob",
    list(itertools.product(["relu", "tanh", "sigmoid"], ["sigmoid", "softmax"], [0.0, 0.7], [1.0, 0.7])),
)
def test_backprop_matches_centred_differences(activation, output, l2, keep_prob):
    rng = np.random.RandomState(11)
    n_out = 1 if output == "sigmoid" else 3
    params = pdl.initialize_parameters([4, 5, 3, n_out], init="xavier", rng=rng)
    for l in (1, 2, 3):
        params[f"b{l}"] = 0.1 * rng.randn(*params[f"b{l}"].shape)
    X = rng.randn(4, 7)
    labels = rng.randint(0, n_out if n_out > 1 else 2, 7)
    Y = labels[None, :].astype(float) if n_out == 1 else np.eye(3)[:, labels]
    _, cache = pdl.forward_propagation(params, X, keep_prob, rng=rng, activation=activation, output=output)
    grads = pdl.backward_propagation(params, Y, cache, l2)
    approx = numerical_gradients(params, X, Y, l2, keep_prob, cache.masks, activation, output)
    g, a = (np.concatenate([d[k].ravel() for k in grads]) for d in (grads, approx))
    assert np.linalg.norm(g - a) / (np.linalg.norm(g) + np.linalg.norm(a)) < 1e-7
    for key in grads:  # and parameter by parameter
        np.testing.assert_allclose(grads[key], approx[key], atol=1e-7)


def test_cost_and_gradients_is_forward_plus_backward():
    rng = np.random.RandomState(0)
    params = pdl.initialize_parameters([3, 4, 1], rng=rng)
    X, Y = rng.randn(3, 5), (rng.rand(1, 5) > 0.5).astype(float)
    cost, grads = pdl.cost_and_gradients(params, X, Y, l2=0.3, keep_prob=0.8, rng=np.random.RandomState(9))
    _, cache = pdl.forward_propagation(params, X, 0.8, np.random.RandomState(9))
    assert cost == pdl.compute_cost(cache, Y, params, 0.3)
    expected = pdl.backward_propagation(params, Y, cache, 0.3)
    assert all(np.array_equal(grads[k], expected[k]) for k in expected)


def test_inputs_are_not_mutated():
    rng = np.random.RandomState(0)
    params = pdl.initialize_parameters([3, 4, 1], rng=rng)
    X, Y = rng.randn(3, 5), np.ones((1, 5))
    before = {k: v.copy() for k, v in params.items()}, X.copy(), Y.copy()
    pdl.cost_and_gradients(params, X, Y, l2=1.0, keep_prob=0.5, rng=rng)
    assert all(np.array_equal(before[0][k], params[k]) for k in params)
    assert np.array_equal(before[1], X) and np.array_equal(before[2], Y)


def test_float32_end_to_end():
    rng = np.random.RandomState(0)
    params = pdl.initialize_parameters([3, 4, 4, 1], rng=rng, dtype=np.float32)
    X = rng.randn(3, 8).astype(np.float32)
    Y = (rng.rand(1, 8) > 0.5).astype(np.float32)
    _, cache = pdl.forward_propagation(params, X, keep_prob=0.7, rng=rng)
    assert all(z.dtype == np.float32 for z in cache.Z) and all(a.dtype == np.float32 for a in cache.A)
    grads = pdl.backward_propagation(params, Y, cache, l2=0.5)
    assert all(g.dtype == np.float32 for g in grads.values())
    new = pdl.gradient_descent_step(params, grads, 0.1)
    assert all(v.dtype == np.float32 for v in new.values())


def test_gradient_descent_step():
    params = {"W1": np.array([[1.0, 2.0]]), "b1": np.array([[0.5]])}
    grads = {"dW1": np.array([[10.0, -10.0]]), "db1": np.array([[1.0]])}
    new = pdl.gradient_descent_step(params, grads, 0.1)
    assert new["W1"].tolist() == [[0.0, 3.0]] and new["b1"].tolist() == [[0.4]]
    assert params["W1"].tolist() == [[1.0, 2.0]]  # not in place by default
    same = pdl.gradient_descent_step(params, grads, 0.1, inplace=True)
    assert same is params and params["W1"].tolist() == [[0.0, 3.0]]


def test_predict_threshold_and_argmax():
    params = {"W1": np.array([[1.0]]), "b1": np.array([[0.0]]), "W2": np.array([[1.0]]), "b2": np.array([[-1.0]])}
    # z2 = relu(x) - 1: > 0 exactly when x > 1
    assert pdl.predict(params, np.array([[0.0, 1.0, 2.0]])).tolist() == [0, 0, 1]
    soft = {"W1": np.eye(2), "b1": np.zeros((2, 1)), "W2": np.eye(2), "b2": np.zeros((2, 1))}
    assert pdl.predict(soft, np.array([[3.0, 0.0], [0.0, 3.0]]), output="softmax").tolist() == [0, 1]


def test_unknown_output_lists_choices():
    params = pdl.initialize_parameters([2, 1], rng=np.random.RandomState(0))
    with pytest.raises(ValueError, match=r"output must be one of \['sigmoid', 'softmax'\], got 'linear'"):
        pdl.forward_propagation(params, np.zeros((2, 3)), output="linear")
