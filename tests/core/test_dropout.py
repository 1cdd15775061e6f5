import numpy as np
import pytest

import practicaldl as pdl
from practicaldl.core.dropout import apply_mask, draw_mask


def test_keep_prob_one_draws_nothing():
    rng = np.random.RandomState(4)
    assert draw_mask((3, 5), 1.0, rng) is None
    assert rng.random_sample() == np.random.RandomState(4).random_sample()
    A = np.ones((2, 2))
    assert apply_mask(A, None, 1.0) is A


def test_mask_is_the_course_stream():
    # The course: D = np.random.rand(*A.shape) < keep_prob after the same seed.
    mask = draw_mask((4, 6), 0.7, np.random.RandomState(1))
    np.testing.assert_array_equal(mask, np.random.RandomState(1).rand(4, 6) < 0.7)
    assert mask.dtype == bool


def test_inverted_scaling_and_no_mutation():
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    mask = np.array([[True, False], [False, True]])
    out = apply_mask(A, mask, 0.5)
    np.testing.assert_array_equal(out, [[2.0, 0.0], [0.0, 8.0]])
    np.testing.assert_array_equal(A, [[1.0, 2.0], [3.0, 4.0]])


def test_expected_activation_is_kept():
    """E[A * D / p] = A: over 200000 draws the mean stays within 4 standard errors."""
    p = 0.8
    A = np.full((1, 200_000), 3.0)
    out = apply_mask(A, draw_mask(A.shape, p, np.random.RandomState(0)), p)
    stderr = 3.0 * np.sqrt((1 - p) / p / A.size)
    assert abs(out.mean() - 3.0) < 4 * stderr


def test_float32_mask_keeps_float32():
    A = np.ones((3, 4), dtype=np.float32)
    assert apply_mask(A, draw_mask(A.shape, 0.5, np.random.RandomState(0)), 0.5).dtype == np.float32


def test_dropout_only_on_hidden_layers_and_only_in_training():
    params = pdl.initialize_parameters([3, 6, 4, 1], rng=np.random.RandomState(0))
    X = np.random.RandomState(1).randn(3, 10)
    _, cache = pdl.forward_propagation(params, X, keep_prob=0.5, rng=np.random.RandomState(2))
    assert len(cache.masks) == 2 and all(m.shape == a.shape for m, a in zip(cache.masks, cache.G))
    # Output layer untouched: A_L is exactly sigmoid(Z_L).
    np.testing.assert_array_equal(cache.AL, 1 / (1 + np.exp(-cache.Z[-1])))
    # prediction draws nothing and applies no mask
    AL_eval = pdl.predict_proba(params, X)
    AL_plain, _ = pdl.forward_propagation(params, X)
    np.testing.assert_array_equal(AL_eval, AL_plain)


def test_per_layer_keep_prob_and_replay():
    params = pdl.initialize_parameters([3, 6, 4, 1], rng=np.random.RandomState(0))
    X = np.random.RandomState(1).randn(3, 50)
    _, cache = pdl.forward_propagation(params, X, keep_prob=(0.5, 1.0), rng=np.random.RandomState(2))
    assert cache.masks[1] is None and cache.masks[0] is not None
    AL2, _ = pdl.forward_propagation(params, X, keep_prob=(0.5, 1.0), masks=cache.masks)
    np.testing.assert_array_equal(AL2, cache.AL)


def test_backward_reuses_the_mask():
    """A unit dropped in forward gets no gradient through its outgoing weights' inputs."""
    params = pdl.initialize_parameters([2, 5, 1], rng=np.random.RandomState(0))
    X = np.random.RandomState(1).randn(2, 1)
    _, cache = pdl.forward_propagation(params, X, keep_prob=0.6, rng=np.random.RandomState(3))
    grads = pdl.backward_propagation(params, np.array([[1.0]]), cache)
    dropped = ~cache.masks[0][:, 0]
    assert dropped.any()
    assert not grads["dW1"][dropped].any() and not grads["db1"][dropped].any()


@pytest.mark.parametrize("bad", [0.0, 1.5, -0.1, (0.5,), "0.5", True])
def test_bad_keep_prob(bad):
    params = pdl.initialize_parameters([2, 3, 3, 1], rng=np.random.RandomState(0))
    with pytest.raises(ValueError, match="keep_prob"):
        pdl.forward_propagation(params, np.zeros((2, 4)), keep_prob=bad, rng=np.random.RandomState(0))


def test_dropout_needs_an_rng():
    params = pdl.initialize_parameters([2, 3, 1], rng=np.random.RandomState(0))
    with pytest.raises(ValueError, match="rng is required when keep_prob < 1"):
        pdl.forward_propagation(params, np.zeros((2, 4)), keep_prob=0.5)
