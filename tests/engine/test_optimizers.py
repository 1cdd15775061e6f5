"""The optimizer protocol over flat vectors, gradient descent, and the course's update functions."""

import numpy as np
import pytest

import practicaldl as pdl
from practicaldl.engine.optimizers import OPTIMIZERS, GradientDescent, Optimizer, get_optimizer


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
    assert get_optimizer("gd") is GradientDescent and OPTIMIZERS["gd"].name == "gd"
    with pytest.raises(ValueError, match=r"optimizer must be one of \['gd'\] or an Optimizer, got 'sgd'"):
        get_optimizer("sgd")
    opt = GradientDescent(0.3)
    copy = type(opt)(**opt.config())
    assert copy.config() == opt.config() and copy is not opt
    assert repr(opt) == "GradientDescent(learning_rate=0.3)"
    with pytest.raises(ValueError, match="learning_rate must be a positive finite number, got 0"):
        GradientDescent(0)
    with pytest.raises(ValueError, match="schedule must be None or a callable"):
        GradientDescent(0.1, schedule=0.5)
