"""The C kernels of the training step (``practicaldl._kernels``) give NumPy's bits.

Each kernel replaces a few NumPy calls of ``training._FusedStep``; here each is compared, bit for
bit (the arrays' bytes), with those calls: shapes that take every branch of NumPy's pairwise
summation (rows of fewer than 8, up to 128 and more values; row counts that are not a multiple of
the 4 rows the kernel sums at once), special values (NaN, infinities, -0, subnormals), float32 and
float64. Planted wrong kernels show that the comparison catches a changed order or rule.

The extension is optional (``setup.py``): where it was not built these tests skip, unless
``PRACTICALDL_REQUIRE_KERNELS=1`` (set by ``.ci/run``) makes its absence a failure.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from practicaldl import _native
from practicaldl._native import (check_bias_relu, check_relu_mask_sum, check_take_rows, numpy_bias_relu,
                                 numpy_relu_mask_sum, numpy_take_rows, same_bits, sample)
from test_steps import _run_both, assert_bit_identical

K = _native.KERNELS


def test_the_kernels_are_built_where_required():
    if os.environ.get("PRACTICALDL_REQUIRE_KERNELS") == "1":
        assert K is not None, "practicaldl._kernels was not built (see setup.py: a C compiler is needed)"


built = pytest.mark.skipif(K is None, reason="practicaldl._kernels is not built here")


# rows of 1, 7 (< 8), 8, 9, 128 (one block), 129, 136, 255, 256, 300, 1000 (split in two, then
# again); row counts 1 .. 9 (groups of 4 and the rest)
SHAPES = [(n, m) for m in (1, 7, 8, 9, 128, 129, 136, 255, 256, 300, 1000) for n in (1, 3, 4, 5, 9)]


@built
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_kernels_give_numpys_bits(shape, dtype):
    rng = np.random.default_rng(shape[0] * 10007 + shape[1])
    assert _native.agrees_with_numpy(K)  # what the step checks before it uses them
    G = np.maximum(sample(rng, shape, dtype), 0)  # as in the step: g(Z) over Z, or Z itself
    G[rng.random(shape) < 0.3] = -0.0
    assert check_relu_mask_sum(K.relu_mask_sum, sample(rng, shape, dtype), G)
    assert check_relu_mask_sum(K.relu_mask_sum, sample(rng, shape, dtype), sample(rng, shape, dtype))
    assert check_bias_relu(K.bias_relu, sample(rng, shape, dtype), sample(rng, (shape[0], 1), dtype))
    idx = rng.integers(-3, 14, shape[0]).astype(np.int64)  # out-of-range ones clipped, as mode="clip"
    assert check_take_rows(K.take_rows, sample(rng, (11, shape[1]), dtype), idx)


@built
@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 12), m=st.integers(1, 600), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**32 - 1), special=st.sampled_from([0.0, 0.05, 0.5]))
def test_kernels_give_numpys_bits_on_any_shape(n, m, dtype, seed, special):
    rng = np.random.default_rng(seed)
    assert check_relu_mask_sum(K.relu_mask_sum, sample(rng, (n, m), dtype, special),
                               sample(rng, (n, m), dtype, special))
    assert check_bias_relu(K.bias_relu, sample(rng, (n, m), dtype, special), sample(rng, (n, 1), dtype, special))


@built
def test_sums_of_negative_zeros_are_positive_as_numpys():
    """NumPy adds each row's pairwise sum to the identity 0: a row of -0 sums to +0."""
    for m in (3, 16, 300):
        dA, G = np.full((5, m), -0.0, np.float32), np.ones((5, m), np.float32)
        assert check_relu_mask_sum(K.relu_mask_sum, dA, G)


# -- planted wrong kernels: the comparison must catch each -------------------------------------
def sequential_sums(dA, G, db):
    """The right mask, but each row summed left to right instead of pairwise."""
    np.multiply(dA, G > 0, out=dA)
    db[:, 0] = np.cumsum(dA, axis=1)[:, -1]


def mask_at_zero_too(dA, G, db):
    """1[G >= 0] instead of 1[G > 0]."""
    np.multiply(dA, G >= 0, out=dA)
    np.add.reduce(dA, axis=1, keepdims=True, out=db)


def relu_dropping_nan(Z, b):
    """v > 0 ? v : 0, without NumPy's NaN rule (NaN becomes 0)."""
    np.add(Z, b, out=Z)
    Z[~(Z > 0)] = 0


def relu_keeping_negative_zero(Z, b):
    """v >= 0 ? v : 0: keeps -0 where NumPy returns +0."""
    np.add(Z, b, out=Z)
    Z[~(Z >= 0) & ~np.isnan(Z)] = 0


def test_planted_wrong_kernels_are_caught():
    rng = np.random.default_rng(5)
    dA, G = sample(rng, (16, 256), np.float32, 0.0), np.maximum(sample(rng, (16, 256), np.float32, 0.0), 0)
    assert check_relu_mask_sum(numpy_relu_mask_sum, dA, G)  # the checker passes NumPy itself
    assert not check_relu_mask_sum(sequential_sums, dA, G)
    assert not check_relu_mask_sum(mask_at_zero_too, dA, G)  # G has zeros (the ReLU's)
    Z, b = sample(rng, (8, 64), np.float64, 0.0), sample(rng, (8, 1), np.float64, 0.0)
    assert check_bias_relu(numpy_bias_relu, Z, b)
    Z[0, :3] = [np.nan, -0.0, -5.0]
    b[0] = -0.0  # so that Z + b keeps the NaN and the -0
    assert not check_bias_relu(relu_dropping_nan, Z, b)
    assert not check_bias_relu(relu_keeping_negative_zero, Z, b)


