"""A fully-connected network in the course's notation: initialize, forward, cost, backward.

Layout (columns are examples)::

    X    (n_x, m)        A_0 = X
    W_l  (n_l, n_{l-1})  b_l (n_l, 1)
    Z_l = W_l A_{l-1} + b_l                     (n_l, m)
    A_l = g(Z_l)          l = 1 .. L-1          hidden layers, g = relu | sigmoid | tanh
    A_l = A_l * D_l / keep_prob_l               inverted dropout, training only
    A_L = sigmoid(Z_L) or softmax(Z_L)          output layer

Backward (``losses`` gives ``dZ_L``; ``regularization`` the L2 term)::

    dZ_L = (A_L - Y) / m
    dW_l = dZ_l A_{l-1}^T + (l2 / m) W_l         db_l = sum_columns(dZ_l)
    dA_{l-1} = W_l^T dZ_l  (* D_{l-1} / keep_prob_{l-1})
    dZ_{l-1} = dA_{l-1} * g'(Z_{l-1})

Parameter dicts use keys ``W1, b1, ..., WL, bL``; gradient dicts ``dW1, db1, ...``. Nothing here
prints, reads files or touches a global random generator: every draw comes from the ``rng``
passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .validation import check_choice, check_keep_prob, check_layer_dims, check_positive
from .activations import get_activation
from .dropout import apply_mask, draw_mask
from .initializers import INITIALIZERS
from .losses import OUTPUTS
from .randomness import as_generator
from .regularization import l2_gradient, l2_penalty


def n_layers(params: dict) -> int:
    """L, the number of layers with weights (input layer not counted)."""
    return len(params) // 2


def initialize_parameters(layer_dims, init="he", init_scale: float = 1.0, rng=None, dtype=np.float64) -> dict:
    """Draw ``W_l`` (n_l, n_{l-1}) for l = 1..L with ``init`` and set ``b_l`` (n_l, 1) to zero.

    ``layer_dims`` is ``[n_x, n_1, ..., n_L]``. ``init`` is a name from
    ``initializers.INITIALIZERS`` or a callable ``init(shape, rng) -> W``. Weights are drawn in
    float64, layer by layer, then cast to ``dtype`` (so a float32 net starts from the same draw).

    >>> p = initialize_parameters([3, 2, 1], init="random", init_scale=10, rng=np.random.RandomState(3))
    >>> p["W1"].round(4).tolist()[0]
    [17.8863, 4.3651, 0.965]
    """
    dims = check_layer_dims(layer_dims)
    initializer = check_choice("init", init, INITIALIZERS)
    check_positive("init_scale", init_scale)
    rng = as_generator(rng)
    dtype = np.dtype(dtype)
    params = {}
    for l in range(1, len(dims)):
        shape = (dims[l], dims[l - 1])  # (n_l, n_{l-1})
        if callable(init) and not isinstance(init, str):
            W = np.asarray(initializer(shape, rng), dtype=np.float64) * init_scale
        else:
            W = initializer(shape, rng, init_scale)
        if W.shape != shape:
            raise ValueError(f"init must return an array of shape {shape} for layer {l}, got {W.shape}")
        params[f"W{l}"] = W.astype(dtype, copy=False)
        params[f"b{l}"] = np.zeros((dims[l], 1), dtype=dtype)
    return params


@dataclass
class Cache:
    """What forward keeps for backward and for the cost.

    ``A[0]`` is X and ``A[l]`` the (dropped-out) activation fed to layer l+1; ``G[l-1]`` is
    ``g(Z_l)`` before dropout (the same object as ``A[l]`` when no mask); ``Z[l-1]`` is ``Z_l``;
    ``masks[l-1]`` is hidden layer l's boolean mask or None.
    """

    Z: list
    A: list
    G: list
    masks: list
    keep_prob: tuple
    activation: str
    output: str
    extras: dict = field(default_factory=dict)

    @property
    def AL(self) -> np.ndarray:
        return self.A[-1]


def forward_propagation(params: dict, X: np.ndarray, keep_prob=1.0, rng=None, *, activation: str = "relu",
                        output: str = "sigmoid", masks=None):
    """Run the network on X (n_x, m); return ``(A_L, cache)``.

    With ``keep_prob < 1`` (a float, or one value per hidden layer) hidden activations are
    dropped with inverted dropout, masks drawn from ``rng`` layer by layer, or replayed from
    ``masks`` (a list from an earlier cache) when given. ``keep_prob == 1`` is evaluation mode.
    """
    L = n_layers(params)
    g = get_activation(activation).forward
    out = check_choice("output", output, OUTPUTS)
    keep = check_keep_prob(keep_prob, L - 1)
    if masks is None and any(p < 1 for p in keep):
        if rng is None:
            raise ValueError("rng is required when keep_prob < 1 (dropout draws its masks from it)")
        rng = as_generator(rng)
    A = X
    cache = Cache(Z=[], A=[X], G=[], masks=[], keep_prob=keep, activation=activation, output=output)
    for l in range(1, L + 1):
        Z = params[f"W{l}"] @ A + params[f"b{l}"]  # (n_l, m)
        cache.Z.append(Z)
        if l == L:
            A = out.activation(Z)
        else:
            A = g(Z)
            cache.G.append(A)
            mask = masks[l - 1] if masks is not None else draw_mask(A.shape, keep[l - 1], rng)
            cache.masks.append(mask)
            A = apply_mask(A, mask, keep[l - 1])
        cache.A.append(A)
    return A, cache


def compute_cost(cache: Cache, Y: np.ndarray, params: dict | None = None, l2: float = 0.0) -> float:
    """Cross-entropy from the cached logits ``Z_L`` plus the L2 penalty ``(l2/2m) sum ||W_l||^2``."""
    cost = OUTPUTS[cache.output].cost(cache.Z[-1], Y)
    if l2:
        if params is None:
            raise ValueError("params is required to add the L2 penalty (l2 > 0)")
        cost += l2_penalty(params, l2, Y.shape[1])
    return cost


def backward_propagation(params: dict, Y: np.ndarray, cache: Cache, l2: float = 0.0) -> dict:
    """Gradients ``{"dW1", "db1", ...}`` of the regularized cost; replays the cached dropout masks."""
    L = n_layers(params)
    m = Y.shape[1]
    g_prime = get_activation(cache.activation).derivative
    dZ = (cache.A[-1] - Y) / m  # (n_L, m): d cost / d Z_L for sigmoid/softmax + cross-entropy
    grads = {}
    for l in range(L, 0, -1):
        W = params[f"W{l}"]
        dW = dZ @ cache.A[l - 1].T  # (n_l, n_{l-1})
        if l2:
            dW = dW + l2_gradient(W, l2, m)
        grads[f"dW{l}"] = dW
        grads[f"db{l}"] = np.sum(dZ, axis=1, keepdims=True)  # (n_l, 1)
        if l > 1:
            dA = apply_mask(W.T @ dZ, cache.masks[l - 2], cache.keep_prob[l - 2])  # (n_{l-1}, m)
            dZ = dA * g_prime(cache.Z[l - 2], cache.G[l - 2])
    return {k: grads[k] for k in sorted(grads, key=lambda k: (int(k[2:]), k[1]))}


def cost_and_gradients(params: dict, X: np.ndarray, Y: np.ndarray, l2: float = 0.0, keep_prob=1.0, rng=None, *,
                       activation: str = "relu", output: str = "sigmoid", masks=None):
    """One forward and backward pass: ``(cost, grads)``."""
    _, cache = forward_propagation(params, X, keep_prob, rng, activation=activation, output=output, masks=masks)
    return compute_cost(cache, Y, params, l2), backward_propagation(params, Y, cache, l2)


def predict_proba(params: dict, X: np.ndarray, *, activation: str = "relu", output: str = "sigmoid") -> np.ndarray:
    """``A_L`` (n_L, m) with dropout off."""
    AL, _ = forward_propagation(params, X, 1.0, activation=activation, output=output)
    return AL


def predict(params: dict, X: np.ndarray, *, activation: str = "relu", output: str = "sigmoid") -> np.ndarray:
    """Class indices (m,): ``A_L > 0.5`` for a sigmoid output, ``argmax_k A_L`` for softmax."""
    AL = predict_proba(params, X, activation=activation, output=output)
    if output == "sigmoid":
        return (AL[0] > 0.5).astype(np.int64)
    return np.argmax(AL, axis=0)
