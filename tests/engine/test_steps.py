"""The fast step equals the reference step, and the reference step equals the public core functions.

``engine.loop.train`` runs ``steps.FastStep`` where it can and ``steps.ReferenceStep`` (built from
``forward_propagation`` / ``compute_cost`` / ``backward_propagation``) when asked or when it must.
Equality is ``np.array_equal`` of every parameter plus equal dtypes, and ``==`` of the Python
float costs: bit for bit, no tolerance. ``History.step`` proves which step ran.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import practicaldl as pdl
from practicaldl.core.activations import ACTIVATIONS, hidden_activations
from practicaldl.core.losses import OUTPUTS
from practicaldl.core.network import initialize_parameters
from practicaldl.engine import loop, steps
from practicaldl.engine.optimizers import OPTIMIZERS, GradientDescent, Optimizer, make_optimizer

TEST_REGISTERED = ["leaky_relu", "swish"]  # registered by the registered_activations fixture


def _run(make_data, *, dims, m, dtype=np.float64, layout="T", seed=0, max_iter=6, learning_rate=0.1, step="fast",
         make_rng=np.random.RandomState, **kw):
    X, Y = make_data(dims[0], m, dims[-1], dtype, seed, layout)
    params0 = initialize_parameters(dims, rng=np.random.RandomState(seed + 1), dtype=dtype)
    return loop.train(params0, X, Y, learning_rate=learning_rate, max_iter=max_iter, rng=make_rng(seed + 2),
                      step=step, **kw)


def _run_both(make_data, **cfg):
    fast = _run(make_data, step="fast", **cfg)
    reference = _run(make_data, step="reference", **cfg)
    assert fast[1].step == "fast", fast[1].step
    assert reference[1].step.startswith("reference")
    return fast, reference


# -- the grid: every registered activation x output x L2 x dropout x minibatch x dtype, and optimizer --
# The optimizers take turns along the grid, shifted by one every four points, so that each meets every
# (minibatch, dtype) pair, every activation and every output; test_every_optimizer_... crosses them fully.
_POINTS = list(itertools.product(hidden_activations() + TEST_REGISTERED, sorted(OUTPUTS), [0.0, 0.3], [1.0, 0.8],
                                 [None, 16], [np.float32, np.float64]))
GRID = [(*point, sorted(OPTIMIZERS)[(i + i // 4) % len(OPTIMIZERS)]) for i, point in enumerate(_POINTS)]
# RMSprop's first steps are lr / sqrt(1 - beta2) = 32 lr an entry (it has no bias correction): a rate of its own
RATES = {"gd": 0.1, "momentum": 0.1, "rmsprop": 0.002, "adam": 0.01}


@pytest.mark.parametrize("activation, output, l2, keep_prob, batch_size, dtype, optimizer", GRID,
                         ids=[f"{a}-{o}-l2{l}-keep{k}-batch{b}-{np.dtype(d).name}-{opt}"
                              for a, o, l, k, b, d, opt in GRID])
def test_fast_step_equals_the_reference_step(activation, output, l2, keep_prob, batch_size, dtype, optimizer,
                                             make_data, assert_same_bits, registered_activations):
    """m = 71 with minibatches of 16: four full batches and a short last one each epoch."""
    dims = [3, 6, 5, 1 if output == "sigmoid" else 3]
    (params, history), (ref_params, ref_history) = _run_both(
        make_data, dims=dims, m=71, dtype=dtype, activation=activation, output=output, l2=l2, keep_prob=keep_prob,
        batch_size=batch_size, optimizer=optimizer, learning_rate=RATES[optimizer])
    assert_same_bits(params, ref_params)
    assert history.cost == ref_history.cost and history.cross_entropy == ref_history.cross_entropy
    assert all(v.dtype == dtype for v in params.values())


def test_the_grid_covers_every_registered_hidden_activation_and_optimizer(registered_activations):
    assert set(hidden_activations()) == {a for a, *_ in GRID}
    assert {(b, d, opt) for *_, b, d, opt in GRID} == set(itertools.product([None, 16], [np.float32, np.float64],
                                                                            OPTIMIZERS))
    assert {(a, opt) for a, *_, opt in GRID} == set(itertools.product(hidden_activations() + TEST_REGISTERED,
                                                                      OPTIMIZERS))


OPTIMIZER_GRID = list(itertools.product(sorted(OPTIMIZERS), [None, 16], [np.float32, np.float64], [None, 3]))


@pytest.mark.parametrize("name, batch_size, dtype, decay_interval", OPTIMIZER_GRID,
                         ids=[f"{n}-batch{b}-{np.dtype(d).name}-decay{k}" for n, b, d, k in OPTIMIZER_GRID])
def test_every_optimizer_with_and_without_decay_gives_the_same_bits_on_both_steps(name, batch_size, dtype,
                                                                                  decay_interval, make_data,
                                                                                  assert_same_bits):
    """L2 and dropout on; the course's decay (rate 1, every 3 epochs) or none; 8 epochs: the
    parameters, the costs, the rates and the optimizer's state (t, v, s) all equal."""
    lr = RATES[name]
    opts = {kind: make_optimizer(name, lr, decay_rate=1.0 if decay_interval else None, decay_interval=decay_interval)
            for kind in ("fast", "reference")}
    runs = {kind: _run(make_data, dims=[3, 6, 5, 1], m=71, dtype=dtype, batch_size=batch_size, l2=0.3, keep_prob=0.8,
                       max_iter=8, learning_rate=None, optimizer=opts[kind], step=kind) for kind in opts}
    (params, history), (ref_params, ref_history) = runs["fast"], runs["reference"]
    assert history.step == "fast" and ref_history.step.startswith("reference")
    assert_same_bits(params, ref_params)
    assert history.cost == ref_history.cost and history.learning_rate == ref_history.learning_rate
    assert history.learning_rate == pytest.approx([lr] * 4 + [lr / 2] * 3 + [lr / 3] if decay_interval else [lr] * 8,
                                                  rel=1e-15)
    fast, reference = opts["fast"], opts["reference"]
    assert fast.t == reference.t == 8 * (1 if batch_size is None else 5)
    for state in fast.state:
        assert np.array_equal(getattr(fast, state), getattr(reference, state)) and getattr(fast, state).dtype == dtype


