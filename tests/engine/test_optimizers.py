"""The optimizer protocol over flat vectors, gradient descent, and the course's update functions."""

import numpy as np
import pytest

import practicaldl as pdl
from practicaldl.engine.optimizers import (OPTIMIZERS, Adam, GradientDescent, Momentum, Optimizer, RMSprop,
                                           get_optimizer, make_optimizer)
from practicaldl.engine.schedules import InverseTimeDecay


def test_gradient_descent_by_hand():
    # theta = [1, -2, 0.5], dtheta = [0.5, -1, 4], lr = 0.1: theta - 0.1 dtheta = [0.95, -1.9, 0.1]
    theta, dtheta = np.array([1.0, -2.0, 0.5]), np.array([0.5, -1.0, 4.0])
    opt = GradientDescent(0.1)
    opt.bind(theta, dtheta)
    opt.step(theta, dtheta)
    np.testing.assert_allclose(theta, [0.95, -1.9, 0.1], rtol=0, atol=1e-15)
    opt.step(theta, dtheta)  # again: [0.9, -1.8, -0.3]
    np.testing.assert_allclose(theta, [0.9, -1.8, -0.3], rtol=0, atol=1e-15)
    assert opt.t == 2 and np.array_equal(dtheta, [0.5, -1.0, 4.0])  # the gradient is only read


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_flat_update_is_gradient_descent_step_array_by_array(dtype):
    """The same numbers as the course's per-array update, in theta's dtype (float32 stays float32)."""
    rng = np.random.RandomState(0)
    params = pdl.initialize_parameters([3, 4, 2], rng=rng, dtype=dtype)
    grads = {"d" + k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()}
    keys = ["W1", "b1", "W2", "b2"]
    theta = np.concatenate([params[k].ravel() for k in keys])
    dtheta = np.concatenate([grads["d" + k].ravel() for k in keys])
    opt = GradientDescent(0.07)
    opt.bind(theta, dtheta)
    opt.step(theta, dtheta)
    expected = pdl.update_parameters({k: v.copy() for k, v in params.items()}, grads, 0.07)
    assert theta.dtype == dtype
    assert np.array_equal(theta, np.concatenate([expected[k].ravel().astype(dtype) for k in keys]))
    inplace = {k: v.copy() for k, v in params.items()}
    assert pdl.gradient_descent_step(inplace, grads, 0.07, inplace=True) is inplace
    assert np.array_equal(theta, np.concatenate([inplace[k].ravel() for k in keys]))


def test_bind_starts_a_fresh_run():
    class Counting(Optimizer):
        name, state = "counting", ("n",)

        def update(self, theta, dtheta):
            self.n += 1

    opt = Counting(0.5, schedule=lambda lr0, epoch: lr0 / 10)
    theta = np.zeros(4)
    opt.bind(theta, theta)
    opt.step(theta, theta)
    opt.end_epoch(0)
    assert (opt.t, opt.learning_rate, opt.n.tolist()) == (1, 0.05, [1, 1, 1, 1])
    opt.bind(theta, theta)
    assert (opt.t, opt.learning_rate, opt.n.tolist(), opt.scratch.shape) == (0, 0.5, [0, 0, 0, 0], (4,))
    assert opt.n.dtype == theta.dtype


def test_registry_config_and_messages():
    assert OPTIMIZERS == {"gd": GradientDescent, "momentum": Momentum, "rmsprop": RMSprop, "adam": Adam}
    assert all(OPTIMIZERS[name].name == name for name in OPTIMIZERS)
    with pytest.raises(ValueError, match=r"optimizer must be one of \['adam', 'gd', 'momentum', 'rmsprop'\] or an "
                                         r"Optimizer, got 'sgd'"):
        get_optimizer("sgd")
    opt = GradientDescent(0.3)
    copy = type(opt)(**opt.config())
    assert copy.config() == opt.config() and copy is not opt
    assert repr(opt) == "GradientDescent(learning_rate=0.3)"
    with pytest.raises(ValueError, match="learning_rate must be a positive finite number, got 0"):
        GradientDescent(0)
    with pytest.raises(ValueError, match="schedule must be None or a callable"):
        GradientDescent(0.1, schedule=0.5)


# -- momentum, RMSprop, Adam over the flat vector ------------------------------------------------------
def _two_steps(opt, theta, grads):
    theta = np.array(theta)
    opt.bind(theta, theta)
    seen = []
    for g in grads:
        dtheta = np.array(g)
        opt.step(theta, dtheta)
        assert np.array_equal(dtheta, g)  # the gradient is only read
        seen.append(theta.copy())
    return seen


