import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import practicaldl as pdl
from practicaldl import estimator as estimator_module
from practicaldl.io.datasets import load_circles

FAST = dict(max_iter=300, learning_rate=0.1, random_state=0)


@pytest.fixture(scope="module")
def moons():
    return pdl.load_dataset("moons")


def test_check_estimator_passes():
    """scikit-learn's own estimator checks (pandas is installed, so their DataFrame variants run);
    the only ones allowed not to pass are skips for the array API, which needs SCIPY_ARRAY_API."""
    results = check_estimator(pdl.NeuralNetClassifier(**FAST), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert failed == []
    assert sum(r["status"] == "passed" for r in results) >= 50


def test_clone_grid_search_pipeline_cross_val(moons):
    clf = pdl.NeuralNetClassifier((8,), **FAST)
    assert clone(clf).get_params() == clf.get_params()
    pipe = make_pipeline(StandardScaler(), clf)
    scores = cross_val_score(pipe, moons.X_train, moons.y_train, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8
    grid = GridSearchCV(clf, {"l2": [0.0, 1.0], "keep_prob": [1.0, 0.8]}, cv=3).fit(moons.X_train, moons.y_train)
    assert grid.best_params_["l2"] in (0.0, 1.0) and grid.best_score_ > 0.8


def test_string_labels_and_proba(moons):
    names = np.array(["cat", "dog"])[moons.y_train]
    clf = pdl.NeuralNetClassifier((8,), **FAST).fit(moons.X_train, names)
    assert clf.classes_.tolist() == ["cat", "dog"]
    assert set(clf.predict(moons.X_test)) <= {"cat", "dog"}
    proba = clf.predict_proba(moons.X_test)
    assert proba.shape == (len(moons.X_test), 2) and np.allclose(proba.sum(axis=1), 1)
    assert clf.output_ == "sigmoid" and clf.parameters_["W2"].shape == (1, 8)
    np.testing.assert_array_equal(clf.predict(moons.X_test), clf.classes_[(proba[:, 1] > 0.5).astype(int)])


def test_multiclass_uses_softmax():
    data = pdl.load_dataset("digits")
    clf = pdl.NeuralNetClassifier((32,), max_iter=200, learning_rate=0.5, random_state=0).fit(data.X_train, data.y_train)
    assert clf.output_ == "softmax" and clf.parameters_["W2"].shape == (10, 32)
    assert clf.predict_proba(data.X_test).shape == (len(data.X_test), 10)
    assert clf.score(data.X_test, data.y_test) > 0.9


def test_attributes_and_histories(moons):
    clf = pdl.NeuralNetClassifier((8, 4), l2=0.5, **FAST).fit(moons.X_train, moons.y_train)
    assert clf.n_iter_ == 300 == len(clf.cost_history_) == len(clf.cross_entropy_history_)
    # the L2 term is included in cost_history_ and not in cross_entropy_history_
    assert all(c > ce for c, ce in zip(clf.cost_history_, clf.cross_entropy_history_))
    assert clf.cost_history_[-1] < clf.cost_history_[0]
    assert clf.stop_reason_ == "max_iter=300 iterations done"
    assert list(clf.parameters_) == ["W1", "b1", "W2", "b2", "W3", "b3"]


def test_same_seed_same_bits(moons):
    kw = dict(hidden_layer_sizes=(8, 4), keep_prob=0.8, batch_size=32, max_iter=20, random_state=5)
    a = pdl.NeuralNetClassifier(**kw).fit(moons.X_train, moons.y_train)
    b = pdl.NeuralNetClassifier(**kw).fit(moons.X_train, moons.y_train)
    assert a.cost_history_ == b.cost_history_
    assert all(np.array_equal(a.parameters_[k], b.parameters_[k]) for k in a.parameters_)
    c = pdl.NeuralNetClassifier(**{**kw, "random_state": 6}).fit(moons.X_train, moons.y_train)
    assert c.cost_history_ != a.cost_history_
    # a Generator is accepted too, and reproducible
    g1 = pdl.NeuralNetClassifier(**{**kw, "random_state": np.random.default_rng(1)}).fit(moons.X_train, moons.y_train)
    g2 = pdl.NeuralNetClassifier(**{**kw, "random_state": np.random.default_rng(1)}).fit(moons.X_train, moons.y_train)
    assert g1.cost_history_ == g2.cost_history_


def test_random_state_3_matches_the_functional_core():
    """The estimator is the core: same init draw, same update, same numbers."""
    data = load_circles()
    clf = pdl.NeuralNetClassifier((10, 5), max_iter=5, random_state=3).fit(data.X_train, data.y_train)
    params = pdl.initialize_parameters([2, 10, 5, 1], init="he", rng=np.random.RandomState(3))
    X, Y = data.X_train.T, data.y_train[None, :].astype(float)
    costs = []
    for _ in range(5):
        cost, grads = pdl.cost_and_gradients(params, X, Y)
        costs.append(cost)
        params = pdl.gradient_descent_step(params, grads, 0.01)
    assert costs == clf.cost_history_
    assert all(np.array_equal(params[k], clf.parameters_[k]) for k in params)


@pytest.mark.parametrize("kind", ["RandomState", "Generator"])
@pytest.mark.parametrize("sizes, n_classes", [((300, 8), 2), ((300,), 3), ((), 3)])
def test_fit_draws_the_cores_weights_in_its_order(kind, sizes, n_classes):
    """The weights, and the generator's state after the fit, are those of one
    initialize_parameters call (no other draw here: full batch, no dropout)."""
    X, y = np.random.default_rng(0).standard_normal((30, 240)), np.arange(30) % n_classes
    make = (lambda: np.random.RandomState(7)) if kind == "RandomState" else (lambda: np.random.default_rng(7))
    state = make()
    clf = pdl.NeuralNetClassifier(sizes, max_iter=1, learning_rate=1e-12, random_state=state).fit(X, y)
    reference = make()
    params = pdl.initialize_parameters([240, *sizes, 1 if n_classes == 2 else n_classes], rng=reference)
    # one step with a learning rate of 1e-12 leaves every weight within 1e-10 of its draw
    assert params.keys() == clf.parameters_.keys()
    assert all(np.allclose(params[k], clf.parameters_[k], rtol=0, atol=1e-10) for k in params)
    assert state.random() == reference.random()  # the generator went on from the same state


def test_a_failed_fit_leaves_the_generator_as_it_was():
    X, y = np.random.default_rng(0).standard_normal((30, 300)), np.arange(30) % 2
    X[5, 7] = np.nan
    for make in (lambda: np.random.RandomState(3), lambda: np.random.default_rng(3)):
        for sizes in ((300,), ()):
            state = make()
            with pytest.raises(ValueError, match="NaN"):
                pdl.NeuralNetClassifier(sizes, random_state=state).fit(X, y)
            with pytest.raises(ValueError, match="at least 2 classes"):
                pdl.NeuralNetClassifier(sizes, random_state=state).fit(np.nan_to_num(X), np.zeros(30))
            assert state.random() == make().random()


def test_minibatches(moons):
    clf = pdl.NeuralNetClassifier((8,), batch_size=50, max_iter=30, learning_rate=0.1, random_state=0)
    clf.fit(moons.X_train, moons.y_train)
    assert clf.n_iter_ == 30 and clf.score(moons.X_test, moons.y_test) > 0.8


def test_float32_stays_float32(moons):
    X = moons.X_train.astype(np.float32)
    clf = pdl.NeuralNetClassifier((8,), **FAST).fit(X, moons.y_train)
    assert all(v.dtype == np.float32 for v in clf.parameters_.values())
    assert clf.predict_proba(X).dtype == np.float32


def test_early_stopping_restores_the_best_weights():
    data = pdl.load_dataset("noisy")
    clf = pdl.NeuralNetClassifier((20, 3), init="lecun", learning_rate=0.3, max_iter=20000, early_stopping=True,
                                  validation_fraction=0.3, n_iter_no_change=200, random_state=3)
    clf.fit(data.X_train, data.y_train)
    assert clf.n_iter_ < 20000
    assert "early stopping" in clf.stop_reason_ and f"iteration {clf.best_iteration_}" in clf.stop_reason_
    best = clf.best_iteration_
    assert clf.validation_cost_history_[best - 1] == min(clf.validation_cost_history_)
    assert clf.n_iter_ - best == 200
    # the restored weights are those of the best iteration: their validation cost is the minimum
    assert len(clf.validation_cost_history_) == clf.n_iter_


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(keep_prob=1.5), r"keep_prob must be in \(0, 1\], got 1.5"),
        (dict(keep_prob=0), r"keep_prob must be in \(0, 1\], got 0"),
        (dict(keep_prob=(0.5, 0.5, 0.5)), "one value per hidden layer"),
        (dict(l2=-0.1), "l2 must be a non-negative finite number, got -0.1"),
        (dict(learning_rate=0), "learning_rate must be a positive finite number, got 0"),
        (dict(learning_rate=-1e-3), "learning_rate must be a positive finite number"),
        (dict(hidden_layer_sizes=(10, 0)), "hidden_layer_sizes entries must be a positive integer, got 0"),
        (dict(max_iter=0), "max_iter must be a positive integer, got 0"),
        (dict(batch_size=0), "batch_size must be a positive integer, got 0"),
        (dict(init="glorious"), r"init must be one of \[.*\], got 'glorious'"),
        (dict(activation="softplus"), r"activation must be one of \['relu', 'sigmoid', 'tanh'\], got 'softplus'"),
        (dict(init_scale=0), "init_scale must be a positive finite number, got 0"),
        (dict(random_state="x"), "random_state must be None, an int"),
        (dict(early_stopping=True, validation_fraction=1.0), r"validation_fraction must be in \(0, 1\), got 1.0"),
        (dict(optimizer="sgd"), r"optimizer must be one of \['adam', 'gd', 'momentum', 'rmsprop'\] or an Optimizer, "
                                r"got 'sgd'"),
        (dict(optimizer=None), r"optimizer must be one of .* got None"),
        (dict(optimizer="momentum", beta=1.0), r"beta must be a number in \[0, 1\), got 1.0"),
        (dict(beta1=-0.1), r"beta1 must be a number in \[0, 1\), got -0.1"),  # checked whichever the optimizer
        (dict(optimizer="adam", beta2=1.5), r"beta2 must be a number in \[0, 1\), got 1.5"),
        (dict(optimizer="adam", epsilon=0.0), r"epsilon must be a positive finite number, got 0.0"),
        (dict(decay_rate=-1.0), r"decay_rate must be a non-negative finite number, got -1.0"),
        (dict(decay_rate=1.0, decay_interval=0), r"decay_interval must be a positive integer, got 0"),
        (dict(decay_interval=100), r"decay_interval needs a decay_rate"),
        (dict(optimizer=pdl.Adam(0.01), learning_rate=0.1), r"learning_rate=0.1 contradicts optimizer=Adam\("),
        (dict(optimizer=pdl.Adam(0.1), beta=0.5), r"beta=0.5 contradicts optimizer=Adam"),
        (dict(optimizer=pdl.Momentum(0.1), decay_rate=1.0), r"decay_rate=1.0 and decay_interval=None contradict"),
    ],
)
def test_bad_parameters_are_named(params, message, moons):
    clf = pdl.NeuralNetClassifier(**{**FAST, **params})
    with pytest.raises(ValueError, match=message):
        clf.fit(moons.X_train, moons.y_train)
    assert not hasattr(clf, "parameters_")


