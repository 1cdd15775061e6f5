"""Shared fixtures: the course's data files (skipped when ``../shared`` is absent), real tables
that nobody here wrote (palmerpenguins' penguins, scikit-learn's bundled CSVs), the command line,
a seeded generator, and the engine's helpers (a reference training loop written with the public
core functions, a bit-for-bit comparison, data in each layout, activations registered for a test).

Helpers are fixtures that return functions, so that test modules never import each other or
this file (collection works with ``--import-mode=importlib``)."""

from pathlib import Path

import numpy as np
import pytest

from practicaldl.core.activations import ACTIVATIONS, register_activation
from practicaldl.core.network import backward_propagation, compute_cost, forward_propagation
from practicaldl.core.regularization import l2_penalty
from practicaldl.engine.optimizers import gradient_descent_step

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FOOTBALL = SHARED / "datasets" / "football.mat"


@pytest.fixture
def football_path():
    if not FOOTBALL.is_file():
        pytest.skip(f"{FOOTBALL} is absent (a user's clone has no ../shared)")
    return FOOTBALL


@pytest.fixture(scope="session")
def penguins_csv() -> Path:
    """The Palmer penguins table as its package ships it: 344 rows, species first, NA for missing."""
    palmerpenguins = pytest.importorskip("palmerpenguins", reason="palmerpenguins (the test extra) is not installed")
    path = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent from the palmerpenguins package")
    return path


@pytest.fixture(scope="session")
def sklearn_csv():
    """``sklearn_csv(name)``: a CSV that scikit-learn ships (iris.csv, wine_data.csv,
    breast_cancer.csv): a first line of counts and class names, then rows of numbers, the integer
    label last."""
    import sklearn

    def path(name: str) -> Path:
        found = Path(sklearn.__file__).parent / "datasets" / "data" / name
        if not found.is_file():
            pytest.skip(f"scikit-learn no longer ships {name}")
        return found

    return path


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """``cli(*args)``: the command line through typer's runner, in ``tmp_path`` as the working folder."""
    from typer.testing import CliRunner

    from practicaldl.cli import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture
def rng():
    return np.random.RandomState(0)


# -- the engine's helpers -----------------------------------------------------------------------
def _reference_train(params, X, Y, *, learning_rate, max_iter, rng, batch_size=None, l2=0.0, keep_prob=1.0,
                     activation="relu", output="sigmoid"):
    """The course's loop with the public core functions: per epoch one permutation, then per batch
    forward, cost, backward, ``gradient_descent_step``; returns ``(params, costs)``."""
    params = {k: v.copy() for k, v in params.items()}
    m = X.shape[1]
    costs = []
    for _ in range(max_iter):
        if batch_size is None or batch_size >= m:
            batches = [(X, Y)]
        else:
            order = rng.permutation(m)
            batches = [(X[:, i], Y[:, i]) for i in np.array_split(order, np.arange(batch_size, m, batch_size))]
        total = 0.0
        for Xb, Yb in batches:
            _, cache = forward_propagation(params, Xb, keep_prob, rng, activation=activation, output=output)
            ce = compute_cost(cache, Yb)
            grads = backward_propagation(params, Yb, cache, l2)
            total += Yb.shape[1] / m * (ce + l2_penalty(params, l2, Yb.shape[1]))
            gradient_descent_step(params, grads, learning_rate, inplace=True)
        costs.append(total)
    return params, costs


def _assert_same_bits(a: dict, b: dict):
    """Same keys, same dtypes, ``np.array_equal`` values (no tolerance)."""
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, f"{k}: dtype {a[k].dtype} != {b[k].dtype}"
        assert np.array_equal(a[k], b[k]), f"{k} differs (max |diff| {np.max(np.abs(a[k] - b[k]))})"


def _make_data(n_x, m, n_out, dtype=np.float64, seed=0, layout="T"):
    """X (n_x, m) and Y (n_out, m). X in C order ("C"), as the transpose of a C-ordered (m, n_x)
    array ("T", the estimator's), or every other column of a wider array ("S", neither C- nor
    F-contiguous); Y is 0/1 (n_out = 1) or one-hot."""
    rng = np.random.RandomState(seed)
    rows = rng.standard_normal((m, n_x))
    if layout == "S":
        X = np.zeros((n_x, 2 * m))[:, ::2]
        X[...] = rows.T
    else:
        X = np.ascontiguousarray(rows.T) if layout == "C" else rows.T
    if n_out == 1:
        Y = (rows[:, :1].T + 0.5 * rng.standard_normal((1, m)) > 0).astype(np.float64)
    else:
        Y = np.eye(n_out)[rng.randint(0, n_out, m)].T
    return X.astype(dtype, copy=False), Y.astype(dtype)


@pytest.fixture
def reference_train():
    return _reference_train


@pytest.fixture
def assert_same_bits():
    return _assert_same_bits


@pytest.fixture
def make_data():
    return _make_data


# -- activations registered for a test (removed afterwards) ------------------------------------
def _leaky_relu(Z):
    return np.where(Z > 0, Z, Z.dtype.type(0.01) * Z)


def _leaky_relu_derivative(Z, A):
    return np.where(Z > 0, Z.dtype.type(1), Z.dtype.type(0.01))


def _leaky_relu_into(Z, out):  # the same operations as _leaky_relu, into out
    np.multiply(Z.dtype.type(0.01), Z, out=out)
    np.copyto(out, Z, where=Z > 0)
    return out


def _leaky_relu_derivative_into(Z, A, out):
    out.fill(0.01)
    np.copyto(out, 1, where=Z > 0)
    return out


def _swish(Z):
    return Z / (1 + np.exp(-Z))


def _swish_derivative(Z, A):
    s = 1 / (1 + np.exp(-Z))
    return s + Z * s * (1 - s)


#: name -> (forward, derivative, in-place forms): one activation with in-place forms, one without
TEST_ACTIVATIONS = {
    "leaky_relu": (_leaky_relu, _leaky_relu_derivative,
                   dict(forward_into=_leaky_relu_into, derivative_into=_leaky_relu_derivative_into)),
    "swish": (_swish, _swish_derivative, {}),
}


@pytest.fixture
def registered_activations():
    """Register ``TEST_ACTIVATIONS`` for one test; yield their names; remove them afterwards."""
    for name, (forward, derivative, forms) in TEST_ACTIVATIONS.items():
        register_activation(name, forward, derivative, **forms)
    yield list(TEST_ACTIVATIONS)
    for name in TEST_ACTIVATIONS:
        ACTIVATIONS.pop(name, None)
