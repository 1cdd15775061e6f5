"""Studies: grid expansion, validation, pure runs, parallel == serial, aggregation over seeds."""

import json
import math

import numpy as np
import pytest

import practicaldl as pdl
from practicaldl.studies.classic import demo_studies
from practicaldl.studies.config import RunConfig, StudyConfig
from practicaldl.studies.runner import MAX_COST_POINTS, aggregate, decision_grid, run_one, run_study
from practicaldl.io.models import load_model

TINY = dict(dataset="circles", hidden_layer_sizes=(4, 3), max_iter=40, learning_rate=0.05, grid_points=12)


def _without_time(records):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in records]


# -- config ----------------------------------------------------------------------------------
def test_grid_is_the_product_of_axes_times_seeds():
    study = StudyConfig(init=("zeros", "he"), l2=(0.0, 0.7), keep_prob=(1.0, 0.8, 0.5), learning_rate=0.1,
                        seeds=(0, 1), **{k: v for k, v in TINY.items() if k != "learning_rate"})
    runs = study.expand()
    assert len(runs) == 2 * 2 * 3 * 1 * 2
    assert len(study.configuration_labels) == 12 == len(set(study.configuration_labels))
    assert {(r.init, r.l2, r.keep_prob) for r in runs} == {(i, l, k) for i in ("zeros", "he") for l in (0.0, 0.7)
                                                           for k in (1.0, 0.8, 0.5)}
    assert len({r.run_id for r in runs}) == len(runs)
    # labels name only the axes that vary
    assert "learning_rate" not in study.configuration_labels[0]
    assert "keep_prob=0.8" in study.configuration_labels[1]


def test_the_optimizer_is_a_grid_axis_and_its_settings_reach_every_run():
    study = StudyConfig(optimizer=("gd", "momentum", "adam"), learning_rate=(0.01, 0.1), beta=0.8, beta2=0.99,
                        decay_rate=1.0, decay_interval=100, batch_size=32, **{k: v for k, v in TINY.items()
                                                                              if k != "learning_rate"})
    runs = study.expand()
    assert len(runs) == 3 * 2  # optimizer x learning rate, one seed
    assert {(r.optimizer, r.learning_rate) for r in runs} == {(o, lr) for o in ("gd", "momentum", "adam")
                                                              for lr in (0.01, 0.1)}
    assert {(r.beta, r.beta1, r.beta2, r.epsilon, r.decay_rate, r.decay_interval) for r in runs} == {
        (0.8, 0.9, 0.99, 1e-8, 1.0, 100)}
    assert "optimizer=adam" in study.configuration_labels[-1]
    params = runs[-1].estimator_params()
    assert {k: params[k] for k in ("optimizer", "beta", "beta2", "decay_rate", "decay_interval")} == {
        "optimizer": "adam", "beta": 0.8, "beta2": 0.99, "decay_rate": 1.0, "decay_interval": 100}
    explicit = StudyConfig(configurations=[{"label": "plain"}, {"label": "adam", "optimizer": "adam", "beta1": 0.8},
                                           {"optimizer": "rmsprop", "learning_rate": 0.001}], **TINY)
    assert [(r.optimizer, r.beta1) for r in explicit.expand()] == [("gd", 0.9), ("adam", 0.8), ("rmsprop", 0.9)]
    assert explicit.configuration_labels[2] == "he learning_rate=0.001 optimizer=rmsprop"


def test_configurations_replace_the_grid():
    study = StudyConfig(configurations=[{"label": "zeros", "init": "zeros"},
                                        {"init": "random", "init_scale": 10.0}, {"l2": 0.7}], seeds=(3, 4), **TINY)
    runs = study.expand()
    assert [r.configuration for r in runs[::2]] == ["zeros", "random x10", "he l2=0.7"]
    assert runs[2].init_scale == 10.0 and runs[4].l2 == 0.7 and runs[4].init == "he"
    # details (boundary grid, diagnostics) only for the first seed of a configuration
    assert [r.grid_points for r in runs[:2]] == [12, 0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(keep_prob=1.5), r"keep_prob must be in \(0, 1\], got 1.5"),
    (dict(l2=-1.0), "l2 must be a non-negative finite number, got -1.0"),
    (dict(init="nope"), "init must be one of .*got 'nope'"),
    (dict(dataset="nope"), "dataset must be one of .*got 'nope'"),
    (dict(dataset="missing.csv"), "dataset file 'missing.csv' does not exist"),
    (dict(seeds=(1, 1)), "seeds must be distinct"),
    (dict(learning_rate=0.0), "learning_rate must be a positive finite number, got 0.0"),
    (dict(hidden_layer_sizes=(3, 0)), "hidden_layer_sizes must be positive integers"),
    (dict(configurations=[{"lr": 1}]), "configurations entries may set"),
    (dict(optimizer=("gd", "adamw")), r"optimizer must be one of \['adam', 'gd', 'momentum', 'rmsprop'\]"),
    (dict(beta2=1.0), r"beta2 must be a number in \[0, 1\), got 1.0"),
    (dict(configurations=[{"optimizer": "momentum", "beta": -0.5}]), r"beta must be a number in \[0, 1\), got -0.5"),
    (dict(decay_interval=10), "decay_interval needs a decay_rate"),
])
def test_bad_settings_name_field_rule_and_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StudyConfig(**{**TINY, **kwargs})


