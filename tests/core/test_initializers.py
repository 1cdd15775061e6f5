import numpy as np
import pytest

from practicaldl import initialize_parameters
from practicaldl.core.initializers import INITIALIZERS, VARIANCES

COURSE = {  # ../shared/reference/course-results.md, unit values
    "random10_W1": [[17.88628473, 4.36509851, 0.96497468], [-18.63492703, -2.77388203, -3.54758979]],
    "random10_W2": [[-0.82741481, -6.27000677]],
    "he_W1": [[1.78862847, 0.43650985], [0.09649747, -1.8634927], [-0.2773882, -0.35475898],
              [-0.08274148, -0.62700068]],
    "he_W2": [[-0.03098412, -0.33744411, -0.92904268, 0.62552248]],
}


def test_course_unit_values():
    p = initialize_parameters([3, 2, 1], init="random", init_scale=10, rng=np.random.RandomState(3))
    np.testing.assert_allclose(p["W1"], COURSE["random10_W1"], atol=5e-9)
    np.testing.assert_allclose(p["W2"], COURSE["random10_W2"], atol=5e-9)
    p = initialize_parameters([2, 4, 1], init="he", rng=np.random.RandomState(3))
    np.testing.assert_allclose(p["W1"], COURSE["he_W1"], atol=5e-9)
    np.testing.assert_allclose(p["W2"], COURSE["he_W2"], atol=5e-9)


def test_shapes_and_zero_biases():
    p = initialize_parameters([4, 5, 3, 1], init="xavier", rng=np.random.RandomState(0))
    assert [p[k].shape for k in ("W1", "b1", "W2", "b2", "W3", "b3")] == [(5, 4), (5, 1), (3, 5), (3, 1), (1, 3), (1, 1)]
    assert all(not p[f"b{l}"].any() for l in (1, 2, 3))


def test_zeros_draws_nothing():
    rng = np.random.RandomState(7)
    p = initialize_parameters([2, 3, 1], init="zeros", rng=rng)
    assert not any(v.any() for v in p.values())
    assert rng.random_sample() == np.random.RandomState(7).random_sample()  # generator untouched


@pytest.mark.parametrize("name", sorted(set(INITIALIZERS) - {"zeros"}))
def test_variance_matches_the_name(name):
    """Each scheme's weights have the variance its name promises (normal and uniform alike)."""
    fan_in, fan_out = 400, 300
    base = name.removesuffix("_uniform").removesuffix("_normal")
    expected = VARIANCES[base](fan_in, fan_out)
    W = initialize_parameters([fan_in, fan_out], init=name, rng=np.random.RandomState(1))["W1"]
    # 120000 draws: the sample variance is within ~1% (4 standard errors) of the true one.
    assert W.var() == pytest.approx(expected, rel=0.02)
    assert abs(W.mean()) < 4 * np.sqrt(expected / W.size)
    if name.endswith("_uniform"):
        assert np.abs(W).max() <= np.sqrt(3 * expected)


def test_he_variance_is_two_over_fan_in():
    W = initialize_parameters([500, 400], init="he", rng=np.random.RandomState(2))["W1"]
    assert W.var() == pytest.approx(2 / 500, rel=0.02)


def test_init_scale_multiplies_std():
    a = initialize_parameters([50, 40], init="he", rng=np.random.RandomState(0))["W1"]
    b = initialize_parameters([50, 40], init="he", init_scale=3.0, rng=np.random.RandomState(0))["W1"]
    np.testing.assert_allclose(b, 3 * a)


def test_callable_init_and_dtype():
    p = initialize_parameters([3, 2, 1], init=lambda shape, rng: np.full(shape, 0.5), dtype=np.float32)
    assert p["W1"].dtype == np.float32 and p["b1"].dtype == np.float32
    assert np.all(p["W2"] == 0.5)
    with pytest.raises(ValueError, match=r"init must return an array of shape \(2, 3\) for layer 1"):
        initialize_parameters([3, 2], init=lambda shape, rng: np.zeros((3, 2)))


def test_generator_accepted_and_reproducible():
    a = initialize_parameters([3, 4, 1], rng=np.random.default_rng(5))
    b = initialize_parameters([3, 4, 1], rng=np.random.default_rng(5))
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(layer_dims=[2]), "layer_dims must list at least the input and output sizes"),
        (dict(layer_dims=[2, 0, 1]), "each layer size must be a positive integer, got 0"),
        (dict(layer_dims=[2, 3.5, 1]), "each layer size must be a positive integer, got 3.5"),
        (dict(layer_dims=[2, 1], init="kaiming"), r"init must be one of \[.*'he'.*\], got 'kaiming'"),
        (dict(layer_dims=[2, 1], init_scale=-1), "init_scale must be a positive finite number, got -1"),
        (dict(layer_dims=[2, 1], rng="seed"), "random_state must be None, an int"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        initialize_parameters(**kwargs)
