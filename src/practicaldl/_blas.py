"""Four steps of training done by NumPy's BLAS, with NumPy's roundings.

NumPy's elementwise operations run on one core; its BLAS library (OpenBLAS in NumPy's wheels)
runs the matrix products on all of them, and its threads wait, spinning, through everything in
between. Three steps of the training loop are BLAS routines whose every product is exact, so
they round exactly as NumPy's elementwise operations do:

* ``scal(alpha, x)``: ``x := alpha x``, one multiplication per entry: ``fl(alpha x)``, as
  ``np.multiply``;
* ``subtract(y, x)``: ``y := y - x``, as axpy with ``alpha = -1``: ``(-1) x`` is exact, so
  ``y + (-1) x`` is rounded once, with or without a fused multiply-add: ``fl(y - x)``, as
  ``np.subtract`` (zeros' signs and NaN included);
* ``add_columns(Z, b)``: ``Z := Z + b 1^T``, as a rank-one update (ger) with ``alpha = 1`` and a
  vector of ones: ``1 * b_i * 1`` is exact, so ``fl(z + b_i)``, as ``np.add(Z, b)``.

A fourth folds the update's scaling into the gradient's product:

* ``scaled_product(alpha, A, B, C)``: ``C := alpha (A B)``, gemm with that alpha and beta = 0.
  gemm sums each entry's products in registers and multiplies the sum by alpha once, on its way
  to C; with beta = 0 the sum lands on a zeroed C. So ``lr * dW`` comes out as
  ``np.multiply(lr, A @ B)`` does, provided the inner size fits one of the kernel's blocks: a
  longer one is summed in slices, each scaled separately. Whether that holds depends on the
  library, its kernel and the shape, so ``scaled_product_is_exact`` tries the shape once and the
  caller uses it only where the bits were the same (inner size 256, SkylakeX kernel: yes; 512: no).
  The one case a trial cannot show: an entry whose scaled sum underflows to -0 may come out +0
  (added to C's zero), which changes ``w - lr dw`` only for a weight that is exactly -0.0 (no
  initializer draws one). The separate scaling pass it saves: 1.4% of a float32 epoch of a
  [784, 1024, 1024, 1] network.

OpenBLAS splits these among its threads for large arrays (the update of a [784, 1024, 1024, 1]
network: 240 us against 370 us for NumPy's two passes). The routines are bound with ``ctypes``
from the library NumPy itself loaded (found through ``threadpoolctl``, a scikit-learn
dependency), and the first three are checked once against NumPy on special values (NaN,
infinities, signed zeros, subnormals) before they are used. Where that library cannot be found
(a NumPy built against another BLAS) or a check fails, ``routines`` returns None and the
callers use NumPy.
"""

from __future__ import annotations

import ctypes
import os
from functools import lru_cache

import numpy as np

#: Arrays smaller than this stay with NumPy: one ``ctypes`` call costs more than NumPy's loop on
#: them, and OpenBLAS keeps them on one thread anyway.
MIN_SIZE = 1 << 16

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112  # CBLAS_ORDER, CBLAS_TRANSPOSE


class Routines:
    """``scal``, ``subtract``, ``add_columns`` and ``scaled_product`` for one dtype (float32 or
    float64), bound from NumPy's BLAS. Arrays must be of that dtype, and C-contiguous except
    where a method says otherwise."""

    def __init__(self, lib, dtype, names, index):
        self.dtype = dtype = np.dtype(dtype)
        real = ctypes.c_float if dtype == np.float32 else ctypes.c_double
        ptr = ctypes.c_void_p
        self._scal = _bind(lib, names["scal"], [index, real, ptr, index])
        self._axpy = _bind(lib, names["axpy"], [index, real, ptr, index, ptr, index])
        self._ger = _bind(lib, names["ger"], [ctypes.c_int, index, index, real, ptr, index, ptr, index, ptr, index])
        self._ones = np.ones(0, dtype)
        self._gemm = _bind(lib, names["gemm"], [ctypes.c_int, ctypes.c_int, ctypes.c_int, index, index, index, real,
                                                ptr, index, ptr, index, real, ptr, index])
        self._exact = {}  # (alpha, shapes, layouts) -> whether scaled_product gives NumPy's bits

    def scal(self, alpha, x):
        """``x := alpha x`` (x 1-D)."""
        self._scal(x.size, alpha, x.ctypes.data, 1)

    def subtract(self, y, x):
        """``y := y - x`` (1-D, the same size)."""
        self._axpy(x.size, -1.0, x.ctypes.data, 1, y.ctypes.data, 1)

    def add_columns(self, Z, b):
        """``Z := Z + b`` for Z (n, m) and b (n, 1): b added to every column."""
        n, m = Z.shape
        ones = self._ones  # a local reference: another thread may replace the attribute during the call
        if ones.size < m:
            ones = self._ones = np.ones(m, self.dtype)
        self._ger(_ROW_MAJOR, n, m, 1.0, b.ctypes.data, 1, ones.ctypes.data, 1, Z.ctypes.data, m)

    def scaled_product(self, alpha, A, B, C):
        """``C := alpha (A B)`` for C- or F-contiguous A (M, K) and B (K, N), C-contiguous C (M, N)."""
        (M, K), N = A.shape, B.shape[1]
        trans_a, lda = (_NO_TRANS, K) if A.flags.c_contiguous else (_TRANS, M)
        trans_b, ldb = (_NO_TRANS, N) if B.flags.c_contiguous else (_TRANS, K)
        self._gemm(_ROW_MAJOR, trans_a, trans_b, M, N, K, alpha, A.ctypes.data, lda, B.ctypes.data, ldb, 0.0,
                   C.ctypes.data, N)

    def scaled_product_is_exact(self, alpha, A, B, scratch=None) -> bool:
        """Whether ``scaled_product(alpha, ...)`` gives ``alpha * (A @ B)``'s bits for operands of
        A's and B's shapes and layouts (their values are not used): tried once per shape on values
        with full mantissas, where a second rounding, or a sum in slices, shows in a large share
        of the entries (40% for an inner size of 512 here). 2-5 ms for (1024, 256) x (256, 1024).
        ``scratch``: a C-contiguous array of the product's shape that the trial may overwrite
        (one output fewer to allocate)."""
        key = (alpha, A.shape, B.shape, A.flags.c_contiguous, B.flags.c_contiguous)
        if key not in self._exact:
            rng = np.random.default_rng(0)
            a, b = (np.asarray(rng.random(X.shape, self.dtype) - self.dtype.type(0.5),
                               order="C" if X.flags.c_contiguous else "F") for X in (A, B))
            expected = np.empty((a.shape[0], b.shape[1]), self.dtype)
            got = np.empty_like(expected) if scratch is None else scratch
            self.scaled_product(alpha, a, b, got)
            np.multiply(alpha, np.matmul(a, b, out=expected), out=expected)
            bits = f"u{self.dtype.itemsize}"  # finite values: equal bits, compared as integers
            self._exact[key] = bool(np.array_equal(got.view(bits), expected.view(bits)))
        return self._exact[key]


