"""Datasets in scikit-learn's layout: X (n_samples, n_features), y (n_samples,).

Every loader returns a ``Dataset`` with a train and a test split. Built-in sets by name
(``DATASETS``), tables (``.csv``, ``.tsv``, ``.parquet``: ``io.tables``, with a label column,
preprocessing and a split chosen by ``TableOptions``), and ``.npz`` and MATLAB ``.mat`` files.
``load_dataset`` is the one entry point (the CLI and the studies call it):

- ``circles``: the course's Initialization data, exactly: ``make_circles(300, noise=.05)`` after
  seed 1 for training, ``make_circles(100, noise=.05)`` after seed 2 for testing.
- ``moons``: ``make_moons`` with noise 0.2, 300 train / 100 test.
- ``course_moons``: the course's Optimization data: ``make_moons(300, noise=.2)`` after seed 3
  for training; the course has no test set, so ``make_moons(300, noise=.2)`` after seed 4 is
  the test set here.
- ``noisy``: a 2-D set built so that an unregularized [2, 20, 3, 1] network overfits (see
  ``make_noisy_2d``): 150 train / 500 test points.
- ``breast_cancer``, ``digits``: scikit-learn's bundled sets, standardized on the training split,
  a stratified 75/25 split.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
from sklearn import datasets as skd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


class Dataset(NamedTuple):
    """A train/test split in scikit-learn's layout.

    ``info``: a JSON description of the data (``describe_dataset``); ``preprocessing``: the fitted
    ``io.preprocessing.Preprocessing`` of a table (None for the other sources, whose X is ready).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str = ""
    info: Optional[dict] = None
    preprocessing: Optional[object] = None


def load_circles() -> Dataset:
    """The course's circles (seeds 1 and 2, as ``np.random.seed`` then ``make_circles``)."""
    X_train, y_train = skd.make_circles(n_samples=300, noise=0.05, random_state=np.random.RandomState(1))
    X_test, y_test = skd.make_circles(n_samples=100, noise=0.05, random_state=np.random.RandomState(2))
    return Dataset(X_train, y_train, X_test, y_test, "circles")


def load_moons(n_samples: int = 400, noise: float = 0.2, random_state: int = 0) -> Dataset:
    """Two interleaved half-moons; the last quarter is the test set."""
    X, y = skd.make_moons(n_samples=n_samples, noise=noise, random_state=random_state)
    n_train = n_samples * 3 // 4
    return Dataset(X[:n_train], y[:n_train], X[n_train:], y[n_train:], "moons")


def load_course_moons() -> Dataset:
    """The course's moons (``np.random.seed(3)`` then ``make_moons(300, noise=.2)``) and a test set
    drawn the same way after seed 4."""
    X_train, y_train = skd.make_moons(n_samples=300, noise=0.2, random_state=np.random.RandomState(3))
    X_test, y_test = skd.make_moons(n_samples=300, noise=0.2, random_state=np.random.RandomState(4))
    return Dataset(X_train, y_train, X_test, y_test, "course_moons")


def make_noisy_2d(n_samples: int, random_state) -> tuple[np.ndarray, np.ndarray]:
    """Points in [-1, 1]^2 labelled by a wavy boundary, then 15% of labels flipped.

    The true boundary ``x1 > 0.35 sin(3 x0)`` is simple; the flipped labels are noise that a
    flexible unregularized network fits (train accuracy high, test accuracy lower), while L2 or
    dropout keep the boundary smooth and narrow the train/test gap.
    """
    rng = np.random.RandomState(random_state) if not isinstance(random_state, np.random.RandomState) else random_state
    X = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
    y = (X[:, 1] > 0.35 * np.sin(3.0 * X[:, 0])).astype(np.int64)
    flip = rng.random_sample(n_samples) < 0.15
    y[flip] = 1 - y[flip]
    return X, y


def load_noisy() -> Dataset:
    """The overfitting study's data: 150 noisy training points, 500 test points.

    With [2, 20, 3, 1], LeCun init, learning rate 0.3 and 20000 iterations (seeds 1-3), no
    regularization gives about 0.88 train / 0.74 test accuracy (gap ~0.15); l2=0.7 about
    0.80 / 0.82 and keep_prob=0.86 about 0.83 / 0.81 (gaps near 0). Best possible: 0.85.
    """
    X_train, y_train = make_noisy_2d(150, 0)
    X_test, y_test = make_noisy_2d(500, 1)
    return Dataset(X_train, y_train, X_test, y_test, "noisy")


def _split_standardized(X, y, name: str) -> Dataset:
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return Dataset(scaler.transform(X_train), y_train, scaler.transform(X_test), y_test, name)


def load_breast_cancer() -> Dataset:
    """scikit-learn's breast cancer set (569 x 30, 2 classes), standardized."""
    return _split_standardized(*skd.load_breast_cancer(return_X_y=True), "breast_cancer")


def load_digits() -> Dataset:
    """scikit-learn's 8x8 digits (1797 x 64, 10 classes), standardized."""
    return _split_standardized(*skd.load_digits(return_X_y=True), "digits")


DATASETS = {
    "circles": load_circles,
    "moons": load_moons,
    "course_moons": load_course_moons,
    "noisy": load_noisy,
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
}


def _require_file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset file {str(path)!r} does not exist")
    return path


