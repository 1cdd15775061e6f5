"""The course's optimization methods on parameter dicts (``core.optimization``) and its minibatches."""

import numpy as np
import pytest

import practicaldl as pdl
from practicaldl.core.minibatches import minibatch_indices


def _dicts(theta, grad):
    """One "parameter" W1 (1, 2) and a bias b1 (1, 1) of 0, with its gradient 0: the rules are elementwise."""
    return ({"W1": np.array([theta], dtype=float), "b1": np.zeros((1, 1))},
            {"dW1": np.array([grad], dtype=float), "db1": np.zeros((1, 1))})


# -- hand-worked: two steps of each rule ------------------------------------------------------------
def test_momentum_two_steps_by_hand():
    # W = [1, -2], beta 0.9, lr 0.1; step 1 with dW = [0.5, -1]:
    #   v = 0.9 * 0 + 0.1 * [0.5, -1] = [0.05, -0.1];  W = [1 - 0.005, -2 + 0.01] = [0.995, -1.99]
    # step 2 with dW = [0.5, 1] (the second gradient turned):
    #   v = 0.9 * [0.05, -0.1] + 0.1 * [0.5, 1] = [0.095, 0.01];  W = [0.995 - 0.0095, -1.99 - 0.001] = [0.9855, -1.991]
    params, grads = _dicts([1.0, -2.0], [0.5, -1.0])
    v = pdl.initialize_velocity(params)
    assert set(v) == {"dW1", "db1"} and not v["dW1"].any()
    params, v = pdl.update_parameters_with_momentum(params, grads, v, beta=0.9, learning_rate=0.1)
    np.testing.assert_allclose(v["dW1"], [[0.05, -0.1]], rtol=1e-15)
    np.testing.assert_allclose(params["W1"], [[0.995, -1.99]], rtol=1e-15)
    params, v = pdl.update_parameters_with_momentum(params, _dicts([0, 0], [0.5, 1.0])[1], v, 0.9, 0.1)
    np.testing.assert_allclose(v["dW1"], [[0.095, 0.01]], rtol=1e-14)
    np.testing.assert_allclose(params["W1"], [[0.9855, -1.991]], rtol=1e-15)


def test_rmsprop_two_steps_by_hand():
    # W = [1, -2], beta2 0.9, lr 0.1, epsilon 1e-8, dW = [0.5, -1] twice:
    # (epsilon moves the 8th digit: the comparisons allow 1e-7)
    # step 1: s = 0.1 dW^2 = [0.025, 0.1]; dW / sqrt(s) = sign(dW) / sqrt(0.1) = +-3.16227766
    #   W = [1 - 0.316227766, -2 + 0.316227766] = [0.683772234, -1.683772234]
    # step 2: s = 0.9 [0.025, 0.1] + 0.1 [0.25, 1] = [0.0475, 0.19]; dW / sqrt(s) = +-1 / sqrt(0.19) = +-2.294157339
    #   W = [0.683772234 - 0.2294157339, -1.683772234 + 0.2294157339] = [0.4543565001, -1.4543565001]
    params, grads = _dicts([1.0, -2.0], [0.5, -1.0])
    s = pdl.initialize_rmsprop(params)
    params, s = pdl.update_parameters_with_rmsprop(params, grads, s, learning_rate=0.1, beta2=0.9, epsilon=1e-8)
    np.testing.assert_allclose(s["dW1"], [[0.025, 0.1]], rtol=1e-15)
    np.testing.assert_allclose(params["W1"], [[0.683772234, -1.683772234]], rtol=1e-7)
    params, s = pdl.update_parameters_with_rmsprop(params, grads, s, 0.1, beta2=0.9, epsilon=1e-8)
    np.testing.assert_allclose(s["dW1"], [[0.0475, 0.19]], rtol=1e-14)
    np.testing.assert_allclose(params["W1"], [[0.4543565001, -1.4543565001]], rtol=1e-7)


