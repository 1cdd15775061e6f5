"""Random search: seeded trials, the distributions' statistics, the space's rules, runs and reports."""

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import practicaldl as pdl
from practicaldl.report import load_results, study_results, tables, write_report
from practicaldl.studies.config import OVERRIDABLE
from practicaldl.studies.data import validation_split
from practicaldl.studies.search import (DISTRIBUTIONS, Choice, IntUniform, LogInt, LogUniform, OneMinusLogUniform,
                                        SearchConfig, Uniform, parse_space, run_search, sample_trials)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "search.toml"
SPACE = {"learning_rate": [1e-4, 1.0], "l2": {"loguniform": [1e-3, 10.0]}, "keep_prob": [0.5, 0.8, 1.0],
         "hidden_layer_sizes": [[2, 16], 3], "init": ["he", "lecun"]}
OPTIMIZER_SPACE = {"beta": [0.9, 0.999], "beta1": [0.8, 0.99], "beta2": {"one_minus_loguniform": [0.99, 0.9999]},
                   "optimizer": ["momentum", "rmsprop", "adam"], "epsilon": [1e-9, 1e-6]}
N = 4000


def draws(dist, n=N, seed=0):
    u = np.random.default_rng(seed).random(n)
    return np.array([dist.sample(x) for x in u])


def uniform_on(values, low, high) -> float:
    """Kolmogorov-Smirnov p-value of ``values`` against U(low, high)."""
    return stats.kstest(values, stats.uniform(loc=low, scale=high - low).cdf).pvalue


# -- the distributions ---------------------------------------------------------------------------------
def test_loguniform_is_uniform_in_the_logarithm():
    values = draws(LogUniform(1e-4, 1.0))
    assert values.min() >= 1e-4 and values.max() < 1.0
    assert uniform_on(np.log10(values), -4, 0) > 1e-3
    # each decade equally likely: a quarter of the draws in each (4000 draws: sd of a share ~0.007)
    shares = np.histogram(np.log10(values), bins=[-4, -3, -2, -1, 0])[0] / N
    np.testing.assert_allclose(shares, 0.25, atol=0.035)


def test_the_check_catches_a_sampler_that_is_uniform_on_the_linear_scale():
    """The planted bug: linear sampling over [1e-4, 1] puts ~90% of draws in the top decade."""
    values = draws(Uniform(1e-4, 1.0))
    assert uniform_on(np.log10(values), -4, 0) < 1e-10
    assert np.mean(values > 0.1) > 0.85


def test_one_minus_loguniform_spreads_beta_evenly_over_averaging_lengths():
    values = draws(OneMinusLogUniform(0.9, 0.999))
    assert values.min() >= 0.9 and values.max() <= 0.999
    assert uniform_on(np.log10(1 - values), -3, -1) > 1e-3
    # 0.9 ... 0.99 as likely as 0.99 ... 0.999 (a uniform beta would put 91% below 0.99)
    assert abs(np.mean(values > 0.99) - 0.5) < 0.035
    assert np.mean(draws(Uniform(0.9, 0.999)) > 0.99) < 0.1


def test_integer_distributions_hit_every_value_evenly():
    widths = draws(IntUniform(2, 9))
    counts = np.bincount(widths.astype(int), minlength=10)[2:]
    assert widths.dtype.kind in "iu" or np.all(widths == widths.round())
    assert stats.chisquare(counts).pvalue > 1e-3 and counts.sum() == N
    logs = draws(LogInt(1, 1000))
    assert logs.min() >= 1 and logs.max() <= 1000
    assert abs(np.mean(logs < 32) - 0.5) < 0.04  # half the draws below sqrt(1001): log-uniform, not linear


def test_choice_picks_each_value_evenly_and_only_those():
    picks = draws(Choice(("he", "lecun", "xavier")))
    values, counts = np.unique(picks, return_counts=True)
    assert list(values) == ["he", "lecun", "xavier"] and stats.chisquare(counts).pvalue > 1e-3