# -- bad input: a clear error, nothing written --------------------------------------------------
@built
@pytest.mark.parametrize("call, message", [
    (lambda: K.bias_relu(np.zeros((3, 4)), np.zeros((3, 1), np.float32)), "b n values of its dtype"),
    (lambda: K.bias_relu(np.zeros((4, 3)).T, np.zeros(4)), "Z must be a C-contiguous writable array"),
    (lambda: K.bias_relu(np.zeros((3, 4), np.int64), np.zeros(3, np.int64)), "float32 or float64"),
    (lambda: K.relu_mask_sum(np.zeros((3, 4)), np.zeros((3, 5)), np.zeros(3)), "G of its shape"),
    (lambda: K.relu_mask_sum(np.zeros((3, 4)), np.zeros((3, 4)), np.zeros(4)), "db n values"),
    (lambda: K.take_rows(np.zeros((2, 4)), np.zeros((5, 4)), np.array([1, 2], np.int32)), "int64 indices"),
    (lambda: K.take_rows(np.zeros((2, 4)), np.zeros((0, 4)), np.array([0, 0])), "N >= 1"),
    (lambda: K.take_rows(np.zeros((2, 4)), np.zeros((5, 4))), "takes 3 arguments, got 2"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


@built
def test_shared_memory_is_refused_and_nothing_is_written():
    dA = np.arange(12.0).reshape(3, 4)
    before = dA.copy()
    with pytest.raises(ValueError, match="must not share memory"):
        K.relu_mask_sum(dA, dA, np.zeros(3))
    with pytest.raises(ValueError, match="must not share memory"):
        K.bias_relu(dA, dA.reshape(-1)[:3])  # b: three values of Z's own memory
    assert same_bits(dA, before)


# -- in the training step ----------------------------------------------------------------------
class Spy:
    """A kernels module that counts the calls and passes them to ``kernels`` (default: the real one)."""

    def __init__(self, kernels=None, **replaced):
        self.calls = {"bias_relu": 0, "relu_mask_sum": 0, "take_rows": 0}
        for name in self.calls:
            setattr(self, name, self._counted(name, replaced.get(name) or getattr(kernels or K, name)))

    def _counted(self, name, function):
        def call(*args):
            self.calls[name] += 1
            return function(*args)

        return call


STEP_CONFIGS = {
    "minibatch_f32": dict(dims=[30, 40, 20, 1], m=300, dtype=np.float32, layout="T", batch_size=64),
    "dropout_l2_f64": dict(dims=[30, 40, 20, 1], m=300, dtype=np.float64, layout="T", batch_size=64,
                           keep_prob=0.8, l2=0.3),
    "full_batch_f64": dict(dims=[5, 9, 7, 1], m=120, dtype=np.float64, layout="C"),
}


@pytest.mark.parametrize("kernels", ["C", "NumPy stand-ins"])
@pytest.mark.parametrize("name", sorted(STEP_CONFIGS))
def test_the_step_with_the_kernels_equals_the_public_core_functions(name, kernels, fused_only, monkeypatch):
    """The kernels run (every one, for minibatches of the estimator's layout), and training gives
    the parameters and costs of the loop written with the public functions, bit for bit. With
    NumPy's calls in the kernels' places, the step's kernel path is tested where the extension is
    not built too."""
    if kernels == "C" and K is None:
        pytest.skip("practicaldl._kernels is not built here")
    spy = Spy(kernels=K if kernels == "C" else _NumpyKernels)
    monkeypatch.setattr(_native, "KERNELS", spy)
    assert _native.usable() is spy
    checked = dict(spy.calls)  # the check's own calls
    (params, history), (ref_params, ref_costs) = _run_both(STEP_CONFIGS[name])
    assert_bit_identical(params, ref_params)
    assert history.cost == ref_costs
    calls = {k: spy.calls[k] - checked[k] for k in checked}
    assert calls["bias_relu"] > 0 and calls["relu_mask_sum"] > 0
    assert (calls["take_rows"] > 0) == ("batch_size" in STEP_CONFIGS[name])


@pytest.mark.parametrize("planted", ["sequential_sums", "mask_at_zero_too", "relu_dropping_nan",
                                     "relu_keeping_negative_zero"])
def test_kernels_that_disagree_with_numpy_are_not_used(planted, fused_only, monkeypatch):
    """Each planted kernel fails the check, and the step uses NumPy instead: the same results,
    and no kernel is called by the step."""
    name = "relu_mask_sum" if planted in ("sequential_sums", "mask_at_zero_too") else "bias_relu"
    spy = Spy(kernels=K or _NumpyKernels, **{name: globals()[planted]})
    monkeypatch.setattr(_native, "KERNELS", spy)
    assert _native.usable() is None
    checked = dict(spy.calls)  # the check's own calls
    (params, history), (ref_params, ref_costs) = _run_both(STEP_CONFIGS["minibatch_f32"])
    assert_bit_identical(params, ref_params)
    assert history.cost == ref_costs
    assert spy.calls == checked


def test_without_the_kernels_the_step_gives_the_same_results(fused_only, monkeypatch):
    monkeypatch.setattr(_native, "KERNELS", None)
    (params, history), (ref_params, ref_costs) = _run_both(STEP_CONFIGS["minibatch_f32"])
    assert_bit_identical(params, ref_params)
    assert history.cost == ref_costs


class _NumpyKernels:
    """NumPy's calls in the kernels' places (where the extension is not built)."""

    bias_relu = staticmethod(numpy_bias_relu)
    relu_mask_sum = staticmethod(numpy_relu_mask_sum)
    take_rows = staticmethod(numpy_take_rows)