def _xy(X, y, path: Path, where: str):
    """``(X, y)`` of a file, checked: X numeric, 2-D, with rows and columns; one label per row."""
    X = np.asarray(X)
    y = np.asarray(y)
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{where} in {path} must hold numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{where} in {path} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.size == 0:
        raise ValueError(f"{where} in {path} is empty (shape {X.shape}): it needs rows and feature columns")
    y = y.reshape(-1) if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"the labels in {path} must be one per row of {where} ({len(X)}), got shape {y.shape}")
    if y.dtype.kind not in "biufUS":
        raise ValueError(f"the labels in {path} must be numbers or text, got dtype {y.dtype}")
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (np.abs(y) < 2**53).all()):
        raise ValueError(f"the labels in {path} must be finite and below 2**53 in magnitude (class labels, not "
                         f"measurements), got {y[~(np.isfinite(y) & (np.abs(y) < 2**53))][0]:g}")
    return X, y


def _split(X, y, test_size, random_state, name) -> Dataset:
    stratify = y if np.unique(y, return_counts=True)[1].min() >= 2 else None
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, stratify=stratify,
                                                        random_state=random_state)
    return Dataset(X_train, y_train, X_test, y_test, name)


def load_npz(path, *, test_size: float = 0.25, random_state: int = 0) -> Dataset:
    """An ``.npz`` with ``X`` and ``y`` (split here) or ``X_train, y_train, X_test, y_test``."""
    from .arrays import read_npz

    path = _require_file(path)
    data = read_npz(path)
    keys = set(data)
    if {"X_train", "y_train", "X_test", "y_test"} <= keys:
        X_train, y_train = _xy(data["X_train"], data["y_train"], path, "X_train")
        X_test, y_test = _xy(data["X_test"], data["y_test"], path, "X_test")
        if X_train.shape[1] != X_test.shape[1]:
            raise ValueError(f"X_train and X_test in {path} must have the same number of columns, got "
                             f"{X_train.shape[1]} and {X_test.shape[1]}")
        return Dataset(X_train, y_train, X_test, y_test, path.stem)
    if {"X", "y"} <= keys:
        X, y = _xy(data["X"], data["y"], path, "X")
        if len(X) < 4:
            raise ValueError(f"X in {path} has {len(X)} rows; a train / test split needs at least 4")
        return _split(X, y, test_size, random_state, path.stem)
    raise ValueError(f"{path} must hold arrays X and y, or X_train, y_train, X_test, y_test; it has {sorted(keys)}")


def load_mat(path) -> Dataset:
    """A MATLAB file with the course's keys: ``X``, ``y`` (train) and ``Xval``, ``yval`` (test)."""
    from scipy.io import loadmat

    path = _require_file(path)
    try:
        data = loadmat(path)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable MATLAB .mat file: {exc}") from exc
    missing = [k for k in ("X", "y", "Xval", "yval") if k not in data]
    if missing:
        raise ValueError(f"{path} must hold X, y, Xval and yval; missing {missing}")
    X_train, y_train = _xy(data["X"], data["y"], path, "X")
    X_test, y_test = _xy(data["Xval"], data["yval"], path, "Xval")
    return Dataset(X_train, y_train.astype(np.int64), X_test, y_test.astype(np.int64), path.stem)


LOADERS = {".npz": load_npz, ".mat": load_mat}
SUFFIXES = (".csv", ".tsv", ".parquet", *LOADERS)  # every file kind load_dataset reads

_STANDARDIZED = {"breast_cancer", "digits"}


def describe_dataset(data: Dataset, source: str = "") -> dict:
    """A JSON description of a dataset for reports: its name, source, rows, features and classes."""
    if data.info is not None:
        return data.info
    classes, counts = np.unique(data.y_train, return_counts=True)
    builtin = source in DATASETS
    return {"kind": "builtin" if builtin else "file", "name": data.name, "file": None if builtin else str(source),
            "rows": int(len(data.y_train) + len(data.y_test)), "n_features": int(data.X_train.shape[1]),
            "classes": {str(c): int(n) for c, n in zip(classes.tolist(), counts)},
            "preprocessing": ("standardized on the training split" if data.name in _STANDARDIZED and builtin
                              else "none (the features as stored)"),
            "split": {"train_rows": int(len(data.y_train)), "test_rows": int(len(data.y_test)),
                      "description": "the train / test sets of the source"},
            "warnings": []}


def load_dataset(name_or_path, table=None, *, preprocessing=None) -> Dataset:
    """A built-in set by name, a table (``.csv`` / ``.tsv`` / ``.parquet``) or an ``.npz`` / ``.mat`` file.

    ``table``: ``io.tables.TableOptions`` (or a dict of them) for a table file: label column,
    features, reading, preprocessing and split. Other sources take none. ``preprocessing``: a
    fitted ``io.preprocessing.Preprocessing`` (a saved model's) to apply to a table instead of
    fitting one. The returned dataset's ``info`` is always set (``describe_dataset``).
    """
    from .tables import TableOptions, is_table_path, load_table

    from ..diagnostics.inputs import subnormal_warning

    source = str(name_or_path)
    options = None if table is None else TableOptions.from_dict(table)
    if is_table_path(source):
        data = load_table(source, options, preprocessing)
    elif options is not None and options != TableOptions():
        raise ValueError(f"table options (--target, --features, ...) apply to table files {list(SUFFIXES[:3])}, "
                         f"not to {source!r}")
    elif source in DATASETS:
        data = DATASETS[source]()
    elif Path(source).suffix.lower() in LOADERS:
        data = LOADERS[Path(source).suffix.lower()](Path(source))
    else:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)} or a path ending in {list(SUFFIXES)}, got {source!r}")
    info = describe_dataset(data, source)
    subnormal = subnormal_warning(data.X_train, "the training features")
    if subnormal:
        info = {**info, "warnings": [*info["warnings"], subnormal]}
    return data._replace(info=info)
