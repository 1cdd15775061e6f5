"""The training loop: full-batch or minibatch gradient descent, history, callbacks, early stopping.

One *iteration* is one pass over the training set (an epoch): with ``batch_size=None`` that is a
single full-batch gradient step (the course's loop), otherwise one step per shuffled minibatch.
The cost recorded for an iteration is the cost *before* its update (the course prints the same),
averaged over the minibatches weighted by their size.

Numerical trouble stops training: a non-finite cost, a cost that explodes (above
``DIVERGENCE_FACTOR`` times the first cost + 1) or non-finite parameters raise ``NumericalError``
with what to try, instead of returning a network full of NaN.

Speed (see ``benchmarks/``). The step is computed by ``_FusedStep``: the same equations, in the
same floating-point order, as ``forward_propagation`` / ``compute_cost`` /
``backward_propagation`` / ``gradient_descent_step``, but written into buffers allocated once per
run (``out=``), with the parameters and gradients as views of two flat vectors (so the update is
a few vectorised operations over spans of them, not two per array; on large networks each W_l's
is done in backward, see ``_FusedStep``), minibatches gathered one at a time into a reused buffer
(never a copy of the whole data set per epoch), and, with ReLU, C kernels for the elementwise work
where they were built (``_native``; without them NumPy does the same work, with the same results).
Results are bit for bit those of the plain step (``fused=False``), which calls the public core
functions; the tests check it on every run (``tests/test_training_determinism.py``). The fused step needs W_l, b_l, X and Y of
one float dtype (float32 or float64) and a ``RandomState``/``Generator`` when it draws; anything
else takes the plain step, with the same results.

Callbacks get the same ``IterationInfo`` from both steps. The fused step hands out its own
buffers (no copies) and then switches to fresh ones, so arrays a callback keeps are never
overwritten, as with the plain step; that costs one allocation of the work buffers per
iteration, only when there are callbacks. Without callbacks, costs are computed in blocks (of
full-batch iterations, or of an epoch's minibatches; see ``_FusedStep``); ``NumericalError``
still names the first iteration whose cost is not finite.

``blas_threads`` caps the threads of the BLAS library (OpenBLAS, MKL, ...) behind the matrix
products (and, on large networks, the update and the bias additions: ``_blas``) for the duration
of the run, through ``threadpoolctl`` (a scikit-learn dependency);
None leaves the library's default (usually one thread per core). Small networks gain nothing
from threads; large ones use the cores; on a machine shared with other work, fewer threads than
cores can be faster. Bit-for-bit reproducibility holds for a given seed, dtype *and* thread
count: BLAS libraries may split a large product differently across threads (OpenBLAS does for
some float32 products), which moves the last bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from scipy.special import expit

from .. import _blas, _native
from ..core.activations import get_activation
from ..core.losses import OUTPUTS
from ..core.network import Cache, backward_propagation, compute_cost, forward_propagation
from ..core.regularization import l2_penalty
from ..core.validation import check_choice, check_keep_prob
from .optimizers import gradient_descent_step


class NumericalError(FloatingPointError):
    """Training produced a non-finite cost or parameters."""


@dataclass
class History:
    """What a training run records, one entry per iteration."""

    cost: list = field(default_factory=list)  # regularized cost (cross-entropy + L2 term)
    cross_entropy: list = field(default_factory=list)  # cross-entropy alone
    validation_cost: list = field(default_factory=list)  # cross-entropy on the validation set
    n_iter: int = 0
    stop_reason: str = ""
    best_iteration: Optional[int] = None  # 1-based, with early stopping


@dataclass
class IterationInfo:
    """Passed to every callback after each iteration (``grads`` are those of the last step).

    ``params`` is the dict being trained (updated in place: copy what you keep); ``grads`` and
    ``cache`` are those of the iteration's last (mini)batch and stay valid after the callback
    returns (the loop does not overwrite arrays it has handed to a callback).
    """

    iteration: int  # 1-based
    params: dict
    grads: dict
    cost: float
    cross_entropy: float
    cache: object


Callback = Callable[[IterationInfo], Optional[bool]]


def _numerical_error(what: str, iteration: int, learning_rate: float) -> NumericalError:
    return NumericalError(
        f"{what} at iteration {iteration} (learning_rate={learning_rate}): training diverged. "
        "Try a smaller learning_rate, a smaller init_scale, or standardize the features."
    )


def _batches(m: int, batch_size: Optional[int], rng):
    """The index arrays of one epoch: None for the full batch, else a shuffled split.

    One ``rng.permutation(m)`` per epoch, cut into consecutive chunks of ``batch_size`` (the last
    one shorter); views of the permutation, so nothing of the data is copied here.
    """
    if batch_size is None or batch_size >= m:
        return [None]
    order = rng.permutation(m)
    return np.array_split(order, np.arange(batch_size, m, batch_size))


class _PlainStep:
    """One gradient step with the public core functions (the reference the fused step equals)."""

    def __init__(self, params, X, Y, *, l2, keep_prob, activation, output, learning_rate):
        self.params, self.X, self.Y = params, X, Y
        self.l2, self.keep_prob, self.activation, self.output = l2, keep_prob, activation, output
        self.learning_rate = learning_rate
        self.grads = self.cache = None

    def __call__(self, idx, rng) -> float:
        """Step on the examples ``idx`` (None: all); return their cross-entropy before the step."""
        Xb, Yb = (self.X, self.Y) if idx is None else (self.X[:, idx], self.Y[:, idx])
        _, cache = forward_propagation(self.params, Xb, self.keep_prob, rng, activation=self.activation,
                                       output=self.output)
        ce = compute_cost(cache, Yb)
        self.grads = backward_propagation(self.params, Yb, cache, self.l2)
        self.cache = cache
        self.penalty = l2_penalty(self.params, self.l2, Yb.shape[1]) if self.l2 else 0.0  # 0.0 for l2=0
        return ce

    def update(self):
        gradient_descent_step(self.params, self.grads, self.learning_rate, inplace=True)

    def release(self):
        """Called after callbacks saw ``grads`` and ``cache``: the plain step never reuses them."""


def _aligned_offsets(sizes, itemsize: int, align: int = 64):
    """Start offsets (in elements) of consecutive arrays in a flat buffer, each ``align``-byte aligned."""
    step = max(1, align // itemsize)
    offsets, at = [], 0
    for n in sizes:
        offsets.append(at)
        at += -(-n // step) * step
    return offsets, at


class _FusedStep:
    """The plain step's arithmetic, written into preallocated buffers.

    Same operations, same operand order, same dtypes as the core functions, so the results are
    bit for bit equal (``tests/test_training_determinism.py`` checks it against a loop written
    with the public functions). What changes is where results go, and how often Python works:

    - ``params`` and ``grads`` are views of two flat vectors ``theta`` and ``dtheta`` (in the dict
      order W1, b1, W2, ...), so ``W := W - lr * dW`` for all of them is one multiply and one
      in-place subtract (elementwise, so the same numbers as per array). Without callbacks
      nobody else reads the gradients, so ``lr * dW`` is written over ``dtheta`` itself (the next
      step overwrites it): on a large network the update is a pass over memory, and a scratch
      vector would make it a third longer (and cost its size). With callbacks, a scratch vector
      keeps the gradients they were handed intact;
    - ``Z_l``, ``g(Z_l)``, the dropped-out ``A_l``, ``dZ_l``, the ReLU masks ``1[Z_l > 0]`` and the
      dropout masks live in per-layer buffers sized for the largest batch; a smaller last batch uses
      the leading part of the same memory, reshaped (so every view stays C-contiguous and BLAS
      sees the same layout as with fresh arrays). For ReLU without callbacks, ``g(Z_l)`` is written
      over ``Z_l`` (``relu_in_place``: backward's mask ``1[g(Z) > 0]`` equals ``1[Z > 0]``);
    - a minibatch of X is gathered with ``np.take(..., out=)`` into one reused buffer of the layout
      fancy indexing gives (Fortran order), so no per-batch allocation and no copy of the data set;
    - the binary cross-entropy is ``losses.binary_cross_entropy``'s expression, step by step into
      two buffers; ``np.add.reduce`` is what ``np.sum`` calls, without its Python wrapper;
    - with a sigmoid output and no callbacks, the cost of a batch is not needed until the history
      is read: ``Z_L`` (and, for minibatches, ``Y_b``) of ``defer_block`` batches is kept in a block,
      and the cross-entropy's elementwise expression is evaluated on the whole block at once (eight
      NumPy calls per block instead of per batch: elementwise, so the same numbers), then summed
      one batch at a time exactly as before. A block holds up to 64 full-batch iterations, or the
      minibatches of one epoch (35 us a minibatch of 256 saved here). The loop records these
      costs, and raises ``NumericalError`` for the first non-finite one, when the block is full
      (the epoch's end, for minibatches) or training ends;
    - per-layer arrays and constants are looked up once, not per step (no ``f"W{l}"`` strings);
    - each product is ``np.dot`` or ``np.matmul`` (``@``), whichever is faster for its shape: for
      2-D float arrays that are C- or F-contiguous both make the same BLAS call (gemm, or gemv when
      one side is a single row or column), so the same bits. ``np.dot`` costs less per call (a
      quarter of a small network's step is this overhead) but zero-fills its output before the
      call, a pass that ``np.matmul`` skips (75 us of a 940 us (1024, 784) float32 product); and for
      an inner size of 1 ``np.matmul`` runs its own loop, ten times slower than gemm. See
      ``_product``. A non-contiguous X keeps ``@``;
    - with ReLU hidden layers, three C kernels (``_native``, built from ``_kernels.c`` where a C
      compiler is found) do the elementwise work of several NumPy calls in one pass each, in
      NumPy's order of operations (so the same bits; each is checked against NumPy once per
      process, and the tests compare both paths): ``Z_l := max(Z_l + b_l, 0)``; ``dZ_l = dA_l *
      1[Z_l > 0]`` together with ``db_l``, its rows' (pairwise) sums, so db_l of a hidden layer is
      computed as soon as dZ_l is; and the gather of a minibatch's rows (prefetched). 3.2% of a
      large float32 epoch (8 paired rounds), and a third of a small network's iteration (25 ->
      17 us: one call instead of two or three);
    - ``dA_0 = W_1^T dZ_1`` (the gradient with respect to the data) is never computed;
    - on large arrays, the update and the bias additions ``Z_l + b_l`` are BLAS routines (``_blas``:
      scal, axpy with alpha = -1, a rank-one update), which OpenBLAS runs on its threads instead of
      NumPy's one; their products are exact, so they round as NumPy's operations do (checked when
      bound, and by the tests). ReLU layers' bias additions go to the C kernels instead, where
      they were built: with the ReLU in the same pass, one thread beats two passes on two;
    - where it rounds the same (tried per shape, see ``_gemm_scales``), ``lr * dW`` comes straight
      out of dW's gemm (alpha = lr), and the update is left with its subtraction: one pass over
      the parameters instead of two (1.4% of a large float32 epoch). That subtraction
      ``W_l := W_l - lr dW_l`` then runs in backward, as soon as ``dA_{l-1} = W_l^T dZ_l`` has read
      the old W_l, while W_l and dW_l are still in cache, instead of over all the parameters once
      backward is done (by then a large network's W and dW, 15 MB in float32, have been pushed
      towards memory): 2.2% of a large float32 epoch, 14 paired rounds. ``update()`` does the rest.
    """

    def __init__(self, params, X, Y, *, batch_capacity, l2, keep_prob, activation, output, learning_rate,
                 callbacks=False):
        self.X, self.Y, self.l2, self.output = X, Y, l2, output
        self.private_grads = not callbacks  # no one but this step reads grads and the cache
        self.activation = activation
        self.relu = activation == "relu"  # tested per layer in the step: a bool, not a string compare
        # ReLU over Z_l itself when no callback reads the cache (its Z_l and G_l): 1[G > 0] = 1[Z > 0]
        # for every Z, NaN included (np.maximum keeps NaN), so backward's mask is the same; one buffer
        # less to write per layer (1.161x -> 1.153x of the GEMM floor, large float32, 8 paired rounds)
        self.relu_in_place = self.relu and not callbacks
        self.keep_prob = keep_prob
        self.dtype = dtype = X.dtype
        self.L = L = len(params) // 2
        self.dims = [X.shape[0]] + [params[f"W{l}"].shape[0] for l in range(1, L + 1)]
        self.lr = dtype.type(learning_rate)  # gradient_descent_step multiplies by value.dtype.type(lr)
        # dropout.apply_mask multiplies by A.dtype.type(1.0 / keep_prob)
        self.scale = [dtype.type(1.0 / p) for p in keep_prob]
        # Python 0, 1 and m are converted to the array's dtype by NumPy on every call (NEP 50);
        # converting once gives the same values and skips that work.
        self.zero, self.one = dtype.type(0), dtype.type(1)
        self.capacity = batch_capacity
        # rows of X are contiguous when X is the transpose of a C-ordered (m, n_x) array (what the
        # estimator passes): a minibatch is then a row gather, the fastest copy there is.
        self.X_rows = X.T if X.T.flags.c_contiguous and batch_capacity < X.shape[1] else None
        self.X_contiguous = _contiguous(X)
        self.XT = X.T  # for dW_1 = dZ_1 X^T with the full batch (one view, not one per step)
        self._params_from(params)
        # BLAS routines for the update and the biases where an array is large enough (None: NumPy)
        large = max(self._total, max(self.dims[1:]) * batch_capacity) >= _blas.MIN_SIZE
        self.blas = _blas.routines(dtype) if large else None
        # the update on the BLAS's threads: only when no callback needs the gradients kept (scratch)
        self.blas_update = self.blas is not None and self.scratch is None and self._total >= _blas.MIN_SIZE
        # the C kernels (``_native``): the same bits as the NumPy calls they replace, in one pass
        self.kernels = _native.usable() if self.relu and dtype in (np.float32, np.float64) else None
        self.kernel_relu = self.kernels is not None and self.relu_in_place  # bias_relu writes over Z_l
        self._allocate()
        # deferred costs (sigmoid output): a block of Z_L, one (1, b) slot per batch: full-batch
        # iterations, or the minibatches of an epoch (each slot's Y_b beside it)
        m = X.shape[1]
        full_batch = batch_capacity >= m
        block = (min(64, 2**16 // m) if full_batch else -(-m // batch_capacity)) if output == "sigmoid" else 0
        self.defer_block = block if block > 1 and not callbacks else 0
        if self.defer_block:
            width = min(m, batch_capacity)
            self._zl, self._c1, self._c2 = (np.empty((self.defer_block, 1, width), dtype) for _ in range(3))
            self._y = None if full_batch else np.empty((self.defer_block, 1, width), dtype)
            self._last_width = width  # the batch size of the last pending slot (only it can be shorter)
        self._pending = 0

    def _params_from(self, params):
        keys = [k for l in range(1, self.L + 1) for k in (f"W{l}", f"b{l}")]
        offsets, total = _aligned_offsets([params[k].size for k in keys], self.dtype.itemsize)
        self.theta = np.zeros(total, dtype=self.dtype)
        self.params = {}
        for k, at in zip(keys, offsets):
            view = self.theta[at:at + params[k].size].reshape(params[k].shape)
            view[...] = params[k]  # an exact copy (same dtype)
            self.params[k] = view
        self._keys, self._offsets, self._total = keys, offsets, total
        self.Ws = [self.params[f"W{l}"] for l in range(1, self.L + 1)]
        self.bs = [self.params[f"b{l}"] for l in range(1, self.L + 1)]
        # W_l^T for dA_{l-1} = W_l^T dZ_l: views of theta (updated in place), so made once, not per
        # step (a .T is a new view object each time; np.dot gets the same array either way)
        self.WTs = [W.T for W in self.Ws]
        self.W_flat = [W.reshape(-1) for W in self.Ws]  # for backward's update of W_l (1-D views)
        # lr * dtheta goes over dtheta itself, or into a scratch vector when callbacks see the gradients
        self.scratch = None if self.private_grads else np.empty(total, dtype=self.dtype)
        self.l2_scratch = [np.empty_like(W) for W in self.Ws] if self.l2 else None

    def _allocate(self):
        """Fresh buffers for a whole step (also called after a callback was handed the old ones)."""
        B, dims, dt = self.capacity, self.dims, self.dtype
        self.dtheta = np.zeros(self._total, dtype=dt)
        self.grads = {}
        for k, at in zip(self._keys, self._offsets):
            self.grads["d" + k] = self.dtheta[at:at + self.params[k].size].reshape(self.params[k].shape)
        self.dWs = [self.grads[f"dW{l}"] for l in range(1, self.L + 1)]
        self.dbs = [self.grads[f"db{l}"] for l in range(1, self.L + 1)]
        self.dW_flat = [dW.reshape(-1) for dW in self.dWs]
        hidden = range(1, self.L)
        relu = self.activation == "relu"
        self._flat = {
            "Z": [np.empty(n * B, dt) for n in dims[1:]],
            # g(Z_l): for ReLU without callbacks, max(Z_l, 0) goes over Z_l itself (see _views_for)
            "G": [None if self.relu_in_place else np.empty(dims[l] * B, dt) for l in hidden],
            "A": [np.empty(dims[l] * B, dt) if self.keep_prob[l - 1] < 1 else None for l in hidden],
            "M": [np.empty(dims[l] * B, bool) if self.keep_prob[l - 1] < 1 else None for l in hidden],
            "dZ": [np.empty(n * B, dt) for n in dims[1:]],
            # 1[Z_l > 0] (the kernels compute it on the fly)
            "pos": [np.empty(dims[l] * B, bool) if relu and self.kernels is None else None for l in hidden],
            "tmp": [np.empty(dims[l] * B, dt) if not relu else None for l in hidden],  # g'(Z_l)
            "AL": [np.empty(dims[-1] * B, dt)],
            "cost": [np.empty(dims[-1] * B, dt), np.empty(dims[-1] * B, dt)],
            # relu: max(Z, 0) against zeros of Z's shape runs NumPy's loop for two contiguous
            # operands, several times faster than its loop for a scalar operand. For a large float32
            # Z the zeros are one row broadcast down Z's rows (see _views_for), measured in the
            # epoch: 152 -> 84 us a step for two (1024, 256) layers. Not elsewhere: for float64
            # the array of zeros was faster (110 against 148 us), and for a small Z the broadcast
            # costs more than it saves (1.4 against 0.6 us for (10, 300)). The same function.
            "zeros": [np.zeros(dims[l] * B, dt) if relu and not self.kernel_relu
                      and not (dt == np.float32 and dims[l] * B >= ZERO_ROW_MIN_SIZE) else None for l in hidden],
        }
        self._Xb = np.empty(dims[0] * B, dt) if self.X_rows is not None else None  # minibatch gather only
        self._zero_row = np.zeros((1, B), dt) if relu else None
        self._views = {}
        self.cache = None

    def _views_for(self, b: int) -> dict:
        """(n, b) C-contiguous views of the buffers for a batch of b examples (cached per b)."""
        views = self._views.get(b)
        if views is None:
            def shaped(buf):
                return None if buf is None else buf[:buf.size // self.capacity * b].reshape(-1, b)

            views = {name: [shaped(buf) for buf in bufs] for name, bufs in self._flat.items()}
            if self.relu_in_place:
                views["G"] = views["Z"][:-1]
            if self.relu:  # the zeros of max(Z, 0): their own array, or one row broadcast
                views["zeros"] = [np.broadcast_to(self._zero_row[:, :b], (n, b)) if zeros is None else zeros
                                  for n, zeros in zip(self.dims[1:-1], views["zeros"])]
            if self.defer_block:  # the (1, b) slots of the deferred costs' block (see flush_costs)
                views["ZL_slots"] = [slot[:, :b] for slot in self._zl]
                views["Y_slots"] = None if self._y is None else [slot[:, :b] for slot in self._y]
            views["m"] = self.dtype.type(b)  # the batch size, as the divisor in dZ_L = (A_L - Y) / m
            # Fortran order (n_x, b): the layout X[:, idx] has, so BLAS gets the same call.
            views["Xb"] = None if self._Xb is None else self._Xb[:self.dims[0] * b].reshape(b, self.dims[0]).T
            # A_l^T of the hidden layers for dW_{l+1} = dZ_{l+1} A_l^T (A_l is the dropout buffer when
            # keep_prob_l < 1, else g(Z_l)), made once per batch size rather than per step
            views["AT"] = [(G if A is None else A).T for G, A in zip(views["G"], views["A"])]
            # the product functions of layer l + 1 = 1 .. L (for contiguous operands; see _product)
            d = self.dims
            views["forward"] = [_product(d[l + 1] * b, d[l]) for l in range(self.L)]  # W_{l+1} A_l
            views["dW"] = [_product(d[l + 1] * d[l], b) for l in range(self.L)]  # dZ_{l+1} A_l^T
            views["dA"] = [_product(d[l] * b, d[l + 1]) for l in range(self.L)]  # W_{l+1}^T dZ_{l+1}
            # Z_l + b_l of the hidden layers on the BLAS's threads where Z_l is large (None: np.add)
            views["add_bias"] = [self.blas.add_columns if self.blas is not None and d[l + 1] * b >= _blas.MIN_SIZE
                                 else None for l in range(self.L - 1)]
            # the right factors of dW_l = dZ_l A_{l-1}^T; the first is the data's (None: a gathered
            # minibatch without the row layout, whose layout is NumPy's to choose)
            first = self.XT if b == self.X.shape[1] else None if views["Xb"] is None else views["Xb"].T
            views["scaled_dW"] = [b == self.capacity and self._gemm_scales(self.dWs[l], views["dZ"][l], B)
                                  for l, B in enumerate([first] + views["AT"])]
            views["rest"] = self._rest_parts(views["scaled_dW"])
            self._views[b] = views
        return views

    def _gemm_scales(self, dW, dZ, B) -> bool:
        """Whether ``dW = lr * (dZ B)`` is one gemm (``_blas.scaled_product``): only where the
        update is BLAS's and reads nothing but ``lr * dW`` (no L2 term to add first), for a large
        dW, and where that gemm gives ``np.multiply(lr, dZ @ B)``'s bits for this shape
        (``scaled_product_is_exact``). Asked for full batches only (a shorter last minibatch,
        once an epoch, keeps the separate scaling: not worth a trial)."""
        if not self.blas_update or self.l2 or B is None or not _contiguous(B) or dW.size < _blas.MIN_SIZE:
            return False
        # the trial reads only dZ's and B's shapes and layouts; its output goes into dW itself,
        # which backward overwrites before anything reads it
        return self.blas.scaled_product_is_exact(self.lr, dZ, B, scratch=dW)

    def _rest_parts(self, scaled_dW: list) -> list:
        """What ``update()`` has to do: (``theta`` part, ``dtheta`` part) pairs of views covering
        every parameter but the W_l whose gradient gemm scaled by ``lr`` (backward updates those);
        neighbours merged into one pair, with the zero padding between them."""
        parts, start, end = [], None, 0
        for k, at in zip(self._keys, self._offsets):
            if k[0] == "W" and scaled_dW[int(k[1:]) - 1]:
                if start is not None:
                    parts.append((self.theta[start:end], self.dtheta[start:end]))
                start = None
                continue
            start = at if start is None else start
            end = at + self.params[k].size
        if start is not None:
            parts.append((self.theta[start:end], self.dtheta[start:end]))
        return parts

    def __call__(self, idx, rng) -> float:
        """Forward, cost and backward on the examples ``idx`` (None: all); return the cross-entropy."""
        L, Ws, bs, keep, scale = self.L, self.Ws, self.bs, self.keep_prob, self.scale
        if idx is None:
            Xb, Yb, XbT = self.X, self.Y, self.XT
            v = self._views.get(Xb.shape[1]) or self._views_for(Xb.shape[1])
        else:
            v = self._views_for(len(idx))
            if self.X_rows is not None:
                Xb = v["Xb"]
                if self.kernels is not None and idx.dtype == np.int64:  # np.take's copy, rows prefetched
                    self.kernels.take_rows(Xb.T, self.X_rows, idx)
                else:
                    np.take(self.X_rows, idx, axis=0, out=Xb.T, mode="clip")  # the rows idx, in order
            else:
                Xb = self.X[:, idx]
            if self.defer_block:  # into the block, beside Z_L's slot: the values of Y[:, idx]
                Yb = v["Y_slots"][self._pending]
                np.take(self.Y[0], idx, out=Yb[0], mode="clip")
            else:
                Yb = self.Y[:, idx]  # (n_L, b), small: the same fancy-indexed array as the plain step
            XbT = Xb.T
        m = Yb.shape[1]
        # the L2 term of this batch's cost, from the weights before the step (the loop adds it)
        self.penalty = l2_penalty(self.params, self.l2, m) if self.l2 else 0.0
        zero, Zs, Gs = self.zero, v["Z"], v["G"]
        # forward: Z_l = W_l A_{l-1} + b_l; A_l = g(Z_l) (* D_l / keep_prob_l)
        A, As, masks = Xb, [Xb], []
        # the products with the data: np.matmul's own loop for non-contiguous X (see _contiguous)
        X_ok = self.X_contiguous if idx is None else _contiguous(Xb)
        forward, add_bias = v["forward"], v["add_bias"]
        for l in range(L - 1):  # hidden layers l + 1 = 1 .. L-1
            Z, G = Zs[l], Gs[l]
            (forward[l] if l or X_ok else np.matmul)(Ws[l], A, out=Z)
            if self.kernel_relu:  # Z := max(Z + b, 0) in one pass: np.add, then np.maximum (G is Z)
                self.kernels.bias_relu(Z, bs[l])
            else:
                if add_bias[l] is None:
                    np.add(Z, bs[l], out=Z)  # (n_l, m)
                else:
                    add_bias[l](Z, bs[l])  # Z + b on the BLAS's threads (see _blas)
                if self.relu:
                    np.maximum(Z, v["zeros"][l], out=G)
                elif self.activation == "sigmoid":
                    expit(Z, out=G)
                else:
                    np.tanh(Z, out=G)
            if keep[l] < 1:  # dropout.draw_mask, then apply_mask: (U < p), then (G * D) * (1/p)
                mask = np.less(rng.random(G.shape), keep[l], out=v["M"][l])
                A = np.multiply(G, mask, out=v["A"][l])
                np.multiply(A, scale[l], out=A)
            else:
                mask, A = None, G
            masks.append(mask)
            As.append(A)
        ZL = v["ZL_slots"][self._pending] if self.defer_block else Zs[L - 1]  # (n_L, m)
        (forward[L - 1] if L > 1 or X_ok else np.matmul)(Ws[L - 1], A, out=ZL)
        np.add(ZL, bs[L - 1], out=ZL)
        if self.output == "sigmoid":
            A = expit(ZL, out=v["AL"][0])
            if self.defer_block:  # Z_L stays in its slot; flush_costs() computes the cost
                self._pending += 1
                self._last_width = m
                ce = None
            else:
                c1, c2 = v["cost"]
                ce = float(np.add.reduce(_binary_cross_entropy_terms(ZL, Yb, c1, c2), axis=None,
                                         dtype=np.float64) / m)
        else:
            A = OUTPUTS[self.output].activation(ZL)  # softmax: small (K, m), a fresh array
            ce = OUTPUTS[self.output].cost(ZL, Yb)
        As.append(A)
        # backward: dZ_L = (A_L - Y) / m; dW_l = dZ_l A_{l-1}^T (+ (l2/m) W_l); db_l = sum_cols dZ_l
        dZs = v["dZ"]
        dZ = dZs[L - 1]
        np.subtract(A, Yb, out=dZ)
        np.divide(dZ, v["m"], out=dZ)
        dWs, dbs, WTs, ATs, dW_product, dA_product = self.dWs, self.dbs, self.WTs, v["AT"], v["dW"], v["dA"]
        scaled = v["scaled_dW"]
        self.rest = v["rest"]  # what update() has left to do
        for l in range(L - 1, -1, -1):  # layer l + 1 = L .. 1
            dW = dWs[l]
            if scaled[l]:  # lr * (dZ A_l^T), the update's scaling done by gemm (see _gemm_scales)
                self.blas.scaled_product(self.lr, dZ, ATs[l - 1] if l else XbT, dW)
            else:
                (dW_product[l] if l or X_ok else np.matmul)(dZ, ATs[l - 1] if l else XbT, out=dW)  # dZ A_l^T
            if self.l2:  # regularization.l2_gradient: (l2 / m) * W, then added
                np.add(dW, np.multiply(self.l2 / m, Ws[l], out=self.l2_scratch[l]), out=dW)
            if l == L - 1 or self.kernels is None:  # (with the kernels, a hidden db came with its mask)
                np.add.reduce(dZ, axis=1, keepdims=True, out=dbs[l])  # np.sum(dZ, axis=1): (n_l, 1)
            if l:  # dA_{l-1} = W_l^T dZ_l (* D / p), then dZ_{l-1} = dA_{l-1} * g'(Z_{l-1})
                dA = dZs[l - 1]
                dA_product[l](WTs[l], dZ, out=dA)  # the last read of the old W_l
                if masks[l - 1] is not None:
                    np.multiply(dA, masks[l - 1], out=dA)
                    np.multiply(dA, scale[l - 1], out=dA)
                if self.kernels is not None:  # dA * 1[Z > 0], and db_{l-1}: its row sums, in one pass
                    self.kernels.relu_mask_sum(dA, Zs[l - 1], dbs[l - 1])
                elif self.relu:  # dA * 1[Z > 0]
                    np.multiply(dA, np.greater(Zs[l - 1], zero, out=v["pos"][l - 1]), out=dA)
                else:
                    G, t = Gs[l - 1], v["tmp"][l - 1]
                    if self.activation == "sigmoid":  # A (1 - A)
                        np.multiply(G, np.subtract(self.one, G, out=t), out=t)
                    else:  # 1 - A^2
                        np.subtract(self.one, np.multiply(G, G, out=t), out=t)
                    np.multiply(dA, t, out=dA)
                dZ = dA
            if scaled[l]:  # W_l := W_l - lr dW_l now (gemm scaled dW_l), while both are in cache
                self.blas.subtract(self.W_flat[l], self.dW_flat[l])
        self._last = (v, As, masks)
        self.cache = None
        return ce

    def flush_costs(self) -> list:
        """The cross-entropies of the deferred batches, in order (``binary_cross_entropy``'s numbers)."""
        n, b, w = self._pending, self._zl.shape[2], self._last_width
        full = n if w == b else n - 1  # a shorter last minibatch (the epoch's end) is summed on its own
        Y = self.Y if self._y is None else self._y[:full]
        c1 = _binary_cross_entropy_terms(self._zl[:full], Y, self._c1[:full], self._c2[:full])  # (full, 1, b)
        # losses.binary_cross_entropy sums each (1, b) row with np.sum(..., dtype=float64) (pairwise
        # summation along the row). Reducing axes (1, 2) of the C-contiguous block runs that same
        # inner loop once per row (the row is the innermost, contiguous axis), in one call instead of
        # n; then the division by b and the conversion to Python floats are elementwise (IEEE, same
        # numbers). Checked equal to the per-row sums for float32 and float64, b = 1 .. 32768.
        costs = (np.add.reduce(c1, axis=(1, 2), dtype=np.float64) / b).tolist()
        if full < n:
            last = _binary_cross_entropy_terms(self._zl[full, :, :w], self._y[full, :, :w], self._c1[full, :, :w],
                                               self._c2[full, :, :w])
            costs.append(float(np.add.reduce(last, axis=None, dtype=np.float64) / w))
        self._pending = 0
        return costs

    def update(self):
        """``W := W - lr * dW`` for every array at once (elementwise: the same numbers as per array),
        but for the W_l that backward has already updated (see ``_rest_parts``)."""
        if self.blas_update:  # the same two roundings, on the BLAS's threads where the part is large
            for theta, dtheta in self.rest:
                if dtheta.size >= _blas.MIN_SIZE:
                    self.blas.scal(self.lr, dtheta)
                    self.blas.subtract(theta, dtheta)
                else:
                    np.subtract(theta, np.multiply(self.lr, dtheta, out=dtheta), out=theta)
            return
        scaled = self.dtheta if self.scratch is None else self.scratch
        np.multiply(self.lr, self.dtheta, out=scaled)
        np.subtract(self.theta, scaled, out=self.theta)

    def last_cache(self) -> Cache:
        """The ``network.Cache`` of the last batch, built on demand from views of the buffers."""
        if self.cache is None:
            v, As, masks = self._last
            self.cache = Cache(Z=list(v["Z"]), A=As, G=list(v["G"]), masks=masks, keep_prob=self.keep_prob,
                               activation=self.activation, output=self.output)
        return self.cache

    def release(self):
        """A callback was handed ``grads`` and the cache: switch to fresh buffers, so that what it
        kept is never overwritten (the plain step's semantics). Costs one allocation per iteration,
        only when there are callbacks."""
        self._allocate()


#: float32 ReLU layers of at least this many entries (at the largest batch) take their zeros as
#: one broadcast row, the others as an array of zeros (see ``_FusedStep._allocate``).
ZERO_ROW_MIN_SIZE = 1 << 16

#: Products with at least this many output entries use ``np.matmul`` (see ``_product``).
MATMUL_MIN_OUTPUT = 4096


def _product(out_size: int, inner: int):
    """``np.dot`` or ``np.matmul`` for a product of C- or F-contiguous 2-D float arrays with
    ``out_size`` output entries and inner size ``inner``: the same bits, whichever is faster.

    For such operands ``np.matmul`` calls gemm (gemv when an operand is a single row or column)
    with the operands as they are, transposed by a flag, and ``np.dot`` makes the same call with
    less overhead per call, but first zero-fills the output (NumPy's ``cblas_matrixproduct``): a
    pass over it that costs more than the overhead from a few thousand entries on. With an inner
    size of 1, ``np.matmul`` runs its own loop instead of gemm (259 against 27 us for a
    (1024, 1) x (1, 256) float32 product here), so ``np.dot`` keeps those.
    """
    return np.matmul if inner > 1 and out_size >= MATMUL_MIN_OUTPUT else np.dot


def _contiguous(X: np.ndarray) -> bool:
    """Whether the products with X can be ``_product``'s choice: for a 2-D array that is neither
    C- nor F-contiguous ``np.matmul`` uses its own loop and ``np.dot`` would copy first, so such an
    X keeps ``np.matmul``. The work buffers are always C-contiguous; only the data needs the check."""
    return X.flags.c_contiguous or X.flags.f_contiguous


def _binary_cross_entropy_terms(ZL, Y, c1, c2):
    """``losses.binary_cross_entropy``'s per-example terms into c1, in its order of operations:
    ``(max(z, 0) - z y) + log1p(exp(-|z|))``; c2 is scratch. Returns c1."""
    np.maximum(ZL, 0, out=c1)
    np.subtract(c1, np.multiply(ZL, Y, out=c2), out=c1)
    np.abs(ZL, out=c2)
    np.negative(c2, out=c2)
    np.log1p(np.exp(c2, out=c2), out=c2)
    return np.add(c1, c2, out=c1)


def _fusable(params: dict, X: np.ndarray, Y: np.ndarray) -> bool:
    """The fused step handles one float dtype everywhere and the standard W1, b1, ... layout."""
    if not (isinstance(X, np.ndarray) and isinstance(Y, np.ndarray) and X.ndim == 2 and Y.ndim == 2):
        return False
    dt = X.dtype
    if dt not in (np.float32, np.float64) or Y.dtype != dt or len(params) % 2:
        return False
    L = len(params) // 2
    n_prev = X.shape[0]
    for l in range(1, L + 1):
        W, b = params.get(f"W{l}"), params.get(f"b{l}")
        if not (isinstance(W, np.ndarray) and isinstance(b, np.ndarray)) or W.dtype != dt or b.dtype != dt:
            return False
        if W.ndim != 2 or W.shape[1] != n_prev or b.shape != (W.shape[0], 1):
            return False
        n_prev = W.shape[0]
    return Y.shape[0] == n_prev and Y.shape[1] == X.shape[1]


#: Training is declared divergent when an iteration's cost exceeds this many times (first cost + 1).
DIVERGENCE_FACTOR = 10.0


def _record(history: History, iteration: int, total: float, cross_entropy: float, learning_rate: float):
    """Append one iteration's costs; a non-finite or exploding cost stops training with NumericalError.

    Exploding: ``total > DIVERGENCE_FACTOR * (cost_1 + 1)``. Gradient descent with a workable
    learning rate never climbs that far above its starting cost; overshooting steps do within a
    few iterations, long before the cost overflows.
    """
    if not math.isfinite(total):  # total is a Python float: the same test as np.isfinite, cheaper
        raise _numerical_error(f"the cost became {total}", iteration, learning_rate)
    if history.cost and total > DIVERGENCE_FACTOR * (history.cost[0] + 1.0):
        raise _numerical_error(f"the cost rose to {total:.4g} (from {history.cost[0]:.4g} at the start)",
                               iteration, learning_rate)
    history.cost.append(total)
    history.cross_entropy.append(cross_entropy)
    history.n_iter = iteration


def _record_deferred(history: History, pending: list, step, learning_rate: float):
    """Record the iterations whose batches' costs the step deferred: ``pending`` holds (iteration,
    weight, L2 penalty) per batch, summed per iteration in the loop's order (the same floats)."""
    current = None
    for (iteration, weight, penalty), ce in zip(pending, step.flush_costs(), strict=True):
        if iteration != current:
            if current is not None:
                _record(history, current, total, cross_entropy, learning_rate)
            current, cross_entropy, total = iteration, 0.0, 0.0
        cross_entropy += weight * ce
        total += weight * (ce + penalty)
    _record(history, current, total, cross_entropy, learning_rate)
    pending.clear()


def _check_blas_threads(blas_threads):
    if blas_threads is None:
        return None
    if isinstance(blas_threads, bool) or not isinstance(blas_threads, (int, np.integer)) or blas_threads < 1:
        raise ValueError(f"blas_threads must be None or a positive integer, got {blas_threads!r}")
    return int(blas_threads)


def train(params: dict, X: np.ndarray, Y: np.ndarray, *, learning_rate: float, max_iter: int, rng,
          batch_size: Optional[int] = None, l2: float = 0.0, keep_prob=1.0, activation: str = "relu",
          output: str = "sigmoid", validation: Optional[tuple] = None, n_iter_no_change: int = 100,
          tol: float = 1e-6, callbacks: tuple = (), blas_threads: Optional[int] = None,
          fused: bool = True) -> tuple[dict, History]:
    """Train a copy of ``params`` on X (n_x, m), Y (n_L, m); return ``(params, history)``.

    With ``validation=(X_val, Y_val)`` training stops early when the validation cross-entropy has
    not improved by more than ``tol`` for ``n_iter_no_change`` iterations, and the parameters of
    the best iteration are restored. A callback returning True stops training too.

    ``blas_threads``: the number of threads the BLAS library may use during training (None: its
    default). ``fused=False`` takes the plain step built from the public core functions (the
    fused step gives the same bits, faster; see the module docstring).
    """
    blas_threads = _check_blas_threads(blas_threads)
    # Overflow on the way to a divergence is reported once, as NumericalError, not as warnings.
    if blas_threads is None:
        with np.errstate(over="ignore", invalid="ignore"):
            return _train(params, X, Y, learning_rate, max_iter, rng, batch_size, l2, keep_prob, activation, output,
                          validation, n_iter_no_change, tol, tuple(callbacks), fused)
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    with threadpool_limits(limits=blas_threads, user_api="blas"), np.errstate(over="ignore", invalid="ignore"):
        return _train(params, X, Y, learning_rate, max_iter, rng, batch_size, l2, keep_prob, activation, output,
                      validation, n_iter_no_change, tol, tuple(callbacks), fused)


def _train(params, X, Y, learning_rate, max_iter, rng, batch_size, l2, keep_prob, activation, output,
           validation, n_iter_no_change, tol, callbacks, fused):
    m = X.shape[1]
    full_batch = batch_size is None or batch_size >= m
    settings = dict(l2=l2, activation=activation, output=output, learning_rate=learning_rate)
    if fused and _fusable(params, X, Y):
        get_activation(activation)  # the same checks (and messages) as forward_propagation
        check_choice("output", output, OUTPUTS)
        keep = check_keep_prob(keep_prob, len(params) // 2 - 1)
        # the fused step draws from rng directly; anything else (None, a seed) gets the plain step's
        # handling and messages
        draws = not full_batch or any(p < 1 for p in keep)
        fused = isinstance(rng, (np.random.RandomState, np.random.Generator)) or not draws
    else:
        fused = False
    if fused:
        step = _FusedStep(params, X, Y, batch_capacity=m if full_batch else batch_size, keep_prob=keep,
                          callbacks=bool(callbacks), **settings)
    else:
        step = _PlainStep({k: v.copy() for k, v in params.items()}, X, Y, keep_prob=keep_prob, **settings)
    params = step.params
    history = History()
    pending = []  # (iteration, weight, L2 penalty) of batches whose cross-entropy the step computes later
    best_cost, best_params, since_best = np.inf, None, 0
    full = (None,)  # the full batch's "index" list, built once (not by _batches every iteration)
    for iteration in range(1, max_iter + 1):
        total = cross_entropy = 0.0
        for idx in full if full_batch else _batches(m, batch_size, rng):
            ce = step(idx, rng)
            mb = m if idx is None else len(idx)
            penalty = step.penalty  # l2_penalty(params, l2, mb), taken before the update
            step.update()
            weight = mb / m
            if ce is None:  # deferred: see _FusedStep
                pending.append((iteration, weight, penalty))
                continue
            cross_entropy += weight * ce
            total += weight * (ce + penalty)
        if pending:
            if len(pending) == step.defer_block:
                _record_deferred(history, pending, step, learning_rate)
        else:
            _record(history, iteration, total, cross_entropy, learning_rate)
        stop = False
        if callbacks:
            cache = step.last_cache() if isinstance(step, _FusedStep) else step.cache
            info = IterationInfo(iteration, params, step.grads, total, cross_entropy, cache)
            for callback in callbacks:
                stop = bool(callback(info)) or stop
            step.release()
        if stop:
            history.stop_reason = f"stopped by a callback at iteration {iteration}"
            break
        if validation is not None:
            X_val, Y_val = validation
            _, val_cache = forward_propagation(params, X_val, 1.0, activation=activation, output=output)
            val_cost = compute_cost(val_cache, Y_val)
            history.validation_cost.append(val_cost)
            if val_cost < best_cost - tol:
                best_cost, since_best = val_cost, 0
                best_params = {k: v.copy() for k, v in params.items()}
                history.best_iteration = iteration
            else:
                since_best += 1
            if since_best >= n_iter_no_change:
                history.stop_reason = (
                    f"early stopping at iteration {iteration}: the validation cost did not improve by more "
                    f"than tol={tol} for n_iter_no_change={n_iter_no_change} iterations; restored the "
                    f"parameters of iteration {history.best_iteration} (validation cost {best_cost:.6g})"
                )
                break
    else:
        history.stop_reason = f"max_iter={max_iter} iterations done"
    if pending:
        _record_deferred(history, pending, step, learning_rate)
    step = None  # free the step's gradient and work buffers before copying the parameters out
    if best_params is not None:
        params = best_params
        if "restored" not in history.stop_reason:
            history.stop_reason += (
                f"; restored the parameters of iteration {history.best_iteration} "
                f"(best validation cost {best_cost:.6g})"
            )
    else:
        params = {k: v.copy() for k, v in params.items()}  # own arrays, not views of the step's buffers
    if not all(np.isfinite(v).all() for v in params.values()):
        raise _numerical_error("the parameters overflowed", history.n_iter, learning_rate)
    return params, history