# -- trials --------------------------------------------------------------------------------------------
def test_the_same_seed_gives_the_same_trials():
    space = parse_space(SPACE)
    first = sample_trials(space, seed=7, trials=12)
    assert sample_trials(space, seed=7, trials=12) == first
    assert sample_trials(space, seed=8, trials=12) != first
    assert sample_trials(space, seed=7, trials=30)[:12] == first  # a longer search starts with the same trials
    more = parse_space({**SPACE, "init_scale": [0.1, 10.0]})
    assert [{k: v for k, v in t.items() if k != "init_scale"} for t in sample_trials(more, 7, 12)] == first
    for trial in first:
        assert 1e-4 <= trial["learning_rate"] < 1 and 1e-3 <= trial["l2"] < 10
        assert trial["keep_prob"] in (0.5, 0.8, 1.0) and trial["init"] in ("he", "lecun")
        assert trial["hidden_layer_sizes"][1] == 3 and 2 <= trial["hidden_layer_sizes"][0] <= 16


def test_optimizer_settings_are_sampled_on_their_scales():
    """beta, beta1, beta2 (1 - loguniform), epsilon and decay_rate (loguniform), optimizer (choice),
    decay_interval (int): sampled on their scales and passed to the runs, which train with them."""
    space = parse_space({**OPTIMIZER_SPACE, "decay_rate": [0.01, 1.0], "decay_interval": [10, 100]})
    assert isinstance(space["beta"], OneMinusLogUniform) and isinstance(space["epsilon"], LogUniform)
    assert isinstance(space["decay_rate"], LogUniform) and isinstance(space["decay_interval"], IntUniform)
    trials = sample_trials(space, seed=0, trials=2000)
    beta2 = np.array([t["beta2"] for t in trials])
    assert uniform_on(np.log10(1 - beta2), -4, -2) > 1e-3
    assert {t["optimizer"] for t in trials} == {"momentum", "rmsprop", "adam"}
    assert set(OPTIMIZER_SPACE) | {"decay_rate", "decay_interval"} <= set(OVERRIDABLE)
    search = SearchConfig(space={"learning_rate": [1e-3, 1e-2], **OPTIMIZER_SPACE, "decay_rate": [0.01, 1.0]},
                          trials=4, max_iter=20, batch_size=64)
    runs = search.to_study().expand()
    names = [*OPTIMIZER_SPACE, "decay_rate"]
    for trial, configuration, run in zip(search.sample(), search.to_study().configurations, runs):
        assert {k: configuration[k] for k in names} == {k: trial[k] for k in names}
        assert {k: getattr(run, k) for k in names} == {k: trial[k] for k in names}  # every run gets them
    section = run_search(search)
    assert [r["status"] for r in section["records"]] == ["ok"] * 4
    for trial, record in zip(search.sample(), section["records"]):
        assert record["config"]["optimizer"] == trial["optimizer"] and record["config"]["beta2"] == trial["beta2"]
        assert record["learning_rate_history"][-1] < record["learning_rate_history"][0]  # the sampled decay ran


def test_every_sampled_setting_reaches_its_runs():
    search = SearchConfig(space=SPACE, trials=5, seed=3, max_iter=10)
    runs = search.to_study().expand()
    for trial, run in zip(search.sample(), runs):
        assert run.configuration.startswith("trial ")
        for name, value in trial.items():
            assert getattr(run, name) == value, name


@pytest.mark.parametrize("space, message", [
    ({"learning_rate": {"loguniform": [0, 1]}}, r"space.learning_rate: loguniform takes \[low, high\] with 0 < low"),
    ({"learning_rate": {"loguniform": [1, 0.1]}}, "0 < low < high, got"),
    ({"beta": {"one_minus_loguniform": [0.9, 1.0]}}, r"0 <= low < high < 1, got \[0.9, 1.0\]"),
    ({"l2": {"gaussian": [0, 1]}}, r"space.l2: a table must name one distribution of \['choice', 'int'"),
    ({"init_scale": {"int": [1.5, 3]}}, "integers low <= high"),
    ({"hidden_layer_sizes": [[0, 4]]}, r"hidden_layer_sizes must be positive integers, got \[0\]"),
    ({"keep_prob": [0.5, 1.5]}, r"keep_prob must be in \(0, 1\], got 1.5"),
    ({"label": "x"}, "space.label is not a setting a run takes"),
    ({"seed": [1, 2]}, r"space.seed: a list needs a distribution here"),
    ({}, "space must be a non-empty table"),
])
def test_bad_spaces_are_refused_by_setting(space, message):
    with pytest.raises(ValueError, match=message):
        SearchConfig(space=space, trials=2)