def test_momentum_by_hand():
    # theta = [1, -2], beta 0.9, lr 0.1; dtheta = [0.5, -1], then [0.5, 1]:
    # v = [0.05, -0.1], theta = [0.995, -1.99]; v = 0.9 v + 0.1 [0.5, 1] = [0.095, 0.01], theta = [0.9855, -1.991]
    opt = Momentum(0.1, beta=0.9)
    first, second = _two_steps(opt, [1.0, -2.0], [[0.5, -1.0], [0.5, 1.0]])
    np.testing.assert_allclose(first, [0.995, -1.99], rtol=1e-15)
    np.testing.assert_allclose(second, [0.9855, -1.991], rtol=1e-15)
    np.testing.assert_allclose(opt.v, [0.095, 0.01], rtol=1e-14)  # the course's v, readable
    assert opt.t == 2


def test_rmsprop_by_hand():
    # theta = [1, -2], beta2 0.9, lr 0.1, dtheta = [0.5, -1] twice: s = [0.025, 0.1], each entry moves by
    # 0.1 / sqrt(0.1) = 0.316227766; then s = [0.0475, 0.19], each moves by 0.1 / sqrt(0.19) = 0.2294157339
    opt = RMSprop(0.1, beta2=0.9)
    first, second = _two_steps(opt, [1.0, -2.0], [[0.5, -1.0], [0.5, -1.0]])
    np.testing.assert_allclose(first, [0.683772234, -1.683772234], rtol=1e-7)
    np.testing.assert_allclose(second, [0.4543565001, -1.4543565001], rtol=1e-7)
    np.testing.assert_allclose(opt.s, [0.0475, 0.19], rtol=1e-14)


def test_adam_by_hand():
    # theta = [1, -2], lr 0.1, beta1 0.9, beta2 0.999; t = 1, dtheta = [0.5, -1]: v_hat = dtheta, s_hat = dtheta^2,
    # each entry moves by lr: [0.9, -1.9]. t = 2, dtheta = [0.5, 1]: v = [0.095, 0.01], s = [0.00049975, 0.001999],
    # v_hat = v / 0.19 = [0.5, 0.0526315789], s_hat = s / 0.001999 = [0.25, 1]: steps [0.1, 0.00526315789]
    opt = Adam(0.1)
    first, second = _two_steps(opt, [1.0, -2.0], [[0.5, -1.0], [0.5, 1.0]])
    np.testing.assert_allclose(first, [0.9, -1.9], rtol=1e-8)
    np.testing.assert_allclose(second, [0.8, -1.90526315789], rtol=1e-8)
    np.testing.assert_allclose(opt.v, [0.095, 0.01], rtol=1e-14)
    np.testing.assert_allclose(opt.s, [0.00049975, 0.001999], rtol=1e-14)


def _network(dtype, seed=0):
    rng = np.random.RandomState(seed)
    params = pdl.initialize_parameters([3, 4, 2], rng=rng, dtype=dtype)
    keys = ["W1", "b1", "W2", "b2"]
    grads = [{"d" + k: rng.standard_normal(params[k].shape).astype(dtype) for k in keys} for _ in range(5)]
    return params, grads, keys


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["momentum", "rmsprop", "adam"])
def test_the_flat_rules_are_the_course_functions_array_by_array(name, dtype):
    """Five steps over theta against the ``core.optimization`` function on the dicts, in theta's
    dtype: momentum and RMSprop bit for bit (the same operations), Adam to rounding (its
    corrections folded into scalars)."""
    params, grads, keys = _network(dtype)
    theta = np.concatenate([params[k].ravel() for k in keys])
    opt = OPTIMIZERS[name](0.05)
    opt.bind(theta, theta)
    v, s = pdl.initialize_adam(params)
    for t, g in enumerate(grads, start=1):
        opt.step(theta, np.concatenate([g["d" + k].ravel() for k in keys]))
        if name == "momentum":
            params, v = pdl.update_parameters_with_momentum(params, g, v, 0.9, 0.05)
        elif name == "rmsprop":
            params, s = pdl.update_parameters_with_rmsprop(params, g, s, 0.05)
        else:
            params, v, s = pdl.update_parameters_with_adam(params, g, v, s, t, 0.05)
    assert theta.dtype == dtype and all(p.dtype == dtype for p in params.values())
    expected = np.concatenate([params[k].ravel() for k in keys])
    if name == "adam":
        np.testing.assert_allclose(theta, expected, rtol=1e-5 if dtype == np.float32 else 1e-13)
    else:
        assert np.array_equal(theta, expected)