def _bind(lib, name, argtypes):
    function = getattr(lib, name)
    function.argtypes, function.restype = argtypes, None
    return function


@lru_cache(maxsize=None)
def _numpy_openblas():
    """The path of the OpenBLAS library that NumPy loaded from its own installation, or None.
    Looked up once per process (``threadpool_info`` inspects every loaded library: 9 ms here)."""
    try:
        from threadpoolctl import threadpool_info  # a scikit-learn dependency
    except ImportError:  # pragma: no cover - scikit-learn always brings it
        return None
    package = os.path.dirname(os.path.abspath(np.__file__))
    roots = (os.path.join(package, ""), os.path.join(package + ".libs", ""))  # numpy/ (.dylibs), numpy.libs/
    paths = {info["filepath"] for info in threadpool_info()
             if info.get("internal_api") == "openblas" and os.path.abspath(info["filepath"]).startswith(roots)}
    return paths.pop() if len(paths) == 1 else None


def _symbols(lib, kind):
    """Names of ?scal, ?axpy, ?ger, ?gemm in ``lib`` and their integer type: the 64-bit-integer build
    of NumPy's wheels exports ``scipy_cblas_saxpy64_`` and so on; a plain OpenBLAS ``cblas_saxpy``."""
    for prefix, suffix, index in (("scipy_", "64_", ctypes.c_int64), ("", "64_", ctypes.c_int64),
                                  ("scipy_", "", ctypes.c_int), ("", "", ctypes.c_int)):
        names = {r: f"{prefix}cblas_{kind}{r}{suffix}" for r in ("scal", "axpy", "ger", "gemm")}
        if all(hasattr(lib, name) for name in names.values()):
            return names, index
    return None


def _agrees_with_numpy(blas: Routines) -> bool:
    """The three routines give NumPy's bits on values that show any difference in rounding."""
    dt = blas.dtype
    info = np.finfo(dt)
    special = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, info.tiny, -info.tiny / 4,
                        info.max, -info.max, info.eps, 1 / 3, -2.5e-3, 7.0, 1e-30], dt)
    x = np.tile(special, len(special))  # every pair (x_i, y_j)
    y = np.repeat(special, len(special))
    same = []
    for alpha in (dt.type(0.01), dt.type(-3.0)):
        got = x.copy()
        blas.scal(alpha, got)
        same.append(same_bits(got, np.multiply(alpha, x)))
    got = y.copy()
    blas.subtract(got, x)
    same.append(same_bits(got, np.subtract(y, x)))
    Z = x.reshape(len(special), -1).copy()
    b = special.reshape(-1, 1)
    expected = np.add(Z, b)
    blas.add_columns(Z, b)
    same.append(same_bits(Z, expected))
    return all(same)


def same_bits(a, b) -> bool:
    """Equal dtype and shape, NaN where the other has NaN, and equal bytes everywhere else (so -0
    differs from +0). A NaN's sign and payload are not compared: IEEE 754 leaves open which NaN
    NaN + NaN returns, and NumPy's own loops differ in it (here its array and scalar additions of
    -NaN and NaN return different NaNs); any NaN stops training the same way. Also used by
    ``_native``'s check of the C kernels."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    nan = np.isnan(a)
    return np.array_equal(nan, np.isnan(b)) and a[~nan].tobytes() == b[~nan].tobytes()


def routines(dtype) -> Routines | None:
    """NumPy's BLAS routines for ``dtype`` (float32 or float64), checked, or None (use NumPy).
    One instance per dtype, however it is spelled (``np.float32`` or ``np.dtype("float32")``)."""
    dtype = np.dtype(dtype)
    return _routines(dtype) if dtype in (np.float32, np.float64) else None


@lru_cache(maxsize=None)
def _routines(dtype: np.dtype) -> Routines | None:
    path = _numpy_openblas()
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(path)
        found = _symbols(lib, "s" if dtype == np.float32 else "d")
        if found is None:
            return None
        blas = Routines(lib, dtype, *found)
        with np.errstate(all="ignore"):
            return blas if _agrees_with_numpy(blas) else None
    except (OSError, AttributeError):  # pragma: no cover - a library that cannot be loaded or bound
        return None