@pytest.mark.parametrize("field, value, message", [
    ("trials", 0, "trials must be a positive integer, got 0"),
    ("seed", -1, r"seed must be an integer in \[0, 2\*\*32\), got -1"),
    ("validation_fraction", 1.0, r"validation_fraction must be a number in \(0, 1\), got 1.0"),
    ("dataset", "nope", "dataset must be one of"),
])
def test_bad_search_settings_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        SearchConfig(**{field: value})


def test_example_search_toml_reads_and_round_trips():
    search = SearchConfig.from_toml(EXAMPLE)
    assert search.trials >= 10 and {"learning_rate", "l2", "keep_prob", "hidden_layer_sizes"} <= set(search.space)
    assert SearchConfig.from_dict(search.to_dict()) == search
    assert set(DISTRIBUTIONS) == {"loguniform", "one_minus_loguniform", "uniform", "int", "log_int", "choice"}


# -- running a search ----------------------------------------------------------------------------------
def test_a_search_scores_trials_on_a_validation_split_and_reports_them(tmp_path):
    search = SearchConfig(name="s", space=SPACE, trials=6, seed=1, max_iter=60, top=4)
    section = run_search(search, out=tmp_path / "s")
    data = validation_split(pdl.load_dataset("circles"), 0.25, 1)
    assert len(data.y_train) == 225 and len(data.y_test) == 75  # the test set is not used
    best = max(section["records"], key=lambda r: r["test_accuracy"])
    clf = pdl.NeuralNetClassifier(**_run(best).estimator_params()).fit(data.X_train, data.y_train)
    assert clf.score(data.X_test, data.y_test) == best["test_accuracy"]
    doc = study_results(section)
    table = tables(doc)[0]
    assert table["columns"][:7] == ["rank", "trial", "learning_rate", "l2", "keep_prob", "hidden_layer_sizes[0]", "init"]
    assert len(table["rows"]) == 4 and table["rows"][0][1] == best["configuration"]
    scores = [float(row[7].split(" ")[0]) for row in table["rows"]]
    assert scores == sorted(scores, reverse=True)
    written = write_report(doc, tmp_path / "s")
    assert {"figures/s-scores.png", "figures/s-cost.png"} <= set(written)
    assert load_results(tmp_path / "s") == load_results(tmp_path / "s" / "results.json")
    # more trials on the same folder: only the new ones run
    seen = []
    run_search(SearchConfig(**{**search.to_dict(), "trials": 8}), out=tmp_path / "s", on_progress=seen.append)
    assert seen[0].recorded_before == 6 and seen[-1].done == 8


def _run(record):
    from practicaldl.studies.config import RunConfig

    config = dict(record["config"])
    config["hidden_layer_sizes"] = tuple(config["hidden_layer_sizes"])
    return RunConfig(**config)


def test_scores_figure_uses_log_axes_where_the_draw_was_logarithmic():
    from practicaldl.report.figures import figure_search_scores

    search = SearchConfig(name="s", space={"learning_rate": [1e-3, 1.0], "init_scale": {"uniform": [0.5, 2.0]}},
                          trials=4, max_iter=20)
    section = run_search(search)
    assert [(p["name"], p["log_axis"]) for p in section["parameters"]] == [("learning_rate", True),
                                                                           ("init_scale", False)]
    assert figure_search_scores(section).startswith(b"\x89PNG")


def test_a_search_on_a_table_with_its_options_from_toml(tmp_path, penguins_csv):
    """A table's options ([table]) reach every trial; the validation split is taken from its training rows,
    and the saved models carry the table's preprocessing."""
    from practicaldl.io.models import load_saved

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "penguins.csv").write_bytes(Path(penguins_csv).read_bytes())
    (tmp_path / "search.toml").write_text(
        '[search]\nname = "p"\ndataset = "data/penguins.csv"\ntrials = 3\nmax_iter = 60\nhidden_layer_sizes = [4]\n'
        '[search.space]\nlearning_rate = [0.01, 1.0]\n[table]\ntarget = "species"\nimpute = "median"\n')
    search = SearchConfig.from_toml(tmp_path / "search.toml")
    assert search.dataset == str(tmp_path / "data" / "penguins.csv") and search.table.target == "species"
    section = run_search(search, out=tmp_path / "s")
    assert all(r["status"] == "ok" and r["config"]["table"]["target"] == "species" for r in section["records"])
    assert section["dataset"]["split"]["description"].startswith("a validation split: 25% of the training set")
    saved = load_saved(tmp_path / "s" / section["records"][0]["model_path"])
    assert saved.preprocessing is not None and saved.table["target"] == "species"