def test_adam_two_steps_by_hand():
    # W = [1, -2], lr 0.1, beta1 0.9, beta2 0.999, epsilon 1e-8
    # t = 1, dW = [0.5, -1]: v = 0.1 dW = [0.05, -0.1]; s = 0.001 dW^2 = [0.00025, 0.001]
    #   v_hat = v / 0.1 = dW; s_hat = s / 0.001 = dW^2: the step is lr dW / |dW| = [0.1, -0.1]; W = [0.9, -1.9]
    # t = 2, dW = [0.5, 1]: v = 0.9 [0.05, -0.1] + 0.1 [0.5, 1] = [0.095, 0.01]
    #   s = 0.999 [0.00025, 0.001] + 0.001 [0.25, 1] = [0.00049975, 0.001999]
    #   v_hat = v / (1 - 0.81) = [0.5, 0.0526315789]; s_hat = s / (1 - 0.998001) = [0.25, 1]
    #   step = 0.1 [0.5 / 0.5, 0.0526315789 / 1] = [0.1, 0.00526315789]; W = [0.8, -1.90526315789]
    # (the second entry's gradient turned: its average nearly cancels, and so does its step)
    params, grads = _dicts([1.0, -2.0], [0.5, -1.0])
    v, s = pdl.initialize_adam(params)
    params, v, s = pdl.update_parameters_with_adam(params, grads, v, s, 1, 0.1, 0.9, 0.999, 1e-8)
    np.testing.assert_allclose(v["dW1"], [[0.05, -0.1]], rtol=1e-15)
    np.testing.assert_allclose(s["dW1"], [[0.00025, 0.001]], rtol=1e-14)
    np.testing.assert_allclose(params["W1"], [[0.9, -1.9]], rtol=1e-8)
    params, v, s = pdl.update_parameters_with_adam(params, _dicts([0, 0], [0.5, 1.0])[1], v, s, 2, 0.1, 0.9, 0.999,
                                                   1e-8)
    np.testing.assert_allclose(v["dW1"], [[0.095, 0.01]], rtol=1e-14)
    np.testing.assert_allclose(s["dW1"], [[0.00049975, 0.001999]], rtol=1e-14)
    np.testing.assert_allclose(params["W1"], [[0.8, -1.90526315789]], rtol=1e-8)


def test_adams_bias_correction_at_t_1_moves_every_entry_by_the_learning_rate():
    """At t = 1, v_hat = dW and s_hat = dW^2 exactly as the course defines them: each entry moves by
    lr |dW| / (|dW| + epsilon), about lr, however small or large its gradient. Without the
    correction the first step would be lr (1 - beta1) / sqrt(1 - beta2) = 3.2 lr."""
    rng = np.random.RandomState(0)
    params = {"W1": rng.standard_normal((4, 3)), "b1": rng.standard_normal((4, 1))}
    grads = {"dW1": rng.standard_normal((4, 3)) * np.logspace(-4, 4, 12).reshape(4, 3),
             "db1": rng.standard_normal((4, 1))}
    v, s = pdl.initialize_adam(params)
    new, v, s = pdl.update_parameters_with_adam(params, grads, v, s, t=1, learning_rate=0.01)
    for key in params:
        g = grads["d" + key]
        np.testing.assert_allclose(params[key] - new[key], 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-10)
        np.testing.assert_allclose(np.abs(params[key] - new[key]), 0.01, rtol=1e-3)  # gradients from 1e-4 to 1e4
    uncorrected = 0.01 * 0.1 / np.sqrt(0.001)
    assert uncorrected == pytest.approx(0.0316, rel=1e-3)  # what the correction saves the first steps from


def test_the_functions_leave_their_arguments_alone():
    params, grads = _dicts([1.0, -2.0], [0.5, -1.0])
    v, s = pdl.initialize_adam(params)
    copies = [{k: a.copy() for k, a in d.items()} for d in (params, grads, v, s)]
    pdl.update_parameters_with_adam(params, grads, v, s, 1)
    pdl.update_parameters_with_momentum(params, grads, v, 0.9, 0.1)
    pdl.update_parameters_with_rmsprop(params, grads, s, 0.1)
    for before, after in zip(copies, (params, grads, v, s)):
        assert all(np.array_equal(before[k], after[k]) for k in before)