# -- the reference step is the public core functions --------------------------------------------
CONFIGS = {
    "full_relu": dict(dims=[4, 9, 5, 1], m=120),
    "full_C_layout_l2_dropout": dict(dims=[4, 9, 5, 1], m=120, layout="C", l2=0.3, keep_prob=(0.8, 0.7)),
    "minibatch_dropout_l2_tanh_f32": dict(dims=[4, 8, 6, 1], m=130, dtype=np.float32, batch_size=32, keep_prob=0.75,
                                          l2=0.2, activation="tanh"),
    "softmax_minibatch": dict(dims=[4, 10, 3], m=77, output="softmax", batch_size=20, keep_prob=0.85, l2=0.05),
    # shapes where BLAS takes its vector paths: one feature, one-unit layers, a last batch of 1
    "one_feature_one_unit_last_batch_of_1": dict(dims=[1, 1, 3, 1], m=41, batch_size=20, keep_prob=(0.9, 0.8)),
    "one_example_batches_C_f32": dict(dims=[3, 4, 1], m=9, dtype=np.float32, layout="C", batch_size=1),
    "logistic_regression": dict(dims=[5, 1], m=50, l2=0.1),
    "strided_X_full": dict(dims=[4, 6, 1], m=64, layout="S", l2=0.1),
    "strided_X_minibatch_f32": dict(dims=[4, 6, 1], m=64, dtype=np.float32, layout="S", batch_size=30, keep_prob=0.8),
    "full_batch_over_several_cost_blocks": dict(dims=[3, 5, 1], m=40, dtype=np.float32, max_iter=300),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_both_steps_equal_a_loop_of_the_public_core_functions(name, make_data, reference_train, assert_same_bits):
    cfg = {"dtype": np.float64, "layout": "T", "max_iter": 15, **CONFIGS[name]}
    fast, reference = _run_both(make_data, learning_rate=0.1, **cfg)
    dims, m, dtype, layout, max_iter = (cfg.pop(k) for k in ("dims", "m", "dtype", "layout", "max_iter"))
    X, Y = make_data(dims[0], m, dims[-1], dtype, 0, layout)
    params0 = initialize_parameters(dims, rng=np.random.RandomState(1), dtype=dtype)
    ref_params, ref_costs = reference_train(params0, X, Y, learning_rate=0.1, max_iter=max_iter,
                                            rng=np.random.RandomState(2), **cfg)
    for params, history in (fast, reference):
        assert_same_bits(params, ref_params)
        assert history.cost == ref_costs


WIDER = {
    "minibatch_l2": dict(dims=[300, 256, 1], m=200, batch_size=64, l2=0.2),
    "minibatch_dropout": dict(dims=[300, 256, 260, 1], m=200, batch_size=64, keep_prob=(0.8, 0.9)),
    "full_C_layout": dict(dims=[40, 300, 260, 1], m=260, layout="C"),
}


@pytest.mark.parametrize("name", sorted(WIDER))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_wider_network_equals_the_reference(dtype, name, make_data, assert_same_bits):
    """Products large enough for BLAS's blocked kernels (inner sizes 300, 256 and 260)."""
    (params, history), (ref_params, ref_history) = _run_both(make_data, dtype=dtype, max_iter=2, learning_rate=0.05,
                                                             **WIDER[name])
    assert_same_bits(params, ref_params)
    assert history.cost == ref_history.cost


def test_the_comparison_is_sharp(make_data, assert_same_bits):
    """One ulp in one entry, or another learning rate's last bits, fail the comparison."""
    cfg = dict(dims=[4, 9, 5, 1], m=120)
    (params, history), _ = _run_both(make_data, **cfg)
    with pytest.raises(AssertionError):
        assert_same_bits(params, {k: np.nextafter(v, np.inf) if k == "W1" else v for k, v in params.items()})
    other, other_history = _run(make_data, learning_rate=np.nextafter(0.1, 1), **cfg)
    with pytest.raises(AssertionError):
        assert_same_bits(params, other)
    assert history.cost != other_history.cost


# -- a registered activation trains as itself on the fast step ----------------------------------
def test_a_registered_leaky_relu_trains_as_itself_on_the_fast_step(make_data, assert_same_bits,
                                                                   registered_activations):
    """The bug this guards against: a fast step that trained any activation it did not know as tanh."""
    runs = {name: _run_both(make_data, dims=[3, 8, 1], m=90, activation=name, max_iter=20)
            for name in ("leaky_relu", "tanh", "relu")}
    (fast, fast_h), (ref, ref_h) = runs["leaky_relu"]
    assert_same_bits(fast, ref)
    assert fast_h.cost == ref_h.cost
    assert fast_h.cost != runs["tanh"][0][1].cost and fast_h.cost != runs["relu"][0][1].cost


def test_the_fast_step_uses_the_in_place_forms_where_registered(make_data, registered_activations, monkeypatch):
    calls = []
    act = ACTIVATIONS["leaky_relu"]
    monkeypatch.setitem(ACTIVATIONS, "leaky_relu", act._replace(
        forward=lambda Z: calls.append("forward") or act.forward(Z),
        forward_into=lambda Z, out: calls.append("forward_into") or act.forward_into(Z, out)))
    (_, history), _ = _run_both(make_data, dims=[3, 8, 1], m=30, activation="leaky_relu", max_iter=2)
    assert history.step == "fast" and "forward_into" in calls


def test_an_activation_that_changes_the_dtype_takes_the_reference_step(make_data, assert_same_bits,
                                                                       registered_activations):
    """float32 in, float64 out: the fast step's buffers could not hold it; the reference step trains."""
    pdl.register_activation("softplus64", lambda Z: np.logaddexp(0.0, Z.astype(np.float64)),
                            lambda Z, A: 1 / (1 + np.exp(-Z.astype(np.float64))))
    try:
        params, history = _run(make_data, dims=[3, 8, 1], m=30, dtype=np.float32, activation="softplus64")
        ref, ref_history = _run(make_data, dims=[3, 8, 1], m=30, dtype=np.float32, activation="softplus64",
                                step="reference")
    finally:
        ACTIVATIONS.pop("softplus64")
    assert history.step.startswith("reference: the forward of activation 'softplus64' does not return")
    assert_same_bits(params, ref)
    assert history.cost == ref_history.cost


def test_mixed_dtypes_take_the_reference_step_with_its_promotions(make_data, reference_train, assert_same_bits):
    """float32 weights with float64 data: the reference step, and gradient_descent_step's numbers."""
    X, Y = make_data(3, 40, 1, np.float64)
    params0 = initialize_parameters([3, 4, 1], rng=np.random.RandomState(0), dtype=np.float32)
    params, history = loop.train(params0, X, Y, learning_rate=0.1, max_iter=5, rng=np.random.RandomState(1))
    assert history.step.startswith("reference: X, Y and the parameters do not share one float dtype")
    ref, costs = reference_train(params0, X, Y, learning_rate=0.1, max_iter=5, rng=np.random.RandomState(1))
    assert_same_bits(params, ref)
    assert history.cost == costs


# -- one optimizer object for both steps ---------------------------------------------------------
class _Momentum(Optimizer):
    """A new optimizer is one class: ``v = beta v + (1 - beta) dW``; ``W -= lr v``."""

    name, state = "momentum_test", ("v",)

    def __init__(self, learning_rate=0.01, beta=0.9, schedule=None):
        super().__init__(learning_rate, schedule)
        self.beta = beta

    def update(self, theta, dtheta):
        v, tmp, beta = self.v, self.scratch, theta.dtype.type(self.beta)
        np.add(np.multiply(beta, v, out=v), np.multiply(1 - beta, dtheta, out=tmp), out=v)
        np.subtract(theta, np.multiply(theta.dtype.type(self.learning_rate), v, out=tmp), out=theta)


@pytest.mark.parametrize("batch_size", [None, 16])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_new_optimizer_class_runs_on_both_steps_with_the_same_numbers(batch_size, dtype, make_data,
                                                                        assert_same_bits):
    """Both steps, and the same rule written array by array over the parameter dicts."""
    cfg = dict(dims=[3, 6, 5, 1], m=50, dtype=dtype, batch_size=batch_size, l2=0.2, keep_prob=0.9, max_iter=7)
    opts = {kind: _Momentum(0.1, beta=0.8) for kind in ("fast", "reference")}
    runs = {kind: _run(make_data, learning_rate=None, optimizer=opts[kind], step=kind, **cfg) for kind in opts}
    assert_same_bits(runs["fast"][0], runs["reference"][0])
    assert runs["fast"][1].cost == runs["reference"][1].cost
    n_updates = 7 * (1 if batch_size is None else 4)
    assert opts["fast"].t == opts["reference"].t == n_updates
    # the same rule array by array, with the public core functions (the loop of reference_train)
    X, Y = make_data(3, 50, 1, dtype)
    params = initialize_parameters(cfg["dims"], rng=np.random.RandomState(1), dtype=dtype)
    velocity = {k: np.zeros_like(p) for k, p in params.items()}
    beta, lr, rng = dtype(0.8), dtype(0.1), np.random.RandomState(2)
    for _ in range(7):
        order = [None] if batch_size is None else np.array_split(rng.permutation(50), np.arange(16, 50, 16))
        for idx in order:
            Xb, Yb = (X, Y) if idx is None else (X[:, idx], Y[:, idx])
            _, grads = pdl.cost_and_gradients(params, Xb, Yb, l2=0.2, keep_prob=0.9, rng=rng)
            for k, p in params.items():
                velocity[k] = beta * velocity[k] + (1 - beta) * grads["d" + k]
                p -= lr * velocity[k]
    assert_same_bits(runs["fast"][0], params)


def test_the_optimizer_sees_every_update_and_the_schedule_every_epoch(make_data):
    """``step`` once per minibatch (t counts them), ``end_epoch(i)`` after epoch i; the history
    records the rate each epoch used."""
    epochs = []

    def schedule(lr0, epoch):
        epochs.append(epoch)
        return lr0 / (1 + epoch)

    opt = GradientDescent(0.4, schedule=schedule)
    _, history = _run(make_data, dims=[3, 4, 1], m=50, batch_size=16, learning_rate=None, optimizer=opt, max_iter=4)
    assert epochs == [0, 1, 2, 3] and opt.t == 4 * 4
    assert history.learning_rate == [0.4, 0.4, 0.2, 0.4 / 3]


# -- cost deferral, callbacks, early stopping, divergence: the same on both steps ----------------
@pytest.mark.parametrize("max_iter, m, blocks, per_step", [(300, 40, 5, 0), (10, 40, 1, 0), (10, 5000, 0, 10)])
def test_full_batch_costs_are_computed_once_a_block(max_iter, m, blocks, per_step, make_data, monkeypatch):
    """Z_L of up to 64 full-batch iterations (and DEFER_ENTRIES entries) is kept, and the cost's
    terms are evaluated once per block: 300 iterations of 40 examples are blocks of 64, 64, 64, 64,
    44. With room for one iteration a block the cost is computed at each step. (The loop's check of
    the final parameters computes one more cost.)"""
    seen = {"terms": 0, "cost": 0}
    out = OUTPUTS["sigmoid"]
    monkeypatch.setitem(OUTPUTS, "sigmoid", out._replace(
        terms=lambda Z, Y: seen.__setitem__("terms", seen["terms"] + 1) or out.terms(Z, Y),
        cost=lambda Z, Y: seen.__setitem__("cost", seen["cost"] + 1) or out.cost(Z, Y)))
    if per_step:
        monkeypatch.setattr(steps, "DEFER_ENTRIES", m)
    fast, history = _run(make_data, dims=[3, 5, 1], m=m, max_iter=max_iter)
    assert (seen["terms"], seen["cost"]) == (blocks, per_step + 1)  # + 1: the final parameters' check
    _, ref_history = _run(make_data, dims=[3, 5, 1], m=m, max_iter=max_iter, step="reference")
    assert history.cost == ref_history.cost and len(history.cost) == max_iter


def test_callbacks_get_grads_and_a_cache_that_stay_valid(make_data, assert_same_bits):
    """What a callback kept is never overwritten, and both steps hand over the same numbers."""
    records = {}
    for kind in ("fast", "reference"):
        kept = []

        def keep(info):
            kept.append((info, {k: v.copy() for k, v in info.grads.items()}, [z.copy() for z in info.cache.Z],
                         [a.copy() for a in info.cache.A], [None if d is None else d.copy() for d in info.cache.masks]))

        _run(make_data, dims=[4, 8, 6, 1], m=130, batch_size=32, keep_prob=0.75, l2=0.2, max_iter=4, step=kind,
             callbacks=(keep,))
        records[kind] = kept
    for (info, grads, Z, A, masks), (ref_info, *_) in zip(records["fast"], records["reference"], strict=True):
        assert_same_bits(info.grads, grads)
        assert all(np.array_equal(x, y) for x, y in zip(info.cache.Z, Z))
        assert all(np.array_equal(x, y) for x, y in zip(info.cache.A, A))
        assert all(np.array_equal(x, y) for x, y in zip(info.cache.masks, masks) if x is not None)
        assert_same_bits(info.grads, ref_info.grads)
        assert (info.iteration, info.cost, info.cross_entropy) == (ref_info.iteration, ref_info.cost,
                                                                   ref_info.cross_entropy)
        assert info.cache.A[0].shape == (4, 130 % 32)  # the last minibatch's
        assert isinstance(info.cache, pdl.Cache) and info.cache.keep_prob == (0.75, 0.75)


def test_early_stopping_and_a_stopping_callback_match(make_data, assert_same_bits):
    X, Y = make_data(5, 150, 1)
    params0 = initialize_parameters([5, 6, 1], rng=np.random.RandomState(0))
    out = {}
    for kind in ("fast", "reference"):
        out[kind] = loop.train(params0, X[:, :100], Y[:, :100], learning_rate=0.5, max_iter=300,
                               rng=np.random.RandomState(1), validation=(X[:, 100:], Y[:, 100:]), n_iter_no_change=5,
                               tol=1e-3, step=kind, callbacks=(lambda info: info.iteration == 250,))
    (pf, hf), (pr, hr) = out["fast"], out["reference"]
    assert_same_bits(pf, pr)
    assert hf.cost == hr.cost and hf.validation_cost == hr.validation_cost
    assert hf.stop_reason == hr.stop_reason and hf.best_iteration == hr.best_iteration
    assert "restored" in hf.stop_reason


def test_divergence_stops_at_the_same_iteration_on_both_steps(make_data, reference_train):
    X, Y = make_data(4, 80, 1)
    params0 = initialize_parameters([4, 8, 1], init="random", init_scale=50, rng=np.random.RandomState(0))
    messages = []
    for kind in ("fast", "reference"):
        with pytest.raises(loop.NumericalError) as err:
            loop.train(params0, X, Y, learning_rate=1e6, max_iter=500, rng=np.random.RandomState(1), step=kind)
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    with np.errstate(all="ignore"):
        _, costs = reference_train(params0, X, Y, learning_rate=1e6, max_iter=500, rng=np.random.RandomState(1))
    limit = loop.DIVERGENCE_FACTOR * (costs[0] + 1)
    first_bad = next(i for i, c in enumerate(costs, start=1) if not np.isfinite(c) or c > limit)
    assert f"at iteration {first_bad} " in messages[0]


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
def test_same_seed_dtype_and_threads_give_identical_fits(name, assert_same_bits):
    kw = dict(ESTIMATOR_CASES[name])
    X, y = _estimator_data(kw.pop("dtype", np.float64), kw.pop("classes", 2))
    a = pdl.NeuralNetClassifier(learning_rate=0.1, random_state=7, blas_threads=1, **kw).fit(X, y)
    b = pdl.NeuralNetClassifier(learning_rate=0.1, random_state=7, blas_threads=1, **kw).fit(X, y)
    assert_same_bits(a.parameters_, b.parameters_)
    assert a.cost_history_ == b.cost_history_ and a.cross_entropy_history_ == b.cross_entropy_history_
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    c = pdl.NeuralNetClassifier(learning_rate=0.1, random_state=8, blas_threads=1, **kw).fit(X, y)
    assert a.cost_history_ != c.cost_history_  # the comparison can fail


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("classes", [2, 3])
def test_dtype_is_kept_end_to_end(dtype, classes):
    X, y = _estimator_data(dtype, classes)
    clf = pdl.NeuralNetClassifier(hidden_layer_sizes=(6,), max_iter=5, batch_size=40, random_state=0).fit(X, y)
    assert {v.dtype for v in clf.parameters_.values()} == {np.dtype(dtype)}
    assert clf.predict_proba(X).dtype == dtype
    assert clf.predict_proba(X.astype(np.float64)).dtype == dtype  # the model's dtype decides


# -- the pieces the fast step relies on -----------------------------------------------------------
@pytest.mark.parametrize("layout", ["T", "C", "S"])
def test_a_gathered_minibatch_has_the_layout_of_fancy_indexing(layout, make_data):
    """The products see the same operands as the reference step's ``X[:, idx]``: values and layout."""
    X, Y = make_data(5, 40, 1, np.float64, 0, layout)
    params = initialize_parameters([5, 3, 1], rng=np.random.RandomState(0))
    step = steps.FastStep(params, X, Y, batch_capacity=16, l2=0.0, keep_prob=(1.0,), activation="relu",
                          output="sigmoid", optimizer=GradientDescent(0.1))
    idx = np.random.RandomState(1).permutation(40)[:16]
    step(idx, None)
    gathered, expected = step._last[1][0], X[:, idx]
    assert np.array_equal(gathered, expected)
    assert (gathered.flags.c_contiguous, gathered.flags.f_contiguous) == (expected.flags.c_contiguous,
                                                                          expected.flags.f_contiguous)


SPECIAL = [-0.0, 0.0, np.nan, np.inf, -np.inf, 1.5, -2.5, 1e-30, -1e-30, 40.0, -40.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", hidden_activations() + ["leaky_relu"])  # those with in-place forms
def test_in_place_forms_give_the_functions_bits(name, dtype, registered_activations):
    """Signed zeros, infinities, NaN and subnormals included: ``forward_into`` is ``forward`` and
    ``dA * derivative_into`` is ``dA * derivative``, bit for bit."""
    act = ACTIVATIONS[name]
    tiny = np.finfo(dtype).smallest_subnormal
    Z = np.tile(np.array(SPECIAL + [tiny, -tiny], dtype), 5).reshape(5, -1)
    dA = np.random.RandomState(0).standard_normal(Z.shape).astype(dtype)  # both signs: signed zeros in dA * g'
    as_int = np.uint64 if dtype == np.float64 else np.uint32
    with np.errstate(all="ignore"):
        A = act.forward(Z)
        A_into = act.forward_into(Z, np.empty_like(Z))
        D = dA * act.derivative(Z, A)
        D_into = dA * act.derivative_into(Z, A, np.empty(Z.shape, np.asarray(act.derivative(Z, A)).dtype))
    assert np.array_equal(A.view(as_int), A_into.view(as_int))
    assert np.array_equal(D.view(as_int), D_into.view(as_int))
