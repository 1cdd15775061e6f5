"""The optional C kernels of the training step (``_kernels.c``), and the check that they give
NumPy's bits on this machine.

``setup.py`` builds ``practicaldl._kernels`` where a C compiler is found; without it ``KERNELS``
is None and the step does the same work with NumPy (the NumPy calls each kernel replaces are
below). The kernels follow NumPy's order of operations, including its pairwise summation, which
is NumPy's implementation, not its promise: ``usable()`` compares each kernel with those calls
once per process, on values that take every branch of the summation and on special values, and
returns None (NumPy does the work) if any bit differs.
"""

from __future__ import annotations

import functools

import numpy as np

from ._blas import same_bits

try:
    from . import _kernels as KERNELS
except ImportError:  # pragma: no cover - installed without a C compiler
    KERNELS = None


# -- the NumPy calls each kernel replaces (training._FusedStep's arithmetic without them) --------
def numpy_bias_relu(Z, b):
    """Z := max(Z + b, 0) in place."""
    np.add(Z, b, out=Z)
    np.maximum(Z, np.zeros_like(Z), out=Z)


def numpy_relu_mask_sum(dA, G, db):
    """dA := dA * 1[G > 0] in place; db := the sums of dA's rows."""
    np.multiply(dA, np.greater(G, G.dtype.type(0)), out=dA)
    np.add.reduce(dA, axis=1, keepdims=True, out=db)


def numpy_take_rows(out, X, idx):
    """out := the rows idx of X (indices clipped)."""
    np.take(X, idx, axis=0, out=out, mode="clip")


SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-40, 5e-324, 1.0, -1.0]


def sample(rng, shape, dtype, special=0.1):
    """Values over many magnitudes, a share of them replaced by special values."""
    x = rng.standard_normal(shape) * 10.0 ** rng.integers(-4, 5, shape)
    where = rng.random(shape) < special
    x[where] = rng.choice(SPECIAL, size=int(where.sum()))
    return x.astype(dtype)


@np.errstate(all="ignore")  # the special values' warnings
def check_bias_relu(kernel, Z, b) -> bool:
    expected, got = Z.copy(), Z.copy()
    numpy_bias_relu(expected, b)
    kernel(got, b)
    return same_bits(got, expected)


@np.errstate(all="ignore")
def check_relu_mask_sum(kernel, dA, G) -> bool:
    expected, got = dA.copy(), dA.copy()
    db_expected, db_got = np.empty((len(dA), 1), dA.dtype), np.full((len(dA), 1), 7, dA.dtype)
    numpy_relu_mask_sum(expected, G, db_expected)
    kernel(got, G, db_got)
    return same_bits(got, expected) and same_bits(db_got, db_expected)


def check_take_rows(kernel, X, idx) -> bool:
    expected, got = np.empty((len(idx), X.shape[1]), X.dtype), np.empty((len(idx), X.shape[1]), X.dtype)
    numpy_take_rows(expected, X, idx)
    kernel(got, X, idx)
    return same_bits(got, expected)


@functools.lru_cache(maxsize=None)
def agrees_with_numpy(kernels) -> bool:
    """Whether each kernel gives the NumPy calls' bits here: rows of 5 (summed in order), 130
    (in 8 running sums) and 300 values (split in two), 7 rows (a group of 4 and the rest),
    float32 and float64; values over eight orders of magnitude (where any other order of the sums
    rounds differently), then with a twentieth of them special. 3 ms, once per process."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        for m in (5, 130, 300):
            for special in (0.0, 0.05):
                shape = (7, m)
                dA, G, Z = (sample(rng, shape, dtype, special) for _ in range(3))
                b, X = sample(rng, (7, 1), dtype, special), sample(rng, (9, m), dtype, special)
                if special:  # -0 + -0 = -0, whose max with 0 is +0
                    b[0], Z[0, ::2] = -0.0, -0.0
                if not (check_relu_mask_sum(kernels.relu_mask_sum, dA, np.maximum(G, 0))
                        and check_bias_relu(kernels.bias_relu, Z, b)
                        and check_take_rows(kernels.take_rows, X, rng.integers(-2, 11, 7).astype(np.int64))):
                    return False
    return True


def usable():
    """``KERNELS`` where it gives NumPy's bits on this machine (``agrees_with_numpy``), else None."""
    return KERNELS if KERNELS is not None and agrees_with_numpy(KERNELS) else None
