"""The classic studies of ``practicaldl demo``: initialization, regularization, optimization, gradient checking."""

from __future__ import annotations

import numpy as np

from ..io.datasets import load_dataset
from .config import StudyConfig


#: The optimization study's epochs (the course runs 5000) and seeds (3 is the course's initialization)
OPTIMIZATION_EPOCHS, OPTIMIZATION_SEEDS = 2000, (3, 4, 5)


def demo_studies(*, quick: bool = False) -> list[StudyConfig]:
    """The initialization, regularization and optimization studies of ``practicaldl demo``.

    Initialization: circles, [2, 10, 5, 1], learning rate 0.01, 15000 iterations (the course's
    settings), zeros / random x10 / He, seeds 3 (the course's), 4, 5. Regularization: the noisy
    2-D set, [2, 20, 3, 1], LeCun init, learning rate 0.3, 20000 iterations (the course runs
    30000), none / L2 0.7 / dropout 0.86, seeds 0, 1, 2. Optimization: ``optimization_study``.
    ``quick`` cuts iterations and seeds (for smoke tests; the numbers then mean little).
    """
    init_iter, reg_iter, init_seeds, reg_seeds = (15000, 20000, (3, 4, 5), (0, 1, 2))
    if quick:
        init_iter, reg_iter, init_seeds, reg_seeds = (300, 300, (3,), (0,))
    init_study = StudyConfig(
        name="initialization", title="Initialization: zeros vs large random vs He", dataset="circles",
        hidden_layer_sizes=(10, 5), learning_rate=0.01, max_iter=init_iter, seeds=init_seeds,
        configurations=[{"label": "zeros", "init": "zeros"},
                        {"label": "random x10", "init": "random", "init_scale": 10.0},
                        {"label": "he", "init": "he"}],
        description=(
            "Circles (300 train / 100 test), network [2, 10, 5, 1], ReLU, learning rate 0.01, "
            f"{init_iter} full-batch iterations, seeds {list(init_seeds)} (seed 3 is the course's). "
            "Zeros never break symmetry (every unit of a layer stays identical: accuracy 0.5); "
            "weights drawn x10 too large start with a huge cost and train slowly; He trains well."),
    )
    reg_study = StudyConfig(
        name="regularization", title="Regularization: none vs L2 vs dropout", dataset="noisy",
        hidden_layer_sizes=(20, 3), init="lecun", learning_rate=0.3, max_iter=reg_iter, seeds=reg_seeds,
        target_error=0.15,  # the share of flipped labels: no classifier does better on average
        configurations=[{"label": "none"}, {"label": "L2 0.7", "l2": 0.7},
                        {"label": "dropout 0.86", "keep_prob": 0.86}],
        description=(
            "Noisy 2-D set (a wavy boundary with a share of labels flipped; see practicaldl.datasets.load_noisy), network [2, 20, 3, 1], LeCun init, "
            f"learning rate 0.3, {reg_iter} full-batch iterations (the course runs 30000; fewer here to keep "
            f"the demo short), seeds {list(reg_seeds)}. Without regularization the network fits the noise "
            "(largest train-test gap); L2 and dropout smooth the boundary and narrow the gap. Bias and "
            "variance are judged against a target error of 0.15, the share of flipped labels."),
    )
    return [init_study, reg_study, optimization_study(quick=quick)]


