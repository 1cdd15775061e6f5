"""NumPy's pairwise summation of a vector, replayed for many copies that each change one entry.

``np.sum`` of a contiguous float64 array of n entries is ``pairwise(a, n)`` (NumPy's
``pairwise_sum``) in NumPy 2.3 and later; older NumPy reduces in blocks of its buffer size (8192
entries), each ``pairwise``, and adds the blocks' sums left to right (``NumpySum`` probes which,
once):

* n < 8: ``0.0 + a[0] + a[1] + ...``, left to right;
* 8 <= n <= 128 (a leaf): eight lanes ``r_j = a[j] + a[j+8] + a[j+16] + ...`` (left to right, over
  the largest multiple of 8), combined as ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``,
  then the last ``n % 8`` entries added one by one;
* n > 128: ``pairwise(first n2) + pairwise(the rest)``, ``n2 = n // 2`` rounded down to a
  multiple of 8.

``Pairwise(a)`` keeps every leaf's lanes and every subtree's sum of the reference vector, so the
sum with entry i changed needs only i's lane (at most 16 additions), its leaf's last entries and
one addition per level of the tree, in the same order as NumPy: the same number, bit for bit,
for O(16 + log n) work instead of n (plus, with blocks, one addition per block). The gradient
check uses it for ``sum(W_l'^2)`` of every perturbed weight (``_gradcheck_fast``);
``tests/test_gradcheck.py`` checks it against ``np.sum``.
Entries must be non-negative (squares): the zero padding below relies on ``x + 0.0 == x``.
"""

from __future__ import annotations

import functools

import numpy as np

LEAF = 128  # NumPy's PW_BLOCKSIZE
LANES = 8