def test_from_dict_refuses_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown study settings \['learning_rates'\]"):
        StudyConfig.from_dict({"learning_rates": [0.1]})


def test_toml_round_trip(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text("""
[study]
name = "inits"
dataset = "circles"
hidden_layer_sizes = [4, 3]
seeds = [1, 2]
max_iter = 40
configurations = [{label = "zeros", init = "zeros"}, {init = "random", init_scale = 10.0}]
""")
    study = StudyConfig.from_toml(path)
    assert study.name == "inits" and study.seeds == (1, 2) and study.hidden_layer_sizes == (4, 3)
    assert study.configuration_labels == ["zeros", "random x10"]
    assert StudyConfig.from_dict(study.to_dict()) == study
    path.write_text("name = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        StudyConfig.from_toml(path)


def test_a_toml_study_grids_over_optimizers_with_their_settings(tmp_path):
    path = tmp_path / "optimizers.toml"
    path.write_text("""
name = "optimizers"
dataset = "course_moons"
hidden_layer_sizes = [5, 2]
batch_size = 64
learning_rate = 0.01
optimizer = ["gd", "momentum", "adam"]
beta1 = 0.8
decay_rate = 1.0
decay_interval = 100
""")
    study = StudyConfig.from_toml(path)
    assert study.optimizer == ("gd", "momentum", "adam") and study.configuration_labels == [
        "optimizer=gd", "optimizer=momentum", "optimizer=adam"]
    assert {(r.optimizer, r.beta1, r.decay_rate, r.decay_interval) for r in study.expand()} == {
        ("gd", 0.8, 1.0, 100), ("momentum", 0.8, 1.0, 100), ("adam", 0.8, 1.0, 100)}
    assert StudyConfig.from_dict(study.to_dict()) == study


# -- runs ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_study():
    return StudyConfig(name="tiny", init=("zeros", "he"), seeds=(0, 1), diagnose=False, **TINY)


def test_run_record_is_json_and_consistent_with_the_fit(tmp_path):
    run = RunConfig(study="s", configuration="he", dataset="circles", hidden_layer_sizes=(4, 3), max_iter=900,
                    learning_rate=0.05, seed=2, grid_points=10)
    record = run_one(run, model_dir=tmp_path / "models")
    assert json.loads(json.dumps(record)) == record
    assert math.isclose(record["gap"], record["train_accuracy"] - record["test_accuracy"])
    assert len(record["cost_history"]) <= MAX_COST_POINTS and record["cost_iterations"][0] == 1
    assert record["cost_iterations"][-1] == record["n_iter"] == 900
    # the record is what an estimator with the same settings gives
    data = pdl.load_dataset("circles")
    clf = pdl.NeuralNetClassifier(**run.estimator_params()).fit(data.X_train, data.y_train)
    assert record["cost_history"][0] == clf.cost_history_[0] and record["final_cost"] == clf.cost_history_[-1]
    assert record["test_accuracy"] == clf.score(data.X_test, data.y_test)
    # the saved parameters are the fitted ones
    saved = load_model(tmp_path / record["model_path"])
    assert saved.score(data.X_test, data.y_test) == record["test_accuracy"]
    grid = record["decision_grid"]
    z = np.asarray(grid["z"])
    assert z.shape == (10, 10) and 0 <= z.min() <= z.max() <= 1
    corner = clf.predict_proba([[grid["x_min"], grid["y_min"]]])[0, 1]
    assert abs(z[0, 0] - corner) < 1e-4


def test_decision_grid_box_covers_the_data():
    data = pdl.load_dataset("circles")
    clf = pdl.NeuralNetClassifier((3,), max_iter=5, random_state=0).fit(data.X_train, data.y_train)
    grid = decision_grid(clf, data.X_train, 7)
    assert grid["x_min"] < data.X_train[:, 0].min() and grid["x_max"] > data.X_train[:, 0].max()
    assert grid["y_min"] < data.X_train[:, 1].min() and grid["y_max"] > data.X_train[:, 1].max()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverging_run_is_recorded_not_raised():
    run = RunConfig(study="s", configuration="huge", dataset="circles", hidden_layer_sizes=(4,), init="random",
                    init_scale=1e100, learning_rate=1e100, max_iter=50, grid_points=0)
    record = run_one(run)
    assert record["error"] and "diverged" in record["error"] and record["test_accuracy"] is None
    rows = aggregate([record])
    assert rows[0]["n_failed"] == 1 and rows[0]["test_accuracy_mean"] is None


def test_parallel_and_serial_records_are_identical(tiny_study):
    serial = run_study(tiny_study, jobs=1)
    parallel = run_study(tiny_study, jobs=2)
    assert _without_time(serial["records"]) == _without_time(parallel["records"])
    assert [r["run_id"] for r in serial["records"]] == [r.run_id for r in tiny_study.expand()]


def test_same_config_same_record_and_seeds_differ(tiny_study):
    runs = tiny_study.expand()
    a, b = run_one(runs[2]), run_one(runs[2])
    assert _without_time([a]) == _without_time([b])
    other_seed = run_one(runs[3])
    assert other_seed["cost_history"] != a["cost_history"]


def test_on_result_sees_every_record(tiny_study):
    seen = []
    result = run_study(tiny_study, jobs=1, on_result=seen.append)
    assert seen == result["records"] and len(seen) == 4
    assert result["data"] is not None and len(result["data"]["X_train"]) == 300


def test_bad_jobs_are_refused(tiny_study):
    with pytest.raises(ValueError, match="jobs must be a positive integer or -1 \\(all cores\\), got 0"):
        run_study(tiny_study, jobs=0)


# -- aggregation -----------------------------------------------------------------------------------
def _record(configuration, seed, train, test, cost=0.5, error=None):
    return {"study": "s", "configuration": configuration, "seed": seed, "train_accuracy": train,
            "test_accuracy": test, "gap": None if train is None else train - test, "final_cost": cost, "time_s": 1.0,
            "error": error}


def test_aggregate_mean_and_std_by_hand():
    records = [_record("a", 0, 0.5, 0.4), _record("a", 1, 0.7, 0.6), _record("b", 0, 1.0, 0.9),
               _record("b", 1, None, None, None, error="diverged")]
    a, b = aggregate(records)
    # a: train mean (0.5 + 0.7) / 2 = 0.6, std sqrt(((0.1)^2 + (0.1)^2) / 2) = 0.1; gap 0.1 both seeds, std 0
    assert a["configuration"] == "a" and a["n_runs"] == 2 and a["seeds"] == [0, 1]
    assert math.isclose(a["train_accuracy_mean"], 0.6) and math.isclose(a["train_accuracy_std"], 0.1)
    assert math.isclose(a["gap_mean"], 0.1) and a["gap_std"] < 1e-12
    assert b["n_runs"] == 2 and b["n_failed"] == 1 and b["test_accuracy_mean"] == 0.9 and b["test_accuracy_std"] == 0


def test_demo_studies_match_the_course_settings():
    init, reg, optimization = demo_studies()
    he = [r for r in init.expand() if r.configuration == "he" and r.seed == 3][0]
    assert (he.hidden_layer_sizes, he.learning_rate, he.max_iter, he.init) == ((10, 5), 0.01, 15000, "he")
    big = [r for r in init.expand() if r.configuration == "random x10"][0]
    assert (big.init, big.init_scale) == ("random", 10.0)
    assert reg.dataset == "noisy" and reg.hidden_layer_sizes == (20, 3) and {r.init for r in reg.expand()} == {"lecun"}
    assert {(r.l2, r.keep_prob) for r in reg.expand()} == {(0.0, 1.0), (0.7, 1.0), (0.0, 0.86)}
    # the course's week 2: [2, 5, 2, 1], He, minibatches of 64; three optimizers at 0.0007, then with decay
    runs = optimization.expand()
    assert {(r.dataset, r.hidden_layer_sizes, r.init, r.batch_size) for r in runs} == {("course_moons", (5, 2), "he", 64)}
    assert {r.seed for r in runs} == {3, 4, 5}
    settings = {(r.optimizer, r.learning_rate, r.decay_rate, r.decay_interval) for r in runs}
    assert settings == {("gd", 0.0007, None, None), ("momentum", 0.0007, None, None), ("adam", 0.0007, None, None),
                        ("gd", 0.1, 1.0, 1000), ("momentum", 0.1, 1.0, 1000), ("adam", 0.01, 1.0, 1000)}
    assert {(r.beta, r.beta1, r.beta2, r.epsilon) for r in runs} == {(0.9, 0.9, 0.999, 1e-8)}  # the course's


def _has_check_backprop():
    try:
        from practicaldl import gradcheck
    except ImportError:
        return False
    return hasattr(gradcheck, "check_backprop")


@pytest.mark.skipif(not _has_check_backprop(), reason="practicaldl.gradcheck.check_backprop is not available")
def test_gradcheck_study_passes_correct_and_localises_the_planted_bug():
    from practicaldl.studies.classic import gradcheck_study

    section = gradcheck_study()
    assert json.loads(json.dumps(section)) == section
    correct, dropout, bug = section["checks"]
    assert correct["report"]["passed"] and dropout["report"]["passed"]
    assert not bug["report"]["passed"] and "W2" in bug["report"]["failing"]
    assert "W1" not in bug["report"]["failing"]


def test_relative_paths_survive_workers_started_elsewhere(tmp_path, monkeypatch, tiny_study):
    """loky reuses worker processes started in another folder: relative paths must be resolved first."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    data = pdl.load_dataset("circles")
    np.savez(second / "mine.npz", X=data.X_train, y=data.y_train)
    monkeypatch.chdir(first)
    run_study(tiny_study, jobs=2, model_dir="models")  # workers start here
    monkeypatch.chdir(second)
    study = StudyConfig(name="mine", dataset="mine.npz", hidden_layer_sizes=(3,), max_iter=20, seeds=(0, 1),
                        diagnose=False)
    result = run_study(study, jobs=2, model_dir="models")
    assert sorted(p.name for p in (second / "models").iterdir()) == sorted(
        f"{r['run_id']}.{ext}" for r in result["records"] for ext in ("npz", "json"))
    assert all(r["error"] is None for r in result["records"])


# -- tables ------------------------------------------------------------------------------------------
def test_a_table_study_from_toml_with_paths_beside_the_file(tmp_path, monkeypatch, penguins_csv):
    import pandas as pd

    frame = pd.read_csv(penguins_csv)
    (tmp_path / "data").mkdir()
    frame.iloc[::4].to_csv(tmp_path / "data" / "test.csv", index=False)
    frame.drop(index=frame.index[::4]).to_csv(tmp_path / "data" / "train.csv", index=False)
    (tmp_path / "data" / "study.toml").write_text(
        'name = "p"\ndataset = "train.csv"\nhidden_layer_sizes = [4]\nmax_iter = 20\nseeds = [0]\n'
        '[table]\ntarget = "species"\nimpute = "median"\ntest = "test.csv"\n')
    monkeypatch.chdir(tmp_path)  # not the study file's folder
    study = StudyConfig.from_toml(tmp_path / "data" / "study.toml")
    assert study.dataset == str(tmp_path / "data" / "train.csv") and study.table.test == str(tmp_path / "data" / "test.csv")
    assert StudyConfig.from_dict(study.to_dict()) == study
    run = study.expand()[0]
    assert run.table == study.table and run.with_absolute_paths() == run
    result = run_study(study)
    assert result["dataset"]["split"]["description"] == "test set from test.csv"
    assert result["records"][0]["error"] is None and result["records"][0]["config"]["table"]["target"] == "species"


def test_relative_table_paths_become_absolute_for_the_workers(tmp_path, monkeypatch, penguins_csv):
    import shutil

    shutil.copy(penguins_csv, tmp_path / "p.csv")
    shutil.copy(penguins_csv, tmp_path / "t.csv")
    monkeypatch.chdir(tmp_path)
    study = StudyConfig(name="p", dataset="p.csv", table={"target": "species", "drop_missing": True, "test": "t.csv"},
                        hidden_layer_sizes=(3,), max_iter=5)
    run = study.expand()[0].with_absolute_paths()
    assert run.dataset == str(tmp_path / "p.csv") and run.table.test == str(tmp_path / "t.csv")


@pytest.mark.parametrize("kwargs, message", [
    (dict(dataset="circles", table={"target": "x"}), "apply to table files"),
    (dict(dataset="circles", table={"targets": "x"}), r"unknown table settings \['targets'\]"),
])
def test_table_settings_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StudyConfig(**kwargs)