# -- an independent re-implementation of the course's formulas --------------------------------------
def course_style_training(params, X, Y, rule, steps, lr, beta=0.9, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """Full-batch training written as the course's notebook writes each update, layer by layer."""
    L = len(params) // 2
    params = {k: v.copy() for k, v in params.items()}
    v = {f"d{p}{l}": np.zeros_like(params[f"{p}{l}"]) for l in range(1, L + 1) for p in "Wb"}
    s = {k: np.zeros_like(a) for k, a in v.items()}
    for t in range(1, steps + 1):
        _, grads = pdl.cost_and_gradients(params, X, Y)
        for l in range(1, L + 1):
            for p in ("W", "b"):
                key, g = f"{p}{l}", grads[f"d{p}{l}"]
                if rule == "gd":
                    params[key] = params[key] - lr * g
                elif rule == "momentum":
                    v["d" + key] = beta * v["d" + key] + (1 - beta) * g
                    params[key] = params[key] - lr * v["d" + key]
                elif rule == "rmsprop":
                    s["d" + key] = beta2 * s["d" + key] + (1 - beta2) * np.power(g, 2)
                    params[key] = params[key] - lr * g / (np.sqrt(s["d" + key]) + epsilon)
                else:
                    v["d" + key] = beta1 * v["d" + key] + (1 - beta1) * g
                    v_corrected = v["d" + key] / (1 - np.power(beta1, t))
                    s["d" + key] = beta2 * s["d" + key] + (1 - beta2) * np.power(g, 2)
                    s_corrected = s["d" + key] / (1 - np.power(beta2, t))
                    params[key] = params[key] - lr * v_corrected / (np.sqrt(s_corrected) + epsilon)
    return params


@pytest.fixture(scope="module")
def moons():
    data = pdl.load_dataset("course_moons")
    X, Y = data.X_train.T, data.y_train[None, :].astype(float)
    return pdl.initialize_parameters([2, 5, 2, 1], init="he", rng=np.random.RandomState(3)), X, Y


@pytest.mark.parametrize("rule, lr", [("gd", 0.1), ("momentum", 0.1), ("rmsprop", 0.003), ("adam", 0.003)])
def test_each_rule_against_the_course_formulas_over_300_steps(rule, lr, moons):
    """The library's functions and the training loop's flat optimizer, both against the course's code."""
    params0, X, Y = moons
    expected = course_style_training(params0, X, Y, rule, 300, lr)
    # the functional core, step by step
    params = {k: v.copy() for k, v in params0.items()}
    v, s = pdl.initialize_adam(params)
    for t in range(1, 301):
        _, grads = pdl.cost_and_gradients(params, X, Y)
        if rule == "gd":
            params = pdl.update_parameters(params, grads, lr)
        elif rule == "momentum":
            params, v = pdl.update_parameters_with_momentum(params, grads, v, 0.9, lr)
        elif rule == "rmsprop":
            params, s = pdl.update_parameters_with_rmsprop(params, grads, s, lr)
        else:
            params, v, s = pdl.update_parameters_with_adam(params, grads, v, s, t, lr)
    # the loop's optimizer over the flat vector (both steps)
    trained = {kind: pdl.train(params0, X, Y, optimizer=pdl.OPTIMIZERS[rule](lr), max_iter=300, step=kind)[0]
               for kind in ("fast", "reference")}
    moved = max(np.abs(expected[k] - params0[k]).max() for k in params0)
    assert moved > 0.1  # 300 steps went somewhere
    for got in (params, trained["fast"], trained["reference"]):
        for key in params0:
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-9, atol=1e-12, err_msg=f"{rule} {key}")
    if rule in ("gd", "momentum"):  # the same operations in the same order: the same bits
        assert all(np.array_equal(trained["fast"][k], params[k]) for k in params0)