def optimization_study(*, quick: bool = False) -> StudyConfig:
    """The course's comparison of optimizers (week 2) on its moons (``course_moons``).

    Network [2, 5, 2, 1], He initialization, minibatches of 64: gradient descent, momentum
    (beta 0.9) and Adam (0.9, 0.999, 1e-8) at learning rate 0.0007, then gradient descent and
    momentum at 0.1 and Adam at 0.01 with the course's scheduled decay (``lr0 / (1 + floor(epoch /
    1000))``). ``OPTIMIZATION_EPOCHS`` epochs (the course runs 5000), seeds ``OPTIMIZATION_SEEDS``.
    """
    epochs, seeds, interval = (200, (3,), 100) if quick else (OPTIMIZATION_EPOCHS, OPTIMIZATION_SEEDS, 1000)
    decay = {"decay_rate": 1.0, "decay_interval": interval}
    return StudyConfig(
        name="optimization", title="Optimization: gradient descent, momentum, Adam; learning-rate decay",
        dataset="course_moons", hidden_layer_sizes=(5, 2), init="he", batch_size=64, max_iter=epochs, seeds=seeds,
        target_error=0.03,  # about the best possible at this noise (an RBF SVM fitted on 8000 points: 0.969)
        configurations=[{"label": "gd 0.0007", "optimizer": "gd", "learning_rate": 0.0007},
                        {"label": "momentum 0.0007", "optimizer": "momentum", "learning_rate": 0.0007},
                        {"label": "adam 0.0007", "optimizer": "adam", "learning_rate": 0.0007},
                        {"label": "gd 0.1 + decay", "optimizer": "gd", "learning_rate": 0.1, **decay},
                        {"label": "momentum 0.1 + decay", "optimizer": "momentum", "learning_rate": 0.1, **decay},
                        {"label": "adam 0.01 + decay", "optimizer": "adam", "learning_rate": 0.01, **decay}],
        description=(
            "The course's moons (make_moons(300, noise=0.2) after seed 3; the test set: the same after seed 4), "
            f"network [2, 5, 2, 1], He init, minibatches of 64, {epochs} epochs (the course runs 5000; fewer here to "
            f"keep the demo short), seeds {list(seeds)}. At learning rate 0.0007 gradient descent and momentum "
            "(beta 0.9) crawl: after all those epochs they are still far from the boundary Adam (beta1 0.9, "
            "beta2 0.999) finds, because Adam scales each parameter's step by its own gradient history. With a "
            f"larger rate that decays as lr0 / (1 + floor(epoch / {interval})) (gradient descent and momentum from "
            "0.1, Adam from 0.01), all three reach about the same accuracy. Bias is judged against a target error of "
            "0.03, about the best possible at this noise."),
    )


def gradcheck_study(*, seed: int = 4) -> dict:
    """The demo's gradient checks: a correct backprop passes, a planted bug (dW2 doubled) is caught.

    Network [2, 5, 3, 1] (He init, seed ``seed``; biases 0.1 N(0, 1) from the same generator: zero
    biases would put units exactly at a ReLU kink wherever dropout removes all their inputs) on the
    first 40 circles points, L2 0.7, ReLU.
    Returns ``{"kind": "gradcheck", "checks": [{"label", "expected", "report"}, ...]}``.
    """
    from .. import gradcheck
    from ..core.network import backward_propagation, initialize_parameters

    data = load_dataset("circles")
    X, Y = data.X_train[:40].T, data.y_train[None, :40].astype(float)  # (2, 40), (1, 40)
    rng = np.random.RandomState(seed)
    params = initialize_parameters([2, 5, 3, 1], init="he", rng=rng)
    params = {k: 0.1 * rng.standard_normal(v.shape) if k[0] == "b" else v for k, v in params.items()}

    def buggy_backward(params, Y, cache, l2=0.0):
        grads = backward_propagation(params, Y, cache, l2)
        grads["dW2"] = 2.0 * grads["dW2"]  # the planted bug
        return grads

    checks = []
    for label, expected, kwargs in (
        ("correct backprop (L2 0.7)", "pass", {}),
        ("correct backprop (L2 0.7, dropout 0.8, masks replayed)", "pass",
         {"keep_prob": 0.8, "rng": np.random.RandomState(seed)}),
        ("planted bug: dW2 doubled", "fail", {"backward": buggy_backward}),
    ):
        report = gradcheck.check_backprop(params, X, Y, l2=0.7, **kwargs)
        checks.append({"label": label, "expected": expected, "report": report.to_dict()})
    return {"kind": "gradcheck", "title": "Gradient checking",
            "description": ("Network [2, 5, 3, 1] on 40 circles points, L2 0.7: the centred difference "
                            "(J(theta + eps) - J(theta - eps)) / (2 eps), eps = 1e-7, against backprop, overall "
                            "and per parameter, judged against the cost's measured rounding noise. A correct "
                            "backprop passes, with dropout too (its masks replayed); doubling dW2 fails, and the "
                            "per-parameter lines point at W2."),
            "checks": checks}
