"""Record, then compare, the exact outputs of a set of fits: a guard for changes to the engine.

``tests/engine/test_steps.py`` proves on every run that the fast step equals the reference step
(the public core functions). This script guards what the tests cannot: that a change leaves the
numbers of the whole package unchanged from one commit to another, the reference step included.
Record the outputs with the code you trust, then compare after each change::

    python benchmarks/golden.py record /tmp/golden.npz     # before changing anything
    python benchmarks/golden.py compare /tmp/golden.npz    # after each change: exit 1 on any difference

Each case stores its fitted parameters, ``cost_history_``, ``cross_entropy_history_``, the
validation history and ``predict_proba`` on its training data; ``compare`` checks them with
``np.array_equal`` and equal dtypes. Results are reproducible for one machine, BLAS and thread
count; the file is a scratch artefact, not committed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import practicaldl as pdl
from practicaldl.engine.loop import train

FOOTBALL = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "football.mat"


def _clf(**kw):
    return pdl.NeuralNetClassifier(**kw)


def _noisy_2d(n_samples: int, seed: int):
    """A fixed football-like 2-D set (defined here so that changes to ``datasets`` do not move it)."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
    y = (X[:, 1] > 0.35 * np.sin(3.0 * X[:, 0])).astype(np.int64)
    flip = rng.random_sample(n_samples) < 0.12
    y[flip] = 1 - y[flip]
    return X, y


def cases():
    """name -> (estimator or callable, X, y); each returns a dict of arrays."""
    circles = pdl.load_dataset("circles")
    noisy_X, noisy_y = _noisy_2d(200, 0)
    moons = pdl.load_dataset("moons")
    digits = pdl.load_dataset("digits")
    out = {
        "circles_he": (_clf(hidden_layer_sizes=(10, 5), init="he", learning_rate=0.01, max_iter=15000,
                            random_state=3), circles.X_train, circles.y_train),
        "noisy_l2": (_clf(hidden_layer_sizes=(20, 3), init="lecun", learning_rate=0.3, max_iter=3000, l2=0.7,
                          random_state=0), noisy_X, noisy_y),
        "noisy_dropout": (_clf(hidden_layer_sizes=(20, 3), init="lecun", learning_rate=0.3, max_iter=3000,
                               keep_prob=0.86, random_state=0), noisy_X, noisy_y),
        "moons_minibatch_dropout": (_clf(hidden_layer_sizes=(16, 8), learning_rate=0.05, max_iter=60, batch_size=64,
                                         keep_prob=(0.8, 0.9), l2=0.1, random_state=5), moons.X_train, moons.y_train),
        "circles_tanh": (_clf(hidden_layer_sizes=(10, 5), activation="tanh", init="xavier", learning_rate=0.05,
                              max_iter=2000, l2=0.05, random_state=1), circles.X_train, circles.y_train),
        "circles_sigmoid": (_clf(hidden_layer_sizes=(10, 5), activation="sigmoid", init="xavier", learning_rate=0.5,
                                 max_iter=2000, keep_prob=0.9, random_state=2), circles.X_train, circles.y_train),
        "digits_softmax": (_clf(hidden_layer_sizes=(32,), learning_rate=0.1, max_iter=200, random_state=0),
                           digits.X_train, digits.y_train),
        "digits_softmax_minibatch_f32": (_clf(hidden_layer_sizes=(32, 16), learning_rate=0.05, max_iter=20,
                                              batch_size=100, keep_prob=0.9, l2=0.3, random_state=4),
                                         digits.X_train.astype(np.float32), digits.y_train),
        "circles_f32": (_clf(hidden_layer_sizes=(10, 5), learning_rate=0.01, max_iter=3000, random_state=3),
                        circles.X_train.astype(np.float32), circles.y_train),
        "circles_f32_tanh_dropout_l2": (_clf(hidden_layer_sizes=(10, 5), activation="tanh", learning_rate=0.05,
                                             max_iter=1000, keep_prob=0.8, l2=0.2, random_state=6),
                                        circles.X_train.astype(np.float32), circles.y_train),
        "digits_early_stopping": (_clf(hidden_layer_sizes=(24,), learning_rate=0.2, max_iter=400, early_stopping=True,
                                       n_iter_no_change=10, tol=1e-3, random_state=7),
                                  digits.X_train, digits.y_train),
        "moons_generator": (_clf(hidden_layer_sizes=(8,), learning_rate=0.1, max_iter=30, batch_size=50,
                                 keep_prob=0.7, random_state=np.random.default_rng(11)), moons.X_train, moons.y_train),
    }
    if FOOTBALL.is_file():
        from practicaldl.io.datasets import load_mat
        football = load_mat(FOOTBALL)
        out["football_l2"] = (_clf(hidden_layer_sizes=(20, 3), init="lecun", learning_rate=0.3, max_iter=3000,
                                   l2=0.7, random_state=3), football.X_train, football.y_train)
        out["football_dropout"] = (_clf(hidden_layer_sizes=(20, 3), init="lecun", learning_rate=0.3, max_iter=3000,
                                        keep_prob=0.86, random_state=3), football.X_train, football.y_train)
    return out


def _train_c_layout():
    """``train`` called directly with a C-ordered (n_x, m) X and a last minibatch of 13 examples."""
    rng = np.random.RandomState(9)
    X = rng.standard_normal((5, 213))
    Y = (X[:1] * X[1:2] > 0).astype(np.float64)
    params = pdl.initialize_parameters([5, 7, 6, 1], rng=rng)
    params, history = train(params, X, Y, learning_rate=0.1, max_iter=25, rng=rng, batch_size=50, l2=0.3,
                            keep_prob=(0.9, 0.75))
    return params, history


def run_all() -> dict:
    results = {}
    for name, (clf, X, y) in cases().items():
        clf.fit(X, y)
        for k, v in clf.parameters_.items():
            results[f"{name}/{k}"] = v
        results[f"{name}/cost"] = np.asarray(clf.cost_history_)
        results[f"{name}/cross_entropy"] = np.asarray(clf.cross_entropy_history_)
        results[f"{name}/validation_cost"] = np.asarray(clf.validation_cost_history_)
        results[f"{name}/proba"] = clf.predict_proba(X)
    params, history = _train_c_layout()
    for k, v in params.items():
        results[f"train_c_layout/{k}"] = v
    results["train_c_layout/cost"] = np.asarray(history.cost)
    return results


def main(argv) -> int:
    if len(argv) != 3 or argv[1] not in ("record", "compare"):
        print(__doc__)
        return 2
    mode, path = argv[1], argv[2]
    results = run_all()
    if mode == "record":
        np.savez(path, **results)
        print(f"recorded {len(results)} arrays to {path}")
        return 0
    golden = np.load(path, allow_pickle=False)
    bad = [k for k in golden.files if k not in results
           or golden[k].dtype != results[k].dtype or not np.array_equal(golden[k], results[k])]
    missing = sorted(set(results) - set(golden.files))
    for k in bad:
        print(f"DIFFERENT: {k}")
    if missing:
        print(f"not in the golden file: {missing}")
    print(f"{len(golden.files) - len(bad)}/{len(golden.files)} arrays identical")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
