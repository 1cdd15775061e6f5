import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from practicaldl.core.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS, get_activation, relu, sigmoid, softmax

finite = st.floats(-50, 50, allow_nan=False)


def test_hand_worked_values():
    Z = np.array([[-2.0, 0.0, 3.0]])
    assert relu(Z).tolist() == [[0.0, 0.0, 3.0]]
    # sigmoid(0) = 1/2; sigmoid(3) = 1 / (1 + e^-3) = 0.9525741268...
    np.testing.assert_allclose(sigmoid(Z)[0, 1:], [0.5, 0.9525741268224334])
    # softmax of [0, ln 3] over the class axis: [1/4, 3/4]
    np.testing.assert_allclose(softmax(np.array([[0.0], [np.log(3)]]))[:, 0], [0.25, 0.75])


@pytest.mark.parametrize("name", HIDDEN_ACTIVATIONS)
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
