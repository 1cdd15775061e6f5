"""The data a study runs on: loaded once, in the parent process, and named by a checksum.

``load_study_data(config)`` is the one place a study's data is read (a built-in set or a file,
``io.datasets``); the runner calls it once and hands the arrays to every run (scattered once per
Dask worker), so workers never read files and a run is a pure function of its configuration and
this data. ``data_checksum(data)`` is the SHA-256 of the arrays (dtype, shape and bytes of
``X_train, y_train, X_test, y_test``), part of every run's key (``studies.store``): the same data
under another path is the same study; changed data is a changed study.
"""

from __future__ import annotations

import hashlib
from typing import Optional

import numpy as np

from ..io.datasets import Dataset, load_dataset

SPLITS = ("X_train", "y_train", "X_test", "y_test")


def load_study_data(config) -> Dataset:
    """The train / test data of a ``StudyConfig``, ``SearchConfig`` or ``RunConfig``: its
    ``dataset``, read with its ``table`` options (``io.datasets.load_dataset``)."""
    return load_dataset(config.dataset, config.table)


def _update(digest, array) -> None:
    columns = getattr(array, "columns", None)  # a DataFrame: its column names are part of the data
    if columns is not None:
        digest.update(repr([str(c) for c in columns]).encode("utf-8"))
    array = np.asarray(array)
    if array.dtype.kind == "O":  # Python objects (string labels): hash their text, not their addresses
        array = array.astype(str)
    digest.update(f"{array.dtype.str}{array.shape}".encode("ascii"))
    digest.update(np.ascontiguousarray(array).tobytes())


def data_checksum(data: Dataset) -> str:
    """SHA-256 (hex) of ``X_train, y_train, X_test, y_test``: dtype, shape and bytes of each."""
    digest = hashlib.sha256()
    for split in SPLITS:
        _update(digest, getattr(data, split))
    return digest.hexdigest()


def validation_split(data: Dataset, fraction: float, seed: int) -> Dataset:
    """Hold out ``fraction`` of the training set as a validation set (stratified where every class
    has two members, seeded): the data set with ``(X_fit, y_fit)`` as its training set and
    ``(X_val, y_val)`` in place of the test set, which is left out, so that choosing
    hyperparameters never looks at it. (A table's preprocessing stays the one fitted on the whole
    training set.)
    """
    from sklearn.model_selection import train_test_split

    y = np.asarray(data.y_train)
    stratify = y if np.unique(y, return_counts=True)[1].min() >= 2 else None
    X_fit, X_val, y_fit, y_val = train_test_split(data.X_train, y, test_size=fraction, stratify=stratify,
                                                  random_state=seed)
    split = {"train_rows": int(len(y_fit)), "test_rows": int(len(y_val)),
             "description": f"a validation split: {fraction:.0%} of the training set held out (seed {seed}); "
                            "the test set is not used"}
    info = None if data.info is None else {**data.info, "split": split}
    return data._replace(X_train=X_fit, y_train=y_fit, X_test=X_val, y_test=y_val, info=info)


def dataset_points(data: Dataset) -> Optional[dict]:
    """The train and test points of 2-D data (for decision-boundary panels), else None."""
    if np.asarray(data.X_train).shape[1] != 2:
        return None
    return {"X_train": np.asarray(data.X_train).tolist(), "y_train": np.asarray(data.y_train).tolist(),
            "X_test": np.asarray(data.X_test).tolist(), "y_test": np.asarray(data.y_test).tolist()}
