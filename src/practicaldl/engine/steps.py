"""The training steps: the reference step (the public core functions) and the fast step.

A step works on one batch, all the examples (``idx=None``) or the columns ``idx`` of X (n_x, m)
and Y (n_L, m): ``step(idx, rng)`` runs forward, returns the cross-entropy of the batch before
the update, and leaves the L2 term in ``step.penalty`` and the gradients in ``step.dtheta``;
``step.update()`` then hands ``theta`` and ``dtheta`` to the optimizer. Both steps keep the
parameters as views of one flat vector ``theta`` (``FlatLayout``: W1, b1, W2, ... in order, each
row-major) and take the same optimizer objects (``engine.optimizers``).

``ReferenceStep`` calls ``forward_propagation``, ``compute_cost``, ``l2_penalty`` and
``backward_propagation`` as a user would, then copies the gradient dict into dtheta.

``FastStep`` runs the same operations in the same order, so its numbers are the reference step's
bit for bit (``tests/engine/test_steps.py`` checks it over every registered activation, output,
L2, dropout, batch size and dtype), but does less work:

- buffers for every layer's Z, g(Z), dropout mask, dropped-out A and dZ, allocated once for the
  largest batch (a shorter last minibatch uses the leading part of the same memory, reshaped);
- the parameters and gradients are views of theta and dtheta, so the optimizer updates all of
  them with a few calls over two vectors;
- a minibatch of X is gathered with ``np.take(..., out=)`` into one reused buffer, in the layout
  ``X[:, idx]`` has (Fortran order), so the products see the operands the reference step gives
  them; nothing copies the data set;
- the hidden activation and the output come from their registries (``core.activations``,
  ``core.losses``): their in-place forms where the registry has them, else their functions (a
  fresh array per call: the same numbers);
- ``dA_0 = W_1^T dZ_1``, the gradient with respect to the data, is never computed;
- small products and outer products are ``np.dot`` calls (``_product``), which cost less per call
  than ``@`` (most of a small network's step is per-call overhead), large ones ``np.matmul``, as
  ``@``. For 2-D contiguous float operands NumPy hands ``np.dot`` and ``@`` to the same BLAS
  routine here, and the tests compare the bits; a NumPy build that did otherwise would give the
  reference step's numbers up to rounding. A full-batch X that is neither C- nor F-contiguous
  keeps ``@``, whose own loop the reference step runs on it;
- for full batches, the cost's elementwise terms are evaluated once per block of iterations
  (``flush_costs``) instead of once per step.

What the fast step cannot do goes to the reference step, and ``fast_step_problem`` says why:
X, Y and the parameters not of one float dtype (float32 or float64), or an activation whose
functions do not keep the dtype and shape of their input (checked on a small array).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.activations import ACTIVATIONS
from ..core.losses import OUTPUTS
from ..core.network import Cache, backward_propagation, compute_cost, forward_propagation
from ..core.regularization import l2_penalty


class FlatLayout:
    """Where each array of a parameter dict ``W1, b1, ..., WL, bL`` lives in one flat vector.

    Order W1, b1, W2, b2, ... (each row-major): ``gradcheck.dictionary_to_vector``'s order.
    """

    def __init__(self, params: dict):
        L = len(params) // 2
        self.keys = [k for l in range(1, L + 1) for k in (f"W{l}", f"b{l}")]
        self.shapes = [params[k].shape for k in self.keys]
        sizes = [params[k].size for k in self.keys]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        self.size = self.offsets[-1]

    def views(self, flat: np.ndarray, prefix: str = "") -> dict:
        """``{prefix + key: view of flat}``, shaped as the parameters."""
        return {prefix + k: flat[a:b].reshape(shape)
                for k, shape, a, b in zip(self.keys, self.shapes, self.offsets, self.offsets[1:])}

    def flatten(self, arrays: dict, prefix: str = "") -> np.ndarray:
        """A new flat vector of ``arrays[prefix + key]`` in order (their promoted dtype)."""
        return np.concatenate([np.ravel(arrays[prefix + k]) for k in self.keys])


class ReferenceStep:
    """One step with the public core functions: the reference the fast step equals."""

    def __init__(self, params, X, Y, *, l2, keep_prob, activation, output, optimizer):
        self.layout = FlatLayout(params)
        self.theta = self.layout.flatten(params)  # a copy: training never writes the caller's arrays
        self.params = self.layout.views(self.theta)
        self.X, self.Y, self.l2, self.keep_prob = X, Y, l2, keep_prob
        self.activation, self.output, self.optimizer = activation, output, optimizer
        self.dtheta = self.grads = self.cache = None
        self.penalty = 0.0

    def __call__(self, idx, rng) -> float:
        """Forward and backward on the examples ``idx`` (None: all); their cross-entropy."""
        Xb, Yb = (self.X, self.Y) if idx is None else (self.X[:, idx], self.Y[:, idx])
        _, cache = forward_propagation(self.params, Xb, self.keep_prob, rng, activation=self.activation,
                                       output=self.output)
        ce = compute_cost(cache, Yb)
        self.penalty = l2_penalty(self.params, self.l2, Yb.shape[1])  # before the update
        self.grads = backward_propagation(self.params, Yb, cache, self.l2)
        first = self.dtheta is None
        self.dtheta = self.layout.flatten(self.grads, "d")
        if first:
            self.optimizer.bind(self.theta, self.dtheta)
        self.cache = cache
        return ce

    def update(self) -> None:
        self.optimizer.step(self.theta, self.dtheta)

    def last_cache(self) -> Cache:
        return self.cache

    def release(self) -> None:
        """Nothing to do: every step makes new arrays, so what a callback kept stays valid."""


def fast_step_problem(params: dict, X: np.ndarray, Y: np.ndarray, activation: str) -> Optional[str]:
    """Why the fast step cannot train this (a sentence), or None when it can."""
    dtypes = sorted({str(a.dtype) for a in (X, Y, *params.values())})
    if dtypes not in (["float32"], ["float64"]):
        return f"X, Y and the parameters do not share one float dtype (float32 or float64): {dtypes}"
    try:
        Z, A, D = _probe(ACTIVATIONS[activation], X.dtype)
    except Exception as exc:  # the reference step raises it where the user can see it
        return f"activation {activation!r} fails on a small {X.dtype} array ({type(exc).__name__}: {exc})"
    for what, out, ok in (("forward", A, (X.dtype,)), ("derivative", D, (X.dtype, np.bool_))):
        if not isinstance(out, np.ndarray) or out.shape != Z.shape or out.dtype not in ok:
            got = f"{type(out).__name__} {getattr(out, 'dtype', '')} {getattr(out, 'shape', '')}".strip()
            return (f"the {what} of activation {activation!r} does not return an array of its input's "
                    f"dtype and shape ({X.dtype} {Z.shape}; got {got})")
    return None


def _probe(act, dtype):
    """``(Z, g(Z), g'(Z))`` of an activation on a small array of ``dtype``."""
    Z = np.linspace(-2, 2, 6, dtype=dtype).reshape(2, 3)
    A = act.forward(Z)
    return Z, A, act.derivative(Z, A)


#: Products with at least this many output entries use ``np.matmul`` (see ``_product``).
MATMUL_MIN_OUTPUT = 4096


def _product(out_size: int, inner: int):
    """``np.dot`` or ``np.matmul`` for a product with ``out_size`` output entries and inner size
    ``inner``: ``np.dot`` costs less per call, but clears its output before the BLAS call, a pass
    over it that a large product pays for; ``np.matmul`` runs its own loop, not BLAS, for an inner
    size of 1 (an outer product)."""
    return np.dot if inner == 1 or out_size < MATMUL_MIN_OUTPUT else np.matmul


#: Full-batch iterations whose costs the fast step computes in one block, and the block's most entries.
DEFER_BLOCK, DEFER_ENTRIES = 64, 1 << 16


class FastStep:
    """The reference step's operations, into buffers allocated once (see the module docstring)."""

    def __init__(self, params, X, Y, *, batch_capacity, l2, keep_prob, activation, output, optimizer,
                 defer_costs=False):
        self.X, self.Y, self.l2, self.keep_prob = X, Y, l2, keep_prob
        self.activation, self.output, self.optimizer = activation, output, optimizer
        self.act, self.out = ACTIVATIONS[activation], OUTPUTS[output]
        self.dtype = dtype = X.dtype
        self.layout = FlatLayout(params)
        self.theta = self.layout.flatten(params)  # a copy: training never writes the caller's arrays
        self.params = self.layout.views(self.theta)
        self.L = L = len(params) // 2
        self.dims = [X.shape[0]] + [params[f"W{l}"].shape[0] for l in range(1, L + 1)]
        self.Ws = [self.params[f"W{l}"] for l in range(1, L + 1)]
        self.bs = [self.params[f"b{l}"] for l in range(1, L + 1)]
        self.WTs = [W.T for W in self.Ws]  # views of theta, made once
        self.scale = [dtype.type(1.0 / p) for p in keep_prob]  # dropout.apply_mask's factor
        self.l2_terms = [np.empty_like(W) for W in self.Ws] if l2 else None  # (l2 / m) W_l
        self.capacity = batch_capacity
        # X (n_x, m) as the transpose of a C-ordered (m, n_x) array (the estimator's): a minibatch
        # is a gather of rows, the fastest copy there is
        self.X_rows = X.T if X.T.flags.c_contiguous else None
        self.penalty = 0.0
        self._derivative_dtype = _probe(self.act, dtype)[2].dtype
        # deferred costs (full batch, an elementwise output, no callbacks): Z_L of up to DEFER_BLOCK
        # iterations kept in a block and their costs computed in one pass (flush_costs), since on a
        # small network the cost's NumPy calls are a large part of a step
        m = X.shape[1]
        block = min(DEFER_BLOCK, DEFER_ENTRIES // (m * self.dims[-1]))
        self.defer_block = block if defer_costs and batch_capacity >= m and self.out.elementwise and block > 1 else 0
        self._zl = np.zeros((self.defer_block, self.dims[-1], m), dtype) if self.defer_block else None
        self._pending = 0
        self._allocate()
        optimizer.bind(self.theta, self.dtheta)

    def _allocate(self) -> None:
        """Fresh gradient and work buffers (also after a callback was handed the old ones)."""
        B, dims, dt, L = self.capacity, self.dims, self.dtype, self.L
        self.dtheta = np.zeros(self.layout.size, dt)
        self.grads = self.layout.views(self.dtheta, "d")
        self.dWs = [self.grads[f"dW{l}"] for l in range(1, L + 1)]
        self.dbs = [self.grads[f"db{l}"] for l in range(1, L + 1)]
        hidden = dims[1:-1]
        dropout = [p < 1 for p in self.keep_prob]
        self._flat = {  # (n * B,) each; _views_for(b) shapes them (n, b)
            "Z": [np.empty(n * B, dt) for n in dims[1:]],
            "G": [np.empty(n * B, dt) if self.act.forward_into else None for n in hidden],
            "M": [np.empty(n * B, bool) if d else None for n, d in zip(hidden, dropout)],
            "A": [np.empty(n * B, dt) if d else None for n, d in zip(hidden, dropout)],
            "dZ": [np.empty(n * B, dt) for n in dims[1:]],
            "AL": [np.empty(dims[-1] * B, dt) if self.out.activation_into else None],
            # g'(Z_l) of one hidden layer at a time, of the dtype the derivative returns (bool for ReLU)
            "D": [np.empty(max(hidden, default=0) * B, self._derivative_dtype) if self.act.derivative_into else None],
        }
        self._Xb = np.empty(B * dims[0], dt) if B < self.X.shape[1] else None
        self._views = {}
        self._last = None

    def _views_for(self, b: int) -> dict:
        """Per-layer views of the buffers for a batch of b examples, (n, b) C-contiguous (made once per b)."""
        def shaped(buf, n):
            return None if buf is None else buf[:n * b].reshape(n, b)

        f, hidden = self._flat, self.dims[1:-1]
        Z = [shaped(z, n) for z, n in zip(f["Z"], self.dims[1:])]
        v = {"Z": Z, "dZ": [shaped(z, n) for z, n in zip(f["dZ"], self.dims[1:])],
             "AL": shaped(f["AL"][0], self.dims[-1]),
             "m": self.dtype.type(b),  # the divisor of dZ_L = (A_L - Y) / m, in the data's dtype
             "D": [shaped(f["D"][0], n) for n in hidden],
             # (n_x, b) in Fortran order, the layout of X[:, idx]
             "X": None if self._Xb is None else self._Xb[:b * self.dims[0]].reshape(b, self.dims[0]).T}
        # the product functions of layer l + 1 = 1 .. L (see _product): W A_l, dZ A_l^T, W^T dZ
        d = self.dims
        v["forward"] = [_product(d[l + 1] * b, d[l]) for l in range(self.L)]
        v["dW"] = [_product(d[l + 1] * d[l], b) for l in range(self.L)]
        v["dA"] = [_product(d[l] * b, d[l + 1]) for l in range(self.L)]
        if b == self.X.shape[1] and not (self.X.flags.c_contiguous or self.X.flags.f_contiguous):
            v["forward"][0] = v["dW"][0] = np.matmul  # the reference step's @, whose own loop takes such an X
        # forward, per hidden layer: W_l, b_l, Z_l, g(Z_l), mask, dropped-out A_l, keep_prob_l, 1 / keep_prob_l,
        # the product function
        v["hidden"] = list(zip(self.Ws, self.bs, Z, *([shaped(buf, n) for buf, n in zip(f[k], hidden)]
                                                      for k in ("G", "M", "A")), self.keep_prob, self.scale,
                               v["forward"]))
        self._views[b] = v
        return v

    def __call__(self, idx, rng) -> float:
        """Forward and backward on the examples ``idx`` (None: all); their cross-entropy."""
        if idx is None:
            Xb, Yb = self.X, self.Y
            b = Xb.shape[1]
            v = self._views.get(b) or self._views_for(b)
        else:
            b = len(idx)
            v = self._views.get(b) or self._views_for(b)
            Xb = v["X"]
            if self.X_rows is not None:  # rows idx of X^T, in order; mode="clip" writes out= directly
                np.take(self.X_rows, idx, axis=0, out=Xb.T, mode="clip")
            else:
                np.take(self.X, idx, axis=1, out=Xb, mode="clip")
            Yb = self.Y[:, idx]  # (n_L, b), small: the reference step's own array
        l2 = self.l2
        self.penalty = l2_penalty(self.params, l2, b) if l2 else 0.0  # before the update
        # forward: Z_l = W_l A_{l-1} + b_l; A_l = g(Z_l) (* D_l / keep_prob_l)
        forward, forward_into = self.act.forward, self.act.forward_into
        A, As, Gs, masks = Xb, [Xb], [], []
        for W, bias, Z, G, mask, A_drop, keep, scale, product in v["hidden"]:
            product(W, A, out=Z)
            np.add(Z, bias, out=Z)
            G = forward(Z) if G is None else forward_into(Z, G)
            if mask is None:
                A = G
            else:  # dropout.draw_mask, then apply_mask: (U < p), then (G * D) * (1 / p)
                np.less(rng.random(G.shape), keep, out=mask)
                A = np.multiply(G, mask, out=A_drop)
                np.multiply(A, scale, out=A)
            Gs.append(G)
            masks.append(mask)
            As.append(A)
        ZL = v["forward"][-1](self.Ws[-1], A, out=v["Z"][-1] if self._zl is None else self._zl[self._pending])
        np.add(ZL, self.bs[-1], out=ZL)
        AL = self.out.activation(ZL) if v["AL"] is None else self.out.activation_into(ZL, v["AL"])
        As.append(AL)
        if self._zl is None:
            ce = self.out.cost(ZL, Yb)
        else:  # Z_L stays in its slot of the block; flush_costs() computes the cost
            self._pending += 1
            ce = None
        # backward: dZ_L = (A_L - Y) / m; dW_l = dZ_l A_{l-1}^T (+ (l2 / m) W_l); db_l = sum_columns dZ_l;
        # dZ_{l-1} = (W_l^T dZ_l) (* D_{l-1} / keep_prob_{l-1}) * g'(Z_{l-1})
        derivative, derivative_into = self.act.derivative, self.act.derivative_into
        dZs, D = v["dZ"], v["D"]
        dZ = np.subtract(AL, Yb, out=dZs[-1])
        np.divide(dZ, v["m"], out=dZ)
        for l in range(self.L - 1, -1, -1):  # layer l + 1 = L .. 1
            dW = v["dW"][l](dZ, As[l].T, out=self.dWs[l])
            if l2:  # regularization.l2_gradient, then added
                np.add(dW, np.multiply(l2 / b, self.Ws[l], out=self.l2_terms[l]), out=dW)
            np.add.reduce(dZ, axis=1, keepdims=True, out=self.dbs[l])  # np.sum(dZ, axis=1, keepdims=True)
            if l:
                dA = v["dA"][l](self.WTs[l], dZ, out=dZs[l - 1])
                if masks[l - 1] is not None:
                    np.multiply(dA, masks[l - 1], out=dA)
                    np.multiply(dA, self.scale[l - 1], out=dA)
                Z, G = v["Z"][l - 1], Gs[l - 1]
                dZ = np.multiply(dA, derivative(Z, G) if D[l - 1] is None else derivative_into(Z, G, D[l - 1]), out=dA)
        self._last = (v, As, Gs, masks)
        return ce

    def update(self) -> None:
        self.optimizer.step(self.theta, self.dtheta)

    def flush_costs(self) -> list:
        """The cross-entropies of the deferred iterations, in order: the output's ``cost``, with its
        elementwise terms evaluated on the whole block in one call, then each iteration's row
        summed as ``losses.binary_cross_entropy`` sums it (``np.add.reduce`` is what ``np.sum``
        calls)."""
        n, m = self._pending, self.Y.shape[1]
        terms = self.out.terms(self._zl[:n], self.Y)  # (n, 1, m): Y (1, m) broadcasts over the block
        self._pending = 0
        return [float(np.add.reduce(row, axis=None, dtype=np.float64) / m) for row in terms]

    def last_cache(self) -> Cache:
        """The ``network.Cache`` of the last batch, from views of the buffers."""
        v, As, Gs, masks = self._last
        return Cache(Z=list(v["Z"]), A=As, G=Gs, masks=masks, keep_prob=self.keep_prob,
                     activation=self.activation, output=self.output)

    def release(self) -> None:
        """A callback was handed ``grads`` and the cache: switch to fresh buffers, so that what it
        kept is never overwritten (the reference step's semantics). One allocation per iteration,
        only when there are callbacks."""
        self._allocate()
