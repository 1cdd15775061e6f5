"""The course's published numbers (../shared/reference/course-results.md), reproduced exactly."""

import numpy as np
import pytest

import practicaldl as pdl
from practicaldl.io.datasets import load_circles, load_mat

INIT_STUDY = dict(hidden_layer_sizes=(10, 5), learning_rate=0.01, max_iter=15000, random_state=3)


@pytest.fixture(scope="module")
def circles():
    return load_circles()


def fit_and_score(data, **kwargs):
    clf = pdl.NeuralNetClassifier(**kwargs).fit(data.X_train, data.y_train)
    return clf, clf.score(data.X_train, data.y_train), clf.score(data.X_test, data.y_test)


@pytest.mark.slow
def test_initialization_study_zeros(circles):
    clf, train, test = fit_and_score(circles, init="zeros", **INIT_STUDY)
    assert clf.cost_history_[0] == clf.cost_history_[14000] == pytest.approx(0.6931471805599453, abs=1e-15)
    assert (train, test) == (0.5, 0.5)
    # symmetry never broken: every hidden unit of a layer has the same weights
    assert np.ptp(clf.parameters_["W1"], axis=0).max() == 0


@pytest.mark.slow
def test_initialization_study_random_x10(circles):
    clf, train, test = fit_and_score(circles, init="random", init_scale=10, **INIT_STUDY)
    assert np.isfinite(clf.cost_history_[0])  # inf in the course (log 0): finite in a stable cost
    assert clf.cost_history_[14000] == pytest.approx(0.3828, abs=5e-5)
    assert train == pytest.approx(0.83) and test == pytest.approx(0.86)


@pytest.mark.slow
def test_initialization_study_he(circles):
    clf, train, test = fit_and_score(circles, init="he", **INIT_STUDY)
    assert clf.cost_history_[0] == pytest.approx(0.8830537463419761, abs=1e-9)
    assert clf.cost_history_[1000] == pytest.approx(0.6879825919728063, abs=1e-9)
    assert clf.cost_history_[14000] == pytest.approx(0.07357895962677362, abs=1e-9)
    assert train == pytest.approx(0.9933333, abs=1e-6) and test == pytest.approx(0.96)


REG_STUDY = dict(hidden_layer_sizes=(20, 3), init="lecun", learning_rate=0.3, max_iter=30000)


@pytest.mark.slow
@pytest.mark.parametrize(
    "kwargs, costs, train_correct, test_correct",
    [
        ({}, (0.6557412523481002, 0.16329987525724213, 0.13851642423245572), 200, 183),
        ({"l2": 0.7}, (0.6974484493131264, 0.26849188732822393, 0.2680916337127301), 198, 186),
    ],
)
def test_regularization_study(football_path, kwargs, costs, train_correct, test_correct):
    data = load_mat(football_path)
    clf, train, test = fit_and_score(data, random_state=3, **REG_STUDY, **kwargs)
    for i, expected in zip((0, 10000, 20000), costs):
        assert clf.cost_history_[i] == pytest.approx(expected, abs=1e-9)
    assert round(train * 211) == train_correct and round(test * 200) == test_correct


@pytest.mark.slow
def test_regularization_study_dropout_within_band(football_path):
    """Fresh masks every iteration (not the course's re-seeded ones): the course's band for seeds 0-3
    is test 0.925-0.94 (mean about 0.93) and train 0.94-0.96."""
    data = load_mat(football_path)
    scores = np.array([fit_and_score(data, random_state=s, keep_prob=0.86, **REG_STUDY)[1:] for s in range(4)])
    assert np.all((scores[:, 1] >= 0.925 - 1e-9) & (scores[:, 1] <= 0.94 + 1e-9))
    assert np.all((scores[:, 0] >= 0.94) & (scores[:, 0] <= 0.96))
    assert scores[:, 1].mean() == pytest.approx(0.93, abs=0.01)


def test_dropout_cost_at_iteration_zero(football_path):
    """Cost @0 is that of the dropout forward pass: close to the course's 0.6543912405149825."""
    data = load_mat(football_path)
    clf = pdl.NeuralNetClassifier(keep_prob=0.86, random_state=3, **{**REG_STUDY, "max_iter": 1})
    clf.fit(data.X_train, data.y_train)
    # same init as the course (seed 3); the masks differ, so the cost differs a little
    assert abs(clf.cost_history_[0] - 0.6543912405149825) < 0.05
