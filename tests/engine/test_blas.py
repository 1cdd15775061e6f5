"""``_blas``: the elementwise steps of training that NumPy's BLAS computes, with NumPy's bits.

The routines are used only where they round as NumPy does; these tests check that claim on
arrays large enough for OpenBLAS to split them among its threads, check that the binding's own
guard rejects a routine one ulp off, and that training through them equals the public functions.
"""

from __future__ import annotations

import numpy as np
import pytest

from practicaldl import _blas, _native
from practicaldl.engine import loop as training

from practicaldl.core.network import initialize_parameters
from test_steps import CONFIGS, _run_both, assert_bit_identical, make_data


def _with_specials(values, dtype, rng):
    """``values`` with NaN, infinities, signed zeros, subnormals and huge entries at random places."""
    info = np.finfo(dtype)
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, info.tiny / 8, -info.tiny, info.max, -info.max], dtype)
    out = values.astype(dtype)
    at = rng.choice(out.size, size=out.size // 50, replace=False)
    out.reshape(-1)[at] = rng.choice(specials, size=at.size)
    return out


def test_numpy_wheels_openblas_is_bound():
    """NumPy built with its own OpenBLAS (the pip wheels): the routines are found and pass their check."""
    if not np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"].startswith("scipy-openblas"):
        pytest.skip("this NumPy uses another BLAS: training uses NumPy for these steps (tested below)")
    for dtype in (np.float32, np.float64):
        assert _blas.routines(dtype) is not None, dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_routines_round_as_numpy_on_threaded_sizes(dtype):
    blas = _blas.routines(dtype)
    if blas is None:
        pytest.skip("no NumPy OpenBLAS to bind here")
    rng = np.random.default_rng(7)
    n = 4 * _blas.MIN_SIZE + 13  # large enough for OpenBLAS to use its threads
    x = _with_specials(rng.standard_normal(n) * 1e-3, dtype, rng)
    y = _with_specials(rng.standard_normal(n), dtype, rng)
    lr = np.dtype(dtype).type(0.037)
    with np.errstate(all="ignore"):
        expected_x, expected_y = lr * x, y - lr * x
        blas.scal(lr, x)
        assert _blas.same_bits(x, expected_x)
        blas.subtract(y, x)
        assert _blas.same_bits(y, expected_y)
        Z = _with_specials(rng.standard_normal((700, 301)), dtype, rng)
        b = _with_specials(rng.standard_normal((700, 1)), dtype, rng)
        expected = Z + b
        blas.add_columns(Z, b)
    assert _blas.same_bits(Z, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layouts", ["CC", "CF", "FC", "FF"])
def test_a_scaled_product_found_exact_keeps_numpys_bits_on_other_values(dtype, layouts):
    """Where the trial on a shape finds ``alpha (A B)`` exact, other values of that shape (zeros,
    huge and tiny entries included) give ``np.multiply(alpha, A @ B)``'s bits too, for every layout."""
    blas = _blas.routines(dtype)
    if blas is None:
        pytest.skip("no NumPy OpenBLAS to bind here")
    rng = np.random.default_rng(11)
    lr = np.dtype(dtype).type(0.0123)
    exact = {}
    for (M, K, N) in [(300, 64, 260), (1024, 256, 784), (257, 33, 1)]:
        A = np.asarray(rng.standard_normal((M, K)) * 1e-3, dtype, order=layouts[0])
        B = np.asarray(rng.standard_normal((K, N)), dtype, order=layouts[1])
        A.reshape(-1, order="A")[::7] = 0.0
        B.reshape(-1, order="A")[::5] *= 1e20
        exact[M, K, N] = blas.scaled_product_is_exact(lr, A, B)
        if exact[M, K, N]:
            got = np.empty((M, N), dtype)
            blas.scaled_product(lr, A, B, got)
            assert _blas.same_bits(got, np.multiply(lr, A @ B)), (M, K, N)
    assert exact[300, 64, 260]  # a short inner size fits any kernel's block


def test_the_scaled_product_trial_rejects_a_sum_in_slices():
    """The trial is sharp: a gemm that scales two halves of the inner sum separately is refused."""
    blas = _blas.routines(np.float32)
    if blas is None:
        pytest.skip("no NumPy OpenBLAS to bind here")

    class Sliced(_blas.Routines):
        def __init__(self):  # the bound functions of the real routines, a fresh trial cache
            self.__dict__.update(blas.__dict__, _exact={})

        def scaled_product(self, alpha, A, B, C):
            h = A.shape[1] // 2
            C[...] = np.multiply(alpha, A[:, :h] @ B[:h]) + np.multiply(alpha, A[:, h:] @ B[h:])

    A, B = np.empty((200, 64), np.float32), np.empty((64, 150), np.float32, order="F")
    lr = np.float32(0.01)
    assert blas.scaled_product_is_exact(lr, A, B)
    assert not Sliced().scaled_product_is_exact(lr, A, B)


class _NumpyRoutines:
    """The three routines written with NumPy; ``planted`` nudges one result by an ulp."""

    def __init__(self, dtype, planted=None):
        self.dtype, self.planted = np.dtype(dtype), planted

    def _nudge(self, name, a):
        if self.planted == name:
            a.reshape(-1)[-3] = np.nextafter(a.reshape(-1)[-3], self.dtype.type(np.inf))

    def scal(self, alpha, x):
        np.multiply(alpha, x, out=x)
        self._nudge("scal", x)

    def subtract(self, y, x):
        np.subtract(y, x, out=y)
        self._nudge("subtract", y)

    def add_columns(self, Z, b):
        np.add(Z, b, out=Z)
        self._nudge("add_columns", Z)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("planted", ["scal", "subtract", "add_columns"])
def test_the_binding_check_rejects_a_routine_one_ulp_off(dtype, planted):
    with np.errstate(all="ignore"):
        assert _blas._agrees_with_numpy(_NumpyRoutines(dtype))
        assert not _blas._agrees_with_numpy(_NumpyRoutines(dtype, planted))


def test_only_float_dtypes_get_routines():
    assert _blas.routines(np.int64) is None
    assert _blas.routines(np.float16) is None


@pytest.fixture
def blas_everywhere(monkeypatch):
    """Every array of the fused step through ``_blas`` (``MIN_SIZE`` 1), counting the calls; the
    C kernels off, since ReLU layers' bias additions would go through theirs."""
    calls = []
    monkeypatch.setattr(_native, "KERNELS", None)
    for dtype in (np.float32, np.float64):
        if _blas.routines(dtype) is None:
            pytest.skip("no NumPy OpenBLAS to bind here")
    monkeypatch.setattr(_blas, "MIN_SIZE", 1)
    for dtype in (np.float32, np.float64):  # fresh trials of scaled_product, so their calls can be told apart
        monkeypatch.setattr(_blas.routines(dtype), "_exact", {})
    for name in ("scal", "subtract", "add_columns", "scaled_product"):
        original = getattr(_blas.Routines, name)

        def counted(self, *args, _original=original, _name=name):
            calls.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(_blas.Routines, name, counted)
    return calls


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_training_through_the_blas_routines_equals_the_public_functions(name, blas_everywhere):
    (params, history), (ref_params, ref_costs) = _run_both(CONFIGS[name])
    assert_bit_identical(params, ref_params)
    assert history.cost == ref_costs
    assert "subtract" in blas_everywhere  # the update went through BLAS
    if len(CONFIGS[name]["dims"]) > 2:
        assert "add_columns" in blas_everywhere  # and the hidden layers' biases
    # lr dW straight out of the gradient's gemm (calls beyond the trials' own) wherever a trial
    # found that exact: gemm hands a single row or column to gemv, which sums in another order
    used = blas_everywhere.count("scaled_product") > _trials()
    assert used == (_trials(exact=True) > 0)
    cfg = CONFIGS[name]
    if not cfg.get("l2") and cfg["layout"] == "T" and min(cfg["dims"][:2]) > 1:
        assert used, "dW_1 = dZ_1 X^T, (n_1, b) x (b, n_x) with X^T's rows gathered: a gemm, exact here"


def test_training_with_a_scaled_product_one_ulp_off_does_not_use_it(blas_everywhere, monkeypatch):
    """The per-shape trial keeps a gemm that does not round as NumPy out of training: same bits."""
    original = _blas.Routines.scaled_product

    def planted(self, alpha, A, B, C):
        original(self, alpha, A, B, C)
        C.reshape(-1)[-1] = np.nextafter(C.reshape(-1)[-1], self.dtype.type(np.inf))

    monkeypatch.setattr(_blas.Routines, "scaled_product", planted)
    (params, history), (ref_params, ref_costs) = _run_both(CONFIGS["full_relu_f64"])
    assert_bit_identical(params, ref_params)
    assert history.cost == ref_costs
    assert _trials() and not _trials(exact=True)  # tried, and refused
    assert blas_everywhere.count("scaled_product") == _trials()  # only by the trials
    assert "scal" in blas_everywhere  # so the update scaled the gradients itself


def _trials(exact=None):
    """How many shapes ``scaled_product_is_exact`` has tried (only those it found exact, or not)."""
    return sum(exact is None or ok == exact for dtype in (np.float32, np.float64)
               for ok in _blas.routines(dtype)._exact.values())


def test_without_the_routines_training_uses_numpy_with_the_same_bits(monkeypatch):
    monkeypatch.setattr(_blas, "MIN_SIZE", 1)
    monkeypatch.setattr(training._blas, "routines", lambda dtype: None)
    (params, history), (ref_params, ref_costs) = _run_both(CONFIGS["minibatch_dropout_l2_f64"])
    assert_bit_identical(params, ref_params)
    assert history.cost == ref_costs


def test_divergence_through_the_blas_routines_stops_where_the_plain_step_does(blas_everywhere):
    """Overflow and NaN go through scal, axpy and ger as through NumPy: the same NumericalError."""
    X, Y = make_data(4, 80, 1, np.float64, 0, "T")
    params0 = initialize_parameters([4, 8, 1], init="random", init_scale=50, rng=np.random.RandomState(0))
    messages = []
    for fused in (True, False):
        with pytest.raises(training.NumericalError) as err, np.errstate(all="ignore"):
            training.train(params0, X, Y, learning_rate=1e6, max_iter=500, batch_size=20,
                           rng=np.random.RandomState(1), fused=fused)
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert {"scal", "subtract", "add_columns"} <= set(blas_everywhere)
