"""Structured centred differences for practicaldl's own network: the plain loop, without its waste.

The plain check evaluates ``J(theta + eps e_i)`` and ``J(theta - eps e_i)`` for every entry i
with a whole forward pass. For the network ``Z_l = W_l A_{l-1} + b_l`` most of that work is
repeated, and the structured pass skips it:

* layers below l do not depend on ``W_l`` or ``b_l``: ``A_{l-1}`` is reused;
* a perturbed ``W_l[j, k]`` changes only row j of ``Z_l``, so one copy of W_l with its whole
  column k set to ``W_l[:, k] +- eps`` gives the perturbed rows of all n_l entries of that column
  (``perturbed_rows``: 2 n_{l-1} products per layer, not 2 n_l n_{l-1}); a perturbed ``b_l[j]``
  adds to the reference's own ``W_l A_{l-1}``;
* example (column) c of every layer above l depends only on column c of ``A_l``. A column where a
  pass's ``A_l'`` equals the reference (a ReLU unit that stays off, a dropped unit) keeps the
  reference's values all the way up, so only the changed columns go up, packed into *slots*:
  copies of the reference ``A_l`` in which a pass's changed column c sits at its own position c.
  Passes that change different examples share a slot (for ReLU about 0.6 slots per pass instead
  of 1), and ``np.matmul`` runs one product per slot, in C. The (pass, example) pairs are handled
  as flat indices (1-D fancy indexing is about 4x faster than 3-D);
* the slots are never built afresh: each thread keeps its buffers from one check to the next, and
  every call undoes its own writes, so the slots are the reference's again for the next one;
* with ``n_jobs`` threads, the chunks of all layers are shared among them, each taking the next
  when it is free (``_run``): helpers take the layers with products above first, the calling
  thread the others, so that a thread in a long product (the GIL released) overlaps with one
  doing short NumPy calls.

Exactness. Every perturbed cost is computed with the same floating-point operations, on the same
values, as ``forward_propagation`` + ``compute_cost`` (the plain loop): the same ``fl(w +- eps)``;
every matrix product in the reference's own shape and layout, each column at its own position (so
the BLAS runs the reference's kernel on it: a wider product, though faster, is not bit-for-bit the
same, since BLAS kernels treat the edge rows and columns of a product differently); the same
elementwise expressions in the same order; the same pairwise sums; the L2 terms summed by the same
builtin ``sum``. As a guard, ``structured_numerical_gradient`` recomputes a few perturbed costs per
layer with the plain cost function and reports ``exact=False`` if any differs, and
``check_backprop`` then falls back to the loop. Hence the difference it yields is the plain loop's,
not merely close to it (the difference of a correct backprop is rounding noise, about 1e-9 to
1e-8, so "close" would not be reproducible).

Cost for [20, 50, 50, 1], m = 32: the products above layer 1 dominate: 2,100 passes of layer 1
packed into about 1,200 slots, each a 50 x 50 x 32 product (1e8 multiply-adds, 2.2 ms on one core
of this machine with OpenBLAS's native kernel, 5.2 ms with its Haswell one), against 8.3e8
multiply-adds plus 7,302 Python-level forward passes for the loop. The whole check takes about
9 ms in one thread and 6.5-7.5 ms in two (native kernel; see ``benchmarks/README.md``).

Kinks come from the pre-activations: an entry is a kink when one of its two perturbed passes
moves a ReLU pre-activation of a kept (not dropped) unit to the other side of 0 from the
reference (``1[Z' > 0] != 1[Z > 0]``), which covers a unit sitting exactly at 0 because dropout
removed all of its inputs. This is a different test from the loop's (one-sided differences that
disagree by more than a tolerance), so with kinks present the two may exclude different entries:
``raw_difference`` is then still identical, ``difference`` may not be.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from ._pairwise import NumpySum, numpy_sum_blocks
from ..core.activations import get_activation
from ..core.losses import OUTPUTS
from ..core.network import compute_cost, forward_propagation


def _relu_in_place(Z):
    """``activations.relu`` into Z (B, n, m): ``max(Z, 0)`` against a (n, m) array of zeros, for
    which NumPy runs its loop for two arrays, about twice as fast here as its loop for a scalar
    0 (the same function, elementwise: the training step does the same)."""
    return np.maximum(Z, _buffer("zeros", Z.shape[-2:], fill=0.0), out=Z)


#: In-place versions of ``activations``' forward functions (the spot check guards the equivalence).
_IN_PLACE = {
    "relu": _relu_in_place,
    "sigmoid": lambda Z: expit(Z, out=Z),
    "tanh": lambda Z: np.tanh(Z, out=Z),
}

#: Elements per working array (slots x units x examples) in one call of ``perturbed_costs``: 8 MB.
#: Each call costs about 50 us of NumPy calls whatever its size, and larger arrays leave the cache:
#: the check of [20, 50, 50, 1] took 11.9 / 9.0 / 8.7 / 9.9 ms in one thread and 13.3 / 7.8 / 6.5 /
#: 7.3 ms in two with 2^18 / 2^19 / 2^20 / 2^21 elements (native kernel).
CHUNK_ELEMENTS = 1 << 20


#: Work buffers, per thread, kept from one check to the next (each at most about ``CHUNK_ELEMENTS``
#: elements, a few per layer): fresh multi-MB arrays for every check cost page faults that took
#: longer than the arithmetic done in them (filling a fresh 4 MB buffer: 1.5 ms; a used one: 0.05 ms).
_WORKSPACE = threading.local()
_NETWORK_IDS = itertools.count()


_POOLS = {}
_POOLS_LOCK = threading.Lock()


def _pool(helpers):
    """A thread pool of ``helpers`` workers, kept for the next check: its threads keep their work
    buffers (``_WORKSPACE``), which a new pool per check would allocate and fault in again."""
    with _POOLS_LOCK:
        pool = _POOLS.get(helpers)
        if pool is None:
            pool = _POOLS[helpers] = ThreadPoolExecutor(max_workers=helpers, thread_name_prefix="practicaldl-gradcheck")
        return pool


def _buffer(name, shape, dtype=np.float64, fill=None):
    """A C-contiguous ``shape`` array from this thread's buffer ``name``, which grows as needed
    (see ``_WORKSPACE``). With ``fill``, a buffer made filled with it and never written: ``zeros``."""
    store = _WORKSPACE.__dict__
    size = math.prod(shape)
    buf = store.get(name)
    if buf is None or buf.size < size:
        buf = store[name] = np.empty(size, dtype) if fill is None else np.full(size, fill, dtype)
    return buf[:size].reshape(shape)


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
        self.masks = cache.masks
        self.cost = compute_cost(cache, Y, params, l2)
        self.A = cache.A  # A[0] = X, A[l] fed to layer l+1
        self.Z = cache.Z  # Z[l-1] = Z_l
        self.on = [Z > 0 for Z in self.Z]  # ReLU pattern of the reference, for the kinks
        self.WA = [params[f"W{l}"] @ self.A[l - 1] for l in range(1, self.L + 1)]  # W_l A_{l-1}, bias not added
        self.consistent = all(
            np.array_equal(self.WA[l - 1] + params[f"b{l}"], self.Z[l - 1]) for l in range(1, self.L + 1)
        ) and not (l2 and numpy_sum_blocks(np.getbufsize()) is None)  # the L2 terms must be replayable
        # b_l broadcast to (n_l, m) once: added to (B, n_l, m) slots, NumPy then runs one loop per slot
        # instead of one per row (the same sums)
        self.b_full = [np.broadcast_to(params[f"b{l}"], Z.shape).copy() for l, Z in enumerate(self.Z, 1)]
        self.losses = self._column_losses(self.Z[-1], slice(None))  # (m,) per-example losses of the reference
        # L2 terms exactly as regularization.l2_penalty computes them.
        self.l2_terms = [float(np.sum(np.square(params[f"W{l}"]), dtype=np.float64)) for l in range(1, self.L + 1)]
        self._id = next(_NETWORK_IDS)  # whose reference the slot buffers hold (see _slots)

    # -- pieces of the perturbed passes ---------------------------------------------------------
    def _column_losses(self, ZL, cols):
        """Per-example cross-entropy (N,) of the logits ``ZL`` (n_L, N) of examples ``cols``."""
        return OUTPUTS[self.output].terms(ZL, self.Y[:, cols]).reshape(-1)

    def l2_penalties(self, l, epsilon):
        """The L2 term of the cost, ``(l2 / 2m) sum_r ||W_r||^2``, with entry i of W_l (flat) set to
        ``w_i + eps`` and to ``w_i - eps``: two (n_l n_{l-1},) vectors for all entries at once,
        computed as ``l2_penalty`` computes it: each ``sum(square(W_r))`` as NumPy sums it (replayed
        for the one changed entry by ``_pairwise``), the layers' terms left to right from 0 (the
        builtin ``sum``). The bias passes keep the reference's term (``reference_penalty``)."""
        W = self.params[f"W{l}"].ravel()
        index = np.arange(W.size)
        changed = NumpySum(np.square(W)).replaced(np.concatenate([index, index]),
                                                  np.square(np.concatenate([W + epsilon, W - epsilon])))
        total = np.zeros(changed.size)
        for r, term in enumerate(self.l2_terms, 1):
            total = total + (changed if r == l else term)
        return (self.l2 / (2 * self.m) * total).reshape(2, -1)

    def reference_penalty(self):
        """The L2 term of the reference, as ``l2_penalty`` computes it (the bias passes keep it)."""
        return self.l2 / (2 * self.m) * sum(self.l2_terms)

    def perturbed_rows(self, l, ks, epsilon):
        """Row j of ``Z_l`` with ``W_l[j, k]`` set to ``w +- eps``, for every j and every k in ``ks``.

        One copy of W_l with its whole column k perturbed gives the perturbed rows of all n_l
        entries of that column at once, each product in the reference's own shape (so the BLAS
        runs the reference's kernel). Returns ``Zrow (2 len(ks) n_l, m)`` in the order
        (sign, k, j).
        """
        W = self.params[f"W{l}"]
        n, K = W.shape
        q = np.arange(ks.size)
        values = np.stack([W[:, ks] + epsilon, W[:, ks] - epsilon]).transpose(0, 2, 1)  # (2, k, j)
        Wc = np.broadcast_to(W, (2, ks.size, n, K)).copy()
        Wc[:, q, :, ks] = values.transpose(1, 0, 2)  # copy (sign, k) has column k set to w +- eps
        Zrow = np.matmul(Wc.reshape(-1, n, K), self.A[l - 1]) + self.params[f"b{l}"]
        return Zrow.reshape(-1, self.m)

    def perturbed_costs(self, l, rows, Zrow, penalty):
        """Costs of P perturbed passes of layer l, where pass p has row ``rows[p]`` of ``Z_l``
        replaced by ``Zrow[p]`` (m,), and the L2 term ``penalty`` (P,) or scalar (see
        ``l2_penalties``). Returns ``(J (P,), crosses_kink (P,))``."""
        P = rows.size
        kink = np.zeros(P, dtype=bool)
        if l == self.L:
            new, ref = Zrow, self.Z[l - 1]
        else:
            new, ref = self.g(Zrow), self.A[l]  # A_l' rows: g(Z) * D / keep, as forward does
            mask = self.masks[l - 1]
            if mask is not None:
                new = new * mask[rows] * new.dtype.type(1.0 / self.keep[l - 1])
            if self.activation == "relu":
                kink |= self._crossed(Zrow, self.on[l - 1][rows], None if mask is None else mask[rows]).any(axis=1)
        losses = self._losses(l, rows, new, ref, kink)
        J = np.sum(losses, axis=1, dtype=np.float64) / self.m  # each row summed as losses sums (1, m)
        if self.l2:
            J = J + penalty
        return J, kink

    def _losses(self, l, rows, new, ref, kink):
        """Per-example losses (P, m) of the passes of layer l, packed into shared slots; sets
        ``kink[p]`` where pass p moves a ReLU pre-activation of a layer above across 0.

        Only the (pass, example) pairs that differ from the reference go up, packed into "slots":
        copies of the reference A_l in which pass p's changed column c sits at its own column c, so
        passes that change different examples share a copy, and every product above runs in the
        reference's own shape (the BLAS runs the reference's kernel for each column).
        """
        m = self.m
        changed = new != ref[rows]  # (P, m)
        # the pairs as flat indices (1-D fancy indexing is about 4x faster than 2-D or 3-D)
        pc = np.flatnonzero(changed)  # p m + c
        p = pc // m
        c = pc - p * m
        slot = np.cumsum(changed, axis=0, dtype=np.intp).reshape(-1)[pc] - 1  # pass p's rank among those changing c
        B = int(slot.max(initial=-1)) + 1
        slots = self._slots(l, ref, B, rows.size)  # (B, n_l, m), each equal to the reference
        r_c = rows[p] * m + c  # (row, example) in A_l
        at = (slot * ref.shape[0]) * m + r_c  # (slot, row, example) in the slots
        flat = slots.reshape(-1)
        flat[at] = new.reshape(-1)[pc]
        try:
            Z, crossed = self._up(l, slots)
            if crossed is not None:  # rare: find the passes whose columns crossed
                owner = np.full((B, m), -1)  # the pass each slot column carries
                owner[slot, c] = p
                kink[owner[crossed & (owner >= 0)]] = True
            # (n_L, N): the changed examples' logits, as Z_L
            ZL = Z.reshape(-1)[(slot * Z.shape[1] + np.arange(Z.shape[1])[:, None]) * m + c]
        finally:
            flat[at] = ref.reshape(-1)[r_c]  # the slots are the reference's again, for the next call
        losses = np.empty((rows.size, m))
        losses[:] = self.losses
        losses.reshape(-1)[pc] = self._column_losses(ZL, c)
        return losses

    def _up(self, l, slots):
        """Layers l+1 .. L for the slots (B, n_l, m), one product per slot in the reference's shape.
        Returns ``Z_L`` of every slot (B, n_L, m) and, for ReLU, None or (B, m) marking the slot
        columns where a unit of a layer above is on the other side of 0 from the reference."""
        B, S, crossed = slots.shape[0], slots, None
        for r in range(l + 1, self.L + 1):
            W = self.params[f"W{r}"]
            S = np.matmul(W, S, out=_buffer(f"Z{r}", (B, W.shape[0], self.m)))  # (B, n_r, m)
            S += self.b_full[r - 1]
            if r == self.L:
                break
            mask = self.masks[r - 1]
            if self.activation == "relu":
                units = self._crossed(S, self.on[r - 1], mask, _buffer("units", S.shape, bool))
                if units.any():
                    crossed = units.any(axis=1) if crossed is None else crossed | units.any(axis=1)
            S = _IN_PLACE[self.activation](S)  # g(Z), then * D / keep, as forward does
            if mask is not None:
                np.multiply(S, mask, out=S)
                np.multiply(S, S.dtype.type(1.0 / self.keep[r - 1]), out=S)
        return S, crossed

    def _slots(self, l, ref, B, capacity):
        """``(B,) + ref.shape`` copies of layer l's reference ``ref`` (``A_l``, or ``Z_L``), from a
        per-thread store that every call leaves as the reference (it undoes its own writes), sized
        once for ``capacity`` slots and filled as far as used: fresh copies each call took longer
        than the products that use them."""
        store = _WORKSPACE.__dict__
        flat, owner, filled = store.get(f"slots{l}", (None, None, 0))
        size = max(B, capacity) * ref.size
        if flat is None or flat.size < size:
            flat, filled = np.empty(size), 0
        elif owner != self._id:  # another network's reference
            filled = 0
        buf = flat[:size].reshape((-1,) + ref.shape)
        if filled < B:
            buf[filled:B] = ref
            filled = B
        store[f"slots{l}"] = flat, self._id, filled
        return buf[:B]

    @staticmethod
    def _crossed(Z, on, mask, out=None):
        """Where ``Z`` is on the other side of 0 from the reference pattern ``on``, for kept units."""
        crossed = np.greater(Z, 0, out=out)
        np.not_equal(crossed, on, out=crossed)
        if mask is not None:
            crossed &= mask  # a dropped unit's kink cannot reach the cost
        return crossed


