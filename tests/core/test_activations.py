import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from practicaldl.core.activations import (ACTIVATIONS, get_activation, hidden_activations, register_activation, relu,
                                         sigmoid, softmax)

finite = st.floats(-50, 50, allow_nan=False)


def test_hand_worked_values():
    Z = np.array([[-2.0, 0.0, 3.0]])
    assert relu(Z).tolist() == [[0.0, 0.0, 3.0]]
    # sigmoid(0) = 1/2; sigmoid(3) = 1 / (1 + e^-3) = 0.9525741268...
    np.testing.assert_allclose(sigmoid(Z)[0, 1:], [0.5, 0.9525741268224334])
    # softmax of [0, ln 3] over the class axis: [1/4, 3/4]
    np.testing.assert_allclose(softmax(np.array([[0.0], [np.log(3)]]))[:, 0], [0.25, 0.75])


@pytest.mark.parametrize("name", hidden_activations())
@given(z=arrays(np.float64, (3, 4), elements=finite))
@settings(max_examples=30, deadline=None)
def test_derivative_matches_centred_difference(name, z):
    act = ACTIVATIONS[name]
    h = 1e-6
    z = z + 1e-3 * (np.abs(z) < 1e-3)  # keep ReLU away from its kink
    numerical = (act.forward(z + h) - act.forward(z - h)) / (2 * h)
    np.testing.assert_allclose(act.derivative(z, act.forward(z)), numerical, atol=1e-6)


def test_extreme_inputs_stay_finite_and_in_range():
    Z = np.array([[-1e4, 1e4]])
    assert np.all(np.isfinite(sigmoid(Z))) and sigmoid(Z).tolist() == [[0.0, 1.0]]
    S = softmax(np.array([[1e4, -1e4], [0.0, 0.0]]))
    assert np.all(np.isfinite(S)) and np.allclose(S.sum(axis=0), 1)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_float32_stays_float32(name):
    Z = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    A = ACTIVATIONS[name].forward(Z)
    assert A.dtype == np.float32
    if name != "softmax":
        assert (np.ones_like(A) * ACTIVATIONS[name].derivative(Z, A)).dtype == np.float32


def test_unknown_activation_lists_choices():
    with pytest.raises(ValueError, match=r"activation must be one of \['relu', 'sigmoid', 'tanh'\], got 'softmax'"):
        get_activation("softmax")


def test_registered_names_join_the_choices(registered_activations):
    assert hidden_activations() == ["leaky_relu", "relu", "sigmoid", "swish", "tanh"]
    assert get_activation("swish") is ACTIVATIONS["swish"]
    with pytest.raises(ValueError, match=r"activation must be one of \['leaky_relu', 'relu', 'sigmoid', 'swish', "
                                         r"'tanh'\], got 'elu'"):
        get_activation("elu")


def _identity(Z):
    return Z


def _one(Z, A):
    return np.ones_like(Z)


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="relu"), "name 'relu' is a built-in activation and cannot be replaced"),
    (dict(name="softmax"), "name 'softmax' is a built-in activation"),
    (dict(name="my act"), "name must be an identifier such as 'swish', got 'my act'"),
    (dict(name=3), "name must be an identifier such as 'swish', got 3"),
    (dict(name="lin", forward=None), "forward must be callable, got None"),
    (dict(name="lin", derivative="1"), "derivative must be callable, got '1'"),
    (dict(name="lin", forward_into=1), "forward_into must be callable, got 1"),
    (dict(name="lin", bounds=(1, 0)), r"bounds must be None or two finite numbers lo < hi, got \(1, 0\)"),
    (dict(name="lin", forward=lambda Z: Z.sum(axis=0)), r"forward of activation 'lin' must return an array of Z's "
                                                        r"shape \(2, 3\), got \(3,\)"),
    (dict(name="lin", derivative=lambda Z, A: 1.0), r"derivative of activation 'lin' must return an array of Z's "
                                                    r"shape \(2, 3\), got \(\)"),
])
def test_bad_registrations_are_refused_and_leave_the_registry_as_it_was(kwargs, message):
    before = dict(ACTIVATIONS)
    args = {"forward": _identity, "derivative": _one, **kwargs}
    with pytest.raises(ValueError, match=message):
        register_activation(args.pop("name"), args.pop("forward"), args.pop("derivative"), **args)
    assert ACTIVATIONS == before


def test_a_name_is_registered_once_unless_replaced():
    try:
        first = register_activation("linear_test", _identity, _one)
        with pytest.raises(ValueError, match="name 'linear_test' is already registered; pass replace=True"):
            register_activation("linear_test", _identity, _one)
        second = register_activation("linear_test", _identity, _one, bounds=(-1, 1), replace=True)
        assert ACTIVATIONS["linear_test"] is second and second.bounds == (-1.0, 1.0) and first.bounds is None
    finally:
        ACTIVATIONS.pop("linear_test", None)
