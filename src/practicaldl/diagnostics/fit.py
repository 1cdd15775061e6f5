"""Bias and variance after training, in the course's terms (avoidable bias against a target error)."""

from __future__ import annotations

import numbers
from typing import Optional

import numpy as np

from .findings import THRESHOLDS, Finding, _band


def _check_fraction(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def diagnose_fit(train_accuracy: float, test_accuracy: float, target_error: float = 0.0) -> list:
    """Bias and variance after training, in the course's terms.

    ``train_error = 1 - train_accuracy``, ``test_error = 1 - test_accuracy`` (a dev or test set),
    ``target_error`` the human-level or Bayes error (0 when unknown)::

        avoidable bias = train_error - target_error   > THRESHOLDS["avoidable_bias"]: high_bias
        variance       = test_error - train_error     > THRESHOLDS["variance"]:       high_variance

    Returns high_bias / high_variance findings (warning, or info in the mild band), the larger one
    named first with "fix this first"; a single info ``fit_ok`` finding when neither fires.
    """
    train_acc = _check_fraction("train_accuracy", train_accuracy)
    test_acc = _check_fraction("test_accuracy", test_accuracy)
    target = _check_fraction("target_error", target_error)
    train_err, test_err = 1 - train_acc, 1 - test_acc
    bias, variance = train_err - target, test_err - train_err
    errors = f"train error {train_err:.1%}, test error {test_err:.1%}, target error {target:.1%}"
    checks = (
        ("high_bias", bias, "avoidable_bias",
         f"high bias (underfitting): avoidable bias = train error - target error = {bias:.1%} ({errors}); "
         "the network does not fit even its training data as well as it could",
         "a bigger network (more units or layers), longer training (more iterations, a better learning rate), "
         "or less regularization (smaller l2, keep_prob closer to 1)"),
        ("high_variance", variance, "variance",
         f"high variance (overfitting): variance = test error - train error = {variance:.1%} ({errors}); "
         "the network fits the training set much better than new data",
         "more training data, L2 regularization (l2 > 0) or dropout (keep_prob < 1), "
         "early stopping, or a smaller network"),
    )
    found = []
    for kind, value, key, message, suggestion in checks:
        hit = _band(value, key, above=True)
        if hit:
            band, key = hit
            found.append((value, Finding(kind, band, None, value, THRESHOLDS[key], message, suggestion, key)))
    found.sort(key=lambda item: -item[0])
    if len(found) == 2:
        found[0][1].message += " -- the larger of the two gaps: fix this first"
    if not found:
        return [Finding("fit_ok", "info", None, max(bias, variance),
                        min(THRESHOLDS["avoidable_bias_info"], THRESHOLDS["variance_info"]),
                        f"no bias or variance problem: avoidable bias {bias:.1%}, variance {variance:.1%} ({errors})",
                        "", "avoidable_bias_info")]
    return [f for _, f in found]


def majority_baseline(y_test, test_accuracy: float) -> Optional[Finding]:
    """A warning when the test accuracy is not above the majority-class rate.

    ``rate = max_k #{y_test == k} / len(y_test)`` is the accuracy of always predicting the most
    frequent test label; a test accuracy at most ``THRESHOLDS["majority_margin"]`` above it means
    the network has learned nothing that label counts alone do not give. None otherwise.
    """
    accuracy = _check_fraction("test_accuracy", test_accuracy)
    labels, counts = np.unique(np.asarray(y_test), return_counts=True)
    if len(labels) == 0:
        return None
    rate = float(counts.max() / counts.sum())
    margin = THRESHOLDS["majority_margin"]
    if accuracy > rate + margin:
        return None
    label = labels[int(np.argmax(counts))]
    return Finding(
        "majority_rate", "warning", None, accuracy, rate,
        f"test accuracy {accuracy:.3f} is no better than always predicting the most frequent class "
        f"{label.item() if hasattr(label, 'item') else label!r} ({rate:.3f} of the test set): the network has not "
        "learned to tell the classes apart",
        "standardize the features (drop --no-standardize), check that --target is the label column, and try "
        "a smaller learning rate or more iterations (a cost stuck at 0.693 = log 2 means nothing was learned)",
        "majority_margin")
