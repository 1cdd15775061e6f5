"""Structured centred differences for practicaldl's own network: the plain loop, without its waste.

The plain check evaluates ``J(theta + eps e_i)`` and ``J(theta - eps e_i)`` for every entry i
with a whole forward pass. For the network ``Z_l = W_l A_{l-1} + b_l`` most of that work is
repeated:

* layers below l do not depend on ``W_l`` or ``b_l``: ``A_{l-1}`` is reused;
* a perturbed ``W_l[j, k]`` or ``b_l[j]`` changes only row j of ``Z_l``::

      Z_l'[j, :] = (W_l[j, :] + s eps e_k) A_{l-1} + b_l[j]          (1, m)

  so one copy of W_l with a whole *column* k perturbed (``W_l[:, k] + s eps``) gives, row by row,
  the perturbed rows of the n_l entries of that column: 2 n_{l-1} products per layer, not
  2 n_l n_{l-1};
* the layers above l run once for a whole batch of P perturbations at a time: ``A_l'`` is
  ``(P, n_l, m)`` (the reference with one row replaced), ``np.matmul(W_{l+1}, A_l')`` loops over
  the P items in C, and the elementwise steps are single array operations.

Exactness. Every perturbed cost is computed with the same floating-point operations, on the same
values, as ``forward_propagation`` + ``compute_cost`` (the plain loop): the same ``fl(w +- eps)``,
every matrix product with the shapes and layouts of the reference's own (so the BLAS runs the
same kernel: a wider product, though faster, is not bit-for-bit the same in OpenBLAS once it
leaves its small-matrix path), the same elementwise expressions in the same order, the same
pairwise sums, the L2 terms summed by the same builtin ``sum``. As a guard,
``structured_numerical_gradient`` recomputes three costs per layer with the plain cost function
and reports ``exact=False`` if any differs, and ``check_backprop`` then falls back to the loop.
Hence the difference it yields is the plain loop's, not merely close to it (the difference of a
correct backprop is rounding noise, about 1e-9 to 1e-8, so "close" would not be reproducible).

Cost for [20, 50, 50, 1], m = 32: the products above the perturbed layer dominate (2,100
perturbations of layer 1 times one 50 x 50 x 32 product each, about 1.7e8 multiply-adds, against
8.3e8 plus 7,302 Python-level forward passes for the loop).

Kinks come from the pre-activations: an entry is a kink when one of its two perturbed passes
moves a ReLU pre-activation of a kept (not dropped) unit to the other side of 0 from the
reference (``1[Z' > 0] != 1[Z > 0]``), which covers a unit sitting exactly at 0 because dropout
removed all of its inputs. This is a different test from the loop's (one-sided differences that
disagree by more than a tolerance), so with kinks present the two may exclude different entries:
``raw_difference`` is then still identical, ``difference`` may not be.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logsumexp

from .activations import get_activation
from .network import compute_cost, forward_propagation

_ZEROS: dict = {}


def _relu_in_place(Z):
    """``max(Z, 0)`` into Z, against a zeros array (NumPy's contiguous loop, faster than the
    scalar 0; the same values, which the spot check confirms)."""
    zeros = _ZEROS.get(Z.shape[1:])
    if zeros is None:
        zeros = _ZEROS.setdefault(Z.shape[1:], np.zeros(Z.shape[1:]))
    return np.maximum(Z, zeros, out=Z)


#: In-place versions of ``activations``' forward functions (the spot check guards the equivalence).
_IN_PLACE = {
    "relu": _relu_in_place,
    "sigmoid": lambda Z: expit(Z, out=Z),
    "tanh": lambda Z: np.tanh(Z, out=Z),
}

#: Elements per working array (n_units x perturbations x m) in one chunk.
CHUNK_ELEMENTS = 1 << 18


@dataclass
class StructuredResult:
    """Numerical gradients per parameter, kink flags, the reference cost, evaluations, exactness."""

    numerical: dict
    kinks: dict
    cost: float
    n_evaluations: int
    exact: bool


class _Network:
    """The reference pass and everything the perturbed passes reuse."""

    def __init__(self, params, X, Y, *, l2, keep, masks, activation, output):
        self.params, self.X, self.Y, self.l2 = params, X, Y, l2
        self.L = len(params) // 2
        self.m = Y.shape[1]
        self.keep = keep
        self.activation, self.output = activation, output
        self.g = get_activation(activation).forward
        _, cache = forward_propagation(params, X, keep, masks=masks, activation=activation, output=output)
        self.cache = cache
        self.masks = cache.masks
        self.cost = compute_cost(cache, Y, params, l2)
        self.A = cache.A  # A[0] = X, A[l] fed to layer l+1
        self.Z = cache.Z  # Z[l-1] = Z_l
        self.WA = [params[f"W{l}"] @ self.A[l - 1] for l in range(1, self.L + 1)]  # W_l A_{l-1}, bias not added
        self.consistent = all(
            np.array_equal(self.WA[l - 1] + params[f"b{l}"], self.Z[l - 1]) for l in range(1, self.L + 1)
        )
        # L2 terms exactly as regularization.l2_penalty computes them.
        self.l2_terms = [float(np.sum(np.square(params[f"W{l}"]), dtype=np.float64)) for l in range(1, self.L + 1)]
        self._local = threading.local()

    # -- pieces of the perturbed passes ---------------------------------------------------------
    def _hidden(self, l, Z, mask_rows):
        """``A = g(Z) * D / keep`` exactly as forward does (``Z`` and ``mask_rows`` same shape)."""
        A = self.g(Z)
        if mask_rows is not None:
            A = A * mask_rows * A.dtype.type(1.0 / self.keep[l - 1])
        return A

    def _costs(self, ZL):
        """Cross-entropy of each perturbed output ``ZL`` (P, n_L, m) -> (P,), as ``losses`` does."""
        Y = self.Y
        if self.output == "sigmoid":
            ZL = ZL[:, 0, :]  # (P, m)
            losses = np.maximum(ZL, 0) - ZL * Y + np.log1p(np.exp(-np.abs(ZL)))  # (P, m)
        else:
            losses = logsumexp(ZL, axis=1) - np.sum(Y * ZL, axis=1)  # (P, m)
        return np.sum(np.ascontiguousarray(losses), axis=1, dtype=np.float64) / self.m

    def _penalties(self, l, new_terms):
        """``(l2 / 2m) sum_l ||W_l||^2`` with layer l's term replaced, summed as ``l2_penalty`` does."""
        terms = list(self.l2_terms)
        out = np.empty(len(new_terms))
        coef = self.l2 / (2 * self.m)
        for i, t in enumerate(new_terms.tolist()):
            terms[l - 1] = t
            out[i] = coef * sum(terms)
        return out

    # -- one layer's perturbations --------------------------------------------------------------
    def perturbed_rows(self, l, rows, cols, values):
        """Row rows[p] of ``Z_l`` with entry (rows[p], cols[p]) of W_l set to values[p] (``cols[p] ==
        -1``: entry rows[p] of b_l) -> (P, m), each computed as forward computes ``W_l @ A + b_l``.

        One copy of W_l carries perturbations of distinct rows at once (a whole column), so the
        perturbed rows of every entry of W_l take ``2 n_{l-1}`` products of the reference's shape.
        """
        W, b = self.params[f"W{l}"], self.params[f"b{l}"]
        n, K = W.shape
        Zrow = np.empty((rows.size, self.m))
        is_b = cols < 0
        Zrow[is_b] = self.WA[l - 1][rows[is_b]] + values[is_b][:, None]
        w_idx = np.flatnonzero(~is_b)
        w_idx = w_idx[np.lexsort((rows[w_idx], cols[w_idx]))]  # column by column
        per_block = max(n, CHUNK_ELEMENTS // K)  # about CHUNK_ELEMENTS entries of W copies per block
        for s in range(0, w_idx.size, per_block):
            idx = w_idx[s:s + per_block]
            r, c = rows[idx], cols[idx]
            slot = _slots(r)  # perturbations of distinct rows share a copy of W_l
            Wb = np.broadcast_to(W, (int(slot.max()) + 1, n, K)).copy()  # (B, n_l, n_{l-1})
            Wb[slot, r, c] = values[idx]
            Zrow[idx] = np.matmul(Wb, self.A[l - 1])[slot, r] + b[r]  # each product as forward's
        return Zrow

    def perturbed_costs(self, l, rows, cols, values, Zrow=None):
        """Costs for perturbations of layer l: entry (rows[p], cols[p]) of W_l set to values[p]
        (``cols[p] == -1``: entry rows[p] of b_l); ``Zrow`` from ``perturbed_rows`` if already
        computed. Returns ``(J (P,), crosses_kink (P,))``."""
        W = self.params[f"W{l}"]
        n, K = W.shape
        P = rows.size
        m = self.m
        if Zrow is None:
            Zrow = self.perturbed_rows(l, rows, cols, values)
        is_w = cols >= 0
        items = np.arange(P)
        kink = np.zeros(P, dtype=bool)
        if l == self.L:
            ZL = np.empty((P, n, m))
            ZL[:] = self.Z[l - 1]
            ZL[items, rows] = Zrow
        else:
            mask = self.masks[l - 1]
            Arow = self._hidden(l, Zrow, None if mask is None else mask[rows])
            if self.activation == "relu":
                crossed = (Zrow > 0) != (self.Z[l - 1][rows] > 0)
                if mask is not None:
                    crossed &= mask[rows]  # a dropped unit's kink cannot reach the cost
                kink |= crossed.any(axis=1)
            ZL = self._above(l, rows, Arow, kink)
        J = self._costs(ZL)
        if self.l2:
            pen = np.full(P, self.l2 / (2 * self.m) * sum(self.l2_terms))
            if is_w.any():
                flat = rows[is_w] * K + cols[is_w]
                pen[is_w] = self._penalties(l, self._l2_terms(W, flat, values[is_w]))
            J = J + pen
        return J, kink

    def _above(self, l, rows, Arow, kink):
        """Run layers l+1..L for P perturbed ``A_l`` (row rows[p] replaced by Arow[p]) -> ZL (P, n_L, m).

        The batch ``A_l'`` (P, n_l, m) is a per-thread buffer that already holds the reference
        ``A_l``: only the perturbed rows are written, and restored afterwards. ``kink`` (P,) is
        or-ed in place with the ReLU crossings found on the way.
        """
        P = rows.size
        Ab = self._reference_batch(l, P)
        items = np.arange(P)
        Ab[items, rows] = Arow
        try:
            return self._run_above(l, Ab, kink)
        finally:
            Ab[items, rows] = self.A[l][rows]

    def _reference_batch(self, l, B):
        """``A_l`` repeated B times, (B, n_l, m), from a per-thread cache (callers restore what they change)."""
        cache = self._local.__dict__.setdefault("batches", {})
        buf = cache.get(l)
        if buf is None or buf.shape[0] < B:
            buf = np.empty((B,) + self.A[l].shape)
            buf[:] = self.A[l]
            cache[l] = buf
        return buf[:B]

    def _run_above(self, l, Ab, kink):
        for r in range(l + 1, self.L + 1):
            Zb = np.matmul(self.params[f"W{r}"], Ab)  # (P, n_r, m), each product as forward's
            np.add(Zb, self.params[f"b{r}"], out=Zb)
            if r == self.L:
                return Zb
            if self.activation == "relu":
                crossed = np.greater(Zb, 0)
                np.not_equal(crossed, self.Z[r - 1] > 0, out=crossed)
                if self.masks[r - 1] is not None:
                    crossed &= self.masks[r - 1]  # a dropped unit's kink cannot reach the cost
                kink |= crossed.any(axis=(1, 2))
            Ab = _IN_PLACE[self.activation](Zb)  # g(Z), then * D / keep, as forward does
            mask = self.masks[r - 1]
            if mask is not None:
                np.multiply(Ab, mask, out=Ab)
                np.multiply(Ab, Ab.dtype.type(1.0 / self.keep[r - 1]), out=Ab)

    @staticmethod
    def _l2_terms(W, flat, new_values):
        """``sum(square(W'))`` for W with entry ``flat[p]`` set to ``new_values[p]``, summed as numpy sums W."""
        sq = np.square(W).ravel()
        out = np.empty(flat.size)
        step = max(1, CHUNK_ELEMENTS // sq.size)
        for s in range(0, flat.size, step):
            block = np.broadcast_to(sq, (min(step, flat.size - s), sq.size)).copy()
            block[np.arange(block.shape[0]), flat[s:s + step]] = np.square(new_values[s:s + step])
            out[s:s + step] = np.sum(block, axis=1, dtype=np.float64)
        return out


def _slots(rows):
    """Rank of each perturbation among those of the same row: (rows[p], slot[p]) are all distinct."""
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    slot = np.empty(rows.size, dtype=np.intp)
    slot[order] = np.arange(rows.size) - np.searchsorted(sorted_rows, sorted_rows, side="left")
    return slot


def _entries(n, K):
    """Entries of layer l in the flattened order: W_l row-major, then b_l. ``col == -1`` is a bias."""
    rows = np.concatenate([np.repeat(np.arange(n), K), np.arange(n)])
    cols = np.concatenate([np.tile(np.arange(K), n), np.full(n, -1)])
    return rows, cols


def _layer_gradapprox(net, l, rows, cols, epsilon, n_jobs=1):
    """Centred differences, kink flags and ``J(theta +- eps e_i)`` for the given entries of layer l.

    The perturbed rows of ``Z_l`` are computed for the whole layer first (column by column, see
    ``perturbed_rows``); then the entries go row by row in chunks of at most ``CHUNK_ELEMENTS``
    elements per working array (the perturbations of one unit change the same example columns).
    """
    W, b = net.params[f"W{l}"], net.params[f"b{l}"]
    n = W.shape[0]
    width = max(net.params[f"W{r}"].shape[0] for r in range(l, net.L + 1)) * net.m
    chunk = max(1, CHUNK_ELEMENTS // (2 * width))
    ga = np.empty(rows.size)
    J_plus, J_minus = np.empty(rows.size), np.empty(rows.size)
    kinks = np.empty(rows.size, dtype=bool)
    base = np.where(cols >= 0, W[rows, np.maximum(cols, 0)], b[rows, 0])
    order = np.arange(rows.size)  # row by row: the perturbations of one unit change the same columns
    chunks = [order[s:s + chunk] for s in range(0, rows.size, chunk)]

    # theta_plus[i] = theta[i] + eps and theta_minus[i] = theta[i] - eps, as the loop does
    rows2, cols2, values2 = np.concatenate([rows, rows]), np.concatenate([cols, cols]), np.concatenate(
        [base + epsilon, base - epsilon])
    Zrow = net.perturbed_rows(l, rows2, cols2, values2)  # (2 E, m): plus entries, then minus
    E_all = rows.size

    def run(idx):
        both = np.concatenate([idx, idx + E_all])
        return net.perturbed_costs(l, rows2[both], cols2[both], values2[both], Zrow[both])

    if n_jobs > 1 and len(chunks) > 1:  # numpy releases the GIL in matmul and the ufuncs
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            results = list(pool.map(run, chunks))
    else:
        results = [run(idx) for idx in chunks]
    for idx, (J, kink) in zip(chunks, results):
        E = idx.size
        J_plus[idx], J_minus[idx] = J[:E], J[E:]
        ga[idx] = (J[:E] - J[E:]) / (2 * epsilon)
        kinks[idx] = kink[:E] | kink[E:]
    return ga, kinks, J_plus, J_minus


def structured_numerical_gradient(params, X, Y, *, l2, keep, masks, activation, output, epsilon,
                                  reference_cost=None, n_jobs=1) -> StructuredResult:
    """Centred differences of every entry of ``params`` (float64 dict W1, b1, ...) by the structured pass.

    ``n_jobs`` threads share the chunks of each layer (the results do not depend on it).

    ``reference_cost(params) -> float`` is the plain cost function; when given, the first W and b
    entry of each layer are recomputed with it and compared bit for bit (``exact`` in the result).
    """
    net = _Network(params, X, Y, l2=l2, keep=keep, masks=masks, activation=activation, output=output)
    numerical, kinks = {}, {}
    exact = net.consistent
    n_eval = 1
    for l in range(1, net.L + 1):
        W = params[f"W{l}"]
        n, K = W.shape
        rows, cols = _entries(n, K)
        ga, kink, J_plus, J_minus = _layer_gradapprox(net, l, rows, cols, epsilon, n_jobs)
        n_eval += 2 * rows.size
        numerical[f"W{l}"], numerical[f"b{l}"] = ga[: n * K].reshape(n, K), ga[n * K:].reshape(n, 1)
        kinks[f"W{l}"], kinks[f"b{l}"] = kink[: n * K].reshape(n, K), kink[n * K:].reshape(n, 1)
        if reference_cost is not None and exact:
            exact = _spot_check(net, l, rows, cols, J_plus, J_minus, reference_cost, epsilon)
    return StructuredResult(numerical, kinks, float(net.cost), n_eval, bool(exact))


def _spot_check(net, l, rows, cols, J_plus, J_minus, reference_cost, epsilon):
    """Recompute with the plain cost function ``J(theta +- eps e_i)`` for the last W_l entry (done in
    the last chunk) and ``J(theta + eps e_i)`` for the first b_l entry: 3 evaluations per layer."""
    last_w = int(np.flatnonzero(cols >= 0)[-1])
    first_b = int(np.flatnonzero(cols < 0)[0])
    checks = [(last_w, 1.0, J_plus[last_w]), (last_w, -1.0, J_minus[last_w]), (first_b, 1.0, J_plus[first_b])]
    for i, sign, J in checks:
        name, index = (f"W{l}", (rows[i], cols[i])) if cols[i] >= 0 else (f"b{l}", (rows[i], 0))
        trial = {k: v.copy() for k, v in net.params.items()}
        trial[name][index] = trial[name][index] + sign * epsilon
        if float(J) != float(reference_cost(trial)):
            return False
    return True