def test_momentum_with_beta_0_is_gradient_descent(moons):
    params0, X, Y = moons
    _, grads = pdl.cost_and_gradients(params0, X, Y)
    params, v = pdl.update_parameters_with_momentum(params0, grads, pdl.initialize_velocity(params0), 0.0, 0.3)
    assert all(np.array_equal(params[k], pdl.update_parameters(params0, grads, 0.3)[k]) for k in params0)
    runs = [pdl.train(params0, X, Y, optimizer=opt, max_iter=40, batch_size=64, rng=np.random.RandomState(1))[0]
            for opt in (pdl.OPTIMIZERS["momentum"](0.3, beta=0.0), pdl.OPTIMIZERS["gd"](0.3))]
    assert all(np.array_equal(runs[0][k], runs[1][k]) for k in params0)
    other = pdl.train(params0, X, Y, optimizer=pdl.OPTIMIZERS["momentum"](0.3, beta=0.5), max_iter=40, batch_size=64,
                      rng=np.random.RandomState(1))[0]
    assert not np.array_equal(other["W1"], runs[1]["W1"])  # the comparison can fail


@pytest.mark.parametrize("scale", [1e-3, 1e3])
def test_adam_is_invariant_to_scaling_the_cost(scale, moons):
    """c J has gradients c dJ: v scales by c, sqrt(s) by |c|, and the step is the same up to epsilon
    (which matters where sqrt(s_hat) is not far above it: a cost scaled down). Gradient descent's
    steps scale by c (the contrast)."""
    params0, X, Y = moons

    def run(rule, c, epsilon=1e-8):
        params = {k: v.copy() for k, v in params0.items()}
        v, s = pdl.initialize_adam(params)
        for t in range(1, 201):
            _, grads = pdl.cost_and_gradients(params, X, Y)
            grads = {k: c * g for k, g in grads.items()}
            if rule == "adam":
                params, v, s = pdl.update_parameters_with_adam(params, grads, v, s, t, 0.01, epsilon=epsilon)
            else:
                params = pdl.update_parameters(params, grads, 0.01)
        return params

    plain, scaled = run("adam", 1.0), run("adam", scale)
    difference = max(np.abs(scaled[k] - plain[k]).max() for k in params0)
    assert difference < (1e-2 if scale < 1 else 1e-5)
    # epsilon is what breaks the invariance: with a tiny one the runs agree to rounding
    tight = [run("adam", c, epsilon=1e-16) for c in (1.0, scale)]
    assert max(np.abs(tight[0][k] - tight[1][k]).max() for k in params0) < 1e-10
    gd = [run("gd", c) for c in (1.0, scale)]
    assert max(np.abs(gd[0][k] - gd[1][k]).max() for k in params0) > 0.05


# -- learning-rate decay ------------------------------------------------------------------------------
def test_update_lr_at_its_boundaries():
    # lr0 / (1 + decay_rate epoch): epoch 0 keeps lr0 (so epochs 0 and 1 run at lr0), epoch 1 halves it (rate 1)
    assert pdl.update_lr(0.1, 0, 1.0) == 0.1
    assert pdl.update_lr(0.1, 1, 1.0) == 0.05
    assert pdl.update_lr(0.1, 2, 1.0) == pytest.approx(0.1 / 3, rel=1e-15)
    assert pdl.update_lr(0.5, 10, 0.0) == 0.5  # rate 0: no decay
    assert pdl.update_lr(0.2, 4, 0.25) == 0.1  # 0.2 / (1 + 1)


def test_schedule_lr_decay_at_its_boundaries():
    # lr0 / (1 + decay_rate floor(epoch / interval)): the rate changes after epochs 1000, 2000, ...
    assert pdl.schedule_lr_decay(0.1, 0, 1.0, 1000) == 0.1
    assert pdl.schedule_lr_decay(0.1, 999, 1.0, 1000) == 0.1
    assert pdl.schedule_lr_decay(0.1, 1000, 1.0, 1000) == 0.05
    assert pdl.schedule_lr_decay(0.1, 1999, 1.0, 1000) == 0.05
    assert pdl.schedule_lr_decay(0.1, 2000, 1.0, 1000) == pytest.approx(0.1 / 3, rel=1e-15)
    assert pdl.schedule_lr_decay(0.1, 7, 1.0) == 0.1  # the course's default interval, 1000
    assert pdl.schedule_lr_decay(0.1, 5, 1.0, 1) == pdl.update_lr(0.1, 5, 1.0)  # interval 1 is update_lr


