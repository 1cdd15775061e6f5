import numpy as np
import pytest
from scipy.io import savemat

import practicaldl as pdl
from practicaldl.io.datasets import DATASETS, load_mat, load_npz


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_builtin_sets_are_in_sklearn_layout(name):
    d = pdl.load_dataset(name)
    assert d.name == name
    for X, y in ((d.X_train, d.y_train), (d.X_test, d.y_test)):
        assert X.ndim == 2 and y.ndim == 1 and len(X) == len(y) > 0
        assert np.isfinite(X).all()
    assert d.X_train.shape[1] == d.X_test.shape[1]


def test_circles_are_the_courses():
    # np.random.seed(1); make_circles(300, noise=.05) uses the global legacy stream == RandomState(1)
    from sklearn.datasets import make_circles

    d = pdl.load_dataset("circles")
    np.random.seed(1)
    X, y = make_circles(n_samples=300, noise=0.05)
    np.testing.assert_array_equal(d.X_train, X)
    np.testing.assert_array_equal(d.y_train, y)
    assert d.X_test.shape == (100, 2)


def test_noisy_set_makes_an_unregularized_net_overfit_and_l2_close_the_gap():
    """The property the noisy set is designed for: gap without regularization, much less with L2."""
    d = pdl.load_dataset("noisy")
    gaps = {}
    for l2 in (0.0, 0.7):
        clf = pdl.NeuralNetClassifier((20, 3), init="lecun", learning_rate=0.3, max_iter=20000, l2=l2,
                                      random_state=2).fit(d.X_train, d.y_train)
        gaps[l2] = clf.score(d.X_train, d.y_train) - clf.score(d.X_test, d.y_test)
    assert gaps[0.0] > 0.1 and gaps[0.7] < gaps[0.0] / 2


def test_numeric_csv_loads_through_the_table_reader(tmp_path):
    """A numeric CSV (the old numpy-readable kind) still loads: last column the label, standardized."""
    rng = np.random.RandomState(0)
    X = rng.randn(40, 3) * [1, 10, 100]
    y = (X[:, 0] > 0).astype(int)
    path = tmp_path / "data.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,c,label", comments="", fmt="%.17g")
    d = pdl.load_dataset(path)
    assert d.X_train.shape == (30, 3) and d.X_test.shape == (10, 3)
    assert d.y_train.dtype == np.int64 and set(np.unique(d.y_train)) == {0, 1}
    np.testing.assert_allclose(d.X_train.mean(axis=0), 0, atol=1e-12)  # standardized on the training rows
    np.testing.assert_allclose(d.X_train.std(axis=0), 1)
    assert d.info["target"] == "label" and d.info["features"] == ["a", "b", "c"]


def test_every_source_is_described(tmp_path):
    d = pdl.load_dataset("breast_cancer")
    assert d.info["kind"] == "builtin" and d.info["rows"] == 569 and d.info["n_features"] == 30
    assert "standardized" in d.info["preprocessing"]
    assert set(d.info["classes"]) == {"0", "1"}


def test_table_options_are_refused_for_other_sources():
    with pytest.raises(ValueError, match="apply to table files"):
        pdl.load_dataset("circles", {"target": "x"})


def test_npz_both_layouts(tmp_path):
    rng = np.random.RandomState(0)
    X, y = rng.randn(20, 2), np.arange(20) % 2
    np.savez(tmp_path / "xy.npz", X=X, y=y)
    assert load_npz(tmp_path / "xy.npz").X_train.shape == (15, 2)
    np.savez(tmp_path / "split.npz", X_train=X, y_train=y, X_test=X[:4], y_test=y[:4])
    d = load_npz(tmp_path / "split.npz")
    np.testing.assert_array_equal(d.X_test, X[:4])
    np.savez(tmp_path / "wrong.npz", features=X)
    with pytest.raises(ValueError, match=r"must hold arrays X and y.*it has \['features'\]"):
        load_npz(tmp_path / "wrong.npz")
    np.savez(tmp_path / "short.npz", X=X, y=y[:-1])
    with pytest.raises(ValueError, match=r"one per row of X \(20\)"):
        load_npz(tmp_path / "short.npz")


def test_mat_with_course_keys(tmp_path):
    rng = np.random.RandomState(0)
    savemat(tmp_path / "d.mat", {"X": rng.randn(10, 2), "y": (rng.rand(10, 1) > 0.5).astype(np.uint8),
                                 "Xval": rng.randn(6, 2), "yval": (rng.rand(6, 1) > 0.5).astype(np.uint8)})
    d = load_mat(tmp_path / "d.mat")
    assert d.X_train.shape == (10, 2) and d.y_train.shape == (10,) and d.X_test.shape == (6, 2)
    savemat(tmp_path / "e.mat", {"X": rng.randn(10, 2)})
    with pytest.raises(ValueError, match=r"missing \['y', 'Xval', 'yval'\]"):
        load_mat(tmp_path / "e.mat")
    (tmp_path / "junk.mat").write_bytes(b"not a mat file")
    with pytest.raises(ValueError, match="junk.mat is not a readable MATLAB .mat file"):
        load_mat(tmp_path / "junk.mat")


def test_football_file(football_path):
    d = pdl.load_dataset(football_path)
    assert d.X_train.shape == (211, 2) and d.X_test.shape == (200, 2)


def test_unknown_names_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match=r"dataset must be one of \['breast_cancer', 'circles'.*got 'iris'"):
        pdl.load_dataset("iris")
    with pytest.raises(ValueError, match="does not exist"):
        pdl.load_dataset(tmp_path / "nope.csv")