def _layer_chunks(net, l, epsilon):
    """The work of layer l in chunks: callables, each returning ``(flat, J, kink)`` for some entries
    of W_l (row-major) or b_l: their flat indices (e,), the costs ``J(theta + eps e_i)`` then
    ``J(theta - eps e_i)`` (2e,), and kink flags in the same order (2e,).

    The entries of W_l go a few columns at a time (``perturbed_rows``), the biases together; each
    chunk carries the plus and the minus pass of its entries, and ``perturbed_costs`` takes at
    most about ``CHUNK_ELEMENTS`` elements of working arrays at a time.
    """
    W, b = net.params[f"W{l}"], net.params[f"b{l}"]
    n, K = W.shape
    width = max(net.params[f"W{r}"].shape[0] for r in range(l, net.L + 1)) * net.m
    max_passes = max(1, CHUNK_ELEMENTS // width)  # passes per perturbed_costs call
    per_chunk = max(1, max_passes // (2 * n))  # columns of W_l per chunk
    j = np.arange(n)

    plus, minus = net.l2_penalties(l, epsilon) if net.l2 else (None, None)

    def costs(rows, Zrow, penalty):
        parts = [net.perturbed_costs(l, rows[s:s + max_passes], Zrow[s:s + max_passes],
                                     penalty if np.isscalar(penalty) else penalty[s:s + max_passes])
                 for s in range(0, rows.size, max_passes)]
        return np.concatenate([J for J, _ in parts]), np.concatenate([kink for _, kink in parts])

    def w_chunk(k0):
        ks = np.arange(k0, min(k0 + per_chunk, K))
        Zrow = net.perturbed_rows(l, ks, epsilon)
        flat = (j[None, :] * K + ks[:, None]).ravel()  # entry of (k, j), W_l row-major
        penalty = np.concatenate([plus[flat], minus[flat]]) if net.l2 else 0.0
        return (flat,) + costs(np.tile(j, 2 * ks.size), Zrow, penalty)

    def b_chunk():  # b_l[j] +- eps adds to the reference's own product, as forward's ``W @ A + b``
        Zrow = np.concatenate([net.WA[l - 1] + (b + epsilon), net.WA[l - 1] + (b - epsilon)])
        return (n * K + j,) + costs(np.tile(j, 2), Zrow, net.reference_penalty() if net.l2 else 0.0)

    return [functools.partial(w_chunk, k0) for k0 in range(0, K, per_chunk)] + [b_chunk]


def _layer_result(net, l, epsilon, results):
    """Centred differences, kink flags, ``J_plus`` and ``J_minus`` of every entry of layer l
    (W_l row-major, then b_l) from the results of its chunks."""
    n, K = net.params[f"W{l}"].shape
    E = n * K + n
    J_plus, J_minus, kinks = np.empty(E), np.empty(E), np.empty(E, dtype=bool)
    for flat, J, kink in results:
        e = flat.size
        J_plus[flat], J_minus[flat] = J[:e], J[e:]
        kinks[flat] = kink[:e] | kink[e:]
    return (J_plus - J_minus) / (2 * epsilon), kinks, J_plus, J_minus


def _run(heavy, light, n_jobs):
    """``[task() for task in heavy + light]``, shared among this thread and ``n_jobs - 1`` helpers.

    The helpers take the next ``heavy`` task (long products, the GIL released) while this thread
    takes the next ``light`` one (many short NumPy calls, mostly holding the GIL);
    a thread whose list is done takes from the other. One list for all, or each chunk's products
    split between the threads, overlapped worse (on [20, 50, 50, 1]: 6.3-6.6 and 7.3 ms against
    5.5 ms for the chunks, 8.6 ms in one thread; native kernel)."""
    tasks = list(heavy) + list(light)
    n_helpers = min(n_jobs, len(tasks)) - 1
    if n_helpers < 1:
        return [task() for task in tasks]
    results = [None] * len(tasks)
    queues = [list(range(len(heavy))), list(range(len(heavy), len(tasks)))]  # indices, taken from the front
    lock = threading.Lock()

    def work(prefer):
        try:
            while True:
                with lock:
                    queue = queues[prefer] or queues[1 - prefer]
                    if not queue:
                        return
                    i = queue.pop(0)
                results[i] = tasks[i]()
        except BaseException:  # an error, or Ctrl-C: the others stop after their current task
            with lock:
                queues[0].clear()
                queues[1].clear()
            raise

    pool = _pool(n_jobs - 1)
    helpers = [pool.submit(work, 0) for _ in range(n_helpers)]
    try:
        work(1)
    finally:
        for helper in helpers:
            helper.result()
    return results


def structured_numerical_gradient(params, X, Y, *, l2, keep, masks, activation, output, epsilon,
                                  reference_cost=None, n_jobs=1) -> StructuredResult:
    """Centred differences of every entry of ``params`` (float64 dict W1, b1, ...) by the structured pass.

    ``n_jobs`` threads share the chunks of all layers (the results do not depend on it).
    ``reference_cost(params) -> float`` is the plain cost function; when given, four perturbed
    costs per layer are recomputed with it and compared bit for bit (``exact`` in the result;
    ``_spot_checks``).
    """
    net = _Network(params, X, Y, l2=l2, keep=keep, masks=masks, activation=activation, output=output)
    if not net.consistent:  # the caller uses the plain loop instead
        return StructuredResult({}, {}, float(net.cost), 0, False)
    layers = range(1, net.L + 1)
    chunks = {l: _layer_chunks(net, l, epsilon) for l in layers}
    spots = _spot_checks(net, reference_cost, epsilon) if reference_cost is not None else []
    # heavy: the layers with products above the next one (packed slots); light: the last hidden
    # layer, the output layer and the spot checks (independent of the rest, so they fill the end)
    heavy = [chunk for l in layers if l < net.L - 1 for chunk in chunks[l]]
    light = [chunk for l in layers if l >= net.L - 1 for chunk in chunks[l]] + spots
    results = iter(_run(heavy, light, n_jobs))
    numerical, kinks, J = {}, {}, {}
    n_eval = 1
    for l in layers:
        n, K = params[f"W{l}"].shape
        ga, kink, J[l, True], J[l, False] = _layer_result(net, l, epsilon, [next(results) for _ in chunks[l]])
        n_eval += 2 * ga.size
        numerical[f"W{l}"], numerical[f"b{l}"] = ga[: n * K].reshape(n, K), ga[n * K:].reshape(n, 1)
        kinks[f"W{l}"], kinks[f"b{l}"] = kink[: n * K].reshape(n, K), kink[n * K:].reshape(n, 1)
    exact = all(float(J[l, plus][i]) == cost for l, i, plus, cost in results)
    return StructuredResult(numerical, kinks, float(net.cost), n_eval, bool(exact))


def _spot_checks(net, reference_cost, epsilon):
    """Tasks that recompute a perturbed cost with the plain cost function for four entries per layer:
    ``J(theta + eps e_i)`` for the first entry of W_l (first chunk) and one in between,
    ``J(theta - eps e_i)`` for the last (last chunk) and the first of b_l. An entry's plus and minus
    pass come out of the same calls, so one sign per entry, both per layer, covers every code path
    (eight evaluations per layer took 8% of the check of [20, 50, 50, 1]). Each task returns
    ``(l, i, plus, J)``: i the flat index in the layer's order (W_l, then b_l), plus whether the step
    was +eps."""
    tasks = []
    for l in range(1, net.L + 1):
        n, K = net.params[f"W{l}"].shape
        for kind, index, sign in (("W", (0, 0), 1.0), ("W", (n // 2, K // 2), 1.0), ("W", (n - 1, K - 1), -1.0),
                                  ("b", (0, 0), -1.0)):
            i = index[0] * K + index[1] if kind == "W" else n * K + index[0]
            tasks.append(functools.partial(_spot_cost, net, reference_cost, l, f"{kind}{l}", index, i, sign * epsilon))
    return tasks


def _spot_cost(net, reference_cost, l, key, index, i, step):
    trial = dict(net.params)  # the other arrays are only read
    trial[key] = net.params[key].copy()
    trial[key][index] = trial[key][index] + step
    return l, i, step > 0, float(reference_cost(trial))
