import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from practicaldl.core.losses import binary_cross_entropy, categorical_cross_entropy


def course_cost(A, Y):
    """The course's formula: -(1/m) sum [y log a + (1 - y) log(1 - a)]."""
    m = Y.shape[1]
    return float(-np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / m)


def test_hand_worked_binary():
    # z = 0 gives a = 1/2: each example costs ln 2 whatever its label.
    assert binary_cross_entropy(np.zeros((1, 4)), np.array([[0, 1, 1, 0]])) == pytest.approx(np.log(2), abs=0)
    # z = ln 3 gives a = 3/4: label 1 costs -ln(3/4), label 0 costs -ln(1/4); mean of the two:
    z = np.array([[np.log(3), np.log(3)]])
    assert binary_cross_entropy(z, np.array([[1, 0]])) == pytest.approx((-np.log(0.75) - np.log(0.25)) / 2)


# Beyond |z| ~ 15 the course's log(1 - a) itself loses digits (1 - a rounds), so compare there.
@given(z=arrays(np.float64, (1, 6), elements=st.floats(-15, 15)),
       y=arrays(np.int64, (1, 6), elements=st.integers(0, 1)))
@settings(max_examples=60, deadline=None)
def test_binary_equals_course_formula_where_finite(z, y):
    A = 1 / (1 + np.exp(-z))
    assert binary_cross_entropy(z, y) == pytest.approx(course_cost(A, y), rel=1e-8, abs=1e-12)


def test_finite_for_huge_logits():
    # The course's formula gives log(0) = -inf here; the stable one gives the exact loss 1e4 / 2.
    z = np.array([[1e4, -1e4]])
    assert binary_cross_entropy(z, np.array([[0, 1]])) == pytest.approx(1e4)
    assert binary_cross_entropy(z, np.array([[1, 0]])) == pytest.approx(0.0, abs=1e-300)
    Zk = np.array([[1e4, -1e4], [-1e4, 1e4], [0.0, 0.0]])
    Y = np.array([[0, 1], [1, 0], [0, 0]])
    assert categorical_cross_entropy(Zk, Y) == pytest.approx(2e4)


@given(Z=arrays(np.float64, (3, 5), elements=st.floats(-20, 20)), labels=arrays(np.int64, 5, elements=st.integers(0, 2)))
@settings(max_examples=60, deadline=None)
def test_categorical_equals_naive_formula(Z, labels):
    Y = np.eye(3)[:, labels]
    A = np.exp(Z) / np.exp(Z).sum(axis=0)
    naive = float(-np.sum(Y * np.log(A)) / 5)
    assert categorical_cross_entropy(Z, Y) == pytest.approx(naive, rel=1e-9, abs=1e-12)


def test_two_class_softmax_equals_sigmoid_cost():
    # softmax over [0, z] is sigmoid(z): the two costs must agree.
    z = np.array([[-2.0, 0.5, 3.0]])
    y = np.array([[0, 1, 1]])
    Z2 = np.vstack([np.zeros_like(z), z])
    Y2 = np.vstack([1 - y, y])
    assert categorical_cross_entropy(Z2, Y2) == pytest.approx(binary_cross_entropy(z, y))
