"""Three elementwise steps of training on the BLAS's threads, with NumPy's roundings.

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

OpenBLAS splits these among its threads for large arrays (the update of a [784, 1024, 1024, 1]
network: 240 us against 370 us for NumPy's two passes). The routines are bound with ``ctypes``
from the library NumPy itself loaded (found through ``threadpoolctl``, a scikit-learn
dependency), and each is checked once against NumPy on special values (NaN, infinities, signed
zeros, subnormals) before it is used. Where that library cannot be found (a NumPy built against
another BLAS) or a check fails, ``routines`` returns None and the callers use NumPy.
"""

from __future__ import annotations

import ctypes
import os
from functools import lru_cache

import numpy as np

#: Arrays smaller than this stay with NumPy: one ``ctypes`` call costs more than NumPy's loop on
#: them, and OpenBLAS keeps them on one thread anyway.
MIN_SIZE = 1 << 16

_ROW_MAJOR = 101  # CBLAS_ORDER


class Routines:
    """``scal``, ``subtract`` and ``add_columns`` for one dtype (float32 or float64), bound from
    NumPy's BLAS. Arrays must be C-contiguous and of that dtype."""

    def __init__(self, lib, dtype, names, index):
        self.dtype = dtype = np.dtype(dtype)
        real = ctypes.c_float if dtype == np.float32 else ctypes.c_double
        ptr = ctypes.c_void_p
        self._scal = _bind(lib, names["scal"], [index, real, ptr, index])
        self._axpy = _bind(lib, names["axpy"], [index, real, ptr, index, ptr, index])
        self._ger = _bind(lib, names["ger"], [ctypes.c_int, index, index, real, ptr, index, ptr, index, ptr, index])
        self._ones = np.ones(0, dtype)

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


def _bind(lib, name, argtypes):
    function = getattr(lib, name)
    function.argtypes, function.restype = argtypes, None
    return function


def _numpy_openblas():
    """The path of the OpenBLAS library that NumPy loaded from its own installation, or None."""
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
    """Names of ?scal, ?axpy, ?ger in ``lib`` and their integer type: the 64-bit-integer build
    of NumPy's wheels exports ``scipy_cblas_saxpy64_`` and so on; a plain OpenBLAS ``cblas_saxpy``."""
    for prefix, suffix, index in (("scipy_", "64_", ctypes.c_int64), ("", "64_", ctypes.c_int64),
                                  ("scipy_", "", ctypes.c_int), ("", "", ctypes.c_int)):
        names = {r: f"{prefix}cblas_{kind}{r}{suffix}" for r in ("scal", "axpy", "ger")}
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
        same.append(_same_bits(got, np.multiply(alpha, x)))
    got = y.copy()
    blas.subtract(got, x)
    same.append(_same_bits(got, np.subtract(y, x)))
    Z = x.reshape(len(special), -1).copy()
    b = special.reshape(-1, 1)
    expected = np.add(Z, b)
    blas.add_columns(Z, b)
    same.append(_same_bits(Z, expected))
    return all(same)


def _same_bits(a, b):
    """The same bits, except that any NaN may stand for any other (payloads carry nothing here)."""
    nan = np.isnan(a)
    return np.array_equal(nan, np.isnan(b)) and a[~nan].tobytes() == b[~nan].tobytes()


@lru_cache(maxsize=None)
def routines(dtype) -> Routines | None:
    """NumPy's BLAS routines for ``dtype`` (float32 or float64), checked, or None (use NumPy)."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        return None
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