@pytest.mark.parametrize("call, message", [
    (lambda: pdl.update_lr(0.1, -1, 1.0), r"epoch_num must be a non-negative integer, got -1"),
    (lambda: pdl.update_lr(0.1, 1.5, 1.0), r"epoch_num must be a non-negative integer, got 1.5"),
    (lambda: pdl.update_lr(0.1, 1, -0.5), r"decay_rate must be a non-negative finite number, got -0.5"),
    (lambda: pdl.update_lr(0, 1, 1.0), r"learning_rate0 must be a positive finite number, got 0"),
    (lambda: pdl.schedule_lr_decay(0.1, 1, 1.0, 0), r"time_interval must be a positive integer, got 0"),
    (lambda: pdl.update_parameters_with_momentum({}, {}, {}, 1.0, 0.1), r"beta must be a number in \[0, 1\), got 1.0"),
    (lambda: pdl.update_parameters_with_adam({}, {}, {}, {}, 0), r"t must be a positive integer, got 0"),
    (lambda: pdl.update_parameters_with_adam({}, {}, {}, {}, 1, beta2=-0.1), r"beta2 must be a number in \[0, 1\)"),
    (lambda: pdl.update_parameters_with_rmsprop({}, {}, {}, 0.1, epsilon=0), r"epsilon must be a positive finite"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- minibatches --------------------------------------------------------------------------------------
def test_random_mini_batches_has_the_course_semantics():
    """The permutation of np.random.seed(seed); np.random.permutation(m), full batches first, the
    remainder last, and the global generator left alone."""
    X = np.arange(2 * 148, dtype=float).reshape(2, 148)  # column j is (j, 148 + j): easy to follow
    Y = (np.arange(148) % 2)[None, :].astype(float)
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    batches = pdl.random_mini_batches(X, Y, mini_batch_size=64, seed=10)
    assert np.array_equal(np.random.get_state()[1], state)  # no global draw
    assert [b[0].shape for b in batches] == [(2, 64), (2, 64), (2, 20)]
    assert [b[1].shape for b in batches] == [(1, 64), (1, 64), (1, 20)]
    np.random.seed(10)
    permutation = list(np.random.permutation(148))  # the course's own lines
    shuffled_X, shuffled_Y = X[:, permutation], Y[:, permutation].reshape((1, 148))
    for k, (Xb, Yb) in enumerate(batches):
        assert np.array_equal(Xb, shuffled_X[:, 64 * k:64 * (k + 1)])
        assert np.array_equal(Yb, shuffled_Y[:, 64 * k:64 * (k + 1)])
    assert pdl.random_mini_batches(X, Y, 64, seed=11)[0][0].tolist() != batches[0][0].tolist()
    assert len(pdl.random_mini_batches(X, Y, 74, seed=0)) == 2  # 148 = 2 x 74: no empty remainder


def test_the_training_loop_cuts_its_epochs_the_same_way():
    """The loop's shuffle per epoch is minibatch_indices on its one generator: the same split."""
    indices = minibatch_indices(148, 64, np.random.RandomState(10))
    batches = pdl.random_mini_batches(np.arange(148.0)[None, :], np.zeros((1, 148)), 64, seed=10)
    assert [idx.tolist() for idx in indices] == [b[0][0].astype(int).tolist() for b in batches]


def test_random_mini_batches_refuses_bad_input():
    with pytest.raises(ValueError, match="mini_batch_size must be a positive integer, got 0"):
        pdl.random_mini_batches(np.ones((2, 5)), np.ones((1, 5)), 0)
    with pytest.raises(ValueError, match=r"X and Y must be 2-D with one column per example, got shapes \(2, 5\) and \(1, 4\)"):
        pdl.random_mini_batches(np.ones((2, 5)), np.ones((1, 4)))