def test_bad_data(moons):
    X, y = moons.X_train, moons.y_train
    clf = pdl.NeuralNetClassifier(**FAST)
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X), y)
    with pytest.raises(ValueError, match="infinity"):
        clf.fit(np.where(np.arange(X.size).reshape(X.shape) == 3, np.inf, X), y)
    with pytest.raises(ValueError, match="Expected 2D array"):
        clf.fit(X[:, 0], y)
    clf.fit(X, y)
    for bad, message in ((np.nan, "NaN"), (-np.inf, "infinity")):  # predict checks its X the same way
        with pytest.raises(ValueError, match=message):
            clf.predict(np.where(np.arange(X.size).reshape(X.shape) == 5, bad, X))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(X, y[:-1])
    with pytest.raises(ValueError, match="y must contain at least 2 classes, got 1 class: 0"):
        clf.fit(X, np.zeros_like(y))
    with pytest.raises(ValueError, match="X must hold numeric features, got text"):
        clf.fit(np.array([["a", "b"]] * len(y)), y)
    with pytest.raises(ValueError, match="0 sample"):
        clf.fit(np.zeros((0, 2)), [])
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        clf.fit(X, np.linspace(0, 1, len(y)))
    with pytest.raises(NotFittedError):
        pdl.NeuralNetClassifier().predict(X)
    clf.fit(X, y)
    with pytest.raises(ValueError, match="X has 1 features, but NeuralNetClassifier is expecting 2"):
        clf.predict(X[:, :1])