def test_settings_are_checked_by_name():
    for make, message in [
        (lambda: Momentum(0.1, beta=1.0), r"beta must be a number in \[0, 1\), got 1.0"),
        (lambda: Momentum(0.1, beta=-0.1), r"beta must be a number in \[0, 1\), got -0.1"),
        (lambda: Adam(0.1, beta1=True), r"beta1 must be a number in \[0, 1\), got True"),
        (lambda: Adam(0.1, beta2=1), r"beta2 must be a number in \[0, 1\), got 1"),
        (lambda: Adam(0.1, epsilon=0.0), r"epsilon must be a positive finite number, got 0.0"),
        (lambda: RMSprop(0.1, epsilon=float("nan")), r"epsilon must be a positive finite number, got nan"),
        (lambda: make_optimizer("adam", 0.1, decay_interval=10), r"decay_interval needs a decay_rate"),
        (lambda: make_optimizer("gd", 0.1, decay_rate=-1.0), r"decay_rate must be a non-negative finite number"),
        (lambda: make_optimizer("gd", 0.1, decay_rate=1.0, decay_interval=2.5),
         r"decay_interval must be a positive integer, got 2.5"),
        (lambda: make_optimizer("gd", 0.1, beta=2.0), r"beta must be a number in \[0, 1\), got 2.0"),  # checked for gd too
    ]:
        with pytest.raises(ValueError, match=message):
            make()
    with pytest.raises(TypeError, match=r"unknown settings \['rho'\]"):
        make_optimizer("gd", 0.1, rho=0.9)


def test_make_optimizer_takes_what_each_optimizer_uses():
    settings = dict(beta=0.8, beta1=0.7, beta2=0.95, epsilon=1e-6, decay_rate=0.5, decay_interval=10)
    made = {name: make_optimizer(name, 0.2, **settings) for name in OPTIMIZERS}
    assert made["gd"].config() == {"learning_rate": 0.2, "schedule": InverseTimeDecay(0.5, 10)}
    assert made["momentum"].config()["beta"] == 0.8
    assert {k: made["rmsprop"].config()[k] for k in ("beta2", "epsilon")} == {"beta2": 0.95, "epsilon": 1e-6}
    assert {k: made["adam"].config()[k] for k in ("beta1", "beta2", "epsilon")} == {"beta1": 0.7, "beta2": 0.95,
                                                                                    "epsilon": 1e-6}
    assert make_optimizer("adam", 0.01).describe() == {"name": "adam", "learning_rate": 0.01, "beta1": 0.9,
                                                       "beta2": 0.999, "epsilon": 1e-8, "schedule": None}
    assert made["adam"].describe()["schedule"] == {"name": "InverseTimeDecay", "decay_rate": 0.5, "decay_interval": 10}
    assert repr(made["momentum"]) == ("Momentum(learning_rate=0.2, beta=0.8, "
                                      "schedule=InverseTimeDecay(decay_rate=0.5, decay_interval=10))")
    custom = GradientDescent(0.1, schedule=lambda lr0, epoch: lr0)
    assert custom.describe()["schedule"].startswith("<function")
    fresh = made["adam"].copy()
    assert fresh.config() == made["adam"].config() and fresh is not made["adam"] and fresh.t == 0


def test_bind_resets_the_moments():
    theta = np.ones(3)
    opt = Adam(0.1)
    opt.bind(theta, theta)
    opt.step(theta, np.array([1.0, -1.0, 0.5]))
    assert opt.v.any() and opt.s.any() and opt.t == 1
    opt.bind(theta, theta)
    assert opt.t == 0 and not opt.v.any() and not opt.s.any()


# -- the course's decay through the loop -----------------------------------------------------------------
@pytest.mark.parametrize("interval, expected", [
    # rate 1, no interval: after epoch i the rate is lr0 / (1 + i); epochs 0 and 1 both run at lr0
    (None, [0.6, 0.6, 0.3, 0.2, 0.15, 0.12]),
    # interval 2: lr0 / (1 + floor(i / 2)), set after epoch i: epochs 0-2 at lr0, 3-4 at lr0 / 2, 5 at lr0 / 3
    (2, [0.6, 0.6, 0.6, 0.3, 0.3, 0.2]),
])
def test_the_decay_applies_at_the_end_of_each_epoch(interval, expected, make_data):
    X, Y = make_data(3, 40, 1, np.float64)
    params = pdl.initialize_parameters([3, 4, 1], rng=np.random.RandomState(0))
    opt = GradientDescent(0.6, schedule=InverseTimeDecay(1.0, interval))
    _, history = pdl.train(params, X, Y, optimizer=opt, max_iter=6, batch_size=16, rng=np.random.RandomState(1))
    np.testing.assert_allclose(history.learning_rate, expected, rtol=1e-15)
    assert opt.t == 6 * 3  # 40 examples in batches of 16: three updates an epoch


def test_inverse_time_decay_is_the_course_functions():
    assert InverseTimeDecay(1.0)(0.1, 7) == pdl.update_lr(0.1, 7, 1.0)
    assert InverseTimeDecay(1.0, 1000)(0.1, 2500) == pdl.schedule_lr_decay(0.1, 2500, 1.0, 1000)
    assert InverseTimeDecay(0.5, 3) == InverseTimeDecay(0.5, 3) != InverseTimeDecay(0.5)
    assert InverseTimeDecay(1.0, 1000).describe() == "lr0 / (1 + 1 floor(epoch / 1000))"
    with pytest.raises(ValueError, match="decay_interval must be a positive integer, got 0"):
        InverseTimeDecay(1.0, 0)
