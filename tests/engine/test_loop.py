import warnings

import numpy as np
import pytest

import practicaldl as pdl
from practicaldl.engine import loop as training


@pytest.fixture(scope="module")
def moons():
    return pdl.load_dataset("moons")


def test_exploding_cost_stops_training_with_advice(moons):
    """learning_rate 100 overshoots: the cost climbs past DIVERGENCE_FACTOR * (cost_1 + 1) within
    a few iterations, long before anything overflows; no RuntimeWarning escapes on the way."""
    clf = pdl.NeuralNetClassifier((8,), learning_rate=100, max_iter=200, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(pdl.NumericalError, match=r"the cost rose to .* at iteration \d+ \(learning_rate=100\)"):
            clf.fit(moons.X_train, moons.y_train)
    assert not hasattr(clf, "parameters_")


def test_divergence_threshold_is_the_documented_one():
    history = training.History()
    training._record(history, 1, 0.5, 0.5, 0.1)
    training._record(history, 2, training.DIVERGENCE_FACTOR * 1.5, 0.0, 0.1)  # at the limit: allowed
    with pytest.raises(pdl.NumericalError, match="iteration 3"):
        training._record(history, 3, training.DIVERGENCE_FACTOR * 1.5 + 1e-9, 0.0, 0.1)
    with pytest.raises(pdl.NumericalError, match="the cost became nan"):
        training._record(history, 3, float("nan"), 0.0, 0.1)
    assert history.n_iter == 2 and len(history.cost) == 2


def test_a_large_but_falling_first_cost_is_not_divergence():
    """random x10 starts near 1773 and falls: training runs to the end."""
    data = pdl.load_dataset("circles")
    clf = pdl.NeuralNetClassifier((10, 5), init="random", init_scale=10, max_iter=300, random_state=3)
    clf.fit(data.X_train, data.y_train)
    assert clf.n_iter_ == 300 and clf.cost_history_[0] > 1000 > clf.cost_history_[-1]


def test_callbacks_see_each_iteration_and_can_stop(moons):
    X, Y = moons.X_train.T, moons.y_train[None, :].astype(float)
    params = pdl.initialize_parameters([2, 6, 1], rng=np.random.RandomState(0))
    seen = []

    def callback(info):
        # the gradients handed over are those of the iteration's step, at the pre-update parameters
        seen.append((info.iteration, info.cost, {k: v.copy() for k, v in info.grads.items()}))
        return info.iteration == 5

    _, history = training.train(params, X, Y, learning_rate=0.1, max_iter=100, rng=np.random.RandomState(0),
                                callbacks=(callback,))
    assert [s[0] for s in seen] == [1, 2, 3, 4, 5] and history.n_iter == 5
    assert history.stop_reason == "stopped by a callback at iteration 5"
    assert [s[1] for s in seen] == history.cost
    cost, grads = pdl.cost_and_gradients(params, X, Y)
    assert cost == seen[0][1] and all(np.array_equal(grads[k], seen[0][2][k]) for k in grads)


def test_blas_threads_setting(moons):
    a = pdl.NeuralNetClassifier((8,), max_iter=50, random_state=0, blas_threads=1).fit(moons.X_train, moons.y_train)
    b = pdl.NeuralNetClassifier((8,), max_iter=50, random_state=0, blas_threads=1).fit(moons.X_train, moons.y_train)
    assert a.cost_history_ == b.cost_history_
    with pytest.raises(ValueError, match="blas_threads must be None or a positive integer, got 0"):
        pdl.NeuralNetClassifier(max_iter=5, blas_threads=0).fit(moons.X_train, moons.y_train)


def test_train_does_not_mutate_the_initial_parameters(moons):
    params = pdl.initialize_parameters([2, 6, 1], rng=np.random.RandomState(0))
    before = {k: v.copy() for k, v in params.items()}
    trained, _ = training.train(params, moons.X_train.T, moons.y_train[None, :].astype(float), learning_rate=0.1,
                                max_iter=20, rng=np.random.RandomState(0))
    assert all(np.array_equal(before[k], params[k]) for k in params)
    assert not np.array_equal(trained["W1"], params["W1"])


@pytest.mark.parametrize("kw, message", [
    (dict(l2=1e300), r"after the last update the cost became (inf|nan) .* at iteration 1 \(learning_rate=0.1\)"),
    (dict(learning_rate=1e4), r"after the last update the cost became .* \(from .* at the start\) at iteration 1"),
])
def test_a_last_update_that_explodes_is_caught(kw, message, moons):
    """One iteration: the history holds the cost before the update, so only the check of the final
    parameters can see that the update blew them up."""
    X, Y = moons.X_train.T, moons.y_train[None, :].astype(float)
    params = pdl.initialize_parameters([2, 6, 1], rng=np.random.RandomState(0))
    for step in ("fast", "reference"):
        with pytest.raises(pdl.NumericalError, match=message):
            training.train(params, X, Y, **{"learning_rate": 0.1, **kw}, max_iter=1, rng=0, step=step)
    trained, history = training.train(params, X, Y, learning_rate=0.1, max_iter=1, rng=0)  # the same run, sane
    assert history.n_iter == 1


def test_a_schedule_and_the_learning_rate_history():
    X, Y = np.eye(2)[:, [0, 1, 0, 1]], np.array([[0.0, 1.0, 0.0, 1.0]])
    params = pdl.initialize_parameters([2, 3, 1], rng=np.random.RandomState(0))
    opt = pdl.GradientDescent(0.5, schedule=lambda lr0, epoch: lr0 / (1 + epoch))
    _, history = training.train(params, X, Y, optimizer=opt, max_iter=4, rng=0)
    # epoch 0 ends: 0.5 / 1; epoch 1 ends: 0.5 / 2; epoch 2 ends: 0.5 / 3
    assert history.learning_rate == [0.5, 0.5, 0.25, 0.5 / 3] and opt.t == 4


@pytest.mark.parametrize("kw, message", [
    (dict(optimizer="adamw"), r"optimizer must be one of \['adam', 'gd', 'momentum', 'rmsprop'\] or an Optimizer, "
                              r"got 'adamw'"),
    (dict(learning_rate=None), "learning_rate is required with optimizer='gd'"),
    (dict(optimizer=pdl.GradientDescent(0.1)), r"learning_rate must be None when optimizer is an Optimizer"),
    (dict(step="turbo"), r"step must be one of \['fast', 'reference'\], got 'turbo'"),
    (dict(max_iter=0), "max_iter must be a positive integer, got 0"),
    (dict(batch_size=0), "batch_size must be a positive integer, got 0"),
    (dict(l2=-1), "l2 must be a non-negative finite number, got -1"),
    (dict(activation="elu"), r"activation must be one of \['relu', 'sigmoid', 'tanh'\], got 'elu'"),
    (dict(output="linear"), r"output must be one of \['sigmoid', 'softmax'\], got 'linear'"),
    (dict(keep_prob=0), r"keep_prob must be in \(0, 1\], got 0"),
    (dict(Y=np.zeros((2, 5))), r"Y must be \(n_L, m\) = \(1, 5\), got \(2, 5\)"),
    (dict(X=np.zeros((3, 5))), r"W1 must be \(n_1, 3\) and b1 \(n_1, 1\), got \(4, 2\) and \(4, 1\)"),
    (dict(X=np.zeros((2, 5), dtype=int)), r"X must be a 2-D float array, got ndarray int64 \(2, 5\)"),
    (dict(params={"W1": np.zeros((1, 2))}), r"params must hold W1, b1, ..., WL, bL, got keys \['W1'\]"),
    (dict(params={"W1": np.zeros((1, 2)), "b1": np.zeros((1, 1), np.float32)}),
     r"params must be float arrays of one dtype, got \['float32', 'float64'\]"),
])
def test_bad_arguments_name_the_argument_the_rule_and_the_value(kw, message):
    args = dict(params=pdl.initialize_parameters([2, 4, 1], rng=np.random.RandomState(0)), X=np.zeros((2, 5)),
                Y=np.zeros((1, 5)), learning_rate=0.1, max_iter=3, rng=0)
    args.update(kw)
    with pytest.raises(ValueError, match=message):
        training.train(args.pop("params"), args.pop("X"), args.pop("Y"), **args)
