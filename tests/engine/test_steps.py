"""The training loop is deterministic, keeps float32, and its fused step equals the plain math.

``training.train`` computes each step with ``_FusedStep`` (buffers, flat parameter vector; see
``training``'s docstring). These tests prove, on every run, that it gives bit for bit the
parameters and histories of a loop written here with the public core functions
(``forward_propagation``, ``compute_cost``, ``backward_propagation``, ``gradient_descent_step``),
in the course's order, for full batches, minibatches with a short last batch, dropout, L2,
relu/tanh/sigmoid hidden layers, sigmoid/softmax outputs, float32 and float64, and both layouts of
X. Equality is ``np.array_equal`` plus equal dtypes: no tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest

import practicaldl as pdl
from practicaldl.engine import loop as training
from practicaldl.core.network import backward_propagation, compute_cost, forward_propagation, initialize_parameters
from practicaldl.engine.optimizers import gradient_descent_step
from practicaldl.core.regularization import l2_penalty


# -- a reference loop, written with the public core functions only ------------------------------
def reference_train(params, X, Y, *, learning_rate, max_iter, rng, batch_size=None, l2=0.0, keep_prob=1.0,
                    activation="relu", output="sigmoid", fold_one_over_m=False):
    """The course's loop: per epoch one permutation, then per batch forward, cost, backward, step.

    ``fold_one_over_m=True`` is a planted change of floating-point order (``dW * (1/m)`` style):
    the gradient of the output layer is computed as ``(A - Y) * (1 / m)`` instead of ``/ m``.
    """
    params = {k: v.copy() for k, v in params.items()}
    m = X.shape[1]
    costs = []
    for _ in range(max_iter):
        if batch_size is None or batch_size >= m:
            batches = [(X, Y)]
        else:
            order = rng.permutation(m)
            batches = [(X[:, i], Y[:, i]) for i in np.array_split(order, np.arange(batch_size, m, batch_size))]
        total = 0.0
        for Xb, Yb in batches:
            _, cache = forward_propagation(params, Xb, keep_prob, rng, activation=activation, output=output)
            ce = compute_cost(cache, Yb)
            if fold_one_over_m:
                cache.A[-1] = cache.A[-1] * (1.0 / Yb.shape[1]) * Yb.shape[1]  # rounds A_L: a changed order
            grads = backward_propagation(params, Yb, cache, l2)
            total += Yb.shape[1] / m * (ce + l2_penalty(params, l2, Yb.shape[1]))
            gradient_descent_step(params, grads, learning_rate, inplace=True)
        costs.append(total)
    return params, costs


def assert_bit_identical(a: dict, b: dict):
    """Same keys, same dtypes, ``np.array_equal`` values."""
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, f"{k}: dtype {a[k].dtype} != {b[k].dtype}"
        assert np.array_equal(a[k], b[k]), f"{k} differs (max |diff| {np.max(np.abs(a[k] - b[k]))})"


def make_data(n_x, m, n_out, dtype, seed, layout):
    """X (n_x, m) in C order ("C"), as the transpose of a C-ordered (m, n_x) array ("T", the
    estimator's), or every other column of a wider array ("S", neither C- nor F-contiguous)."""
    rng = np.random.RandomState(seed)
    rows = rng.standard_normal((m, n_x))
    if layout == "S":
        X = np.zeros((n_x, 2 * m))[:, ::2]
        X[...] = rows.T
        assert not (X.flags.c_contiguous or X.flags.f_contiguous)
    else:
        X = np.ascontiguousarray(rows.T) if layout == "C" else rows.T
    if n_out == 1:
        Y = (rows[:, :1].T + 0.5 * rng.standard_normal((1, m)) > 0).astype(np.float64)
    else:
        Y = np.eye(n_out)[rng.randint(0, n_out, m)].T
    return X.astype(dtype, copy=False), Y.astype(dtype)


CONFIGS = {
    "full_relu_f64": dict(dims=[4, 9, 5, 1], m=120, dtype=np.float64, layout="T"),
    "full_relu_l2_dropout_C": dict(dims=[4, 9, 5, 1], m=120, dtype=np.float64, layout="C", l2=0.3,
                                   keep_prob=(0.8, 0.7)),
    "minibatch_dropout_l2_f64": dict(dims=[4, 8, 6, 1], m=130, dtype=np.float64, layout="T", batch_size=32,
                                     keep_prob=0.75, l2=0.2),
    "minibatch_C_layout": dict(dims=[4, 8, 1], m=101, dtype=np.float64, layout="C", batch_size=25, keep_prob=0.9),
    "tanh_f32": dict(dims=[4, 7, 5, 1], m=90, dtype=np.float32, layout="T", activation="tanh", l2=0.1),
    "sigmoid_dropout_f32_minibatch": dict(dims=[4, 7, 5, 1], m=90, dtype=np.float32, layout="T",
                                          activation="sigmoid", keep_prob=0.8, batch_size=40),
    "softmax_f64_minibatch": dict(dims=[4, 10, 3], m=77, dtype=np.float64, layout="T", output="softmax",
                                  batch_size=20, keep_prob=0.85, l2=0.05),
    "softmax_f32_full": dict(dims=[4, 6, 5, 3], m=60, dtype=np.float32, layout="T", output="softmax"),
    # shapes where BLAS takes its vector paths: one feature, one-unit layers, a last batch of 1
    "one_feature_one_unit_last_batch_of_1": dict(dims=[1, 1, 3, 1], m=41, dtype=np.float64, layout="T",
                                                 batch_size=20, keep_prob=(0.9, 0.8)),
    "one_example_batches_f32": dict(dims=[3, 4, 1], m=9, dtype=np.float32, layout="C", batch_size=1),
    "logistic_regression": dict(dims=[5, 1], m=50, dtype=np.float64, layout="T", l2=0.1),
    "strided_X_full": dict(dims=[4, 6, 1], m=64, dtype=np.float64, layout="S", l2=0.1),
    "strided_X_minibatch": dict(dims=[4, 6, 1], m=64, dtype=np.float32, layout="S", batch_size=30, keep_prob=0.8),
    "long_full_batch_deferred_costs": dict(dims=[3, 5, 1], m=40, dtype=np.float32, layout="T", max_iter=300),
}


def _run_both(cfg, seed=0, max_iter=15, learning_rate=0.1, make_rng=np.random.RandomState, **train_kw):
    cfg = dict(cfg)
    max_iter = cfg.pop("max_iter", max_iter)
    dims, m, dtype, layout = cfg.pop("dims"), cfg.pop("m"), cfg.pop("dtype"), cfg.pop("layout")
    X, Y = make_data(dims[0], m, dims[-1], dtype, seed, layout)
    params0 = initialize_parameters(dims, rng=np.random.RandomState(seed + 1), dtype=dtype)
    fused = training.train(params0, X, Y, learning_rate=learning_rate, max_iter=max_iter, rng=make_rng(seed + 2),
                           **cfg, **train_kw)
    reference = reference_train(params0, X, Y, learning_rate=learning_rate, max_iter=max_iter,
                                rng=make_rng(seed + 2), **cfg)
    return fused, reference


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_fused_step_equals_the_public_core_functions(name, fused_only):
    (params, history), (ref_params, ref_costs) = _run_both(CONFIGS[name])
    assert_bit_identical(params, ref_params)
    assert history.cost == ref_costs  # Python floats: exact equality
    assert all(v.dtype == CONFIGS[name]["dtype"] for v in params.values())


WIDER = {
    "minibatch": dict(dims=[300, 256, 1], m=200, layout="T", batch_size=64, l2=0.2),
    # W_1 and W_2 over _blas.MIN_SIZE entries, no L2: lr dW straight out of gemm (scaled_product)
    "minibatch_no_l2": dict(dims=[300, 256, 260, 1], m=200, layout="T", batch_size=64),
    # the same with dropout: backward updates W_l after dA_{l-1} and its masks (see _FusedStep)
    "minibatch_dropout_no_l2": dict(dims=[300, 256, 260, 1], m=200, layout="T", batch_size=64,
                                    keep_prob=(0.8, 0.9)),
    # every hidden Z over _blas.MIN_SIZE entries: the biases through BLAS too
    "full_two_hidden": dict(dims=[40, 300, 260, 1], m=260, layout="C"),
}


@pytest.mark.parametrize("name", sorted(WIDER))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_wider_network_equals_the_reference(dtype, name, fused_only):
    """Products large enough for BLAS's blocked kernels (K = 300 and 256) and for ``np.matmul``
    (``training._product``), an update and biases large enough for ``_blas``, both dtypes."""
    cfg = dict(WIDER[name], dtype=dtype)
    (params, history), (ref_params, ref_costs) = _run_both(cfg, max_iter=2, learning_rate=0.05)
    assert_bit_identical(params, ref_params)
    assert history.cost == ref_costs


@pytest.mark.parametrize("name, epochs, calls", [
    ("sigmoid_dropout_f32_minibatch", 15, 30),  # 90 = 2 x 40 + 10: the short last batch on its own
    ("one_example_batches_f32", 15, 15),  # 9 batches of 1: one block an epoch
    ("long_full_batch_deferred_costs", 300, 5),  # full batch: 4 blocks of 64 iterations, then 44
])
def test_costs_are_computed_once_a_block_not_once_a_batch(name, epochs, calls, fused_only, monkeypatch):
    """The deferral is real: the cross-entropy's terms are evaluated per block of batches (an
    epoch of minibatches, 64 full-batch iterations), and the history still equals the reference."""
    seen = []
    terms = training._binary_cross_entropy_terms
    monkeypatch.setattr(training, "_binary_cross_entropy_terms", lambda *a: (seen.append(a[0].shape), terms(*a))[1])
    (params, history), (ref_params, ref_costs) = _run_both(CONFIGS[name])
    assert history.cost == ref_costs and len(history.cost) == epochs
    assert len(seen) == calls, seen[:4]


def test_fused_step_equals_the_reference_with_a_generator(fused_only):
    (params, history), (ref_params, ref_costs) = _run_both(CONFIGS["minibatch_dropout_l2_f64"],
                                                           make_rng=np.random.default_rng)
    assert_bit_identical(params, ref_params)
    assert history.cost == ref_costs


def test_fused_and_plain_paths_agree_with_blas_threads_set():
    """Small products run on one thread whatever the setting; ``blas_threads=1`` changes nothing."""
    cfg = CONFIGS["minibatch_dropout_l2_f64"]
    (p1, h1), _ = _run_both(cfg)
    (p2, h2), _ = _run_both(cfg, fused=False, blas_threads=1)
    assert_bit_identical(p1, p2)
    assert h1.cost == h2.cost and h1.cross_entropy == h2.cross_entropy


def test_planted_change_of_order_is_detected():
    """The comparison is sharp: one rounding moved (A_L scaled by 1/m, then back) changes the bits."""
    cfg = dict(CONFIGS["full_relu_f64"])
    dims, m = cfg.pop("dims"), cfg.pop("m")
    X, Y = make_data(dims[0], m, 1, np.float64, 0, cfg.pop("layout"))
    cfg.pop("dtype")
    params0 = initialize_parameters(dims, rng=np.random.RandomState(1))
    good, _ = reference_train(params0, X, Y, learning_rate=0.1, max_iter=15, rng=np.random.RandomState(2))
    planted, _ = reference_train(params0, X, Y, learning_rate=0.1, max_iter=15, rng=np.random.RandomState(2),
                                 fold_one_over_m=True)
    with pytest.raises(AssertionError):
        assert_bit_identical(good, planted)
    one_ulp = {k: np.nextafter(v, np.inf) if k == "W1" else v for k, v in good.items()}
    with pytest.raises(AssertionError):
        assert_bit_identical(good, one_ulp)


# -- same seed, same bits (through the estimator, as a user calls it) ----------------------------
ESTIMATOR_CASES = {
    "full_batch": dict(hidden_layer_sizes=(8, 4), max_iter=60),
    "minibatch": dict(hidden_layer_sizes=(8, 4), max_iter=8, batch_size=32),
    "dropout_l2": dict(hidden_layer_sizes=(8, 4), max_iter=60, keep_prob=0.8, l2=0.3),
    "minibatch_dropout_float32": dict(hidden_layer_sizes=(8, 4), max_iter=8, batch_size=50, keep_prob=0.9,
                                      dtype=np.float32),
    "softmax_float32": dict(hidden_layer_sizes=(12,), max_iter=30, dtype=np.float32, classes=3),
}


def _estimator_data(dtype=np.float64, classes=2):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((150, 5)).astype(dtype)
    y = (X[:, 0] * X[:, 1] > 0).astype(int) if classes == 2 else np.digitize(X[:, 0], [-0.4, 0.4])
    return X, y


@pytest.mark.parametrize("name", sorted(ESTIMATOR_CASES))
def test_same_seed_gives_identical_fits(name):
    kw = dict(ESTIMATOR_CASES[name])
    X, y = _estimator_data(kw.pop("dtype", np.float64), kw.pop("classes", 2))
    a = pdl.NeuralNetClassifier(learning_rate=0.1, random_state=7, **kw).fit(X, y)
    b = pdl.NeuralNetClassifier(learning_rate=0.1, random_state=7, **kw).fit(X, y)
    assert_bit_identical(a.parameters_, b.parameters_)
    assert a.cost_history_ == b.cost_history_ and a.cross_entropy_history_ == b.cross_entropy_history_
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    c = pdl.NeuralNetClassifier(learning_rate=0.1, random_state=8, **kw).fit(X, y)  # the test can fail
    assert a.cost_history_ != c.cost_history_


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("classes", [2, 3])
def test_dtype_is_kept_end_to_end(dtype, classes):
    X, y = _estimator_data(dtype, classes)
    clf = pdl.NeuralNetClassifier(hidden_layer_sizes=(6,), max_iter=5, batch_size=40, random_state=0).fit(X, y)
    assert {v.dtype for v in clf.parameters_.values()} == {np.dtype(dtype)}
    assert clf.predict_proba(X).dtype == dtype
    assert clf.predict_proba(X.astype(np.float64)).dtype == dtype  # the model's dtype decides


# -- callbacks, early stopping and numerical errors through the fused step -----------------------
def test_callbacks_get_valid_grads_and_cache_that_stay_valid(fused_only):
    """What a callback kept is never overwritten (nor scaled by the learning rate in place)."""
    cfg = dict(CONFIGS["minibatch_dropout_l2_f64"])
    dims, m, dtype, layout = cfg.pop("dims"), cfg.pop("m"), cfg.pop("dtype"), cfg.pop("layout")
    X, Y = make_data(dims[0], m, 1, dtype, 0, layout)
    params0 = initialize_parameters(dims, rng=np.random.RandomState(1))
    kept, copies = [], []

    def keep(info):
        kept.append((info.grads, info.cache))
        copies.append(({k: v.copy() for k, v in info.grads.items()}, [z.copy() for z in info.cache.Z],
                       [a.copy() for a in info.cache.A], [None if d is None else d.copy() for d in info.cache.masks]))

    training.train(params0, X, Y, learning_rate=0.1, max_iter=4, rng=np.random.RandomState(2), callbacks=(keep,), **cfg)
    for (grads, cache), (g_copy, z_copy, a_copy, m_copy) in zip(kept, copies):
        assert_bit_identical(grads, g_copy)
        assert all(np.array_equal(z, c) for z, c in zip(cache.Z, z_copy))
        assert all(np.array_equal(a, c) for a, c in zip(cache.A, a_copy))
        assert all(np.array_equal(d, c) for d, c in zip(cache.masks, m_copy))
    # the last cache is the last minibatch's, as the plain step gives it
    assert kept[-1][1].A[0].shape == (dims[0], m % cfg["batch_size"])
    assert isinstance(kept[-1][1], pdl.Cache) and kept[-1][1].keep_prob == (0.75, 0.75)


def test_callbacks_see_what_the_plain_step_gives():
    cfg = dict(CONFIGS["sigmoid_dropout_f32_minibatch"])
    records = {}
    for fused in (True, False):
        seen = []

        def record(info):
            seen.append((info.iteration, info.cost, info.cross_entropy, {k: v.copy() for k, v in info.grads.items()},
                         [g.copy() for g in info.cache.G], {k: v.copy() for k, v in info.params.items()}))

        _run_both(cfg, max_iter=3, fused=fused, callbacks=(record,))
        records[fused] = seen
    for a, b in zip(records[True], records[False], strict=True):
        assert a[:3] == b[:3]
        assert_bit_identical(a[3], b[3])
        assert all(np.array_equal(x, y) for x, y in zip(a[4], b[4]))
        assert_bit_identical(a[5], b[5])


def test_early_stopping_and_callback_stop_match_the_plain_step():
    X, y = _estimator_data()
    kw = dict(hidden_layer_sizes=(16,), learning_rate=0.5, max_iter=300, early_stopping=True, n_iter_no_change=5,
              tol=1e-3, random_state=3)
    clf = pdl.NeuralNetClassifier(**kw).fit(X, y)
    assert clf.n_iter_ < 300 and "restored" in clf.stop_reason_
    XT, Y = X.T, y.reshape(1, -1).astype(float)
    params0 = initialize_parameters([5, 6, 1], rng=np.random.RandomState(0))
    out = {}
    for fused in (True, False):
        out[fused] = training.train(params0, XT[:, :100], Y[:, :100], learning_rate=0.5, max_iter=300,
                                    rng=np.random.RandomState(1), validation=(XT[:, 100:], Y[:, 100:]),
                                    n_iter_no_change=5, tol=1e-3, fused=fused,
                                    callbacks=(lambda info: info.iteration == 250,))
    (pf, hf), (pp, hp) = out[True], out[False]
    assert_bit_identical(pf, pp)
    assert hf.cost == hp.cost and hf.validation_cost == hp.validation_cost
    assert hf.stop_reason == hp.stop_reason and hf.best_iteration == hp.best_iteration


def test_divergence_raises_numerical_error_at_the_same_iteration():
    X, Y = make_data(4, 80, 1, np.float64, 0, "T")
    params0 = initialize_parameters([4, 8, 1], init="random", init_scale=50, rng=np.random.RandomState(0))
    messages = []
    for fused in (True, False):
        with pytest.raises(training.NumericalError) as err, np.errstate(all="ignore"):
            training.train(params0, X, Y, learning_rate=1e6, max_iter=500, rng=np.random.RandomState(1),
                           fused=fused)
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    with np.errstate(all="ignore"):
        _, costs = reference_train(params0, X, Y, learning_rate=1e6, max_iter=500, rng=np.random.RandomState(1))
    limit = training.DIVERGENCE_FACTOR * (costs[0] + 1)
    first_bad = next(i for i, c in enumerate(costs, start=1) if not np.isfinite(c) or c > limit)
    assert f"at iteration {first_bad} " in messages[0]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_blas_threads_is_validated(bad):
    X, Y = make_data(2, 10, 1, np.float64, 0, "T")
    params = initialize_parameters([2, 3, 1], rng=np.random.RandomState(0))
    with pytest.raises(ValueError, match=r"blas_threads must be None or a positive integer, got"):
        training.train(params, X, Y, learning_rate=0.1, max_iter=1, rng=np.random.RandomState(0), blas_threads=bad)


def test_mixed_dtypes_fall_back_to_the_plain_step():
    """float32 weights with float64 data: not fusable, and the plain step's promotions are kept."""
    X, Y = make_data(3, 40, 1, np.float64, 0, "T")
    params0 = initialize_parameters([3, 4, 1], rng=np.random.RandomState(0), dtype=np.float32)
    assert not training._fusable(params0, X, Y)
    params, history = training.train(params0, X, Y, learning_rate=0.1, max_iter=5, rng=np.random.RandomState(1))
    ref, costs = reference_train(params0, X, Y, learning_rate=0.1, max_iter=5, rng=np.random.RandomState(1))
    assert_bit_identical(params, ref)
    assert history.cost == costs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_against_an_array_of_zeros_is_relu(dtype):
    """The fused step's ``np.maximum(Z, zeros)`` is ``activations.relu`` (``np.maximum(Z, 0)``) bit
    for bit, signed zeros, infinities, NaN and subnormals included."""
    tiny = np.finfo(dtype).smallest_subnormal
    values = np.array([-0.0, 0.0, np.nan, -np.nan, np.inf, -np.inf, 1.5, -2.5, tiny, -tiny], dtype=dtype)
    Z = np.tile(values, 37).reshape(37, -1)
    fused = np.maximum(Z, np.zeros_like(Z))
    from practicaldl.core.activations import relu

    plain = relu(Z)
    as_int = np.uint64 if dtype == np.float64 else np.uint32
    assert np.array_equal(fused.view(as_int), plain.view(as_int))
    # without callbacks ReLU goes over Z itself and backward takes its mask from g(Z): the same mask
    assert np.array_equal(np.greater(fused, 0), np.greater(Z, 0))