def test_divergence_is_reported_not_returned(moons):
    clf = pdl.NeuralNetClassifier((8,), learning_rate=1e6, max_iter=50, random_state=0)
    with pytest.raises(pdl.NumericalError, match=r"learning_rate=1000000.0.*Try a smaller learning_rate"):
        clf.fit(moons.X_train * 100, moons.y_train)
    assert not hasattr(clf, "parameters_")



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_finiteness_check_finds_every_non_finite_entry_and_passes_huge_finite_ones(dtype, moons):
    """The fast first pass (``x . x``) and scikit-learn's check behind it: any single NaN or
    infinity, in C, Fortran or strided X, is refused; entries whose squares overflow are not."""
    X, y = moons.X_train.astype(dtype), moons.y_train
    clf = pdl.NeuralNetClassifier(**FAST)
    for layout in (np.ascontiguousarray, np.asfortranarray, lambda A: np.repeat(A, 2, axis=1)[:, ::2]):
        for bad, message in ((np.nan, "Input X contains NaN"), (np.inf, "Input X contains infinity"),
                             (-np.inf, "Input X contains infinity")):
            for at in (0, X.size // 2, X.size - 1):
                Xb = X.copy()
                Xb.reshape(-1)[at] = bad
                with pytest.raises(ValueError, match=message):
                    clf.fit(layout(Xb), y)
    huge = X.copy()
    huge[0, 0] = np.finfo(dtype).max / 2  # its square overflows: the sum of squares is inf
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.dot(huge.reshape(-1), huge.reshape(-1)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the overflow only sends X to scikit-learn's check: no warning
        estimator_module._assert_finite(huge, clf)  # which passes it
    with np.errstate(over="ignore", invalid="ignore"):  # (training on such data may overflow)
        pdl.NeuralNetClassifier(**{**FAST, "max_iter": 1}).fit(huge, y)


def test_planted_a_first_pass_without_its_fallback_lets_nan_through(moons, monkeypatch):
    """Planted bug: behind a non-finite dot product nothing checks X (the fallback removed); the
    input error of the test above is then never raised, so that test would fail."""
    X, y = moons.X_train.copy(), moons.y_train
    X[3, 1] = np.nan
    monkeypatch.setattr(estimator_module, "assert_all_finite", lambda *args, **kwargs: None)
    with np.errstate(all="ignore"):
        try:
            pdl.NeuralNetClassifier(**FAST).fit(X, y)
            message = ""
        except Exception as err:  # the NaN surfaces later, as "training diverged" (NumericalError)
            message = str(err)
    assert "Input X contains NaN" not in message


def test_the_pandas_checks_of_check_estimator_pass():
    """The DataFrame checks scikit-learn runs on its own estimators: names kept, checked, data not an array."""
    pytest.importorskip("pandas")
    from sklearn.utils.estimator_checks import (check_classifier_data_not_an_array,
                                                check_dataframe_column_names_consistency)

    est = pdl.NeuralNetClassifier(**FAST)
    check_dataframe_column_names_consistency("NeuralNetClassifier", est)
    check_classifier_data_not_an_array("NeuralNetClassifier", est)


def test_dataframes_keep_their_feature_names(moons, tmp_path):
    pd = pytest.importorskip("pandas")
    from practicaldl.io.models import load_model, save_model

    X = pd.DataFrame(moons.X_train, columns=["width", "height"])
    clf = pdl.NeuralNetClassifier((6,), **FAST).fit(X, moons.y_train)
    assert clf.feature_names_in_.tolist() == ["width", "height"]
    test = pd.DataFrame(moons.X_test, columns=["width", "height"])
    with pytest.warns(UserWarning, match="does not have valid feature names"):  # scikit-learn's rule
        np.testing.assert_array_equal(clf.predict(test), clf.predict(moons.X_test))
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(test.rename(columns={"width": "w"}))
    save_model(clf, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.feature_names_in_.tolist() == ["width", "height"]
    np.testing.assert_array_equal(loaded.predict(test), clf.predict(test))
    with pytest.raises(ValueError, match=r"the columns \['kind'\] are not numeric.*OneHotEncoder"):
        pdl.NeuralNetClassifier(**FAST).fit(X.assign(kind=["a", "b"] * (len(X) // 2)), moons.y_train)


# -- optimizers -------------------------------------------------------------------------------------
OPT = dict(hidden_layer_sizes=(5, 2), batch_size=64, random_state=3)


def test_check_estimator_passes_with_adam_and_a_decay():
    results = check_estimator(pdl.NeuralNetClassifier(optimizer="adam", batch_size=32, decay_rate=0.5,
                                                      decay_interval=50, max_iter=100, random_state=0), on_fail=None)
    assert [r["check_name"] for r in results if r["status"] == "failed"] == []


def test_the_defaults_are_gradient_descent_as_before(moons):
    """optimizer="gd" with its settings at their defaults: the same bits as the loop's gradient descent."""
    clf = pdl.NeuralNetClassifier((8,), **FAST).fit(moons.X_train, moons.y_train)
    assert isinstance(clf.optimizer_, pdl.GradientDescent) and clf.optimizer_.t == 300
    params0 = pdl.initialize_parameters([2, 8, 1], rng=np.random.RandomState(0))
    params, history = pdl.train(params0, moons.X_train.T, moons.y_train[None, :].astype(float), learning_rate=0.1,
                                max_iter=300, rng=np.random.RandomState(0))
    assert all(np.array_equal(params[k], clf.parameters_[k]) for k in params)
    assert clf.learning_rate_history_ == [0.1] * 300 and clf.cost_history_ == history.cost


def test_an_optimizer_instance_trains_as_a_copy_and_equals_its_name(moons):
    adam = pdl.Adam(0.005, beta1=0.8, schedule=pdl.InverseTimeDecay(1.0, 10))
    by_instance = pdl.NeuralNetClassifier(optimizer=adam, max_iter=30, **OPT).fit(moons.X_train, moons.y_train)
    assert adam.t == 0 and adam.scratch is None and not hasattr(adam, "v")  # the instance is left as it was
    assert by_instance.get_params()["optimizer"] is adam
    by_name = pdl.NeuralNetClassifier(optimizer="adam", learning_rate=0.005, beta1=0.8, decay_rate=1.0,
                                      decay_interval=10, max_iter=30, **OPT).fit(moons.X_train, moons.y_train)
    assert all(np.array_equal(by_instance.parameters_[k], by_name.parameters_[k]) for k in by_name.parameters_)
    assert by_instance.learning_rate_history_ == by_name.learning_rate_history_
    assert by_name.learning_rate_history_[::10] == pytest.approx([0.005, 0.005, 0.0025])  # lr0 / (1 + floor(i / 10))
    assert by_name.learning_rate_history_[10:12] == [0.005, 0.0025]  # the rate drops after epoch 10
    state = by_name.optimizer_
    assert state.t == 30 * 5 and state.v.shape == state.s.shape == (sum(p.size for p in by_name.parameters_.values()),)
    assert state.scratch is None
    # the settings here may repeat the instance's (or stay at their defaults)
    pdl.NeuralNetClassifier(optimizer=adam, learning_rate=0.005, beta1=0.8, decay_rate=1.0, decay_interval=10,
                            max_iter=2, **OPT).fit(moons.X_train, moons.y_train)
    assert clone(by_instance).get_params()["optimizer"].config() == adam.config()


def test_momentum_with_beta_0_fits_as_gradient_descent(moons):
    fits = [pdl.NeuralNetClassifier(optimizer=name, beta=0.0, learning_rate=0.3, max_iter=40, **OPT)
            .fit(moons.X_train, moons.y_train) for name in ("momentum", "gd")]
    assert all(np.array_equal(fits[0].parameters_[k], fits[1].parameters_[k]) for k in fits[1].parameters_)


def test_the_courses_story_on_its_moons():
    """At learning rate 0.0007, 1000 epochs of minibatches of 64: gradient descent and momentum
    crawl, Adam finds the boundary; with a larger rate that decays, all three reach it."""
    data = pdl.load_dataset("course_moons")
    fit = {}
    for name, lr, decay in [("gd", 0.0007, None), ("momentum", 0.0007, None), ("adam", 0.0007, None),
                            ("gd", 0.1, 1.0), ("momentum", 0.1, 1.0), ("adam", 0.01, 1.0)]:
        clf = pdl.NeuralNetClassifier(optimizer=name, learning_rate=lr, decay_rate=decay,
                                      decay_interval=500 if decay else None, max_iter=1000, **OPT)
        fit[name, decay] = clf.fit(data.X_train, data.y_train)
    accuracy = {key: clf.score(data.X_train, data.y_train) for key, clf in fit.items()}
    assert accuracy["adam", None] > 0.9
    assert accuracy["adam", None] - max(accuracy["gd", None], accuracy["momentum", None]) > 0.15
    assert fit["adam", None].cost_history_[-1] < 0.5 * fit["gd", None].cost_history_[-1]
    decayed = [accuracy[name, 1.0] for name in ("gd", "momentum", "adam")]
    assert min(decayed) > 0.9 and max(decayed) - min(decayed) < 0.03