class Pairwise:
    """The pairwise sum of a non-negative vector ``a`` (n,), ``total``, and of copies with one entry
    changed (``replaced``), every sum computed here in NumPy's order (no call to ``np.sum``, whose
    order depends on the NumPy version beyond its buffer size)."""

    def __init__(self, a: np.ndarray):
        a = np.ascontiguousarray(a, dtype=np.float64).ravel()
        leaves = []
        root = _tree(0, a.size, leaves)
        n_leaves = len(leaves)
        self.start = np.array([s for s, _ in leaves])
        self.length = np.array([n for _, n in leaves])
        self.unrolled = np.where(self.length >= LANES, self.length - self.length % LANES, 0)
        # lanes[leaf, t, j] = a[start + 8 t + j] over the unrolled part, zero after it (x + 0.0 == x)
        self.lanes = np.zeros((n_leaves, LEAF // LANES, LANES))
        self.rest = np.zeros((n_leaves, LANES - 1))  # the last n % 8 entries (all of them for n < 8)
        for k, (s, n) in enumerate(leaves):
            u = self.unrolled[k]
            self.lanes[k].reshape(-1)[:u] = a[s:s + u]
            self.rest[k, :n - u] = a[s + u:s + n]
        self.lane_sums = _sequential(self.lanes, axis=1)  # (n_leaves, 8): r_j of every leaf
        sums = {}  # id(node) -> the node's pairwise sum
        leaf_sums = _leaf_total(self.lane_sums, self.rest).tolist()

        def total(node):
            if id(node) not in sums:
                sums[id(node)] = leaf_sums[node] if isinstance(node, int) else total(node[0]) + total(node[1])
            return sums[id(node)]

        self.total = total(root)
        # siblings[leaf, d]: the sum of the other subtree at level d on the way up (0.0 past the root)
        paths = [None] * n_leaves

        def walk(node, path):
            if isinstance(node, int):
                paths[node] = path[::-1]
            else:
                walk(node[0], path + [total(node[1])])
                walk(node[1], path + [total(node[0])])

        walk(root, [])
        self.siblings = np.zeros((n_leaves, max(len(p) for p in paths)))
        for k, path in enumerate(paths):
            self.siblings[k, :len(path)] = path
        self.leaf_of = np.repeat(np.arange(n_leaves), self.length)

    def replaced(self, index: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``np.sum(a')`` for each p, where a' is ``a`` with ``a[index[p]] = values[p]`` (P,)."""
        index = np.asarray(index, dtype=np.intp)
        values = np.asarray(values, dtype=np.float64)
        rows = np.arange(index.size)
        leaf = self.leaf_of[index]
        offset = index - self.start[leaf]
        in_lanes = offset < self.unrolled[leaf]
        lane = np.where(in_lanes, offset % LANES, 0)
        # the changed lane, summed again left to right with the new value in its place
        elems = self.lanes[leaf, :, lane]  # (P, 16)
        hit = rows[in_lanes]
        elems[hit, offset[hit] // LANES] = values[hit]
        sums = self.lane_sums[leaf]  # (P, 8)
        sums[rows, lane] = _sequential(elems, axis=1)
        rest = self.rest[leaf]  # (P, 7)
        miss = rows[~in_lanes]
        rest[miss, offset[miss] - self.unrolled[leaf[miss]]] = values[miss]
        res = _leaf_total(sums, rest)
        for d in range(self.siblings.shape[1]):  # up the tree: addition commutes, so the side does not matter
            res += self.siblings[leaf, d]
        return res


def _tree(start, n, leaves):
    """NumPy's recursion over ``n`` entries from ``start``: a leaf's index in ``leaves`` (which gets
    its ``(start, n)``), or the pair ``(left, right)``."""
    if n <= LEAF:
        leaves.append((start, n))
        return len(leaves) - 1
    n2 = n // 2
    n2 -= n2 % LANES
    return _tree(start, n2, leaves), _tree(start + n2, n - n2, leaves)


def _sequential(x, axis):
    """Left-to-right sums along ``axis`` (x0 + x1 + x2 + ...), vectorized over the other axes."""
    x = np.moveaxis(x, axis, 0)
    acc = x[0].copy()
    for row in x[1:]:
        acc += row
    return acc


def _leaf_total(lane_sums, rest):
    """A leaf's sum from its eight lanes (k, 8) and its last entries (k, 7), as NumPy combines them:
    ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, then the entries one by one."""
    r = lane_sums
    res = ((r[:, 0] + r[:, 1]) + (r[:, 2] + r[:, 3])) + ((r[:, 4] + r[:, 5]) + (r[:, 6] + r[:, 7]))
    for q in range(rest.shape[1]):
        res += rest[:, q]
    return res


def _sum_blocks_probe(block: int, rng) -> tuple[float, float, float]:
    """(np.sum, one pairwise tree, blocks of ``block`` added left to right) of a random 2-D array
    of squares of 3 blocks and a bit, laid out as a weight matrix is."""
    n = (3 * block + 40) // LANES * LANES
    a = np.square(rng.standard_normal(n) * 10.0 ** rng.uniform(-4, 4, n))
    blocks = None
    for s in range(0, n, block):
        b = Pairwise(a[s:s + block]).total
        blocks = b if blocks is None else blocks + b
    return float(np.sum(a.reshape(-1, LANES), dtype=np.float64)), Pairwise(a).total, blocks


@functools.lru_cache(maxsize=None)
def numpy_sum_blocks(bufsize: int) -> int | None:
    """How this NumPy adds up ``np.sum(x, dtype=float64)`` of a float64 array of more than
    ``bufsize`` entries: 0 for one pairwise tree (NumPy >= 2.3), ``bufsize`` for blocks of that
    many entries added left to right (older NumPy), None if neither matches (then nothing can be
    replayed). Probed with random arrays until the two readings differ."""
    rng = np.random.RandomState(0)
    for _ in range(20):
        total, whole, blocks = _sum_blocks_probe(bufsize, rng)
        if whole != blocks:
            return 0 if total == whole else bufsize if total == blocks else None
    return None


class NumpySum:
    """``np.sum`` of a non-negative float64 array ``a`` as this NumPy computes it, and of copies with
    one entry changed (``replaced``), bit for bit: one ``Pairwise`` tree, or one per block."""

    def __init__(self, a: np.ndarray):
        a = np.ascontiguousarray(a, dtype=np.float64).ravel()
        block = numpy_sum_blocks(np.getbufsize())
        if block is None:
            raise ValueError("this NumPy's summation order is not one that can be replayed")
        self.block = block if 0 < block < a.size else a.size
        self.trees = [Pairwise(a[s:s + self.block]) for s in range(0, a.size, self.block)]
        self.sums = np.array([t.total for t in self.trees])  # each block's pairwise sum

    def replaced(self, index: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``np.sum(a')`` for each p, where a' is ``a`` with ``a[index[p]] = values[p]`` (P,)."""
        index = np.asarray(index, dtype=np.intp)
        values = np.asarray(values, dtype=np.float64)
        which = index // self.block
        changed = self.sums[which]  # the changed block's new sum, for each p
        for k, tree in enumerate(self.trees):
            sel = np.flatnonzero(which == k)
            if sel.size:
                changed[sel] = tree.replaced(index[sel] - k * self.block, values[sel])
        res = np.where(which == 0, changed, self.sums[0])
        for k in range(1, len(self.trees)):  # the blocks' sums, left to right
            res = res + np.where(which == k, changed, self.sums[k])
        return res
